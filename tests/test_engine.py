"""The engine on data shapes users make: index-bounded batches, one run to the fixpoint, an exact
dry run, and the functions run_cleanup is made of, each called directly."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from conftest import server_dsn
from django.apps import apps
from django.core import checks
from django.db import connection, models
from django.db.models import Q
from django.test.utils import isolate_apps
from django.utils import timezone
from purge_helpers import (
    ELIGIBLE_AGE,
    build_rules_data,
    call_cleanup,
    purge_once,
    rules_tables,
    snapshot,
)
from rules import models as r

from django_pg_retention.checks import check_models
from django_pg_retention.models import RetentionHold, RetentionPolicy, RetentionRun, RetentionRunItem
from django_pg_retention.policies import soft_delete_columns

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reset_rules")]


def scalar(query: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]  # type: ignore[index]


def as_json(value: Any) -> Any:
    """jsonb as Django's cursor returns it (text) to Python."""
    return json.loads(value) if isinstance(value, str) else value


# --- batches bounded by the index ------------------------------------------------------------------

# Bulk soft deletes: every eligible row carries one and the same timestamp.
BULK_ROWS: dict[str, str] = {
    "rules.Owner": "INSERT INTO rules_owner (label, is_deleted, deleted_at) "
    "SELECT 'o' || g, true, %(at)s FROM generate_series(1, %(n)s) g",
    "rules.Language": "INSERT INTO rules_language (code, is_deleted, deleted_at) "
    "SELECT lpad(g::text, 8, '0'), true, %(at)s FROM generate_series(1, %(n)s) g",
    "rules.Archive": 'INSERT INTO rules_archive (title, "Deleted On") '
    "SELECT 'a' || g, %(at)s FROM generate_series(1, %(n)s) g",
    "rules.Memo": "INSERT INTO rules_memo (removed, removed_on) SELECT true, %(at)s FROM generate_series(1, %(n)s) g",
}


@pytest.fixture
def plans() -> Iterator[list[dict[str, Any]]]:
    """The plans of every statement this connection runs, nested ones included (auto_explain's
    JSON, sent to the client as LOG messages)."""
    collected: list[dict[str, Any]] = []

    def on_notice(diag: Any) -> None:
        text = diag.message_primary or ""
        if "plan:" in text:
            collected.append(json.loads(text.split("plan:", 1)[1]))

    with connection.cursor() as cursor:  # on only around the call examined (select_plan)
        cursor.execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = -1; SET auto_explain.log_analyze = on;"
            " SET auto_explain.log_nested_statements = on; SET auto_explain.log_format = json;"
            " SET client_min_messages = log"
        )
    raw: Any = connection.connection
    raw.add_notice_handler(on_notice)
    yield collected
    raw.remove_notice_handler(on_notice)
    with connection.cursor() as cursor:
        cursor.execute("RESET client_min_messages; RESET auto_explain.log_min_duration")


def scans_of(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [plan["Plan"]]
    while stack:
        node = stack.pop()
        if node.get("Relation Name") == table:
            found.append(node)
        stack.extend(node.get("Plans", []))
    return found


def select_plan(plans: list[dict[str, Any]], function: str, args: list[Any], by_pk: bool = False) -> dict[str, Any]:
    plans.clear()
    with connection.cursor() as cursor:
        cursor.execute("SET auto_explain.log_min_duration = 0")
        try:
            cursor.execute(f'SELECT * FROM retention."{function}"(%s, %s, %s, %s, false, %s)', [*args, by_pk])
            ids = cursor.fetchone()[0]  # type: ignore[index]
        finally:
            cursor.execute("SET auto_explain.log_min_duration = -1")
    nested = [p for p in plans if "SKIP LOCKED" in p.get("Query Text", "")]
    assert len(nested) == 1, [p.get("Query Text") for p in plans]
    return {"plan": nested[0], "ids": ids}


@pytest.mark.parametrize("model_path", list(BULK_ROWS))
def test_batch_select_bounds_are_index_conditions_after_rows_purged_before_the_cursor(
    model_path: str, plans: list[dict[str, Any]]
) -> None:
    """200,000 rows sharing one timestamp; the first half purged (dead, not vacuumed); the next
    batch starts at the cursor: both bounds in the Index Cond, no Filter, no rows read past it."""
    model = apps.get_model(model_path)
    policy = RetentionPolicy.objects.get(model_path=model_path)
    columns = soft_delete_columns(model)
    at = timezone.now() - ELIGIBLE_AGE
    n, lim = 200_000, 1000
    with connection.cursor() as cursor:
        cursor.execute(BULK_ROWS[model_path], {"at": at, "n": n})
        cursor.execute(f'ANALYZE "{policy.db_table}"')
        # The purge before the cursor: the first half in keyset order, deleted and left unvacuumed.
        cursor.execute(
            f'SELECT "{columns.deleted_at_column}", "{policy.pk_column}"::text FROM "{policy.db_table}"'
            f' ORDER BY 1, "{policy.pk_column}" OFFSET %s LIMIT 1',
            [n // 2 - 1],
        )
        after_at, after_pk = cursor.fetchone()  # type: ignore[misc]
        cursor.execute(
            f'DELETE FROM "{policy.db_table}" WHERE ("{columns.deleted_at_column}", "{policy.pk_column}") <= (%s, %s)',
            [after_at, after_pk],
        )
    cutoff = timezone.now() - timedelta(days=30)
    for args, form in (([cutoff, None, None, lim], "first"), ([cutoff, after_at, after_pk, lim], "next")):
        found = select_plan(plans, policy.select_function, args)
        assert len(found["ids"]) == lim, form
        (scan,) = scans_of(found["plan"], policy.db_table)
        condition = scan.get("Index Cond", "")
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), (form, scan["Node Type"])
        assert f"{columns.deleted_at_column} < " in condition.replace('"', ""), (form, condition)
        if form == "next":
            assert "ROW(" in condition and ") > ROW(" in condition, condition
        # Only the flag may stay a filter: PostgreSQL keeps a partial index's predicate as a recheck on
        # a relation locked FOR UPDATE (a row restored meanwhile is skipped). It removes no row.
        allowed = {None, f"{columns.flag_column}"} if columns.flag_column else {None}
        assert scan.get("Filter") in allowed, (form, scan.get("Filter"))
        assert scan.get("Rows Removed by Filter", 0) == 0, (form, scan["Rows Removed by Filter"])
        # The scan stops at the batch: it neither reads past it nor walks the rows purged before it.
        assert scan["Actual Rows"] == lim, (form, scan["Actual Rows"])


def test_the_kept_children_of_a_batch_are_read_once_by_the_keys_of_its_locked_roots(
    plans: list[dict[str, Any]],
) -> None:
    """20,000 eligible owners with a shelf each, one shelf in ten live: the select reads the shelves
    of the batch's locked owners in one index scan by ``= ANY`` of their keys (not a subquery per
    owner, not the whole table), counts the owners with a live shelf as blocked and takes the rest."""
    policy = RetentionPolicy.objects.get(model_path="rules.Owner")
    at = timezone.now() - ELIGIBLE_AGE
    n, lim = 20_000, 1000
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO rules_owner (label, is_deleted, deleted_at)"
            " SELECT 'o' || g, true, %s FROM generate_series(1, %s) g",
            [at, n],
        )
        cursor.execute(
            "INSERT INTO rules_shelf (owner_id, is_deleted, deleted_at)"
            " SELECT id, id %% 10 <> 0, CASE WHEN id %% 10 <> 0 THEN %s::timestamptz END FROM rules_owner",
            [at],
        )
        cursor.execute("ANALYZE rules_owner; ANALYZE rules_shelf")
    cutoff = timezone.now() - timedelta(days=30)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM rules_owner WHERE is_deleted AND deleted_at < %s ORDER BY deleted_at, id LIMIT %s",
            [cutoff, lim],
        )
        batch = [row[0] for row in cursor.fetchall()]
    found = select_plan(plans, policy.select_function, [cutoff, None, None, lim])
    # In the batch's order (deleted_at, id), after the joins with what blocks it.
    assert [int(pk) for pk in found["ids"]] == [pk for pk in batch if pk % 10 != 0]
    (scan,) = scans_of(found["plan"], "rules_shelf")
    assert scan["Node Type"] == "Index Scan" and scan["Actual Loops"] == 1, scan
    condition = scan.get("Index Cond", "").replace('"', "")
    assert "owner_id = ANY" in condition, condition
    # Read: the shelves of the batch's owners, one each; kept: the live ones.
    assert scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0) == lim, scan
    assert scan["Actual Rows"] == lim // 10, scan


# A backlog: every other row soft-deleted in one bulk update, the rest live.
BACKLOG_ROWS: dict[str, str] = {
    "rules.Owner": "INSERT INTO rules_owner (label, is_deleted, deleted_at) "
    "SELECT 'o' || g, g %% 2 = 0, CASE WHEN g %% 2 = 0 THEN %(at)s END FROM generate_series(1, %(n)s) g",
    "rules.Language": "INSERT INTO rules_language (code, is_deleted, deleted_at) "
    "SELECT lpad(g::text, 8, '0'), g %% 2 = 0, CASE WHEN g %% 2 = 0 THEN %(at)s END FROM generate_series(1, %(n)s) g",
    "rules.Archive": 'INSERT INTO rules_archive (title, "Deleted On") '
    "SELECT 'a' || g, CASE WHEN g %% 2 = 0 THEN %(at)s END FROM generate_series(1, %(n)s) g",
    "rules.Memo": "INSERT INTO rules_memo (removed, removed_on) "
    "SELECT g %% 2 = 0, CASE WHEN g %% 2 = 0 THEN %(at)s END FROM generate_series(1, %(n)s) g",
}


@pytest.mark.parametrize("model_path", list(BACKLOG_ROWS))
def test_a_backlog_is_taken_in_primary_key_order_bounded_by_the_primary_key_index(
    model_path: str, plans: list[dict[str, Any]]
) -> None:
    """Half of 200,000 rows eligible, interleaved with live ones, the first half of the table purged
    (dead, not vacuumed): each batch walks the primary key index from the cursor and reads about one
    live row per eligible row, never the rows before the cursor."""
    policy = RetentionPolicy.objects.get(model_path=model_path)
    at = timezone.now() - ELIGIBLE_AGE
    n, lim = 200_000, 1000
    with connection.cursor() as cursor:
        cursor.execute(BACKLOG_ROWS[model_path], {"at": at, "n": n})
        cursor.execute(f'ANALYZE "{policy.db_table}"')
        assert scalar("SELECT retention.batches_in_pk_order(%s, %s)", [n // 2, policy.db_table]) is True
        assert scalar("SELECT retention.batches_in_pk_order(%s, %s)", [n // 20, policy.db_table]) is False
        cursor.execute(
            f'SELECT "{policy.pk_column}"::text FROM "{policy.db_table}"'
            f' ORDER BY "{policy.pk_column}" OFFSET %s LIMIT 1',
            [n // 2 - 1],
        )
        (after_pk,) = cursor.fetchone()  # type: ignore[misc]
        cursor.execute(f'DELETE FROM "{policy.db_table}" WHERE "{policy.pk_column}" <= %s', [after_pk])
    cutoff = timezone.now() - timedelta(days=30)
    for args, form in (([cutoff, None, None, lim], "first"), ([cutoff, None, after_pk, lim], "next")):
        found = select_plan(plans, policy.select_function, args, by_pk=True)
        assert len(found["ids"]) == lim, form
        (scan,) = scans_of(found["plan"], policy.db_table)
        assert scan["Node Type"] == "Index Scan" and scan["Index Name"].endswith("_pkey"), (form, scan)
        if form == "next":
            condition = scan.get("Index Cond", "").replace('"', "")
            assert re.search(rf"\(?{policy.pk_column}\)?(::text)? > ", condition), condition
            assert scan.get("Rows Removed by Filter", 0) <= lim + 1, scan["Rows Removed by Filter"]
        assert scan["Actual Rows"] == lim, (form, scan["Actual Rows"])
        assert [int(k) if k.isdigit() else k for k in found["ids"]] == sorted(
            int(k) if k.isdigit() else k for k in found["ids"]
        )


def partition_scans(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [plan["Plan"]]
    while stack:
        node = stack.pop()
        if str(node.get("Relation Name", "")).startswith(f"{table}_p"):
            found.append(node)
        stack.extend(node.get("Plans", []))
    return found


@pytest.mark.parametrize("order", ["keyset", "primary key"])
def test_batches_of_a_partitioned_table_are_bounded_by_each_partitions_index(
    order: str, plans: list[dict[str, Any]]
) -> None:
    """rules.Shipment is hash-partitioned by tenant (4 partitions). 200,000 rows of 20 tenants: in
    keyset order all share one timestamp, in primary-key order (a backlog) every other one is live;
    the eligible rows before a cursor purged, dead and not vacuumed. Each partition's own index bounds its scan from the
    cursor (no sequential scan, nothing removed by a filter) and the scans are merged in batch order."""
    policy = RetentionPolicy.objects.get(model_path="rules.Shipment")
    at = timezone.now() - ELIGIBLE_AGE
    n, lim = 200_000, 1000
    by_pk = order == "primary key"
    deleted = "g %% 2 = 0" if by_pk else "true"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO rules_shipment (tenant, is_deleted, deleted_at)"
            f" SELECT g %% 20, {deleted}, CASE WHEN {deleted} THEN %(at)s END FROM generate_series(1, %(n)s) g",
            {"at": at, "n": n},
        )
        cursor.execute("ANALYZE rules_shipment")
        assert scalar("SELECT retention.batches_in_pk_order(%s, %s)", [n // 2, policy.db_table]) is True
        assert scalar("SELECT retention.batches_in_pk_order(%s, %s)", [n // 20, policy.db_table]) is False
        cursor.execute(
            "SELECT deleted_at, id::text FROM rules_shipment ORDER BY deleted_at, id OFFSET %s LIMIT 1", [n // 4]
        )
        after_at, after_pk = cursor.fetchone()  # type: ignore[misc]
        cursor.execute("DELETE FROM rules_shipment WHERE (deleted_at, id) <= (%s, %s)", [after_at, after_pk])
    cutoff = timezone.now() - timedelta(days=30)
    cursor_at = None if by_pk else after_at
    for args, form in (([cutoff, None, None, lim], "first"), ([cutoff, cursor_at, after_pk, lim], "next")):
        found = select_plan(plans, policy.select_function, args, by_pk=by_pk)
        assert len(found["ids"]) == lim, form
        scans = partition_scans(found["plan"], policy.db_table)
        assert len(scans) == 4, (form, [s.get("Relation Name") for s in scans])
        for scan in scans:
            where = (form, scan["Relation Name"])
            assert scan["Node Type"] == "Index Scan", (*where, scan["Node Type"])
            condition = scan.get("Index Cond", "").replace('"', "")
            if by_pk:
                assert scan["Index Name"] == f"{scan['Relation Name']}_pkey", (*where, scan["Index Name"])
                if form == "next":
                    assert re.search(r"\(?id\)? > ", condition), (*where, condition)
                # Live rows between the eligible ones: about one per row taken, never the purged half.
                assert scan.get("Rows Removed by Filter", 0) <= lim + 1, (*where, scan.get("Rows Removed by Filter"))
            else:
                assert "deleted_at < " in condition, (*where, condition)
                if form == "next":
                    assert "ROW(" in condition and ") > ROW(" in condition, (*where, condition)
                assert scan.get("Filter") in (None, "is_deleted"), (*where, scan.get("Filter"))
                assert scan.get("Rows Removed by Filter", 0) == 0, (*where, scan["Rows Removed by Filter"])
        # Merged in order: each partition's scan stops once the batch is full.
        assert sum(scan["Actual Rows"] for scan in scans) <= lim + len(scans), form
        keys = [int(k) for k in found["ids"]]
        if by_pk:
            assert keys == sorted(keys), form
        if form == "next":
            assert min(keys) > int(after_pk), form


def test_a_backlog_purged_in_primary_key_order_leaves_exactly_the_live_rows() -> None:
    at = timezone.now() - ELIGIBLE_AGE
    with connection.cursor() as cursor:
        cursor.execute(BACKLOG_ROWS["rules.Owner"], {"at": at, "n": 5000})
        cursor.execute("ANALYZE rules_owner")
    preview = call_cleanup(model="rules.Owner", dry_run=True, batch_size=300)
    run = purge_once(model="rules.Owner", batch_size=300)
    item = RetentionRunItem.objects.get(run=run)
    assert (item.eligible, item.deleted, item.blocked) == (2500, 2500, 0)
    assert RetentionRunItem.objects.get(run=preview).deleted == 2500
    assert item.batches == 9  # ceil(2500 / 300)
    assert r.Owner.objects.count() == 2500 and not r.Owner.objects.filter(is_deleted=True).exists()


# --- one run reaches the fixpoint ------------------------------------------------------------------


def test_one_run_deletes_what_a_later_model_frees_and_counts_only_rows_still_blocked() -> None:
    old = {"is_deleted": True, "deleted_at": timezone.now() - ELIGIBLE_AGE}
    freed = r.Bin.objects.create(label="freed", **old)
    r.Link.objects.create(owner=r.Owner.objects.create(label="eligible", **old), bin=freed)
    kept = r.Bin.objects.create(label="kept", **old)
    r.Link.objects.create(owner=r.Owner.objects.create(label="live"), bin=kept)
    bin_position = RetentionPolicy.objects.get(model_path="rules.Bin").position
    assert bin_position < RetentionPolicy.objects.get(model_path="rules.Owner").position

    run = purge_once()
    assert list(r.Bin.objects.values_list("label", flat=True)) == ["kept"]
    item = RetentionRunItem.objects.get(run=run, model_path="rules.Bin")
    assert (item.eligible, item.deleted, item.blocked) == (2, 1, 1)
    assert item.blocked_reasons == {"RESTRICT rules.Link.bin": 1}
    assert item.batches >= 2  # a pass that found it blocked, and a pass that deleted it


def test_rows_no_later_purge_can_free_get_no_second_pass() -> None:
    """A second pass rereads the whole eligible range (1.9M dead index entries for 3.8 s in the kept
    benchmark at 4M) and can free only rows blocked by reference to a table some purge after them
    deleted rows of: not a row kept by its own policy's child, a legal hold, or a PROTECT from a
    table no purge touches, even when a later model purges rows."""
    old = {"is_deleted": True, "deleted_at": timezone.now() - ELIGIBLE_AGE}
    r.Shelf.objects.create(owner=r.Owner.objects.create(label="live shelf", **old))  # RETAINED rules.Shelf
    held = r.Owner.objects.create(label="held", **old)
    RetentionHold.objects.create(model_path="rules.Owner", object_pk=str(held.pk), reason="litigation")
    r.Owner.objects.create(label="goes", **old)
    r.ArchiveLock.objects.create(archive=r.Archive.objects.create(title="locked", deleted=old["deleted_at"]))
    r.Archive.objects.create(title="goes", deleted=old["deleted_at"])
    r.Shelf.objects.create(**old)  # rules.Shelf, purged after both
    positions = dict(RetentionPolicy.objects.values_list("model_path", "position"))
    assert positions["rules.Shelf"] > max(positions["rules.Owner"], positions["rules.Archive"])

    run = purge_once()
    items = {i.model_path: i for i in run.items.all()}
    assert items["rules.Shelf"].deleted == 1
    owner, archive = items["rules.Owner"], items["rules.Archive"]
    hold = f"legal hold on rules.Owner {held.pk}: litigation"
    assert (owner.deleted, owner.blocked_reasons) == (1, {"RETAINED rules.Shelf (live)": 1, hold: 1})
    assert (archive.deleted, archive.blocked_reasons) == (1, {"PROTECT rules.ArchiveLock.archive": 1})
    assert (owner.batches, archive.batches) == (1, 1)  # one pass each
    assert sorted(r.Owner.objects.values_list("label", flat=True)) == ["held", "live shelf"]
    assert RetentionPolicy.objects.get(model_path="rules.Archive").blocking_tables == ["rules_archivelock"]
    assert RetentionPolicy.objects.get(model_path="rules.Owner").blocking_tables == []


# --- the dry run announces the real run ------------------------------------------------------------


def items_of(run: RetentionRun) -> dict[str, tuple[Any, ...]]:
    return {
        i.model_path: (i.eligible, i.deleted, i.blocked, i.cascaded, i.updated, i.blocked_reasons, i.status)
        for i in run.items.all()
    }


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 11, 12, 13])
@pytest.mark.parametrize("batch_size", [None, 2])
def test_a_dry_run_announces_exactly_what_the_real_run_then_records(seed: int, batch_size: int | None) -> None:
    build_rules_data(random.Random(seed), authors=20 if seed > 10 else 12)
    # Both runs must see the same statistics: a run purges a backlog in primary-key order when its
    # eligible rows are a tenth of pg_class.reltuples (batches_in_pk_order), and an autoanalyze
    # between the two would change the batches and so which rows count as roots or as cascaded
    # (a self-referencing CASCADE). Analyzed now, autoanalyze has nothing left to do.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    before = snapshot(rules_tables())
    preview = call_cleanup(dry_run=True, batch_size=batch_size)
    assert preview.status == "succeeded" and preview.rows_deleted == 0
    assert snapshot(rules_tables()) == before, "the dry run changed data"
    real = call_cleanup(batch_size=batch_size)
    assert real.status == "succeeded"
    dry, done = items_of(preview), items_of(real)
    assert dry == done, {m: (dry.get(m), done.get(m)) for m in set(dry) | set(done) if dry.get(m) != done.get(m)}
    assert sum(i.deleted for i in real.items.all()) > 0


# --- the functions run_cleanup is made of ----------------------------------------------------------


def test_next_batch_size_aims_at_the_target_within_bounds() -> None:
    cases = [
        ((1000, 100, 200, 100, 5000), 2000),  # twice as fast as the target: at most double
        ((1000, 400, 200, 100, 5000), 500),  # twice as slow: half
        ((1000, 10_000, 200, 100, 5000), 500),  # far too slow: still only halved
        ((1000, 250, 200, 100, 5000), 800),  # in between: scaled
        ((4000, 50, 200, 100, 5000), 5000),  # capped at the maximum
        ((150, 1000, 200, 100, 5000), 100),  # floored at the minimum
        ((1000, 0, 200, 100, 5000), 2000),  # a batch under a millisecond
    ]
    for args, expected in cases:
        assert scalar("SELECT retention.next_batch_size(%s, %s, %s, %s, %s)", list(args)) == expected, args
    assert (
        scalar(
            "SELECT provolatile FROM pg_proc WHERE oid = 'retention.next_batch_size(integer, integer, integer, integer,"
            " integer)'::regprocedure"
        )
        == "i"
    )


def start_run(dry_run: bool = False, days: int | None = None) -> int:
    return int(scalar("SELECT retention.start_run(%s, NULL, %s, 'test')", [dry_run, days]))


def start_item(run: int, model_path: str, force: bool = False) -> dict[str, Any]:
    """The step as run_cleanup calls it; the run was started by this session (start_run)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_jsonb(retention.start_item(%s, %s, %s))", [run, model_path, force])
        return as_json(cursor.fetchone()[0])  # type: ignore[index]


def test_start_item_counts_eligible_rows_and_applies_the_guard_rail(settings: Any) -> None:
    old = timezone.now() - ELIGIBLE_AGE
    r.Bin.objects.bulk_create(r.Bin(is_deleted=True, deleted_at=old) for _ in range(3))
    r.Bin.objects.create(is_deleted=True, deleted_at=timezone.now())  # too young
    r.Bin.objects.create(is_deleted=False, deleted_at=old)  # live
    run = start_run()
    item = start_item(run, "rules.Bin")
    assert (item["status"], item["eligible"], item["policy_source"]) == ("running", 3, "app_level")
    assert RetentionRunItem.objects.get(id=item["id"]).eligible == 3
    assert start_item(start_run(days=1), "rules.Bin")["policy_source"] == "override"

    RetentionPolicy.objects.filter(model_path="rules.Bin").update(max_deletions_per_run=2)
    guarded = start_item(run, "rules.Bin")
    assert guarded["status"] == "needs_confirmation" and "exceed max_deletions_per_run (2)" in guarded["error"]
    assert "--model rules.Bin --execute --force" in guarded["error"]
    assert start_item(run, "rules.Bin", force=True)["status"] == "running"
    # A dry run's item leaves out the rows its ledger already counts as gone, and no guard rail.
    counted = r.Bin.objects.filter(is_deleted=True, deleted_at=old).values_list("pk", flat=True)[0]
    dry_run = start_run(dry_run=True)
    with connection.cursor() as cursor:  # the ledger is the owner's table, keyed by run
        cursor.execute("INSERT INTO retention.dry_gone VALUES (%s, 'rules_bin', %s)", [dry_run, str(counted)])
        cursor.execute("INSERT INTO retention.dry_gone VALUES (%s, 'rules_bin', %s)", [run, str(counted + 1)])
    try:
        dry = start_item(dry_run, "rules.Bin")
        assert (dry["status"], dry["eligible"]) == ("running", 2)  # another run's ledger row does not count
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM retention.dry_gone")


def test_start_item_fails_only_its_item_when_the_count_fails() -> None:
    RetentionPolicy.objects.filter(model_path="rules.Bin").update(deleted_at_column="no_such_column")
    item = start_item(start_run(), "rules.Bin")
    assert item["status"] == "failed" and "no_such_column" in item["error"]


def test_purge_batch_purges_after_the_cursor_records_the_batch_and_ends_when_nothing_is_left() -> None:
    old = timezone.now() - ELIGIBLE_AGE
    r.Bin.objects.bulk_create(r.Bin(is_deleted=True, deleted_at=old - timedelta(seconds=i)) for i in range(3))
    young = r.Bin.objects.create(is_deleted=True, deleted_at=timezone.now())
    item = start_item(start_run(), "rules.Bin")["id"]
    cursor_at, cursor_pk, batches = None, None, []
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT status, error, last_at, last_pk, taken, purged"
                " FROM retention.purge_batch(%s, %s, %s, 2, false)",
                [item, cursor_at, cursor_pk],
            )
            status, error, cursor_at, cursor_pk, taken, purged = cursor.fetchone()  # type: ignore[misc]
        if status != "running":
            break
        batches.append((taken, purged))
    assert (status, error) == ("succeeded", "")
    assert batches == [(2, 2), (1, 1)]
    assert list(r.Bin.objects.values_list("pk", flat=True)) == [young.pk]
    recorded = RetentionRunItem.objects.get(id=item)
    assert (recorded.deleted, recorded.batches, recorded.batch_sizes) == (3, 2, [2, 2])


def test_a_batch_runs_its_statements_without_jit(plans: list[dict[str, Any]]) -> None:
    """JIT compiles a statement's expressions on every execution; a batch select whose LIMIT sits
    over a large table's estimate passed jit_above_cost and spent 22-38 ms a batch compiling (issue
    25). With every statement over the threshold, a statement outside a batch is compiled and none
    of the batch's (the select, the purge, the foreign-key checks) is."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_jit_available()")
        if not cursor.fetchone()[0]:  # type: ignore[index]
            pytest.skip("this server has no JIT provider (llvmjit)")
    old = timezone.now() - ELIGIBLE_AGE
    r.Owner.objects.create(label="o", is_deleted=True, deleted_at=old)
    item = start_item(start_run(), "rules.Owner")["id"]
    plans.clear()
    with connection.cursor() as cursor:
        cursor.execute("SET jit = on; SET jit_above_cost = 0; SET auto_explain.log_min_duration = 0")
        try:
            cursor.execute("SELECT count(*) FROM rules_owner")
            cursor.execute("SELECT status, error, purged FROM retention.purge_batch(%s, NULL, NULL, 10, false)", [item])
            outcome = cursor.fetchone()
        finally:
            cursor.execute("SET auto_explain.log_min_duration = -1; RESET jit_above_cost; RESET jit")
    assert outcome == ("running", "", 1)
    batch = [p for p in plans if any(s in p["Query Text"] for s in ("SKIP LOCKED", "DELETE FROM", "FOR KEY SHARE"))]
    assert {s for p in batch for s in ("SKIP LOCKED", "DELETE FROM") if s in p["Query Text"]} == {
        "SKIP LOCKED",
        "DELETE FROM",
    }  # the batch's select and purge were seen
    assert [p["Query Text"] for p in batch if "JIT" in p] == []
    assert any("JIT" in p and p["Query Text"] == "SELECT count(*) FROM rules_owner" for p in plans)


def test_record_batch_adds_a_batch_to_its_item_and_a_real_run() -> None:
    run = start_run()
    item = start_item(run, "rules.Bin")["id"]
    result = {
        "deleted": {"rules_bin": 3, "rules_link": 2},
        "updated": {"rules_x.y": 1},
        "blocked": 1,
        "blocked_reasons": {"RESTRICT rules.Link.bin": 1},
        "purged": 3,
    }
    for _ in range(2):
        purged = scalar(
            "SELECT retention.record_batch(%s, %s, ARRAY['PROTECT a', 'PROTECT a'], 4, 100, 37, false)",
            [item, json.dumps(result)],
        )
        assert purged == 3
    i = RetentionRunItem.objects.get(id=item)
    assert (i.deleted, i.blocked, i.skipped_locked, i.batches) == (6, 6, 8, 2)
    assert i.cascaded == {"rules_bin": 6, "rules_link": 4} and i.updated == {"rules_x.y": 2}
    assert i.blocked_reasons == {"PROTECT a": 4, "RESTRICT rules.Link.bin": 2}
    assert (i.batch_sizes, i.batch_durations_ms) == ([100, 100], [37, 37])
    assert RetentionRun.objects.get(id=run).rows_deleted == 10
    # A batch that did nothing (skipped for locks): counted, nothing added.
    assert scalar("SELECT retention.record_batch(%s, NULL, NULL, 5, 100, 2001, false)", [item]) == 0
    assert RetentionRunItem.objects.get(id=item).skipped_locked == 13
    # A dry run's batch never counts as rows deleted by the run.
    dry = start_run(dry_run=True)
    dry_item = start_item(dry, "rules.Bin")["id"]
    scalar("SELECT retention.record_batch(%s, %s, NULL, 0, 100, 5, true)", [dry_item, json.dumps(result)])
    assert RetentionRunItem.objects.get(id=dry_item).deleted == 3
    assert RetentionRun.objects.get(id=dry).rows_deleted == 0


def test_begin_pass_counts_blocked_rows_afresh_and_only_for_open_items() -> None:
    run = start_run()
    item = start_item(run, "rules.Bin")["id"]
    scalar(
        "SELECT retention.record_batch(%s, %s, ARRAY['PROTECT a'], 2, 10, 1, false)",
        [item, json.dumps({"deleted": {"rules_bin": 1}, "purged": 1})],
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_jsonb(retention.begin_pass(%s))", [item])
        reopened = as_json(cursor.fetchone()[0])  # type: ignore[index]
    assert (reopened["blocked"], reopened["blocked_reasons"], reopened["skipped_locked"]) == (0, {}, 0)
    assert (reopened["deleted"], reopened["cascaded"]) == (1, {"rules_bin": 1})  # deletions stay
    scalar("SELECT retention.finish_item(%s, 'succeeded', '')", [item])
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_jsonb(retention.begin_pass(%s))", [item])
        assert cursor.fetchone()[0] is None  # type: ignore[index]  # a finished item is never reopened


def test_pass_waiting_frees_a_blocked_model_only_after_a_purge_of_a_table_that_can_block_it() -> None:
    run = start_run()

    def item_that(model: str, deleted: dict[str, int], blocked: list[str]) -> int:
        item = start_item(run, model)["id"]
        scalar(
            "SELECT retention.record_batch(%s, %s, %s, 0, 10, 1, false)",
            [item, json.dumps({"deleted": deleted, "purged": 1}), blocked],
        )
        return item

    def waiting_after(waiting: dict[str, Any], item: int, before: dict[str, int], ended: bool = True) -> Any:
        query = "SELECT retention.pass_waiting(%s, %s, %s, %s)"
        return as_json(scalar(query, [json.dumps(waiting), item, json.dumps(before), ended]))

    # rules.Bin: RESTRICT from rules_link. Its own deletions cannot free it; an unfinished pass never waits.
    bin_item = item_that("rules.Bin", {"rules_bin": 3}, ["RESTRICT rules.Link.bin"])
    waiting = waiting_after({}, bin_item, {})
    assert waiting == {"rules.Bin": {"tables": ["rules_link"], "freed": False}}
    assert waiting_after({}, bin_item, {}, ended=False) == {}
    # A purge that deleted no new rules_link rows (its count did not grow) frees nothing ...
    owner_item = item_that("rules.Owner", {"rules_owner": 1, "rules_link": 1}, [])
    assert waiting_after(waiting, owner_item, {"rules_owner": 0, "rules_link": 1}) == waiting
    # ... one that did frees Bin, and Owner (not blocked) does not wait.
    assert waiting_after(waiting, owner_item, {}) == {"rules.Bin": {"tables": ["rules_link"], "freed": True}}
    # Kept by its own policy's child or a hold: no table can free it. A foreign key the model graph
    # does not know: any purge may.
    shelf_item = item_that("rules.Shelf", {"rules_shelf": 1}, [])
    kept = waiting_after({}, item_that("rules.Owner", {}, ["RETAINED rules.Shelf (live)", "a hold"]), {})
    assert kept == {"rules.Owner": {"tables": [], "freed": False}}
    assert waiting_after(kept, shelf_item, {}) == kept
    unknown = waiting_after({}, item_that("rules.Owner", {}, ["foreign key: raw_fk violated"]), {})
    assert unknown == {"rules.Owner": {"tables": None, "freed": False}}
    assert waiting_after(unknown, shelf_item, {})["rules.Owner"]["freed"] is True


def test_finish_item_stores_digests_and_drops_the_keys() -> None:
    run = start_run()
    item = start_item(run, "rules.Bin")["id"]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO retention_deleted_keys (run_item_id, db_table, keys) VALUES (%s, 'rules_bin', %s)",
            [item, ["2", "10", "1"]],
        )
    scalar("SELECT retention.finish_item(%s, 'timed_out', 'budget')", [item])
    i = RetentionRunItem.objects.get(id=item)
    assert (i.status, i.error) == ("timed_out", "budget") and i.finished_at is not None and i.duration is not None
    assert i.digests["rules_bin"]["count"] == 3
    assert scalar("SELECT count(*) FROM retention_deleted_keys WHERE run_item_id = %s", [item]) == 0


def test_finish_run_derives_the_status_closes_open_items_and_seals() -> None:
    def finish(run: int, timed_out: bool = False, error: str = "") -> RetentionRun:
        assert scalar("SELECT retention.finish_run(%s, %s, 60, %s)", [run, timed_out, error]) is not None
        return RetentionRun.objects.get(id=run)

    ok = start_run()
    open_item = start_item(ok, "rules.Bin")["id"]
    done = finish(ok)
    assert (done.status, done.error) == ("succeeded", "") and done.hash and done.chain_position
    assert RetentionRunItem.objects.get(id=open_item).status == "succeeded"

    late = finish(start_run(), timed_out=True)
    assert late.status == "timed_out" and "max_execution_time (60 s)" in late.error

    broken = start_run()
    failed_item = start_item(broken, "rules.Bin")["id"]
    scalar("SELECT retention.finish_item(%s, 'failed', 'boom')", [failed_item])
    failed = finish(broken, timed_out=True)
    assert (failed.status, failed.error) == ("failed", "rules.Bin: boom")
    assert finish(start_run(), error="no policy").status == "failed"


def test_recover_interrupted_runs_marks_and_seals_what_a_killed_backend_left() -> None:
    run = start_run()
    item = start_item(run, "rules.Bin")["id"]
    other = start_item(run, "rules.Owner")["id"]
    scalar("SELECT retention.finish_item(%s, 'succeeded', '')", [other])
    assert scalar("SELECT retention.recover_interrupted_runs()") == 1
    stale = RetentionRun.objects.get(id=run)
    assert stale.status == "interrupted" and stale.hash and "without finishing" in stale.error
    assert RetentionRunItem.objects.get(id=item).status == "interrupted"
    assert RetentionRunItem.objects.get(id=other).status == "succeeded"
    assert scalar("SELECT retention.recover_interrupted_runs()") == 0


def test_begin_run_skips_while_another_run_executes_and_recovers_a_run_whose_backend_stopped() -> None:
    """Liveness is the backend's state, not a lock: an active backend's run blocks a start; the run
    of a backend that is idle (its CALL failed or was cancelled) is recovered."""
    with psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True) as other:
        other_pid = other.info.backend_pid
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO retention_run (started_at, status, triggered_by, dry_run, model_filter, rows_deleted,"
                " error, backend_pid, requested_by) VALUES (clock_timestamp(), 'running', 'other', false, '', 0, '',"
                " %s, '') RETURNING id",
                [other_pid],
            )
            stale = cursor.fetchone()[0]  # type: ignore[index]
        busy = threading.Thread(target=lambda: other.execute("SELECT pg_sleep(1.5)"))
        busy.start()
        time.sleep(0.3)  # the other backend is now active in a statement
        assert scalar("SELECT retention.begin_run(false, NULL, NULL, 'test')") is None
        skipped = RetentionRun.objects.order_by("-id").first()
        assert skipped is not None and (skipped.status, skipped.error) == ("skipped", f"run {stale} is running")
        busy.join()  # idle again: its "run" no longer executes
        started = scalar("SELECT retention.begin_run(false, NULL, NULL, 'test')")
    assert started is not None and RetentionRun.objects.get(id=started).status == "running"
    assert RetentionRun.objects.get(id=stale).status == "interrupted"


def test_the_procedure_is_short_and_owns_only_the_transaction_control() -> None:
    source = scalar("SELECT prosrc FROM pg_proc WHERE oid = 'retention.run_cleanup'::regproc")
    assert len(source.splitlines()) < 140  # the COMMITs and the loop; the work is in the functions
    for part in (
        "begin_run",
        "start_item",
        "begin_pass",
        "purge_batch",
        "next_batch_size",
        "finish_item",
        "finish_run",
    ):
        assert f"retention.{part}(" in source, part


# --- the keyset index check ------------------------------------------------------------------------


@isolate_apps("rules")
def test_w003_names_a_model_without_the_keyset_index_and_the_index_to_add() -> None:
    def own_columns_model(name: str, index: models.Index) -> Any:
        """Soft delete in a column of its own (gone_at, no flag) with the given index."""
        meta = type("Meta", (), {"app_label": "rules", "indexes": [index]})
        fields = {"gone_at": models.DateTimeField(null=True), "Meta": meta, "__module__": __name__}
        return type(
            name, (models.Model,), {**fields, "retention_deleted_at_field": "gone_at", "retention_flag_field": None}
        )

    Note = own_columns_model("Note", models.Index(fields=["gone_at"], name="note_gone_idx"))  # not in keyset order
    keyset = models.Index(fields=["gone_at", "id"], condition=Q(gone_at__isnull=False), name="sheet_idx")
    Sheet = own_columns_model("Sheet", keyset)

    warnings = [m for m in check_models([Note, Sheet]) if m.id == "pg_retention.W003"]
    assert len(warnings) == 1 and warnings[0].level == checks.WARNING
    assert "rules.Note has no index on (gone_at, id)" in warnings[0].msg
    assert "models.Index(fields=['gone_at', 'id'], condition=Q(gone_at__isnull=False)" in str(warnings[0].hint)
    assert "AddIndexConcurrently" in str(warnings[0].hint)
