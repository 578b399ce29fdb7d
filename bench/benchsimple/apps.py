from django.apps import AppConfig


class Config(AppConfig):
    name = "benchsimple"
    default_auto_field = "django.db.models.BigAutoField"
