from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "django_pg_retention"
    label = "django_pg_retention"
    verbose_name = "Data retention"
    default_auto_field = "django.db.models.BigAutoField"
