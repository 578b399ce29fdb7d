from django.apps import AppConfig


class Config(AppConfig):
    name = "citus.logs"
    label = "logs"
    default_auto_field = "django.db.models.BigAutoField"
