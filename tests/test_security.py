"""Security round 2 (issue 30): attacks by the roles of docs/security.md, each against the real server.

The executor role (RETENTION_CLEANUP_CONFIG["executor_role"], granted by retention.grant_executor)
logs in as itself here (SET SESSION AUTHORIZATION), so that session_user is the executor, as for a
pg_cron job or an application connection that logs in with that role.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from conftest import server_dsn
from django.db import DatabaseError, connection
from psycopg import sql
from purge_helpers import (
    build_rules_data,
    call_cleanup,
    expected_after_django_purge,
    purge_once,
    reset_rules_data,
    rules_tables,
    snapshot,
    soft_deleted_places,
)
from rules.models import Place

from django_pg_retention import place_hold
from django_pg_retention.audit import verify
from django_pg_retention.models import RetentionHold, RetentionRun
from django_pg_retention.sync import sync

pytestmark = pytest.mark.django_db(transaction=True)

EXECUTOR = "retention_sec_executor"
PLANTED = "retention_sec_planted"  # a schema where PUBLIC may CREATE, as on PostgreSQL 14

# Every table name the SQL of the app uses (its own tables; the model tables are added per test).
APP_TABLES = [
    "retention_dry_gone",
    "retention_run",
    "retention_run_item",
    "retention_policy",
    "retention_policy_history",
    "retention_config",
    "retention_deleted_keys",
    "retention_alert",
    "retention_hold",
    "retention_request",
    "retention_outbox",
]


def q(name: str) -> str:
    return sql.Identifier(name).as_string(None)


@pytest.fixture
def executor(settings: Any) -> Iterator[str]:
    """The executor role, set up as docs/operations.md says: no right on any table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [EXECUTOR])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {q(EXECUTOR)} NOLOGIN NOSUPERUSER NOCREATEROLE")
        cursor.execute(f"DROP SCHEMA IF EXISTS {q(PLANTED)} CASCADE")
        cursor.execute(f"CREATE SCHEMA {q(PLANTED)}")
        cursor.execute(f"GRANT USAGE, CREATE ON SCHEMA {q(PLANTED)} TO PUBLIC")
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "executor_role": EXECUTOR}
    sync()
    yield EXECUTOR
    with connection.cursor() as cursor:
        cursor.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cursor.execute(f"DROP SCHEMA IF EXISTS {q(PLANTED)} CASCADE")
        cursor.execute(f"DROP OWNED BY {q(EXECUTOR)}")  # its objects in public, and its grants
        cursor.execute(f"DROP ROLE {q(EXECUTOR)}")


def session_of(role: str) -> psycopg.Connection[Any]:
    """A session whose login role (session_user) and current role are ``role``."""
    conn = psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True)
    conn.execute(sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(role)))
    return conn


def rights_of(role: str) -> dict[str, Any]:
    """Everything that would show an escalation: role attributes, memberships, grants."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, rolinherit"
            " FROM pg_roles WHERE rolname = %s",
            [role],
        )
        attributes = cursor.fetchone()
        cursor.execute(
            "SELECT array_agg(r.rolname::text ORDER BY r.rolname) FROM pg_auth_members m"
            " JOIN pg_roles r ON r.oid = m.roleid WHERE m.member = %s::regrole",
            [role],
        )
        memberships = cursor.fetchone()
        cursor.execute(
            "SELECT array_agg(table_schema || '.' || table_name || ':' || privilege_type"
            " ORDER BY table_schema, table_name, privilege_type)"
            " FROM information_schema.role_table_grants"
            " WHERE grantee = %s AND table_schema NOT LIKE 'pg\\_temp\\_%%'",  # its own temporary tables
            [role],
        )
        tables = cursor.fetchone()
        cursor.execute(
            "SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text) FROM pg_proc p"
            " WHERE p.pronamespace = 'retention'::regnamespace AND has_function_privilege(%s, p.oid, 'EXECUTE')",
            [role],
        )
        routines = cursor.fetchone()
    return {"attributes": attributes, "memberships": memberships, "tables": tables, "routines": routines}


def escalation(role: str) -> str:
    """PL/pgSQL that tries to make ``role`` a superuser, a role creator, a member of the running
    role and the owner of every table's rights: harmless when the role itself runs it (each step
    fails, silently), fatal to least privilege when privileged code runs it."""
    steps = [
        f"ALTER ROLE {q(role)} SUPERUSER CREATEROLE BYPASSRLS",
        f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {q(role)}",
    ]
    guarded = "BEGIN EXECUTE {}; EXCEPTION WHEN OTHERS THEN NULL; END;"
    body = "".join(guarded.format(sql.Literal(s).as_string(None)) for s in steps)
    grant_current = (
        f"BEGIN EXECUTE pg_catalog.format('GRANT %I TO {q(role)}', current_user); EXCEPTION WHEN OTHERS THEN NULL; END;"
    )
    return body + grant_current


def plant_temp_tables(conn: psycopg.Connection[Any], role: str, names: list[str]) -> None:
    """Temporary tables of every name, each with statement triggers (TRUNCATE, INSERT, UPDATE,
    DELETE) that escalate; retention_dry_gone with the columns 0.1's ledger had."""
    conn.execute(
        f"CREATE FUNCTION pg_temp.pwn() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN {escalation(role)}"
        " RETURN NULL; END $f$"
    )
    for name in names:
        columns = (
            "db_table text, pk text, run_id bigint, PRIMARY KEY (db_table, pk)"
            if name == "retention_dry_gone"
            else "id bigint"
        )
        conn.execute(f"CREATE TEMP TABLE {q(name)} ({columns})")
        for event in ("TRUNCATE", "INSERT", "UPDATE", "DELETE"):
            conn.execute(
                f"CREATE TRIGGER {q('pwn_' + event.lower())} BEFORE {event} ON pg_temp.{q(name)}"
                " FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.pwn()"
            )


# Overloads that a best-match resolution would prefer to pg_catalog's polymorphic or variadic
# routines for the argument types the purge uses; each returns the right result (a run through
# them stays exact) after trying to escalate.
OVERLOADS = [
    ("FUNCTION", "cardinality(a text[]) RETURNS integer", "pg_catalog.cardinality(a)"),
    ("FUNCTION", "format(f text, a text) RETURNS text", "pg_catalog.format(f, a)"),
    ("FUNCTION", "array_to_string(a text[], s text) RETURNS text", "pg_catalog.array_to_string(a, s)"),
    ("FUNCTION", "to_jsonb(a integer) RETURNS jsonb", "pg_catalog.to_jsonb(a)"),
    ("FUNCTION", "hashtext(a text) RETURNS integer", "pg_catalog.hashtext(a)"),
    ("FUNCTION", "concat_int_text(a integer, b text) RETURNS text", "a::text OPERATOR(pg_catalog.||) b"),
    ("FUNCTION", "concat_bigint_text(a bigint, b text) RETURNS text", "a::text OPERATOR(pg_catalog.||) b"),
]


def plant_overloads(conn: psycopg.Connection[Any], role: str, schema: str) -> None:
    for _, signature, result in OVERLOADS:
        conn.execute(
            f"CREATE FUNCTION {q(schema)}.{signature} LANGUAGE plpgsql AS"
            f" $f$ BEGIN {escalation(role)} RETURN {result}; END $f$"
        )
    for left, fn in (("integer", "concat_int_text"), ("bigint", "concat_bigint_text")):
        conn.execute(f"CREATE OPERATOR {q(schema)}.|| (LEFTARG = {left}, RIGHTARG = text, FUNCTION = {q(schema)}.{fn})")


def run_as(conn: psycopg.Connection[Any], **kwargs: Any) -> RetentionRun:
    before = RetentionRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
    names = ", ".join(f"{k} => %s" for k in kwargs)
    conn.execute(f"CALL retention.run_cleanup({names})", list(kwargs.values()))  # type: ignore[arg-type]
    run = RetentionRun.objects.filter(id__gt=before).order_by("-id").first()
    assert run is not None
    return run


def test_the_executor_cannot_become_the_owner_through_caller_objects(executor: str) -> None:
    """Attack 1: temporary tables of every name the SQL uses, with escalating triggers, and
    overloads in a schema where PUBLIC may CREATE, first on the executor's search_path. Dry and
    real runs stay exact and the executor's rights do not change."""
    reset_rules_data()
    sync()
    build_rules_data(random.Random(3), authors=12)
    expected, _ = expected_after_django_purge()
    before = rights_of(executor)
    assert before["attributes"] == (False, False, False, False, False, True)
    with session_of(executor) as conn:
        plant_temp_tables(conn, executor, APP_TABLES + rules_tables())
        plant_overloads(conn, executor, PLANTED)
        conn.execute(sql.SQL("SET search_path = {}, public").format(sql.Identifier(PLANTED)))
        preview = run_as(conn, dry_run=True, triggered_by="sec-dry")
        real = run_as(conn, triggered_by="sec-real")
        again = run_as(conn, dry_run=True, triggered_by="sec-dry-again")
    assert rights_of(executor) == before
    assert (preview.status, real.status, again.status) == ("succeeded", "succeeded", "succeeded"), (
        preview.error,
        real.error,
    )
    assert snapshot(rules_tables()) == expected
    # The preview announced exactly what the real run did, model by model.
    announced = {i.model_path: (i.deleted, i.blocked, i.cascaded) for i in preview.items.all()}
    done = {i.model_path: (i.deleted, i.blocked, i.cascaded) for i in real.items.all()}
    assert announced == done and real.rows_deleted > 0
    assert sum(i.deleted for i in again.items.all()) == 0


def test_overloads_planted_in_the_app_schema_are_refused_before_a_run(executor: str) -> None:
    """Where PUBLIC may CREATE in the schema of the app's tables (PostgreSQL 14, or a cluster
    upgraded from it), an overload planted there would be found by the definer code's search_path:
    a run by a session that could plant one is refused, and so is any run, the owner's too, while a
    look-alike planted by another role is there; before any run row is written."""
    reset_rules_data()
    build_rules_data(random.Random(4), authors=6)
    tables = snapshot(rules_tables())
    before = rights_of(executor)
    with connection.cursor() as cursor:
        cursor.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    runs = RetentionRun.objects.count()
    with session_of(executor) as conn:
        plant_overloads(conn, executor, "public")
        for dry_run in (True, False):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="may CREATE in schema public"):
                conn.execute("CALL retention.run_cleanup(dry_run => %s)", [dry_run])
        # The owner's own runs (pg_cron's) would call them with its rights: refused while they exist.
        with psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True) as owner:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"shadows a pg_catalog name"):
                owner.execute("CALL retention.run_cleanup(dry_run => true)")
        # Revoking CREATE is not enough for the owner while the look-alikes are there.
        with connection.cursor() as cursor:
            cursor.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"owned by role retention_sec_executor"):
            conn.execute("CALL retention.run_cleanup(dry_run => true)")
    assert RetentionRun.objects.count() == runs
    assert rights_of(executor) == before
    assert snapshot(rules_tables()) == tables


APP_ROLE = "retention_sec_app"  # an application role with DML on every table, no grant in schema retention


@pytest.fixture
def app_role() -> Iterator[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {q(APP_ROLE)} NOLOGIN NOSUPERUSER")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q(APP_ROLE)}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q(APP_ROLE)}")
    yield APP_ROLE
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {q(APP_ROLE)}")
        cursor.execute(f"DROP ROLE {q(APP_ROLE)}")


def history_of(path: str) -> list[tuple[Any, ...]]:
    from django_pg_retention.models import RetentionPolicyHistory

    return list(
        RetentionPolicyHistory.objects.filter(model_path=path)
        .order_by("id")
        .values_list("change", "old_days", "new_days", "changed_by", "detail")
    )


def test_a_policy_changed_in_sql_is_recorded_and_warned(app_role: str) -> None:
    """Attack 4: UPDATE retention_policy SET retention_days = 1, by a role with DML on every table.
    The database records it (who, what), manage.py check and retention status warn, and retention
    sync puts the settings back, recorded once."""
    from django.core import checks as django_checks
    from django.core.management import call_command

    sync()
    path = "rules.Place"
    before = history_of(path)
    with session_of(app_role) as conn:
        conn.execute("UPDATE retention_policy SET retention_days = 1 WHERE model_path = %s", [path])
    assert history_of(path)[len(before) :] == [("days_changed", 30, 1, app_role, "retention_days")]

    warnings = [m for m in django_checks.run_checks(databases=["default"]) if m.id == "pg_retention.W006"]
    assert [m.msg for m in warnings] == [
        "Database 'default': the retention policy differs from the settings: "
        "rules.Place: retention_days is 1 in the database, 30 in the settings."
    ]
    out = io.StringIO()
    call_command("retention", "status", stdout=out)
    assert "rules.Place: retention_days is 1 in the database, 30 in the settings" in out.getvalue()

    assert sync().changed == [path]  # one row, by the trigger: sync writes none of its own
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]  # type: ignore[index]
    assert history_of(path)[len(before) + 1 :] == [("days_changed", 1, 30, owner, "retention_days")]
    assert not [m for m in django_checks.run_checks(databases=["default"]) if m.id == "pg_retention.W006"]

    # Other columns, a delete and an insert in psql are recorded too; a role that may change a
    # policy but not write its history cannot change it.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE retention_policy SET deleted_at_column = 'id' WHERE model_path = %s", [path])
        cursor.execute("DELETE FROM retention_policy WHERE model_path = %s", [path])
    assert [h[0] for h in history_of(path)[-2:]] == ["updated", "deleted"]
    assert history_of(path)[-2][4] == "deleted_at_column"
    sync()
    assert history_of(path)[-1][:3] == ("created", None, 30)
    with connection.cursor() as cursor:
        cursor.execute(f"REVOKE INSERT ON retention_policy_history FROM {q(app_role)}")
    with session_of(app_role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE retention_policy SET retention_days = 1 WHERE model_path = %s", [path])
    assert not [m for m in django_checks.run_checks(databases=["default"]) if m.id == "pg_retention.W006"]


def test_the_executor_may_not_shorten_retention(executor: str) -> None:
    """Item 6: days shorter than a policy is refused to the executor before a run row is written;
    a longer one, and the owner's shorter one, run."""
    reset_rules_data()
    runs = RetentionRun.objects.count()
    with session_of(executor) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"days => 1 is shorter than the policy of "):
            conn.execute("CALL retention.run_cleanup(days => 1)")
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match=r"days => 29 is shorter than the policy of rules\.Place"
        ):
            conn.execute("CALL retention.run_cleanup(model => 'rules.Place', days => 29, dry_run => true)")
        # Its steps cannot be called around it either (test_the_steps_of_run_cleanup_are_refused_outside_it).
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"only through CALL retention\.run_cleanup"):
            conn.execute("SELECT retention.begin_run(false, 'rules.Place', 1, 'x')")
        # Nor hold the start lock, as the owner, for as long as it likes.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"only through CALL retention\.run_cleanup"):
            conn.execute("SELECT retention.begin_run(false, 'rules.Place', NULL, 'x', '1 day')")
        assert RetentionRun.objects.count() == runs
        longer = run_as(conn, model="rules.Place", days=400, triggered_by="sec-longer")
    assert (longer.status, longer.days_override) == ("succeeded", 400)
    with connection.cursor() as cursor:  # the owner may
        cursor.execute("CALL retention.run_cleanup(model => 'rules.Place', days => 1, triggered_by => 'owner-short')")
    assert RetentionRun.objects.get(triggered_by="owner-short").status == "succeeded"


def test_grants_follow_the_executor_role_setting(executor: str, settings: Any) -> None:
    """Item 6: a role that executor_role no longer names loses what grant_executor gave it."""
    granted = rights_of(executor)
    assert granted["routines"] and granted["tables"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_schema_privilege(%s, 'retention', 'USAGE')", [executor])
        assert cursor.fetchone()[0]  # type: ignore[index]
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "executor_role": None}
    assert sync().executors_revoked == [executor]
    revoked = rights_of(executor)
    assert (revoked["routines"], revoked["tables"]) == ((None,), (None,))
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_schema_privilege(%s, 'retention', 'USAGE')", [executor])
        assert not cursor.fetchone()[0]  # type: ignore[index]
    with session_of(executor) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CALL retention.run_cleanup(dry_run => true)")
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "executor_role": executor}
    assert sync().executors_revoked == []
    assert rights_of(executor) == granted


# Attack 5 and item 7: every number a user gives, refused with its name and range; no run row,
# no run left 'running'.
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["cleanup_soft_deleted", "--dry-run", "--days", "99999999"],
            "--days: must be a whole number from 1 to 36,500",
        ),
        (["cleanup_soft_deleted", "--dry-run", "--days", "0"], "--days: must be a whole number from 1 to 36,500"),
        (
            ["cleanup_soft_deleted", "--dry-run", "--batch-size", "99999999999"],
            "--batch-size: must be a whole number from 1 to 5,000",
        ),
        (["cleanup_soft_deleted", "--dry-run", "--batch-size", "-1"], "--batch-size: must be a whole number from 1"),
        (["retention_drain", "--batch", "-1"], "--batch: must be a whole number from 1 to 10,000"),
        (["retention_drain", "--batch", "0"], "--batch: must be a whole number from 1 to 10,000"),
        (["retention", "show", "99999999999999999999"], "run_id: must be a whole number from 1 to"),
    ],
)
def test_command_line_numbers_are_range_checked(arguments: list[str], message: str) -> None:
    from django.core.management import CommandError, call_command

    runs = RetentionRun.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command(*arguments)
    assert RetentionRun.objects.count() == runs


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("days => 99999999", "days must be between 1 and 36500, not 99999999"),
        ("days => 0", "days must be between 1 and 36500, not 0"),
        ("days => -5, dry_run => true", "days must be between 1 and 36500, not -5"),
        ("batch_size => 2000000000", r"batch_size must be between 1 and 5000 \(max_batch_size\), not 2000000000"),
        ("batch_size => 0", r"batch_size must be between 1 and 5000 \(max_batch_size\), not 0"),
        # beyond integer: bigint parameters, so the range check answers, not "procedure does not exist"
        ("days => 99999999999", "days must be between 1 and 36500, not 99999999999"),
        ("days => -99999999999, dry_run => true", "days must be between 1 and 36500, not -99999999999"),
        ("batch_size => 99999999999", r"batch_size must be between 1 and 5000 \(max_batch_size\), not 99999999999"),
    ],
)
def test_run_cleanup_arguments_are_range_checked_before_a_run_row(arguments: str, message: str) -> None:
    sync()
    runs = RetentionRun.objects.count()
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        with psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True) as conn:
            conn.execute(f"CALL retention.run_cleanup({arguments})")
    assert RetentionRun.objects.count() == runs
    assert not RetentionRun.objects.filter(status="running").exists()


def test_the_admin_days_field_is_range_checked() -> None:
    from django_pg_retention.admin import RunRequestForm as RunForm

    assert not RunForm(data={"days": "99999999"}).is_valid()
    assert "less than or equal to 36500" in str(RunForm(data={"days": "99999999"}).errors)
    assert not RunForm(data={"days": "0"}).is_valid()
    assert RunForm(data={"days": "36500"}).is_valid(), RunForm(data={"days": "36500"}).errors


def test_a_table_name_cannot_end_the_body_of_a_generated_function() -> None:
    """Review item: the generated SQL quotes its body as $purge$ / $select$ and names db_table in
    comments and literals; a name holding the tag would end the body there. The tag then changes."""
    from django.db import models, transaction
    from django.test.utils import isolate_apps

    from django_pg_retention.compiler import compile_model
    from django_pg_retention.models import SoftDeleteMixin

    with isolate_apps("rules"):

        class Dollar(SoftDeleteMixin):
            name = models.CharField(max_length=10)

            class Meta(SoftDeleteMixin.Meta):
                app_label = "rules"
                db_table = "x$purge$y$select$z"

        compiled = compile_model(Dollar, ["public"])
    assert "AS $purge_1$" in compiled.sql and "AS $select_1$" in compiled.sql
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(compiled.sql)  # PL/pgSQL bodies are parsed when called: created, then rolled back
        cursor.execute(
            "SELECT prosrc FROM pg_proc WHERE oid = %s::regprocedure",
            [f"retention.{compiled.purge_function}(text[], boolean)"],
        )
        body = cursor.fetchone()[0]  # type: ignore[index]
        transaction.set_rollback(True)
    assert body.rstrip().endswith("END") and "x$purge$y$select$z" in body


UPGRADE_DB = "retention_sec_upgrade"
# Every object the security section of sql/django_pg_retention--0.1--0.2.sql creates.
SECURITY_OBJECTS = [
    "to_regclass('retention.dry_gone')",
    "to_regprocedure('retention.refuse_planting_sessions()')",
    "to_regprocedure('retention.refuse_shorter_retention(text, integer)')",
    "to_regprocedure('retention.check_run_arguments(bigint, bigint)')",
    "to_regprocedure('retention.max_days()')",
    "to_regprocedure('retention.revoke_executor(regrole)')",
    "to_regprocedure('retention.executor_roles()')",
    "to_regprocedure('retention.record_policy_change()')",
    "(SELECT min(oid) FROM pg_trigger WHERE tgname = 'retention_policy_history')",
    "to_regprocedure('retention.guard_audit_row()')",
    "(SELECT min(oid) FROM pg_trigger WHERE tgname = 'retention_audit_guard_row')",
    # the rest of issue 30: seals of holds and policy history, steps only through run_cleanup
    "to_regclass('retention.record_seal')",
    "to_regprocedure('retention.seal_audit_row()')",
    "(SELECT min(oid) FROM pg_trigger WHERE tgname = 'retention_seal')",
    "to_regprocedure('retention.refuse_direct_step_call()')",
    "to_regprocedure('retention.run_cleanup(boolean, text, bigint, bigint, text, boolean)')",
]


def test_an_upgrade_from_0_1_applies_every_fix_and_the_downgrade_removes_them(executor: str, cron_db: Any) -> None:
    """A database migrated to 0007 (release 0.1.0's SQL) then to the latest: the security objects
    exist, no routine of schema retention names a pg_temp ledger any more, and attack 1 fails; and
    migrating back to 0007 drops them again (0.1's definitions restored)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    manage_py = str(Path(__file__).resolve().parent / "manage.py")
    params = connection.get_connection_params()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {q(UPGRADE_DB)}")
        cursor.execute(f"CREATE DATABASE {q(UPGRADE_DB)}")
    url = f"postgres://{params['user']}@{params.get('host') or 'localhost'}:{params.get('port') or 5432}/{UPGRADE_DB}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "testproject.demo_settings"}

    def migrate(*target: str) -> None:
        done = subprocess.run(
            [sys.executable, manage_py, "migrate", "-v0", *target], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr

    def state(conn: psycopg.Connection[Any]) -> tuple[list[bool], int]:
        present = [conn.execute(f"SELECT {o} IS NOT NULL").fetchone()[0] for o in SECURITY_OBJECTS]  # type: ignore[index]
        temp_ledger = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'retention'::regnamespace"
            " AND prosrc LIKE '%pg\\_temp.retention\\_dry\\_gone%'"
        ).fetchone()[0]  # type: ignore[index]
        return present, temp_ledger

    try:
        migrate()
        migrate("django_pg_retention", "0007")  # 0.1.0's SQL, as an installed 0.1.0 database has it
        with psycopg.connect(server_dsn(UPGRADE_DB), autocommit=True) as conn:
            present, temp_ledger = state(conn)
            assert not any(present) and temp_ledger > 0
        migrate()
        with psycopg.connect(server_dsn(UPGRADE_DB), autocommit=True) as conn:
            present, temp_ledger = state(conn)
            assert all(present) and temp_ledger == 0
            conn.execute("SELECT retention.grant_executor(%s::regrole)", [executor])
        with psycopg.connect(server_dsn(UPGRADE_DB), autocommit=True) as conn:
            conn.execute(sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(executor)))
            plant_temp_tables(conn, executor, ["retention_dry_gone"])
            conn.execute("CALL retention.run_cleanup(dry_run => true)")
            assert conn.execute("SELECT status FROM retention_run ORDER BY id DESC LIMIT 1").fetchone() == (
                "succeeded",
            )
        assert rights_of(executor)["attributes"] == (False, False, False, False, False, True)
        migrate("django_pg_retention", "0007")  # the downgrade drops them again
        with psycopg.connect(server_dsn(UPGRADE_DB), autocommit=True) as conn:
            present, temp_ledger = state(conn)
            assert not any(present) and temp_ledger > 0
    finally:
        cron_db.execute(
            "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE %s",
            [f"django_pg_retention:{UPGRADE_DB}:%"],
        )
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {q(UPGRADE_DB)} WITH (FORCE)")


def test_a_number_the_database_refuses_is_a_command_error_not_a_traceback() -> None:
    """The synced max_batch_size is what run_cleanup checks: a batch size the settings allow but the
    database's configuration does not is refused by SQL, and the command says so, with no run row."""
    from django.core.management import CommandError, call_command

    sync()
    runs = RetentionRun.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE retention_config SET max_batch_size = 10, min_batch_size = 1, batch_size = 10")
    try:
        with pytest.raises(CommandError, match=r"batch_size must be between 1 and 10 \(max_batch_size\), not 20"):
            call_command("cleanup_soft_deleted", "--dry-run", "--batch-size", "20", stdout=io.StringIO())
    finally:
        sync()
    assert RetentionRun.objects.count() == runs


def test_pgtrigger_ignore_set_within_the_statement_does_not_lift_the_append_only_triggers(app_role: str) -> None:
    """Review item: retention_audit_guard is a statement trigger, which fires before a WHERE or SET
    that calls set_config('pgtrigger.ignore', ...); the row guard refuses it for every row of a table
    the application role may write (holds). The run tables refuse its every write anyway."""
    hold = place_hold(Place, "litigation")
    with connection.cursor() as cursor:
        cursor.execute("SELECT retention.start_run(false, NULL, NULL, 'sealed', 'skipped')")
        sealed = cursor.fetchone()[0]  # type: ignore[index]
        cursor.execute(
            "SELECT '{' || string_agg(tgname, ',') || '}' FROM pg_trigger WHERE tgrelid = 'retention_hold'::regclass"
            " AND tgname LIKE 'pgtrigger_%'"
        )
        lifted = cursor.fetchone()[0]  # type: ignore[index]
    with session_of(app_role) as conn:
        for statement in (
            "UPDATE retention_hold SET reason = 'rewritten'"
            " WHERE id = %(id)s AND set_config('pgtrigger.ignore', %(lifted)s, true) IS NOT NULL",
            "UPDATE retention_hold SET reason = set_config('pgtrigger.ignore', %(lifted)s, true) WHERE id = %(id)s",
            "DELETE FROM retention_hold"
            " WHERE id = %(id)s AND set_config('pgtrigger.ignore', %(lifted)s, true) IS NOT NULL",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"pgtrigger\.ignore lifts the append-only"):
                conn.execute(statement, {"id": hold.pk, "lifted": lifted})
        for statement in (
            "UPDATE retention_run SET error = 'rewritten' WHERE id = %(id)s",
            "DELETE FROM retention_run WHERE id = %(id)s",
        ):
            with pytest.raises(
                psycopg.errors.InsufficientPrivilege, match="written by django-pg-retention's own steps"
            ):
                conn.execute(statement, {"id": sealed})
    run = RetentionRun.objects.get(id=sealed)
    assert (run.error, run.status) == ("", "skipped")
    assert RetentionHold.objects.get(pk=hold.pk).reason == "litigation"


def test_every_number_in_the_settings_has_a_range(settings: Any) -> None:
    """Item 7: a number too large for its column or for a timestamp is a system check error naming
    the key and the range, not a failed sync or a run that fails later."""
    from django.core import checks as django_checks

    from django_pg_retention import config

    too_large = {
        key: field.metadata["maximum"] + 1
        for key, field in config.CLEANUP_KEYS.items()
        if field.metadata["maximum"] is not None
    }
    integer_keys = {key for key, field in config.CLEANUP_KEYS.items() if field.metadata["minimum"] is not None}
    assert integer_keys <= set(too_large), integer_keys - set(too_large)  # every bounded number has a maximum
    for key, value in too_large.items():
        settings.RETENTION_CLEANUP_CONFIG = {key: value}
        assert config.cleanup_config_problems(settings.RETENTION_CLEANUP_CONFIG) == [
            (key, f"must be at most {value - 1:,}, not {value:,}")
        ], key
    settings.RETENTION_CLEANUP_CONFIG = {"max_deletions_per_run": {"default": 2**31}}
    assert [m.id for m in django_checks.run_checks() if m.id.startswith("pg_retention.E")] == ["pg_retention.E006"]
    settings.RETENTION_CLEANUP_CONFIG = {}
    settings.SOFT_DELETE_RETENTION_POLICIES = {"default": 36_501}
    messages = [m for m in django_checks.run_checks() if m.id == "pg_retention.E002"]
    assert [m.msg for m in messages] == [
        "SOFT_DELETE_RETENTION_POLICIES['default'] must be at most 36,500 days (100 years), not 36,501."
    ]


STEP_CALLS = [
    "SELECT retention.begin_run(false, NULL, NULL, 'cron')",
    "SELECT retention.begin_run(true, NULL, NULL, 'admin', '0 seconds')",
    "SELECT retention.start_item({run}, 'rules.Place')",
    "SELECT retention.begin_pass({item})",
    "SELECT * FROM retention.purge_batch({item}, NULL, NULL, 10, false)",
    "SELECT retention.finish_item({item}, 'succeeded', '')",
    "SELECT retention.expired_partitions({item})",
    "SELECT retention.drop_partition({item}, 'rules_place'::regclass)",
    "SELECT retention.finish_run({run}, false, 60, '', false)",
    # a DO block, and a function of its own in pg_temp, are not run_cleanup either
    "DO $$ BEGIN PERFORM retention.finish_item({item}, 'failed', 'forged'); END $$",
    "CREATE FUNCTION pg_temp.run_cleanup(boolean, text, bigint, bigint, text, boolean) RETURNS void LANGUAGE plpgsql"
    " AS $f$ BEGIN PERFORM retention.begin_run(false, NULL, NULL, 'forged'); END $f$;"
    " SELECT pg_temp.run_cleanup(false, NULL, NULL, NULL, 'x', false)",
]


@pytest.mark.parametrize("statement", STEP_CALLS)
def test_the_steps_of_run_cleanup_are_refused_outside_it(executor: str, statement: str) -> None:
    """Item 6 (the audit records only what the database computed): the executor may EXECUTE the
    steps (run_cleanup runs with its rights and calls them) but only from run_cleanup, so it cannot
    write a run, an item's status or error, or a triggered_by of its choosing around it."""
    reset_rules_data()
    build_rules_data(random.Random(5))
    with session_of(executor) as conn:
        real = run_as(conn, dry_run=True, triggered_by="sec-steps")  # run_cleanup works for it
        assert real.status == "succeeded" and real.triggered_by == "sec-steps"
        item = real.items.order_by("id").first()
        assert item is not None
        runs = RetentionRun.objects.count()
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match=f"role {executor} may run the steps of run_cleanup"
        ):
            conn.execute(statement.format(run=real.pk, item=item.pk))
    assert RetentionRun.objects.count() == runs
    item.refresh_from_db()
    assert (item.status, item.error) == ("succeeded", "")
    assert verify().ok


def test_policy_history_names_the_django_side_actor_beside_the_role() -> None:
    """Item 5 (who): the role is the database's current_user; the Django user or command is what the
    application says in the transaction (acting_as, retention.actor), which sync and migrate set."""
    from django.core.management import call_command

    from django_pg_retention.models import RetentionPolicy, RetentionPolicyHistory
    from django_pg_retention.sync import acting_as

    def last() -> tuple[Any, ...]:
        row = RetentionPolicyHistory.objects.filter(model_path="rules.Place").order_by("-id")[0]
        return (row.change, row.new_days, row.changed_by, row.actor)

    sync()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]  # type: ignore[index]
    with acting_as("alice"):
        RetentionPolicy.objects.filter(model_path="rules.Place").update(retention_days=400)
    assert last() == ("days_changed", 400, owner, "alice")
    RetentionPolicy.objects.filter(model_path="rules.Place").update(retention_days=401)  # the setting was local
    assert last() == ("days_changed", 401, owner, "")
    call_command("retention", "sync", stdout=io.StringIO())
    assert last() == ("days_changed", 30, owner, "manage.py retention sync")
    assert verify().ok  # the actor is sealed with its row


def test_sync_refuses_sql_older_than_the_package_needs() -> None:
    """Review item: migrated back to 0007 (SQL 0.1), this package's generated functions would use
    SQL 0.2's objects (retention.dry_gone): sync refuses, saying what to run; migrate's own sync
    skips with the same words in the log instead of failing the migration it was asked for."""
    from django.core.management import CommandError, call_command

    from django_pg_retention.sync import REQUIRED_SQL_VERSION, OutdatedSqlError, installed_sql_version

    message = r"holds django-pg-retention SQL 0\.1, older than the 0\.2 .* run `manage\.py migrate django_pg_retention`"
    try:
        call_command("migrate", "django_pg_retention", "0007", verbosity=0)
        assert installed_sql_version() is None
        with pytest.raises(OutdatedSqlError, match=message):
            sync()
        with pytest.raises(CommandError, match=message):
            call_command("retention", "sync", stdout=io.StringIO())
    finally:
        call_command("migrate", "django_pg_retention", verbosity=0)
    assert installed_sql_version() == REQUIRED_SQL_VERSION
    assert not sync().changes
    assert verify().ok


# --- The review of 0.2 before its release: what the application role's table rights, a role that
# may only connect and the executor's own objects could do around a run (docs/security.md).

PLAIN = "retention_sec_plain"  # may connect, nothing else


def refused(conn: psycopg.Connection[Any], statement: str, match: str, params: Any = None) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=match):
        conn.execute(statement, params)  # type: ignore[arg-type]


def test_the_application_role_cannot_write_runs_their_items_proof_or_alerts(app_role: str) -> None:
    """A running item's cutoff or days, a preview's dry_run, the proof's keys before their digest,
    a run sealed by hand: none is the application role's to write, whatever its table rights. Only
    marking an alert mailed or an outbox row done is."""
    soft_deleted_places(3)
    run = purge_once()
    item = run.items.get(model_path="rules.Place")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)"
            " VALUES (%s, 'rules_place', 'numeric', true, '{1}')",
            [item.pk],
        )
        cursor.execute(f"GRANT TRUNCATE ON retention_deleted_keys TO {q(app_role)}")  # as GRANT ALL would
    own = "written by django-pg-retention's own steps"
    with session_of(app_role) as conn:
        for table in (
            "retention_run",
            "retention_run_item",
            "retention_deleted_keys",
            "retention_audit_prune",
            "retention_alert",
            "retention_outbox",
        ):
            refused(conn, f"INSERT INTO {table} SELECT * FROM {table} LIMIT 0", f"{table} is {own}")
        refused(conn, "UPDATE retention_run SET dry_run = NOT dry_run WHERE id = %s", own, [run.pk])
        refused(conn, "UPDATE retention_run_item SET cutoff = now() + interval '1 day', retention_days = 1", own)
        refused(conn, "DELETE FROM retention_run_item WHERE id = %s", own, [item.pk])
        refused(conn, "DELETE FROM retention_deleted_keys", own)
        refused(conn, "TRUNCATE retention_deleted_keys", own)
        conn.execute("UPDATE retention_alert SET sent_at = now() WHERE false")
        conn.execute("UPDATE retention_outbox SET attempts = attempts WHERE false")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM retention_deleted_keys")
        assert cursor.fetchone() == (1,)
        cursor.execute("DELETE FROM retention_deleted_keys")  # the owner may
    assert verify().ok


def test_only_the_owner_writes_what_a_policy_compiles_to(app_role: str) -> None:
    """A policy names the table the definer code counts and the functions it calls: the application
    role may change the days and whether it is active (recorded, warned), nothing else."""
    sync()
    with session_of(app_role) as conn:
        for column, value in (
            ("db_table", "rules_place_view"),
            ("select_function", "select__rules__menu"),
            ("purge_function", "purge__rules__menu"),
            ("deleted_at_column", "id"),
        ):
            refused(
                conn,
                f"UPDATE retention_policy SET {column} = %s WHERE model_path = 'rules.Place'",
                rf"may change the retention_days and is_active of a retention policy, not {column} \(rules.Place\)",
                [value],
            )
        refused(conn, "DELETE FROM retention_policy WHERE model_path = 'rules.Place'", "DELETE is refused")
        refused(
            conn,
            "INSERT INTO retention_policy SELECT * FROM retention_policy WHERE model_path = 'rules.Place'",
            "INSERT is refused",
        )
        conn.execute(
            "UPDATE retention_policy SET retention_days = 45, is_active = true WHERE model_path = 'rules.Place'"
        )
    assert sync().changed == ["rules.Place"]


def test_a_request_shorter_than_a_policy_is_the_owners_alone(app_role: str) -> None:
    """The owner's pg_cron job runs every pending request in the owner's session, which may shorten
    retention: the application role adds pending requests only, none shorter than a policy."""
    sync()
    insert = (
        "INSERT INTO retention_request (requested_by, requested_at, model_path, days, status, error)"
        " VALUES ('mallory', now(), %s, %s, %s, '') RETURNING id"
    )
    shorter = r"a request with days 1 is shorter than the policy of \w+\.\w+ \(\d+ days\): only role"
    with session_of(app_role) as conn:
        refused(conn, insert, shorter, ["rules.Place", 1, "pending"])
        refused(conn, insert, shorter, ["", 1, "pending"])  # every model
        conn.execute("BEGIN")  # the policy switched off around the INSERT
        conn.execute("UPDATE retention_policy SET is_active = false WHERE model_path = 'rules.Place'")
        refused(conn, insert, shorter, ["rules.Place", 1, "pending"])
        conn.execute("ROLLBACK")
        refused(conn, insert, "a new retention_request is pending", ["rules.Place", None, "running"])
        kept = conn.execute(insert, ["rules.Place", None, "pending"]).fetchone()[0]  # type: ignore[index]
        conn.execute(insert, ["rules.Place", 400, "pending"])
        refused(conn, "UPDATE retention_request SET days = 1 WHERE id = %s", "may add one, not update one", [kept])
        refused(conn, "DELETE FROM retention_request WHERE id = %s", "may add one, not delete one", [kept])
    with connection.cursor() as cursor:
        cursor.execute(insert, ["rules.Place", 1, "pending"])  # the owner may
        cursor.execute("DELETE FROM retention_request")


@pytest.fixture
def plain_role() -> Iterator[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [PLAIN])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {q(PLAIN)} NOLOGIN NOSUPERUSER")
    yield PLAIN
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {q(PLAIN)}")
        cursor.execute(f"DROP ROLE {q(PLAIN)}")


def test_a_role_that_may_only_connect_cannot_hold_the_locks_of_runs_seals_or_holds(plain_role: str) -> None:
    """0.1's locks were advisory locks, which any session may take: held, every run was recorded
    skipped, a purged run waited unsealed, and holds could not be placed. Now they are rows of the
    owner's retention.locks, which no other role can lock."""
    soft_deleted_places(2)
    with session_of(plain_role) as conn:
        for name in ("run_cleanup", "chain", "record_seal", "real_run_waiting", "drain_requests"):
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [f"django_pg_retention.{name}"])
        refused(conn, "SELECT 1 FROM retention.locks FOR UPDATE", "permission denied for schema retention")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        run = purge_once()
        assert (run.status, run.rows_deleted) == ("succeeded", 2) and run.chain_position is not None
        hold = place_hold(Place, "litigation", lock_wait=5)
        assert hold.pk is not None
    assert verify().ok


def test_a_run_in_a_session_whose_state_the_owner_cannot_see_counts_as_running(plain_role: str) -> None:
    """backend_is_running runs as the owner, who sees the state of another role's session only with
    pg_read_all_stats: 0.1 took the hidden state for "not running", and a second call sealed a live
    run as interrupted and started its own beside it."""
    function = "retention.backend_is_running(integer, timestamptz)"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT proowner::regrole::text FROM pg_proc WHERE oid = '{function}'::regprocedure")
        owner = cursor.fetchone()[0]  # type: ignore[index]
        cursor.execute(f"ALTER FUNCTION {function} OWNER TO {q(plain_role)}")  # an owner without the right
    try:
        with psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True) as other:
            pid, started = other.execute("SELECT pg_backend_pid(), now()").fetchone()  # type: ignore[misc]
            name = function.split("(")[0]
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {name}(%s, %s), {name}(-1, %s)", [pid, started, started])
                assert cursor.fetchone() == (True, False)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER FUNCTION {function} OWNER TO {q(owner)}")


def test_code_the_executor_puts_on_its_path_does_not_run_inside_run_cleanup(executor: str) -> None:
    """run_cleanup cannot pin its search_path (it commits): a type of the caller's pg_temp (looked up
    before pg_catalog) or an operator of the caller's first on its path ran inside it, where the steps
    took that code for run_cleanup itself (it sealed an item's status and error of its choosing).
    Every type and operator it names is qualified: neither runs, and the run is exact."""
    soft_deleted_places(2)
    boom = "BEGIN RAISE EXCEPTION 'caller code ran inside run_cleanup'; END"
    with session_of(executor) as conn:
        conn.execute(f"CREATE FUNCTION pg_temp.boom(anyelement) RETURNS boolean LANGUAGE plpgsql AS $f$ {boom} $f$")
        for name in ("jsonb", "text", "timestamptz", "regclass"):
            conn.execute(f"CREATE DOMAIN pg_temp.{name} AS pg_catalog.{name} CHECK (pg_temp.boom(VALUE))")
        schema = q(PLANTED)
        for op, left, right in (
            ("?", "jsonb", "text"),
            ("=", "text", "text"),
            ("<>", "text", "text"),
            ("->>", "jsonb", "text"),
            ("||", "jsonb", "jsonb"),
            (">=", "timestamptz", "timestamptz"),
            ("+", "bigint", "bigint"),
            ("=", "bigint", "bigint"),
            (">", "integer", "integer"),
        ):
            fn = f"{schema}.op_{len(op)}_{left}_{right}_{abs(hash(op)) % 1000}"
            conn.execute(
                f"CREATE FUNCTION {fn}(a {left}, b {right}) RETURNS boolean LANGUAGE plpgsql AS $f$ {boom} $f$"
            )
            conn.execute(f"CREATE OPERATOR {schema}.{op} (LEFTARG = {left}, RIGHTARG = {right}, FUNCTION = {fn})")
        conn.execute(sql.SQL("SET search_path = {}, pg_catalog, public").format(sql.Identifier(PLANTED)))
        preview = run_as(conn, dry_run=True)
        real = run_as(conn)
    assert (preview.status, real.status, real.rows_deleted) == ("succeeded", "succeeded", 2), (
        preview.error,
        real.error,
    )
    assert not Place.objects.exists()


def test_who_a_session_of_the_executor_says_it_acts_for_is_recorded_as_its_claim(executor: str) -> None:
    """retention.requested_by names the admin user a run was asked by; a session other than the
    owner's sets it as it likes, so the run records whose claim it is."""
    with session_of(executor) as conn:
        conn.execute("SET retention.requested_by = 'alice'")
        run = run_as(conn, dry_run=True)
    assert run.requested_by == f"alice (said role {executor})"
    with connection.cursor() as cursor:  # the owner's session: as given
        cursor.execute("SET retention.requested_by = 'alice'")
        cursor.execute("CALL retention.run_cleanup(dry_run => true)")
        cursor.execute("RESET retention.requested_by")
    assert RetentionRun.objects.order_by("-id").first().requested_by == "alice"  # type: ignore[union-attr]


def test_a_trigger_of_another_role_on_a_table_the_purge_deletes_from_stops_every_run(app_role: str) -> None:
    """A role granted TRIGGER on the app's tables (GRANT ALL gives it) could put a trigger on a table
    the purge deletes from: its function would run with the rights of the role deleting, the owner
    inside the definer steps. While such a trigger is there no run starts, the owner's neither."""
    soft_deleted_places(2)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA retention_sec_app_own AUTHORIZATION {q(app_role)}")
        cursor.execute(f"GRANT TRIGGER ON rules_place TO {q(app_role)}")
    before = rights_of(app_role)
    try:
        with session_of(app_role) as conn:
            conn.execute(
                "CREATE FUNCTION retention_sec_app_own.pwn() RETURNS trigger LANGUAGE plpgsql AS"
                f" $f$ BEGIN {escalation(app_role)} RETURN NULL; END $f$"
            )
            conn.execute(
                "CREATE TRIGGER pwn AFTER DELETE ON rules_place FOR EACH STATEMENT"
                " EXECUTE FUNCTION retention_sec_app_own.pwn()"
            )
        runs = RetentionRun.objects.count()
        with (
            connection.cursor() as cursor,
            pytest.raises(
                DatabaseError,
                match=r"trigger pwn on public.rules_place runs retention_sec_app_own.pwn\(\), owned by role",
            ),
        ):
            cursor.execute("CALL retention.run_cleanup()")
        assert RetentionRun.objects.count() == runs and Place.objects.count() == 2
        assert rights_of(app_role) == before
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER pwn ON rules_place")
        # SECURITY DEFINER does not make it harmless: it may SET the session's search_path, which
        # outlives the SET clauses of the steps around it.
        with session_of(app_role) as conn:
            conn.execute("ALTER FUNCTION retention_sec_app_own.pwn() SECURITY DEFINER")
            conn.execute(
                "CREATE TRIGGER pwn AFTER DELETE ON rules_place FOR EACH STATEMENT"
                " EXECUTE FUNCTION retention_sec_app_own.pwn()"
            )
        with connection.cursor() as cursor, pytest.raises(DatabaseError, match=r"trigger pwn on public.rules_place"):
            cursor.execute("CALL retention.run_cleanup()")
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER pwn ON rules_place")
        assert purge_once().rows_deleted == 2
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA retention_sec_app_own CASCADE")
            cursor.execute(f"REVOKE TRIGGER ON rules_place FROM {q(app_role)}")


def test_the_application_role_cannot_forge_history_config_or_what_the_drains_trust(app_role: str) -> None:
    """A policy history row it inserts itself (claiming the owner), a config change (a pause of 24
    days stalled every run unrecorded), an outbox row rewritten to name another model's live file or
    drained again (the drain deleted that file), an alert hidden or rewritten: all refused; marking
    an outbox row or an alert done, as retention_drain and retention_notify do, is not."""
    sync()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO retention_outbox (model_path, object_pk, files, snapshot, created_at, done_at, attempts,"
            " last_error) VALUES ('rules.Place', '1', '{}', '{}', now(), NULL, 0, '') RETURNING id"
        )
        outbox = cursor.fetchone()[0]  # type: ignore[index]
        cursor.execute("SELECT retention.start_run(false, NULL, NULL, 'sealed', 'skipped')")
        run = cursor.fetchone()[0]  # type: ignore[index]
        cursor.execute(
            "INSERT INTO retention_alert (run_id, kind, message, created_at) VALUES (%s, 'failed', 'run failed', now())"
            " RETURNING id",
            [run],
        )
        alert = cursor.fetchone()[0]  # type: ignore[index]
    with session_of(app_role) as conn:
        refused(conn, "UPDATE retention_alert SET message = 'all fine' WHERE id = %s", "not message", [alert])
        refused(conn, "DELETE FROM retention_alert WHERE id = %s", "DELETE is refused", [alert])
        conn.execute("UPDATE retention_alert SET sent_at = now() WHERE id = %s", [alert])
        refused(
            conn,
            "INSERT INTO retention_policy_history (model_path, change, old_days, new_days, old_source, new_source,"
            " changed_at, changed_by, detail, actor) VALUES ('rules.Place', 'days_changed', 30, 30, '', '',"
            " now() - interval '1 year', 'postgres', '', 'manage.py migrate')",
            "retention_policy_history rows are written by the database when a policy changes",
        )
        refused(conn, "UPDATE retention_config SET batch_pause_ms = 2147483647", "retention_config is written by")
        refused(
            conn, "UPDATE retention_outbox SET model_path = 'leases.Lease' WHERE id = %s", "not model_path", [outbox]
        )
        refused(conn, "DELETE FROM retention_outbox WHERE id = %s", "DELETE is refused", [outbox])
        conn.execute("UPDATE retention_outbox SET done_at = now(), attempts = 1 WHERE id = %s", [outbox])
        refused(conn, "UPDATE retention_outbox SET done_at = NULL WHERE id = %s", "done_at once set", [outbox])
        conn.execute("UPDATE retention_policy SET retention_days = 31 WHERE model_path = 'rules.Place'")
    assert history_of("rules.Place")[-1][:4] == ("days_changed", 30, 31, app_role)
    sync()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM retention_outbox")  # the owner may
        cursor.execute("SELECT message, sent_at IS NOT NULL FROM retention_alert WHERE id = %s", [alert])
        assert cursor.fetchone() == ("run failed", True)


def test_a_run_table_another_role_keeps_locked_fails_the_start_instead_of_holding_runs_back(app_role: str) -> None:
    """UPDATE rights on the run table let a role lock it (no trigger fires for a lock): a run's start
    then fails after lock_timeout_ms, as a failed CALL pg_cron records, instead of waiting forever
    with later runs held back."""
    with session_of(app_role) as conn:
        conn.execute("BEGIN")
        conn.execute("LOCK TABLE retention_run IN SHARE ROW EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '60s'")
            started = time.monotonic()
            with pytest.raises(DatabaseError, match="lock timeout"):
                cursor.execute("CALL retention.run_cleanup(dry_run => true)")
            cursor.execute("RESET statement_timeout")
        assert time.monotonic() - started < 30
        conn.execute("ROLLBACK")
    assert call_cleanup(dry_run=True).status == "succeeded"


def test_a_foreign_trigger_that_appears_during_a_batch_undoes_the_batch(app_role: str) -> None:
    """A trigger created between a step's check and its DELETE (CREATE TRIGGER does not wait for a
    select's row locks) fires as the owner; the batch checks again after its purge, before it
    commits, and is undone. Simulated by a trigger whose function changes hands while it fires."""
    soft_deleted_places(2)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION public.retention_sec_turncoat() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN"
            f" ALTER FUNCTION public.retention_sec_turncoat() OWNER TO {q(app_role)}; RETURN NULL; END $f$"
        )
        cursor.execute(
            "CREATE TRIGGER turncoat AFTER DELETE ON rules_place FOR EACH STATEMENT"
            " EXECUTE FUNCTION public.retention_sec_turncoat()"
        )
    try:
        run = call_cleanup(model="rules.Place")
        item = run.items.get(model_path="rules.Place")
        assert (run.status, item.status, item.deleted) == ("failed", "failed", 0)
        assert "trigger turncoat on public.rules_place runs public.retention_sec_turncoat()" in item.error
        assert Place.objects.count() == 2
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER turncoat ON rules_place")
            cursor.execute("DROP FUNCTION public.retention_sec_turncoat()")


def test_a_request_the_application_role_added_runs_no_shorter_than_the_policies_when_drained(app_role: str) -> None:
    """The days of a policy lowered for the transaction of the INSERT and put back: the drain (the
    owner's session, which may shorten retention) checks the request against the policies again and
    fails it; a request within them runs, its requester recorded as the role's claim."""
    sync()
    soft_deleted_places(2, age=timedelta(days=2))
    insert = (
        "INSERT INTO retention_request (requested_by, requested_at, model_path, days, status, error)"
        " VALUES ('mallory', now(), 'rules.Place', %s, 'pending', '') RETURNING id"
    )
    with session_of(app_role) as conn, conn.transaction():
        conn.execute("UPDATE retention_policy SET retention_days = 1 WHERE model_path = 'rules.Place'")
        shorter = conn.execute(insert, [1]).fetchone()[0]  # type: ignore[index]
        conn.execute("UPDATE retention_policy SET retention_days = 30 WHERE model_path = 'rules.Place'")
    with session_of(app_role) as conn:
        kept = conn.execute(insert, [None]).fetchone()[0]  # type: ignore[index]
    with connection.cursor() as cursor:
        cursor.execute("CALL retention.drain_requests()")
        cursor.execute("SELECT id, status, error, added_by, run_id FROM retention_request ORDER BY id")
        rows = {r[0]: r[1:] for r in cursor.fetchall()}
    assert rows[shorter][:3] == (
        "failed",
        f"days 1 is shorter than the policy of rules.Place (30 days), and role {app_role} that added the request"
        " may not shorten retention",
        app_role,
    )
    assert rows[kept][0] == "done"
    assert RetentionRun.objects.get(pk=rows[kept][3]).requested_by == f"mallory (said role {app_role})"
    assert Place.objects.count() == 2  # 2 days old, under a 30-day policy
