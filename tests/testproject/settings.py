"""Settings of the test project: the specification's real-estate apps on a real PostgreSQL."""

import os
from pathlib import Path

import dj_database_url
import django

from testproject.dbserver import database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "pgtrigger",
    "django_pg_retention",
    "users",
    "properties",
    "leases",
    "maintenance",
    "team",
    "demo",
    "rules",
    "ledger",
    # Third-party apps whose tables timestamp policies purge (tests/test_timestamp_policies.py).
    "django_celery_results",
    "auditlog",
    "axes",
    # Range-partitioned tables, dropped a partition at a time (tests/test_partitions.py).
    "partlogs",
]

# django-axes is here for its AccessLog table only (a timestamp policy on attempt_time in the
# tests): no lockout, no login signal handlers, so its middleware and backend are not needed.
AXES_ENABLED = False
SILENCED_SYSTEM_CHECKS = ["axes.W002", "axes.W003"]

# Django 6.1's database-level delete rules (DB_CASCADE, DB_SET_NULL, DB_SET_DEFAULT): tests/dbrules.
if django.VERSION >= (6, 1):
    INSTALLED_APPS.append("dbrules")

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "testproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": dj_database_url.parse(database_url(), conn_max_age=0)}
# A second database on the same server for the ledger app (testproject.routers); pytest-django
# creates its test database only for the tests that name it.
DATABASES["archive"] = {**DATABASES["default"], "NAME": f"{DATABASES['default']['NAME']}_archive"}
DATABASE_ROUTERS = ["testproject.routers.ArchiveRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"
STATIC_URL = "/static/"
MEDIA_ROOT = BASE_DIR / "media"

# The specification's policies (retention-policy-system-v3.md, section 3.1), unchanged.
SOFT_DELETE_RETENTION_POLICIES = {
    "default": 90,
    "properties": 365,
    "leases": 2555,
    "maintenance": 180,
    "users": 1095,
    "team": 730,
    "users.User": 1095,
    "users.UserProfile": 1095,
    "properties.Property": 1825,
    "properties.PropertyImage": 1095,
    "leases.Lease": 2555,
    "leases.PaymentSchedule": 2555,
    "leases.LeaseDocument": 2555,
    "maintenance.MaintenanceRequest": 1095,
    "maintenance.WorkOrder": 1095,
    "team.TeamMember": 730,
}

# The differential tests' model graph (tests/rules) gets a 30-day app policy.
SOFT_DELETE_RETENTION_POLICIES["rules"] = 30
# ... but rules.Slot is kept longer, so purging an owner or a shelf must not take young slots along.
SOFT_DELETE_RETENTION_POLICIES["rules.Slot"] = 60
# Database-level delete rules (Django 6.1+): a 30-day app policy, its soft-delete children kept longer.
if "dbrules" in INSTALLED_APPS:
    SOFT_DELETE_RETENTION_POLICIES["dbrules"] = 30
    SOFT_DELETE_RETENTION_POLICIES["dbrules.KeptChild"] = 60
# The ledger app, in the second database.
SOFT_DELETE_RETENTION_POLICIES["ledger"] = 30

RETENTION_CLEANUP_CONFIG = {
    "batch_size": 1000,
    "max_execution_time": 3600,
    "enable_notifications": True,
    "notification_threshold": 10000,
    "dry_run_default": True,
    "require_confirmation": True,
}

# Celery (optional integration): broker and results in Redis; the tests point these at their Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_pg_retention": {"handlers": ["console"], "level": "WARNING", "propagate": True}},
}
