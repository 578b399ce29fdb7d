"""Which models have a retention policy, for how many days, and where the figure comes from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models, router
from django.db.models import Q

from django_pg_retention import config
from django_pg_retention.models import DELETED_AT_ATTR, FLAG_ATTR


class PolicySource(StrEnum):
    """Where a policy's days come from, most specific first."""

    MODEL_SPECIFIC = "model_specific"
    APP_LEVEL = "app_level"
    GLOBAL_DEFAULT = "global_default"
    SYSTEM_DEFAULT = "system_default"


@dataclass(frozen=True)
class Policy:
    model_path: str
    model: type[models.Model]
    retention_days: int
    policy_source: PolicySource

    @property
    def db_table(self) -> str:
        return self.model._meta.db_table


def model_path(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.object_name}"


@dataclass(frozen=True)
class SoftDeleteColumns:
    """Where a model keeps its soft delete: a timestamp, and optionally a boolean flag.

    SoftDeleteMixin uses ``deleted_at`` and ``is_deleted``. Any model can name its own with the
    class attributes ``retention_deleted_at_field`` (a DateTimeField, required) and
    ``retention_flag_field`` (a BooleanField, or None when a set timestamp alone marks the row
    deleted, as in django-safedelete).
    """

    deleted_at_field: str
    flag_field: str | None
    deleted_at_column: str
    flag_column: str | None

    def eligible(self, cutoff: datetime) -> Q:
        """Soft-deleted before the cutoff: the rows a purge with that cutoff considers."""
        condition = Q(**{f"{self.deleted_at_field}__lt": cutoff})
        return condition & Q(**{self.flag_field: True}) if self.flag_field else condition


def declares_soft_delete(model: type[models.Model]) -> bool:
    return isinstance(getattr(model, DELETED_AT_ATTR, None), str)


def soft_delete_columns(model: type[models.Model]) -> SoftDeleteColumns:
    """The model's soft-delete columns; ImproperlyConfigured names the attribute that is wrong."""
    path = model_path(model)
    deleted_at_name: object = getattr(model, DELETED_AT_ATTR, None)
    flag_name: object = getattr(model, FLAG_ATTR, None)
    if not isinstance(deleted_at_name, str) or not deleted_at_name:
        raise ImproperlyConfigured(f"{path}.{DELETED_AT_ATTR} must name a DateTimeField, not {deleted_at_name!r}")
    if flag_name is not None and (not isinstance(flag_name, str) or not flag_name):
        raise ImproperlyConfigured(f"{path}.{FLAG_ATTR} must name a BooleanField or be None, not {flag_name!r}")
    found: list[Any] = []
    for attr, name, kind in (
        (DELETED_AT_ATTR, deleted_at_name, models.DateTimeField),
        (FLAG_ATTR, flag_name, models.BooleanField),
    ):
        if name is None:
            found.append(None)
            continue
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            raise ImproperlyConfigured(f"{path}.{attr} = {name!r}: {path} has no such field") from None
        if not isinstance(field, kind):
            raise ImproperlyConfigured(
                f"{path}.{attr} = {name!r} must name a {kind.__name__}, not a {type(field).__name__}"
            )
        found.append(field)
    deleted_at, flag = found
    return SoftDeleteColumns(
        deleted_at_field=deleted_at.name,
        flag_field=flag.name if flag is not None else None,
        deleted_at_column=deleted_at.column,
        flag_column=flag.column if flag is not None else None,
    )


def owns_soft_delete_columns(model: type[models.Model]) -> bool:
    """False for a multi-table child whose soft-delete columns live in its parent's table.

    Such a child is purged with its parent (deleting a parent row deletes its child rows). A
    model whose attributes name no field is kept, so that the system check can name the mistake.
    """
    try:
        return model._meta.get_field(getattr(model, DELETED_AT_ATTR)).model is model
    except FieldDoesNotExist:
        return True


def soft_delete_models(using: str | None = None) -> list[type[models.Model]]:
    """Concrete, managed models with soft-delete columns of their own, in registry order; with
    ``using``, only those the database routers put in that database (its policies)."""
    return [
        m
        for m in apps.get_models()
        if declares_soft_delete(m)
        and not m._meta.proxy
        and m._meta.managed
        and owns_soft_delete_columns(m)
        and (using is None or router.allow_migrate_model(using, m))
    ]


def _policies_dict() -> dict[str, int]:
    raw = config.as_mapping(config.raw_policies())
    if raw is None:
        raise ImproperlyConfigured(f"{config.POLICIES_SETTING} must be a dict")
    checked: dict[str, int] = {}
    for key, value in raw.items():
        problem = config.policy_value_problem(value)
        if problem or not isinstance(value, int):
            raise ImproperlyConfigured(f"{config.POLICIES_SETTING}[{key!r}] {problem}")
        checked[str(key)] = value
    return checked


# The source of a value found at each level of config.most_specific.
SOURCES = (PolicySource.MODEL_SPECIFIC, PolicySource.APP_LEVEL, PolicySource.GLOBAL_DEFAULT)


def resolve_days(path: str, days: dict[str, int]) -> tuple[int, PolicySource]:
    """model > app > default > 30 days."""
    found = config.most_specific(path, days)
    if found is None:
        return config.SYSTEM_DEFAULT_DAYS, PolicySource.SYSTEM_DEFAULT
    return found[0], SOURCES[found[1]]


def resolve(model: type[models.Model], days: dict[str, int] | None = None) -> Policy:
    path = model_path(model)
    value, source = resolve_days(path, _policies_dict() if days is None else days)
    return Policy(path, model, value, source)


def all_policies(using: str | None = None) -> list[Policy]:
    """The policy of every soft-delete model (with ``using``: of that database's models)."""
    days = _policies_dict()
    return [resolve(m, days) for m in soft_delete_models(using)]


def get_model(path: str) -> type[models.Model]:
    """'app.Model' to its class, with an error that names the bad input."""
    try:
        app_label, model_name = path.split(".")
        return apps.get_model(app_label, model_name)
    except (ValueError, LookupError) as exc:
        raise LookupError(f"{path!r} is not an installed model (expected 'app_label.ModelName')") from exc
