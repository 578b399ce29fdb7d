"""The Python API (RetentionManager, kept from the Celery-based design: docs/migration.md), backed by
the database: Python reads and calls, SQL purges."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, models
from django.utils import timezone

from django_pg_retention import config
from django_pg_retention.interfaces import IRetentionManager
from django_pg_retention.models import (
    RetentionPolicy,
    RetentionReport,
    RetentionRun,
    RetentionRunItem,
)
from django_pg_retention.policies import (
    PolicyKind,
    PolicySource,
    get_model,
    model_path,
    policy_columns,
    policy_models,
    resolve_days,
    soft_delete_models,
    valid_timestamp_policies,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionConfig:
    """A policy as ``get_all_policies()`` returns it."""

    model_path: str
    retention_days: int
    policy_source: str
    is_active: bool = True
    kind: str = PolicyKind.SOFT_DELETE.value  # "soft_delete" or "timestamp"


def days_from_settings(path: str) -> tuple[int, str]:
    """A timestamp policy's days; else model > app > default > 30 for any 'app.Model' string, from settings."""
    try:
        timestamped = valid_timestamp_policies().get(get_model(path))
    except LookupError:
        timestamped = None
    if timestamped is not None:
        return timestamped.days, PolicySource.MODEL_SPECIFIC.value
    raw = config.as_mapping(config.raw_policies()) or {}
    # Invalid values are left out (manage.py check reports them), as if they were not set.
    valid = {str(k): v for k, v in raw.items() if isinstance(v, int) and config.policy_value_problem(v) is None}
    days, source = resolve_days(path, valid)
    return days, source.value


def base_queryset(model: type[models.Model], using: str) -> models.QuerySet[Any]:
    """All rows, soft-deleted included, whatever the model's default manager filters."""
    manager: models.Manager[Any] = getattr(model, "_base_manager")  # noqa: B009  (not in the stubs)
    return manager.db_manager(using).all()


def call_run_cleanup(
    using: str = "default",
    *,
    dry_run: bool,
    model: str | None = None,
    days: int | None = None,
    batch_size: int | None = None,
    triggered_by: str = "python",
    force: bool = False,
    requested_by: str = "",
) -> RetentionRun:
    """CALL retention.run_cleanup(...) outside any transaction (it commits per batch).

    ``requested_by`` reaches the run through the setting retention.requested_by: a finished run
    is sealed and cannot be updated afterwards.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        raise RuntimeError("run_cleanup commits after every batch: call it outside transaction.atomic()")
    logger.info(
        "retention run starting: dry_run=%s model=%s days=%s batch_size=%s triggered_by=%s database=%s",
        dry_run,
        model or "all",
        days,
        batch_size,
        triggered_by,
        using,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('retention.requested_by', %s, false)", [requested_by])
        try:
            cursor.execute(
                "CALL retention.run_cleanup(dry_run => %s, model => %s, days => %s, batch_size => %s,"
                " triggered_by => %s, force => %s)",
                [dry_run, model, days, batch_size, triggered_by, force],
            )
        finally:
            if requested_by:
                cursor.execute("SELECT set_config('retention.requested_by', '', false)")
        # The procedure records its run under this backend's pid; the newest one is ours.
        cursor.execute("SELECT id FROM retention_run WHERE backend_pid = pg_backend_pid() ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("retention.run_cleanup recorded no run")
    run = RetentionRun.objects.using(using).get(pk=row[0])
    log_run(run)
    return run


def log_run(run: RetentionRun) -> None:
    """One record per run that Python started: finished, timed out, failed or skipped."""
    message = "retention run %s %s: %s rows deleted%s, triggered_by=%s%s"
    args = (
        run.pk,
        run.status,
        run.rows_deleted,
        " (dry run)" if run.dry_run else "",
        run.triggered_by,
        f", error: {run.error}" if run.error else "",
    )
    if run.status == "failed":
        logger.error(message, *args)
    elif run.status in ("skipped", "timed_out", "interrupted"):
        logger.warning(message, *args)
    else:
        logger.info(message, *args)


class RetentionManager(IRetentionManager):
    """``get_retention_manager()``: an IRetentionManager that reads the database."""

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def _policy(self, path: str) -> RetentionPolicy | None:
        return RetentionPolicy.objects.using(self.using).filter(model_path=path, is_active=True).first()

    def get_retention_days(self, model_path: str) -> int:
        policy = self._policy(model_path)
        return policy.retention_days if policy else days_from_settings(model_path)[0]

    def _soft_deletable(self, model_class: type[models.Model]) -> None:
        """A model with a policy: soft-deletable, or named in RETENTION_TIMESTAMP_POLICIES."""
        if model_class not in policy_models():
            raise ValueError(
                f"{model_path(model_class)} does not support soft deletion "
                "(no SoftDeleteMixin and no retention_deleted_at_field) and has no timestamp policy "
                f"({config.TIMESTAMP_POLICIES_SETTING})"
            )

    def get_eligible_records(
        self, model_class: type[models.Model], cutoff_date: datetime | None = None
    ) -> models.QuerySet[Any]:
        """The rows the SQL purge considers: soft-deleted (or, for a timestamp policy, timestamped)
        before the cutoff."""
        self._soft_deletable(model_class)
        if cutoff_date is None:
            cutoff_date = timezone.now() - timedelta(days=self.get_retention_days(model_path(model_class)))
        return base_queryset(model_class, self.using).filter(policy_columns(model_class).eligible(cutoff_date))

    def cleanup_model(self, model_class: type[models.Model], dry_run: bool = True) -> dict[str, Any]:
        """Purge (or preview) one model through the SQL procedure."""
        self._soft_deletable(model_class)
        run = call_run_cleanup(self.using, dry_run=dry_run, model=model_path(model_class))
        item = RetentionRunItem.objects.using(self.using).filter(run=run).first()
        if run.status == "failed" and item is None:
            raise ValueError(run.error)
        return {
            "total_eligible": item.eligible if item else 0,
            "deleted_count": 0 if dry_run or item is None else item.deleted,
            "would_delete": item.deleted if item and dry_run else 0,
            "blocked": item.blocked if item else 0,
            "dry_run": dry_run,
            "run_id": run.pk,
        }

    def get_all_policies(self) -> list[RetentionConfig]:
        return [
            RetentionConfig(p.model_path, p.retention_days, p.policy_source, p.is_active, p.kind)
            for p in RetentionPolicy.objects.using(self.using).filter(is_active=True)
        ]

    def get_soft_delete_models(self) -> list[type[models.Model]]:
        return soft_delete_models(self.using)

    def generate_cleanup_report(self) -> dict[str, Any]:
        """The cleanup report (per model: eligible, deleted by the last run, next eligible), from the
        retention_report view."""
        report: dict[str, Any] = {
            "generated_at": timezone.now(),
            "models": [],
            "summary": {"total_models": 0, "total_eligible_records": 0, "total_soft_deleted_records": 0},
        }
        for row in RetentionReport.objects.using(self.using).all():
            app_label, _, model_name = row.model_path.partition(".")
            report["models"].append(
                {
                    "model_path": row.model_path,
                    "model_name": model_name,
                    "app_label": app_label,
                    "retention_days": row.retention_days,
                    "eligible_for_cleanup": row.eligible,
                    "total_soft_deleted": row.soft_deleted,
                    "policy_source": row.policy_source,
                    "oldest_deleted_at": row.oldest_deleted_at,
                    "next_eligible_at": row.next_eligible_at,
                    "last_run_at": row.last_run_at,
                    "last_run_status": row.last_run_status,
                    "last_deleted": row.last_deleted,
                    "last_blocked": row.last_blocked,
                }
            )
            report["summary"]["total_eligible_records"] += row.eligible
            report["summary"]["total_soft_deleted_records"] += row.soft_deleted
        report["summary"]["total_models"] = len(report["models"])
        return report
