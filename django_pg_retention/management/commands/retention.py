"""The database side of retention: sync (policies, settings and purge functions), status (pg_cron jobs
and due work), sql (the generated purge SQL), show (a run from the audit), verify (the audit hash
chain), uninstall (every object of ours, the audit only when told)."""

# The docstring above is the command's --help.

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from django_pg_retention.audit import missing_triggers, verify
from django_pg_retention.compiler import compile_model
from django_pg_retention.display import print_run, print_status, run_as_dict, status_as_dict
from django_pg_retention.management import numbers
from django_pg_retention.management.databases import databases_option
from django_pg_retention.models import RetentionRun, RetentionRunItem
from django_pg_retention.policies import get_model, model_path, policy_models
from django_pg_retention.schedule import sync_jobs
from django_pg_retention.sync import OutdatedSqlError, app_schemas, can_sync, sync
from django_pg_retention.uninstall import audit_may_go


class Command(BaseCommand):
    help = __doc__ or ""

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        s = sub.add_parser("sync", help="write policies, their history and the purge functions (idempotent)")
        s.add_argument("--database", default=DEFAULT_DB_ALIAS)
        q = sub.add_parser("sql", help="print the generated purge SQL for review, like sqlmigrate")
        q.add_argument("model", nargs="?", help="app_label.ModelName (default: every policy model)")
        q.add_argument("--database", default=DEFAULT_DB_ALIAS, help="whose search_path the functions pin")
        every = "database alias (default: default), or 'all': every database that holds policies"
        t = sub.add_parser("status", help="the pg_cron jobs, their last runs and what is due next")
        t.add_argument("--database", default=DEFAULT_DB_ALIAS, help=every)
        t.add_argument("--format", choices=["table", "json"], default="table", help="a table, or JSON for scripts")
        w = sub.add_parser("show", help="print a run from the audit tables (default: the latest)")
        w.add_argument("run_id", nargs="?", type=numbers.RUN_ID)
        w.add_argument("--database", default=DEFAULT_DB_ALIAS, help=every)
        w.add_argument("--format", choices=["table", "json"], default="table", help="a table, or JSON for scripts")
        v = sub.add_parser("verify", help="recompute the audit hash chain; report the first broken link")
        v.add_argument("--database", default=DEFAULT_DB_ALIAS)
        v.add_argument(
            "--head",
            action="append",
            default=[],
            metavar="POSITION:HASH",
            help="a chain head printed by an earlier verify (or logged by the server); fail if the chain lost it",
        )
        v.add_argument("--heads-file", help="a file of POSITION:HASH lines, one per kept head ('#' comments)")
        u = sub.add_parser(
            "uninstall",
            help="migrate django_pg_retention zero: drop schema retention, our tables and our pg_cron jobs",
        )
        u.add_argument("--database", default=DEFAULT_DB_ALIAS)
        u.add_argument(
            "--drop-audit",
            action="store_true",
            help="drop the sealed runs too (export them first: the refusal without this flag says how)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "sync":
            self.run_sync(options["database"])
        elif action == "status":
            self.print_statuses(options["database"], options["format"])
        elif action == "show":
            aliases = databases_option(options["database"], fallback=True)
            if options["run_id"] is not None and len(aliases) > 1:
                raise CommandError(
                    f"run ids are per database and {', '.join(aliases)} hold policies: "
                    f"name one with --database (retention show {options['run_id']} --database {aliases[0]})"
                )
            self.show(aliases, options["run_id"], options["format"])
        elif action == "verify":
            self.verify(options["database"], _heads(options["head"], options["heads_file"]))
        elif action == "uninstall":
            allowed = audit_may_go() if options["drop_audit"] else nullcontext()
            with allowed:
                call_command("migrate", "django_pg_retention", "zero", database=options["database"], stdout=self.stdout)
        else:
            self.print_sql(options["model"], options["database"])

    def run_sync(self, using: str) -> None:
        if not can_sync(using):
            raise CommandError(
                f"database {using!r} cannot be synced: it must be PostgreSQL, allowed for "
                "django_pg_retention by the routers, and migrated (manage.py migrate)"
            )
        try:
            result = sync(using)
        except OutdatedSqlError as exc:
            raise CommandError(str(exc)) from exc
        jobs = sync_jobs(using)
        for label, paths in (
            ("created", result.created),
            ("changed", result.changed),
            ("deactivated", result.deactivated),
            ("functions installed", result.functions_installed),
            ("append-only triggers put back", result.triggers_installed),
            ("settings changed", result.settings_changed),
            ("keyset indexes created", result.indexes_created),
            ("keyset indexes dropped", result.indexes_dropped),
            ("jobs scheduled", jobs.scheduled),
            ("jobs updated", jobs.updated),
            ("jobs unscheduled", jobs.unscheduled),
        ):
            if paths:
                self.stdout.write(f"{label}: {', '.join(paths)}")
        if jobs.unavailable:
            self.stdout.write(f"pg_cron: not used ({jobs.unavailable})")
        self.stdout.write(f"retention sync: {result.changes + jobs.changes} change(s)")

    def print_statuses(self, database: str, output_format: str) -> None:
        aliases = databases_option(database, fallback=True)
        if output_format == "json":
            statuses = {using: status_as_dict(using) for using in aliases}
            self.stdout.write(json.dumps(_one_or_each(statuses, aliases), indent=2, default=str))
            return
        for using in aliases:
            if len(aliases) > 1:
                self.stdout.write(f"database {using}:")
            print_status(self.stdout._out, using)  # pyright: ignore[reportPrivateUsage]

    def print_sql(self, label: str | None, using: str) -> None:
        """Like sqlmigrate: the generated SQL of one policy model, or of every one."""
        models = policy_models()
        if label:
            try:
                model = get_model(label)
            except LookupError as exc:
                raise CommandError(str(exc)) from exc
            if model not in models:
                raise CommandError(
                    f"{model_path(model)} has no retention policy (not soft-deletable, no timestamp policy)"
                )
            models = [model]
        schemas = app_schemas(using)
        for model in models:
            compiled = compile_model(model, schemas)
            self.stdout.write(f"-- {compiled.model_path}  sha256:{compiled.sql_hash}\n{compiled.sql}\n")

    def verify(self, using: str, heads: list[tuple[int, str]]) -> None:
        """Exit non-zero when the chain does not hold, lost a known head, or a protecting trigger is gone."""
        missing = missing_triggers(using)
        result = verify(using, heads)
        if result.checked:
            pruned = ""
            if result.pruned is not None:
                p = result.pruned
                pruned = (
                    f" (positions 1-{p.through_position} pruned before 0.2 recorded pruning, noted at the upgrade "
                    f"on {p.pruned_at:%Y-%m-%d})"
                    if p.at_upgrade
                    else f" (positions 1-{p.through_position} pruned by housekeeping on {p.pruned_at:%Y-%m-%d},"
                    f" runs older than {p.older_than_days} days)"
                )
            span = f"positions {result.first_position}-{result.last_position}"
            self.stdout.write(f"audit chain: {result.checked} run(s) verified, {span}{pruned}")
        else:
            self.stdout.write("audit chain: no sealed runs yet")
        if heads:
            kept = len(heads) - len(result.heads_before_start)
            pruned = (
                f" ({len(result.heads_before_start)} older than the chain's start)" if result.heads_before_start else ""
            )
            self.stdout.write(f"known heads: {kept} checked{pruned}")
        if result.head:
            position, digest = result.head
            self.stdout.write(f"chain head: {position}:{digest} (keep it outside the database; pass it to --head)")
        if result.seal_head:
            position, digest = result.seal_head
            upgrade = f", {result.seals_at_upgrade} sealed at the upgrade to 0.2" if result.seals_at_upgrade else ""
            self.stdout.write(
                f"holds and policy history: {result.seals_checked} seal(s) verified{upgrade}, head {position}:{digest}"
            )
        problems = [result.problem] if result.problem else []
        if missing:
            problems.append(
                f"append-only triggers missing or disabled: {', '.join(missing)} "
                "(manage.py retention sync restores them)"
            )
        if problems:
            raise CommandError("; ".join(problems))
        self.stdout.write("audit chain intact")

    def show(self, aliases: list[str], run_id: int | None, fmt: str) -> None:
        """A run (the latest by default) of each database."""
        shown: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for using in aliases:
            runs = RetentionRun.objects.using(using)
            run = runs.filter(pk=run_id).first() if run_id is not None else runs.order_by("-id").first()
            if run is None:
                missing.append(using)
                continue
            items = list(RetentionRunItem.objects.using(using).filter(run=run).order_by("id"))
            if fmt == "json":
                shown[using] = run_as_dict(run, items)
                continue
            if len(aliases) > 1:
                self.stdout.write(f"database {using}:")
            print_run(self.stdout._out, run, items)  # pyright: ignore[reportPrivateUsage]
        if fmt == "json" and shown:
            self.stdout.write(json.dumps(_one_or_each(shown, aliases), indent=2, default=str))
        if len(missing) == len(aliases):
            where = f" in database {missing[0]}" if len(aliases) == 1 and aliases[0] != DEFAULT_DB_ALIAS else ""
            raise CommandError(
                f"no retention run {run_id}{where}" if run_id is not None else f"no retention run yet{where}"
            )
        if missing and fmt != "json":
            self.stdout.write(f"no retention run yet in database {', '.join(missing)}")


def _one_or_each(by_alias: dict[str, Any], aliases: list[str]) -> Any:
    """JSON of one database as before; of several, an object keyed by alias."""
    return by_alias if len(aliases) > 1 else next(iter(by_alias.values()))


def _heads(given: list[str], path: str | None) -> list[tuple[int, str]]:
    """POSITION:HASH values from --head and --heads-file; a malformed one is an error naming it."""
    lines = list(given)
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                lines += [line.split("#", 1)[0].strip() for line in handle]
        except OSError as exc:
            raise CommandError(f"--heads-file {path}: {exc.strerror}") from exc
    heads: list[tuple[int, str]] = []
    for line in filter(None, lines):
        position, _, digest = line.partition(":")
        if not position.strip().isdigit() or len(digest.strip()) != 64:
            raise CommandError(f"{line!r} is not POSITION:HASH (a chain position and a 64-digit sha256)")
        heads.append((int(position), digest.strip().lower()))
    return heads
