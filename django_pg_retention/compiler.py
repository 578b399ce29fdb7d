"""Compile a model's deletion graph into two PL/pgSQL functions.

``retention.purge__<model>(roots text[], dry_run boolean) -> jsonb`` deletes the given rows and
everything Django's Collector would delete with them (recording the deleted keys under the run
item named by the setting ``retention.item_id``), applies SET_NULL/SET_DEFAULT/SET(constant), and
raises SQLSTATE ``RT001`` when PROTECT, RESTRICT or a legal hold forbids the delete (DO_NOTHING is
left to the foreign key, checked immediately by the caller). It returns ``{"deleted": {table: n},
"updated": {table.column: n}}``, and in a dry run also ``"keys": {table: [pk, ...]}``.

A dry run rolls every batch back, so it keeps a ledger of the rows it has counted as gone
(``retention.dry_gone``, the owner's table, keyed by the run that purge_batch names in the setting
``retention.run_id``, filled by run_cleanup from ``keys``; never a table a caller could create,
since these functions run with the owner's rights): in dry-run mode every
query of the cascade treats those rows as absent, and DO_NOTHING foreign keys are checked by the
function itself (the deferred constraints would see the ledger's rows). That makes a dry run
announce what the real run then does, batch for batch, without holding locks any longer.

``retention.select__<model>(cutoff, after_at, after_pk, lim, dry_run)`` locks the next batch of
eligible rows, ``FOR UPDATE SKIP LOCKED``, in keyset order ``(deleted_at, pk)``: the first batch
bounded by the cutoff alone, every later one by the row comparison ``(deleted_at, pk) > (after_at,
after_pk)`` as well, so that both bounds are index conditions on the ``(deleted_at, pk)`` index and
a batch costs the same at the end of a run as at its start. It names the rows that a direct
blocker or a legal hold keeps, so they are counted without being tried. For a timestamp policy
``deleted_at`` is the policy's field and there is no flag: the same functions, the same guarantees.

All identifiers and values go through ``psycopg.sql``; the text is hashed into the function's
comment so drift is detectable.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, LiteralString, cast

from django.db import models
from psycopg import sql

from django_pg_retention import config
from django_pg_retention.distribution import SINGLE_SERVER, Layout, refusals
from django_pg_retention.graph import DELETING, Edge, EdgeKind, Graph, Node, blocking_triggers, build
from django_pg_retention.policies import (
    PolicyKind,
    SoftDeleteColumns,
    model_path,
    policy_columns,
    policy_kind,
    policy_models,
)

SCHEMA = "retention"
ALL_FIELDS = "__all__"  # retention_snapshot_fields: keep every column of a purged row in the outbox
BLOCKED_SQLSTATE = "RT001"
MAX_IDENT = 63
SELECT_SIGNATURE: LiteralString = (
    "(\n  cutoff timestamptz, after_at timestamptz, after_pk text, lim integer, dry_run boolean,\n"
    "  by_pk boolean DEFAULT false)\nRETURNS TABLE(ids text[], blocked text[], last_at timestamptz, last_pk text)"
)


@dataclass(frozen=True)
class CompiledModel:
    model_path: str
    purge_function: str  # name inside the retention schema, unquoted
    select_function: str
    sql: str  # CREATE OR REPLACE of both functions
    sql_hash: str
    blocking_tables: tuple[str, ...]  # see blocking_tables()


def function_name(prefix: str, model: type[models.Model]) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", f"{prefix}__{model._meta.label_lower.replace('.', '__')}")
    if len(base) > MAX_IDENT:
        digest = hashlib.sha256(base.encode()).hexdigest()[:8]
        base = f"{base[: MAX_IDENT - 9]}_{digest}"
    return base


_TYPE = re.compile(r"^[a-z][a-z0-9_ ]*(\([0-9, ]+\))?$")


def _type(db_type: str) -> sql.SQL:
    """A column type from Django's db_type(), checked to be a plain type name before use in SQL."""
    if not _TYPE.match(db_type):
        raise ValueError(f"unexpected column type {db_type!r}")
    return sql.SQL(cast(LiteralString, db_type))


def outbox_spec(model: type[models.Model]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]] | None:
    """(file fields, snapshot fields) as (key, column) pairs, or None when a purge owes Python nothing.

    Snapshot: the model's ``retention_snapshot_fields`` (field names, or ``"__all__"`` for every
    column), else nothing: personal data of purged rows is kept only where a model asks for it (a
    hook without the list sees the primary key alone). Only columns of the model's own table count:
    a multi-table child inherits the attribute, but its parent's row has its own outbox row.
    """
    fields: list[Any] = list(model._meta.local_concrete_fields)
    files = [(f.name, f.column) for f in fields if isinstance(f, models.FileField)]
    hook = callable(getattr(model, "after_permanent_delete", None))
    names: list[str] | str | None = getattr(model, "retention_snapshot_fields", None)
    if names == ALL_FIELDS:
        snapshot = [(f.attname, f.column) for f in fields]
    elif names is not None:
        chosen: list[Any] = [model._meta.get_field(n) for n in names]  # FieldDoesNotExist names a typo
        snapshot = [(f.attname, f.column) for f in chosen if f in fields]
    else:
        snapshot = []
    if not files and not hook and not snapshot:
        return None
    return files, snapshot


def _json_object(pairs: list[tuple[str, str]]) -> sql.Composable:
    """jsonb of t's columns, in chunks (jsonb_build_object takes at most 100 arguments)."""
    if not pairs:
        return sql.SQL("'{}'::jsonb")
    chunks = [pairs[i : i + 40] for i in range(0, len(pairs), 40)]
    return sql.SQL(" || ").join(
        sql.SQL("jsonb_build_object({})").format(
            sql.SQL(", ").join(sql.SQL("{}, t.{}").format(sql.Literal(key), _ident(column)) for key, column in chunk)
        )
        for chunk in chunks
    )


def _path(node: Node) -> str:
    """'app_label.ModelName', as holds and policies name a model."""
    return model_path(node.model)


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _comment(name: str) -> sql.SQL:
    """A name in a "--" comment of the generated SQL (which ends at a line break)."""
    return sql.SQL(cast(LiteralString, " ".join(name.splitlines())))


def _text(composed: sql.Composable) -> str:
    return composed.as_string(None)


def _not_gone(alias: str, node: Node) -> sql.Composable:
    """Dry runs: the row is not in the ledger of rows this dry run already counted as deleted."""
    return sql.SQL(
        " AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g"
        " WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint"
        " AND g.db_table = {table} AND g.pk = {a}.{pk}::text)"
    ).format(table=sql.Literal(node.table), a=_ident(alias), pk=_ident(node.pk))


def _if_dry(dry: list[sql.Composable], real: list[sql.Composable]) -> list[sql.Composable]:
    if _text(sql.SQL("\n").join(dry)) == _text(sql.SQL("\n").join(real)):
        return real
    indent = sql.SQL("\n    ")
    return [
        sql.SQL("IF dry_run THEN\n    {}\n  ELSE\n    {}\n  END IF;").format(
            indent.join(dry) if dry else sql.SQL("NULL;"), indent.join(real) if real else sql.SQL("NULL;")
        )
    ]


def _holds_of(paths: list[str]) -> sql.Composable:
    return sql.SQL("retention.active_holds(ARRAY[{}]::text[])").format(
        sql.SQL(", ").join(sql.Literal(p) for p in paths)
    )


def _hold_check(node: Node, keys: sql.Identifier) -> sql.Composable:
    """Raise the first active hold on ``node``'s model that names one of ``keys`` (or all its rows)."""
    return sql.SQL(
        "SELECT h.reason INTO hold_reason FROM {holds} h\n"
        "     WHERE (h.object_pk = '' AND cardinality({arr}) > 0) OR h.object_pk = ANY({arr}::text[])\n"
        "     ORDER BY h.id LIMIT 1;\n"
        "    IF hold_reason IS NOT NULL THEN\n"
        "      RAISE EXCEPTION USING ERRCODE = {code}, MESSAGE = hold_reason;\n"
        "    END IF;"
    ).format(holds=_holds_of([_path(node)]), arr=keys, code=sql.Literal(BLOCKED_SQLSTATE))


def _retained_models() -> set[type[models.Model]]:
    """Models whose rows a cascade must not take while their own policy keeps them: every model
    with a policy (a timestamp policy's too), unless on_retained_cascade is "delete" (Django's
    plain cascade)."""
    if config.cleanup_config().on_retained_cascade != "block":
        return set()
    return set(policy_models())


class _Retention:
    """SQL for 'a row of this node is kept by its own policy', and the reason it is kept.

    The root's own table uses the run's days (``retention.days``, set per batch: a ``days``
    override applies to the rows the root's cascade reaches in its own table too)."""

    def __init__(self, node: Node, root: Node) -> None:
        self.node = node
        self.path = _path(node)
        columns = policy_columns(node.model)
        self.timestamp = policy_kind(node.model) is PolicyKind.TIMESTAMP
        self.column = columns.deleted_at_column
        self.deleted_at = _ident(columns.deleted_at_column)
        self.flag = _ident(columns.flag_column) if columns.flag_column else None
        policy_days = sql.SQL(
            "(SELECT p.retention_days FROM retention_policy p WHERE p.model_path = {} AND p.is_active)"
        ).format(sql.Literal(self.path))
        self.days: sql.Composable = policy_days
        if node == root:
            self.days = sql.SQL("coalesce(nullif(current_setting('retention.days', true), '')::integer, {})").format(
                policy_days
            )

    def live(self, alias: str) -> sql.Composable:
        a = _ident(alias)
        if self.flag is None:
            return sql.SQL("{}.{} IS NULL").format(a, self.deleted_at)
        return sql.SQL("({a}.{d} IS NULL OR NOT coalesce({a}.{f}, false))").format(a=a, d=self.deleted_at, f=self.flag)

    def kept(self, alias: str, days: sql.Composable) -> sql.Composable:
        """True for a row that is not eligible (live, or younger than its policy)."""
        return sql.SQL(
            "NOT coalesce({live} IS FALSE AND {a}.{d} < now() - make_interval(days => {days}), false)"
        ).format(live=self.live(alias), a=_ident(alias), d=self.deleted_at, days=days)

    def reason(self, alias: str, days: sql.Composable) -> sql.Composable:
        return sql.SQL("CASE WHEN {live} THEN {live_reason} ELSE {young} END").format(
            live=self.live(alias), live_reason=self.live_reason(), young=self.young_reason(days)
        )

    def live_reason(self) -> sql.Composable:
        """A row never eligible: live, or for a timestamp policy a row without its timestamp."""
        if self.timestamp:
            return sql.Literal(f"RETAINED {self.path} ({self.column} is NULL)")
        return sql.Literal(f"RETAINED {self.path} (live)")

    def young_reason(self, days: sql.Composable) -> sql.Composable:
        return sql.SQL("coalesce({prefix} || {days} || ' days)', {no_policy})").format(
            prefix=sql.Literal(f"RETAINED {self.path} ("),
            days=days,
            no_policy=sql.Literal(f"RETAINED {self.path} (no active policy)"),
        )


# A retention check's verdict: RT001 with the reason it found (the batch is then bisected).
_RAISE_RETAINED = sql.SQL(
    "IF retained_reason IS NOT NULL THEN\n    RAISE EXCEPTION USING ERRCODE = {}, MESSAGE = retained_reason;\n  END IF;"
).format(sql.Literal(BLOCKED_SQLSTATE))


def _foreign_key_error(edge: Edge) -> sql.Composable:
    """RAISE arguments of the error PostgreSQL gives when a DO_NOTHING foreign key refuses a delete,
    the constraint named from the catalog (the dry runs, and the distributed purge, raise it)."""
    constraint = sql.SQL(
        "(SELECT c.conname FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_attribute a"
        " ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
        " WHERE c.contype = 'f' AND c.conrelid = {target}::regclass AND c.confrelid = {source}::regclass"
        " AND a.attname = {column} LIMIT 1)"
    ).format(
        target=sql.Literal(_text(_ident(edge.target.table))),
        source=sql.Literal(_text(_ident(edge.source.table))),
        column=sql.Literal(edge.column),
    )
    error = sql.SQL(
        "ERRCODE = 'foreign_key_violation', MESSAGE = format(\n"
        '      \'update or delete on table "%s" violates foreign key constraint "%s" on table "%s"\',\n'
        "      {source}, {constraint}, {target})"
    ).format(source=sql.Literal(edge.source.table), target=sql.Literal(edge.target.table), constraint=constraint)
    return error


class _Purge:
    """One purge function in the making: its graph, a real or a dry run (``dry`` renders a dry
    run's statements, which skip the rows the dry run already counted as deleted), and the keys
    array of each table (d0 for the root, d1, ...) that the statements below fill and read."""

    def __init__(self, graph: Graph, dry: bool = False, retained: set[type[models.Model]] | None = None) -> None:
        self.graph = graph
        self.dry = dry
        self.var = {node: f"d{i}" for i, node in enumerate(graph.nodes)}
        self.retained_models = _retained_models() if retained is None else retained

    def arr(self, node: Node) -> sql.Identifier:
        return _ident(self.var[node])

    def returned(self, node: Node) -> sql.Identifier:
        """The text keys a real run's DELETE returned for a leaf it collects for holds only (r1, ...)."""
        return _ident("r" + self.var[node][1:])

    def gone(self, alias: str, node: Node) -> sql.Composable:
        return _not_gone(alias, node) if self.dry else sql.SQL("")

    def in_closure(self, node: Node) -> bool:
        return node in self.var

    def not_deleted(self, alias: str, node: Node) -> sql.Composable:
        if not self.in_closure(node):
            return sql.SQL("")
        return sql.SQL(" AND NOT ({}.{} = ANY({}))").format(_ident(alias), _ident(node.pk), self.arr(node))

    def by_match(self, node: Node) -> Edge | None:
        """The edge a real run deletes ``node``'s rows by: its one deleting edge when it is a leaf
        of an acyclic graph. The DELETE then repeats the parent match, which PostgreSQL re-checks
        on a row changed while the batch waited for it, so a row moved to a live parent stays."""
        if self.dry or node == self.graph.root or self.graph.has_cycle():
            return None
        if any(e.source == node for e in self.graph.edges):
            return None
        incoming = [e for e in self.graph.deleting() if e.target == node]
        return incoming[0] if len(incoming) == 1 else None

    def kept_children_probed(self) -> list[Edge]:
        """The root's CASCADE edges to children with a policy of their own: the batch selection
        looks up the locked candidate roots for such a child its policy keeps (_blocker_ctes)."""
        root = self.graph.root
        return [
            e
            for e in self.graph.edges
            if e.kind is EdgeKind.CASCADE
            and e.source == root
            and e.by_pk
            and e.target != root
            and e.target.model in self.retained_models
        ]

    def collected_for_holds_only(self, node: Node) -> Edge | None:
        """by_match's edge for a leaf whose keys only the hold checks read (no other relation
        targets it; if its model has a policy, the selection probed the root for its kept rows and
        its DELETE checks each row it takes, _kept_on_delete): a real run collects those keys only
        when a model of the graph has an active hold, and the check after the DELETE reads the
        keys the DELETE returned. Collecting every batch's leaves cost about 7% of a purge (issue
        25's breakdown)."""
        edge = self.by_match(node)
        if edge is None or (node.model in self.retained_models and edge not in self.kept_children_probed()):
            return None
        return edge if all(e is edge or e.target != node for e in self.graph.edges) else None


# --- The closure: the rows a batch's cascade reaches ---------------------------------------------


def _match(p: _Purge, alias: str, edge: Edge) -> sql.Composable:
    """SQL true for ``alias`` rows of edge.target that the deleted edge.source rows reach."""
    a = _ident(alias)
    src = p.arr(edge.source)
    if edge.kind is EdgeKind.GENERIC:
        assert edge.content_type is not None
        app_label, model_name = edge.content_type
        ids: sql.Composable = src
        if edge.object_id_type != edge.source.pk_type:
            ids = sql.SQL("({}::text[])::{}[]").format(src, _type(edge.object_id_type))
        return sql.SQL(
            "{a}.{ct} = (SELECT id FROM django_content_type WHERE app_label = {app} AND model = {model})"
            " AND {a}.{oid} = ANY({ids})"
        ).format(
            a=a,
            ct=_ident(edge.to_column),
            app=sql.Literal(app_label),
            model=sql.Literal(model_name),
            oid=_ident(edge.column),
            ids=ids,
        )
    if edge.by_pk:
        return sql.SQL("{}.{} = ANY({})").format(a, _ident(edge.column), src)
    return sql.SQL("{a}.{col} IN (SELECT s.{to} FROM {table} s WHERE s.{pk} = ANY({src}))").format(
        a=a,
        col=_ident(edge.column),
        to=_ident(edge.to_column),
        table=_ident(edge.source.table),
        pk=_ident(edge.source.pk),
        src=src,
    )


def _reached(p: _Purge, edge: Edge) -> sql.Composable:
    """ARRAY of target primary keys that a deleting edge reaches.

    A real run locks the rows it will delete by key (FOR UPDATE: a concurrent UPDATE that moves
    one to a live parent is waited for and re-checked, and no new row can reference it until
    the batch commits); leaves deleted by their match need no lock."""
    lock = sql.SQL("") if p.dry or p.by_match(edge.target) else sql.SQL(" FOR UPDATE OF t")
    return sql.SQL("ARRAY(SELECT t.{pk} FROM {table} t WHERE {match}{gone}{lock})").format(
        pk=_ident(edge.target.pk),
        table=_ident(edge.target.table),
        match=_match(p, "t", edge),
        gone=p.gone("t", edge.target),
        lock=lock,
    )


def _closure(p: _Purge) -> list[sql.Composable]:
    """Fill every table's keys array top-down; a cyclic graph repeats the steps until no array grows."""
    incoming: dict[Node, list[Edge]] = {n: [] for n in p.graph.nodes}
    for e in p.graph.deleting():
        incoming[e.target].append(e)
    steps: list[sql.Composable] = []
    cyclic = p.graph.has_cycle()
    for node in p.graph.order():
        if (node == p.graph.root and not cyclic) or p.collected_for_holds_only(node):
            continue
        for e in incoming[node]:
            var = p.arr(node)
            if len(incoming[node]) == 1 and not cyclic:
                steps.append(sql.SQL("{} := {};").format(var, _reached(p, e)))
            else:
                steps.append(
                    sql.SQL("{v} := ARRAY(SELECT DISTINCT x FROM unnest({v} || {r}) x);").format(
                        v=var, r=_reached(p, e)
                    )
                )
    if not cyclic:
        return steps
    sizes = sql.SQL(" + ").join(sql.SQL("coalesce(cardinality({}), 0)").format(p.arr(n)) for n in p.graph.nodes)
    return [
        sql.SQL("LOOP"),
        sql.SQL("  size_before := {};").format(sizes),
        *[sql.SQL("  ") + s for s in steps],
        sql.SQL("  EXIT WHEN {} = size_before;").format(sizes),
        sql.SQL("END LOOP;"),
    ]


# --- Blockers: PROTECT, RESTRICT, DO_NOTHING foreign keys, legal holds, retention -----------------


def _raise_if_referenced(p: _Purge, edge: Edge, where_extra: sql.Composable, error: sql.Composable) -> sql.Composable:
    """Raise when a row of the edge's target still references the rows this batch deletes."""
    return sql.SQL(
        "IF EXISTS (SELECT 1 FROM {table} r WHERE {match}{extra}{gone}) THEN\n"
        "    RAISE EXCEPTION USING {error};\n"
        "  END IF;"
    ).format(
        table=_ident(edge.target.table),
        match=_match(p, "r", edge),
        extra=where_extra,
        gone=p.gone("r", edge.target),
        error=error,
    )


def _blocker(p: _Purge, edge: Edge, reason: str, where_extra: sql.Composable) -> sql.Composable:
    error = sql.SQL("ERRCODE = {}, MESSAGE = {}").format(sql.Literal(BLOCKED_SQLSTATE), sql.Literal(reason))
    return _raise_if_referenced(p, edge, where_extra, error)


def _protect_and_restrict(p: _Purge) -> list[sql.Composable]:
    out: list[sql.Composable] = []
    for e in p.graph.edges:
        if e.kind is EdgeKind.PROTECT:
            out.append(_blocker(p, e, e.blocked_reason, sql.SQL("")))
        elif e.kind is EdgeKind.RESTRICT:
            # Allowed only when the restricting row goes too, by a cascade from this batch.
            out.append(_blocker(p, e, e.blocked_reason, p.not_deleted("r", e.target)))
    return out


def _dry_foreign_keys(p: _Purge) -> list[sql.Composable]:
    """Dry runs: what the (deferred) foreign key of each DO_NOTHING relation would refuse, with
    PostgreSQL's own message, ignoring rows the dry run already counted as deleted; checked where a
    real run's constraint fires (after every other check and update, at the end of the deleting
    statement)."""
    return [
        _raise_if_referenced(p, e, p.not_deleted("r", e.target), _foreign_key_error(e))
        for e in p.graph.edges
        if e.kind is EdgeKind.DO_NOTHING and e.db_constraint and p.dry
    ]


def _hold_checks(p: _Purge) -> list[sql.Composable]:
    """Legal holds: no row of any table this batch deletes may be held (or its whole model).

    One probe of the (small) hold table per batch; the per-table checks run only when a model
    of this graph has an active hold."""
    paths = sorted({_path(n) for n in p.graph.nodes})
    checks = [_hold_check(node, p.arr(node)) for node in p.graph.nodes]
    leaves = [(n, e) for n in p.graph.nodes if (e := p.collected_for_holds_only(n))]
    if leaves:
        steps = sql.SQL("\n      ").join(sql.SQL("{} := {};").format(p.arr(n), _reached(p, e)) for n, e in leaves)
        checks.insert(
            0, sql.SQL("IF NOT dry_run THEN  -- leaves the closure left out\n      {}\n    END IF;").format(steps)
        )
    return [
        sql.SQL("IF EXISTS (SELECT 1 FROM {}) THEN\n    {}\n  END IF;").format(
            _holds_of(paths), sql.SQL("\n    ").join(checks)
        )
    ]


def _late_hold_checks(p: _Purge) -> list[sql.Composable]:
    """Legal holds again, after the deletes, on the leaves deleted by their parent match: the
    DELETE waits for such a row's lock (a hold being placed holds it) without the closure
    having locked it, so a hold that committed meanwhile is seen here (the batch then fails
    with RT001 and is bisected, as for any hold). Real runs only; nothing without leaves."""
    leaves = [n for n in p.graph.nodes if p.by_match(n)]
    if not leaves:
        return []
    checks = [
        _hold_check(node, p.returned(node) if p.collected_for_holds_only(node) else p.arr(node)) for node in leaves
    ]
    paths = sorted({_path(n) for n in leaves})
    return [
        sql.SQL(
            "-- Holds committed while a DELETE waited for a leaf's lock.\n"
            "  IF EXISTS (SELECT 1 FROM {}) THEN\n    {}\n  END IF;"
        ).format(_holds_of(paths), sql.SQL("\n    ").join(checks))
    ]


def _kept_on_delete(p: _Purge, node: Node) -> bool:
    """Rows of a model with a policy, deleted by their parent match (no keys read nor locked
    before): the DELETE itself returns whether each row it took, as re-read after any wait, is one
    its policy keeps (live, young, or restored meanwhile), and such a row rolls the batch back."""
    return p.by_match(node) is not None and node.model in p.retained_models


def _late_retention_check(p: _Purge) -> list[sql.Composable]:
    """The retention check of the rows deleted by their match (_kept_on_delete), after the DELETE."""
    if not any(_kept_on_delete(p, n) for n in p.graph.nodes):
        return []
    return [_RAISE_RETAINED]


def _retention_checks(p: _Purge) -> list[sql.Composable]:
    """Retention-aware cascades: no row the cascade reaches may be one its own policy still
    keeps (live, or younger than that policy). Live rows are reported first. The root's table
    is checked only where the root's cascade can reach it again (its roots are eligible). Rows
    deleted by their match are checked by their DELETE too (_kept_on_delete)."""
    root = p.graph.root
    reaches_root = any(e.target == root for e in p.graph.deleting())
    out: list[sql.Composable] = []
    for node in p.graph.nodes:
        if node.model not in p.retained_models or (node == root and not reaches_root):
            continue
        if p.collected_for_holds_only(node):  # not collected: its DELETE checks it
            continue
        rule = _Retention(node, root)
        days = sql.SQL("p.days")
        out.append(
            sql.SQL(
                "SELECT {reason} INTO retained_reason FROM {table} t, (SELECT {days} AS days) p\n"
                "   WHERE t.{pk} = ANY({arr}) AND {kept}\n"
                "   ORDER BY {live} DESC LIMIT 1;\n  {raise_retained}"
            ).format(
                reason=rule.reason("t", days),
                table=_ident(node.table),
                days=rule.days,
                pk=_ident(node.pk),
                arr=p.arr(node),
                kept=rule.kept("t", days),
                live=rule.live("t"),
                raise_retained=_RAISE_RETAINED,
            )
        )
    return out


# --- The writes: SET updates, the deletes with their outbox rows, the proof keys ------------------


def _set_value(edge: Edge) -> sql.Composable:
    """What SET_NULL, SET_DEFAULT (db_default) or SET(constant) writes into the referencing column."""
    if edge.set_db_default:
        return sql.SQL("DEFAULT")
    if edge.set_value is None:
        return sql.SQL("NULL")
    return sql.SQL("{}::{}").format(sql.Literal(edge.set_value), _type(edge.set_type))


def _updates(p: _Purge) -> list[sql.Composable]:
    return [
        sql.SQL(
            "UPDATE {table} r SET {col} = {value} WHERE {match}{extra}{gone};\n"
            "  GET DIAGNOSTICS n = ROW_COUNT;\n"
            "  IF n > 0 THEN updated := updated || jsonb_build_object({key}, n); END IF;"
        ).format(
            table=_ident(e.target.table),
            col=_ident(e.column),
            value=_set_value(e),
            match=_match(p, "r", e),
            extra=p.not_deleted("r", e.target),
            gone=p.gone("r", e.target),
            key=sql.Literal(f"{e.target.table}.{e.column}"),
        )
        for e in p.graph.edges
        if e.kind is EdgeKind.SET
    ]


def _ignore_triggers(graph: Graph) -> list[sql.Composable]:
    """pgtrigger.ignore for this transaction, as ``with pgtrigger.ignore(...)`` would set it."""
    pgids = graph.triggers_to_ignore()
    if not pgids:
        return []
    value = "{" + ",".join(pgids) + "}"
    return [sql.SQL("PERFORM set_config('pgtrigger.ignore', {}, true);").format(sql.Literal(value))]


def _delete_ctes(p: _Purge, i: int, node: Node) -> list[sql.Composable]:
    """x<i>: the DELETE of one table's rows returning their keys, and o<i>: the outbox rows of a
    real run for a model with files, a hook or a snapshot (exactly the rows that went)."""
    edge = p.by_match(node)
    where = _match(p, "t", edge) if edge else sql.SQL("t.{} = ANY({})").format(_ident(node.pk), p.arr(node))
    spec = None if p.dry else outbox_spec(node.model)
    extra = (
        sql.SQL(", {} AS files, {} AS snapshot").format(_json_object(spec[0]), _json_object(spec[1]))
        if spec
        else sql.SQL("")
    )
    if _kept_on_delete(p, node):
        rule = _Retention(node, p.graph.root)
        extra += sql.SQL(", CASE WHEN {kept} THEN {reason} END AS retained, {live} AS live").format(
            kept=rule.kept("t", rule.days), reason=rule.reason("t", rule.days), live=rule.live("t")
        )
    out: list[sql.Composable] = [
        sql.SQL("-- {x}: the deleted rows of {name}\n  ").format(x=_comment(f"x{i}"), name=_comment(node.table))
        + sql.SQL("{x} AS (DELETE FROM {table} t WHERE {where} RETURNING t.{pk}{cast} AS k{extra})").format(
            x=_ident(f"x{i}"),
            table=_ident(node.table),
            where=where,
            pk=_ident(node.pk),
            cast=sql.SQL("" if node.key_order == "numeric" else "::text"),
            extra=extra,
        )
    ]
    if spec:
        out.append(
            sql.SQL(
                "{o} AS (INSERT INTO retention_outbox (model_path, object_pk, files, snapshot, created_at)\n"
                "    SELECT {path}, x.k::text, x.files, x.snapshot, clock_timestamp() FROM {x} x)"
            ).format(o=_ident(f"o{i}"), path=sql.Literal(_path(node)), x=_ident(f"x{i}"))
        )
    return out


def _proof_keys(node: Node, i: int) -> sql.Composable:
    """The keys a batch deleted from one table; integer keys sorted (a datum sort of a few
    thousand keys), so that item_digests joins the batches without sorting them again. The
    DELETE returns integer keys in their own type, made text once after the sort: returned as
    text and cast back for the sort, they cost a fifth more per deleted child (docs/benchmarks.md,
    session 18)."""
    if node.key_order != "numeric":
        return sql.SQL("ARRAY(SELECT k FROM {})").format(_ident(f"x{i}"))
    return sql.SQL("coalesce((SELECT array_agg(k ORDER BY k) FROM {})::text[], '{{}}')").format(_ident(f"x{i}"))


def _proof_ctes(graph: Graph) -> list[sql.Composable]:
    """keys: each table's deleted keys; proof: a real run's retention_deleted_keys rows for its item."""
    keys = sql.SQL(", ").join(
        sql.SQL("({}, {}, {}, {})").format(
            sql.Literal(i), sql.Literal(n.table), sql.Literal(n.key_order), _proof_keys(n, i)
        )
        for i, n in enumerate(graph.nodes)
    )
    return [
        sql.SQL("keys(node, db_table, key_order, keys) AS (VALUES {})").format(keys),
        sql.SQL(
            "proof AS (INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)\n"
            "    SELECT item, v.db_table, v.key_order, v.key_order = 'numeric', v.keys FROM keys v\n"
            "     WHERE item IS NOT NULL AND NOT dry_run AND cardinality(v.keys) > 0)"
        ),
    ]


def _deletes(p: _Purge) -> sql.Composable:
    """Delete every table's rows in one statement, so that foreign keys (checked immediately by
    the caller) see the final state. A real run records the deleted keys for the run item's
    digest and writes one retention_outbox row per deleted row whose model has files, a hook
    or a snapshot (from the DELETE itself: exactly the rows that went); a dry run returns the
    keys for its ledger."""
    ctes = [cte for i, n in enumerate(p.graph.nodes) for cte in _delete_ctes(p, i, n)]
    ctes.extend(_proof_ctes(p.graph))
    # The leaves the closure left out get the keys the DELETE returned, for the late hold check: the
    # proof's text keys as they are, not another pass over the DELETE's rows.
    leaves = [(i, n) for i, n in enumerate(p.graph.nodes) if p.collected_for_holds_only(n)]
    returned = sql.SQL("").join(
        sql.SQL(",\n         (SELECT w.keys FROM keys w WHERE w.node = {})").format(sql.Literal(i)) for i, _ in leaves
    )
    into = sql.SQL("").join(sql.SQL(", {}").format(p.returned(n)) for _, n in leaves)
    kept = [
        sql.SQL("(SELECT x.retained FROM {} x WHERE x.retained IS NOT NULL ORDER BY x.live DESC LIMIT 1)").format(
            _ident(f"x{i}")
        )
        for i, n in enumerate(p.graph.nodes)
        if _kept_on_delete(p, n)
    ]
    if kept:
        returned += sql.SQL(",\n         coalesce({})").format(sql.SQL(", ").join(kept))
        into += sql.SQL(", retained_reason")
    if p.dry:  # the keys for the ledger; a real run's form never builds them (an aggregate under
        # CASE WHEN dry_run is computed all the same, every key of the batch turned into JSON)
        returned = (
            sql.SQL(",\n         jsonb_object_agg(v.db_table, to_jsonb(v.keys)) FILTER (WHERE cardinality(v.keys) > 0)")
            + returned
        )
        into = sql.SQL(", deleted_keys") + into
    return sql.SQL(
        "WITH\n  {}\n"
        "  SELECT jsonb_object_agg(v.db_table, cardinality(v.keys)) FILTER (WHERE cardinality(v.keys) > 0){}\n"
        "    INTO deleted{} FROM keys v;"
    ).format(sql.SQL(",\n  ").join(ctes), returned, into)


# --- The purge function: the parts in the order a batch runs them ---------------------------------


def _purge_body(real: _Purge, dry: _Purge) -> list[sql.Composable]:
    """Closure, holds, retention, PROTECT/RESTRICT, updates, deletes, late holds; a dry run's form
    of a part where it differs from the real run's."""
    return [
        *_ignore_triggers(real.graph),
        *_if_dry(_closure(dry), _closure(real)),
        *_hold_checks(real),
        *_if_dry(_retention_checks(dry), _retention_checks(real)),
        *_if_dry(_protect_and_restrict(dry), _protect_and_restrict(real)),
        *_if_dry([*_updates(dry), *_dry_foreign_keys(dry)], _updates(real)),
        *_if_dry([_deletes(dry)], [_deletes(real), *_late_retention_check(real)]),
        *_late_hold_checks(real),
    ]


def _render_purge(graph: Graph, name: str, path: sql.Composable) -> sql.Composable:
    real = _Purge(graph)
    dry = _Purge(graph, dry=True, retained=real.retained_models)
    declare = [
        sql.SQL("{} {}[] := {};  -- keys of {}").format(
            real.arr(n),
            _type(n.pk_type),
            sql.SQL("roots::{}[]").format(_type(n.pk_type)) if n == graph.root else sql.SQL("'{}'"),
            _comment(n.table),
        )
        for n in graph.nodes
    ]
    declare.extend(
        sql.SQL("{} text[];  -- keys of {} its DELETE returned").format(real.returned(n), _comment(n.table))
        for n in graph.nodes
        if real.collected_for_holds_only(n)
    )
    code = sql.SQL(
        "DECLARE\n  {declare}\n  n bigint;\n  size_before bigint;\n  hold_reason text;\n"
        "  retained_reason text;\n"
        "  item bigint := nullif(current_setting('retention.item_id', true), '')::bigint;\n"
        "  deleted jsonb;\n  deleted_keys jsonb;\n  updated jsonb := '{{}}';\n"
        "BEGIN\n  {body}\n"
        "  RETURN jsonb_strip_nulls(jsonb_build_object('deleted', coalesce(deleted, '{{}}'), 'updated', updated,"
        " 'keys', deleted_keys));\n"
        "END"
    ).format(declare=sql.SQL("\n  ").join(declare), body=sql.SQL("\n  ").join(_purge_body(real, dry)))
    return _plpgsql_function(name, "(roots text[], dry_run boolean) RETURNS jsonb", path, "purge", code)


# --- The select function: the next batch of eligible roots ---------------------------------------


def _direct_blockers(p: _Purge) -> list[tuple[Edge, str]]:
    """Blockers the batch selection can test per root without computing the cascade.

    PROTECT on the root table always blocks; RESTRICT and DO_NOTHING (with a foreign key) block
    too when the referencing table cannot be reached by this purge's cascades.
    """
    out: list[tuple[Edge, str]] = []
    for e in p.graph.edges:
        if e.source != p.graph.root or not e.by_pk or e.kind is EdgeKind.GENERIC:
            continue
        if e.kind is EdgeKind.PROTECT:
            out.append((e, e.blocked_reason))
        elif e.kind is EdgeKind.RESTRICT and not p.in_closure(e.target):
            out.append((e, e.blocked_reason))
        elif e.kind is EdgeKind.DO_NOTHING and e.db_constraint and not p.in_closure(e.target):
            out.append((e, f"DO_NOTHING {e.label}"))
    return out


def _checks(p: _Purge) -> list[tuple[Edge, sql.Composable, sql.Composable, sql.Composable]]:
    """What blocks a candidate root besides a legal hold, first match wins: (edge, the condition on
    a referencing row ``r``, its reason, the order that picks the reason among several rows)."""
    root = p.graph.root
    checks: list[tuple[Edge, sql.Composable, sql.Composable, sql.Composable]] = [
        (e, sql.SQL("true"), sql.Literal(reason), sql.SQL("")) for e, reason in _direct_blockers(p)
    ]
    # Children a CASCADE from the root reaches directly, kept by their own policy (deeper rows are
    # found by the purge function): counted without being tried, live first. One scan per child
    # table (kept rows, the live ones first), not one for live and one for young rows.
    for e in p.kept_children_probed():
        rule = _Retention(e.target, root)
        checks.append(
            (e, rule.kept("r", rule.days), rule.reason("r", rule.days), sql.SQL(", {} DESC").format(rule.live("r")))
        )
    return checks


def _blocker_ctes(p: _Purge) -> list[tuple[sql.Identifier, sql.Composable]]:
    """(name, CTE) per check, b<n>(pk, reason): the batch's locked roots that such a row references.

    Each reads the referencing table once per batch by ``= ANY`` of the batch's keys, one index
    descent per root, not a correlated subquery per root (that ran its subplan, a sort included,
    once per candidate: about twice the time, issue 25). The array is an uncorrelated ARRAY(), so the
    planner sees an index condition on the referencing column, never a join it could turn into a
    hash over the whole table."""
    ctes: list[tuple[sql.Identifier, sql.Composable]] = []
    for i, (e, condition, reason, order) in enumerate(_checks(p)):
        name = sql.Identifier(f"b{i}")
        cte = sql.SQL(
            "{name} AS (SELECT DISTINCT ON (r.{col}) r.{col} AS pk, {reason} AS reason FROM {table} r\n"
            "     WHERE r.{col} = ANY (ARRAY(SELECT c.pk FROM c)) AND {cond}{gone}\n"
            "     ORDER BY r.{col}{order})"
        ).format(
            name=name,
            col=_ident(e.column),
            reason=reason,
            table=_ident(e.target.table),
            cond=condition,
            gone=p.gone("r", e.target),
            order=order,
        )
        ctes.append((name, cte))
    return ctes


def _keyset(
    root: Node, at: sql.Identifier, first: bool, by_pk: bool
) -> tuple[sql.Composable, sql.Composable, sql.Composable]:
    """(the bound after the last batch, the batch order, the order that finds its last row) in
    keyset order (``at``, pk) or, ``by_pk``, in primary-key order."""
    pk = _ident(root.pk)
    if first:
        after: sql.Composable = sql.SQL("")
    elif by_pk:
        after = sql.SQL("\n      AND t.{pk} > after_pk::{pk_type}").format(pk=pk, pk_type=_type(root.pk_type))
    else:
        after = sql.SQL("\n      AND (t.{at}, t.{pk}) > (after_at, after_pk::{pk_type})").format(
            at=at, pk=pk, pk_type=_type(root.pk_type)
        )
    order = sql.SQL("t.{}").format(pk) if by_pk else sql.SQL("t.{}, t.{}").format(at, pk)
    last = sql.SQL("pk DESC") if by_pk else sql.SQL("deleted_at DESC, pk DESC")
    return after, order, last


def batch_query(p: _Purge, first: bool, by_pk: bool = False) -> sql.Composable:
    """The select function's query for a first or a later batch (parameters: the function's
    arguments and ``held``, the jsonb of this model's active holds), in keyset order or, for a
    backlog (``by_pk``), in primary-key order; ``p.dry`` gives the dry run's.

    The roots are locked first (c); what blocks a root besides a hold is looked up afterwards for
    the locked ones only (_blocker_ctes), and a blocked root goes to ``blocked`` with its reason."""
    root = p.graph.root
    columns = policy_columns(root.model)
    deleted_at = _ident(columns.deleted_at_column)
    after, order, last = _keyset(root, deleted_at, first, by_pk)
    blockers = _blocker_ctes(p)
    reasons = [sql.SQL("held->>(c.pk::text)"), sql.SQL("held->>''")]
    reasons += [sql.SQL("{}.reason").format(name) for name, _ in blockers]
    joins = [sql.SQL(" LEFT JOIN {b} ON {b}.pk = c.pk").format(b=name) for name, _ in blockers]
    # Without blockers the locked rows are aggregated as the CTE returns them, in the batch's order;
    # the joins above them keep no order, so then the aggregates sort.
    in_order = (
        sql.SQL("")
        if not blockers
        else sql.SQL(" ORDER BY {}").format(sql.SQL("j.pk") if by_pk else sql.SQL("j.deleted_at, j.pk"))
    )
    return sql.SQL(
        "WITH c AS (\n"
        "    SELECT t.{pk} AS pk, t.{deleted_at} AS deleted_at\n"
        "    FROM {table} t\n"
        "    WHERE {flag}t.{deleted_at} < cutoff{after}{gone}\n"
        "    ORDER BY {order}\n"
        "    LIMIT lim\n"
        "    FOR UPDATE OF t SKIP LOCKED\n"
        "  ), last AS (SELECT deleted_at, pk FROM c ORDER BY {last} LIMIT 1),\n"
        "  {blockers}"
        "j AS (SELECT c.pk, c.deleted_at, coalesce({reasons}) AS blocked_by FROM c{joins})\n"
        "  SELECT array_agg(j.pk::text{in_order}) FILTER (WHERE j.blocked_by IS NULL),\n"
        "         array_agg(j.blocked_by{in_order}) FILTER (WHERE j.blocked_by IS NOT NULL),\n"
        "         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)\n"
        "  FROM j"
    ).format(
        pk=_ident(root.pk),
        table=_ident(root.table),
        deleted_at=deleted_at,
        flag=sql.SQL("t.{} AND ").format(_ident(columns.flag_column)) if columns.flag_column else sql.SQL(""),
        after=after,
        gone=p.gone("t", root),
        order=order,
        last=last,
        blockers=sql.SQL("").join(sql.SQL("{},\n  ").format(cte) for _, cte in blockers),
        reasons=sql.SQL(", ").join(reasons),
        joins=sql.SQL("").join(joins),
        in_order=in_order,
    )


def _render_select(graph: Graph, name: str, path: sql.Composable) -> sql.Composable:
    real = _Purge(graph)
    dry = _Purge(graph, dry=True, retained=real.retained_models)

    def form(first: bool, by_pk: bool = False) -> sql.Composable:
        return sql.SQL("IF dry_run THEN\n      RETURN QUERY {};\n    ELSE\n      RETURN QUERY {};\n    END IF;").format(
            batch_query(dry, first, by_pk=by_pk), batch_query(real, first, by_pk=by_pk)
        )

    code = sql.SQL(
        "DECLARE\n"
        "  held jsonb;  -- {{pk or '': reason}} of this model's active legal holds, NULL without any\n"
        "BEGIN\n"
        "  SELECT jsonb_object_agg(h.object_pk, h.reason) INTO held\n"
        "    FROM (SELECT DISTINCT ON (object_pk) object_pk, reason FROM {holds} ORDER BY object_pk, id) h;\n"
        "  -- Two forms of each order, so that the planner gets the bound as an index condition, never as a\n"
        "  -- filter. Keyset order (deleted_at, pk) on the purge index; for a backlog (most of the table\n"
        "  -- eligible, see retention.batches_in_pk_order) primary-key order, so a batch's rows are neighbours.\n"
        "  IF by_pk AND after_pk IS NULL THEN\n    {first_pk}\n"
        "  ELSIF by_pk THEN\n    {next_pk}\n"
        "  ELSIF after_at IS NULL THEN\n    {first}\n  ELSE\n    {next}\n  END IF;\n"
        "END"
    ).format(
        holds=_holds_of([_path(graph.root)]),
        first=form(True),
        next=form(False),
        first_pk=form(True, by_pk=True),
        next_pk=form(False, by_pk=True),
    )
    return _plpgsql_function(name, SELECT_SIGNATURE, path, "select", code)


def _plpgsql_function(
    name: str, signature: LiteralString, path: sql.Composable, tag: LiteralString, code: sql.Composable
) -> sql.Composable:
    """CREATE OR REPLACE FUNCTION retention.<name><signature> with its search_path pinned; code is
    its DECLARE ... END, quoted as $tag$, or as $tag_<n>$ when the code holds $tag$ (a db_table or
    a column name in a comment or a literal could, and would end the body there)."""
    text = _text(code)
    quote = tag
    n = 0
    while f"${quote}$" in text:
        n += 1
        quote = cast(LiteralString, f"{tag}_{n}")
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION {schema}.{name}" + signature + "\n"
        "LANGUAGE plpgsql VOLATILE SET search_path = {path} AS $" + quote + "$\n{code}\n$" + quote + "$;"
    ).format(schema=_ident(SCHEMA), name=_ident(name), path=path, code=code)


def search_path(schemas: list[str]) -> sql.Composable:
    """pg_catalog first and pg_temp last, so that nothing on a caller's path is resolved instead."""
    names = [s for s in schemas if s not in ("pg_catalog", "pg_temp")]
    return sql.SQL(", ").join([sql.Identifier("pg_catalog"), *map(sql.Identifier, names), sql.Identifier("pg_temp")])


# ---------------------------------------------------------------------------------------------
# The distributed part (Citus). Citus refuses SELECT ... FOR UPDATE across shards, which the
# single-server functions lock their batch and cascade with. Here nothing is locked before it is
# deleted: the select function picks candidates without a lock, and each DELETE locks its rows
# and re-checks, on every shard, the condition that made them part of the batch (the root: still
# eligible; a cascaded row: still referencing a row deleted just before), returning the keys it
# deleted. The cascade is followed top-down from those keys, blockers are the referencing rows
# left afterwards, holds are checked on the keys deleted, and the proof covers exactly them.
# Foreign keys on the workers stay deferred to the commit, so every check here runs before it.
# Each statement takes its keys from a MATERIALIZED CTE over the key array (_keys): Citus runs it
# first and sends its rows once to each worker as an intermediate result, which every shard's task
# reads; an array in the statement itself would be written into the query text of each of the 32
# shard tasks (measured: 200 ms for 10,000 keys on empty shards, 27 ms this way).
# distribution.refusals names the graphs this cannot purge exactly.
# ---------------------------------------------------------------------------------------------


def has_outbox(graph: Graph) -> bool:
    """Whether a purge of the graph owes Python outbox rows (files, a hook, a snapshot)."""
    return any(outbox_spec(n.model) for n in graph.nodes)


def _minus_gone(var: sql.Composable, node: Node) -> sql.Composable:
    """Dry runs: ``var`` (text[]) without the keys this dry run already counted as deleted."""
    return sql.SQL(
        "IF dry_run THEN\n    {v} := ARRAY(SELECT k FROM unnest({v}) k"
        " WHERE NOT EXISTS (SELECT 1 FROM retention.dry_gone g"
        " WHERE g.run_id = run AND g.db_table = {table} AND g.pk = k));\n  END IF;"
    ).format(v=var, table=sql.Literal(node.table))


def _keys(array: sql.Composable) -> sql.Composable:
    """The CTE ``retention_keys`` of a distributed statement: the keys of ``array``, one row each, shipped to
    the workers once (see the section comment); the statement filters with ``_IN_KEYS``."""
    return sql.SQL("retention_keys AS MATERIALIZED (SELECT unnest({}) AS id)").format(array)


_IN_KEYS = sql.SQL("IN (SELECT rk.id FROM retention_keys rk)")


class _DistributedPurge:
    """The purge function of a graph with Citus tables (see the section comment above): its graph
    in cascade order, each table's keys array (d0, d1, ...) and, for the root and every model
    with a policy of its own, that policy's days and cutoff (days<i>, cut<i>)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.order = graph.order()
        self.index = {node: i for i, node in enumerate(self.order)}
        self.retained_models = _retained_models()

    def arr(self, node: Node) -> sql.Identifier:
        return _ident(f"d{self.index[node]}")

    def cut(self, node: Node) -> sql.Identifier:
        return _ident(f"cut{self.index[node]}")

    def days(self, node: Node) -> sql.Identifier:
        return _ident(f"days{self.index[node]}")

    def kept(self, node: Node, alias: str) -> sql.Composable:
        """Not eligible: live, or deleted after the cutoff (a plpgsql variable, computed once on
        the coordinator, so that every shard compares with the same instant)."""
        rule = _Retention(node, self.graph.root)
        return sql.SQL("NOT coalesce({live} IS FALSE AND {a}.{d} < {cut}, false)").format(
            live=rule.live(alias), a=_ident(alias), d=rule.deleted_at, cut=self.cut(node)
        )

    def declarations(self) -> list[sql.Composable]:
        out: list[sql.Composable] = []
        for node in self.order:
            out.append(
                sql.SQL("{} {}[] := '{{}}';  -- keys of {}").format(
                    self.arr(node), _type(node.pk_type), _comment(node.table)
                )
            )
            if node == self.graph.root or node.model in self.retained_models:
                days = _Retention(node, self.graph.root).days
                out.append(sql.SQL("{} integer := {};").format(self.days(node), days))
                out.append(
                    sql.SQL("{} timestamptz := now() - make_interval(days => {});").format(
                        self.cut(node), self.days(node)
                    )
                )
        return out


def _distributed_root_delete(d: _DistributedPurge) -> list[sql.Composable]:
    root = d.graph.root
    return [
        sql.SQL("hit := roots;"),
        _minus_gone(sql.SQL("hit"), root),
        sql.SQL(
            "-- The roots still eligible, re-checked under each shard's row lock.\n  "
            "WITH {keys},\n    x AS (DELETE FROM {table} t WHERE t.{pk} {in_keys} AND NOT ({kept})"
            " RETURNING t.{pk})\n  SELECT coalesce(array_agg(x.{pk}), '{{}}') INTO {arr} FROM x;"
        ).format(
            in_keys=_IN_KEYS,
            keys=_keys(sql.SQL("hit::{}[]").format(_type(root.pk_type))),
            table=_ident(root.table),
            pk=_ident(root.pk),
            kept=d.kept(root, "t"),
            arr=d.arr(root),
        ),
    ]


def _distributed_cascade_delete(d: _DistributedPurge, edge: Edge) -> list[sql.Composable]:
    """Rows an edge's CASCADE reaches, deleted by their match (re-checked under the lock), with
    the reason of the first that its own policy keeps (live first). The shards return the
    columns the rule reads; the rule runs on the coordinator (Citus allows only immutable
    functions in a distributed RETURNING)."""
    target = edge.target
    retained = target.model in d.retained_models
    returning = [sql.SQL("t.{}").format(_ident(target.pk))]
    reason: sql.Composable = sql.SQL("NULL::text")
    live: sql.Composable = sql.SQL("false")
    if retained:
        rule = _Retention(target, d.graph.root)
        returning.append(sql.SQL("t.{}").format(rule.deleted_at))
        if rule.flag is not None:
            returning.append(sql.SQL("t.{}").format(rule.flag))
        reason = sql.SQL("CASE WHEN {kept} THEN {why} END").format(
            kept=d.kept(target, "t"), why=rule.reason("t", d.days(target))
        )
        live = rule.live("t")
    out = [
        sql.SQL(
            "-- {label}: CASCADE\n"
            "  WITH {keys},\n    x AS (DELETE FROM {table} t WHERE t.{col} {in_keys}"
            " RETURNING {returning})\n"
            "  SELECT coalesce(array_agg(t.{pk}::text), '{{}}'), (array_agg({reason} ORDER BY {live} DESC)"
            " FILTER (WHERE {reason} IS NOT NULL))[1]\n    INTO hit, retained_reason FROM x t;"
        ).format(
            label=_comment(edge.label),
            in_keys=_IN_KEYS,
            keys=_keys(d.arr(edge.source)),
            table=_ident(target.table),
            col=_ident(edge.column),
            pk=_ident(target.pk),
            returning=sql.SQL(", ").join(returning),
            reason=reason,
            live=live,
        ),
        _minus_gone(sql.SQL("hit"), target),
        sql.SQL("{arr} := {arr} || hit::{type}[];").format(arr=d.arr(target), type=_type(target.pk_type)),
    ]
    if retained:
        out.append(_RAISE_RETAINED)
    return out


def _distributed_blocker(d: _DistributedPurge, edge: Edge, error: sql.Composable) -> list[sql.Composable]:
    """hit := the rows of edge.target still referencing the deleted edge.source rows; any raise ``error``."""
    return [
        sql.SQL(
            "WITH {keys}\n  SELECT coalesce(array_agg(r.{pk}::text), '{{}}') INTO hit FROM {table} r"
            " WHERE r.{col} {in_keys};"
        ).format(
            in_keys=_IN_KEYS,
            keys=_keys(d.arr(edge.source)),
            pk=_ident(edge.target.pk),
            table=_ident(edge.target.table),
            col=_ident(edge.column),
        ),
        _minus_gone(sql.SQL("hit"), edge.target),
        sql.SQL("IF cardinality(hit) > 0 THEN\n    RAISE EXCEPTION USING {};\n  END IF;").format(error),
    ]


def _blocked_error(edge: Edge) -> sql.Composable:
    return sql.SQL("ERRCODE = {}, MESSAGE = {}").format(sql.Literal(BLOCKED_SQLSTATE), sql.Literal(edge.blocked_reason))


def _distributed_update(d: _DistributedPurge, edge: Edge) -> list[sql.Composable]:
    return [
        sql.SQL(
            "WITH {keys},\n    x AS (UPDATE {table} r SET {col} = {value} WHERE r.{col} {in_keys}"
            " RETURNING r.{pk}::text AS updated_pk)"
            "\n  SELECT coalesce(array_agg(x.updated_pk), '{{}}') INTO hit FROM x;"
        ).format(
            in_keys=_IN_KEYS,
            keys=_keys(d.arr(edge.source)),
            table=_ident(edge.target.table),
            col=_ident(edge.column),
            value=_set_value(edge),
            pk=_ident(edge.target.pk),
        ),
        _minus_gone(sql.SQL("hit"), edge.target),
        sql.SQL(
            "IF cardinality(hit) > 0 THEN updated := updated || jsonb_build_object({}, cardinality(hit)); END IF;"
        ).format(sql.Literal(f"{edge.target.table}.{edge.column}")),
    ]


def _distributed_cascade(d: _DistributedPurge) -> list[sql.Composable]:
    """Top-down: a node's rows are deleted once every node whose CASCADE reaches it is; PROTECT
    is checked right after its source's rows go (the protected rows are all still there)."""
    out: list[sql.Composable] = [*_distributed_root_delete(d)]
    for node in d.order:
        if node != d.graph.root:
            for e in d.graph.deleting():
                if e.target == node:
                    out.extend(_distributed_cascade_delete(d, e))
        for e in d.graph.edges:
            if e.source == node and e.kind is EdgeKind.PROTECT:
                out.extend(_distributed_blocker(d, e, _blocked_error(e)))
    return out


def _distributed_after_deletes(d: _DistributedPurge) -> list[sql.Composable]:
    """SET updates, then what is left referencing a deleted row: RESTRICT blocks, a DO_NOTHING
    foreign key would fail the commit (it is deferred on the workers), so it is raised here."""
    out: list[sql.Composable] = []
    for e in d.graph.edges:
        if e.kind is EdgeKind.SET:
            out.extend(_distributed_update(d, e))
    for e in d.graph.edges:
        if e.kind is EdgeKind.RESTRICT:
            out.extend(_distributed_blocker(d, e, _blocked_error(e)))
        elif e.kind is EdgeKind.DO_NOTHING and e.db_constraint:
            out.extend(_distributed_blocker(d, e, _foreign_key_error(e)))
    return out


def _distributed_hold_checks(d: _DistributedPurge) -> list[sql.Composable]:
    """Legal holds on the keys deleted (locked by their DELETE: a hold placed meanwhile either
    committed before this reads it, or waited for the lock and found no row)."""
    checks = [_hold_check(node, d.arr(node)) for node in d.order]
    paths = sorted({_path(n) for n in d.order})
    return [
        sql.SQL("IF EXISTS (SELECT 1 FROM {}) THEN\n    {}\n  END IF;").format(
            _holds_of(paths), sql.SQL("\n    ").join(checks)
        )
    ]


def _distributed_results(d: _DistributedPurge) -> list[sql.Composable]:
    """Counts, the dry run's keys, and the proof of deletion over the keys deleted."""
    out: list[sql.Composable] = []
    for node in d.order:
        arr = d.arr(node)
        table = sql.Literal(node.table)
        if node.key_order == "numeric":
            keys = sql.SQL("ARRAY(SELECT k::text FROM unnest({}) k ORDER BY k)").format(arr)
        else:
            keys = sql.SQL("{}::text[]").format(arr)
        out.append(
            sql.SQL(
                "IF cardinality({arr}) > 0 THEN\n"
                "    deleted := deleted || jsonb_build_object({table}, cardinality({arr}));\n"
                "    IF dry_run THEN\n"
                "      deleted_keys := deleted_keys || jsonb_build_object({table}, to_jsonb({arr}::text[]));\n"
                "    ELSIF item IS NOT NULL THEN\n"
                "      INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)\n"
                "      VALUES (item, {table}, {order}, {asc}, {keys});\n"
                "    END IF;\n  END IF;"
            ).format(
                arr=arr,
                table=table,
                order=sql.Literal(node.key_order),
                asc=sql.Literal(node.key_order == "numeric"),
                keys=keys,
            )
        )
    return out


def _render_distributed_purge(graph: Graph, name: str, path: sql.Composable) -> sql.Composable:
    d = _DistributedPurge(graph)
    body = [
        *_ignore_triggers(graph),
        *_distributed_cascade(d),
        *_distributed_after_deletes(d),
        *_distributed_hold_checks(d),
        *_distributed_results(d),
    ]
    code = sql.SQL(
        "DECLARE\n  {declare}\n  hit text[];\n  hold_reason text;\n  retained_reason text;\n"
        "  run bigint := nullif(current_setting('retention.run_id', true), '')::bigint;\n"
        "  item bigint := nullif(current_setting('retention.item_id', true), '')::bigint;\n"
        "  deleted jsonb := '{{}}';\n  deleted_keys jsonb := CASE WHEN dry_run THEN '{{}}'::jsonb END;\n"
        "  updated jsonb := '{{}}';\n"
        "BEGIN\n  {body}\n"
        "  RETURN jsonb_strip_nulls(jsonb_build_object('deleted', deleted, 'updated', updated,"
        " 'keys', deleted_keys));\n"
        "END"
    ).format(declare=sql.SQL("\n  ").join(d.declarations()), body=sql.SQL("\n  ").join(body))
    return _plpgsql_function(name, "(roots text[], dry_run boolean) RETURNS jsonb", path, "purge", code)


# The select's sample: one row in SAMPLE of the table's, by a hash of its key. Citus sends a
# multi-shard ORDER BY ... LIMIT n to every shard as it is, so "the next lim rows" has every shard
# return up to lim rows, 32 x lim for the merge on the coordinator (or every eligible row of a
# table with fewer). The bound is instead the (lim / SAMPLE)-th sampled row: about lim rows lie
# before it, each shard returns lim / 32 sampled rows and then about lim / 32 rows up to it.
# (32 is Citus's default shard_count; any other count only makes the first query return more.)
_SAMPLE = 32


def _distributed_candidates(graph: Graph, columns: SoftDeleteColumns, first: bool) -> sql.Composable:
    """The next soft-deleted rows before the cutoff in keyset order, unlocked, into cand and cand_at:
    at most ``lim``, up to the bound that the sample puts about ``lim`` rows before (_SAMPLE; none
    when the sample ends first). Two multi-shard SELECTs with ORDER BY and LIMIT, merged on the
    coordinator, each reading about ``lim`` rows from the shards."""
    root = graph.root
    at, pk, pk_type = _ident(columns.deleted_at_column), _ident(root.pk), _type(root.pk_type)
    after: sql.Composable = sql.SQL("")
    if not first:
        after = sql.SQL(" AND (t.{at}, t.{pk}) > (after_at, after_pk::{type})").format(at=at, pk=pk, type=pk_type)
    upto = sql.SQL(" AND (bound_pk IS NULL OR (t.{at}, t.{pk}) <= (bound_at, bound_pk::{type}))").format(
        at=at, pk=pk, type=pk_type
    )
    where = sql.SQL("{flag}t.{at} < cutoff{after}").format(
        flag=sql.SQL("t.{} AND ").format(_ident(columns.flag_column)) if columns.flag_column else sql.SQL(""),
        at=at,
        after=after,
    )
    return sql.SQL(
        "SELECT t.{at}, t.{pk}::text INTO bound_at, bound_pk FROM {table} t\n"
        "       WHERE {where} AND hashtext(t.{pk}::text) & {mask} = 0\n"
        "       ORDER BY t.{at}, t.{pk} OFFSET greatest(lim / {sample}, 1) - 1 LIMIT 1;\n      "
        "SELECT array_agg(c.pk::text ORDER BY c.deleted_at, c.pk), array_agg(c.deleted_at ORDER BY c.deleted_at, c.pk)"
        " INTO cand, cand_at\n"
        "        FROM (SELECT t.{pk} AS pk, t.{at} AS deleted_at FROM {table} t\n"
        "               WHERE {where}{upto} ORDER BY t.{at}, t.{pk} LIMIT lim) c;"
    ).format(
        pk=pk,
        at=at,
        table=_ident(root.table),
        where=where,
        upto=upto,
        mask=sql.Literal(_SAMPLE - 1),
        sample=sql.Literal(_SAMPLE),
    )


def _render_distributed_select(
    model: type[models.Model], graph: Graph, name: str, path: sql.Composable
) -> sql.Composable:
    """The select function of a distributed root: candidates without a lock (the purge's DELETE
    re-checks them), held roots named; a dry run skips the rows it already counted as deleted,
    reading on until a batch has some or the table has none. Always in keyset order on the purge
    index, ``by_pk`` or not: a colocated table's key is (distribution column, pk), so no index
    leads with the pk and primary-key order read every shard whole for each batch (a backlog of
    1M over 4 shards: 230 ms for the bound's query against 31 ms)."""
    root = graph.root
    columns = policy_columns(model)
    code = sql.SQL(
        "DECLARE\n"
        "  held jsonb;  -- {{pk or '': reason}} of this model's active legal holds, NULL without any\n"
        "  run bigint := nullif(current_setting('retention.run_id', true), '')::bigint;\n"
        "  cand text[];\n  cand_at timestamptz[];\n  hit text[];\n"
        "  bound_at timestamptz;  -- the bound of the batch (_SAMPLE)\n  bound_pk text;\n"
        "BEGIN\n"
        "  SELECT jsonb_object_agg(h.object_pk, h.reason) INTO held\n"
        "    FROM (SELECT DISTINCT ON (object_pk) object_pk, reason FROM {holds} ORDER BY object_pk, id) h;\n"
        "  LOOP\n"
        "    IF after_at IS NULL THEN\n      {first}\n    ELSE\n      {next}\n    END IF;\n"
        "    IF cand IS NULL AND bound_pk IS NOT NULL THEN  -- the rows up to the bound went meanwhile\n"
        "      after_at := bound_at;\n      after_pk := bound_pk;\n      CONTINUE;\n    END IF;\n"
        "    IF cand IS NULL THEN\n"
        "      RETURN QUERY SELECT NULL::text[], NULL::text[], NULL::timestamptz, NULL::text;\n"
        "      RETURN;\n    END IF;\n"
        "    after_at := cand_at[cardinality(cand_at)];\n    after_pk := cand[cardinality(cand)];\n"
        "    hit := cand;\n  {gone}\n"
        "    IF cardinality(hit) > 0 THEN\n"
        "      RETURN QUERY SELECT array_agg(k) FILTER (WHERE coalesce(held->>k, held->>'') IS NULL),\n"
        "                          array_agg(coalesce(held->>k, held->>''))\n"
        "                            FILTER (WHERE coalesce(held->>k, held->>'') IS NOT NULL),\n"
        "                          after_at, after_pk FROM unnest(hit) k;\n"
        "      RETURN;\n    END IF;\n"
        "  END LOOP;\n"
        "END"
    ).format(
        holds=_holds_of([_path(root)]),
        first=_distributed_candidates(graph, columns, True),
        next=_distributed_candidates(graph, columns, False),
        gone=_minus_gone(sql.SQL("hit"), root),
    )
    return _plpgsql_function(name, SELECT_SIGNATURE, path, "select", code)


def _render_refused(name: str, signature: LiteralString, path: sql.Composable, reasons: list[str]) -> sql.Composable:
    """A function that refuses to purge, naming why (distribution.refusals): a run's item fails with it."""
    message = "retention cannot purge this model on Citus with its guarantees: " + "; ".join(reasons)
    code = sql.SQL("BEGIN\n  RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', MESSAGE = {};\nEND").format(
        sql.Literal(message)
    )
    return _plpgsql_function(name, signature, path, "refused", code)


def _compile_distributed(
    model: type[models.Model], graph: Graph, layout: Layout, purge_name: str, select_name: str, path: sql.Composable
) -> str:
    """The distributed functions of a graph with Citus tables, or two that refuse, naming why."""
    reasons = refusals(graph, layout, has_outbox(graph))
    if reasons:
        purge = _render_refused(purge_name, "(roots text[], dry_run boolean) RETURNS jsonb", path, reasons)
        select = _render_refused(select_name, SELECT_SIGNATURE, path, reasons)
    else:
        purge = _render_distributed_purge(graph, purge_name, path)
        select = _render_distributed_select(model, graph, select_name, path)
    return "\n\n".join([_text(purge), _text(select)])


def compile_model(model: type[models.Model], schemas: list[str], layout: Layout = SINGLE_SERVER) -> CompiledModel:
    """Both functions of a model; they resolve names in pg_catalog, ``schemas`` (the app's, see
    sync.app_schemas) and pg_temp, never through their caller's search_path. A graph with Citus
    tables (``layout``, distribution.read_layout) gets the distributed functions."""
    graph = build(model)
    purge_name = function_name("purge", model)
    select_name = function_name("select", model)
    path = search_path(schemas)
    if layout.involves(graph):
        text = _compile_distributed(model, graph, layout, purge_name, select_name, path)
    else:
        purge = _render_purge(graph, purge_name, path)
        text = "\n\n".join([_text(purge), _text(_render_select(graph, select_name, path))])
    digest = hashlib.sha256(text.encode()).hexdigest()
    return CompiledModel(
        model_path=model_path(model),
        purge_function=purge_name,
        select_function=select_name,
        sql=text,
        sql_hash=digest,
        blocking_tables=blocking_tables(graph),
    )


def blocking_tables(graph: Graph) -> tuple[str, ...]:
    """The tables whose rows can keep a row of this purge by reference (PROTECT, RESTRICT, a
    DO_NOTHING foreign key): only a purge that deletes rows of one can free a blocked row, so
    run_cleanup gives a model another pass only then. Rows kept by their own policy or a legal hold
    wait for time or a release, not for another purge."""
    tables = {
        e.target.table
        for e in graph.edges
        if e.kind in (EdgeKind.PROTECT, EdgeKind.RESTRICT) or (e.kind is EdgeKind.DO_NOTHING and e.db_constraint)
    }
    return tuple(sorted(tables))


def _reference(edge: Edge, key: sql.Composable) -> sql.Composable:
    """SQL true when a row of edge.target refers to the root row whose key is ``key``."""
    if edge.kind is EdgeKind.GENERIC:
        assert edge.content_type is not None
        app_label, model_name = edge.content_type
        if edge.object_id_type != edge.source.pk_type:
            key = sql.SQL("({}::text)::{}").format(key, _type(edge.object_id_type))
        return sql.SQL(
            "EXISTS (SELECT 1 FROM {target} r WHERE r.{ct} = (SELECT id FROM django_content_type"
            " WHERE app_label = {app} AND model = {model}) AND r.{oid} = {key})"
        ).format(
            target=_ident(edge.target.table),
            ct=_ident(edge.to_column),
            app=sql.Literal(app_label),
            model=sql.Literal(model_name),
            oid=_ident(edge.column),
            key=key,
        )
    if edge.by_pk:
        return sql.SQL("EXISTS (SELECT 1 FROM {} r WHERE r.{} = {})").format(
            _ident(edge.target.table), _ident(edge.column), key
        )
    return sql.SQL("EXISTS (SELECT 1 FROM {source} s JOIN {target} r ON r.{col} = s.{to} WHERE s.{pk} = {key})").format(
        source=_ident(edge.source.table),
        target=_ident(edge.target.table),
        col=_ident(edge.column),
        to=_ident(edge.to_column),
        pk=_ident(edge.source.pk),
        key=key,
    )


def partition_refs_query(model: type[models.Model]) -> str:
    """The query retention.drop_partition runs on a partition's keys ($1 text[]) to find the rows
    that something refers to (every relation leaving the policy's table: CASCADE, SET, PROTECT,
    RESTRICT, DO_NOTHING, generic relations, a multi-table parent): those go through the purge
    function, so that only rows whose deletion touches nothing else are dropped with the partition.
    '' when no relation leaves the table (every row can be dropped as it is)."""
    graph = build(model)
    root = graph.root
    key = sql.SQL("k.{}").format(_ident(root.pk))
    refs = [_reference(e, key) for e in graph.edges if e.source == root]
    if not refs:
        return ""
    return _text(
        sql.SQL("SELECT ARRAY(SELECT k.{pk}::text FROM unnest($1::{type}[]) AS k({pk})\n  WHERE {refs})").format(
            pk=_ident(root.pk), type=_type(root.pk_type), refs=sql.SQL("\n     OR ").join(refs)
        )
    )


REFS_SIGNATURE: LiteralString = "(text[]) RETURNS text[]"


def _partition_guards(model: type[models.Model]) -> sql.Composable:
    """What a dropped partition would skip and the batches do: the retention_outbox rows of a model
    with files, hooks or snapshots, and DELETE triggers on the table or its partitions (history,
    audit) other than the pgtrigger protections a purge lifts anyway. Raised, so drop_partition
    keeps the partition (its rows go through the batches)."""
    if outbox_spec(model):
        return sql.SQL("RAISE EXCEPTION USING MESSAGE = {};\n  ").format(
            sql.Literal(f"{model._meta.label} has files, hooks or snapshots (retention_outbox): batches write them")
        )
    lifted = blocking_triggers(model, "DELETE")
    return sql.SQL(
        "SELECT format('%s has DELETE trigger %I, which batches fire and a dropped partition would not',"
        " t.tgrelid::regclass, t.tgname) INTO reason\n"
        "    FROM pg_trigger t\n"
        "   WHERE t.tgrelid IN (SELECT relid FROM pg_partition_tree({table}::regclass))\n"
        "     AND NOT t.tgisinternal AND t.tgenabled <> 'D' AND (t.tgtype::integer & 8) <> 0\n"
        "     AND NOT (t.tgname = ANY ({lifted}::name[]))\n"
        "   ORDER BY t.tgname LIMIT 1;\n"
        "  IF reason IS NOT NULL THEN\n"
        "    RAISE EXCEPTION USING MESSAGE = reason;\n"
        "  END IF;\n  "
    ).format(
        table=sql.Literal(sql.Identifier(model._meta.db_table).as_string()),
        lifted=sql.Literal("{" + ",".join(f'"{name}"' for name in lifted) + "}"),
    )


def partition_refs_function(model: type[models.Model], schemas: list[str]) -> tuple[str, str]:
    """``retention.refs__<model>(text[]) -> text[]``: partition_refs_query as a function that sync
    creates (owned by the role that migrates, like the purge functions), so that the SECURITY DEFINER
    retention.drop_partition runs code of ours only: retention_policy.partition_refs names it (an
    identifier, quoted when called), never holds SQL. It first raises where dropping the partition
    would skip what the batches do (_partition_guards)."""
    query = partition_refs_query(model)
    name = function_name("refs", model)
    result = sql.SQL(cast(LiteralString, query)) if query else sql.SQL("SELECT '{}'::text[]")
    code = sql.SQL("DECLARE\n  reason text;\nBEGIN\n  {}RETURN ({});\nEND").format(_partition_guards(model), result)
    return name, _text(_plpgsql_function(name, REFS_SIGNATURE, search_path(schemas), "refs", code))


__all__ = [
    "DELETING",
    "CompiledModel",
    "compile_model",
    "function_name",
    "partition_refs_function",
    "partition_refs_query",
]
