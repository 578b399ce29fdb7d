"""Steps of tests/test_upgrade.py that run inside the upgrade project, under whichever release of
django-pg-retention is on the path: ``python history.py STEP [ARGS]``. Only the API of release
0.1.0 is used, so that every later release can run them too. Each step prints one JSON value."""

import json
import os
import sys
from datetime import timedelta
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upgrade_settings")
django.setup()

from django.db import models  # noqa: E402
from django.db.models.deletion import Collector, ProtectedError, RestrictedError  # noqa: E402
from django.utils import timezone  # noqa: E402
from shop.models import Customer, Invoice, Line, Note, Order, Tag  # noqa: E402

import django_pg_retention  # noqa: E402
from django_pg_retention import place_hold, release_hold  # noqa: E402
from django_pg_retention.models import SoftDeleteMixin  # noqa: E402


def seed(customers: int) -> dict[str, Any]:
    """Customers with orders, lines, tags, an invoice on every fifth order and notes."""
    tags = Tag.objects.bulk_create([Tag(name=f"t{i}") for i in range(3)])
    for c in range(customers):
        customer = Customer.objects.create(name=f"c{c}")
        for n in range(3):
            order = Order.objects.create(customer=customer, number=c * 10 + n)
            order.tags.set(tags[: n + 1])
            Line.objects.bulk_create([Line(order=order, quantity=q) for q in range(2)])
            if order.number % 5 == 0:
                Invoice.objects.create(order=order)
            Note.objects.create(order=order, text=f"note {order.number}")
    return {"version": django_pg_retention.__version__, "module": django_pg_retention.__file__}


def soft_delete(model: str, count: int, days_ago: int) -> int:
    """Soft-delete the first ``count`` live rows of a model, ``days_ago`` days ago (one timestamp, as
    ``QuerySet.update`` does)."""
    cls: type[SoftDeleteMixin] = {"Order": Order, "Customer": Customer, "Note": Note}[model]  # type: ignore[assignment]
    ids = list(cls.objects.filter(is_deleted=False).order_by("pk").values_list("pk", flat=True)[:count])
    return cls.objects.filter(pk__in=ids).update(is_deleted=True, deleted_at=timezone.now() - timedelta(days=days_ago))


def holds() -> dict[str, Any]:
    """A hold in force on one eligible order, and one placed and released on another."""
    eligible = Order.objects.filter(is_deleted=True).exclude(invoice__isnull=False).order_by("pk")
    kept, released = eligible[0], eligible[1]
    place_hold(kept, "litigation 7", by="legal")
    place_hold(released, "audit query", by="legal")
    release_hold(released, by="legal")
    return {"held": kept.pk, "released": released.pk}


def expected_deletions() -> dict[str, list[int]]:
    """Django's own Collector as the oracle: what ``delete()`` of each eligible, unheld root would
    delete, skipping roots Django refuses (PROTECT) and roots whose cascade reaches a soft-delete
    row its own policy still keeps (the default, retention-aware cascades)."""
    from django_pg_retention.models import RetentionHold, RetentionPolicy

    policies = dict(RetentionPolicy.objects.filter(is_active=True).values_list("model_path", "retention_days"))
    held = {(h.model_path, h.object_pk) for h in RetentionHold.objects.filter(released_at__isnull=True)}
    now = timezone.now()

    def eligible(obj: models.Model) -> bool:
        path = f"{obj._meta.app_label}.{obj._meta.object_name}"
        if not isinstance(obj, SoftDeleteMixin):
            return True
        days = policies[path]
        return bool(obj.is_deleted and obj.deleted_at and obj.deleted_at < now - timedelta(days=days)) and (
            (path, str(obj.pk)) not in held and (path, "") not in held
        )

    gone: dict[str, set[int]] = {}
    changed = True
    while changed:  # a later pass may free a root whose children an earlier pass deleted
        changed = False
        for model in (Order, Customer, Note):
            for root in model.objects.filter(is_deleted=True):
                path = f"shop.{model.__name__}"
                if root.pk in gone.get(path, set()) or not eligible(root):
                    continue
                collector = Collector(using="default")
                try:
                    collector.collect([root])
                except (ProtectedError, RestrictedError):
                    continue
                rows = [obj for objs in collector.data.values() for obj in objs]
                rows += [obj for qs in collector.fast_deletes for obj in qs]  # type: ignore[union-attr]
                rows = [r for r in rows if r.pk not in gone.get(f"{r._meta.app_label}.{r._meta.object_name}", set())]
                if not all(eligible(r) for r in rows if isinstance(r, SoftDeleteMixin)):
                    continue
                for r in rows:
                    gone.setdefault(f"{r._meta.app_label}.{r._meta.object_name}", set()).add(r.pk)
                changed = True
    return {path: sorted(pks) for path, pks in gone.items()}


def snapshot() -> dict[str, list[Any]]:
    """Every row of the app's tables (what a purge changes)."""
    return {
        model.__name__: [list(row) for row in model.objects.order_by("pk").values_list()]
        for model in (Customer, Order, Line, Invoice, Note, Tag, Order.tags.through)
    }


if __name__ == "__main__":
    step, args = sys.argv[1], sys.argv[2:]
    if step == "seed":
        out: Any = seed(int(args[0]))
    elif step == "soft_delete":
        out = soft_delete(args[0], int(args[1]), int(args[2]))
    elif step == "holds":
        out = holds()
    elif step == "expected":
        out = expected_deletions()
    elif step == "snapshot":
        out = snapshot()
    else:
        raise SystemExit(f"unknown step {step!r}")
    print(json.dumps(out, default=str))
