"""Data and runs for the Citus tests (SQL seeding: a multi-shard INSERT ... SELECT is fast)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from django.db import connections

from django_pg_retention.models import RetentionRun

LOG_TABLES = ["logs_linenote", "logs_comment", "logs_invoice", "logs_line", "logs_order", "logs_event", "logs_shipment"]


def execute(sql: str, params: Any = None, using: str = "default") -> list[tuple[Any, ...]]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def scalar(sql: str, params: Any = None, using: str = "default") -> Any:
    return execute(sql, params, using)[0][0]


def empty_tables(using: str = "default") -> None:
    execute("TRUNCATE " + ", ".join(LOG_TABLES), using=using)


def seed_events(n: int, eligible_every: int = 2) -> list[int]:
    """n events; every ``eligible_every``-th soft-deleted 40 days ago (the policy keeps 30), the
    rest live. Returns the eligible keys."""
    execute(
        "INSERT INTO logs_event (id, message, is_deleted, deleted_at)"
        " SELECT i, 'e' || i, i %% %s = 0,"
        "        CASE WHEN i %% %s = 0 THEN now() - interval '40 days' - i * interval '1 s' END"
        " FROM generate_series(1, %s) i",
        [eligible_every, eligible_every, n],
    )
    return [i for i in range(1, n + 1) if i % eligible_every == 0]


def last_run() -> RetentionRun | None:
    return RetentionRun.objects.order_by("-id").first()


def call_cleanup(**kwargs: Any) -> RetentionRun:
    """CALL retention.run_cleanup(...) on the coordinator; returns the run it recorded."""
    before = RetentionRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
    names = ", ".join(f"{k} => %s" for k in kwargs)
    execute(f"CALL retention.run_cleanup({names})", list(kwargs.values()))
    run = RetentionRun.objects.filter(id__gt=before).order_by("-id").first()
    assert run is not None, "run_cleanup recorded no run"
    return run


def dsn(using: str = "default") -> str:
    s = connections[using].settings_dict
    return psycopg.conninfo.make_conninfo(host=s["HOST"], port=str(s["PORT"]), user=s["USER"], dbname=s["NAME"])


def in_thread(sql: str, params: Any = None) -> tuple[threading.Thread, dict[str, Any]]:
    """Run sql on a connection of its own in a thread; the state holds its backend pid, then its
    result or error."""
    state: dict[str, Any] = {}

    def run() -> None:
        with psycopg.connect(dsn(), autocommit=True) as conn:
            state["pid"] = conn.info.backend_pid
            try:
                cursor = conn.execute(sql, params)  # type: ignore[arg-type]
                state["result"] = cursor.fetchall() if cursor.description else None
            except psycopg.Error as exc:
                state["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while "pid" not in state and time.monotonic() < deadline:
        time.sleep(0.01)
    return thread, state


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
