"""Legal holds from Python: ``place_hold(obj_or_model, reason)`` and ``release_hold(...)``; the admin
places and releases through the same functions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from django_pg_retention.models import RetentionHold
from django_pg_retention.policies import model_path


def _target(obj_or_model: models.Model | type[models.Model]) -> tuple[str, str]:
    if isinstance(obj_or_model, models.Model):
        concrete: type[models.Model] = obj_or_model._meta.concrete_model  # type: ignore[assignment]
        if obj_or_model.pk is None:
            raise ValueError(f"cannot hold an unsaved {model_path(concrete)}")
        return model_path(concrete), str(obj_or_model.pk)
    concrete_model: type[models.Model] = obj_or_model._meta.concrete_model  # type: ignore[assignment]
    return model_path(concrete_model), ""


def place_hold(
    obj_or_model: models.Model | type[models.Model],
    reason: str,
    until: datetime | None = None,
    by: str = "",
    using: str = "default",
) -> RetentionHold:
    """Hold one row (an instance) or a whole model (a class) against every purge."""
    return place_holds([obj_or_model], reason, until, by, using)[0]


def place_holds(
    targets: Iterable[models.Model | type[models.Model]],
    reason: str,
    until: datetime | None = None,
    by: str = "",
    using: str = "default",
) -> list[RetentionHold]:
    """Hold each row (or whole model) of targets, in one statement."""
    if not reason.strip():
        raise ValueError("a legal hold needs a reason")
    holds = [
        RetentionHold(model_path=path, object_pk=pk, reason=reason, until=until, created_by=by)
        for path, pk in map(_target, targets)
    ]
    return RetentionHold.objects.using(using).bulk_create(holds)


def release_hold(obj_or_model: models.Model | type[models.Model], by: str = "", using: str = "default") -> int:
    """Release the active holds on that row (or on the whole model); returns how many.

    ``by`` is required: the database refuses a release that does not say who released it."""
    if not by.strip():
        raise ValueError("releasing a legal hold must say who releases it (by=...)")
    path, pk = _target(obj_or_model)
    return release_holds(RetentionHold.objects.using(using).filter(model_path=path, object_pk=pk), by)


def release_holds(holds: QuerySet[RetentionHold], by: str) -> int:
    """Release those of the holds still active, recording who and when; returns how many."""
    return holds.filter(released_at__isnull=True).update(released_at=timezone.now(), released_by=by)
