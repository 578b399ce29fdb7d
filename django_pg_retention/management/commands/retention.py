"""Maintenance of the database side: ``retention sync`` and ``retention sql [app.Model]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from django_pg_retention.compiler import compile_model
from django_pg_retention.policies import get_model, model_path, soft_delete_models
from django_pg_retention.sync import can_sync, sync


class Command(BaseCommand):
    help = "Sync retention policies and generated SQL to the database, or print the generated SQL."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        s = sub.add_parser("sync", help="write policies, their history and the purge functions (idempotent)")
        s.add_argument("--database", default=DEFAULT_DB_ALIAS)
        q = sub.add_parser("sql", help="print the generated purge SQL for review, like sqlmigrate")
        q.add_argument("model", nargs="?", help="app_label.ModelName (default: every policy model)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "sync":
            using = options["database"]
            if not can_sync(using):
                raise CommandError(
                    f"database {using!r} cannot be synced: it must be PostgreSQL, allowed for "
                    "django_pg_retention by the routers, and migrated (manage.py migrate)"
                )
            result = sync(using)
            for label, paths in (
                ("created", result.created),
                ("changed", result.changed),
                ("deactivated", result.deactivated),
                ("functions installed", result.functions_installed),
            ):
                if paths:
                    self.stdout.write(f"{label}: {', '.join(paths)}")
            self.stdout.write(f"retention sync: {result.changes} change(s)")
            return
        models = soft_delete_models()
        if options["model"]:
            try:
                model = get_model(options["model"])
            except LookupError as exc:
                raise CommandError(str(exc)) from exc
            if model not in models:
                raise CommandError(f"{model_path(model)} has no retention policy (not soft-deletable)")
            models = [model]
        for model in models:
            compiled = compile_model(model)
            self.stdout.write(f"-- {compiled.model_path}  sha256:{compiled.sql_hash}\n{compiled.sql}\n")
