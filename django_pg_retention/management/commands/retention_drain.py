"""Work off retention_outbox: call purged rows' after_permanent_delete hooks, then delete their files.

A file is deleted only when no row left in the model's table still names it in the same field
(rows copied with their file, or a name reused, keep it).

At least once: a row is marked done in the transaction that processed it, so a crash repeats the
unfinished rows on the next call (deleting a file that is already gone is not an error). A row
whose hook fails keeps its error and attempts count and is tried again on the next call.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.utils import timezone

from django_pg_retention.management import numbers
from django_pg_retention.models import RetentionOutbox
from django_pg_retention.policies import get_model


def process(row: RetentionOutbox) -> None:
    """The hook first (it may still read or archive the files), then the files."""
    model = get_model(row.model_path)
    hook = getattr(model, "after_permanent_delete", None)
    if callable(hook):
        fields: list[Any] = list(model._meta.concrete_fields)
        attnames = {f.attname for f in fields}
        values = {k: v for k, v in row.snapshot.items() if k in attnames}
        pk: Any = model._meta.pk
        values.setdefault(pk.attname, pk.to_python(row.object_pk))
        instance: models.Model = model(**values)
        instance.after_permanent_delete()  # type: ignore[attr-defined]
    rows: Any = model._meta.base_manager  # every row still in the table, soft-deleted ones included
    for field_name, name in row.files.items():
        if name and not rows.filter(**{field_name: name}).exists():
            field: Any = model._meta.get_field(field_name)
            field.storage.delete(name)  # no row of the table names it any more (a copy may share the name)


class Command(BaseCommand):
    help = "Delete the files of purged rows and call their after_permanent_delete hooks (the outbox)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch", type=numbers.whole_number(1, 10_000), default=100, help="rows per transaction (1 to 10,000)"
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        done = failed = 0
        tried: set[int] = set()
        while True:
            with transaction.atomic(using=using):
                rows = list(
                    RetentionOutbox.objects.using(using)
                    .select_for_update(skip_locked=True)
                    .filter(done_at__isnull=True)
                    .exclude(pk__in=tried)
                    .order_by("id")[: options["batch"]]
                )
                if not rows:
                    break
                for row in rows:
                    tried.add(row.pk)
                    try:
                        with transaction.atomic(using=using):
                            process(row)
                        row.done_at = timezone.now()
                        done += 1
                    except Exception as exc:  # kept for the next call, with the reason
                        row.attempts += 1
                        row.last_error = f"{type(exc).__name__}: {exc}"
                        failed += 1
                    row.save(using=using, update_fields=["done_at", "attempts", "last_error"])
        self.stdout.write(f"{done} outbox row(s) done, {failed} failed (kept for the next call)")
        if failed:
            self.stderr.write(f"{failed} outbox row(s) failed: see retention_outbox.last_error")
