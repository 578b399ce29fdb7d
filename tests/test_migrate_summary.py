"""migrate says what it set up (issue 31): each pg_cron job with its schedule and next firing, and how
many rows of how many models the first scheduled purge would delete, with the command to preview it.
The oracle for the figures is a dry run of the procedure itself."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from django.core.management import call_command
from purge_helpers import build_rules_data

from django_pg_retention.manager import call_run_cleanup
from django_pg_retention.migrate_summary import PREVIEW
from django_pg_retention.models import RetentionPolicy, RetentionRunItem
from django_pg_retention.schedule import scheduler

pytestmark = pytest.mark.usefixtures("reset_rules")


def migrate(verbosity: int) -> str:
    out = io.StringIO()
    call_command("migrate", verbosity=verbosity, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_migrate_names_the_jobs_and_what_the_first_purge_would_delete() -> None:
    build_rules_data(random.Random(31))
    text = migrate(verbosity=1)

    jobs, _ = scheduler().status(runs_per_job=0)
    assert {job["job"] for job in jobs} >= {"cleanup", "housekeeping", "requests"}
    for job in jobs:
        line = next(line for line in text.splitlines() if line.strip().startswith(job["job"] + " "))
        assert job["schedule"] in line and f"next {job['next_due']:%Y-%m-%d %H:%M} UTC" in line, line
    cleanup = next(job for job in jobs if job["job"] == "cleanup")

    # Each model previewed on its own: in one run a parent's cascade takes eligible children along
    # before their own item counts them (purge_order); the summary counts every model's eligible rows.
    items: list[Any] = [
        RetentionRunItem.objects.get(run=call_run_cleanup(dry_run=True, model=policy.model_path))
        for policy in RetentionPolicy.objects.filter(is_active=True)
    ]
    eligible = sum(item.eligible for item in items)
    models = sum(item.eligible > 0 for item in items)
    assert eligible > 0 and models > 1
    assert (
        f"the first scheduled purge, {cleanup['next_due']:%Y-%m-%d %H:%M} UTC, would delete {eligible:,} "
        f"soft-deleted row(s) of {models} model(s) (of {len(items)} with a policy)"
    ) in text, text
    assert PREVIEW in text


@pytest.mark.django_db(transaction=True)
def test_migrate_at_verbosity_0_prints_nothing_of_ours() -> None:
    assert "Retention" not in migrate(verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_without_a_cleanup_job_migrate_says_no_purge_is_scheduled(settings: Any) -> None:
    settings.RETENTION_SCHEDULE = {"cleanup": None}
    try:
        text = migrate(verbosity=1)
        assert "no purge is scheduled; eligible now: 0 soft-deleted row(s)" in text, text
        assert "cleanup " not in text
    finally:
        settings.RETENTION_SCHEDULE = {}
        migrate(verbosity=0)
