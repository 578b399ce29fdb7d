"""PostgreSQL enforces data-retention policies for soft-deleted Django rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django_pg_retention.manager import RetentionManager

__version__ = "0.1.0"


def get_retention_manager(using: str = "default") -> RetentionManager:
    """The specification's retention manager for one database alias."""
    from django_pg_retention.manager import RetentionManager

    return RetentionManager(using=using)


def get_service(name: str) -> RetentionManager:
    """The specification's service locator: ``get_service("retention_manager")``."""
    if name != "retention_manager":
        raise LookupError(f"unknown service {name!r}: django-pg-retention provides 'retention_manager'")
    return get_retention_manager()


__all__ = ["get_retention_manager", "get_service"]
