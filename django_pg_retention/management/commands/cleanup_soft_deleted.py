"""Purge soft-deleted rows past their retention period (in the database), or preview it. Without
--execute or --dry-run it previews when RETENTION_CLEANUP_CONFIG['dry_run_default'] is True (the
default) and deletes when it is False."""

# Rows never travel to Python: the command counts, calls retention.run_cleanup and prints the run's
# items from the audit tables. The docstring above is the command's --help.

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError, models

from django_pg_retention import config
from django_pg_retention.display import print_run, run_as_dict
from django_pg_retention.management import numbers
from django_pg_retention.management.databases import databases_option
from django_pg_retention.manager import RetentionManager, call_run_cleanup
from django_pg_retention.models import RetentionRun, RetentionRunItem
from django_pg_retention.policies import get_model, model_path, policy_models


class Command(BaseCommand):
    help = __doc__ or ""

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--dry-run", action="store_true", help="preview: count, change nothing")
        mode.add_argument("--execute", action="store_true", help="delete (needed when dry_run_default is True)")
        parser.add_argument("--model", help="only this model (app_label.ModelName)")
        parser.add_argument(
            "--days", type=numbers.DAYS, help=f"override the retention period for this run (1 to {config.MAX_DAYS:,})"
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="skip the confirmation and the large-deletion guard",
        )
        parser.add_argument(
            "--batch-size", type=numbers.batch_size(), help="rows per committed batch (1 to max_batch_size)"
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="database alias, or 'all' for every database that holds policies (default: default)",
        )
        parser.add_argument("--format", choices=["table", "json"], default="table", help="a table, or JSON for scripts")

    def handle(self, *args: Any, **options: Any) -> None:
        aliases = databases_option(options["database"])
        cleanup = config.cleanup_config()
        dry_run = bool(options["dry_run"]) or (not options["execute"] and cleanup.dry_run_default)
        target: type[models.Model] | None = None
        if options["model"]:
            try:
                target = get_model(options["model"])
            except LookupError as exc:
                raise CommandError(f"--model {exc}") from exc
            if target not in policy_models():
                raise CommandError(
                    f"--model {options['model']!r}: {model_path(target)} is not soft-deletable "
                    "(no SoftDeleteMixin and no retention_deleted_at_field) and has no timestamp policy "
                    f"({config.TIMESTAMP_POLICIES_SETTING})"
                )
            routed = [using for using in aliases if target in policy_models(using)]
            if not routed:
                raise CommandError(
                    f"--model {model_path(target)}: the database routers put it in none of {', '.join(aliases)}"
                )
            aliases = routed

        several = len(aliases) > 1
        problems: list[str] = []
        runs: dict[str, dict[str, Any]] = {}
        for using in aliases:
            models_here = [target] if target else policy_models(using)
            if not dry_run and not options["force"]:
                self.guard(using, models_here, options["days"], cleanup)
            try:
                run = call_run_cleanup(
                    using,
                    dry_run=dry_run,
                    model=model_path(target) if target else None,
                    days=options["days"],
                    batch_size=options["batch_size"],
                    triggered_by="command",
                    force=options["force"],  # a person confirming past max_deletions_per_run
                )
            except DatabaseError as exc:  # refused by run_cleanup (a range, a right): its message, no traceback
                raise CommandError(f"database {using}: {str(exc).strip()}") from exc
            items = list(RetentionRunItem.objects.using(using).filter(run=run).order_by("id"))
            if options["format"] == "json":
                runs[using] = run_as_dict(run, items)
            else:
                if several:
                    self.stdout.write(f"database {using}:")
                print_run(self.stdout._out, run, items)  # pyright: ignore[reportPrivateUsage]
            problem = self.problem(run, items, options["days"])
            if problem:
                problems.append(f"database {using}: {problem}" if several else problem)
        if options["format"] == "json":
            self.stdout.write(json.dumps(runs if several else runs[aliases[0]], indent=2, default=str))
        if problems:
            raise CommandError("; ".join(problems))

    def problem(self, run: RetentionRun, items: list[RetentionRunItem], days: int | None) -> str | None:
        """What makes the command fail: a run failed or skipped, or models left for a confirmation."""
        if run.status in ("failed", "skipped"):
            return f"run {run.pk} {run.status}: {run.error}"
        waiting = [i.model_path for i in items if i.status == "needs_confirmation"]
        if not waiting:
            return None
        days_option = f" --days {days}" if days is not None else ""
        confirm = "; ".join(f"cleanup_soft_deleted --model {path}{days_option} --execute --force" for path in waiting)
        verb = "exceeds" if len(waiting) == 1 else "exceed"
        return (
            f"run {run.pk}: {', '.join(waiting)} {verb} max_deletions_per_run and "
            f"{'was' if len(waiting) == 1 else 'were'} not purged; check the policy, then confirm with: {confirm}"
        )

    def guard(self, using: str, models: list[Any], days: int | None, cleanup: config.CleanupConfig) -> None:
        """The specification's large-deletion guard, then a question on a terminal."""
        manager = RetentionManager(using)
        counts: dict[str, int] = {}
        for model in models:
            qs = manager.get_eligible_records(model)
            if days is not None:
                from datetime import timedelta

                from django.utils import timezone

                qs = manager.get_eligible_records(model, timezone.now() - timedelta(days=days))
            counts[model_path(model)] = qs.count()
        total = sum(counts.values())
        if total > cleanup.large_deletion_threshold:
            largest = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v)
            raise CommandError(
                f"Large deletion refused: {total:,} eligible rows ({largest}), more than "
                f"{cleanup.large_deletion_threshold:,}. Preview with --dry-run, then use --force to proceed."
            )
        if cleanup.require_confirmation and total and not sys.stdin.isatty():
            self.stderr.write(
                f"require_confirmation: not asked, stdin is not a terminal; deleting {total:,} eligible rows "
                "(use --dry-run first, or run from a terminal to be asked)"
            )
        if cleanup.require_confirmation and total and sys.stdin.isatty():
            answer = input(f"Permanently delete {total:,} eligible rows (and their cascades)? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("Cancelled: nothing was deleted.")
