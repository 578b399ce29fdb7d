import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from rich.console import Console
from rich.table import Table

from django_pg_retention.policies import soft_delete_models


class Command(BaseCommand):
    help = "Print rows and soft-deleted rows per soft-deletable model (with --before FILE: and the change)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--save", metavar="FILE", help="also write the counts to FILE (JSON)")
        parser.add_argument("--before", metavar="FILE", help="counts saved earlier: show before, after and change")

    def handle(self, *args: Any, **options: Any) -> None:
        counts: dict[str, list[int]] = {}
        for model in soft_delete_models():
            manager: Any = model._default_manager
            counts[model._meta.label] = [manager.count(), manager.filter(is_deleted=True).count()]
        if options["save"]:
            Path(options["save"]).write_text(json.dumps(counts))
        console = Console(file=self.stdout._out, width=110)
        if not options["before"]:
            table = Table(title="Rows per model")
            for column in ("model", "rows", "soft-deleted"):
                table.add_column(column, justify="left" if column == "model" else "right")
            for label, (rows, soft) in counts.items():
                table.add_row(label, f"{rows:,}", f"{soft:,}")
            console.print(table)
            return
        before: dict[str, list[int]] = json.loads(Path(options["before"]).read_text())
        table = Table(title="Rows per model, before and after the purge")
        for column in ("model", "rows before", "rows after", "change", "soft-deleted left"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for label, (rows, soft) in counts.items():
            old = before.get(label, [rows, soft])[0]
            table.add_row(label, f"{old:,}", f"{rows:,}", f"{rows - old:+,}" if rows != old else "0", f"{soft:,}")
        total_before = sum(v[0] for v in before.values())
        total_after = sum(v[0] for v in counts.values())
        change = f"{total_after - total_before:+,}"
        table.add_row("all", f"{total_before:,}", f"{total_after:,}", change, "", style="bold")
        console.print(table)
