from django.apps import AppConfig


class DbRulesConfig(AppConfig):
    name = "dbrules"
    default_auto_field = "django.db.models.BigAutoField"
