"""Which models have a retention policy, for how many days, and where the figure comes from.

Two kinds: a soft-delete model's policy (SOFT_DELETE_RETENTION_POLICIES, the clock starts at its
soft delete) and a timestamp policy (RETENTION_TIMESTAMP_POLICIES, the clock starts at a
DateTimeField of any model, a third-party one too: log entries, sessions, task results). Both are
purged by the same compiled functions: a timestamp policy is a soft delete without a flag whose
timestamp is the named field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

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


class PolicyKind(StrEnum):
    """What starts a policy's clock: the row's soft delete, or a timestamp field of the row."""

    SOFT_DELETE = "soft_delete"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class Policy:
    model_path: str
    model: type[models.Model]
    retention_days: int
    policy_source: PolicySource
    kind: PolicyKind = PolicyKind.SOFT_DELETE

    @property
    def db_table(self) -> str:
        return self.model._meta.db_table


def model_path(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.object_name}"


@dataclass(frozen=True)
class SoftDeleteColumns:
    """Where a model keeps its soft delete: a timestamp, and optionally a boolean flag. For a
    timestamp policy: its field, and no flag (policy_columns).

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
    """The policy of every soft-delete model, then every timestamp policy (with ``using``: of that
    database's models)."""
    days = _policies_dict()
    policies = [resolve(m, days) for m in soft_delete_models(using)]
    timestamped = timestamp_policies()  # raises on a bad entry, as _policies_dict does
    policies += [
        Policy(model_path(m), m, timestamped[m].days, PolicySource.MODEL_SPECIFIC, PolicyKind.TIMESTAMP)
        for m in timestamp_models(using)
    ]
    return policies


# --- Timestamp policies (RETENTION_TIMESTAMP_POLICIES) ----------------------------------------------


@dataclass(frozen=True)
class TimestampSetting:
    """One valid entry of RETENTION_TIMESTAMP_POLICIES."""

    model: type[models.Model]
    field: Any  # a DateTimeField of the model's own table
    days: int


# What each problem of RETENTION_TIMESTAMP_POLICIES is about (checks.py gives each its id).
TIMESTAMP_TOPICS = ("shape", "model", "field", "days", "soft_delete")


def _timestamp_model(key: str) -> tuple[type[models.Model] | None, tuple[str, str] | None]:
    """The model a key names, or the (problem, topic) that says why it names none we can purge."""
    try:
        model = get_model(key)
    except LookupError:
        return None, ("is not an installed model (expected 'app_label.ModelName')", "model")
    path = model_path(model)
    if model._meta.proxy or not model._meta.managed:
        return None, (
            f"{path} is a proxy or unmanaged model: name the concrete model whose table holds the rows",
            "model",
        )
    if declares_soft_delete(model):
        return None, (f"{path} is soft-deletable: its policy belongs in {config.POLICIES_SETTING}", "soft_delete")
    soft_keys = config.as_mapping(config.raw_policies()) or {}
    if path in soft_keys or key in soft_keys:
        return None, (f"{path} is also named in {config.POLICIES_SETTING}: a model has one policy", "soft_delete")
    return model, None


def _timestamp_field(model: type[models.Model], name: str) -> tuple[Any, str | None]:
    """The DateTimeField ``name`` of the model's own table, or why it is not one."""
    path = model_path(model)
    try:
        found: Any = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None, f"['field'] = {name!r}: {path} has no such field"
    if not isinstance(found, models.DateTimeField):
        return None, f"['field'] = {name!r} must name a DateTimeField, not a {type(found).__name__}"
    field = cast(Any, found)
    if field.model is not model:
        return (
            None,
            f"['field'] = {name!r} is a field of {model_path(field.model)}, a parent of {path}: name that model",
        )
    return field, None


def _timestamp_settings() -> tuple[list[TimestampSetting], list[tuple[str, str, str]]]:
    """The valid entries of RETENTION_TIMESTAMP_POLICIES, and (key, problem, topic) for the others."""
    raw = config.raw_timestamp_policies()
    mapping = config.as_mapping(raw)
    if mapping is None:
        shape = "a dict of 'app_label.Model' to {'field': ..., 'days': ...}"
        return [], [("", f"must be {shape}, not {type(raw).__name__}", "shape")]
    found: list[TimestampSetting] = []
    problems: list[tuple[str, str, str]] = []
    for raw_key, value in mapping.items():
        key = str(raw_key)
        shape = config.timestamp_entry_problems(value)
        problems += [(key, f"[{sub!r}] {p}" if sub else p, "days" if sub == "days" else "shape") for sub, p in shape]
        model, problem = _timestamp_model(key)
        if problem is not None:
            problems.append((key, *problem))
        if model is None or shape:
            continue
        entry = config.as_mapping(value) or {}
        field, field_problem = _timestamp_field(model, str(entry["field"]))
        if field_problem is not None:
            problems.append((key, field_problem, "field"))
            continue
        days = entry["days"]
        assert isinstance(days, int)
        found.append(TimestampSetting(model, field, days))
    return found, problems


def timestamp_policy_problems() -> list[tuple[str, str, str]]:
    """(key, problem, topic) for each bad entry of RETENTION_TIMESTAMP_POLICIES (system checks)."""
    return _timestamp_settings()[1]


def timestamp_policies() -> dict[type[models.Model], TimestampSetting]:
    """The timestamp policies by model; raises ImproperlyConfigured naming the first bad key."""
    found, problems = _timestamp_settings()
    if problems:
        key, problem, _ = problems[0]
        where = f"{config.TIMESTAMP_POLICIES_SETTING}[{key!r}]" if key else config.TIMESTAMP_POLICIES_SETTING
        raise ImproperlyConfigured(f"{where}{problem}" if problem.startswith("[") else f"{where} {problem}")
    return {t.model: t for t in found}


def valid_timestamp_policies() -> dict[type[models.Model], TimestampSetting]:
    """The valid timestamp policies by model, without raising: the bad ones are the checks' to name
    (as soft_delete_models lists the soft-delete models whatever their days)."""
    return {t.model: t for t in _timestamp_settings()[0]}


def timestamp_models(using: str | None = None) -> list[type[models.Model]]:
    """Models with a valid timestamp policy, in registry order (with ``using``: those routed there)."""
    timestamped = valid_timestamp_policies()
    return [
        m for m in apps.get_models() if m in timestamped and (using is None or router.allow_migrate_model(using, m))
    ]


def policy_models(using: str | None = None) -> list[type[models.Model]]:
    """Every model with a policy: the soft-delete models, then the timestamp policies' models."""
    return [*soft_delete_models(using), *timestamp_models(using)]


def policy_kind(model: type[models.Model]) -> PolicyKind:
    return PolicyKind.TIMESTAMP if model in valid_timestamp_policies() else PolicyKind.SOFT_DELETE


def policy_columns(model: type[models.Model]) -> SoftDeleteColumns:
    """The columns a purge of the model reads: its soft-delete columns, or its timestamp policy's
    field without a flag (a row is eligible once that timestamp is older than the cutoff; a NULL
    timestamp never is)."""
    setting = valid_timestamp_policies().get(model)
    if setting is None:
        return soft_delete_columns(model)
    return SoftDeleteColumns(
        deleted_at_field=setting.field.name, flag_field=None, deleted_at_column=setting.field.column, flag_column=None
    )


def get_model(path: str) -> type[models.Model]:
    """'app.Model' to its class, with an error that names the bad input."""
    try:
        app_label, model_name = path.split(".")
        return apps.get_model(app_label, model_name)
    except (ValueError, LookupError) as exc:
        raise LookupError(f"{path!r} is not an installed model (expected 'app_label.ModelName')") from exc
