"""Data and runs for the Citus tests (SQL seeding: a multi-shard INSERT ... SELECT is fast)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.apps import apps
from django.db import IntegrityError, connections, transaction
from django.db.models import ProtectedError, RestrictedError
from django.db.models.deletion import Collector

from django_pg_retention.models import RetentionHold, RetentionPolicy, RetentionRun
from django_pg_retention.policies import model_path

LOG_TABLES = [
    "logs_linenote",
    "logs_comment",
    "logs_invoice",
    "logs_line",
    "logs_order",
    "logs_event",
    "logs_shipment",
    "logs_ordertag",
]


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


# --- The differential oracle: Django's own delete() on the single-server copy ("single") ----------


def snapshot(using: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every logs table, in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in LOG_TABLES:
        columns = [
            r[0]
            for r in execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY column_name",
                [table],
                using,
            )
        ]
        rows = execute(f"SELECT {', '.join(columns)} FROM {table}", using=using)
        out[table] = sorted(rows, key=repr)
    return out


def kept_by_retention(obj: Any, now: datetime, using: str) -> bool:
    """What the purge adds to Django's collector: a root is kept when a row its delete would take
    is held, or belongs to a model with a policy and is not itself eligible."""
    collector = Collector(using=using, origin=obj)
    collector.collect([obj])
    rows: list[Any] = [row for instances in collector.data.values() for row in instances]
    rows += [row for queryset in collector.fast_deletes for row in queryset]
    days = dict(RetentionPolicy.objects.using(using).filter(is_active=True).values_list("model_path", "retention_days"))
    held = list(
        RetentionHold.objects.using(using).filter(released_at__isnull=True).values_list("model_path", "object_pk")
    )
    for row in rows:
        path = model_path(type(row))
        if (path, str(row.pk)) in held or (path, "") in held:
            return True
        if path not in days or (type(row), row.pk) == (type(obj), obj.pk):
            continue
        if not (row.is_deleted and row.deleted_at is not None and row.deleted_at < now - timedelta(days=days[path])):
            return True
    return False


def django_purge(using: str, now: datetime, model: str | None = None) -> int:
    """Delete each eligible row (of ``model`` only, when given) with obj.delete(), skipping what
    Django refuses and what the retention rule keeps, until nothing changes. Returns the roots deleted."""
    deleted = 0
    changed = True
    policies = RetentionPolicy.objects.using(using).filter(is_active=True).order_by("position", "model_path")
    if model is not None:
        policies = policies.filter(model_path=model)
    while changed:
        changed = False
        for policy in policies:
            model: Any = apps.get_model(policy.model_path)
            cutoff = now - timedelta(days=policy.retention_days)
            pks = list(
                model._base_manager.using(using)
                .filter(is_deleted=True, deleted_at__lt=cutoff)
                .order_by("deleted_at", "pk")
                .values_list("pk", flat=True)
            )
            for pk in pks:
                obj = model._base_manager.using(using).filter(pk=pk).first()
                if obj is None:
                    continue
                try:
                    with transaction.atomic(using=using):
                        if kept_by_retention(obj, now, using):
                            continue
                        obj.delete()
                        with connections[using].cursor() as cursor:
                            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                except (ProtectedError, RestrictedError, IntegrityError):
                    continue
                deleted += 1
                changed = True
    return deleted
