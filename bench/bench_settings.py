"""Django settings for the benchmarks (bench/). BENCH_APP picks the schema: benchapp (mixed
relations, the default), benchsimple (two CASCADE children only), benchkept (soft-delete children),
benchmany (several children per parent in one table), benchchain (parent -> child -> grandchild) or
benchpart (log tables with timestamp policies, one range-partitioned by day: bench/partitions.py)."""

import os

import dj_database_url

SECRET_KEY = "bench-only"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_pg_retention", os.environ.get("BENCH_APP", "benchapp")]
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SOFT_DELETE_RETENTION_POLICIES = {"default": 30}
RETENTION_CLEANUP_CONFIG = {
    "max_execution_time": 86400,
    "large_deletion_threshold": 100_000_000,
    "max_deletions_per_run": None,  # the benchmarks purge half a million rows on purpose
}
if os.environ.get("BENCH_MAX_BATCH"):  # try another adaptive-batching ceiling
    RETENTION_CLEANUP_CONFIG["max_batch_size"] = int(os.environ["BENCH_MAX_BATCH"])
RETENTION_SCHEDULE = {"cleanup": None, "housekeeping": None}
if os.environ.get("BENCH_APP") == "benchpart":  # bench/partitions.py
    RETENTION_TIMESTAMP_POLICIES = {
        "benchpart.Event": {"field": "at", "days": 40},
        "benchpart.FlatEvent": {"field": "at", "days": 40},
    }
