"""How a run is shown on a terminal (rich) or as JSON, for the commands."""

from __future__ import annotations

from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from django_pg_retention.models import RetentionRun, RetentionRunItem


def run_as_dict(run: RetentionRun, items: list[RetentionRunItem]) -> dict[str, Any]:
    return {
        "run_id": run.pk,
        "status": run.status,
        "triggered_by": run.triggered_by,
        "dry_run": run.dry_run,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "rows_deleted": run.rows_deleted,
        "error": run.error,
        "items": [
            {
                "model_path": i.model_path,
                "retention_days": i.retention_days,
                "policy_source": i.policy_source,
                "cutoff": i.cutoff,
                "eligible": i.eligible,
                "deleted": i.deleted,
                "blocked": i.blocked,
                "skipped_locked": i.skipped_locked,
                "cascaded": i.cascaded,
                "updated": i.updated,
                "blocked_reasons": i.blocked_reasons,
                "batches": i.batches,
                "duration_s": i.duration.total_seconds() if i.duration else None,
                "status": i.status,
                "error": i.error,
            }
            for i in items
        ],
    }


def print_run(out: TextIO, run: RetentionRun, items: list[RetentionRunItem]) -> None:
    verb = "would delete" if run.dry_run else "deleted"
    title = f"Retention run {run.pk} ({run.triggered_by}): {run.status}{' - dry run' if run.dry_run else ''}"
    table = Table(title=title)
    for column in ("model", "days", "eligible", verb, "blocked", "rows with cascades", "batches", "status"):
        table.add_column(column, justify="left" if column in ("model", "status") else "right")
    for i in items:
        table.add_row(
            i.model_path,
            str(i.retention_days),
            f"{i.eligible:,}",
            f"{i.deleted:,}",
            f"{i.blocked:,}",
            f"{sum(i.cascaded.values()):,}",
            str(i.batches),
            i.status + (f": {i.error}" if i.error else ""),
        )
    console = Console(file=out, width=130)
    console.print(table)
    reasons: dict[str, int] = {}
    for i in items:
        for reason, count in i.blocked_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  blocked by {reason}: {count:,}")
    if run.dry_run:
        console.print("DRY RUN: no rows were deleted. Each model is previewed as if it ran alone.")
    else:
        console.print(f"Rows deleted (roots and cascades): {run.rows_deleted:,}")
    if run.error:
        console.print(f"Error: {run.error}")
