"""Legal holds from Python: ``place_hold(obj_or_model, reason)`` and ``release_hold(...)``; the admin
places and releases through the same functions.

A row hold is in force once ``place_hold`` returns: in its own transaction, on the database that
holds the model's rows (Django's router), it locks the held rows ``FOR UPDATE`` (waiting, at most
``lock_wait`` seconds, for a purge batch that has them locked to commit), checks that each still
exists, and only then records the hold, so a batch that started before either finished first (and
the hold fails, naming the run that most likely purged the row) or sees the hold. A whole-model
hold locks nothing: every batch that starts after it commits sees it; a batch in flight finishes.
The database enforces the same for holds written any other way (trigger ``retention_hold_check``,
SQL 0.2): the model must be purged in that database, the key is stored in its canonical text and
its row must exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from django_pg_retention.distribution import read_layout
from django_pg_retention.models import RetentionHold, RetentionRunItem
from django_pg_retention.policies import model_path

LOCK_NOT_AVAILABLE = "55P03"


class HoldError(ValueError):
    """A hold that was not placed (nothing was recorded): its row is gone, never existed, is not a
    key of the model, is locked longer than the wait allows, or its model is not purged there."""


def _concrete(obj_or_model: models.Model | type[models.Model]) -> type[models.Model]:
    return obj_or_model._meta.concrete_model  # type: ignore[return-value]


def _target(obj_or_model: models.Model | type[models.Model]) -> tuple[str, str]:
    if isinstance(obj_or_model, models.Model):
        concrete = _concrete(obj_or_model)
        if obj_or_model.pk is None:
            raise ValueError(f"cannot hold an unsaved {model_path(concrete)}")
        return model_path(concrete), str(obj_or_model.pk)
    return model_path(_concrete(obj_or_model)), ""


def hold_database(model: type[models.Model]) -> str:
    """The database whose purge deletes the model's rows, so the one its holds must be in."""
    return router.db_for_write(model)


def canonical_key(model: type[models.Model], key: Any) -> Any:
    """The key as the model's primary key field reads it ('007' and ' 7 ' are 7), or HoldError."""
    field: Any = model._meta.pk
    try:
        textual = isinstance(field, models.CharField | models.TextField)  # where blanks are part of a key
        value = field.to_python(key.strip() if isinstance(key, str) and not textual else key)
    except (ValidationError, ValueError, TypeError) as exc:
        raise HoldError(
            f"{model_path(model)} has no row with primary key {key!r}: not a valid {field.get_internal_type()}"
        ) from exc
    if value is None or value == "":
        raise HoldError(f"{model_path(model)} has no row with primary key {key!r}")
    return value


def place_hold(
    obj_or_model: models.Model | type[models.Model],
    reason: str,
    until: datetime | None = None,
    by: str = "",
    using: str | None = None,
    lock_wait: float = 30.0,
) -> RetentionHold:
    """Hold one row (an instance) or a whole model (a class) against every purge; see place_holds."""
    return place_holds([obj_or_model], reason, until, by, using, lock_wait)[0]


def place_holds(
    targets: Iterable[models.Model | type[models.Model]],
    reason: str,
    until: datetime | None = None,
    by: str = "",
    using: str | None = None,
    lock_wait: float = 30.0,
) -> list[RetentionHold]:
    """Hold each row (or whole model) of targets; all or nothing within each database.

    Each database's holds (``using``, else the one the router writes each model to) are placed in
    one transaction that first locks the held rows ``FOR UPDATE`` (waiting at most ``lock_wait``
    seconds for a purge batch to commit) and checks that every one exists. A missing row raises
    HoldError naming the model and key and saying whether a retention run (which one) purged rows
    of that table or none did; nothing is recorded then."""
    if not reason.strip():
        raise ValueError("a legal hold needs a reason")
    if not 0 < lock_wait <= 3600:
        raise ValueError(f"lock_wait must be between 0 and 3600 seconds, not {lock_wait!r}")
    per_database: dict[str, list[tuple[type[models.Model], Any]]] = defaultdict(list)
    order: list[tuple[str, int]] = []
    for target in targets:
        _target(target)  # an unsaved instance is refused here
        model = _concrete(target)
        key = canonical_key(model, target.pk) if isinstance(target, models.Model) else None
        db = using or hold_database(model)
        if not router.allow_migrate_model(db, model):
            raise HoldError(
                f"{model_path(model)} is not purged in database {db!r}: the routers put its rows in "
                f"{hold_database(model)!r}, where its holds belong. No hold was recorded."
            )
        order.append((db, len(per_database[db])))
        per_database[db].append((model, key))
    placed: dict[str, list[RetentionHold]] = {}
    for db, wanted in per_database.items():
        placed[db] = _place_in(db, wanted, reason, until, by, lock_wait)
    return [placed[db][i] for db, i in order]


def _place_in(
    db: str,
    wanted: list[tuple[type[models.Model], Any]],
    reason: str,
    until: datetime | None,
    by: str,
    lock_wait: float,
) -> list[RetentionHold]:
    keys: dict[type[models.Model], set[Any]] = defaultdict(set)
    for model, key in wanted:
        if key is not None:
            keys[model].add(key)
    with transaction.atomic(using=db):
        with connections[db].cursor() as cursor:
            # SET LOCAL lasts to the end of the transaction; inside a caller's transaction (the
            # admin's) the caller's own lock_timeout is put back once the rows are locked.
            cursor.execute("SELECT current_setting('lock_timeout')")
            before = str(cursor.fetchone()[0])  # type: ignore[index]
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(lock_wait * 1000)}ms"])
        missing: list[str] = []
        for model, held in keys.items():
            try:
                found = _lock_rows(db, model, held)
            except DatabaseError as exc:
                if getattr(getattr(exc, "__cause__", None), "sqlstate", None) == LOCK_NOT_AVAILABLE:
                    raise HoldError(
                        f"could not lock the {model_path(model)} rows to hold within {lock_wait:g} s (a purge batch "
                        "or another transaction holds them); nothing was recorded, try again"
                    ) from exc
                raise
            missing.extend(_gone(db, model, key) for key in sorted(held - found, key=str))
        if missing:
            raise HoldError("; ".join(missing) + ". No hold was recorded.")
        with connections[db].cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [before])
        holds = [
            RetentionHold(
                model_path=model_path(model),
                object_pk="" if key is None else str(key),
                reason=reason,
                until=until,
                created_by=by,
            )
            for model, key in wanted
        ]
        try:
            with transaction.atomic(using=db):
                return RetentionHold.objects.using(db).bulk_create(holds)
        except DatabaseError as exc:  # retention_hold_check (SQL 0.2) refused one
            cause = getattr(exc, "__cause__", None)
            message = getattr(getattr(cause, "diag", None), "message_primary", None) or str(exc)
            raise HoldError(f"{message} (database {db!r}). No hold was recorded.") from exc


def _lock_rows(db: str, model: type[models.Model], held: set[Any]) -> set[Any]:
    """Lock the held rows that exist FOR UPDATE; returns their keys. Citus locks rows only by their
    distribution column (issue 27): on a table distributed by another column each row's value is
    read first, then the row is locked on its shard."""
    rows: Any = model._meta.base_manager.db_manager(db)  # soft-deleted rows too: those are the ones held
    placement = read_layout(db).of(model._meta.db_table)
    column = placement.column if placement is not None else None
    pk_column = model._meta.pk.column  # type: ignore[union-attr]
    if column is None or column == pk_column:
        if placement is not None and column == pk_column:  # one router query per row
            return {k for key in held for k in rows.filter(pk=key).select_for_update().values_list("pk", flat=True)}
        return set(rows.filter(pk__in=held).select_for_update().values_list("pk", flat=True))
    field = next(f for f in model._meta.concrete_fields if f.column == column)
    found: set[Any] = set()
    for key, value in rows.filter(pk__in=held).values_list("pk", field.attname):
        locked = rows.filter(pk=key, **{field.attname: value}).select_for_update().values_list("pk", flat=True)
        found.update(locked)
    return found


def _never_allocated(db: str, model: type[models.Model], key: Any) -> bool:
    """An integer key above everything the primary key's sequence has handed out never existed."""
    if not isinstance(key, int):
        return False
    field: Any = model._meta.pk
    try:
        with transaction.atomic(using=db), connections[db].cursor() as cursor:
            cursor.execute(
                "SELECT s.seq IS NOT NULL, pg_sequence_last_value(s.seq)"
                " FROM (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) s",
                [connections[db].ops.quote_name(model._meta.db_table), field.column],
            )
            row = cursor.fetchone()
    except DatabaseError:  # no right to read the sequence: the audit alone tells
        return False
    if not row or not row[0]:  # keys not from a sequence
        return False
    return row[1] is None or key > int(row[1])  # NULL: the sequence has given no key yet


def _gone(db: str, model: type[models.Model], key: Any) -> str:
    """Why a row to hold is missing: purged (the latest real run that deleted rows of its table
    most likely did) or never existed (a key its sequence never gave, or no run deleted any)."""
    table = model._meta.db_table
    what = f"{model_path(model)} has no row with primary key {key}"
    never = (
        f"{what}: it never existed (or was deleted outside retention: no retention run in database {db!r} "
        f"deleted rows of {table})"
    )
    if _never_allocated(db, model, key):
        return f"{what}: it never existed (its primary key sequence has not reached {key})"
    item = (
        RetentionRunItem.objects.using(db)
        .filter(run__dry_run=False, cascaded__has_key=table)
        .select_related("run")
        .order_by("-run_id")
        .first()
    )
    if item is None:
        return never
    return (
        f"{what}: it was purged, most likely by retention run {item.run_id} (started "
        f"{item.run.started_at:%Y-%m-%d %H:%M:%S %Z}), the latest run that deleted rows of {table}"
    )


def release_hold(obj_or_model: models.Model | type[models.Model], by: str = "", using: str | None = None) -> int:
    """Release the active holds on that row (or on the whole model); returns how many.

    ``by`` is required: the database refuses a release that does not say who released it."""
    if not by.strip():
        raise ValueError("releasing a legal hold must say who releases it (by=...)")
    path, pk = _target(obj_or_model)
    model = _concrete(obj_or_model)
    if pk:
        pk = str(canonical_key(model, pk))
    db = using or hold_database(model)
    return release_holds(RetentionHold.objects.using(db).filter(model_path=path, object_pk=pk), by)


def release_holds(holds: QuerySet[RetentionHold], by: str) -> int:
    """Release those of the holds still active, recording who and when; returns how many."""
    return holds.filter(released_at__isnull=True).update(released_at=timezone.now(), released_by=by)
