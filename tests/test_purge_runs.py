"""How a run behaves around other sessions: restores, concurrent calls, kills, locks, budgets, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from purge_helpers import (
    ELIGIBLE_AGE,
    app_db_dsn,
    call_cleanup,
    rules_tables,
    snapshot,
    soft_deleted_places,
    start_cleanup,
    unattended_run_over_the_limit,
    wait_for,
)
from rules.models import Author, Language, Place

from django_pg_retention.models import RetentionRequest, RetentionRun, RetentionRunItem
from django_pg_retention.sync import sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reset_rules")]


def cancel_midway(client: psycopg.Connection[Any], statement: str, until: Any) -> None:
    """Run ``statement`` on ``client`` in a thread and cancel it (pg_cancel_backend) once ``until()``
    holds; the client's session stays open."""

    def run() -> None:
        with pytest.raises(psycopg.errors.QueryCanceled):
            client.execute(statement)  # type: ignore[arg-type]

    thread = threading.Thread(target=run)
    thread.start()
    wait_for(until)
    with psycopg.connect(app_db_dsn(), autocommit=True) as other:
        other.execute("SELECT pg_cancel_backend(%s)", [client.info.backend_pid])
    thread.join(30)


def deleted_places(run: RetentionRun | None = None) -> int:
    qs = RetentionRunItem.objects.filter(model_path="rules.Place")
    if run is not None:
        qs = qs.filter(run=run)
    return sum(i.deleted for i in qs)


def test_a_row_restored_while_a_purge_runs_survives(slow_place_deletes: Callable[[float], None]) -> None:
    slow_place_deletes(0.05)
    pks = soft_deleted_places(30)
    thread, _ = start_cleanup(model="rules.Place", batch_size=1, triggered_by="test")
    wait_for(lambda: deleted_places() >= 3)
    # Restore the last rows (the purge goes in deleted_at order) from another transaction.
    restored = pks[-5:]
    with psycopg.connect(app_db_dsn(), autocommit=True) as other:
        other.execute(
            "UPDATE rules_place SET is_deleted = false, deleted_at = NULL WHERE id = ANY(%s)",
            [restored],
        )
    thread.join(30)
    assert set(Place.objects.values_list("pk", flat=True)) == set(restored)
    run = RetentionRun.objects.get(triggered_by="test")
    assert run.status == "succeeded"
    assert deleted_places(run) == 25


def test_two_concurrent_calls_one_purges_the_other_is_skipped(slow_place_deletes: Callable[[float], None]) -> None:
    slow_place_deletes(0.05)
    soft_deleted_places(20)
    thread, _ = start_cleanup(model="rules.Place", batch_size=2, triggered_by="first")
    wait_for(lambda: RetentionRun.objects.filter(triggered_by="first", status="running").exists())
    second = call_cleanup(model="rules.Place", triggered_by="second")
    thread.join(30)
    assert (
        second.status == "skipped"
        and f"run {RetentionRun.objects.get(triggered_by='first').pk} is running" in second.error
    )
    first = RetentionRun.objects.get(triggered_by="first")
    assert first.status == "succeeded"
    assert deleted_places(first) == 20 and not Place.objects.exists()
    assert not RetentionRunItem.objects.filter(run=second).exists()


def test_a_terminated_run_keeps_its_batches_and_the_next_run_finishes(
    slow_place_deletes: Callable[[float], None],
) -> None:
    slow_place_deletes(0.05)
    young = soft_deleted_places(5, age=timedelta(days=1))
    soft_deleted_places(40)
    thread, state = start_cleanup(model="rules.Place", batch_size=2, triggered_by="killed")
    wait_for(lambda: deleted_places() >= 6)
    with psycopg.connect(app_db_dsn(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [state["pid"]])
    thread.join(30)
    assert isinstance(state.get("error"), psycopg.OperationalError)

    killed = RetentionRun.objects.get(triggered_by="killed")
    assert killed.status == "running"  # nothing could record the kill
    committed = deleted_places(killed)
    assert 6 <= committed < 40
    assert Place.objects.count() == 45 - committed  # committed batches stay deleted, nothing else

    after = call_cleanup(model="rules.Place", triggered_by="after")
    killed.refresh_from_db()
    assert killed.status == "interrupted" and killed.finished_at is not None
    assert RetentionRunItem.objects.get(run=killed).status == "interrupted"
    assert after.status == "succeeded" and deleted_places(after) == 40 - committed
    assert sorted(Place.objects.values_list("pk", flat=True)) == sorted(young)  # nothing ineligible deleted


def test_a_call_inside_a_transaction_block_is_refused_before_anything_is_held() -> None:
    """As DBeaver, psql with AUTOCOMMIT off or any client in a transaction would call it. Before,
    the CALL failed on its first COMMIT with the session lock taken: every later run was skipped."""
    soft_deleted_places(3)
    with psycopg.connect(app_db_dsn()) as client:  # not autocommit: psycopg opens a transaction
        # A transaction that has written: refused with a message that says how to call it.
        client.execute("SELECT set_config('retention.requested_by', 'x', false)")
        client.execute("CREATE TEMP TABLE scratch (x int)")
        with pytest.raises(psycopg.errors.ActiveSqlTransaction) as refused:
            client.execute("CALL retention.run_cleanup(dry_run => true)")
        assert "cannot run inside a transaction block" in str(refused.value)
        assert "autocommit" in (refused.value.diag.message_hint or "")
        client.rollback()
        # A transaction that has only read: PostgreSQL refuses the procedure's first COMMIT.
        client.execute("SELECT 1")
        with pytest.raises(psycopg.errors.InvalidTransactionTermination):
            client.execute("CALL retention.run_cleanup(dry_run => true)")
        client.rollback()
        # The client's session is still open: another session's run is not skipped.
        run = call_cleanup(model="rules.Place", triggered_by="after")
        assert run.status == "succeeded" and deleted_places(run) == 3
    assert not RetentionRun.objects.filter(dry_run=True).exists()  # the refused calls recorded nothing


def test_a_cancelled_run_holds_nothing_and_the_next_run_from_another_session_purges(
    slow_place_deletes: Callable[[float], None],
) -> None:
    slow_place_deletes(0.05)
    soft_deleted_places(40)
    with psycopg.connect(app_db_dsn(), autocommit=True) as client:
        cancel_midway(
            client,
            "CALL retention.run_cleanup(model => 'rules.Place', batch_size => 2, triggered_by => 'cancelled')",
            lambda: deleted_places() >= 6,
        )
        # The cancelled client's session stays open and idle.
        cancelled = RetentionRun.objects.get(triggered_by="cancelled")
        committed = deleted_places(cancelled)
        after = call_cleanup(model="rules.Place", triggered_by="after")
        assert after.status == "succeeded" and deleted_places(after) == 40 - committed
        cancelled.refresh_from_db()
        assert cancelled.status == "interrupted" and "cancelled" in cancelled.error and cancelled.hash
        # The session whose CALL was cancelled can run again too.
        client.execute("CALL retention.run_cleanup(model => 'rules.Place', triggered_by => 'same session')")
    assert RetentionRun.objects.get(triggered_by="same session").status == "succeeded"
    assert not Place.objects.exists()


def test_a_preview_yields_to_a_real_run_that_starts_meanwhile(slow_place_deletes: Callable[[float], None]) -> None:
    slow_place_deletes(0.05)
    soft_deleted_places(40)
    thread, state = start_cleanup(dry_run=True, model="rules.Place", batch_size=2, triggered_by="preview")

    def previewed() -> int:
        return sum(i.deleted for i in RetentionRunItem.objects.filter(run__triggered_by="preview"))

    wait_for(lambda: previewed() >= 4)
    real = call_cleanup(model="rules.Place", triggered_by="scheduled")
    thread.join(30)
    assert "error" not in state
    preview = RetentionRun.objects.get(triggered_by="preview")
    assert preview.status == "interrupted" and "yielded to a real run" in preview.error and preview.hash
    assert RetentionRunItem.objects.get(run=preview).status == "interrupted"
    assert previewed() < 40
    assert real.status == "succeeded" and deleted_places(real) == 40 and not Place.objects.exists()


def test_a_real_run_that_finds_a_real_run_running_is_still_skipped(slow_place_deletes: Callable[[float], None]) -> None:
    """Only previews yield: the wait is not a queue of real runs."""
    slow_place_deletes(0.05)
    soft_deleted_places(10)
    thread, _ = start_cleanup(model="rules.Place", batch_size=2, triggered_by="first")
    wait_for(lambda: deleted_places() >= 2)
    second = call_cleanup(model="rules.Place", dry_run=True, triggered_by="preview")
    third = call_cleanup(model="rules.Place", triggered_by="third")
    thread.join(30)
    assert (second.status, third.status) == ("skipped", "skipped")
    assert RetentionRun.objects.get(triggered_by="first").status == "succeeded"


def test_a_cancelled_drain_holds_nothing_and_another_session_drains_the_rest(
    settings: Any, slow_place_deletes: Callable[[float], None]
) -> None:
    slow_place_deletes(0.05)
    # Batches of 2 rows (100 ms each), so that the drain is cancelled in the middle of a run.
    settings.RETENTION_CLEANUP_CONFIG = {
        **settings.RETENTION_CLEANUP_CONFIG,
        "batch_size": 2,
        "min_batch_size": 2,
        "max_batch_size": 2,
    }
    sync()
    soft_deleted_places(40)
    first = RetentionRequest.objects.create(requested_by="ops", model_path="rules.Place")
    second = RetentionRequest.objects.create(requested_by="ops", model_path="rules.Place")
    with psycopg.connect(app_db_dsn(), autocommit=True) as client:
        cancel_midway(client, "CALL retention.drain_requests()", lambda: deleted_places() >= 4)
        # The cancelled client's session stays open and idle; a drain from another session goes on.
        with psycopg.connect(app_db_dsn(), autocommit=True) as other:
            other.execute("CALL retention.drain_requests()")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "failed" and "without finishing" in first.error
    assert second.status == "done" and second.run is not None and second.run.status == "succeeded"
    assert not Place.objects.exists()


def test_a_batch_that_cannot_get_its_locks_is_left_for_the_next_run(settings: Any) -> None:
    settings.RETENTION_CLEANUP_CONFIG = {
        **settings.RETENTION_CLEANUP_CONFIG,
        "lock_timeout_ms": 200,
    }
    sync()
    soft_deleted_places(3)
    with psycopg.connect(app_db_dsn()) as locker:
        # The purge of a place reads rules_restaurant (its MTI child) and must wait for this lock.
        locker.execute("LOCK TABLE rules_restaurant IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        run = call_cleanup(model="rules.Place")
        took = time.monotonic() - started
        locker.rollback()
    assert run.status == "succeeded"
    item = RetentionRunItem.objects.get(run=run)
    assert (item.skipped_locked, item.deleted) == (3, 0)
    assert Place.objects.count() == 3
    assert took < 5, "lock_timeout did not bound the wait"
    again = call_cleanup(model="rules.Place")
    assert RetentionRunItem.objects.get(run=again).deleted == 3 and not Place.objects.exists()


def test_the_time_budget_stops_between_batches(settings: Any, slow_place_deletes: Callable[[float], None]) -> None:
    slow_place_deletes(0.05)
    settings.RETENTION_CLEANUP_CONFIG = {
        **settings.RETENTION_CLEANUP_CONFIG,
        "max_execution_time": 1,
    }
    sync()
    soft_deleted_places(60)  # 60 x 50 ms: 3 s of work against a 1 s budget
    run = call_cleanup(model="rules.Place", batch_size=1)
    assert run.status == "timed_out" and "max_execution_time" in run.error
    item = RetentionRunItem.objects.get(run=run)
    assert item.status == "timed_out"
    assert 5 <= item.deleted < 60 and item.batches == item.deleted
    assert Place.objects.count() == 60 - item.deleted
    assert run.finished_at is not None and run.finished_at - run.started_at < timedelta(seconds=3)


def test_one_models_error_fails_its_item_and_the_run_goes_on() -> None:
    now = timezone.now()
    Language.objects.create(code="en")
    Language.objects.create(code="xx", is_deleted=True, deleted_at=now - ELIGIBLE_AGE)
    Author.objects.create(name="gone", is_deleted=True, deleted_at=now - ELIGIBLE_AGE)
    soft_deleted_places(2)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_boom() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'boom: deleting languages is broken'; END $$;
            CREATE TRIGGER test_boom BEFORE DELETE ON rules_language FOR EACH ROW EXECUTE FUNCTION test_boom();
            """
        )
    try:
        run = call_cleanup()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_boom ON rules_language; DROP FUNCTION test_boom();")
    assert run.status == "failed" and "rules.Language: boom" in run.error
    items = {i.model_path: i for i in RetentionRunItem.objects.filter(run=run)}
    assert items["rules.Language"].status == "failed" and "boom" in items["rules.Language"].error
    assert items["rules.Author"].status == "succeeded" and items["rules.Author"].deleted == 1
    assert items["rules.Place"].deleted == 2
    assert Language.objects.filter(code="xx").exists()
    assert not Author.objects.exists() and not Place.objects.exists()


def test_dry_run_counts_what_a_real_run_deletes_and_changes_nothing() -> None:
    import random

    from purge_helpers import build_rules_data

    build_rules_data(random.Random(7), authors=15)
    before = snapshot(rules_tables())
    preview = call_cleanup(dry_run=True, model="rules.Author")
    assert preview.status == "succeeded" and preview.dry_run and preview.rows_deleted == 0
    assert snapshot(rules_tables()) == before
    real = call_cleanup(model="rules.Author")
    p = RetentionRunItem.objects.get(run=preview)
    r = RetentionRunItem.objects.get(run=real)
    assert p.deleted > 0
    assert (p.eligible, p.deleted, p.blocked, p.cascaded, p.updated) == (
        r.eligible,
        r.deleted,
        r.blocked,
        r.cascaded,
        r.updated,
    )


def test_run_cleanup_rejects_bad_arguments_and_unknown_models() -> None:
    with pytest.raises(Exception, match="days must be between 1 and 36500, not 0"), connection.cursor() as cursor:
        cursor.execute("CALL retention.run_cleanup(days => 0)")
    run = call_cleanup(model="rules.Nope")
    assert run.status == "failed" and "rules.Nope" in run.error


def test_nothing_that_deletes_is_executable_by_public() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'retention' AND has_function_privilege('public', p.oid, 'EXECUTE')
            """
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'retention'"
        )
        assert cursor.fetchone()[0] > 10
        cursor.execute("SELECT has_schema_privilege('public', 'retention', 'USAGE')")
        assert cursor.fetchone()[0] is False


def test_batches_adapt_to_the_target_duration(settings: Any, slow_place_deletes: Callable[[float], None]) -> None:
    """Each next size follows from the last batch's recorded time (no timing threshold asserted)."""
    slow_place_deletes(0.05)
    settings.RETENTION_CLEANUP_CONFIG = {
        **settings.RETENTION_CLEANUP_CONFIG,
        "batch_size": 4,
        "target_batch_ms": 300,
        "min_batch_size": 2,
        "max_batch_size": 64,
    }
    sync()
    soft_deleted_places(40)  # 50 ms a row: a batch of 4 takes ~200 ms, so batches grow toward ~6
    run = call_cleanup(model="rules.Place")
    item = RetentionRunItem.objects.get(run=run)
    assert item.deleted == 40 and not Place.objects.exists()
    sizes, durations = item.batch_sizes, item.batch_durations_ms
    assert len(sizes) == len(durations) == item.batches >= 2
    assert sizes[0] == 4
    for size, took, following in zip(sizes, durations, sizes[1:], strict=False):
        # PostgreSQL's numeric -> integer cast rounds halves away from zero.
        scaled = int((Decimal(size * 300) / Decimal(max(took, 1))).quantize(Decimal(1), ROUND_HALF_UP))
        assert following == min(64, max(2, min(size * 2, max(size // 2, scaled)))), (sizes, durations)
    assert len(set(sizes)) > 1  # it did adapt

    fixed = call_cleanup(model="rules.Place", batch_size=3)
    assert RetentionRunItem.objects.get(run=fixed).batch_sizes in ([], [3])  # nothing left: at most one probe
    soft_deleted_places(7)
    fixed = call_cleanup(model="rules.Place", batch_size=3)
    assert RetentionRunItem.objects.get(run=fixed).batch_sizes == [3, 3, 3]


def test_unattended_runs_stop_at_max_deletions_per_run(settings: Any) -> None:
    """A policy typo (7 days for 2555) must not purge everything: a person confirms with --force."""
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from django_pg_retention.models import RetentionAlert

    run = unattended_run_over_the_limit(settings, limit=3, eligible=5)
    item = RetentionRunItem.objects.get(run=run, model_path="rules.Place")
    assert (item.status, item.eligible, item.deleted) == ("needs_confirmation", 5, 0)
    assert "exceed max_deletions_per_run (3)" in item.error and "--force" in item.error
    assert Place.objects.count() == 5
    alert = RetentionAlert.objects.get(run=run)
    assert alert.kind == "needs_confirmation" and "rules.Place" in alert.message

    preview = call_cleanup(dry_run=True, model="rules.Place")  # a preview is not limited
    assert RetentionRunItem.objects.get(run=preview).deleted == 5
    with pytest.raises(CommandError, match=r"rules\.Place exceeds max_deletions_per_run") as refused:
        call_command("cleanup_soft_deleted", "--model", "rules.Place", "--execute", stdout=io.StringIO())
    assert "cleanup_soft_deleted --model rules.Place --execute --force" in str(refused.value)
    with pytest.raises(CommandError) as refused:
        call_command(
            "cleanup_soft_deleted", "--model", "rules.Place", "--days", "40", "--execute", stdout=io.StringIO()
        )
    assert "cleanup_soft_deleted --model rules.Place --days 40 --execute --force" in str(refused.value)
    assert Place.objects.count() == 5
    call_command("cleanup_soft_deleted", "--model", "rules.Place", "--execute", "--force", stdout=io.StringIO())
    assert not Place.objects.exists()
