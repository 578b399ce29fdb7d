from django.apps import AppConfig


class Config(AppConfig):
    name = "benchmany"
    default_auto_field = "django.db.models.BigAutoField"
