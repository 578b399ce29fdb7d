"""PostgreSQL enforces data-retention policies for soft-deleted Django rows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_pg_retention.manager import RetentionManager
    from django_pg_retention.models import RetentionHold

__version__ = "0.2.0.dev0"  # the one place the version is kept (pyproject reads it)


def get_retention_manager(using: str = "default") -> RetentionManager:
    """The retention manager (an IRetentionManager) for one database alias."""
    from django_pg_retention.manager import RetentionManager

    return RetentionManager(using=using)


def get_service(name: str) -> RetentionManager:
    """``get_service("retention_manager")``: the service locator of the Celery-based design (docs/migration.md)."""
    if name != "retention_manager":
        raise LookupError(f"unknown service {name!r}: django-pg-retention provides 'retention_manager'")
    return get_retention_manager()


def place_hold(
    obj_or_model: Any,
    reason: str,
    until: datetime | None = None,
    by: str = "",
    using: str | None = None,
    lock_wait: float = 30.0,
) -> RetentionHold:
    """Hold a row (an instance) or a whole model (a class): no purge deletes or cascades into it.

    In force once it returns (the row locked and checked, in the database the router writes the
    model to unless ``using``); a row that is gone raises django_pg_retention.holds.HoldError."""
    from django_pg_retention.holds import place_hold as place

    return place(obj_or_model, reason, until=until, by=by, using=using, lock_wait=lock_wait)


def release_hold(obj_or_model: Any, by: str = "", using: str | None = None) -> int:
    """Release the active holds on that row or model; returns how many were released."""
    from django_pg_retention.holds import release_hold as release

    return release(obj_or_model, by=by, using=using)


__all__ = ["get_retention_manager", "get_service", "place_hold", "release_hold"]
