"""Whole partitions (issue 26 items 3-4): a table range-partitioned by day on the policy's column has
each partition wholly past the cutoff detached and dropped (retention.drop_partition) when that is
exactly what the batches would do; a straddling partition, a held row's, a PROTECT-blocked row's go
through the batches. Django's own ``filter(field__lt=cutoff).delete()`` is the oracle; the drop is
asserted in pg_inherits, not only in the end state."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone
from partlogs.models import PartLog, PartLogChild, PartLogLock, PartLogMark, PartTrash, PartTrashChild
from purge_helpers import app_db_dsn, call_cleanup, purge_once, snapshot, start_cleanup, wait_for
from test_purge_differential import assert_same_tables

from django_pg_retention.audit import keys_digest, verify
from django_pg_retention.holds import release_holds
from django_pg_retention.models import RetentionHold, RetentionPolicy, RetentionRun, RetentionRunItem
from django_pg_retention.sync import sync

pytestmark = pytest.mark.django_db(transaction=True)

DAYS = 10
LOG_POLICY = {"partlogs.PartLog": {"field": "at", "days": DAYS}}
LOG_TABLES = ["partlogs_partlog", "partlogs_partlogchild", "partlogs_partlogmark", "partlogs_partloglock"]
TRASH_TABLES = ["partlogs_parttrash", "partlogs_parttrashchild"]


@pytest.fixture(autouse=True)
def drop_daily_partitions() -> Iterator[None]:
    """The daily partitions a test created go with it (the flush empties tables, drops none)."""
    yield
    with connection.cursor() as cursor:
        for table in ("partlogs_partlog", "partlogs_parttrash"):
            for name in partitions(table):
                if not name.endswith("_default"):
                    cursor.execute(f'DROP TABLE "{name}"')


@contextmanager
def log_policy(**config: Any) -> Iterator[None]:
    """PartLog under a 10-day timestamp policy (and RETENTION_CLEANUP_CONFIG additions), synced."""
    from django.conf import settings

    try:
        with override_settings(
            RETENTION_TIMESTAMP_POLICIES=LOG_POLICY,
            RETENTION_CLEANUP_CONFIG={**settings.RETENTION_CLEANUP_CONFIG, **config},
        ):
            sync()
            yield
    finally:
        sync()


def midnight(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def create_daily_partitions(table: str, first: datetime, days: int) -> list[str]:
    """Daily partitions [first, first + days) of a partitioned table; their names."""
    names = []
    with connection.cursor() as cursor:
        for d in range(days):
            lower = first + timedelta(days=d)
            name = f"{table}_p{lower:%Y%m%d}"
            cursor.execute(
                f'CREATE TABLE "{name}" PARTITION OF "{table}" FOR VALUES FROM (%s) TO (%s)',
                [lower.isoformat(), (lower + timedelta(days=1)).isoformat()],
            )
            names.append(name)
    return names


def partitions(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid"
            " WHERE h.inhparent = %s::regclass ORDER BY 1",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


def partition_of(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT tableoid::regclass::text FROM "{table}" WHERE id = %s', [pk])
        return cursor.fetchone()[0]  # type: ignore[index]


def build_logs(now: datetime) -> dict[str, Any]:
    """Daily partitions from 20 days ago to 2 days ahead; a row every 5 hours, kept an hour away
    from the cutoff (now - 10 days); children that CASCADE, SET_NULL and PROTECT; one held row."""
    first = midnight(now) - timedelta(days=20)
    names = create_daily_partitions("partlogs_partlog", first, 23)
    cutoff = now - timedelta(days=DAYS)
    at = first + timedelta(minutes=30)
    rows = []
    while at < now + timedelta(days=2):
        if abs(at - cutoff) > timedelta(hours=1):
            rows.append(PartLog(at=at, note=f"{at:%d %H}"))
        at += timedelta(hours=5)
    logs = PartLog.objects.bulk_create(rows)
    old = [log for log in logs if log.at < cutoff]
    young = [log for log in logs if log.at >= cutoff]
    PartLogChild.objects.bulk_create(PartLogChild(log_id=log.pk) for log in old[::7] + young[::9])
    PartLogMark.objects.bulk_create(PartLogMark(log_id=log.pk) for log in old[3::11] + young[::13])
    locked = old[20]
    PartLogLock.objects.create(log_id=locked.pk)
    held = old[40]
    RetentionHold.objects.create(model_path="partlogs.PartLog", object_pk=str(held.pk), reason="litigation")
    return {"names": names, "cutoff": cutoff, "logs": logs, "old": old, "locked": locked, "held": held}


def django_deletes(cutoff: datetime, kept: list[int]) -> dict[str, list[tuple[Any, ...]]]:
    """The oracle: PartLog.objects.filter(at__lt=cutoff).delete() without the held and the
    PROTECT-blocked rows (which the purge counts as blocked), rolled back."""

    class Rollback(Exception):
        pass

    out: dict[str, Any] = {}
    try:
        with transaction.atomic():
            PartLog.objects.filter(at__lt=cutoff).exclude(pk__in=kept).delete()
            out["state"] = snapshot(LOG_TABLES)
            raise Rollback
    except Rollback:
        pass
    return out["state"]


def counts(run: RetentionRun) -> dict[str, tuple[int, int, int, dict[str, int], dict[str, int]]]:
    return {i.model_path: (i.eligible, i.deleted, i.blocked, i.cascaded, i.updated) for i in run.items.all()}


def log_item(run: RetentionRun) -> RetentionRunItem:
    return run.items.get(model_path="partlogs.PartLog")


def expired_names(data: dict[str, Any]) -> list[str]:
    """The partitions wholly past the cutoff."""
    return [
        n
        for n in data["names"]
        if datetime.strptime(n[-8:], "%Y%m%d").replace(tzinfo=UTC) + timedelta(days=1) <= data["cutoff"]
    ]


def test_partitions_past_the_cutoff_are_dropped_and_the_end_state_is_djangos() -> None:
    with log_policy():
        now = timezone.now()
        data = build_logs(now)
        locked, held = data["locked"], data["held"]
        kept_partitions = {partition_of("partlogs_partlog", locked.pk), partition_of("partlogs_partlog", held.pk)}
        expired = expired_names(data)
        assert len(expired) >= 8 and kept_partitions <= set(expired)
        before = snapshot(LOG_TABLES)
        expected = django_deletes(data["cutoff"], [locked.pk, held.pk])
        assert snapshot(LOG_TABLES) == before
        preview = call_cleanup(dry_run=True, model="partlogs.PartLog")
        assert snapshot(LOG_TABLES) == before and partitions("partlogs_partlog") == sorted(
            [*data["names"], "partlogs_partlog_default"]
        ), "the dry run changed something"
        run = purge_once(model="partlogs.PartLog")
        assert_same_tables(expected, snapshot(LOG_TABLES))
        # Dropped: every expired partition but the held row's and the PROTECT-blocked row's.
        left = set(partitions("partlogs_partlog"))
        assert left & set(expired) == kept_partitions
        # The partition that straddles the cutoff stays; its old rows went through the batches.
        straddling = f"partlogs_partlog_p{midnight(data['cutoff']):%Y%m%d}"
        assert straddling in left and straddling not in expired
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT count(*) FILTER (WHERE at < %s), count(*) FROM "{straddling}"', [data["cutoff"]])
            old_left, total = cursor.fetchone()  # type: ignore[misc]
        # How many young rows the 5-hour grid put there depends on the time of day (none when the
        # cutoff falls late in its day): count them rather than expect some.
        day = midnight(data["cutoff"])
        young_there = [log for log in data["logs"] if data["cutoff"] <= log.at < day + timedelta(days=1)]
        assert old_left == 0 and total == len(young_there)
        item = log_item(run)
        dropped = {p["partition"].strip('"') for p in item.partitions_dropped}
        assert dropped == set(expired) - kept_partitions
        # The counts: as the dry run announced (which took the batches), blocked = hold + PROTECT.
        assert counts(preview) == counts(run)
        assert item.blocked == 2 and item.deleted == len(
            [log for log in data["old"] if log.pk not in (locked.pk, held.pk)]
        )
        assert 0 < sum(p["rows"] for p in item.partitions_dropped) < item.cascaded["partlogs_partlog"]
        # The proof: the digest of the keys that disappeared, recomputed; and the chain holds.
        gone = {str(row[0]) for row in before["partlogs_partlog"]} - {
            str(row[0]) for row in snapshot(["partlogs_partlog"])["partlogs_partlog"]
        }
        digest = item.digests["partlogs_partlog"]
        assert digest["count"] == len(gone) and digest["sha256"] == keys_digest(gone, digest["order"])
        assert verify().ok
        out = StringIO()
        call_command("retention", "show", str(run.pk), stdout=out)
        assert f"partlogs.PartLog: partitions dropped: {len(dropped)} (" in out.getvalue()


def test_cascade_children_are_deleted_and_set_null_updated_by_key_first() -> None:
    """A partition whose rows have CASCADE and SET_NULL children only is still dropped: those rows
    went through the purge function first (the children deleted, the marks set NULL)."""
    with log_policy():
        now = timezone.now()
        data = build_logs(now)
        release_holds(RetentionHold.objects.all(), by="test")
        PartLogLock.objects.all().delete()
        children = PartLogChild.objects.filter(log__at__lt=data["cutoff"])
        child_logs = set(children.values_list("log_id", flat=True))
        n_children = children.count()
        marks = set(PartLogMark.objects.filter(log__at__lt=data["cutoff"]).values_list("pk", flat=True))
        assert child_logs and marks
        run = purge_once(model="partlogs.PartLog")
        assert not PartLogChild.objects.filter(log_id__in=child_logs).exists()
        assert set(PartLogMark.objects.filter(pk__in=marks, log__isnull=True).values_list("pk", flat=True)) == marks
        assert set(partitions("partlogs_partlog")) & set(expired_names(data)) == set()
        item = log_item(run)
        assert item.cascaded["partlogs_partlogchild"] == n_children
        assert item.updated == {"partlogs_partlogmark.log_id": len(marks)}
        # The referenced rows were found by a function sync created; the policy row names it, holds no SQL.
        name = RetentionPolicy.objects.get(model_path="partlogs.PartLog").partition_refs
        assert name == "refs__partlogs__partlog"
        with connection.cursor() as cursor:
            cursor.execute("SELECT has_function_privilege('public', %s, 'EXECUTE')", [f"retention.{name}(text[])"])
            assert cursor.fetchone()[0] is False  # type: ignore[index]
        assert verify().ok


def test_rows_inserted_while_the_purge_runs_are_not_lost() -> None:
    """A second connection inserts young rows (and one into an old partition) while the partitions
    are dropped: every young row is there afterwards."""
    with log_policy():
        now = timezone.now()
        data = build_logs(now)
        stop = threading.Event()
        inserted: list[int] = []
        errors: list[BaseException] = []

        def writer() -> None:
            with psycopg.connect(app_db_dsn(), autocommit=True) as conn:
                while not stop.is_set():
                    try:
                        row = conn.execute(
                            "INSERT INTO partlogs_partlog (at, note) VALUES (now() - interval '1 hour', 'new')"
                            " RETURNING id"
                        ).fetchone()
                        inserted.append(row[0])  # type: ignore[index]
                    except psycopg.Error as exc:  # pragma: no cover - reported below
                        errors.append(exc)
                    time.sleep(0.002)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            wait_for(lambda: len(inserted) > 5)
            run = call_cleanup(model="partlogs.PartLog")
        finally:
            stop.set()
            thread.join()
        assert run.status == "succeeded" and not errors, (run.error, errors)
        assert PartLog.objects.filter(pk__in=inserted).count() == len(inserted)
        assert log_item(run).partitions_dropped
        assert (
            not PartLog.objects.filter(at__lt=data["cutoff"])
            .exclude(pk__in=[data["locked"].pk, data["held"].pk])
            .exists()
        )


def test_a_lock_on_the_table_keeps_the_partitions_and_the_next_run_drops_them() -> None:
    """Another session holds ACCESS SHARE on the table: DETACH waits for lock_timeout, the partition
    is kept (its rows go through the batches, nothing lost), and the next run drops it, empty."""
    with log_policy(lock_timeout_ms=200):
        now = timezone.now()
        data = build_logs(now)
        expected = django_deletes(data["cutoff"], [data["locked"].pk, data["held"].pk])
        with psycopg.connect(app_db_dsn()) as blocker:
            blocker.execute("SELECT count(*) FROM partlogs_partlog")  # ACCESS SHARE until the end of the block
            run = call_cleanup(model="partlogs.PartLog")
            blocker.rollback()
        assert run.status == "succeeded", run.error
        assert not log_item(run).partitions_dropped
        assert_same_tables(expected, snapshot(LOG_TABLES))
        assert set(expired_names(data)) <= set(partitions("partlogs_partlog"))
        again = call_cleanup(model="partlogs.PartLog")
        assert again.rows_deleted == 0 and len(log_item(again).partitions_dropped) >= 6
        assert {p["rows"] for p in log_item(again).partitions_dropped} == {0}
        assert_same_tables(expected, snapshot(LOG_TABLES))
        assert verify().ok


def test_a_drop_cancelled_while_it_waits_loses_nothing_and_the_next_run_finishes_it() -> None:
    """pg_cancel_backend of the CALL while drop_partition holds a partition lock and waits for the
    table (another session's lock): the transaction rolls back, the run is recorded interrupted
    by the next run, which drops the partitions."""
    with log_policy(lock_timeout_ms=60_000):
        now = timezone.now()
        data = build_logs(now)
        expected = django_deletes(data["cutoff"], [data["locked"].pk, data["held"].pk])
        before = snapshot(LOG_TABLES)
        with psycopg.connect(app_db_dsn()) as blocker:
            blocker.execute("SELECT count(*) FROM partlogs_partlog")
            thread, state = start_cleanup(model="partlogs.PartLog")

            def waiting_for_the_table() -> bool:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [state["pid"]])
                    return bool(cursor.fetchone()[0])  # type: ignore[index]

            wait_for(waiting_for_the_table)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_cancel_backend(%s)", [state["pid"]])
            thread.join()
            blocker.rollback()
        assert "canceling statement" in str(state.get("error")), state
        assert snapshot(LOG_TABLES) == before  # the drop in progress rolled back
        run = call_cleanup(model="partlogs.PartLog")
        assert RetentionRun.objects.filter(status="interrupted").exists()
        assert run.status == "succeeded" and log_item(run).partitions_dropped
        assert_same_tables(expected, snapshot(LOG_TABLES))
        assert verify().ok


def test_soft_delete_table_partitioned_on_deleted_at() -> None:
    """Item 4: PartTrash (soft delete, 10 days) partitioned by deleted_at; live rows in the DEFAULT
    partition; a partition with a row not flagged deleted is left to the batches."""
    with override_settings(SOFT_DELETE_RETENTION_POLICIES={"default": 90, "partlogs.PartTrash": DAYS}):
        try:
            sync()
            now = timezone.now()
            first = midnight(now) - timedelta(days=20)
            names = create_daily_partitions("partlogs_parttrash", first, 21)
            cutoff = now - timedelta(days=DAYS)
            rows = [PartTrash(name="live")] * 0
            at = first + timedelta(minutes=30)
            while at < now:
                if abs(at - cutoff) > timedelta(hours=1):
                    rows.append(PartTrash(name="gone", is_deleted=True, deleted_at=at))
                at += timedelta(hours=7)
            rows += [PartTrash(name=f"live{i}") for i in range(5)]
            rows.append(PartTrash(name="odd", is_deleted=False, deleted_at=first + timedelta(days=2, hours=3)))
            trash = PartTrash.objects.bulk_create(rows)
            PartTrashChild.objects.bulk_create(PartTrashChild(trash_id=t.pk) for t in trash[::5])
            odd = trash[-1]
            before = snapshot(TRASH_TABLES)

            class Rollback(Exception):
                pass

            out: dict[str, Any] = {}
            try:
                with transaction.atomic():
                    PartTrash.objects.filter(is_deleted=True, deleted_at__lt=cutoff).delete()
                    out["state"] = snapshot(TRASH_TABLES)
                    raise Rollback
            except Rollback:
                pass
            preview = call_cleanup(dry_run=True, model="partlogs.PartTrash")
            assert snapshot(TRASH_TABLES) == before
            run = purge_once(model="partlogs.PartTrash")
            assert_same_tables(out["state"], snapshot(TRASH_TABLES))
            assert counts(preview) == counts(run)
            expired = [
                n
                for n in names
                if datetime.strptime(n[-8:], "%Y%m%d").replace(tzinfo=UTC) + timedelta(days=1) <= cutoff
            ]
            left = set(partitions("partlogs_parttrash"))
            assert left & set(expired) == {partition_of("partlogs_parttrash", odd.pk)}
            assert "partlogs_parttrash_default" in left
            assert verify().ok
        finally:
            sync()


# --- pg_partman ---------------------------------------------------------------------------------------


@pytest.fixture
def partman() -> Iterator[None]:
    """pg_partman 4.7 in schema partman (skipped where the server lacks it: scripts/devdb installs
    postgresql-<major>-partman); PartLog's own DEFAULT partition gives way to pg_partman's, which
    makes the same one again; everything pg_partman made goes afterwards."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_partman'")
        if not cursor.fetchone()[0]:  # type: ignore[index]
            pytest.skip("pg_partman is not installed on this server (apt-get install postgresql-15-partman)")
        cursor.execute("CREATE SCHEMA IF NOT EXISTS partman; CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman")
        cursor.execute('DROP TABLE "partlogs_partlog_default"')
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP EXTENSION pg_partman CASCADE; DROP SCHEMA partman CASCADE")
            for name in partitions("partlogs_partlog"):
                cursor.execute(f'DROP TABLE "{name}"')
            cursor.execute('CREATE TABLE "partlogs_partlog_default" PARTITION OF "partlogs_partlog" DEFAULT')


def test_a_pg_partman_table_is_purged_while_its_maintenance_runs(partman: None) -> None:
    """pg_partman makes the daily partitions (20 days back, 4 then 8 ahead) and its maintenance runs
    in another connection all along, its own retention unset: we drop what is past the cutoff,
    pg_partman keeps making partitions ahead, and the DEFAULT partition is never dropped."""
    with log_policy():
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT partman.create_parent(p_parent_table => 'public.partlogs_partlog', p_control => 'at',"
                " p_type => 'native', p_interval => 'daily', p_premake => 4,"
                " p_start_partition => (now() - interval '20 days')::text)"
            )
            cursor.execute("UPDATE partman.part_config SET premake = 8 WHERE parent_table = 'public.partlogs_partlog'")
        made = partitions("partlogs_partlog")
        assert "partlogs_partlog_default" in made and len(made) >= 25
        cutoff = now - timedelta(days=DAYS)
        rows = []
        at = midnight(now) - timedelta(days=20, minutes=-30)
        while at < now + timedelta(days=3):
            if abs(at - cutoff) > timedelta(hours=1):
                rows.append(PartLog(at=at, note="partman"))
            at += timedelta(hours=3)
        rows.append(PartLog(at=now - timedelta(days=40), note="in the default partition"))
        logs = PartLog.objects.bulk_create(rows)
        PartLogChild.objects.bulk_create(PartLogChild(log_id=log.pk) for log in logs[::10])
        expected = django_deletes(cutoff, [])
        stop = threading.Event()
        maintenance_runs: list[int] = []
        errors: list[BaseException] = []

        def maintain() -> None:
            with psycopg.connect(app_db_dsn(), autocommit=True) as conn:
                while not stop.is_set():
                    try:
                        conn.execute("CALL partman.run_maintenance_proc()")
                        maintenance_runs.append(1)
                    except psycopg.Error as exc:
                        errors.append(exc)
                    time.sleep(0.01)

        thread = threading.Thread(target=maintain)
        thread.start()
        try:
            wait_for(lambda: len(maintenance_runs) >= 2 or bool(errors))
            assert not errors, errors
            run = purge_once(model="partlogs.PartLog")
        finally:
            stop.set()
            thread.join()
        assert not errors, errors
        assert_same_tables(expected, snapshot(LOG_TABLES))
        left = partitions("partlogs_partlog")
        assert "partlogs_partlog_default" in left
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, retention.partition_upper_bound(c.oid) FROM pg_inherits h"
                " JOIN pg_class c ON c.oid = h.inhrelid WHERE h.inhparent = 'partlogs_partlog'::regclass"
            )
            bounds = dict(cursor.fetchall())
        assert not [
            n for n, upper in bounds.items() if upper is not None and upper <= run.started_at - timedelta(days=DAYS)
        ]
        ahead = [n for n, upper in bounds.items() if upper is not None and upper > now + timedelta(days=1)]
        assert len(ahead) >= 7  # pg_partman's premake, made and kept
        assert len(log_item(run).partitions_dropped or []) >= 8
        assert verify().ok


def test_a_table_with_a_delete_trigger_has_its_rows_deleted_by_batches_so_the_trigger_fires() -> None:
    """A history or audit trigger on DELETE fires for every row the batches delete; dropping a
    partition with rows would skip it. So such a partition's rows go through the batches (the
    trigger fires for each, as for Django's delete()), and only a partition left empty is dropped."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE partlogs_deleted_log (log_id bigint)")
        cursor.execute(
            "CREATE FUNCTION partlogs_note_delete() RETURNS trigger LANGUAGE plpgsql AS"
            " $$BEGIN INSERT INTO partlogs_deleted_log VALUES (OLD.id); RETURN OLD; END$$"
        )
        cursor.execute(
            "CREATE TRIGGER note_delete AFTER DELETE ON partlogs_partlog"
            " FOR EACH ROW EXECUTE FUNCTION partlogs_note_delete()"
        )
    try:
        with log_policy():
            data = build_logs(timezone.now())
            release_holds(RetentionHold.objects.all(), by="test")
            PartLogLock.objects.all().delete()
            old = {log.pk for log in data["old"]}
            run = call_cleanup(model="partlogs.PartLog")
            assert run.status == "succeeded", run.error
            assert set(partitions("partlogs_partlog")) >= set(expired_names(data)), "a partition with rows was dropped"
            assert not log_item(run).partitions_dropped
            assert not PartLog.objects.filter(pk__in=old).exists() and log_item(run).deleted == len(old)
            with connection.cursor() as cursor:
                cursor.execute("SELECT log_id FROM partlogs_deleted_log")
                assert sorted(row[0] for row in cursor.fetchall()) == sorted(old)
            # The next run drops the partitions the batches emptied: no row, nothing to fire for.
            again = call_cleanup(model="partlogs.PartLog")
            assert {p["rows"] for p in log_item(again).partitions_dropped} == {0}
            assert not set(partitions("partlogs_partlog")) & set(expired_names(data))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS note_delete ON partlogs_partlog")
            cursor.execute("DROP FUNCTION IF EXISTS partlogs_note_delete()")
            cursor.execute("DROP TABLE IF EXISTS partlogs_deleted_log")


def test_every_policys_refs_function_runs_or_names_why_its_partitions_go_to_the_batches() -> None:
    """Each policy's generated refs__ function (with relations into its table or without) returns
    the referenced keys, or raises naming the DELETE trigger or the outbox that keeps its partitions."""
    sync()
    names = list(RetentionPolicy.objects.filter(is_active=True).values_list("model_path", "partition_refs"))
    assert names and all(name for _, name in names)
    for path, name in names:
        with connection.cursor() as cursor:
            try:
                with transaction.atomic():
                    cursor.execute(f'SELECT retention."{name}"(ARRAY[]::text[])')
                    assert cursor.fetchone() == ([],), path
            except Exception as error:  # only the guards may refuse
                assert "DELETE trigger" in str(error) or "retention_outbox" in str(error), (path, error)
