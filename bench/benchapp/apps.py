from django.apps import AppConfig


class Config(AppConfig):
    name = "benchapp"
    default_auto_field = "django.db.models.BigAutoField"
