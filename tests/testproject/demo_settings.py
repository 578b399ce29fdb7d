"""The demo's settings: the test project without the differential tests' model graph."""

from testproject.settings import *  # noqa: F403
from testproject.settings import INSTALLED_APPS, SOFT_DELETE_RETENTION_POLICIES

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "rules"]
SOFT_DELETE_RETENTION_POLICIES = {k: v for k, v in SOFT_DELETE_RETENTION_POLICIES.items() if k.split(".")[0] != "rules"}
