"""Which models have a retention policy, for how many days, and where the figure comes from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from django_pg_retention import config
from django_pg_retention.models import SoftDeleteMixin


class PolicySource(StrEnum):
    """The specification's policy sources, most specific first."""

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


def owns_soft_delete_columns(model: type[models.Model]) -> bool:
    """False for a multi-table child whose is_deleted lives in its parent's table.

    Such a child is purged with its parent (deleting a parent row deletes its child rows).
    """
    return model._meta.get_field("is_deleted").model is model


def soft_delete_models() -> list[type[models.Model]]:
    """Concrete, managed models with SoftDeleteMixin and their own columns, in registry order."""
    return [
        m
        for m in apps.get_models()
        if issubclass(m, SoftDeleteMixin) and not m._meta.proxy and m._meta.managed and owns_soft_delete_columns(m)
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


def all_policies() -> list[Policy]:
    days = _policies_dict()
    return [resolve(m, days) for m in soft_delete_models()]


def get_model(path: str) -> type[models.Model]:
    """'app.Model' to its class, with an error that names the bad input."""
    try:
        app_label, model_name = path.split(".")
        return apps.get_model(app_label, model_name)
    except (ValueError, LookupError) as exc:
        raise LookupError(f"{path!r} is not an installed model (expected 'app_label.ModelName')") from exc
