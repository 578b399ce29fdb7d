"""The keyset index of a timestamp policy, created for models whose app we do not own.

A purge takes batches in ``(timestamp, pk)`` order, each bounded by the row comparison
``(timestamp, pk) > (last_at, last_pk)``: only an index in that order makes a batch at the end of a
run cost what the first one did. A soft-delete model declares it in its Meta (check W003); a model of
a third-party app (admin's LogEntry, sessions, task results, audit logs) cannot, so ``retention sync``
creates it: ``CREATE INDEX CONCURRENTLY`` (writes go on while it builds), named
``retention_ts_<hash>`` and marked ours by its comment, and dropped (``DROP INDEX CONCURRENTLY``)
when the policy goes. Neither can run inside a transaction: a sync inside one (a test's atomic
block, a caller's) leaves the index to the next sync outside one, and check W007 prints the
statement to run by hand. A usable index of the table's own (same two leading columns, no
predicate, valid) is used instead of creating ours.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.db import connections
from django.db.backends.utils import CursorWrapper
from psycopg import sql

from django_pg_retention.policies import PolicyKind, policy_columns

logger = logging.getLogger(__name__)

INDEX_PREFIX = "retention_ts_"
OWNER_COMMENT = "django-pg-retention keyset index of the timestamp policy "


@dataclass(frozen=True)
class KeysetIndex:
    """The index a timestamp policy's batches need: (column, pk_column) on table."""

    model_path: str
    table: str
    column: str
    pk_column: str

    @property
    def name(self) -> str:
        digest = hashlib.sha256(f"{self.table}\0{self.column}\0{self.pk_column}".encode()).hexdigest()
        return f"{INDEX_PREFIX}{digest[:16]}"

    def create(self) -> sql.Composed:
        return sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} ({}, {})").format(
            sql.Identifier(self.name),
            sql.Identifier(self.table),
            sql.Identifier(self.column),
            sql.Identifier(self.pk_column),
        )

    def statement(self) -> str:
        """What check W007 tells a person to run."""
        return self.create().as_string(None) + ";"


def wanted_indexes(using: str) -> list[KeysetIndex]:
    """The keyset index of each timestamp policy of this database."""
    from django_pg_retention.sync import synced_policies  # sync imports this module

    out: list[KeysetIndex] = []
    for policy in synced_policies(using):
        if policy.kind is PolicyKind.TIMESTAMP:
            pk: str = policy.model._meta.pk.column  # type: ignore[union-attr]
            out.append(
                KeysetIndex(policy.model_path, policy.db_table, policy_columns(policy.model).deleted_at_column, pk)
            )
    return out


# The table's kind ('r' plain, 'p' partitioned, NULL missing), and the valid btree indexes whose two
# leading key columns are (column, pk) in ascending order, with no predicate and no expression.
_USABLE = """
SELECT c.relkind::text,
       ARRAY(SELECT x.relname::text
               FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am am ON am.oid = x.relam
              WHERE i.indrelid = c.oid AND i.indisvalid AND am.amname = 'btree' AND i.indnkeyatts >= 2
                AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indoption[0] = 0 AND i.indoption[1] = 0
                AND i.indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = %s)
                AND i.indkey[1] = (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = %s))
  FROM (SELECT to_regclass(quote_ident(%s)) AS oid) t LEFT JOIN pg_class c ON c.oid = t.oid
"""


def _state(cursor: CursorWrapper, index: KeysetIndex) -> tuple[str | None, list[str]]:
    cursor.execute(_USABLE, [index.column, index.pk_column, index.table])
    row = cursor.fetchone()
    return (row[0], list(row[1] or [])) if row else (None, [])


def missing_indexes(using: str) -> list[tuple[KeysetIndex, str]]:
    """(index, why it is missing) for each timestamp policy whose table has no usable keyset index
    (a table not yet migrated is left out: sync creates the index after it)."""
    out: list[tuple[KeysetIndex, str]] = []
    with connections[using].cursor() as cursor:
        for index in wanted_indexes(using):
            kind, usable = _state(cursor, index)
            if kind is None or usable:
                continue
            why = "a partitioned table: create it on each partition" if kind == "p" else "no index in that order"
            out.append((index, why))
    return out


def _ours(cursor: CursorWrapper) -> dict[str, tuple[str, bool]]:
    """Our indexes on the tables of the connection's path: name -> (schema, valid)."""
    cursor.execute(
        "SELECT x.relname::text, n.nspname::text, i.indisvalid"
        "  FROM pg_class x JOIN pg_index i ON i.indexrelid = x.oid JOIN pg_namespace n ON n.oid = x.relnamespace"
        " WHERE x.relkind = 'i' AND starts_with(x.relname::text, %s) AND n.nspname = ANY (current_schemas(false))"
        # No comment: a sync stopped between CREATE INDEX and COMMENT ON INDEX.
        "   AND starts_with(coalesce(obj_description(x.oid, 'pg_class'), %s), %s)",
        [INDEX_PREFIX, OWNER_COMMENT, OWNER_COMMENT],
    )
    return {name: (schema, valid) for name, schema, valid in cursor.fetchall()}


def _drop(cursor: CursorWrapper, schema: str, name: str) -> None:
    cursor.execute(
        sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}.{}")
        .format(sql.Identifier(schema), sql.Identifier(name))
        .as_string(None)
    )


def sync_keyset_indexes(using: str) -> tuple[list[str], list[str]]:
    """Create the missing keyset indexes of timestamp policies and drop ours that no policy needs
    (or that an interrupted build left invalid); returns (created, dropped) as 'app.Model' / index
    names. Inside a transaction it changes nothing and logs what is left to do (check W007)."""
    connection = connections[using]
    if connection.in_atomic_block:
        for index, why in missing_indexes(using):
            logger.warning(
                "retention sync inside a transaction: %s needs %s (%s)", index.model_path, index.statement(), why
            )
        return [], []
    created: list[str] = []
    dropped: list[str] = []
    wanted = wanted_indexes(using)
    with connection.cursor() as cursor:
        ours = _ours(cursor)
        names = {index.name for index in wanted}
        for name, (schema, valid) in sorted(ours.items()):
            if name not in names or not valid:
                _drop(cursor, schema, name)
                dropped.append(name)
        for index in wanted:
            kind, usable = _state(cursor, index)
            if kind != "r" or usable:
                continue  # not migrated yet, partitioned (W007 says what to do), or indexed already
            cursor.execute(index.create().as_string(None))
            comment = sql.Literal(OWNER_COMMENT + index.model_path)
            cursor.execute(
                sql.SQL("COMMENT ON INDEX {} IS {}").format(sql.Identifier(index.name), comment).as_string(None)
            )
            created.append(index.model_path)
    return created, dropped
