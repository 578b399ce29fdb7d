from django.apps import AppConfig


class Config(AppConfig):
    name = "team"
    default_auto_field = "django.db.models.BigAutoField"
