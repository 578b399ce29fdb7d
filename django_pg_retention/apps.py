from django.apps import AppConfig


class RetentionAppConfig(AppConfig):
    name = "django_pg_retention"
    label = "django_pg_retention"
    verbose_name = "Data retention"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from importlib import import_module

        from django.db.models.signals import post_migrate, pre_migrate

        from django_pg_retention.sync import post_migrate_sync
        from django_pg_retention.uninstall import guard_uninstall, unschedule_if_uninstalled

        import_module("django_pg_retention.checks")  # registers the system checks

        post_migrate.connect(post_migrate_sync, sender=self, dispatch_uid="django_pg_retention.sync")
        pre_migrate.connect(guard_uninstall, sender=self, dispatch_uid="django_pg_retention.guard_uninstall")
        post_migrate.connect(unschedule_if_uninstalled, sender=self, dispatch_uid="django_pg_retention.unschedule")

        from django.apps import apps

        if apps.is_installed("django.contrib.admin"):
            # Every admin module registered (autodiscover is idempotent), then "Place a legal hold"
            # offered on the changelist of each model a purge deletes rows of.
            from django.contrib import admin

            from django_pg_retention.admin import attach_hold_actions

            admin.autodiscover()
            attach_hold_actions()
