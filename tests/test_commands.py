"""The commands and the Python API: they call the procedure and read the audit, never the rows."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from datetime import timedelta
from typing import Any

import pytest
from conftest import server_dsn
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from purge_helpers import reset_rules_data, soft_deleted_places
from rules.models import Author, Place

from django_pg_retention import get_retention_manager
from django_pg_retention.compiler import compile_model
from django_pg_retention.models import RetentionPolicy, RetentionPolicyHistory, RetentionRun, RetentionRunItem
from django_pg_retention.sync import sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reset_rules")]


def run_command(*args: str, **kwargs: Any) -> str:
    out = io.StringIO()
    call_command("cleanup_soft_deleted", *args, stdout=out, **kwargs)
    return out.getvalue()


def test_dry_run_default_previews_and_execute_deletes() -> None:
    soft_deleted_places(4)
    output = run_command("--model", "rules.Place")
    assert "DRY RUN" in output and "rules.Place" in output
    assert Place.objects.count() == 4
    run = RetentionRun.objects.latest("id")
    assert run.dry_run and run.triggered_by == "command"

    output = run_command("--model", "rules.Place", "--execute")
    assert "Rows deleted (roots and cascades): 4" in output
    assert not Place.objects.exists()


def test_json_output_matches_the_audit_tables() -> None:
    soft_deleted_places(3)
    data = json.loads(run_command("--model", "rules.Place", "--execute", "--format", "json"))
    item = RetentionRunItem.objects.get(run_id=data["run_id"])
    assert data["status"] == "succeeded" and not data["dry_run"]
    assert data["items"][0]["deleted"] == item.deleted == 3
    assert data["items"][0]["cascaded"] == {"rules_place": 3}


def test_days_and_batch_size_reach_the_procedure() -> None:
    soft_deleted_places(5, age=timedelta(days=10))  # younger than the 30-day policy
    run_command("--model", "rules.Place", "--execute")
    assert Place.objects.count() == 5
    run_command("--model", "rules.Place", "--execute", "--days", "7", "--batch-size", "2")
    item = RetentionRunItem.objects.latest("id")
    assert (item.retention_days, item.policy_source, item.deleted, item.batches) == (7, "override", 5, 3)


def test_large_deletions_are_refused_without_force(settings: Any) -> None:
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "large_deletion_threshold": 3}
    soft_deleted_places(5)
    with pytest.raises(CommandError, match=r"Large deletion refused: 5 eligible rows \(rules.Place: 5\)"):
        run_command("--execute")
    assert Place.objects.count() == 5
    run_command("--execute", "--force")
    assert not Place.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "rules.Nope"], "'rules.Nope' is not an installed model"),
        (["--model", "Author"], "'Author' is not an installed model"),
        (["--model", "rules.Book"], "rules.Book is not soft-deletable"),
        (["--database", "other"], "'other' is not in DATABASES"),
    ],
)
def test_bad_input_is_named(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run_command(*args)


def test_a_failed_model_makes_the_command_fail() -> None:
    soft_deleted_places(1)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$;"
            "CREATE TRIGGER test_boom BEFORE DELETE ON rules_place FOR EACH ROW EXECUTE FUNCTION test_boom();"
        )
    try:
        with pytest.raises(CommandError, match=r"failed: rules.Place: boom"):
            run_command("--model", "rules.Place", "--execute")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_boom ON rules_place; DROP FUNCTION test_boom();")


def test_the_command_never_loads_rows_into_python() -> None:
    """Same queries whatever the data size, and none reads a purged table's rows."""

    def queries(n: int) -> list[str]:
        reset_rules_data()
        soft_deleted_places(n)
        with CaptureQueriesContext(connection) as ctx:
            run_command("--model", "rules.Place", "--execute", "--force")
        assert not Place.objects.exists()
        return [q["sql"] for q in ctx.captured_queries]

    small, large = queries(10), queries(3000)
    assert len(small) == len(large)
    for statement in large:
        lowered = statement.lower()
        if "rules_place" in lowered:
            assert lowered.startswith("select count(*)"), statement
    assert any("call retention.run_cleanup" in s.lower() for s in large)


def test_psql_alone_purges() -> None:
    """CALL retention.run_cleanup() from psql, with no Python in the loop."""
    soft_deleted_places(2)
    psql = shutil.which("psql")
    assert psql, "psql (the PostgreSQL client) must be installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    dsn = server_dsn(connection.settings_dict["NAME"])
    subprocess.run([psql, dsn, "-v", "ON_ERROR_STOP=1", "-c", "CALL retention.run_cleanup()"], check=True, env=env)
    assert not Place.objects.exists()
    assert RetentionRun.objects.latest("id").triggered_by == "sql"


def test_retention_sync_is_idempotent_and_records_history(settings: Any) -> None:
    out = io.StringIO()
    call_command("retention", "sync", stdout=out)
    assert out.getvalue().strip().endswith("0 change(s)")

    settings.SOFT_DELETE_RETENTION_POLICIES = {**settings.SOFT_DELETE_RETENTION_POLICIES, "rules.Author": 45}
    result = sync()
    assert result.changed == ["rules.Author"]
    assert RetentionPolicy.objects.get(model_path="rules.Author").retention_days == 45
    change = RetentionPolicyHistory.objects.filter(model_path="rules.Author").latest("id")
    assert (change.change, change.old_days, change.new_days) == ("days_changed", 30, 45)
    assert change.old_source == "app_level" and change.new_source == "model_specific"
    assert sync().changes == 0


def test_retention_sync_counts_a_changed_setting(settings: Any) -> None:
    sync()
    settings.RETENTION_CLEANUP_CONFIG = {
        **settings.RETENTION_CLEANUP_CONFIG,
        "batch_size": 777,
        "max_deletions_per_run": {"default": 100_000, "rules.Place": 9},
    }
    out = io.StringIO()
    call_command("retention", "sync", stdout=out)
    assert "settings changed: batch_size, rules.Place max_deletions_per_run" in out.getvalue()
    assert out.getvalue().strip().endswith("retention sync: 2 change(s)")
    assert sync().changes == 0


def test_help_names_every_action_and_the_default_mode(capsys: pytest.CaptureFixture[str]) -> None:
    for command, expected in (
        ("retention", ["sync", "status", "sql", "show", "verify"]),
        ("cleanup_soft_deleted", ["previews when", "dry_run_default", "JSON for scripts"]),
    ):
        with pytest.raises(SystemExit):
            call_command(command, "--help")
        text = " ".join(capsys.readouterr().out.split())
        assert all(word in text for word in expected), (command, text)


def test_execute_without_a_terminal_says_it_did_not_ask(settings: Any) -> None:
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "require_confirmation": True}
    soft_deleted_places(2)
    err = io.StringIO()
    call_command("cleanup_soft_deleted", "--execute", stdout=io.StringIO(), stderr=err)
    assert "require_confirmation: not asked, stdin is not a terminal; deleting 2 eligible rows" in err.getvalue()


def test_sync_deactivates_policies_of_models_that_are_gone() -> None:
    RetentionPolicy.objects.create(
        model_path="rules.Gone",
        db_table="rules_gone",
        pk_column="id",
        retention_days=30,
        policy_source="app_level",
        purge_function="purge__rules__gone",
        select_function="select__rules__gone",
        position=99,
        sql_hash="x",
    )
    assert sync().deactivated == ["rules.Gone"]
    assert not RetentionPolicy.objects.get(model_path="rules.Gone").is_active
    assert RetentionPolicyHistory.objects.filter(model_path="rules.Gone", change="deactivated").exists()


def test_retention_sql_prints_what_is_installed() -> None:
    out = io.StringIO()
    call_command("retention", "sql", "rules.Author", stdout=out)
    compiled = compile_model(Author, ["public"])
    assert compiled.sql in out.getvalue() and compiled.sql_hash in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT obj_description('retention.purge__rules__author(text[], boolean)'::regprocedure, 'pg_proc')"
        )
        assert cursor.fetchone()[0] == f"django-pg-retention sha256:{compiled.sql_hash}"


def test_retention_show_prints_a_run() -> None:
    soft_deleted_places(2)
    run_command("--model", "rules.Place", "--execute")
    out = io.StringIO()
    call_command("retention", "show", "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["items"][0]["cascaded"] == {"rules_place": 2}
    with pytest.raises(CommandError, match="no retention run 999"):
        call_command("retention", "show", "999")


def test_python_api() -> None:
    manager = get_retention_manager()
    assert manager.get_retention_days("leases.Lease") == 2555
    assert manager.get_retention_days("rules.Author") == 30
    assert manager.get_retention_days("maintenance.Unknown") == 180  # app level
    assert manager.get_retention_days("nowhere.Model") == 90  # default
    assert Author in manager.get_soft_delete_models()
    assert {p.model_path for p in manager.get_all_policies()} >= {"rules.Author", "leases.Lease"}

    soft_deleted_places(3)
    soft_deleted_places(2, age=timedelta(days=1))
    eligible = manager.get_eligible_records(Place)
    assert eligible.count() == 3
    preview = manager.cleanup_model(Place, dry_run=True)
    assert (preview["total_eligible"], preview["would_delete"], preview["deleted_count"]) == (3, 3, 0)
    done = manager.cleanup_model(Place, dry_run=False)
    assert (done["total_eligible"], done["deleted_count"]) == (3, 3)
    assert Place.objects.count() == 2

    with pytest.raises(ValueError, match="does not support soft deletion"):
        manager.get_eligible_records(RetentionRun)

    report = manager.generate_cleanup_report()
    assert set(report) == {"generated_at", "models", "summary"}
    place = next(m for m in report["models"] if m["model_path"] == "rules.Place")
    assert (place["eligible_for_cleanup"], place["total_soft_deleted"], place["retention_days"]) == (0, 2, 30)
    assert report["summary"]["total_models"] == len(report["models"])
