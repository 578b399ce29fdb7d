"""A small project that every release of django-pg-retention can migrate: tests/test_upgrade.py
installs a released version into a database with it, gives that database a history, then
upgrades it with this checkout and compares it with a fresh install."""

import os

import dj_database_url

SECRET_KEY = "upgrade-test-only"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.postgres",
    "pgtrigger",
    "django_pg_retention",
    "shop",
]
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=0)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SOFT_DELETE_RETENTION_POLICIES = {
    "default": 30,
    # The upgrade test changes it between releases, so that the policy has a history.
    "shop.Order": int(os.environ.get("SHOP_ORDER_DAYS", "60")),
}
RETENTION_CLEANUP_CONFIG = {"batch_size": 25, "dry_run_default": True}
SILENCED_SYSTEM_CHECKS = ["pg_retention.W004"]
