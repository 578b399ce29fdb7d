from django.apps import AppConfig


class Config(AppConfig):
    name = "benchkept"
    default_auto_field = "django.db.models.BigAutoField"
