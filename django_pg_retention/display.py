"""How a run is shown on a terminal (rich) or as JSON, for the commands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TextIO

from django.db.models import Max, Sum
from rich.console import Console
from rich.table import Table

from django_pg_retention.models import RetentionRequest, RetentionRun, RetentionRunItem


def label(value: str) -> str:
    """An enum value as words: "needs_confirmation" -> "needs confirmation"."""
    return value.replace("_", " ")


def human_duration(duration: timedelta | None) -> str:
    """0.016091 s -> "0.02 s", 75.3 s -> "1 min 15 s"."""
    if duration is None:
        return "-"
    seconds = duration.total_seconds()
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


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
        "needs_attention": run.attention(items),
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
                "partitions_dropped": i.partitions_dropped or [],
                "duration_s": i.duration.total_seconds() if i.duration else None,
                "status": i.status,
                "error": i.error,
            }
            for i in items
        ],
    }


def _print_partitions(console: Console, item: RetentionRunItem) -> None:
    """Whole partitions dropped (retention.drop_partition): their rows are in the item's counts."""
    dropped = item.partitions_dropped or []
    if dropped:
        rows = sum(int(p.get("rows", 0)) for p in dropped)
        names = ", ".join(str(p.get("partition", "")) for p in dropped)
        console.print(f"  {item.model_path}: partitions dropped: {len(dropped):,} ({rows:,} rows): {names}")


def print_run(out: TextIO, run: RetentionRun, items: list[RetentionRunItem]) -> None:
    verb = "would delete" if run.dry_run else "deleted"
    attention = run.attention(items)
    state = f"{label(run.status)}, needs attention" if attention else label(run.status)
    title = f"Retention run {run.pk} ({run.triggered_by}): {state}{' - dry run' if run.dry_run else ''}"
    table = Table(title=title)
    for column in ("model", "days", "eligible", verb, "blocked", "rows with cascades", "batches", "status"):
        table.add_column(column, justify="left" if column in ("model", "status") else "right")
    for i in items:
        table.add_row(
            i.model_path,
            f"{i.retention_days:,}",
            f"{i.eligible:,}",
            f"{i.deleted:,}",
            f"{i.blocked:,}",
            f"{sum(i.cascaded.values()):,}",
            str(i.batches),
            label(i.status) + (f": {i.error}" if i.error else ""),
        )
    console = Console(file=out, width=130)
    console.print(table)
    reasons: dict[str, int] = {}
    for i in items:
        for reason, count in i.blocked_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  blocked by {reason}: {count:,}")
    for i in items:
        _print_partitions(console, i)
    if run.dry_run:
        would = sum(sum(i.cascaded.values()) for i in items)
        console.print(f"Would delete (roots and cascades): {would:,} rows")
        console.print("DRY RUN: no rows were deleted. A real run on the same data records these figures.")
    else:
        console.print(f"Rows deleted (roots and cascades): {run.rows_deleted:,}")
    if run.error:
        console.print(f"Error: {run.error}")
    if attention:
        console.print(f"Needs attention: {'; '.join(attention)}")


def replica_lag_of_last_run(using: str) -> dict[str, Any] | None:
    """What the latest real run saw of its standbys (max_replica_lag_bytes), or None if it saw none."""
    run = RetentionRun.objects.using(using).filter(dry_run=False).exclude(status="skipped").first()
    if run is None:
        return None
    seen = (
        RetentionRunItem.objects.using(using)
        .filter(run=run)
        .aggregate(lag=Max("replica_lag_bytes"), ms=Sum("throttled_ms"))
    )
    if seen["lag"] is None:
        return None
    return {"run": run.pk, "largest_lag_bytes": seen["lag"], "waited_ms": seen["ms"]}


def status_as_dict(using: str) -> dict[str, Any]:
    """Our pg_cron jobs, their latest runs joined with the audit, what is due next, and the replica
    lag the latest real run saw."""
    from django_pg_retention import schedule
    from django_pg_retention.keyset_index import missing_indexes
    from django_pg_retention.sync import can_sync, policy_drift

    jobs_of = schedule.scheduler(using)
    reason = jobs_of.unavailable_reason()
    drift = policy_drift(using)
    # Timestamp policies whose (field, pk) index retention sync has not created yet (check W007).
    missing = [
        {"model": index.model_path, "why": why, "statement": index.statement()}
        for index, why in (missing_indexes(using) if can_sync(using) else [])
    ]
    if reason:
        return {
            "policy_drift": drift,
            "missing_indexes": missing,
            "pg_cron": False,
            "reason": reason,
            "jobs": [],
            "runs": [],
            "replica_lag": replica_lag_of_last_run(using),
        }
    jobs, runs = jobs_of.status()
    audit = _runs_by_backend(using, [r for r in runs if r.job == "cleanup"], "pg_cron")
    # A requests job runs each admin request as run_cleanup(triggered_by => 'admin'): its latest one.
    audit.update(_runs_by_backend(using, [r for r in runs if r.job == "requests"], "admin"))
    drained = _requests_started(using, [r for r in runs if r.job == "requests"])
    run_rows: list[dict[str, Any]] = []
    for r in runs:
        run = audit.get((r.job_pid, r.start_time)) if r.job in ("cleanup", "requests") else None
        run_rows.append(
            {
                "job": r.job,
                # The every-minute requests job, when no admin request was waiting: nothing happened.
                "noop": r.job == "requests" and not any(_within(r, started) for started in drained),
                "start_time": r.start_time,
                "end_time": r.end_time,
                "status": r.status,
                "return_message": r.return_message,
                "retention_run": run.pk if run else None,
                "retention_status": run.status if run else None,
                "rows_deleted": run.rows_deleted if run else None,
            }
        )
    return {
        "policy_drift": drift,
        "missing_indexes": missing,
        "pg_cron": True,
        "reason": "",
        "jobs": jobs,
        "runs": run_rows,
        "replica_lag": replica_lag_of_last_run(using),
    }


def print_status(out: TextIO, using: str) -> None:
    console = Console(file=out, width=130)
    data = status_as_dict(using)
    for problem in data["policy_drift"]:
        console.print(
            f"WARNING: the retention policy differs from the settings: {problem} (`retention sync` restores it)"
        )
    for index in data["missing_indexes"]:
        console.print(
            f"WARNING: {index['model']} has no keyset index ({index['why']}): `retention sync` creates it, "
            f"or run {index['statement']}"
        )
    lag = data["replica_lag"]
    if lag:
        console.print(
            f"Standbys at run {lag['run']}: largest replay lag {lag['largest_lag_bytes']:,} bytes; "
            f"waited {lag['waited_ms'] / 1000:,.1f} s for them (max_replica_lag_bytes)"
        )
    if not data["pg_cron"]:
        console.print(f"pg_cron is not available: {data['reason']}.")
        console.print(
            "Run `CALL retention.run_cleanup()` or `manage.py cleanup_soft_deleted --execute` from another scheduler."
        )
        return
    table = Table(title="Scheduled jobs (pg_cron, times in UTC)")
    for column in ("job", "schedule", "database", "active", "next due"):
        table.add_column(column)
    for job in data["jobs"]:
        due = job["next_due"]
        table.add_row(
            job["job"],
            job["schedule"],
            job["database"],
            "yes" if job["active"] else "no",
            due.strftime("%Y-%m-%d %H:%M") if due else "-",
        )
    console.print(table)
    if not data["jobs"]:
        console.print("No jobs: RETENTION_SCHEDULE disables them all, or `manage.py retention sync` has not run.")
    history = Table(title="Latest job runs")
    for column in ("job", "started", "took", "pg_cron", "retention run", "rows deleted", "message"):
        history.add_column(column)
    noops = [r for r in data["runs"] if r["noop"] and r["status"] == "succeeded"]
    for r in data["runs"]:
        if r in noops:
            continue
        start, end = r["start_time"], r["end_time"]
        history.add_row(
            r["job"],
            start.strftime("%Y-%m-%d %H:%M:%S") if start else "-",
            f"{(end - start).total_seconds():.1f}s" if start and end else "-",
            r["status"],
            f"{r['retention_run']} {r['retention_status']}" if r["retention_run"] else "-",
            f"{r['rows_deleted']:,}" if r["retention_run"] else "-",
            r["return_message"][:40],
        )
    if history.row_count:
        console.print(history)
    else:
        console.print("Latest job runs: none that did anything yet.")
    if noops:
        console.print(f"({len(noops)} run(s) of the requests job left out: no admin request was waiting)")


# pg_cron stamps start_time after sending the command: a few seconds' slack.
REQUEST_SLACK = timedelta(seconds=5)


def _requests_started(using: str, runs: list[Any]) -> list[Any]:
    """When admin requests were started since the oldest of these runs of the requests job (one query)."""
    starts = [r.start_time for r in runs if r.start_time is not None]
    if not starts:
        return []
    return list(
        RetentionRequest.objects.using(using)
        .filter(started_at__gte=min(starts) - REQUEST_SLACK)
        .values_list("started_at", flat=True)
    )


def _within(r: Any, started: Any) -> bool:
    """Whether a request started during that pg_cron run of the requests job."""
    if r.start_time is None or started < r.start_time - REQUEST_SLACK:
        return False
    return r.end_time is None or started <= r.end_time


def _runs_by_backend(using: str, runs: list[Any], triggered_by: str) -> dict[tuple[Any, Any], RetentionRun]:
    """The retention_run each pg_cron run of a job recorded (the latest, for the requests job): same backend pid, and
    started while pg_cron's run was open. pg_cron stamps start_time after sending the query, so the
    procedure's own clock can be slightly earlier: allow a minute's slack (a pid is not reused that fast).
    """
    slack = timedelta(minutes=1)
    found: dict[tuple[Any, Any], RetentionRun] = {}
    for r in runs:
        if r.job_pid is None or r.start_time is None:
            continue
        window = RetentionRun.objects.using(using).filter(
            backend_pid=r.job_pid, triggered_by=triggered_by, started_at__gte=r.start_time - slack
        )
        if r.end_time is not None:
            window = window.filter(started_at__lte=r.end_time)
        match = window.order_by("-started_at").first()
        if match is not None:
            found[(r.job_pid, r.start_time)] = match
    return found
