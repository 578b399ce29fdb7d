"""Django 6.1's DB_CASCADE, DB_SET_NULL and DB_SET_DEFAULT (tests/dbrules): the purge leaves what
Django's own delete() leaves (its Collector plus the database's ON DELETE actions), counts and proves
what those actions take, and keeps a root whose database cascade would take a held row or a row its
own policy still keeps."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import django
import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.utils import timezone
from purge_helpers import call_cleanup, purge_once, reseal_after_truncate, snapshot

from django_pg_retention import place_hold
from django_pg_retention.audit import keys_digest
from django_pg_retention.models import RetentionHold, RetentionPolicy, RetentionRunItem
from django_pg_retention.sync import sync

pytestmark = [
    pytest.mark.skipif(django.VERSION < (6, 1), reason="database-level on_delete rules are new in Django 6.1"),
    pytest.mark.django_db(transaction=True),
]

TABLES = ["dbrules_root", "dbrules_child", "dbrules_grandchild", "dbrules_keptchild", "dbrules_nullable"]
TABLES += ["dbrules_defaulted", "dbrules_guard"]


def model(name: str) -> Any:
    return apps.get_model("dbrules", name)


@pytest.fixture(autouse=True)
def empty_tables() -> None:
    audit = ["retention_run_item", "retention_run", "retention_deleted_keys", "retention_outbox", "retention_hold"]
    audit.append("retention_audit_prune")  # the chain restarts at 1: so do the records of what was pruned
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in TABLES + audit) + " RESTART IDENTITY CASCADE")
        reseal_after_truncate(cursor)
    ContentType.objects.clear_cache()
    sync()


def build(rng: random.Random, roots: int = 40) -> None:
    """A sentinel root (pk 1, live: DB_SET_DEFAULT's target), then roots live, young or eligible,
    each with children and grandchildren (DB_CASCADE), soft-delete children of every age
    (DB_CASCADE, a 60-day policy), nullable (DB_SET_NULL) and defaulted (DB_SET_DEFAULT) rows, and a
    PROTECT guard on some."""
    now = timezone.now()
    Root, Child, Grandchild, KeptChild = model("Root"), model("Child"), model("Grandchild"), model("KeptChild")
    Nullable, Defaulted, Guard = model("Nullable"), model("Defaulted"), model("Guard")
    Root.objects.create(name="sentinel")

    def deleted(choice: str) -> dict[str, Any]:
        ages = {"live": None, "young": 10, "eligible": 40, "old": 70}
        days = ages[choice]
        return (
            {} if days is None else {"is_deleted": True, "deleted_at": now - timedelta(days=days, hours=rng.random())}
        )

    for i in range(roots):
        root = Root.objects.create(name=f"r{i}", **deleted(rng.choice(["live", "young", "eligible", "eligible"])))
        for _ in range(rng.randint(0, 2)):
            child = Child.objects.create(root=root)
            Grandchild.objects.bulk_create([Grandchild(child=child) for _ in range(rng.randint(0, 2))])
        if rng.random() < 0.3:
            KeptChild.objects.create(root=root, **deleted(rng.choice(["live", "eligible", "old", "old"])))
        Nullable.objects.bulk_create([Nullable(root=root) for _ in range(rng.randint(0, 2))])
        if rng.random() < 0.5:
            Defaulted.objects.create(root=root)
        if rng.random() < 0.1:
            Guard.objects.create(root=root)


def kept(obj: Any, now: datetime) -> bool:
    """The retention rule over what the delete takes, database actions included (force_collection
    makes the Collector follow DB_CASCADE as CASCADE): a held row, or a soft-delete row of a model
    with a policy that is not itself eligible, keeps the root."""
    collector = Collector(using="default", origin=obj, force_collection=True)  # type: ignore[call-arg]
    collector.collect([obj])
    rows = [row for instances in collector.data.values() for row in instances]
    rows += [row for queryset in collector.fast_deletes for row in queryset]
    days = dict(RetentionPolicy.objects.filter(is_active=True).values_list("model_path", "retention_days"))
    held = set(RetentionHold.objects.filter(released_at__isnull=True).values_list("model_path", "object_pk"))
    for row in rows:
        path = row._meta.label
        if (path, str(row.pk)) in held or (path, "") in held:
            return True
        if path in days and row is not obj and (type(row), row.pk) != (type(obj), obj.pk):
            if not (row.is_deleted and row.deleted_at < now - timedelta(days=days[path])):
                return True
    return False


def django_end_state() -> dict[str, list[tuple[Any, ...]]]:
    """obj.delete() of every eligible root Django and the rule allow, to the fixpoint, rolled back."""

    class Rollback(Exception):
        pass

    state: dict[str, Any] = {}
    now = timezone.now()
    try:
        with transaction.atomic():
            changed = True
            while changed:
                changed = False
                for path in ("dbrules.KeptChild", "dbrules.Root"):
                    cls = apps.get_model(path)
                    days = RetentionPolicy.objects.get(model_path=path).retention_days
                    for obj in cls.objects.filter(is_deleted=True, deleted_at__lt=now - timedelta(days=days)):
                        try:
                            with transaction.atomic():
                                if kept(obj, now):
                                    continue
                                obj.delete()
                        except (ProtectedError, RestrictedError):
                            continue
                        changed = True
            state["after"] = snapshot(TABLES)
            raise Rollback
    except Rollback:
        pass
    return state["after"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_purge_leaves_what_djangos_delete_and_the_databases_actions_leave(seed: int) -> None:
    build(random.Random(seed))
    # A grandchild of an eligible root that nothing else keeps: only the hold, behind DB_CASCADE, does.
    held = (
        model("Grandchild")
        .objects.filter(child__root__deleted_at__lt=timezone.now() - timedelta(days=31))
        .filter(child__root__guard__isnull=True, child__root__keptchild__isnull=True)
        .order_by("pk")
        .first()
    )
    assert held is not None
    place_hold(held, "evidence", by="legal")
    before = snapshot(TABLES)
    expected = django_end_state()
    assert snapshot(TABLES) == before
    dry = call_cleanup(dry_run=True)
    run = purge_once()
    after = snapshot(TABLES)
    assert after == expected
    assert after != before, "nothing was purged: the test proves nothing"

    items = {item.model_path: item for item in RetentionRunItem.objects.filter(run=run)}
    root_item = items["dbrules.Root"]
    for table in ("dbrules_child", "dbrules_grandchild"):
        gone = sorted({row[0] for row in before[table]} - {row[0] for row in after[table]})
        counted = sum(item.cascaded.get(table, 0) for item in items.values())
        assert counted == len(gone), f"{table}: {len(gone)} rows went, the audit counts {counted}"
        if gone:
            digest = root_item.digests[table]
            assert digest["count"] == len(gone)
            assert digest["sha256"] == keys_digest([str(pk) for pk in gone], digest["order"])
    nulled = sum(1 for row in after["dbrules_nullable"] if row[1] is None) - sum(
        1 for row in before["dbrules_nullable"] if row[1] is None
    )
    assert root_item.updated.get("dbrules_nullable.root_id", 0) == nulled > 0
    defaulted = sum(1 for row in after["dbrules_defaulted"] if row[1] == 1) - sum(
        1 for row in before["dbrules_defaulted"] if row[1] == 1
    )
    assert root_item.updated.get("dbrules_defaulted.root_id", 0) == defaulted > 0
    # The dry run announced exactly what the real run then did.
    dry_items = {item.model_path: item for item in RetentionRunItem.objects.filter(run=dry)}
    for path, item in items.items():
        assert (dry_items[path].deleted, dry_items[path].cascaded) == (item.deleted, item.cascaded), path
    assert model("Grandchild").objects.filter(pk=held.pk).exists()
    assert any("evidence" in reason for reason in root_item.blocked_reasons), root_item.blocked_reasons


def test_a_root_whose_database_cascade_takes_a_young_soft_deleted_child_is_kept() -> None:
    now = timezone.now()
    root = model("Root").objects.create(name="r", is_deleted=True, deleted_at=now - timedelta(days=40))
    young = model("KeptChild").objects.create(root=root, is_deleted=True, deleted_at=now - timedelta(days=40))
    run = purge_once()
    assert model("Root").objects.filter(pk=root.pk).exists() and model("KeptChild").objects.filter(pk=young.pk).exists()
    item = RetentionRunItem.objects.get(run=run, model_path="dbrules.Root")
    assert item.blocked == 1 and any("RETAINED dbrules.KeptChild" in reason for reason in item.blocked_reasons)
