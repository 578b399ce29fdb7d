"""The audit trail is append-only and chained, so that it proves what the purge deleted.

Triggers (django-pgtrigger ``Protect``) stop anyone from editing a finished run or item, a policy
history row or a released hold, and from deleting any of them; only ``retention.prune_audit``
(the housekeeping job) lifts them, for its own transaction. Each finished run is sealed by the
database with ``hash = sha256(prev_hash || record)``; :func:`verify` recomputes every record and
link here, in Python, from the rows alone, so a change made with the triggers lifted shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pgtrigger
from django.apps import apps as global_apps
from django.db import connections, models

from django_pg_retention.digests import keys_digest as keys_digest  # public here since 0.1
from django_pg_retention.models import (
    RetentionAuditPrune,
    RetentionHold,
    RetentionPolicyHistory,
    RetentionRun,
    RetentionRunItem,
)

GUARD = "retention_audit_guard"  # retention.guard_audit_table(), on every audit table
GUARD_ROW = "retention_audit_guard_row"  # retention.guard_audit_row() (SQL 0.2), on every audit table
_NO_DELETE = pgtrigger.Protect(name="append_only_delete", operation=pgtrigger.Delete)
# What each audit table refuses. The names start with "append_only_" (prune_audit finds them so).
TRIGGERS: dict[type[models.Model], list[pgtrigger.Trigger]] = {
    RetentionRun: [
        _NO_DELETE,
        # A run is sealed (chained) in the transaction that finishes it.
        pgtrigger.Protect(
            name="append_only_update",
            operation=pgtrigger.Update,
            condition=pgtrigger.Q(old__chain_position__isnull=False),
        ),
    ],
    RetentionRunItem: [
        _NO_DELETE,
        pgtrigger.Protect(
            name="append_only_update",
            operation=pgtrigger.Update,
            condition=~pgtrigger.Q(old__status="running"),
        ),
    ],
    RetentionPolicyHistory: [
        _NO_DELETE,
        pgtrigger.Protect(name="append_only_update", operation=pgtrigger.Update),
    ],
    RetentionAuditPrune: [
        _NO_DELETE,
        pgtrigger.Protect(name="append_only_update", operation=pgtrigger.Update),
    ],
    RetentionHold: [
        _NO_DELETE,
        # An active hold may be released (saying by whom) or held longer; what it holds, why and who
        # placed it never change, its expiry never comes sooner, and a released hold is final.
        pgtrigger.Protect(
            name="append_only_update",
            operation=pgtrigger.Update,
            condition=pgtrigger.Q(old__released_at__isnull=False)
            | pgtrigger.Q(old__until__isnull=True, new__until__isnull=False)
            | pgtrigger.Q(new__until__lt=pgtrigger.F("old__until"))
            | pgtrigger.Q(new__released_at__isnull=False, new__released_by="")
            | pgtrigger.Q(old__model_path__df=pgtrigger.F("new__model_path"))
            | pgtrigger.Q(old__object_pk__df=pgtrigger.F("new__object_pk"))
            | pgtrigger.Q(old__reason__df=pgtrigger.F("new__reason"))
            | pgtrigger.Q(old__created_by__df=pgtrigger.F("new__created_by"))
            | pgtrigger.Q(old__created_at__df=pgtrigger.F("new__created_at")),
        ),
    ],
}


def _each(apps: Any) -> Iterable[tuple[Any, pgtrigger.Trigger]]:
    """(model, trigger) pairs; Any because pgtrigger annotates its model parameters as instances."""
    for model, triggers in TRIGGERS.items():
        try:
            historical: Any = apps.get_model(model._meta.app_label, model._meta.object_name)
        except LookupError:  # a migration before the model's own (0002 for retention_audit_prune)
            continue
        for trigger in triggers:
            yield historical, trigger


def install_triggers(apps: Any, schema_editor: Any) -> None:
    """Migration step: install the append-only triggers.

    They are compiled by django-pgtrigger but not registered with it: registered triggers would
    make ``makemigrations`` of a project with "pgtrigger" installed write migrations into this
    package. ``manage.py pgtrigger prune`` therefore drops them; :func:`ensure_triggers` (run by
    every ``migrate`` and ``retention sync``) puts back any that are missing.
    """
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for model, trigger in _each(apps):
            cursor.execute(trigger.compile(model).install_sql)


def uninstall_triggers(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for model, trigger in _each(apps):
            cursor.execute(trigger.compile(model).uninstall_sql)


def missing_triggers(using: str = "default") -> list[str]:
    """'table.trigger' of every append-only trigger that is not installed as compiled, or disabled.

    pgtrigger comments each trigger with the hash of its definition, so a trigger that was
    dropped, or replaced by another of the same name, is listed; so is one that ALTER TABLE ...
    DISABLE TRIGGER switched off (installing it again enables it). The guard of each audit table
    (``retention_audit_guard``, and from SQL 0.2 ``retention_audit_guard_row``, from the SQL files)
    is listed when missing or disabled.
    """
    # Only tables the database has: migrated back to an earlier release, a newer model has none.
    tables = set(connections[using].introspection.table_names())
    wanted = {
        (model._meta.db_table, trigger.get_pgid(model)): trigger.compile(model).hash
        for model, trigger in _each(global_apps)
        if model._meta.db_table in tables
    }
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, obj_description(t.oid, 'pg_trigger') FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE %s AND t.tgenabled <> 'D'",
            [r"pgtrigger\_append\_only\_%"],
        )
        installed = {(table, name): comment for table, name, comment in cursor.fetchall()}
        # The guard of the SQL file (TRUNCATE, pgtrigger.ignore by other roles): not pgtrigger's.
        cursor.execute("SELECT to_regprocedure('retention.guard_audit_row()') IS NOT NULL")
        guards = [GUARD, GUARD_ROW] if cursor.fetchone()[0] else [GUARD]  # type: ignore[index]  # 0.1: one
        unguarded: list[str] = []
        for guard in guards:
            cursor.execute(
                "SELECT a.t FROM unnest(retention.audit_tables()) a(t) WHERE NOT EXISTS (SELECT 1 FROM pg_trigger g"
                " WHERE g.tgrelid = to_regclass(quote_ident(a.t)) AND g.tgname = %s AND g.tgenabled <> 'D')",
                [guard],
            )
            unguarded += [f"{table}.{guard}" for (table,) in cursor.fetchall()]
    return sorted(
        [f"{table}.{name}" for (table, name), digest in wanted.items() if installed.get((table, name)) != digest]
        + unguarded
    )


def ensure_triggers(using: str = "default") -> list[str]:
    """Install the append-only triggers that are missing or altered; returns what was installed."""
    missing = missing_triggers(using)
    if missing:
        with connections[using].cursor() as cursor:
            if any(m.endswith((f".{GUARD}", f".{GUARD_ROW}")) for m in missing):
                cursor.execute("SELECT retention.install_audit_guards()")
            for model, trigger in _each(global_apps):
                if f"{model._meta.db_table}.{trigger.get_pgid(model)}" in missing:
                    cursor.execute(trigger.compile(model).install_sql)
    return missing


# --- the chain, recomputed -------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _netstring(value: str) -> str:
    return f"{len(value.encode())}:{value},"


def _us(moment: datetime | None) -> str:
    return "" if moment is None else str((moment - EPOCH) // timedelta(microseconds=1))


def _record(run: RetentionRun, items: list[RetentionRunItem], digest_fields: tuple[str, ...]) -> str:
    """The canonical text of a run and its items, field for field as retention.run_record writes it;
    the formats differ in the fields of each digest entry."""
    fields = [
        "run",
        str(run.pk),
        _us(run.started_at),
        _us(run.finished_at),
        run.status,
        run.triggered_by,
        "true" if run.dry_run else "false",
        run.model_filter,
        "" if run.days_override is None else str(run.days_override),
        str(run.rows_deleted),
        run.error,
        run.requested_by,
    ]
    text = "".join(_netstring(f) for f in fields)
    for item in sorted(items, key=lambda i: i.pk):
        digests = item.digests or {}
        text += "".join(
            _netstring(f)
            for f in [
                "item",
                str(item.pk),
                item.model_path,
                item.db_table,
                str(item.retention_days),
                item.policy_source,
                _us(item.cutoff),
                str(item.eligible),
                str(item.deleted),
                str(item.blocked),
                str(item.skipped_locked),
                item.status,
                item.error,
                _us(item.started_at),
                _us(item.finished_at),
                "" if item.duration is None else str(item.duration // timedelta(microseconds=1)),
                str(item.throttled_ms),
                "" if item.replica_lag_bytes is None else str(item.replica_lag_bytes),
                str(len(digests)),
            ]
        )
        for table in sorted(digests, key=lambda t: t.encode()):
            entry = digests[table]
            # A field absent from an entry recorded before it existed is empty, as SQL's netstring(NULL).
            text += _netstring(table) + "".join(_netstring(str(entry.get(name, ""))) for name in digest_fields)
        for counts in (item.cascaded, item.updated, item.blocked_reasons):
            text += _counts_record(counts or {})
        durations = item.batch_durations_ms or []
        text += _netstring(str(len(durations))) + "".join(_netstring(str(ms)) for ms in durations)
    return text


def _record_v1(run: RetentionRun, items: list[RetentionRunItem]) -> str:
    """Record format 1 (release 0.1.0): each digest as count, sha256, order."""
    return _record(run, items, ("count", "sha256", "order"))


def _record_v2(run: RetentionRun, items: list[RetentionRunItem]) -> str:
    """Record format 2 (0.2): each digest as count, sha256, order, chunk (keys_digest)."""
    return _record(run, items, ("count", "sha256", "order", "chunk"))


def _counts_record(counts: dict[str, int]) -> str:
    return _netstring(str(len(counts))) + "".join(
        _netstring(key) + _netstring(str(counts[key])) for key in sorted(counts, key=lambda k: k.encode())
    )


# Every record format a release has sealed runs in, by the number seal_run stores in
# retention_run.record_format. A format is never changed once released: a new one is added (with
# the SQL that writes it), and runs sealed in the old one are still recomputed in the old one.
RECORD_FORMATS: dict[int, Callable[[RetentionRun, list[RetentionRunItem]], str]] = {1: _record_v1, 2: _record_v2}


class UnknownRecordFormat(ValueError):
    pass


def run_record(run: RetentionRun, items: list[RetentionRunItem]) -> str:
    build = RECORD_FORMATS.get(run.record_format)
    if build is None:
        raise UnknownRecordFormat(
            f"run {run.pk} was sealed in record format {run.record_format}, which this version of "
            f"django-pg-retention does not know (it knows {sorted(RECORD_FORMATS)}): upgrade the package to verify it"
        )
    return build(run, items)


def run_hash(prev_hash: str, run: RetentionRun, items: list[RetentionRunItem]) -> str:
    return hashlib.sha256((prev_hash + run_record(run, items)).encode()).hexdigest()


@dataclass
class Verification:
    checked: int = 0  # sealed runs whose hash and link were recomputed
    first_position: int | None = None
    last_position: int | None = None
    unsealed: list[int] = field(default_factory=list[int])  # finished runs outside the chain
    broken_run: int | None = None  # id of the first run whose record or link does not hold
    problem: str = ""
    head: tuple[int, str] | None = None  # (position, hash) of the newest sealed run
    heads_before_start: list[int] = field(default_factory=list[int])  # known heads pruned by housekeeping
    pruned: RetentionAuditPrune | None = None  # the latest pruning record: the chain starts right after it
    seals_checked: int = 0  # seals of holds and policy history rows recomputed (retention.record_seal)
    seals_at_upgrade: int = 0  # of them, rows written before 0.2 and sealed by the upgrade
    seal_head: tuple[int, str] | None = None  # (position, hash) of the newest seal

    @property
    def ok(self) -> bool:
        return self.broken_run is None and not self.problem


def verify(using: str = "default", heads: Iterable[tuple[int, str]] = ()) -> Verification:
    """Walk the chain oldest first; stop at the first run whose record or link does not hold.

    ``heads`` are (position, hash) pairs printed by earlier verifications and kept outside the
    database (or read from the server log, where seal_run writes each one): a role that can write
    the audit tables can recompute a whole chain, but not one that still contains them."""
    result = Verification()
    runs = RetentionRun.objects.using(using).filter(chain_position__isnull=False).order_by("chain_position")
    previous: RetentionRun | None = None
    first_run_prev_hash = ""
    for run, run_items in _runs_with_items(using, runs):
        position: int = run.chain_position  # type: ignore[assignment]
        if previous is None:
            result.first_position = position
            first_run_prev_hash = run.prev_hash
        elif position != (previous.chain_position or 0) + 1:
            result.broken_run = run.pk
            result.problem = (
                f"run {run.pk} is at chain position {position}, after position {previous.chain_position}: "
                "the runs between were deleted"
            )
            return result
        elif run.prev_hash != previous.hash:
            result.broken_run = run.pk
            result.problem = f"run {run.pk} does not link to run {previous.pk}: prev_hash differs from its hash"
            return result
        try:
            recomputed = run_hash(run.prev_hash, run, run_items)
        except UnknownRecordFormat as exc:
            result.broken_run = run.pk
            result.problem = str(exc)
            return result
        if recomputed != run.hash:
            result.broken_run = run.pk
            result.problem = (
                f"run {run.pk} (chain position {position}) no longer matches its hash: it or its items changed"
            )
            return result
        result.checked += 1
        result.last_position = position
        result.head = (position, run.hash)
        previous = run
    _check_pruning(using, result, first_run_prev_hash)
    if result.problem:
        return result
    result.unsealed = list[int](
        RetentionRun.objects.using(using)
        .filter(chain_position__isnull=True)
        .exclude(status="running")
        .order_by("id")
        .values_list("id", flat=True)
    )
    if result.unsealed:
        result.problem = f"{len(result.unsealed)} finished run(s) are not in the chain: {result.unsealed[:10]}"
        return result
    _check_heads(using, result, heads)
    if not result.problem:
        check_seals(using, result)
    return result


def _runs_with_items(
    using: str, runs: models.QuerySet[RetentionRun]
) -> Iterable[tuple[RetentionRun, list[RetentionRunItem]]]:
    """Each sealed run with its items, both streamed from the database in chain order (a server-side
    cursor each): memory holds one run's items, not the audit's."""
    items = (
        RetentionRunItem.objects.using(using)
        .filter(run__chain_position__isnull=False)
        .order_by("run__chain_position", "id")
        .iterator(chunk_size=500)
    )
    pending = next(items, None)
    for run in runs.iterator(chunk_size=500):
        own: list[RetentionRunItem] = []
        while pending is not None and pending.run_id == run.pk:
            own.append(pending)
            pending = next(items, None)
        yield run, own


def prune_text(entry: RetentionAuditPrune) -> str:
    """The canonical text a pruning record's hash covers, as retention.prune_record writes it."""
    fields = ["prune", str(entry.pk), _us(entry.pruned_at), str(entry.older_than_days), str(entry.through_position)]
    fields += [entry.through_hash, str(entry.runs_removed), _us(entry.newest_removed_at)]
    fields.append("true" if entry.at_upgrade else "false")
    return "".join(_netstring(f) for f in fields)


def prune_records(using: str = "default") -> list[RetentionAuditPrune]:
    """Every pruning record, oldest first (none where SQL 0.2 is not installed yet)."""
    if RetentionAuditPrune._meta.db_table not in connections[using].introspection.table_names():
        return []
    return list(RetentionAuditPrune.objects.using(using).order_by("id"))


def _pruning_problem(records: list[RetentionAuditPrune], first_position: int | None, first_prev_hash: str) -> str:
    """Why the start of the chain is not accounted for by housekeeping's records, or ''."""
    previous: RetentionAuditPrune | None = None
    for number, entry in enumerate(records, start=1):
        if entry.pk != number or entry.prev_hash != (previous.hash if previous else ""):
            return f"pruning record {entry.pk} does not follow record {number - 1}: pruning records were removed"
        if hashlib.sha256((entry.prev_hash + prune_text(entry)).encode()).hexdigest() != entry.hash:
            return f"pruning record {entry.pk} no longer matches its hash: it was changed"
        if previous and entry.through_position <= previous.through_position:
            return f"pruning record {entry.pk} goes back to position {entry.through_position}"
        if entry.at_upgrade and number != 1:
            return f"pruning record {entry.pk} claims to be the upgrade's note, which only the first record can be"
        if not entry.at_upgrade and entry.newest_removed_at >= entry.pruned_at - timedelta(days=entry.older_than_days):
            return (
                f"pruning record {entry.pk} removed runs up to {entry.newest_removed_at:%Y-%m-%d %H:%M}, younger than "
                f"its {entry.older_than_days} days on {entry.pruned_at:%Y-%m-%d}"
            )
        previous = entry
    pruned_through = previous.through_position if previous else 0
    if first_position is None:
        return ""
    if first_position != pruned_through + 1:
        return (
            f"chain positions {pruned_through + 1}-{first_position - 1} are missing and no pruning record covers "
            "them: runs were removed outside housekeeping"
        )
    if previous and previous.through_hash != first_prev_hash:
        return (
            f"the chain's first run (position {first_position}) does not link to the hash pruning record "
            f"{previous.pk} kept for position {pruned_through}"
        )
    return ""


def _check_pruning(using: str, result: Verification, first_prev_hash: str) -> None:
    records = prune_records(using)
    result.pruned = records[-1] if records else None
    problem = _pruning_problem(records, result.first_position, first_prev_hash)
    if problem:
        result.problem = problem


def _check_heads(using: str, result: Verification, heads: Iterable[tuple[int, str]]) -> None:
    sealed = dict(
        RetentionRun.objects.using(using).filter(chain_position__isnull=False).values_list("chain_position", "hash")
    )
    for position, expected in sorted(heads):
        if result.first_position is not None and position < result.first_position:
            pruned = {p.through_position: p.through_hash for p in prune_records(using)}
            if position in pruned and pruned[position] != expected:
                result.problem = (
                    f"chain position {position} was pruned with hash {pruned[position]}, not the recorded {expected}: "
                    "the history was rewritten before it was pruned"
                )
                return
            result.heads_before_start.append(position)  # pruned by housekeeping: nothing more to compare
            continue
        found = sealed.get(position)
        if found is None:
            end = result.last_position or 0
            result.problem = (
                f"the chain no longer contains position {position} (it ends at {end}): its tail was removed"
            )
            return
        if found != expected:
            result.problem = (
                f"chain position {position} has hash {found}, not the recorded {expected}: the history was rewritten"
            )
            return


# --- holds and policy history: sealed by the database, each row against its latest seal ---------

HOLD_FIELDS = (
    *("id", "model_path", "object_pk", "reason", "created_by", "created_at", "until", "released_at", "released_by"),
)
HISTORY_FIELDS = (
    *("id", "model_path", "change", "old_days", "new_days", "old_source", "new_source", "changed_at"),
    *("changed_by", "detail", "actor"),
)
SEALED: dict[str, tuple[type[models.Model], tuple[str, ...], str]] = {
    # kind: (model, fields in the order retention.sealed_record writes them, how verify names a row)
    "hold": (RetentionHold, HOLD_FIELDS, "hold"),
    "policy_history": (RetentionPolicyHistory, HISTORY_FIELDS, "policy history row"),
}


def sealed_record(kind: str, row: models.Model) -> str:
    """The canonical text of a hold or policy history row, as retention.sealed_record writes it."""
    _, names, _ = SEALED[kind]
    text = _netstring(kind)
    for name in names:
        value = getattr(row, "pk" if name == "id" else name, "")
        text += _netstring(_us(value) if isinstance(value, datetime) else "" if value is None else str(value))
    return text


def seal_hash(prev_hash: str, position: int, kind: str, row_id: int, sealed_at: datetime, digest: str, upgrade: bool):
    fields = ["seal", str(position), kind, str(row_id), _us(sealed_at), digest, "true" if upgrade else "false"]
    return hashlib.sha256((prev_hash + "".join(_netstring(f) for f in fields)).encode()).hexdigest()


def check_seals(using: str, result: Verification) -> None:
    """The chain of retention.record_seal, and every hold and history row against its latest seal:
    a row deleted, changed (a backdated release) or written with the triggers off is named."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT to_regclass('retention.record_seal') IS NOT NULL")
        if not cursor.fetchone()[0]:  # type: ignore[index]  # migrated back to 0.1's SQL
            return
        cursor.execute(
            "SELECT position, kind, row_id, sealed_at, row_digest, at_upgrade, prev_hash, hash"
            " FROM retention.record_seal ORDER BY position"
        )
        latest: dict[tuple[str, int], tuple[int, str]] = {}
        previous_hash = ""
        for position, kind, row_id, sealed_at, digest, upgrade, prev_hash, digest_hash in cursor:
            if position != result.seals_checked + 1 or prev_hash != previous_hash:
                result.problem = f"seal {position} does not follow seal {result.seals_checked}: seals were removed"
                return
            if seal_hash(prev_hash, position, kind, row_id, sealed_at, digest, upgrade) != digest_hash:
                result.problem = f"seal {position} ({kind} {row_id}) no longer matches its hash: it was changed"
                return
            latest[(kind, row_id)] = (position, digest)
            result.seals_checked += 1
            result.seals_at_upgrade += int(upgrade)
            result.seal_head = (position, digest_hash)
            previous_hash = digest_hash
    for kind, (model, _, noun) in SEALED.items():
        for row in model._default_manager.using(using).order_by("pk").iterator(chunk_size=500):
            seal = latest.pop((kind, row.pk), None)
            if seal is None:
                result.problem = f"{noun} {row.pk} has no seal: it was written with the triggers off"
                return
            if hashlib.sha256(sealed_record(kind, row).encode()).hexdigest() != seal[1]:
                result.problem = (
                    f"{noun} {row.pk} no longer matches its latest seal (position {seal[0]}): it was changed "
                    "with the triggers off" + (" (its release, expiry, reason or key)" if kind == "hold" else "")
                )
                return
    if latest:
        (kind, row_id), (position, _) = min(latest.items(), key=lambda entry: entry[1][0])
        result.problem = f"{SEALED[kind][2]} {row_id} was deleted: seal {position} names it, the table no longer has it"
