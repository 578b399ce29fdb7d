"""Runs on the Citus coordinator (issue 27): one at a time for the cluster, a killed run recovered
by the next, and graphs the distributed purge refuses (system check E019, functions that refuse)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command

from citus.conftest import node
from citus.helpers import call_cleanup, empty_tables, execute, in_thread, scalar, seed_events, wait_for
from citus.logs.models import Event, Order
from django_pg_retention.audit import verify
from django_pg_retention.checks import check_distributed_purges
from django_pg_retention.compiler import compile_model
from django_pg_retention.distribution import Layout, Placement, read_layout, refusals
from django_pg_retention.graph import build
from django_pg_retention.models import RetentionRun
from django_pg_retention.sync import app_schemas, install_functions, sync


@pytest.fixture
def slow_batches() -> Iterator[None]:
    """Batches of 100 with a pause after each, so that a run lasts long enough to meet another."""
    empty_tables()
    execute("UPDATE retention_config SET batch_pause_ms = 200")
    yield
    execute("UPDATE retention_config SET batch_pause_ms = 0")


def test_one_run_at_a_time_and_a_killed_run_is_recovered(slow_batches: None) -> None:
    eligible = seed_events(6000)
    thread, state = in_thread("CALL retention.run_cleanup(model => 'logs.Event', batch_size => 100)")
    wait_for(lambda: RetentionRun.objects.filter(status="running").exists())
    wait_for(lambda: Event.objects.count() < 6000 - 300)

    # A second run while the first is running is recorded as skipped, on the coordinator.
    second = call_cleanup(model="logs.Event")
    assert second.status == "skipped" and "is running" in second.error

    # The first run's backend is killed in the middle of a batch (a distributed transaction).
    execute("SELECT pg_terminate_backend(%s)", [state["pid"]])
    thread.join(30)
    killed = RetentionRun.objects.filter(status="running").get()
    left = Event.objects.filter(is_deleted=True).count()
    assert 0 < left < len(eligible)

    # The next run recovers it (interrupted, sealed into the chain) and purges the rest.
    execute("UPDATE retention_config SET batch_pause_ms = 0")
    third = call_cleanup(model="logs.Event")
    assert third.status == "succeeded", third.error
    killed.refresh_from_db()
    assert killed.status == "interrupted"
    assert killed.items.get().deleted + third.items.get().deleted == len(eligible)
    assert Event.objects.count() == 6000 - len(eligible)
    assert verify().ok
    # No distributed transaction of the killed batch is left prepared on a worker for long.
    wait_for(lambda: scalar("SELECT count(*) FROM pg_dist_transaction") == 0, timeout=60)


def test_graphs_the_distributed_purge_cannot_keep_exact_are_refused() -> None:
    """A layout where the purged table is local while its cascade reaches distributed tables:
    distribution.refusals names the table, the compiled functions refuse to purge with the same
    reason; on the real cluster's layout system check E019 reports nothing."""
    empty_tables()
    real = read_layout()
    assert real.of("logs_order") == Placement("distributed", "tenant_id")
    assert real.of("logs_ordertag") == Placement("reference", None)
    assert refusals(build(Order), real, False) == []
    assert check_distributed_purges(databases=["default"]) == []

    made_up = Layout({table: p for table, p in real.tables.items() if table != "logs_order"})
    reasons = refusals(build(Order), made_up, False)
    assert len(reasons) == 1 and reasons[0].startswith("logs_order (the purged model's table) is local")
    install_functions("default", compile_model(Order, app_schemas(), made_up))
    try:
        execute(
            "INSERT INTO logs_order (id, tenant_id, is_deleted, deleted_at)"
            " VALUES (1, 1, true, now() - interval '40 days')"
        )
        run = call_cleanup(model="logs.Order")
        item = run.items.get()
        assert item.status == "failed" and "logs_order (the purged model's table) is local" in item.error
        assert Order.objects.count() == 1
    finally:
        sync()


def test_pg_cron_on_the_coordinator_runs_the_purge() -> None:
    """migrate scheduled the purge's job in pg_cron's database on the coordinator; made due every
    minute, pg_cron runs it there and it purges the distributed table; `retention status` reads it."""
    empty_tables()
    eligible = seed_events(200)
    before = RetentionRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with node(56001, "postgres") as cron:
        jobs = cron.execute(
            "SELECT jobid, schedule FROM cron.job"
            " WHERE database = 'test_retention_citus' AND command LIKE '%run_cleanup%'"
        ).fetchall()
        assert len(jobs) == 1
        job, schedule = jobs[0]
        cron.execute("SELECT cron.alter_job(%s, schedule => '* * * * *')", [job])
        try:
            wait_for(lambda: RetentionRun.objects.filter(id__gt=before, status="succeeded").exists(), 90)
        finally:
            cron.execute("SELECT cron.alter_job(%s, schedule => %s)", [job, schedule])
    run = RetentionRun.objects.filter(id__gt=before).get()
    assert run.triggered_by != "sql" and run.rows_deleted == len(eligible)
    assert Event.objects.count() == 200 - len(eligible)
    call_command("retention", "status")
