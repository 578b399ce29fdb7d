"""What ``migrate`` set up, said where the user sees it: the pg_cron jobs with their schedules and next
firing, and how many rows the first scheduled purge would delete. A user must never learn from their
data that a nightly purge exists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TextIO

from django.apps import apps

from django_pg_retention import config
from django_pg_retention.manager import base_queryset
from django_pg_retention.models import RetentionPolicy
from django_pg_retention.policies import soft_delete_columns
from django_pg_retention.schedule import next_due, scheduler

PREVIEW = "python manage.py cleanup_soft_deleted --dry-run"
# Past this many eligible rows of one model, the count stops: migrate stays fast on a large backlog.
COUNT_CAP = 1_000_000


@dataclass(frozen=True)
class PurgeForecast:
    at: datetime | None  # when the cleanup job next fires; None: not scheduled (counted as of now)
    rows: int  # eligible soft-deleted rows then, summed over models (each capped at COUNT_CAP)
    models: int  # models with at least one such row
    policies: int  # active policies
    capped: bool  # a model had more than COUNT_CAP


def forecast(using: str, at: datetime | None) -> PurgeForecast:
    """Rows the purge would find eligible at ``at`` (now when None), before cascades, holds and blocked
    rows: the same predicate as the purge (retention_policy's days and columns), one bounded count each."""
    moment = at or datetime.now().astimezone()
    rows = models = policies = 0
    capped = False
    for policy in RetentionPolicy.objects.using(using).filter(is_active=True).order_by("model_path"):
        app_label, _, model_name = policy.model_path.partition(".")
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            continue
        policies += 1
        cutoff = moment - timedelta(days=policy.retention_days)
        eligible = base_queryset(model, using).filter(soft_delete_columns(model).eligible(cutoff))
        count = eligible.values("pk")[: COUNT_CAP + 1].count()
        capped = capped or count > COUNT_CAP
        rows += min(count, COUNT_CAP)
        models += count > 0
    return PurgeForecast(at, rows, models, policies, capped)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "unknown"


def write_summary(using: str, out: TextIO) -> None:
    """The jobs pg_cron has for this database and the first purge's forecast, for migrate's output."""
    jobs = scheduler(using)
    reason = jobs.unavailable_reason()
    cleanup_at: datetime | None = None
    if reason:
        out.write(f"Retention ({using}): pg_cron is not available, nothing is scheduled ({reason}).\n")
    else:
        rows, _runs = jobs.status(runs_per_job=0)
        out.write(f"Retention ({using}): pg_cron jobs (UTC):\n")
        for row in rows:
            due = _when(row["next_due"]) if row["active"] else "inactive"
            out.write(f"  {row['job']:<28} {row['schedule']:<14} next {due}\n")
        expression = config.retention_schedule().get("cleanup")
        if expression and any(row["job"] == "cleanup" and row["active"] for row in rows):
            cleanup_at = next_due(expression)
    expected = forecast(using, cleanup_at)
    rows_text = f"{'over ' if expected.capped else ''}{expected.rows:,} soft-deleted row(s)"
    of_models = f"of {expected.models} model(s) (of {expected.policies} with a policy)"
    if cleanup_at is not None:
        out.write(
            f"Retention ({using}): the first scheduled purge, {_when(cleanup_at)}, would delete {rows_text} "
            f"{of_models}, plus what their cascades reach, less blocked rows.\n"
        )
    else:
        out.write(f"Retention ({using}): no purge is scheduled; eligible now: {rows_text} {of_models}.\n")
    out.write(f"Retention ({using}): preview it with `{PREVIEW}`.\n")
