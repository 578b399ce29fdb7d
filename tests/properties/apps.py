from django.apps import AppConfig


class Config(AppConfig):
    name = "properties"
    default_auto_field = "django.db.models.BigAutoField"
