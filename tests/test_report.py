"""The retention_report view against counts computed independently with the ORM."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from purge_helpers import build_rules_data, call_cleanup, reset_rules_data
from rules.models import Author, Place

from django_pg_retention.models import RetentionReport, RetentionRunItem

pytestmark = pytest.mark.django_db(transaction=True)


def test_report_figures_equal_independent_counts() -> None:
    reset_rules_data()
    build_rules_data(random.Random(3), authors=25)
    now = timezone.now()
    Place.objects.create(name="next", is_deleted=True, deleted_at=now - timedelta(days=20))
    call_cleanup(dry_run=True)  # dry runs do not count as the last run
    rows = {r.model_path: r for r in RetentionReport.objects.all()}
    for model in (Author, Place):
        path = model._meta.label
        deleted = model._base_manager.filter(is_deleted=True)
        cutoff = timezone.now() - timedelta(days=30)
        row = rows[path]
        assert row.soft_deleted == deleted.count()
        assert row.eligible == deleted.filter(deleted_at__lt=cutoff).count()
        assert row.oldest_deleted_at == min(deleted.values_list("deleted_at", flat=True))
        young = deleted.filter(deleted_at__gte=cutoff).order_by("deleted_at").first()
        assert row.next_eligible_at == (young.deleted_at + timedelta(days=30) if young else None)
        assert row.last_run_id is None
    assert rows["rules.Place"].next_eligible_at is not None

    run = call_cleanup()
    row = RetentionReport.objects.get(model_path="rules.Author")
    item = RetentionRunItem.objects.get(run=run, model_path="rules.Author")
    assert (row.last_run_id, row.last_deleted, row.last_blocked, row.last_run_status) == (
        run.pk,
        item.deleted,
        item.blocked,
        "succeeded",
    )
    assert row.eligible == item.blocked  # what is left eligible is what was blocked


def test_report_counts_use_the_partial_index() -> None:
    """EXPLAIN of the report's count on a soft-deletable table: the purge index, no sequential scan."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # tiny test tables: ask whether an index path exists
        cursor.execute(
            "EXPLAIN SELECT count(*), count(*) FILTER (WHERE deleted_at < now()), min(deleted_at)"
            " FROM rules_author WHERE is_deleted"
        )
        plan = "\n".join(r[0] for r in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "rules_autho_deleted" in plan and "Seq Scan" not in plan, plan
