"""The interfaces of the Celery-based design this package replaces (docs/migration.md), kept for code
typed against them: ``RetentionPolicy``, a policy as ``get_all_policies()`` returns it (not the
``models.RetentionPolicy`` table), and ``IRetentionManager``, which ``RetentionManager`` implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, Protocol

from django.db.models import Model, QuerySet


class RetentionPolicy(Protocol):
    """Protocol for retention policy configuration."""

    model_path: str
    retention_days: int
    policy_source: str
    is_active: bool


class IRetentionManager(ABC):
    """Interface for retention policy management."""

    @abstractmethod
    def get_retention_days(self, model_path: str) -> int:
        """Get retention period for a specific model."""

    @abstractmethod
    def get_eligible_records(self, model_class: type[Model], cutoff_date: datetime | None = None) -> QuerySet[Any]:
        """Get records eligible for cleanup."""

    @abstractmethod
    def cleanup_model(self, model_class: type[Model], dry_run: bool = True) -> dict[str, Any]:
        """Cleanup soft-deleted records for a model."""
