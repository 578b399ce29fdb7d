"""Throttling on replica lag, against a real streaming standby of the test server.

The fixture clones the test server with pg_basebackup -R, starts the copy on another port as a hot
standby, and removes it after the test. It needs the server's files and binaries on this machine
(scripts/devdb, which CI uses); elsewhere (DATABASE_URL of a remote server, Docker) it skips.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import server_dsn
from django.core.management import call_command
from django.db import connection
from purge_helpers import call_cleanup, soft_deleted_places, start_cleanup, wait_for
from rules.models import Place

from django_pg_retention.models import RetentionRun, RetentionRunItem
from django_pg_retention.sync import sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reset_rules")]

STANDBY_PORT = int(os.environ.get("RETENTION_TEST_STANDBY_PORT", "54339"))
LIMIT = 1024  # bytes: any batch's WAL is more


def scalar(query: str) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchone()[0]  # type: ignore[index]


def as_server_user(owner: str, *command: str) -> None:
    """Run a PostgreSQL binary as the OS user that owns the cluster (root may not run them)."""
    prefix = ["runuser", "-u", owner, "--"] if os.geteuid() == 0 and owner != "root" else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=300)


@pytest.fixture
def standby() -> Iterator[str]:
    """A hot standby of the test server on STANDBY_PORT; yields a DSN of its copy of the test database."""
    data_directory = Path(str(scalar("SHOW data_directory")))
    bindir = Path(f"/usr/lib/postgresql/{int(scalar('SHOW server_version_num')) // 10000}/bin")
    if not data_directory.is_dir() or not (bindir / "pg_basebackup").exists():
        pytest.skip("needs the test server's files on this machine (scripts/devdb)")
    owner = pwd.getpwuid(data_directory.stat().st_uid).pw_name
    root = Path(tempfile.mkdtemp(prefix="retention-standby-"))
    shutil.chown(root, owner)
    params = connection.get_connection_params()
    primary = f"host={params.get('host') or '127.0.0.1'} port={params.get('port') or 5432} user={params['user']}"
    data = root / "data"
    as_server_user(
        owner, str(bindir / "pg_basebackup"), "-d", primary, "-D", str(data), "-R", "-X", "stream", "-c", "fast"
    )
    options = f"-p {STANDBY_PORT} -k {root} -c listen_addresses=127.0.0.1 -c hot_standby=on"
    as_server_user(
        owner,
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(root / "log"),
        "-w",
        "-t",
        "120",
        "-o",
        options,
        "start",
    )
    dsn = psycopg.conninfo.make_conninfo(server_dsn(connection.settings_dict["NAME"]), port=str(STANDBY_PORT))
    try:
        yield dsn
    finally:
        as_server_user(owner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def caught_up() -> bool:
    lag = scalar("SELECT retention.replica_lag_bytes()")
    return lag is not None and lag <= LIMIT


def throttled_purge_of(places: int, settings: Any, budget_seconds: int) -> None:
    """Throttle at LIMIT with this time budget, and that many eligible places, replayed by the standby."""
    settings.RETENTION_CLEANUP_CONFIG = {
        **settings.RETENTION_CLEANUP_CONFIG,
        "max_replica_lag_bytes": LIMIT,
        "max_execution_time": budget_seconds,
    }
    sync()
    soft_deleted_places(places)
    wait_for(caught_up, timeout=60)


def test_a_purge_waits_while_a_standby_lags_and_finishes_when_it_catches_up(standby: str, settings: Any) -> None:
    throttled_purge_of(200, settings, budget_seconds=300)
    with psycopg.connect(standby, autocommit=True) as replica:
        assert replica.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        replica.execute("SELECT pg_wal_replay_pause()")
        thread, state = start_cleanup(model="rules.Place", batch_size=20, triggered_by="lag-test")
        time.sleep(1.0)  # long enough for ten batches of 20 rows without the throttle
        stuck = Place.objects.count()
        time.sleep(1.5)
        assert Place.objects.count() == stuck  # nothing more deleted while the standby stands still
        assert thread.is_alive()
        replica.execute("SELECT pg_wal_replay_resume()")
        thread.join(120)
        assert not thread.is_alive() and "error" not in state
        run = RetentionRun.objects.get(triggered_by="lag-test")
        item = RetentionRunItem.objects.get(run=run, model_path="rules.Place")
        assert (run.status, item.deleted) == ("succeeded", 200)
        assert item.throttled_ms >= 1500 and item.replica_lag_bytes is not None and item.replica_lag_bytes > LIMIT
        out = StringIO()
        call_command("retention", "status", stdout=out)
        assert f"Standbys at run {run.pk}: largest replay lag {item.replica_lag_bytes:,} bytes" in out.getvalue()
        # The standby replays the purge: its copy of the table ends like the primary's.
        wait_for(caught_up, timeout=60)
        wait_for(lambda: replica.execute("SELECT count(*) FROM rules_place").fetchone() == (0,), timeout=60)
    assert not Place.objects.exists()


def test_a_standby_that_never_catches_up_ends_the_run_timed_out_saying_why(standby: str, settings: Any) -> None:
    throttled_purge_of(100, settings, budget_seconds=3)
    with psycopg.connect(standby, autocommit=True) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        thread, _ = start_cleanup(model="rules.Place", batch_size=20, triggered_by="lag-budget")
        thread.join(60)
        replica.execute("SELECT pg_wal_replay_resume()")
    run = RetentionRun.objects.get(triggered_by="lag-budget")
    item = RetentionRunItem.objects.get(run=run, model_path="rules.Place")
    assert run.status == "timed_out" and item.status == "timed_out"
    assert "a standby lagged more than max_replica_lag_bytes (1024)" in item.error
    assert Place.objects.count() > 0  # the run stopped waiting, not purging


def test_a_named_slot_of_a_standby_that_is_not_connected_counts_too(settings: Any) -> None:
    """No standby at all: a physical slot that reserves WAL and never advances, named in replica_slots."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_create_physical_replication_slot('retention_test_slot', true)")
    try:
        settings.RETENTION_CLEANUP_CONFIG = {
            **settings.RETENTION_CLEANUP_CONFIG,
            "max_replica_lag_bytes": LIMIT,
            "replica_slots": ["retention_test_slot"],
            "max_execution_time": 2,
        }
        sync()
        soft_deleted_places(100)  # WAL the slot holds
        run = call_cleanup(model="rules.Place", triggered_by="slot-test")
        item = RetentionRunItem.objects.get(run=run, model_path="rules.Place")
        assert (run.status, item.status, item.deleted) == ("timed_out", "timed_out", 0)
        assert "a standby lagged more than max_replica_lag_bytes" in item.error
        assert item.replica_lag_bytes is not None and item.replica_lag_bytes > LIMIT and item.throttled_ms >= 1000
        assert Place.objects.count() == 100
        settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "replica_slots": []}
        sync()  # the slot no longer counts: the run purges
        assert call_cleanup(model="rules.Place", triggered_by="slot-test-2").status == "succeeded"
        assert not Place.objects.exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_drop_replication_slot('retention_test_slot')")
