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


__all__ = ["get_retention_manager"]
