from django.apps import AppConfig


class Config(AppConfig):
    name = "leases"
    default_auto_field = "django.db.models.BigAutoField"
