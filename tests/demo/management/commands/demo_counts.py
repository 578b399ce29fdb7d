from typing import Any

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.table import Table

from django_pg_retention.policies import soft_delete_models


class Command(BaseCommand):
    help = "Print rows and soft-deleted rows per soft-deletable model."

    def handle(self, *args: Any, **options: Any) -> None:
        table = Table(title="Soft-deleted rows per model")
        for column in ("model", "rows", "soft-deleted"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for model in soft_delete_models():
            manager: Any = model._default_manager
            table.add_row(model._meta.label, f"{manager.count():,}", f"{manager.filter(is_deleted=True).count():,}")
        Console(file=self.stdout._out, width=100).print(table)
