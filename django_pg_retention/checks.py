"""System checks: every bad setting or uncompilable model is reported by ``manage.py check``.

Ids: pg_retention.E001-E019 (errors), pg_retention.W001-W007 (warnings), each declared in CHECKS. Each message names the
setting key or the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, signals

from django_pg_retention import config
from django_pg_retention.compiler import ALL_FIELDS
from django_pg_retention.graph import DELETING, Graph, UncompilableRelation, build
from django_pg_retention.policies import (
    PolicyKind,
    SoftDeleteColumns,
    all_policies,
    declares_soft_delete,
    model_path,
    policy_columns,
    policy_kind,
    policy_models,
    timestamp_policy_problems,
)

POLICIES = config.POLICIES_SETTING
TIMESTAMP_POLICIES = config.TIMESTAMP_POLICIES_SETTING
CLEANUP = config.CLEANUP_SETTING


@dataclass(frozen=True)
class CheckInfo:
    """What a check id reports and how to fix it: the source of docs/reference/checks.md (its test
    fails when an id emitted here is missing from CHECKS, or listed but never emitted)."""

    id: str
    title: str
    fix: str
    database: bool = False  # runs only with a database: migrate, check --database <alias>


CHECKS: dict[str, CheckInfo] = {
    info.id: info
    for info in (
        CheckInfo(
            "pg_retention.E001",
            f"{POLICIES} is not a dict.",
            "Make it a dict of 'default', 'app_label' or 'app_label.Model' to days.",
        ),
        CheckInfo(
            "pg_retention.E002",
            f"A {POLICIES} value is not a whole number of days from 1 to {config.MAX_DAYS:,}.",
            "Give the number of days as an int.",
        ),
        CheckInfo(
            "pg_retention.E003",
            f"A {POLICIES} key is not a string, or names no installed app or model.",
            "Use 'default', an app label ('leases') or 'app_label.ModelName' ('leases.Lease').",
        ),
        CheckInfo(
            "pg_retention.E004",
            f"A {POLICIES} key names a model that is not soft-deletable.",
            "Inherit from SoftDeleteMixin, name its fields with retention_deleted_at_field / "
            "retention_flag_field, or remove the key.",
        ),
        CheckInfo(
            "pg_retention.E005",
            f"{CLEANUP} is not a dict, or has a key that is not known.",
            "Use the keys of the settings reference; the message lists the known ones.",
        ),
        CheckInfo(
            "pg_retention.E006",
            f"A {CLEANUP} value has the wrong type or is out of its range (the message names both).",
            "Give a value of the declared type within its bounds (settings reference).",
        ),
        CheckInfo(
            "pg_retention.E007",
            "A soft-delete model has a composite primary key, which purges do not support.",
            "Give the model a single-column primary key and keep the pair unique with a UniqueConstraint, or "
            f"leave it out of {POLICIES}.",
        ),
        CheckInfo(
            "pg_retention.E008",
            "An on_delete cannot be compiled to SQL: a custom handler, SET(callable), or SET_DEFAULT of a field "
            "whose default is a callable.",
            "Use CASCADE, PROTECT, RESTRICT, SET_NULL, SET_DEFAULT, SET(constant) or DO_NOTHING (a db_default "
            "compiles).",
        ),
        CheckInfo(
            "pg_retention.E009",
            f"{config.SCHEDULE_SETTING} is not a dict, names an unknown job, or a value is not a string or None.",
            "Use the jobs cleanup, housekeeping and requests, each a cron expression or None.",
        ),
        CheckInfo(
            "pg_retention.E010",
            f"pg_cron refuses a {config.SCHEDULE_SETTING} expression.",
            "Give an expression pg_cron accepts ('0 0 * * *'); pg_cron itself is asked.",
            database=True,
        ),
        CheckInfo(
            "pg_retention.E011",
            "retention_deleted_at_field / retention_flag_field names no field, or a field of the wrong type.",
            "Name a DateTimeField and a BooleanField (or None) of the model.",
        ),
        CheckInfo(
            "pg_retention.E012",
            "retention_snapshot_fields is not a list of field names or '__all__'.",
            "List fields of the model's table, or '__all__'.",
        ),
        CheckInfo(
            "pg_retention.E013",
            "django.contrib.postgres is missing from INSTALLED_APPS where Django requires it for the app's "
            "ArrayFields (6.1).",
            'INSTALLED_APPS = [..., "django.contrib.postgres", "pgtrigger", "django_pg_retention"]',
        ),
        CheckInfo(
            "pg_retention.W001",
            "A model a purge deletes rows of has pre_delete or post_delete receivers: the database sends no signals.",
            "Move that work to the model's after_permanent_delete hook or a database trigger, or silence the "
            "warning if it may be skipped.",
        ),
        CheckInfo(
            "pg_retention.W002",
            "pg_cron cannot schedule the purge for a database (not installed, not preloaded, or no rights).",
            "Add pg_cron to shared_preload_libraries, set cron.database_name, run CREATE EXTENSION pg_cron "
            "there; or call the purge from another scheduler.",
            database=True,
        ),
        CheckInfo(
            "pg_retention.W003",
            "A soft-delete model has no index in the purge's keyset order (deleted_at, pk).",
            "Add the index the hint names, then makemigrations (SoftDeleteMixin.Meta has it; a Meta of your "
            "own keeps it only as class Meta(SoftDeleteMixin.Meta)).",
        ),
        CheckInfo(
            "pg_retention.W004",
            "A cascade path leads from a soft-delete model into one whose policy keeps rows longer.",
            "Align the two periods, make the relation PROTECT, or soft-delete the children with their parent.",
        ),
        CheckInfo(
            "pg_retention.W005",
            "A model's after_permanent_delete hook would get its primary key only.",
            "List the fields the hook reads in retention_snapshot_fields, or set it to '__all__'.",
        ),
        CheckInfo(
            "pg_retention.W006",
            "A policy row in the database differs from the settings (changed in SQL, or settings not yet synced).",
            "Run migrate or retention sync; retention_policy_history says who changed the row and when.",
            database=True,
        ),
        CheckInfo(
            "pg_retention.E014",
            f'{TIMESTAMP_POLICIES} is not a dict, or an entry is not {{"field": ..., "days": ...}}.',
            'Give each model a dict such as {"field": "action_time", "days": 365}.',
        ),
        CheckInfo(
            "pg_retention.E015",
            f"A {TIMESTAMP_POLICIES} key names no installed concrete model (or a proxy or unmanaged one).",
            "Use 'app_label.ModelName' of an installed, managed, concrete model.",
        ),
        CheckInfo(
            "pg_retention.E016",
            f"A {TIMESTAMP_POLICIES} field is missing or is not a DateTimeField of the model's own table.",
            "Name a DateTimeField of the model (not of a multi-table parent).",
        ),
        CheckInfo(
            "pg_retention.E017",
            f"A {TIMESTAMP_POLICIES} days is not a whole number from 0 to {config.MAX_DAYS:,}.",
            "Give the number of days as an int; 0 purges rows as soon as their timestamp has passed.",
        ),
        CheckInfo(
            "pg_retention.E018",
            f"A {TIMESTAMP_POLICIES} key names a soft-delete model, or a model also named in {POLICIES}.",
            "Give a soft-delete model a soft-delete policy only; a model has one policy.",
        ),
        CheckInfo(
            "pg_retention.W007",
            "A timestamp policy's table has no index on (field, pk) yet: every purge batch would scan past the "
            "rows already purged.",
            "Run retention sync (it creates the index CONCURRENTLY, outside a transaction), or the statement "
            "the message gives.",
            database=True,
        ),
        CheckInfo(
            "pg_retention.E019",
            "On a Citus coordinator, a policy model whose purge the distributed functions cannot keep exact "
            "(the message names the table and why).",
            "Distribute the tables of its purge by one column and colocate them, or leave the model out of the "
            "policies (docs/scaling.md, Citus).",
            database=True,
        ),
    )
}

# RETENTION_TIMESTAMP_POLICIES: the id of each kind of problem (policies.TIMESTAMP_TOPICS).
TIMESTAMP_CHECK_IDS = {
    "shape": "pg_retention.E014",  # not a dict, or an entry not {"field": ..., "days": ...}
    "model": "pg_retention.E015",  # the key names no installed concrete model
    "field": "pg_retention.E016",  # no such field, or not a DateTimeField of the model's own table
    "days": "pg_retention.E017",  # days not a whole number from 0 to MAX_DAYS
    "soft_delete": "pg_retention.E018",  # a soft-delete model, or a model named in both settings
}


def _policy_errors() -> list[checks.CheckMessage]:
    raw_value = config.raw_policies()
    raw = config.as_mapping(raw_value)
    if raw is None:
        return [
            checks.Error(
                f"{POLICIES} must be a dict of 'default', 'app_label' or 'app_label.Model' to days, "
                f"not {type(raw_value).__name__}.",
                id="pg_retention.E001",
            )
        ]
    errors: list[checks.CheckMessage] = []
    app_labels = {c.label for c in apps.get_app_configs()}
    for key, value in raw.items():
        problem = config.policy_value_problem(value)
        if problem:
            errors.append(checks.Error(f"{POLICIES}[{key!r}] {problem}.", id="pg_retention.E002"))
        if not isinstance(key, str):
            errors.append(checks.Error(f"{POLICIES} key {key!r} must be a string.", id="pg_retention.E003"))
            continue
        if key == "default":
            continue
        if "." not in key:
            if key not in app_labels:
                errors.append(
                    checks.Error(
                        f"{POLICIES}[{key!r}]: no installed app has the label {key!r}.",
                        id="pg_retention.E003",
                    )
                )
            continue
        app_label, _, model_name = key.partition(".")
        try:
            model = apps.get_model(app_label, model_name)
        except (LookupError, ValueError):
            errors.append(
                checks.Error(
                    f"{POLICIES}[{key!r}]: there is no model {key!r} (expected 'app_label.ModelName').",
                    id="pg_retention.E003",
                )
            )
            continue
        if not declares_soft_delete(model):
            errors.append(
                checks.Error(
                    f"{POLICIES}[{key!r}]: {model_path(model)} is not soft-deletable.",
                    hint="Inherit from django_pg_retention.models.SoftDeleteMixin, name its fields with "
                    "retention_deleted_at_field / retention_flag_field, or remove the key.",
                    id="pg_retention.E004",
                )
            )
    return errors


def _timestamp_policy_errors() -> list[checks.CheckMessage]:
    """E014-E018: each bad entry of RETENTION_TIMESTAMP_POLICIES, by its key."""
    errors: list[checks.CheckMessage] = []
    for key, problem, topic in timestamp_policy_problems():
        where = f"{TIMESTAMP_POLICIES}[{key!r}]" if key else TIMESTAMP_POLICIES
        hint = None
        if topic == "soft_delete":
            hint = f"Keep the model in {POLICIES} (its soft delete starts the clock) and remove the key here."
        text = f"{where}{problem}" if problem.startswith("[") else f"{where} {problem}"  # ['days'] ...
        errors.append(checks.Error(f"{text}.", hint=hint, id=TIMESTAMP_CHECK_IDS[topic]))
    return errors


def _cleanup_errors() -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for key, problem in config.cleanup_config_problems(config.raw_cleanup_config()):
        check_id = "pg_retention.E005" if not key or "known key" in problem else "pg_retention.E006"
        where = f"{CLEANUP}[{key!r}]" if key else CLEANUP
        errors.append(checks.Error(f"{where} {problem}.", id=check_id))
    return errors


def _policy_days() -> dict[Any, int]:
    """Days per model with a policy, or nothing when the policies are broken (E001-E004, E014-E018
    say why)."""
    try:
        return {p.model: p.retention_days for p in all_policies()}
    except (ImproperlyConfigured, LookupError):
        return {}


def _cascade_paths(graph: Graph) -> dict[Any, list[str]]:
    """The shortest deleting path (edge labels) from the root to each model its purge deletes from."""
    paths: dict[Any, list[str]] = {graph.root: []}
    pending = [graph.root]
    while pending:
        node = pending.pop(0)
        for e in graph.deleting():
            if e.source == node and e.target not in paths:
                paths[e.target] = [*paths[node], e.label]
                pending.append(e.target)
    return paths


def _retained_cascade_warnings(model: Any, graph: Graph, days: dict[Any, int]) -> list[checks.CheckMessage]:
    """W004: a cascade from a soft-delete model into one that its policy keeps longer."""
    if model not in days:
        return []
    block = config.cleanup_config().on_retained_cascade == "block"
    messages: list[checks.CheckMessage] = []
    for node, labels in _cascade_paths(graph).items():
        target = node.model
        if target is model or target not in days or days[target] <= days[model]:
            continue
        head = f"A purge of {model_path(model)} ({days[model]} days)"
        kept = f"{model_path(target)} ({days[target]} days) through {' -> '.join(labels)}"
        msg = (
            f"{head} deletes rows of {kept}: such roots are blocked while a {target._meta.verbose_name} is kept."
            if block
            else f"{head} destroys rows of {kept}: on_retained_cascade is 'delete', so rows their own policy "
            "still keeps go with their parent."
        )
        messages.append(
            checks.Warning(
                msg,
                hint="Align the two periods, make the relation PROTECT (the parent then waits for its children), "
                "or cascade the soft delete (soft-delete the children with their parent, so both clocks start "
                "together).",
                obj=model,
                id="pg_retention.W004",
            )
        )
    return messages


def check_models(models: list[Any]) -> list[checks.CheckMessage]:
    """Composite keys, uncompilable on_delete, delete signals on what a purge deletes, the keyset
    index, and cascades into models kept longer."""
    messages: list[checks.CheckMessage] = []
    warned: set[Any] = set()
    days = _policy_days() if not _cleanup_errors() else {}
    for model in models:
        path = model_path(model)
        if getattr(model._meta, "pk", None) is not None and model._meta.pk.__class__.__name__ == "CompositePrimaryKey":  # type: ignore[union-attr]
            messages.append(
                checks.Error(
                    f"{path} has a composite primary key, which retention purges do not support: a purge names "
                    "every row by one key (its batches, legal holds, the proof of deletion).",
                    hint="Give the model a single-column primary key and keep the pair unique with a "
                    "UniqueConstraint, or leave it out of SOFT_DELETE_RETENTION_POLICIES.",
                    obj=model,
                    id="pg_retention.E007",
                )
            )
            continue
        try:
            columns = policy_columns(model)
        except ImproperlyConfigured as exc:
            messages.append(checks.Error(str(exc), obj=model, id="pg_retention.E011"))
            continue
        # A timestamp policy's index is ours to create (keyset_index.py; W007 if it is missing).
        missing_index = _keyset_index_warning(model, columns) if policy_kind(model) is PolicyKind.SOFT_DELETE else None
        if missing_index:
            messages.append(missing_index)
        try:
            graph = build(model)
        except UncompilableRelation as exc:
            messages.append(
                checks.Error(
                    f"{path}: its purge cannot be compiled to SQL because of {exc.label}: {exc.reason}.",
                    hint="Use CASCADE, PROTECT, RESTRICT, SET_NULL, SET_DEFAULT, SET(constant) or DO_NOTHING.",
                    obj=model,
                    id="pg_retention.E008",
                )
            )
            continue
        messages.extend(_retained_cascade_warnings(model, graph, days))
        deleted = {graph.root.model} | {e.target.model for e in graph.edges if e.kind in DELETING}
        for target in sorted(deleted, key=lambda m: m._meta.label):
            if target in warned:
                continue
            snapshot_message = _snapshot_message(target)
            if snapshot_message:
                warned.add(target)
                messages.append(snapshot_message)
            for signal, name in (
                (signals.pre_delete, "pre_delete"),
                (signals.post_delete, "post_delete"),
            ):
                if signal.has_listeners(target):
                    warned.add(target)
                    messages.append(
                        checks.Warning(
                            f"{target._meta.label} has {name} receivers, and the purge of {path} deletes its "
                            "rows in the database without sending signals.",
                            hint="Move that work to the model's after_permanent_delete hook or a database "
                            "trigger, or silence pg_retention.W001 if it may be skipped.",
                            obj=target,
                            id="pg_retention.W001",
                        )
                    )
                    break
    return messages


def _snapshot_message(model: Any) -> checks.CheckMessage | None:
    """retention_snapshot_fields: every name a field (E012); a hook without the list sees only the
    primary key, since the outbox keeps no column a model does not ask for (W005)."""
    names: object = getattr(model, "retention_snapshot_fields", None)
    if names == ALL_FIELDS:
        return None
    if names is None:
        if not callable(getattr(model, "after_permanent_delete", None)):
            return None
        return checks.Warning(
            f"{model._meta.label}.after_permanent_delete gets an instance rebuilt with its primary key only: "
            "the outbox keeps no column of a purged row that the model does not name.",
            hint="List the fields the hook reads in retention_snapshot_fields, or set it to '__all__' to keep "
            "every column of purged rows in retention_outbox until they are drained and pruned.",
            obj=model,
            id="pg_retention.W005",
        )
    if isinstance(names, str) or not isinstance(names, list | tuple):
        return checks.Error(
            f"{model._meta.label}.retention_snapshot_fields must be a list of field names or '__all__', not {names!r}.",
            obj=model,
            id="pg_retention.E012",
        )
    known = {f.name for f in model._meta.concrete_fields} | {f.attname for f in model._meta.concrete_fields}
    unknown = [n for n in names if n not in known]  # pyright: ignore[reportUnknownVariableType]
    if unknown:
        return checks.Error(
            f"{model._meta.label}.retention_snapshot_fields names {unknown!r}, which are not fields of its table.",
            obj=model,
            id="pg_retention.E012",
        )
    return None


def _keyset_index_warning(model: Any, columns: SoftDeleteColumns) -> checks.CheckMessage | None:
    """The purge takes batches in (deleted_at, pk) order; without an index in that order each batch
    scans from the oldest soft-deleted row again, and a large purge goes quadratic."""
    pk_name: str = model._meta.pk.name
    fields = [columns.deleted_at_field, pk_name]
    usable = [Q(), Q(**{f"{columns.deleted_at_field}__isnull": False})]
    if columns.flag_field:
        usable.append(Q(**{columns.flag_field: True}))
    for index in model._meta.indexes:
        if list(index.fields[:2]) == fields and (index.condition or Q()) in usable:
            return None
    condition = f"{columns.flag_field}=True" if columns.flag_field else f"{columns.deleted_at_field}__isnull=False"
    name = f"{model._meta.model_name[:20]}_purge_idx"
    return checks.Warning(
        f"{model_path(model)} has no index on ({columns.deleted_at_field}, {pk_name}), the order in which the "
        "purge takes batches: every batch would scan past the rows already purged.",
        hint=f"Add to {model.__name__}.Meta.indexes: models.Index(fields={fields!r}, condition=Q({condition}), "
        f"name={name!r}), then run makemigrations (for a large table, make the operation "
        "django.contrib.postgres.operations.AddIndexConcurrently in a migration with atomic = False).",
        obj=model,
        id="pg_retention.W003",
    )


def _schedule_errors() -> list[checks.CheckMessage]:
    return [
        checks.Error(
            f"{config.SCHEDULE_SETTING}[{key!r}] {problem}." if key else f"{config.SCHEDULE_SETTING} {problem}.",
            id="pg_retention.E009",
        )
        for key, problem in config.schedule_problems(getattr(settings, config.SCHEDULE_SETTING, {}))
    ]


def _postgres_app_errors() -> list[checks.CheckMessage]:
    """E013: our tables use ArrayField, which Django 6.1 refuses without django.contrib.postgres
    installed (postgres.E005); say it once, naming the fix, instead of once per field."""
    from django_pg_retention.models import RetentionConfigRow, RetentionDeletedKeys

    fields: list[Any] = [
        RetentionConfigRow._meta.get_field("replica_slots"),
        RetentionDeletedKeys._meta.get_field("keys"),
    ]
    if not any(message.id == "postgres.E005" for f in fields for message in f.check()):
        return []
    return [
        checks.Error(
            "django_pg_retention needs 'django.contrib.postgres' in INSTALLED_APPS on this version of Django "
            "(its audit tables use ArrayField).",
            hint='INSTALLED_APPS = [..., "django.contrib.postgres", "pgtrigger", "django_pg_retention"]',
            id="pg_retention.E013",
        )
    ]


@checks.register("pg_retention")
def check_retention(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [
        *_postgres_app_errors(),
        *_policy_errors(),
        *_timestamp_policy_errors(),
        *_cleanup_errors(),
        *_schedule_errors(),
        *check_models(policy_models()),
    ]


@checks.register("pg_retention", checks.Tags.database)
def check_pg_cron(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """pg_cron's availability, and its own verdict on each schedule (runs with migrate and check --database)."""
    from django.db import connections

    from django_pg_retention import schedule

    messages: list[checks.CheckMessage] = []
    if _schedule_errors():
        return messages
    aliases: list[str] = list(databases or [])
    for alias in aliases:
        if connections[alias].vendor != "postgresql":
            continue
        jobs = schedule.scheduler(alias)
        reason = jobs.unavailable_reason()
        if reason:
            messages.append(
                checks.Warning(
                    f"pg_cron cannot schedule the purge for database {alias!r}: {reason}.",
                    hint="Add pg_cron to shared_preload_libraries, set cron.database_name, and run CREATE EXTENSION "
                    "pg_cron in that database; or run `manage.py cleanup_soft_deleted --execute` or "
                    "`CALL retention.run_cleanup()` from any other scheduler.",
                    id="pg_retention.W002",
                )
            )
            continue
        for key, expression in config.retention_schedule().items():
            if expression is None:
                continue
            problem = jobs.schedule_problem(expression)
            if problem:
                key_text = f"{config.SCHEDULE_SETTING}[{key!r}] = {expression!r}"
                messages.append(
                    checks.Error(f"{key_text} is not a schedule pg_cron accepts: {problem}", id="pg_retention.E010")
                )
    return messages


@checks.register("pg_retention", checks.Tags.database)
def check_policy_drift(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A policy row that differs from the settings (changed in SQL, or settings not yet synced):
    the purge uses the row. Runs with migrate and ``check --database``."""
    from django_pg_retention.sync import policy_drift

    if _policy_errors() or _timestamp_policy_errors() or _cleanup_errors():
        return []
    messages: list[checks.CheckMessage] = []
    for alias in list(databases or []):
        for problem in policy_drift(alias):
            messages.append(
                checks.Warning(
                    f"Database {alias!r}: the retention policy differs from the settings: {problem}.",
                    hint="The purge uses the database's policy. `manage.py migrate` or `retention sync` writes the "
                    "settings (a setting changed since the last sync shows here until then); "
                    "retention_policy_history says who changed the row and when.",
                    id="pg_retention.W006",
                )
            )
    return messages


@checks.register("pg_retention", checks.Tags.database)
def check_keyset_indexes(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W007: a timestamp policy whose table has no (field, pk) index yet (retention sync creates it
    outside a transaction; this says what to run by hand). Runs with migrate and ``check --database``."""
    from django_pg_retention.keyset_index import missing_indexes
    from django_pg_retention.sync import can_sync

    if _policy_errors() or _timestamp_policy_errors() or _cleanup_errors():
        return []
    messages: list[checks.CheckMessage] = []
    for alias in list(databases or []):
        if not can_sync(alias):
            continue
        for index, why in missing_indexes(alias):
            messages.append(
                checks.Warning(
                    f"Database {alias!r}: the timestamp policy of {index.model_path} has no index on "
                    f"({index.column}, {index.pk_column}) ({why}): every purge batch would scan past the rows "
                    "already purged.",
                    hint="`manage.py retention sync` creates it (CONCURRENTLY, outside a transaction), or run: "
                    f"{index.statement()}",
                    id="pg_retention.W007",
                )
            )
    return messages


@checks.register("pg_retention", checks.Tags.database)
def check_distributed_purges(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """E019: on a Citus coordinator, a policy model whose purge the distributed functions cannot
    make exact (distribution.refusals); its compiled functions refuse to purge, naming the same."""
    from django_pg_retention.distribution import database_refusals
    from django_pg_retention.sync import can_sync

    if _policy_errors() or _cleanup_errors():
        return []
    messages: list[checks.CheckMessage] = []
    for alias in list(databases or []):
        if not can_sync(alias):
            continue
        for path, reasons in database_refusals(alias):
            messages.append(
                checks.Error(
                    f"Database {alias!r}: {path} cannot be purged on Citus with the single-server guarantees: "
                    + "; ".join(reasons)
                    + ".",
                    hint="Distribute the tables of its purge by one column and colocate them, or leave the model "
                    "out of SOFT_DELETE_RETENTION_POLICIES (docs/scaling.md, Citus).",
                    id="pg_retention.E019",
                )
            )
    return messages
