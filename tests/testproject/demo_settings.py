"""The demo's settings: the test project on one database, without the differential tests' model
graph and the second database's app."""

from testproject.settings import *  # noqa: F403
from testproject.settings import DATABASES, INSTALLED_APPS, SOFT_DELETE_RETENTION_POLICIES

TEST_ONLY_APPS = ("rules", "ledger")
INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in TEST_ONLY_APPS]
SOFT_DELETE_RETENTION_POLICIES = {
    k: v for k, v in SOFT_DELETE_RETENTION_POLICIES.items() if k.split(".")[0] not in TEST_ONLY_APPS
}
DATABASES = {"default": DATABASES["default"]}
DATABASE_ROUTERS: list[str] = []
