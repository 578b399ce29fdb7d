"""A colocated graph on Citus (issue 27): orders distributed by tenant with CASCADE lines (kept
longer by their own policy) and line notes, SET_NULL comments and PROTECT invoices colocated, a
reference table, and shipments left local on the coordinator. The end state must equal Django's
own delete() on a single-server copy of the same data."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from citus.helpers import call_cleanup, django_purge, empty_tables, execute, scalar, snapshot
from citus.logs.models import Comment, Country, Event, Invoice, Line, LineNote, Order, OrderTag, Shipment
from django_pg_retention.holds import place_hold, release_holds
from django_pg_retention.models import RetentionHold

DATABASES = ("default", "single")


def build(using: str, now: datetime, seed: int = 27, orders: int = 80) -> None:
    """The same rows in each database (explicit keys), from one seed and one instant."""
    rng = random.Random(seed)
    execute("DELETE FROM logs_country", using=using)
    countries = Country.objects.using(using).bulk_create([Country(id=1, code="FR"), Country(id=2, code="NZ")])

    def state() -> dict[str, Any]:
        kind = rng.choice(["old", "old", "young", "live"])
        if kind == "live":
            return {"is_deleted": False, "deleted_at": None}
        days = rng.randint(31, 400) if kind == "old" else rng.randint(1, 29)
        return {"is_deleted": True, "deleted_at": now - timedelta(days=days, seconds=rng.randint(0, 86399))}

    order_rows = [Order(id=i, tenant_id=i % 5, **state()) for i in range(1, orders + 1)]
    Order.objects.using(using).bulk_create(order_rows)
    lines: list[Line] = []
    notes: list[LineNote] = []
    comments: list[Comment] = []
    invoices: list[Invoice] = []
    shipments: list[Shipment] = []
    tags: list[OrderTag] = []
    for o in order_rows:
        for _ in range(rng.randint(0, 3)):
            line = Line(id=len(lines) + 1, tenant_id=o.tenant_id, order_id=o.id, **state())
            lines.append(line)
            for _ in range(rng.randint(0, 2)):
                notes.append(LineNote(id=len(notes) + 1, tenant_id=o.tenant_id, line_id=line.id))
        for _ in range(rng.randint(0, 2)):
            comments.append(Comment(id=len(comments) + 1, tenant_id=o.tenant_id, order_id=o.id))
        if rng.random() < 0.15:
            invoices.append(Invoice(id=len(invoices) + 1, tenant_id=o.tenant_id, order_id=o.id))
        if rng.random() < 0.4:
            tags.append(OrderTag(id=len(tags) + 1, order_id=o.id, label=rng.choice(["gift", "rush"])))
        if rng.random() < 0.5:
            shipments.append(Shipment(id=len(shipments) + 1, order_id=o.id, country_id=rng.choice(countries).id))
    for model, rows in (
        (Line, lines),
        (LineNote, notes),
        (Comment, comments),
        (Invoice, invoices),
        (Shipment, shipments),
        (OrderTag, tags),
    ):
        model.objects.using(using).bulk_create(rows)
    Event.objects.using(using).bulk_create([Event(id=i, message=f"e{i}", **state()) for i in range(1, 41)])
    # A legal hold on one eligible order, placed through the Python API (it locks the row on its shard).
    held = Order.objects.using(using).filter(is_deleted=True, deleted_at__lt=now - timedelta(days=31)).order_by("id")[0]
    place_hold(held, "litigation 27", using=using)


@pytest.fixture
def graph() -> None:
    now = timezone.now()
    for using in DATABASES:
        release_holds(RetentionHold.objects.using(using).filter(released_at__isnull=True), by="test")
        empty_tables(using)
        build(using, now)


def test_colocated_graph_purge_equals_django_delete(graph: None) -> None:
    preview = call_cleanup(dry_run=True)
    assert preview.status == "succeeded", preview.error
    run = call_cleanup()
    assert run.status == "succeeded", run.error

    django_purge("single", timezone.now())
    assert snapshot("default") == snapshot("single")

    items = {i.model_path: i for i in run.items.all()}
    announced = {i.model_path: (i.deleted, i.cascaded, i.updated, i.blocked_reasons) for i in preview.items.all()}
    assert {p: (i.deleted, i.cascaded, i.updated, i.blocked_reasons) for p, i in items.items()} == announced
    reasons = items["logs.Order"].blocked_reasons
    assert any(r.endswith("litigation 27") for r in reasons)
    assert "PROTECT logs.Invoice.order" in reasons
    assert any(r.startswith("RETAINED logs.Line") for r in reasons)
    # Lines go first with their own policy (taking their notes); orders then take local shipments.
    assert items["logs.Line"].cascaded.get("logs_linenote", 0) > 0
    assert items["logs.Order"].deleted > 0 and items["logs.Order"].cascaded.get("logs_shipment", 0) > 0
    assert items["logs.Order"].cascaded.get("logs_ordertag", 0) > 0  # the reference table
    assert items["logs.Order"].updated.get("logs_comment.order_id", 0) > 0
    again = call_cleanup()
    assert again.status == "succeeded" and again.rows_deleted == 0


def test_order_purge_cascades_into_eligible_lines(graph: None) -> None:
    """A run of the orders alone: their cascade takes the lines (and notes) that are eligible
    under the lines' own policy, and is blocked by the others; equal to Django's delete()."""
    run = call_cleanup(model="logs.Order")
    assert run.status == "succeeded", run.error
    django_purge("single", timezone.now(), model="logs.Order")
    assert snapshot("default") == snapshot("single")
    cascaded = run.items.get().cascaded
    assert cascaded.get("logs_line", 0) > 0 and cascaded.get("logs_linenote", 0) > 0


def test_a_backlog_of_a_colocated_root_is_selected_on_the_purge_index() -> None:
    """A backlog (every order eligible) makes run_cleanup ask for primary-key order (by_pk). A
    colocated table's key is (tenant_id, id), so no index leads with id: in that order each batch's
    select read every shard whole (a 1M purge grew quadratically). The distributed select reads in
    keyset order on the purge index instead: its rows come oldest first even with by_pk, and the
    plan of each of its statements, as installed, has the batch's bound as an index condition on
    the shards (EXPLAIN EXECUTE of the statements taken from the function's source; auto_explain
    fails inside Citus's distributed planning)."""
    empty_tables()
    execute(
        "INSERT INTO logs_order (id, tenant_id, is_deleted, deleted_at) SELECT i, i % 97, true,"
        " now() - interval '40 days' - i * interval '1 s' FROM generate_series(1, 200000) i"
    )  # the larger the id, the older the row: keyset order is not key order
    execute("ANALYZE logs_order")
    select = "SELECT * FROM retention.select__logs__order(now() - interval '30 days', %s, %s, 1000, false, true)"
    first = execute(select, [None, None])[0]
    assert sorted(map(int, first[0])) == list(range(199001, 200001))
    after = execute(select, [first[2], first[3]])[0]
    assert sorted(map(int, after[0])) == list(range(198001, 199001))

    source = scalar("SELECT prosrc FROM pg_proc WHERE proname = 'select__logs__order'")
    branch = source.split("    ELSE\n", 1)[1].split("    END IF;", 1)[0]  # after the first batch
    statements = [re.sub(r" INTO \w+, \w+", "", s).strip() for s in branch.split(";") if s.strip()]
    assert len(statements) == 2, branch  # the bound's query and the candidates'
    variables = {"cutoff": "$1", "after_at": "$2", "after_pk": "$3", "lim": "$4", "bound_at": "$5", "bound_pk": "$6"}
    for n, statement in enumerate(statements):
        text = re.sub(r"\b(" + "|".join(variables) + r")\b", lambda m: variables[m.group(1)], statement)
        execute(f"PREPARE retention_select_{n}(timestamptz, timestamptz, text, integer, timestamptz, text) AS {text}")
        with transaction.atomic():  # shards of 6,000 rows are read whole when allowed; can the bound bound?
            execute("SET LOCAL citus.propagate_set_commands = 'local'")
            execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(
                row[0]
                for row in execute(
                    f"EXPLAIN EXECUTE retention_select_{n}(now() - interval '30 days', %s, %s, 1000, NULL, NULL)",
                    [first[2], first[3]],
                )
            )
        execute(f"DEALLOCATE retention_select_{n}")
        assert re.search(r"(Index (Only )?Scan using|Bitmap Index Scan on) logs_order_deleted_\w+_\d+", plan), plan
        assert re.search(r"Index Cond: .*ROW\(deleted_at, id\) > ROW", plan), plan
