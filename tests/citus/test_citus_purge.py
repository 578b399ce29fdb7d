"""The purge on a real Citus cluster (issue 27): a table distributed by its key."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.core.management import call_command

from citus.helpers import call_cleanup, dsn, empty_tables, execute, in_thread, scalar, seed_events
from citus.logs.models import Event
from django_pg_retention.audit import keys_digest, verify
from django_pg_retention.compiler import compile_model
from django_pg_retention.distribution import SINGLE_SERVER
from django_pg_retention.sync import app_schemas, install_functions, sync


@pytest.fixture(autouse=True)
def _empty() -> None:
    empty_tables()


def test_single_server_functions_fail_on_a_distributed_table() -> None:
    """The failure of issue 27, kept as a witness: the single-server functions lock their batch
    FOR UPDATE across shards, which Citus refuses; the item fails and nothing is deleted."""
    seed_events(20000)
    install_functions("default", compile_model(Event, app_schemas(), SINGLE_SERVER))
    try:
        run = call_cleanup(model="logs.Event")
        item = run.items.get()
        assert item.status == "failed"
        assert "could not run distributed query with FOR UPDATE/SHARE commands" in item.error
        assert Event.objects.count() == 20000
    finally:
        sync()
    assert "FOR UPDATE" not in scalar("SELECT prosrc FROM pg_proc WHERE proname = 'select__logs__event'")


def test_distributed_purge_dry_run_exact_proof_and_audit() -> None:
    """20,000 events, half eligible: the dry run announces 10,000, the run deletes exactly those
    (its proof digests their keys), the audit chain on the coordinator verifies, and the command
    that users run reads it back."""
    eligible = seed_events(20000)
    preview = call_cleanup(model="logs.Event", dry_run=True, batch_size=1000)
    assert preview.status == "succeeded", preview.error
    assert preview.items.get().deleted == 10000
    assert Event.objects.count() == 20000

    run = call_cleanup(model="logs.Event", batch_size=1000)
    assert run.status == "succeeded", run.error
    item = run.items.get()
    assert (item.eligible, item.deleted, item.blocked) == (10000, 10000, 0)
    assert item.deleted == preview.items.get().deleted
    assert item.batches >= 10
    assert item.digests["logs_event"]["sha256"] == keys_digest(map(str, eligible), "numeric")
    assert Event.objects.count() == 10000
    assert not Event.objects.filter(is_deleted=True).exists()
    assert verify().ok
    call_command("retention", "verify")
    call_command("retention", "show")


def test_row_restored_while_the_delete_waits_stays() -> None:
    """The batch is chosen without a lock; the DELETE locks each row on its shard and re-checks
    eligibility. A row restored by a transaction that commits while the DELETE waits for it stays."""
    seed_events(10, eligible_every=1)
    with psycopg.connect(dsn()) as restorer:
        restorer.execute("UPDATE logs_event SET is_deleted = false, deleted_at = NULL WHERE id = 5")
        thread, state = in_thread("SELECT retention.purge__logs__event(ARRAY['3', '4', '5', '6'], false)")
        time.sleep(1.0)  # the DELETE is on the workers, waiting for row 5's lock
        assert thread.is_alive()
        restorer.commit()
    thread.join(30)
    assert "error" not in state, state.get("error")
    assert state["result"][0][0]["deleted"] == {"logs_event": 3}
    assert sorted(Event.objects.values_list("id", flat=True)) == [1, 2, 5, 7, 8, 9, 10]


def test_child_moved_to_a_live_parent_while_the_cascade_waits_stays() -> None:
    """A cascaded row is deleted by its match to the parents just deleted, re-checked under its
    lock: a line moved to a live order by a transaction that commits while the cascade's DELETE
    waits for it stays, with its new order."""
    execute(
        "INSERT INTO logs_order (id, tenant_id, is_deleted, deleted_at) VALUES"
        " (1, 7, true, now() - interval '40 days'), (2, 7, false, NULL)"
    )
    execute(
        "INSERT INTO logs_line (id, tenant_id, order_id, is_deleted, deleted_at)"
        " VALUES (10, 7, 1, true, now() - interval '100 days'), (11, 7, 1, true, now() - interval '100 days')"
    )
    with psycopg.connect(dsn()) as mover:
        mover.execute("UPDATE logs_line SET order_id = 2 WHERE tenant_id = 7 AND id = 10")
        thread, state = in_thread("SELECT retention.purge__logs__order(ARRAY['1'], false)")
        time.sleep(1.0)  # the order is deleted; the lines' DELETE waits for line 10's lock
        assert thread.is_alive()
        mover.commit()
    thread.join(30)
    assert "error" not in state, state.get("error")
    assert state["result"][0][0]["deleted"] == {"logs_order": 1, "logs_line": 1}
    assert list(execute("SELECT id, order_id FROM logs_line")) == [(10, 2)]
