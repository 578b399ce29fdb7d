"""Least privilege: nothing that deletes is PUBLIC's; the named executor role can purge, others cannot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from conftest import server_dsn
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg import sql
from purge_helpers import reset_rules_data
from rules.models import Place

from django_pg_retention.audit import ensure_triggers, missing_triggers
from django_pg_retention.models import RetentionPolicy, RetentionRun, RetentionRunItem
from django_pg_retention.sync import sync

pytestmark = pytest.mark.django_db(transaction=True)

EXECUTOR = "retention_test_executor"
OUTSIDER = "retention_test_outsider"


@pytest.fixture
def roles() -> Iterator[None]:
    """Two roles that are not superusers: the executor with no rights on any table, the outsider
    with every right on every table (TRUNCATE included) but no grant in schema retention."""
    with connection.cursor() as cursor:
        for role in (EXECUTOR, OUTSIDER):
            name = sql.Identifier(role).as_string(None)
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE ROLE {name} NOLOGIN NOSUPERUSER")
        outsider = sql.Identifier(OUTSIDER).as_string(None)
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO {outsider}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {outsider}")
    yield
    with connection.cursor() as cursor:
        for role in (EXECUTOR, OUTSIDER):
            name = sql.Identifier(role).as_string(None)
            cursor.execute(f"DROP OWNED BY {name}")  # the grants of this database
            cursor.execute(f"DROP ROLE {name}")


def session_as(role: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True)
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    return conn


def purge_as(role: str) -> None:
    with session_as(role) as conn:
        conn.execute("CALL retention.run_cleanup(model => 'rules.Place', triggered_by => 'role-test')")


def test_only_the_executor_role_can_purge_and_only_through_run_cleanup(settings: Any, roles: None) -> None:
    reset_rules_data()
    now = timezone.now()
    Place.objects.bulk_create(
        Place(name=f"p{i}", is_deleted=True, deleted_at=now - timedelta(days=100)) for i in range(3)
    )

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema retention"):
        purge_as(EXECUTOR)  # not granted yet
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "executor_role": EXECUTOR}
    sync()
    with session_as(EXECUTOR) as conn:  # a dry run too: its ledger (retention.dry_gone) is the owner's
        conn.execute("CALL retention.run_cleanup(dry_run => true, model => 'rules.Place', triggered_by => 'role-dry')")
    preview = RetentionRun.objects.get(triggered_by="role-dry")
    assert (preview.status, preview.items.get().deleted, Place.objects.count()) == ("succeeded", 3, 3)
    purge_as(EXECUTOR)  # with no right on any table: the steps of run_cleanup run as their owner
    assert not Place.objects.exists()
    run = RetentionRun.objects.get(triggered_by="role-test")
    assert (run.status, run.rows_deleted) == ("succeeded", 3) and run.hash
    assert run.items.get().digests["rules_place"]["count"] == 3

    Place.objects.create(name="again", is_deleted=True, deleted_at=now - timedelta(days=100))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        purge_as(OUTSIDER)  # every right on the tables, no grant
    purge = RetentionPolicy.objects.get(model_path="rules.Place").purge_function
    select = RetentionPolicy.objects.get(model_path="rules.Place").select_function
    with session_as(EXECUTOR) as conn:
        # Nothing that deletes or rewrites the audit, except through a run of its own session.
        for statement in (
            sql.SQL("SELECT {}(ARRAY['1'], false)").format(sql.Identifier("retention", purge)),
            sql.SQL("SELECT * FROM {}(now(), NULL, NULL, 10, false, false)").format(
                sql.Identifier("retention", select)
            ),
            sql.SQL("SELECT retention.seal_run(1)"),
            sql.SQL("SELECT retention.prune_audit(100000)"),
            sql.SQL("SELECT retention.record_batch(1, NULL, NULL, 0, 1, 1, false)"),
            sql.SQL("SELECT retention.start_run(false, NULL, NULL, 'x')"),
            sql.SQL("SELECT retention.item_digests(1)"),
            sql.SQL("DELETE FROM rules_place"),
            sql.SQL("UPDATE retention_run SET error = ''"),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # The steps it may call refuse a run that another session is running.
        with connection.cursor() as cursor:
            cursor.execute("SELECT retention.start_run(false, NULL, NULL, 'other session')")
            other_run = cursor.fetchone()[0]  # type: ignore[index]
            cursor.execute("SELECT (retention.start_item(%s, 'rules.Place')).id", [other_run])
            other_item = cursor.fetchone()[0]  # type: ignore[index]
        for statement, args in (
            ("SELECT * FROM retention.purge_batch(%s, NULL, NULL, 10, false)", [other_item]),
            ("SELECT retention.start_item(%s, 'rules.Place')", [other_run]),
            ("SELECT retention.finish_item(%s, 'succeeded', '')", [other_item]),
            ("SELECT retention.expired_partitions(%s)", [other_item]),
            ("SELECT retention.drop_partition(%s, 'rules_place'::regclass)", [other_item]),
            ("SELECT retention.finish_run(%s, false, 60)", [other_run]),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not a run this session is running"):
                conn.execute(statement, args)  # type: ignore[arg-type]
    assert Place.objects.count() == 1
    assert RetentionRunItem.objects.get(id=other_item).status == "running"


def test_audit_tables_refuse_truncate_and_pgtrigger_ignore_to_roles_that_do_not_own_them(roles: None) -> None:
    """The append-only triggers are row triggers of django-pgtrigger: TRUNCATE skips them and any
    role may set pgtrigger.ignore. A role with every right on the tables still cannot use either."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT retention.start_run(false, NULL, NULL, 'sealed', 'skipped')")
        sealed = cursor.fetchone()[0]  # type: ignore[index]
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'retention_run'::regclass"
            " AND tgname LIKE 'pgtrigger_append_only_update%'"
        )
        append_only = cursor.fetchone()[0]  # type: ignore[index]
    with session_as(OUTSIDER) as conn:
        for table in (
            "retention_run",
            "retention_run_item",
            "retention_policy_history",
            "retention_hold",
            "retention_audit_prune",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"{table} is an audit table"):
                conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(table)))
        conn.execute("SELECT set_config('pgtrigger.ignore', %s, false)", ["{" + append_only + "}"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"pgtrigger\.ignore lifts the append-only"):
            conn.execute("UPDATE retention_run SET error = 'rewritten' WHERE id = %s", [sealed])
    assert RetentionRun.objects.get(id=sealed).error == ""  # as sealed

    # A disabled guard is reported like a disabled append-only trigger, and sync enables it again.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE retention_hold DISABLE TRIGGER retention_audit_guard")
    assert missing_triggers() == ["retention_hold.retention_audit_guard"]
    assert ensure_triggers() == ["retention_hold.retention_audit_guard"]
    assert missing_triggers() == []


def test_an_unknown_executor_role_is_named(settings: Any) -> None:
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "executor_role": "no_such_role"}
    with pytest.raises(ImproperlyConfigured, match="names 'no_such_role', which is not a role"):
        sync()


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE retention_policy SET retention_days = 0", "retention_policy_days_at_least_1"),
        ("UPDATE retention_policy SET retention_days = 99999999", "retention_policy_days_at_most_max"),
        ("UPDATE retention_policy SET max_deletions_per_run = 0", "retention_policy_max_deletions_at_least_1"),
        ("UPDATE retention_policy SET deleted_at_column = ''", "retention_policy_deleted_at_column_set"),
        ("UPDATE retention_config SET batch_size = 0", "retention_config_values_in_range"),
        ("UPDATE retention_config SET max_batch_size = min_batch_size - 1", "retention_config_values_in_range"),
        (
            "INSERT INTO retention_request (requested_by, requested_at, model_path, days, status, error)"
            " VALUES ('x', now(), '', 0, 'pending', '')",
            "retention_request_days_at_least_1",
        ),
        (
            "INSERT INTO retention_request (requested_by, requested_at, model_path, days, status, error)"
            " VALUES ('x', now(), '', 99999999, 'pending', '')",
            "retention_request_days_at_most_max",
        ),
    ],
)
def test_control_tables_refuse_what_the_settings_checks_refuse(statement: str, constraint: str) -> None:
    """A row written by hand cannot hold what settings cannot: retention_days 0 would make every
    soft-deleted row eligible."""
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)


def test_an_application_role_places_canonical_holds_but_cannot_rewrite_how_holds_are_read(roles: None) -> None:
    """retention_hold_target (SQL 0.2) decides how a hold's key is read: the outsider, with DML on
    every table, cannot change it, and its own INSERT of a hold is normalised like any other."""
    reset_rules_data()
    place = Place.objects.create(name="held", is_deleted=True, deleted_at=timezone.now() - timedelta(days=100))
    with session_as(OUTSIDER) as conn:
        for statement in (
            "UPDATE retention_hold_target SET pk_type = 'text' WHERE model_path = 'rules.Place'",
            "DELETE FROM retention_hold_target",
            "TRUNCATE retention_hold_target",
            "INSERT INTO retention_hold_target VALUES ('auth.Group', 'public', 'auth_group', 'id', 'integer')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="written by retention sync"):
                conn.execute(statement)
        conn.execute(
            "INSERT INTO retention_hold (model_path, object_pk, reason, created_by, created_at, released_by)"
            " VALUES ('rules.Place', %s, 'x', 'app', now(), '')",
            [f"00{place.pk}"],
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT object_pk FROM retention_hold")
        assert cursor.fetchall() == [(str(place.pk),)]
        cursor.execute("SELECT pk_type FROM retention_hold_target WHERE model_path = 'rules.Place'")
        assert cursor.fetchall() == [("bigint",)]
