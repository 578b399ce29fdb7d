"""The soft-delete contract that retention policies act on."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone


class PurgeIndex(models.Index):
    """A partial index on ``deleted_at`` for soft-deleted rows, named per concrete model.

    An abstract model cannot give a conditional index a unique name that fits PostgreSQL's
    limits, and Django refuses a conditional index without a name, so the name starts empty
    and Django's ``set_name_with_model`` fills in a hashed one for each subclass. Migrations
    record a plain ``models.Index``.
    """

    def __init__(self, *expressions: Any, name: str = "", **kwargs: Any) -> None:
        super().__init__(*expressions, name=name or "pending", **kwargs)
        self.name = name

    def deconstruct(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        _, args, kwargs = super().deconstruct()
        return "django.db.models.Index", args, kwargs

    def clone(self) -> models.Index:
        # Once named (per concrete model), hand out the plain Index that migrations record:
        # the autodetector compares indexes by class.
        _, args, kwargs = self.deconstruct()
        return models.Index(*args, **kwargs) if self.name else PurgeIndex(*args, **kwargs)


class SoftDeleteQuerySet(models.QuerySet[Any]):
    def alive(self) -> SoftDeleteQuerySet:
        return self.filter(is_deleted=False)

    def deleted(self) -> SoftDeleteQuerySet:
        return self.filter(is_deleted=True)


class SoftDeleteMixin(models.Model):
    """Rows are marked deleted first; retention policies purge them later.

    ``objects`` still returns soft-deleted rows (use ``.alive()`` / ``.deleted()``), so
    related-object access and admin lookups keep working until the purge.
    """

    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[models.Manager[Any]] = SoftDeleteQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        abstract = True
        indexes = [PurgeIndex(fields=["deleted_at"], condition=Q(is_deleted=True))]

    def soft_delete(self) -> None:
        """Mark the row deleted now; the retention clock starts from ``deleted_at``."""
        self.is_deleted = True
        self.deleted_at = timezone.now()
        self.save(update_fields=["is_deleted", "deleted_at"])

    def restore(self) -> None:
        """Undo a soft delete; the row is no longer eligible for purging."""
        self.is_deleted = False
        self.deleted_at = None
        self.save(update_fields=["is_deleted", "deleted_at"])
