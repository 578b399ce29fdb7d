"""Settings of the Citus tests: the test project's apps that the purge needs, and tests/citus/logs,
on the coordinator of ../shared/citus/cluster.sh (127.0.0.1:56001); see tests/citus/conftest.py."""

import os

CITUS_PORT = int(os.environ.get("CITUS_COORDINATOR_PORT", "56001"))
# The test project's settings pick a server on import (and would start scripts/devdb or a Docker
# container without DATABASE_URL): name the coordinator, which DATABASES below uses anyway.
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:{CITUS_PORT}/test_retention_citus")

from testproject.settings import *  # noqa: E402, F403
from testproject.settings import INSTALLED_APPS, RETENTION_CLEANUP_CONFIG  # noqa: E402

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": CITUS_PORT,
        "USER": "postgres",
        "NAME": "test_retention_citus",  # made on every node by the conftest; pytest-django makes none
        "CONN_MAX_AGE": 0,
    }
}
# The single-server copy for the differential oracle: a database without Citus on the same server.
DATABASES["single"] = {**DATABASES["default"], "NAME": "test_retention_citus_single"}
DATABASE_ROUTERS: list[str] = []
INSTALLED_APPS = [
    app
    for app in INSTALLED_APPS
    if app not in ("properties", "leases", "maintenance", "team", "demo", "rules", "ledger", "dbrules")
]
INSTALLED_APPS.append("citus.logs")
SOFT_DELETE_RETENTION_POLICIES = {"default": 30, "users": 1095, "logs.Line": 60}
RETENTION_CLEANUP_CONFIG = {**RETENTION_CLEANUP_CONFIG, "require_confirmation": False}
