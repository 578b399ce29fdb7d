"""Print the cleanup report (per model: soft-deleted, eligible now, next eligible, last run) from the
retention_report view."""

from __future__ import annotations

import csv
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS
from rich.console import Console
from rich.table import Table

from django_pg_retention.manager import RetentionManager

COLUMNS = (
    "model_path",
    "retention_days",
    "policy_source",
    "total_soft_deleted",
    "eligible_for_cleanup",
    "oldest_deleted_at",
    "next_eligible_at",
    "last_run_at",
    "last_run_status",
    "last_deleted",
    "last_blocked",
)


class Command(BaseCommand):
    help = "Print the retention report: per model, soft-deleted and eligible rows, and the last run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["table", "json", "csv"], default="table")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        report = RetentionManager(options["database"]).generate_cleanup_report()
        out = self.stdout._out  # pyright: ignore[reportPrivateUsage]
        if options["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2, default=str))
        elif options["format"] == "csv":
            writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            for row in report["models"]:
                writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
        else:
            table = Table(title=f"Retention report, {report['generated_at']:%Y-%m-%d %H:%M} UTC")
            for column in ("model", "days", "source", "soft-deleted", "eligible", "next eligible", "last run"):
                table.add_column(column, justify="right" if column in ("days", "soft-deleted", "eligible") else "left")
            for row in report["models"]:
                due = row["next_eligible_at"]
                last = row["last_run_at"]
                table.add_row(
                    row["model_path"],
                    str(row["retention_days"]),
                    row["policy_source"],
                    f"{row['total_soft_deleted']:,}",
                    f"{row['eligible_for_cleanup']:,}",
                    due.strftime("%Y-%m-%d %H:%M") if due else "-",
                    f"{last:%Y-%m-%d %H:%M} {row['last_run_status']}, {row['last_deleted']:,} deleted" if last else "-",
                )
            console = Console(file=out, width=140)
            console.print(table)
            s = report["summary"]
            console.print(
                f"{s['total_models']} models, {s['total_soft_deleted_records']:,} soft-deleted rows, "
                f"{s['total_eligible_records']:,} eligible now"
            )
