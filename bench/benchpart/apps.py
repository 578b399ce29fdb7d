from django.apps import AppConfig


class Config(AppConfig):
    name = "benchpart"
    default_auto_field = "django.db.models.BigAutoField"
