"""Append-only audit with proof of deletion, and models with soft-delete columns of their own."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from psycopg import sql
from purge_helpers import (
    ELIGIBLE_AGE,
    build_rules_data,
    call_cleanup,
    purge_once,
    rules_tables,
)
from rules.models import Archive, ArchiveLock, ArchivePage, Memo, Place

from django_pg_retention import get_retention_manager, place_hold, release_hold
from django_pg_retention.audit import RECORD_FORMATS, TRIGGERS, keys_digest, missing_triggers, run_hash, verify
from django_pg_retention.models import (
    RetentionAuditPrune,
    RetentionConfigRow,
    RetentionHold,
    RetentionPolicy,
    RetentionPolicyHistory,
    RetentionRun,
    RetentionRunItem,
)
from django_pg_retention.sync import sync

CHUNK = 65536  # keys per chunk of a digest (retention.item_digests)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reset_rules")]


def pk_columns() -> dict[str, str]:
    """Every rules table (M2M through tables included) and its primary key column."""
    return {
        m._meta.db_table: m._meta.pk.column
        for m in apps.get_app_config("rules").get_models(include_auto_created=True)
        if m._meta.pk is not None and not m._meta.proxy
    }


def column_type(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = %s AND column_name = %s",
            [table, column],
        )
        return cursor.fetchone()[0]


def pks(table: str, column: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT {}::text FROM {}").format(sql.Identifier(column), sql.Identifier(table)))
        return {row[0] for row in cursor.fetchall()}


def lifted(sql: str, params: Any = None) -> None:
    """Run SQL with the append-only triggers lifted, as only housekeeping (or a tamperer) may."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pgtrigger.ignore', '{' || string_agg(tgname, ',') || '}', true) FROM pg_trigger"
            " WHERE tgname LIKE 'pgtrigger\\_append\\_only\\_%%'"
        )
        cursor.execute(sql, params)


# --- proof of deletion ---------------------------------------------------------------------------


def test_each_item_stores_count_and_digest_of_the_keys_it_deleted_per_table() -> None:
    build_rules_data(random.Random(11))
    columns = pk_columns()
    assert set(rules_tables()) <= set(columns)
    before = {t: pks(t, c) for t, c in columns.items()}
    runs = [purge_once()]
    after = {t: pks(t, c) for t, c in columns.items()}
    recorded: dict[str, list[dict[str, Any]]] = {}
    for item in RetentionRunItem.objects.filter(run__in=runs):
        assert item.status == "succeeded"
        for table, entry in item.digests.items():
            recorded.setdefault(table, []).append(entry)
            assert entry["count"] == item.cascaded[table]
    gone = {t: before[t] - after[t] for t in before if before[t] - after[t]}
    assert gone, "the data deleted nothing"
    orders = {
        t: "numeric" if column_type(t, columns[t]) in ("smallint", "integer", "bigint") else "bytewise" for t in gone
    }
    assert set(orders.values()) == {"numeric", "bytewise"}, "the data should delete integer and other keys"
    whole = 0
    for table, keys in gone.items():
        assert sum(entry["count"] for entry in recorded[table]) == len(keys), table
        if len(recorded[table]) == 1:  # every row of the table went in one item: its digest is of them all
            digest = keys_digest(keys, orders[table], CHUNK)
            entry = {"count": len(keys), "sha256": digest, "order": orders[table], "chunk": CHUNK}
            assert recorded[table] == [entry], table
            whole += 1
        # else a parent's item took some with its cascade and the table's own item the rest (purge_order)
    assert whole >= len(gone) // 2, "most tables should go in one item"
    assert set(recorded) == set(gone)


def test_the_keys_of_each_batch_are_stored_without_pglz() -> None:
    """Each batch writes its keys: lz4 (or, without it, no compression), never pglz's CPU per batch."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression, attstorage FROM pg_attribute"
            " WHERE attrelid = 'retention_deleted_keys'::regclass AND attname = 'keys'"
        )
        compression, storage = cursor.fetchone()
    assert compression == "l" or storage == "e", (compression, storage)


def test_the_digest_is_the_sha256_of_ordered_keys_one_per_line() -> None:
    assert keys_digest(["10", "9", "1"]) == hashlib.sha256(b"1\n10\n9\n").hexdigest()
    assert keys_digest(["10", "9", "1"], "numeric") == hashlib.sha256(b"1\n9\n10\n").hexdigest()
    assert keys_digest(["-2", "10", "-10"], "numeric") == hashlib.sha256(b"-10\n-2\n10\n").hexdigest()
    with pytest.raises(ValueError, match="unknown key order 'random'"):
        keys_digest(["1"], "random")
    with pytest.raises(ValueError, match="key 'a1' is not an integer"):
        keys_digest(["1", "a1"], "numeric")


def test_an_auditor_digests_keys_as_exported_without_a_django_project() -> None:
    """Integers and UUIDs as a CSV or JSON export gives them, in a Python without Django settings."""
    script = (
        "import hashlib, sys, uuid; from django_pg_retention.digests import keys_digest; "
        "u = uuid.UUID('12345678-1234-5678-1234-567812345678'); "
        "assert keys_digest([10, 9, 1], 'numeric') == hashlib.sha256(b'1\\n9\\n10\\n').hexdigest(); "
        "assert keys_digest([u]) == hashlib.sha256((str(u) + '\\n').encode()).hexdigest(); "
        "assert 'django.conf' not in sys.modules or not sys.modules['django.conf'].settings.configured; "
        "print('ok')"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
    assert keys_digest([10, 9, 1], "numeric") == keys_digest(["10", "9", "1"], "numeric")


def test_past_a_chunk_the_digest_is_of_each_chunks_digest_one_per_line() -> None:
    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    keys = ["5", "10", "1", "3", "2"]
    numeric_chunks = [sha("1\n2\n"), sha("3\n5\n"), sha("10\n")]
    assert keys_digest(keys, "numeric", 2) == sha("".join(h + "\n" for h in numeric_chunks))
    bytewise_chunks = [sha("1\n10\n2\n"), sha("3\n5\n")]
    assert keys_digest(keys, "bytewise", 3) == sha("".join(h + "\n" for h in bytewise_chunks))
    # Up to a chunk: the plain digest, as every digest of 0.1.
    assert keys_digest(keys, "numeric", 5) == keys_digest(keys, "numeric") == sha("1\n2\n3\n5\n10\n")
    with pytest.raises(ValueError, match="chunk must be a positive number of keys, not 0"):
        keys_digest(keys, "numeric", 0)


@pytest.mark.django_db(transaction=True)
def test_a_run_past_a_chunk_proves_its_keys_and_verifies() -> None:
    """A real run of more keys than a chunk, deleted out of key order (deleted_at runs against the
    keys): its digest is audit.keys_digest's over the rows that went, and the chain verifies."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO rules_place (name, is_deleted, deleted_at)"
            " SELECT 'p' || x, true, now() - interval '40 days' - x * interval '1 second'"
            f" FROM generate_series(1, {CHUNK + 4_464}) x"
        )
    keys = [str(pk) for pk in Place.objects.values_list("pk", flat=True)]
    run = call_cleanup(model="rules.Place", force=True)
    assert run.status == "succeeded", run.error
    assert not Place.objects.exists()
    (item,) = RetentionRunItem.objects.filter(run=run)
    assert item.batches > 1
    assert item.digests["rules_place"] == {
        "count": len(keys),
        "order": "numeric",
        "sha256": keys_digest(keys, "numeric", CHUNK),
        "chunk": CHUNK,
    }
    assert run.record_format == 2 and verify().ok


@pytest.mark.django_db(transaction=True)
def test_item_digests_past_a_chunk_match_keys_digest_in_every_path() -> None:
    """Tables of more keys than a chunk: batches in key order (joined as stored, chunk edges inside
    batches), batches out of order (sorted again, numerically: 9 before 10), text keys (bytewise),
    exactly one chunk (the plain digest) and one key more."""
    inserts = {
        # 150,001 keys, batches of 4,999 ascending: no chunk edge falls on a batch edge
        "in_order": "SELECT -2, 'in_order', 'numeric', true, (SELECT array_agg(x::text ORDER BY x)"
        " FROM generate_series(b * 4999 + 1, least(b * 4999 + 4999, 150001)) x) FROM generate_series(0, 30) b",
        # 140,000 keys from -70,000, batches descending, each ascending within
        "shuffled": "SELECT -2, 'shuffled', 'numeric', true, (SELECT array_agg(x::text ORDER BY x)"
        " FROM generate_series(b * 7000 - 70000, b * 7000 - 63001) x) FROM generate_series(19, 0, -1) b",
        "texts": "SELECT -2, 'texts', 'bytewise', false, (SELECT array_agg(md5(x::text) || 'é')"
        " FROM generate_series(b * 5000, b * 5000 + 4999) x) FROM generate_series(0, 26) b",
        "one_chunk": "SELECT -2, 'one_chunk', 'numeric', true, ARRAY(SELECT x::text FROM"
        f" generate_series(1, {CHUNK}) x)",
        "one_more": "SELECT -2, 'one_more', 'numeric', false, ARRAY(SELECT x::text FROM"
        f" generate_series({CHUNK + 1}, 1, -1) x)",
    }
    with connection.cursor() as cursor:
        for statement in inserts.values():
            cursor.execute(
                "INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys) " + statement
            )
        cursor.execute("SELECT db_table, key_order, keys FROM retention_deleted_keys WHERE run_item_id = -2")
        stored: dict[str, tuple[str, list[str]]] = {}
        for table, order, keys in cursor.fetchall():
            stored.setdefault(table, (order, []))[1].extend(keys)
        cursor.execute("SELECT retention.item_digests(-2)")
        digests = json.loads(cursor.fetchone()[0])
        cursor.execute("DELETE FROM retention_deleted_keys WHERE run_item_id = -2")
    assert {table: len(keys) for table, (_, keys) in stored.items()} == {
        "in_order": 150_001,
        "shuffled": 140_000,
        "texts": 135_000,
        "one_chunk": CHUNK,
        "one_more": CHUNK + 1,
    }
    for table, (order, keys) in stored.items():
        entry = {"count": len(keys), "order": order, "sha256": keys_digest(keys, order, CHUNK), "chunk": CHUNK}
        assert digests[table] == entry, table
    assert digests["one_chunk"]["sha256"] == keys_digest(stored["one_chunk"][1], "numeric")
    assert digests["one_more"]["sha256"] != keys_digest(stored["one_more"][1], "numeric")


@pytest.mark.django_db(transaction=True)
def test_item_digests_orders_integer_keys_as_numbers_and_other_keys_bytewise() -> None:
    """Keys of one table over several batches, out of order, negative and of every width."""
    integers = [["10", "9", "-3"], ["100", "2", "9223372036854775807", "-10"]]
    texts = [["b", "B", "10"], ["9", "ä", "a"]]
    with connection.cursor() as cursor:
        for keys in integers:
            cursor.execute(
                "INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, keys)"
                " VALUES (-1, 'ints', 'numeric', %s)",
                [keys],
            )
        for keys in texts:
            cursor.execute(
                "INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, keys)"
                " VALUES (-1, 'texts', 'bytewise', %s)",
                [keys],
            )
        # As the purge functions write integer keys: each batch sorted (ascending). Batches that
        # follow each other are joined as they are; overlapping ones are sorted again.
        runs = {"runs": [["-5", "2", "9"], ["10", "11"], ["12"]], "overlap": [["1", "9"], ["5", "12"]]}
        for table, batches in runs.items():
            for keys in batches:
                cursor.execute(
                    "INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)"
                    " VALUES (-1, %s, 'numeric', true, %s)",
                    [table, keys],
                )
        cursor.execute("SELECT retention.item_digests(-1)")
        digests = json.loads(cursor.fetchone()[0])  # jsonb reaches Django's cursor as text
        cursor.execute("DELETE FROM retention_deleted_keys WHERE run_item_id = -1")
    every_int = [k for keys in integers for k in keys]
    every_text = [k for keys in texts for k in keys]
    runs_keys = ["-5", "2", "9", "10", "11", "12"]
    assert digests == {
        "ints": {"count": 7, "order": "numeric", "sha256": keys_digest(every_int, "numeric"), "chunk": CHUNK},
        "texts": {"count": 6, "order": "bytewise", "sha256": keys_digest(every_text), "chunk": CHUNK},
        "runs": {"count": 6, "order": "numeric", "sha256": keys_digest(runs_keys, "numeric"), "chunk": CHUNK},
        "overlap": {
            "count": 4,
            "order": "numeric",
            "sha256": keys_digest(["1", "9", "5", "12"], "numeric"),
            "chunk": CHUNK,
        },
    }
    assert (
        keys_digest(every_int, "numeric")
        == hashlib.sha256(
            "".join(f"{k}\n" for k in ["-10", "-3", "2", "9", "10", "100", "9223372036854775807"]).encode()
        ).hexdigest()
    )
    assert (
        keys_digest(every_text)
        == hashlib.sha256("".join(f"{k}\n" for k in ["10", "9", "B", "a", "b", "ä"]).encode()).hexdigest()
    )


# --- the chain -------------------------------------------------------------------------------------


def a_few_runs() -> list[RetentionRun]:
    build_rules_data(random.Random(3))
    runs = [call_cleanup(dry_run=True), call_cleanup(), call_cleanup(model="rules.Place", days=1)]
    with connection.cursor() as cursor:  # a skipped run (this session holds the start lock)
        with transaction.atomic():  # another run is starting: it holds the start lock
            cursor.execute("SELECT retention.take_lock('run_cleanup')")
            other = connection.copy()  # type: ignore[attr-defined]
            with other.cursor() as c2:
                c2.execute("CALL retention.run_cleanup(triggered_by => 'second')")
            other.close()
    runs.append(RetentionRun.objects.get(triggered_by="second"))
    return runs


def test_every_finished_run_is_sealed_in_order_and_the_chain_verifies() -> None:
    runs = a_few_runs()
    assert runs[-1].status == "skipped"
    chain = list(RetentionRun.objects.order_by("chain_position"))
    assert [r.chain_position for r in chain] == list(range(1, len(chain) + 1))
    assert chain[0].prev_hash == ""
    for prev, run in itertools.pairwise(chain):
        assert run.prev_hash == prev.hash
    # Python's record of each run is the database's, byte for byte.
    with connection.cursor() as cursor:
        for run in chain:
            assert run.record_format == 2
            cursor.execute("SELECT retention.run_record(%s, %s)", [run.pk, run.record_format])
            (record,) = cursor.fetchone()
            items = list(RetentionRunItem.objects.filter(run=run))
            assert run_hash(run.prev_hash, run, items) == run.hash
            assert hashlib.sha256((run.prev_hash + record).encode()).hexdigest() == run.hash
    result = verify()
    assert result.ok and result.checked == len(chain), result.problem
    out = StringIO()
    call_command("retention", "verify", stdout=out)
    assert f"{len(chain)} run(s) verified" in out.getvalue() and "intact" in out.getvalue()


def test_digests_recorded_without_an_order_have_the_same_record_in_sql_and_python() -> None:
    """Items sealed before digests said their order and chunk: both sides write them as empty, in
    either record format."""
    build_rules_data(random.Random(5))
    run = call_cleanup()
    lifted(
        "UPDATE retention_run_item SET digests = (SELECT jsonb_object_agg(d.key, d.value - 'order' - 'chunk')"
        " FROM jsonb_each(digests) d) WHERE run_id = %s AND digests <> '{}'",
        [run.pk],
    )
    items = list(RetentionRunItem.objects.filter(run=run))
    entries = [entry for item in items for entry in item.digests.values()]
    assert entries and not any("order" in entry or "chunk" in entry for entry in entries)
    with connection.cursor() as cursor:
        for record_format, build in RECORD_FORMATS.items():
            cursor.execute("SELECT retention.run_record(%s, %s)", [run.pk, record_format])
            (record,) = cursor.fetchone()
            assert build(run, items) == record, record_format
        cursor.execute("SELECT retention.run_record(%s)", [run.pk])  # 0.1.0's function: format 1
        (record,) = cursor.fetchone()
        assert RECORD_FORMATS[1](run, items) == record


def test_format_2_covers_each_digests_chunk() -> None:
    build_rules_data(random.Random(6))
    run = call_cleanup()
    items = list(RetentionRunItem.objects.filter(run=run))
    assert run.record_format == 2 and any(item.digests for item in items)
    lifted(
        "UPDATE retention_run_item SET digests = (SELECT jsonb_object_agg(d.key,"
        " d.value || jsonb_build_object('chunk', 2)) FROM jsonb_each(digests) d) WHERE run_id = %s AND digests <> '{}'",
        [run.pk],
    )
    result = verify()
    assert not result.ok and result.broken_run == run.pk, result
    changed = list(RetentionRunItem.objects.filter(run=run))
    assert RECORD_FORMATS[1](run, changed) == RECORD_FORMATS[1](run, items)  # format 1 would not see it


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("UPDATE retention_run_item SET deleted = deleted + 1 WHERE run_id = %(id)s", "no longer matches its hash"),
        ("UPDATE retention_run SET error = 'nothing to see' WHERE id = %(id)s", "no longer matches its hash"),
        (
            "UPDATE retention_run_item SET digests = jsonb_set(digests, '{rules_author,count}', '0')"
            " WHERE run_id = %(id)s",
            "no longer matches its hash",
        ),
        ("DELETE FROM retention_run_item WHERE run_id = %(id)s", "no longer matches its hash"),
        # Every item field is in the record (issue 14, item 5).
        (
            "UPDATE retention_run_item SET cascaded = cascaded || '{\"rules_book\": 0}' WHERE run_id = %(id)s",
            "no longer matches its hash",
        ),
        ("UPDATE retention_run_item SET updated = '{}' WHERE run_id = %(id)s", "no longer matches its hash"),
        (
            "UPDATE retention_run_item SET blocked_reasons = '{\"PROTECT x\": 1}' WHERE run_id = %(id)s",
            "no longer matches its hash",
        ),
        ("UPDATE retention_run_item SET policy_source = 'default' WHERE run_id = %(id)s", "no longer matches its hash"),
        ("UPDATE retention_run_item SET throttled_ms = 5 WHERE run_id = %(id)s", "no longer matches its hash"),
        ("UPDATE retention_run_item SET replica_lag_bytes = 1 WHERE run_id = %(id)s", "no longer matches its hash"),
        (
            "UPDATE retention_run_item SET batch_durations_ms = batch_durations_ms || '[1]' WHERE run_id = %(id)s",
            "no longer matches its hash",
        ),
        (
            "UPDATE retention_run_item SET finished_at = finished_at + interval '1 hour' WHERE run_id = %(id)s",
            "no longer matches its hash",
        ),
        (
            "WITH i AS (DELETE FROM retention_run_item WHERE run_id = %(id)s)"
            " DELETE FROM retention_run WHERE id = %(id)s",
            "the runs between were deleted",
        ),
    ],
)
def test_verify_reports_the_first_broken_link(tamper: str, expected: str) -> None:
    runs = a_few_runs()
    real = runs[1]  # the real run that deleted authors
    assert RetentionRunItem.objects.filter(run=real, digests__has_key="rules_author").exists()
    lifted(tamper, {"id": real.pk})
    result = verify()
    assert not result.ok and expected in result.problem
    broken = runs[2].pk if "DELETE FROM retention_run WHERE" in tamper else real.pk
    assert result.broken_run == broken
    assert f"run {broken}" in result.problem
    with pytest.raises(CommandError, match=f"run {broken}"):
        call_command("retention", "verify", stdout=StringIO())


# --- append-only ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE retention_run SET rows_deleted = 0",
        "UPDATE retention_run SET status = 'running'",
        "DELETE FROM retention_run",
        "UPDATE retention_run_item SET deleted = 0",
        "DELETE FROM retention_run_item",
        "UPDATE retention_policy_history SET new_days = 1",
        "DELETE FROM retention_policy_history",
    ],
)
def test_finished_audit_rows_cannot_be_changed_or_deleted(statement: str) -> None:
    a_few_runs()
    assert RetentionPolicyHistory.objects.exists()
    with pytest.raises(DatabaseError, match="pgtrigger: Cannot"), transaction.atomic(), connection.cursor() as c:
        c.execute(statement)
    assert verify().ok


def test_a_hold_may_be_released_once_and_never_rewritten_or_deleted() -> None:
    place = Place.objects.create(name="p", is_deleted=True, deleted_at=timezone.now() - ELIGIBLE_AGE)
    hold = place_hold(place, "audit 7", by="legal", until=timezone.now() + timedelta(days=9))
    for statement in (
        "UPDATE retention_hold SET reason = 'nothing'",
        "UPDATE retention_hold SET object_pk = '0'",
        "DELETE FROM retention_hold",
        "UPDATE retention_hold SET until = now() - interval '1 day'",  # an expiry moved into the past
        "UPDATE retention_hold SET until = until - interval '1 hour'",  # or any sooner
        "UPDATE retention_hold SET released_at = now()",  # a release that does not say by whom
    ):
        with pytest.raises(DatabaseError, match="pgtrigger: Cannot"), transaction.atomic(), connection.cursor() as c:
            c.execute(statement)
    RetentionHold.objects.filter(pk=hold.pk).update(until=timezone.now() + timedelta(days=30))  # longer: allowed
    RetentionHold.objects.filter(pk=hold.pk).update(until=None)  # until released: allowed
    with pytest.raises(DatabaseError, match="pgtrigger: Cannot"), transaction.atomic():
        RetentionHold.objects.filter(pk=hold.pk).update(until=timezone.now() + timedelta(days=90))  # an end again
    release_hold(place, by="legal")
    with pytest.raises(DatabaseError, match="pgtrigger: Cannot"), transaction.atomic():
        RetentionHold.objects.filter(pk=hold.pk).update(released_at=None)
    assert RetentionHold.objects.get(pk=hold.pk).released_by == "legal"


def test_housekeeping_still_prunes_and_the_chain_verifies_from_where_it_starts() -> None:
    runs = a_few_runs()
    old = runs[:2]
    lifted(
        "UPDATE retention_run SET started_at = started_at - interval '4000 days',"
        " finished_at = finished_at - interval '4000 days' WHERE id = ANY(%s)",
        [[r.pk for r in old]],
    )
    # Moving the timestamps broke those two records: prune them as housekeeping does.
    with connection.cursor() as cursor:
        cursor.execute("SELECT retention.prune_audit(2555)")
        assert cursor.fetchone()[0] == 2
    assert not RetentionRun.objects.filter(pk__in=[r.pk for r in old]).exists()
    result = verify()
    assert result.ok, result.problem
    assert result.first_position == 3 and result.checked == len(runs) - 2
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:  # lifted only inside
        cursor.execute("DELETE FROM retention_run")


def test_prune_audit_refuses_a_period_shorter_than_audit_retention_days(settings: Any) -> None:
    a_few_runs()
    with pytest.raises(DatabaseError, match=r"older_than_days 30 is shorter than audit_retention_days \(2555\)"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT retention.prune_audit(30)")
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "audit_retention_days": 30}
    sync()
    with connection.cursor() as cursor:
        cursor.execute("SELECT retention.prune_audit(30)")  # allowed now; these runs are younger
        assert cursor.fetchone()[0] == 0
    with pytest.raises(DatabaseError, match="audit_days_at_least_1"), transaction.atomic():
        RetentionConfigRow.objects.update(audit_retention_days=0)


def test_a_dropped_trigger_is_reported_and_put_back_by_sync() -> None:
    model = RetentionRun
    trigger = TRIGGERS[model][0]
    pgid = trigger.get_pgid(model)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TRIGGER {pgid} ON "retention_run"')
    assert missing_triggers() == [f"retention_run.{pgid}"]
    with pytest.raises(CommandError, match="append-only triggers missing or disabled"):
        call_command("retention", "verify", stdout=StringIO())
    assert sync().triggers_installed == [f"retention_run.{pgid}"]
    assert missing_triggers() == []


def test_a_trigger_replaced_under_its_name_is_reported_and_put_back() -> None:
    model = RetentionRunItem
    pgid = TRIGGERS[model][1].get_pgid(model)
    with connection.cursor() as cursor:  # same name, does nothing
        cursor.execute(
            f'DROP TRIGGER {pgid} ON "retention_run_item"; CREATE TRIGGER {pgid} BEFORE UPDATE ON "retention_run_item"'
            " FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()"
        )
    assert missing_triggers() == [f"retention_run_item.{pgid}"]
    assert sync().triggers_installed == [f"retention_run_item.{pgid}"]
    a_few_runs()
    with pytest.raises(DatabaseError, match="pgtrigger: Cannot"), transaction.atomic(), connection.cursor() as c:
        c.execute("UPDATE retention_run_item SET deleted = 0")


# --- soft-delete columns of a model's own -----------------------------------------------------------


def test_own_columns_are_synced_and_purged_like_the_mixin() -> None:
    policies = {p.model_path: p for p in RetentionPolicy.objects.filter(model_path__in=["rules.Archive", "rules.Memo"])}
    assert (policies["rules.Archive"].deleted_at_column, policies["rules.Archive"].flag_column) == ("Deleted On", "")
    assert (policies["rules.Memo"].deleted_at_column, policies["rules.Memo"].flag_column) == ("removed_on", "removed")
    now = timezone.now()
    gone = Archive.objects.create(title="gone", deleted=now - ELIGIBLE_AGE)
    young = Archive.objects.create(title="young", deleted=now - timedelta(days=2))
    live = Archive.objects.create(title="live")
    locked = Archive.objects.create(title="locked", deleted=now - ELIGIBLE_AGE)
    ArchiveLock.objects.create(archive=locked)
    page = ArchivePage.objects.create(archive=gone)
    memo = Memo.objects.create(removed=True, removed_on=now - ELIGIBLE_AGE, archive=live)
    unflagged = Memo.objects.create(removed=False, removed_on=now - ELIGIBLE_AGE, archive=gone)
    manager = get_retention_manager()
    assert set(manager.get_eligible_records(Archive)) == {gone, locked}
    assert set(manager.get_eligible_records(Memo)) == {memo}
    report = {row["model_path"]: row for row in manager.generate_cleanup_report()["models"]}
    assert (report["rules.Archive"]["total_soft_deleted"], report["rules.Archive"]["eligible_for_cleanup"]) == (3, 2)
    assert (report["rules.Memo"]["total_soft_deleted"], report["rules.Memo"]["eligible_for_cleanup"]) == (1, 1)

    run = call_cleanup()
    assert run.status == "succeeded", run.error
    items = {i.model_path: i for i in RetentionRunItem.objects.filter(run=run)}
    assert (items["rules.Archive"].eligible, items["rules.Archive"].deleted, items["rules.Archive"].blocked) == (
        2,
        1,
        1,
    )
    assert (items["rules.Memo"].eligible, items["rules.Memo"].deleted) == (1, 1)
    assert set(Archive.objects.all()) == {young, live, locked}
    assert not ArchivePage.objects.filter(pk=page.pk).exists()
    assert set(Memo.objects.all()) == {unflagged}
    unflagged.refresh_from_db()
    assert unflagged.archive_id is None  # SET_NULL from the purged archive


def test_own_columns_are_checked_and_each_mistake_named() -> None:
    from django.db import models
    from django.test.utils import isolate_apps

    from django_pg_retention.checks import check_models

    with isolate_apps("rules"):

        class NoSuchField(models.Model):
            retention_deleted_at_field = "removed_at"

            class Meta:
                app_label = "rules"

        class WrongType(models.Model):
            deleted = models.BooleanField(default=False)
            retention_deleted_at_field = "deleted"

            class Meta:
                app_label = "rules"

        class WrongFlag(models.Model):
            deleted = models.DateTimeField(null=True)
            gone = models.DateTimeField(null=True)
            retention_deleted_at_field = "deleted"
            retention_flag_field = "gone"

            class Meta:
                app_label = "rules"

        messages = check_models([NoSuchField, WrongType, WrongFlag])
    texts = [(m.id, m.msg) for m in messages]
    assert texts == [
        (
            "pg_retention.E011",
            "rules.NoSuchField.retention_deleted_at_field = 'removed_at': rules.NoSuchField has no such field",
        ),
        (
            "pg_retention.E011",
            "rules.WrongType.retention_deleted_at_field = 'deleted' must name a DateTimeField, not a BooleanField",
        ),
        (
            "pg_retention.E011",
            "rules.WrongFlag.retention_flag_field = 'gone' must name a BooleanField, not a DateTimeField",
        ),
    ]


# --- anchored: heads kept outside the database ---------------------------------------------------


def test_verify_prints_the_head_and_fails_when_the_chain_lost_a_known_head(tmp_path: Any) -> None:
    runs = a_few_runs()
    out = StringIO()
    call_command("retention", "verify", stdout=out)
    head = RetentionRun.objects.order_by("-chain_position").first()
    assert head is not None and f"chain head: {head.chain_position}:{head.hash}" in out.getvalue()
    known = f"{head.chain_position}:{head.hash}"
    call_command("retention", "verify", "--head", known, stdout=StringIO())  # still there
    heads = tmp_path / "heads.txt"
    heads.write_text(f"# kept by ops\n{known}\n", encoding="utf-8")
    call_command("retention", "verify", "--heads-file", str(heads), stdout=StringIO())

    # A history rewritten and recomputed by a role that can write the tables: the chain verifies,
    # only the known head shows it.
    lifted(
        "UPDATE retention_run SET error = 'rewritten' WHERE id = %(id)s;"
        " UPDATE retention_run SET hash = encode(sha256(convert_to(prev_hash || retention.run_record(id, 2), 'UTF8')),"
        " 'hex') WHERE id = %(id)s",
        {"id": head.pk},
    )
    assert verify().ok
    with pytest.raises(
        CommandError, match=f"chain position {head.chain_position} has hash [0-9a-f]+, not the recorded"
    ):
        call_command("retention", "verify", "--head", known, stdout=StringIO())
    # The tail removed: the chain itself verifies, the known head is gone.
    lifted(
        "WITH i AS (DELETE FROM retention_run_item WHERE run_id = %(id)s) DELETE FROM retention_run WHERE id = %(id)s",
        {"id": head.pk},
    )
    assert verify().ok  # without the head, nothing shows
    with pytest.raises(CommandError, match=f"no longer contains position {head.chain_position}"):
        call_command("retention", "verify", "--heads-file", str(heads), stdout=StringIO())
    with pytest.raises(CommandError, match="is not POSITION:HASH"):
        call_command("retention", "verify", "--head", "3:abc", stdout=StringIO())
    assert runs


def test_each_sealed_run_is_written_to_the_server_log_as_a_head() -> None:
    logged: list[str] = []
    raw: Any = connection.connection if connection.connection else None
    with connection.cursor() as cursor:
        raw = connection.connection
        cursor.execute("SET client_min_messages = log")  # the LOG line reaches this client too
    raw.add_notice_handler(lambda diag: logged.append(diag.message_primary or ""))
    try:
        run = call_cleanup(dry_run=True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET client_min_messages")
    run.refresh_from_db()
    assert f"django-pg-retention: sealed run {run.pk} as chain head {run.chain_position}:{run.hash}" in logged


def test_a_disabled_trigger_is_reported_and_enabled_again_by_sync() -> None:
    model = RetentionRun
    pgid = TRIGGERS[model][0].get_pgid(model)
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "retention_run" DISABLE TRIGGER {pgid}')
    assert missing_triggers() == [f"retention_run.{pgid}"]
    with pytest.raises(CommandError, match=f"append-only triggers missing or disabled: retention_run.{pgid}"):
        call_command("retention", "verify", stdout=StringIO())
    assert sync().triggers_installed == [f"retention_run.{pgid}"]
    assert missing_triggers() == []
    a_few_runs()
    with pytest.raises(DatabaseError, match="pgtrigger: Cannot"), transaction.atomic(), connection.cursor() as c:
        c.execute("DELETE FROM retention_run")


# --- pruning is recorded; any other gap at the start of the chain is reported -------------------


def test_runs_deleted_from_the_start_of_the_chain_without_housekeeping_fail_verify_naming_the_gap() -> None:
    """The attack of issue 30: the newest evidence of a purge removed, the rest still chained."""
    runs = a_few_runs()
    first_two = [r.pk for r in runs[:2]]
    lifted(
        "DELETE FROM retention_run_item WHERE run_id = ANY(%(ids)s); DELETE FROM retention_run WHERE id = ANY(%(ids)s)",
        {"ids": first_two},
    )
    result = verify()
    assert not result.ok
    assert "chain positions 1-2 are missing and no pruning record covers them" in result.problem
    with pytest.raises(CommandError, match="runs were removed outside housekeeping"):
        call_command("retention", "verify", stdout=StringIO())


def test_housekeeping_records_what_it_pruned_chained_and_append_only() -> None:
    runs = a_few_runs()
    lifted(
        "UPDATE retention_run SET started_at = started_at - interval '4000 days',"
        " finished_at = finished_at - interval '4000 days' WHERE id = ANY(%s)",
        [[r.pk for r in runs[:2]]],
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT retention.prune_audit(2555)")
    (record,) = RetentionAuditPrune.objects.all()
    third = RetentionRun.objects.get(chain_position=3)
    assert (record.pk, record.through_position, record.runs_removed, record.prev_hash) == (1, 2, 2, "")
    assert record.through_hash == third.prev_hash and record.older_than_days == 2555
    out = StringIO()
    call_command("retention", "verify", stdout=out)
    assert "positions 1-2 pruned by housekeeping on" in out.getvalue() and "audit chain intact" in out.getvalue()
    for statement in ("UPDATE retention_audit_prune SET runs_removed = 1", "DELETE FROM retention_audit_prune"):
        with pytest.raises(DatabaseError, match="pgtrigger: Cannot"), transaction.atomic(), connection.cursor() as c:
            c.execute(statement)
    # Changed with the triggers lifted: the record no longer matches its hash.
    lifted("UPDATE retention_audit_prune SET older_than_days = 3000")
    assert "pruning record 1 no longer matches its hash" in verify().problem


def test_a_pruning_record_of_runs_younger_than_its_period_fails_verify() -> None:
    """A record forged to cover runs removed too soon (written with the triggers lifted, hash recomputed)."""
    runs = a_few_runs()
    lifted(
        "DELETE FROM retention_run_item WHERE run_id = %(id)s; DELETE FROM retention_run WHERE id = %(id)s",
        {"id": runs[0].pk},
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO retention_audit_prune"
            " VALUES (1, now(), 2555, 1, %s, 1, now() - interval '1 day', '', '', false)",
            [RetentionRun.objects.get(chain_position=2).prev_hash],
        )
        cursor.execute(
            "SELECT set_config('pgtrigger.ignore', '{' || string_agg(tgname, ',') || '}', true) FROM pg_trigger"
            " WHERE tgname LIKE 'pgtrigger\\_append\\_only\\_%%';"
            " UPDATE retention_audit_prune p"
            " SET hash = encode(sha256(convert_to(retention.prune_record(p), 'UTF8')), 'hex')"
        )
    assert "pruning record 1 removed runs up to" in verify().problem


# --- holds, releases and policy history in the proof (issue 30.4) --------------------------------


def owner_without_triggers(table: str, statement: str, params: Any = None) -> None:
    """What the table's owner can do in SQL: switch every trigger off (pgtrigger's and the seals')."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(table)).as_string(None))
        cursor.execute(statement, params)
        cursor.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(sql.Identifier(table)).as_string(None))


def held_and_released() -> tuple[RetentionHold, RetentionHold]:
    first = Place.objects.create(name="p", is_deleted=True, deleted_at=timezone.now() - ELIGIBLE_AGE)
    second = Place.objects.create(name="q", is_deleted=True, deleted_at=timezone.now() - ELIGIBLE_AGE)
    released = place_hold(first, "audit 30", by="legal")
    release_hold(first, by="counsel")
    kept = place_hold(second, "audit 31", by="legal", until=timezone.now() + timedelta(days=9))
    return RetentionHold.objects.get(pk=released.pk), kept


def test_holds_releases_and_policy_history_are_sealed_and_verify() -> None:
    released, kept = held_and_released()
    history = RetentionPolicyHistory.objects.count()
    assert history > 0
    result = verify()
    assert result.ok, result.problem
    # one seal per write: two holds placed, one released, and every history row
    assert result.seals_checked == 3 + history
    out = StringIO()
    call_command("retention", "verify", stdout=out)
    assert f"holds and policy history: {3 + history} seal(s) verified" in out.getvalue()
    assert released.released_by == "counsel" and kept.released_at is None


@pytest.mark.parametrize(
    ("table", "tamper", "expected"),
    [
        ("retention_hold", "DELETE FROM retention_hold WHERE id = %(kept)s", "hold {kept} was deleted"),
        (
            "retention_hold",
            "UPDATE retention_hold SET released_at = released_at - interval '30 days' WHERE id = %(released)s",
            "hold {released} no longer matches its latest seal",
        ),
        (
            "retention_hold",
            "UPDATE retention_hold SET released_at = now(), released_by = 'x' WHERE id = %(kept)s",
            "hold {kept} no longer matches its latest seal",
        ),
        (
            "retention_hold",
            "INSERT INTO retention_hold (model_path, object_pk, reason, created_by, created_at, released_by)"
            " VALUES ('rules.Place', '999', 'x', 'x', now(), '')",
            "has no seal: it was written with the triggers off",
        ),
        (
            "retention_policy_history",
            "DELETE FROM retention_policy_history WHERE id = %(history)s",
            "policy history row {history} was deleted",
        ),
        (
            "retention_policy_history",
            "UPDATE retention_policy_history SET new_days = 1 WHERE id = %(history)s",
            "policy history row {history} no longer matches its latest seal",
        ),
    ],
)
def test_a_hold_release_or_policy_history_row_tampered_by_the_owner_fails_verify(
    table: str, tamper: str, expected: str
) -> None:
    released, kept = held_and_released()
    ids = {"released": released.pk, "kept": kept.pk, "history": RetentionPolicyHistory.objects.order_by("id")[0].pk}
    assert verify().ok
    owner_without_triggers(table, tamper, ids)
    result = verify()
    assert not result.ok
    assert expected.format(**ids) in result.problem
    with pytest.raises(CommandError, match=expected.format(**ids)):
        call_command("retention", "verify", stdout=StringIO())


def test_a_removed_seal_fails_verify() -> None:
    held_and_released()
    owner_without_triggers("retention_hold", "DELETE FROM retention.record_seal WHERE position = 2")
    result = verify()
    assert not result.ok and "seal 3 does not follow seal 1: seals were removed" in result.problem


def test_holds_and_history_cannot_be_written_with_their_append_only_triggers_lifted() -> None:
    """The owner's pgtrigger.ignore (what housekeeping uses for the run tables) would have the
    rewrite sealed as if it were a release: refused for these tables."""
    released, _ = held_and_released()
    for statement in (
        "UPDATE retention_hold SET released_at = released_at - interval '30 days'",
        "UPDATE retention_policy_history SET new_days = 1",
    ):
        with pytest.raises(DatabaseError, match="never written with their append-only triggers lifted"):
            lifted(statement)
    assert RetentionHold.objects.get(pk=released.pk).released_at == released.released_at
    assert verify().ok
