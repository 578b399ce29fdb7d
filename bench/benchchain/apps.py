from django.apps import AppConfig


class Config(AppConfig):
    name = "benchchain"
    default_auto_field = "django.db.models.BigAutoField"
