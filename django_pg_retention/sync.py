"""Make the database match the settings: policy rows, their history, generated functions, config.

Runs after every ``migrate`` (post_migrate) and from ``manage.py retention sync``; idempotent.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router, transaction
from django.db.backends.utils import CursorWrapper
from psycopg import sql

from django_pg_retention import config
from django_pg_retention.audit import ensure_triggers
from django_pg_retention.compiler import SCHEMA, CompiledModel, compile_model, function_name, partition_refs_function
from django_pg_retention.distribution import read_layout
from django_pg_retention.graph import build, purge_order
from django_pg_retention.keyset_index import sync_keyset_indexes
from django_pg_retention.migrate_summary import write_summary
from django_pg_retention.models import (
    RetentionConfigRow,
    RetentionPolicy,
)
from django_pg_retention.policies import (
    Policy,
    PolicyKind,
    all_policies,
    model_path,
    policy_columns,
    policy_models,
)
from django_pg_retention.schedule import sync_jobs

APP_LABEL = "django_pg_retention"
HASH_PREFIX = "django-pg-retention sha256:"
logger = logging.getLogger(__name__)
PURGE_SIGNATURE = sql.SQL("(text[], boolean)")
SELECT_SIGNATURE = sql.SQL("(timestamptz, timestamptz, text, integer, boolean, boolean)")


def _function(name: str, signature: sql.SQL) -> sql.Composed:
    return sql.SQL("{}.{}{}").format(sql.Identifier(SCHEMA), sql.Identifier(name), signature)


@dataclass
class SyncResult:
    created: list[str] = field(default_factory=list[str])
    changed: list[str] = field(default_factory=list[str])
    deactivated: list[str] = field(default_factory=list[str])
    functions_installed: list[str] = field(default_factory=list[str])
    triggers_installed: list[str] = field(default_factory=list[str])  # append-only triggers put back
    settings_changed: list[str] = field(default_factory=list[str])  # "batch_size", "app.Model max_deletions_per_run"
    executors_revoked: list[str] = field(default_factory=list[str])  # roles executor_role no longer names
    indexes_created: list[str] = field(default_factory=list[str])  # timestamp policies given a keyset index
    indexes_dropped: list[str] = field(default_factory=list[str])  # our keyset indexes no policy needs

    @property
    def changes(self) -> int:
        return (
            len(self.created)
            + len(self.changed)
            + len(self.deactivated)
            + len(self.functions_installed)
            + len(self.triggers_installed)
            + len(self.settings_changed)
            + len(self.executors_revoked)
            + len(self.indexes_created)
            + len(self.indexes_dropped)
        )


# Policy row fields that change with the generated functions (counted as functions installed).
FUNCTION_FIELDS = {"purge_function", "select_function", "sql_hash", "blocking_tables"}


def app_schemas(using: str = "default") -> list[str]:
    """The schemas the connection finds the app's tables in (its effective search_path): what the
    generated functions pin."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_schemas(false)::text[]")
        row: tuple[list[str]] | None = cursor.fetchone()
    return list(row[0]) if row else []


def can_sync(using: str) -> bool:
    """PostgreSQL, routed here, and migrated far enough: the tables and schema retention exist
    (a migrate backwards to 0001 leaves the tables without the schema)."""
    connection = connections[using]
    if connection.vendor != "postgresql" or not router.allow_migrate(using, APP_LABEL):
        return False
    if RetentionPolicy._meta.db_table not in connection.introspection.table_names():
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regnamespace(%s) IS NOT NULL", [SCHEMA])
        return bool(cursor.fetchone()[0])  # type: ignore[index]


def policy_databases() -> list[str]:
    """The aliases whose databases hold policies (``--database all``): PostgreSQL, django_pg_retention
    migrated there by the routers, and at least one soft-delete model routed there."""
    return [
        alias
        for alias in connections
        if connections[alias].vendor == "postgresql" and router.allow_migrate(alias, APP_LABEL) and policy_models(alias)
    ]


def has_policy_kinds(using: str) -> bool:
    """Whether retention_policy has its kind column (migration 0011): a database migrated back
    before it holds soft-delete policies only, and sync then writes no kind and no timestamp policy."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'kind'"
            " AND NOT attisdropped)",
            [RetentionPolicy._meta.db_table],
        )
        return bool(cursor.fetchone()[0])  # type: ignore[index]


def synced_policies(using: str) -> list[Policy]:
    """The policies sync writes to this database: all of them, or without the timestamp policies
    where retention_policy has no kind column yet (migrated back before 0011)."""
    policies = all_policies(using)
    if has_policy_kinds(using):
        return policies
    return [p for p in policies if p.kind is PolicyKind.SOFT_DELETE]


def missing_policy_columns(using: str) -> set[str]:
    """The fields of retention_policy whose columns this database lacks: it is migrated back before
    the migration that added them, or not yet migrated (the checks read it before migrate runs).
    Read from the catalog, so a column a later migration adds needs nothing here."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(attname::text) FROM pg_attribute WHERE attrelid = to_regclass(%s)"
            " AND attnum > 0 AND NOT attisdropped",
            [RetentionPolicy._meta.db_table],
        )
        row: tuple[list[str] | None] = cursor.fetchone()  # type: ignore[assignment]
    if not row[0]:
        return set()  # no table yet: nothing to leave out, a query of it fails as it would
    present = set(row[0])
    return {f.name for f in RetentionPolicy._meta.concrete_fields if f.column not in present}


def _policy_rows(using: str) -> models.QuerySet[RetentionPolicy]:
    """retention_policy rows, without the columns the database lacks (saving such a row writes
    only its loaded columns)."""
    rows = RetentionPolicy.objects.using(using).all()
    missing = missing_policy_columns(using)
    return rows.defer(*missing) if missing else rows


def _create_policy_row(using: str, path: str, values: dict[str, object]) -> None:
    """A new retention_policy row; where a later column is missing, written column by column
    (the ORM's INSERT names every field of the model)."""
    missing = missing_policy_columns(using)
    if not missing:
        RetentionPolicy.objects.using(using).create(model_path=path, **values)
        return
    row: dict[str, Any] = {"model_path": path, **{k: v for k, v in values.items() if k not in missing}}
    with connections[using].cursor() as cursor:
        cursor.execute(
            sql.SQL("INSERT INTO {} ({}, updated_at) VALUES ({}, clock_timestamp())")
            .format(
                sql.Identifier(RetentionPolicy._meta.db_table),
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            )
            .as_string(None),
            list(row.values()),
        )


def _installed_hash(cursor: CursorWrapper, function: sql.Composed) -> str | None:
    cursor.execute("SELECT obj_description(to_regprocedure(%s)::oid, 'pg_proc')", [function.as_string(None)])
    row: tuple[object, ...] | None = cursor.fetchone()
    comment = str(row[0]) if row and row[0] else ""
    if not comment.startswith(HASH_PREFIX):
        return None
    return comment[len(HASH_PREFIX) :]


def install_functions(using: str, compiled: CompiledModel) -> bool:
    """Create or replace the model's functions unless the installed ones carry the same hash."""
    with connections[using].cursor() as cursor:
        purge = _function(compiled.purge_function, PURGE_SIGNATURE)
        if _installed_hash(cursor, purge) == compiled.sql_hash:
            return False
        cursor.execute(compiled.sql)
        comment = sql.Literal(HASH_PREFIX + compiled.sql_hash)
        for function in (purge, _function(compiled.select_function, SELECT_SIGNATURE)):
            cursor.execute(sql.SQL("COMMENT ON FUNCTION {} IS {}").format(function, comment).as_string(None))
            cursor.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(function).as_string(None))
    return True


REFS_SIGNATURE = sql.SQL("(text[])")


def install_refs_function(using: str, model: type[models.Model], schemas: list[str]) -> str:
    """Create or replace the function retention.drop_partition runs to find a partition's
    referenced rows (compiler.partition_refs_function), which also refuses a table whose DELETE triggers
    or outbox the batches must serve; its name."""
    name, text = partition_refs_function(model, schemas)
    if name:
        with connections[using].cursor() as cursor:
            cursor.execute(text)
            function = _function(name, REFS_SIGNATURE)
            cursor.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(function).as_string(None))
            comment = sql.Literal(f"django-pg-retention: the referenced rows of a partition of {model_path(model)}")
            cursor.execute(sql.SQL("COMMENT ON FUNCTION {} IS {}").format(function, comment).as_string(None))
    return name


def drop_functions(using: str, policy: RetentionPolicy) -> None:
    functions = [
        _function(policy.purge_function, PURGE_SIGNATURE),
        _function(policy.select_function, SELECT_SIGNATURE),
    ]
    if "partition_refs" not in policy.get_deferred_fields() and policy.partition_refs:
        functions.append(_function(policy.partition_refs, REFS_SIGNATURE))
    with connections[using].cursor() as cursor:
        for function in functions:
            cursor.execute(sql.SQL("DROP FUNCTION IF EXISTS {}").format(function).as_string(None))


def grant_executor(using: str, role: str | None) -> list[str]:
    """Let ``role`` run purges through run_cleanup, and nothing more (retention.grant_executor);
    take the same back from every other role that holds it (retention.revoke_executor): the grants
    follow the setting. Returns the roles whose grants were revoked."""
    with connections[using].cursor() as cursor:
        oid = None
        if role:
            cursor.execute("SELECT oid FROM pg_roles WHERE rolname = %s", [role])
            row = cursor.fetchone()
            if row is None:
                raise ImproperlyConfigured(
                    f"RETENTION_CLEANUP_CONFIG['executor_role'] names {role!r}, which is not a role of this server"
                )
            oid = row[0]
        revoked: list[str] = []
        cursor.execute("SELECT to_regprocedure('retention.executor_roles()') IS NOT NULL")
        if cursor.fetchone()[0]:  # type: ignore[index]  # SQL 0.2 (not a database migrated back to 0.1)
            cursor.execute("SELECT r::oid, r::text FROM retention.executor_roles() r ORDER BY 2")
            revoked = [name for other, name in cursor.fetchall() if other != oid]
        for name in revoked:
            cursor.execute("SELECT retention.revoke_executor(%s::regrole)", [name])
        if oid is not None:
            cursor.execute("SELECT retention.grant_executor(%s::oid::regrole)", [oid])
    return revoked


# The version of the SQL files (retention.sql_version()) the generated functions of this package
# need: they use retention.dry_gone and the checks of SQL 0.2.
REQUIRED_SQL_VERSION = "0.2"


class OutdatedSqlError(ImproperlyConfigured):
    """The database holds an older version of the SQL than this package's generated functions need."""


def installed_sql_version(using: str = "default") -> str | None:
    """retention.sql_version() of the database, or None before SQL 0.2 (0.1 had no such function)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT to_regprocedure('retention.sql_version()') IS NOT NULL")
        if not cursor.fetchone()[0]:  # type: ignore[index]
            return None
        cursor.execute("SELECT retention.sql_version()")
        return str(cursor.fetchone()[0])  # type: ignore[index]


def check_sql_version(using: str = "default") -> None:
    """Refuse to install this package's functions over SQL they were not compiled for."""
    installed = installed_sql_version(using)
    if installed is None or tuple(map(int, installed.split("."))) < tuple(map(int, REQUIRED_SQL_VERSION.split("."))):
        raise OutdatedSqlError(
            f"database {using!r} holds django-pg-retention SQL {installed or '0.1'}, older than the "
            f"{REQUIRED_SQL_VERSION} this version of the package compiles its purge functions for (they would fail, "
            "dry runs first): run "
            "`manage.py migrate django_pg_retention` to upgrade it, or install the package release that matches it"
        )


@contextmanager
def acting_as(actor: str, using: str = "default") -> Generator[None]:
    """Policy changes made in the block are recorded with ``actor`` (a Django username, or the command)
    in retention_policy_history.actor, beside the database role: the block is one transaction that
    sets retention.actor, which the history trigger reads. A claim of the application, not proof."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT set_config('retention.actor', %s, true)", [actor[:200]])
        yield


def sync(using: str = "default", actor: str = "manage.py retention sync") -> SyncResult:
    """Bring retention_config, retention_policy with its history, the generated functions, the
    append-only triggers, the executor's grants and the timestamp policies' keyset indexes in line
    with the settings. ``actor`` is who the history rows name on the Django side (the command, or a
    Django username)."""
    result = SyncResult()
    if not can_sync(using):
        return result
    check_sql_version(using)
    cleanup = config.cleanup_config()
    with acting_as(actor, using):
        result.settings_changed.extend(_sync_config(using, cleanup))
        existing = {p.model_path: p for p in _policy_rows(using).select_for_update()}
        _sync_policies(using, existing, result)
        _sync_hold_targets(using)
        result.triggers_installed = ensure_triggers(using)
        result.executors_revoked = grant_executor(using, cleanup.executor_role)
        _deactivate(using, existing, result)  # what is left: policies no longer in the settings
    # Outside the transaction: CREATE/DROP INDEX CONCURRENTLY cannot run inside one.
    result.indexes_created, result.indexes_dropped = sync_keyset_indexes(using)
    return result


def _sync_config(using: str, cleanup: config.CleanupConfig) -> list[str]:
    """Write the synced keys into the retention_config row; returns the keys that changed."""
    rows = RetentionConfigRow.objects.using(using)
    before = rows.filter(id=1).values().first()
    values = {key: getattr(cleanup, key) for key in config.synced_keys()}
    values["replica_slots"] = list(values["replica_slots"])
    row, _ = rows.update_or_create(id=1, defaults=values)
    if before is None:
        return []
    return [key for key, old in before.items() if key not in ("id", "updated_at") and getattr(row, key) != old]


def _sync_policies(using: str, existing: dict[str, RetentionPolicy], result: SyncResult) -> None:
    """Compile and install each policy's functions and write its row (with history); the rows it
    handles are taken out of ``existing``."""
    order = {m: i for i, m in enumerate(purge_order(policy_models()))}
    schemas = app_schemas(using)
    kinds = has_policy_kinds(using)
    if not kinds and (left_out := [p.model_path for p in all_policies(using) if p.kind is PolicyKind.TIMESTAMP]):
        logger.warning("database %s is migrated back before timestamp policies: %s not synced", using, left_out)
    layout = read_layout(using)  # Citus tables get the distributed functions
    missing = missing_policy_columns(using)
    for policy in synced_policies(using):
        model = policy.model
        compiled = compile_model(model, schemas, layout)
        if install_functions(using, compiled):
            result.functions_installed.append(policy.model_path)
        row = existing.pop(policy.model_path, None)
        columns = policy_columns(model)
        values: dict[str, object] = {
            "kind": policy.kind.value,
            "db_table": policy.db_table,
            "pk_column": model._meta.pk.column,  # type: ignore[union-attr]
            "retention_days": policy.retention_days,
            "policy_source": policy.policy_source.value,
            "purge_function": compiled.purge_function,
            "select_function": compiled.select_function,
            "position": order[model],
            "max_deletions_per_run": config.max_deletions_for(policy.model_path),
            "deleted_at_column": columns.deleted_at_column,
            "flag_column": columns.flag_column or "",
            "is_active": True,
            "sql_hash": compiled.sql_hash,
            "partition_refs": "" if "partition_refs" in missing else install_refs_function(using, model, schemas),
            "blocking_tables": list(compiled.blocking_tables),
        }
        if not kinds:
            del values["kind"]  # a database migrated back before 0011
        if "blocking_tables" in missing:
            del values["blocking_tables"]  # before 0015
        if "partition_refs" in missing:
            del values["partition_refs"]  # before 0012
        elif row is not None and row.partition_refs and row.partition_refs != values["partition_refs"]:
            with connections[using].cursor() as cursor:  # nothing refers to the table any more
                drop = sql.SQL("DROP FUNCTION IF EXISTS {}").format(_function(row.partition_refs, REFS_SIGNATURE))
                cursor.execute(drop.as_string(None))
        # Each write below is recorded in retention_policy_history by the database's trigger
        # (retention.record_policy_change), as a change by any other path is (sync refuses SQL
        # older than 0.2, which has no such trigger: check_sql_version).
        if row is None:
            _create_policy_row(using, policy.model_path, values)
            result.created.append(policy.model_path)
            continue
        change = None
        if not row.is_active:
            change = "reactivated"
        elif row.retention_days != policy.retention_days:
            change = "days_changed"
        elif row.policy_source != policy.policy_source.value:
            change = "source_changed"
        if change:
            result.changed.append(policy.model_path)
        differing = [k for k, v in values.items() if getattr(row, k) != v]
        if differing:
            if not change:  # a setting of the policy row, not its days, source or activity
                result.settings_changed.extend(
                    f"{policy.model_path} {k}" for k in differing if k not in FUNCTION_FIELDS
                )
            for k, v in values.items():
                setattr(row, k, v)
            row.save(using=using)


HOLD_TARGETS = "retention_hold_target"


def _sync_hold_targets(using: str) -> None:
    """Rewrite retention_hold_target (SQL 0.2): every model a purge of this database deletes rows of,
    with its table's schema, its key column and that column's type, which retention_hold_check
    reads to refuse a hold on anything else and to store each held key in its canonical text."""
    nodes = {
        model_path(n.model): (n.table, n.pk) for policy in synced_policies(using) for n in build(policy.model).nodes
    }
    paths = sorted(nodes)
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [HOLD_TARGETS])
        if not cursor.fetchone()[0]:  # type: ignore[index]
            return  # migrated back to before SQL 0.2
        cursor.execute(
            "WITH wanted(model_path, db_table, pk_column) AS"
            " (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])),"
            " resolved AS ("
            "   SELECT w.model_path, n.nspname::text AS table_schema, c.relname::text AS db_table,"
            "          a.attname::text AS pk_column, format_type(a.atttypid, a.atttypmod) AS pk_type"
            "     FROM wanted w"
            "     JOIN pg_class c ON c.oid = to_regclass(quote_ident(w.db_table))"
            "     JOIN pg_namespace n ON n.oid = c.relnamespace"
            "     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = w.pk_column AND NOT a.attisdropped),"
            " gone AS (DELETE FROM retention_hold_target t"
            "           WHERE t.model_path <> ALL (SELECT r.model_path FROM resolved r))"
            " INSERT INTO retention_hold_target (model_path, table_schema, db_table, pk_column, pk_type)"
            " SELECT * FROM resolved"
            " ON CONFLICT (model_path) DO UPDATE SET table_schema = EXCLUDED.table_schema,"
            "   db_table = EXCLUDED.db_table, pk_column = EXCLUDED.pk_column, pk_type = EXCLUDED.pk_type"
            " WHERE (retention_hold_target.table_schema, retention_hold_target.db_table,"
            "        retention_hold_target.pk_column, retention_hold_target.pk_type)"
            "   IS DISTINCT FROM (EXCLUDED.table_schema, EXCLUDED.db_table, EXCLUDED.pk_column, EXCLUDED.pk_type)",
            [paths, [nodes[p][0] for p in paths], [nodes[p][1] for p in paths]],
        )


def _deactivate(using: str, rows: dict[str, RetentionPolicy], result: SyncResult) -> None:
    """Policies whose model no longer has one: functions dropped, row kept inactive, history written."""
    for path, row in rows.items():
        if row.is_active:
            drop_functions(using, row)
            row.is_active = False
            row.save(using=using, update_fields=["is_active", "updated_at"])
            result.deactivated.append(path)


def post_migrate_sync(
    using: str = "default", verbosity: int = 1, stdout: TextIO | None = None, **kwargs: object
) -> None:
    """Sync, then tell the user (migrate's output, verbosity >= 1) which jobs run and what the first
    scheduled purge would delete."""
    if can_sync(using):
        try:
            check_sql_version(using)
        except OutdatedSqlError as exc:  # migrated back to 0.1's SQL: that is what migrate was asked for
            logger.warning("retention sync skipped: %s", exc)
            return
        result = sync(using=using, actor="manage.py migrate")
        jobs = sync_jobs(using=using)
        if result.changes or jobs.changes:
            logger.info(
                "retention sync (%s): %s policy change(s), %s function(s) installed, %s job change(s)",
                using,
                len(result.created) + len(result.changed) + len(result.deactivated),
                len(result.functions_installed),
                jobs.changes,
            )
        if verbosity >= 1:
            write_summary(using, stdout or sys.stdout)


def policy_drift(using: str = "default") -> list[str]:
    """How the policies in the database differ from the settings (a row changed in SQL, say
    ``UPDATE retention_policy SET retention_days = 1``): one sentence per difference, empty when
    they match or the database cannot be synced. ``retention sync`` puts the settings back; the
    change itself is in retention_policy_history (who, when)."""
    if not can_sync(using):
        return []
    rows = {p.model_path: p for p in _policy_rows(using)}
    kinds = has_policy_kinds(using)
    problems: list[str] = []
    for policy in synced_policies(using):
        model = policy.model
        row = rows.pop(policy.model_path, None)
        if row is None:
            problems.append(
                f"{policy.model_path}: no policy row in the database (settings: {policy.retention_days} days)"
            )
            continue
        columns = policy_columns(model)
        expected: dict[str, object] = {
            "kind": policy.kind.value,
            "retention_days": policy.retention_days,
            "is_active": True,
            "db_table": policy.db_table,
            "pk_column": model._meta.pk.column,  # type: ignore[union-attr]
            "max_deletions_per_run": config.max_deletions_for(policy.model_path),
            "deleted_at_column": columns.deleted_at_column,
            "flag_column": columns.flag_column or "",
            "purge_function": function_name("purge", model),
            "select_function": function_name("select", model),
        }
        if not kinds:
            del expected["kind"]
        for key, value in expected.items():
            actual = getattr(row, key)
            if actual != value:
                problems.append(f"{policy.model_path}: {key} is {actual!r} in the database, {value!r} in the settings")
    for path, row in rows.items():
        if row.is_active:
            problems.append(f"{path}: an active policy in the database that the settings do not have")
    return problems
