"""Optional Celery tasks with the signatures of the Celery-based design (docs/migration.md;
``pip install django-pg-retention[celery]``).

They move no rows into Python: each calls ``retention.run_cleanup`` or reads the
``retention_report`` view, and returns the same result dictionaries as that design's tasks.
"""

from __future__ import annotations

import logging
from typing import Any

try:
    from celery import shared_task
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "django_pg_retention.tasks needs Celery: pip install 'django-pg-retention[celery]'. "
        "Without Celery, schedule the purge with pg_cron (RETENTION_SCHEDULE) or call "
        "`manage.py cleanup_soft_deleted --execute`."
    ) from exc

from django_pg_retention import get_retention_manager
from django_pg_retention.manager import call_run_cleanup
from django_pg_retention.models import RetentionRunItem
from django_pg_retention.policies import get_model, model_path

logger = logging.getLogger(__name__)


def _result(item: RetentionRunItem | None, dry_run: bool) -> dict[str, Any]:
    """One model's result: total_eligible, deleted_count, dry_run."""
    return {
        "total_eligible": item.eligible if item else 0,
        "deleted_count": item.deleted if item and not dry_run else 0,
        "dry_run": dry_run,
        "blocked": item.blocked if item else 0,
        "status": item.status if item else "no_policy",
    }


@shared_task(name="django_pg_retention.tasks.cleanup_soft_deleted_records")
def cleanup_soft_deleted_records(
    dry_run: bool = False,
    target_model: str | None = None,
    days_override: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Purge (or preview) one model or all of them in the database.

    ``force`` bypasses the guard rail ``max_deletions_per_run``. ``cleanup_soft_deleted``'s
    large-deletion question is for terminals only.
    """
    try:
        if target_model:
            target_model = model_path(get_model(target_model))
        run = call_run_cleanup(
            dry_run=dry_run, model=target_model, days=days_override, triggered_by="celery", force=force
        )
        items = {i.model_path: i for i in RetentionRunItem.objects.filter(run=run)}
        if run.status in ("failed", "skipped") and not items:
            return {"success": False, "error": run.error, "run_id": run.pk}
        if target_model:
            return {
                "success": run.status != "failed",
                "target_model": target_model,
                "result": _result(items.get(target_model), dry_run),
                "run_id": run.pk,
            }
        results = {path: _result(item, dry_run) for path, item in items.items()}
        for path, item in items.items():
            if item.status == "failed":
                results[path] = {"error": item.error}
        return {
            "success": run.status != "failed",
            "total_deleted": 0 if dry_run else sum(i.deleted for i in items.values()),
            "results": results,
            "run_id": run.pk,
        }
    except Exception as exc:  # the tasks' contract: failures come back as data, not as a raise
        logger.exception("cleanup task failed")
        return {"success": False, "error": str(exc)}


@shared_task(name="django_pg_retention.tasks.scheduled_cleanup")
def scheduled_cleanup() -> dict[str, Any]:
    """The daily cleanup for Celery beat: queues a real purge of every model."""
    result = cleanup_soft_deleted_records.delay(dry_run=False)
    return {"success": True, "task_id": result.id}


@shared_task(name="django_pg_retention.tasks.generate_cleanup_report")
def generate_cleanup_report() -> dict[str, Any]:
    """The cleanup report, read from the retention_report view (JSON-safe)."""
    try:
        report = get_retention_manager().generate_cleanup_report()
        report["generated_at"] = report["generated_at"].isoformat()
        for row in report["models"]:
            for key, value in row.items():
                if hasattr(value, "isoformat"):
                    row[key] = value.isoformat()
        logger.info("cleanup report generated: %s models", report["summary"]["total_models"])
        return {"success": True, "report": report}
    except Exception as exc:
        logger.exception("cleanup report failed")
        return {"success": False, "error": str(exc)}
