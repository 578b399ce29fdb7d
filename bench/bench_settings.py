"""Django settings for the benchmarks (bench/): only what the purge needs."""

import os

import dj_database_url

SECRET_KEY = "bench-only"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_pg_retention", "benchapp"]
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SOFT_DELETE_RETENTION_POLICIES = {"default": 30}
RETENTION_CLEANUP_CONFIG = {"max_execution_time": 86400}
