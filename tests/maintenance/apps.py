from django.apps import AppConfig


class Config(AppConfig):
    name = "maintenance"
    default_auto_field = "django.db.models.BigAutoField"
