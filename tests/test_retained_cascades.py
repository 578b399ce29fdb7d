"""A purge never destroys a row its own policy still keeps (on_retained_cascade "block", the
default); "delete" restores Django's plain cascade. Django's Collector plus the rule is the oracle."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.utils import timezone
from purge_helpers import BETWEEN_AGE, ELIGIBLE_AGE, YOUNG_AGE, build_rules_data, purge_once
from rules import models as r
from test_purge_differential import differential

from django_pg_retention.checks import check_retention
from django_pg_retention.compiler import compile_model
from django_pg_retention.models import RetentionHold, RetentionRunItem
from django_pg_retention.sync import sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reset_rules")]

OLD = {"is_deleted": True, "deleted_at": timezone.now() - ELIGIBLE_AGE}


def aged(age: Any) -> dict[str, Any]:
    return {"is_deleted": True, "deleted_at": timezone.now() - age}


@pytest.fixture
def delete_mode(reset_rules: None, settings: Any) -> Iterator[None]:
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "on_retained_cascade": "delete"}
    sync()  # the mode is compiled into the purge functions
    yield
    del settings.RETENTION_CLEANUP_CONFIG
    sync()


def blocked_reasons(run: Any, model_path: str) -> dict[str, int]:
    return RetentionRunItem.objects.get(run=run, model_path=model_path).blocked_reasons


def test_a_root_whose_cascade_reaches_a_row_its_policy_keeps_is_blocked_with_the_reason() -> None:
    live_shelf = r.Owner.objects.create(label="live shelf", **OLD)
    r.Shelf.objects.create(owner=live_shelf)
    young_shelf = r.Owner.objects.create(label="young shelf", **OLD)
    r.Shelf.objects.create(owner=young_shelf, **aged(YOUNG_AGE))
    deep = r.Owner.objects.create(label="slot kept 60 days", **OLD)
    r.Slot.objects.create(shelf=r.Shelf.objects.create(owner=deep, **OLD), **aged(BETWEEN_AGE))
    held = r.Owner.objects.create(label="held slot", **OLD)
    held_slot = r.Slot.objects.create(shelf=r.Shelf.objects.create(owner=held, **OLD), **OLD)
    RetentionHold.objects.create(model_path="rules.Slot", object_pk=str(held_slot.pk), reason="litigation")
    gone = r.Owner.objects.create(label="all eligible", **OLD)
    r.Slot.objects.create(shelf=r.Shelf.objects.create(owner=gone, **OLD), **OLD)
    chain = r.Chain.objects.create(**OLD)
    r.Restaurant.objects.create(name="open", chain=chain)  # its Place row is live (MTI)

    run = purge_once()
    assert set(r.Owner.objects.values_list("label", flat=True)) == {
        "live shelf",
        "young shelf",
        "slot kept 60 days",
        "held slot",
    }
    assert blocked_reasons(run, "rules.Owner") == {
        "RETAINED rules.Shelf (live)": 1,
        "RETAINED rules.Shelf (30 days)": 1,
        "RETAINED rules.Slot (60 days)": 1,
        f"legal hold on rules.Slot {held_slot.pk}: litigation": 1,
    }
    # The 60-day slot also keeps its eligible shelf, when the shelf's own item comes.
    assert blocked_reasons(run, "rules.Shelf") == {
        "RETAINED rules.Slot (60 days)": 1,
        f"legal hold on rules.Slot {held_slot.pk}: litigation": 1,
    }
    assert blocked_reasons(run, "rules.Chain") == {"RETAINED rules.Place (live)": 1}
    assert r.Chain.objects.filter(pk=chain.pk).exists() and r.Restaurant.objects.filter(name="open").exists()


def test_delete_mode_is_djangos_plain_cascade_and_holds_still_hold(delete_mode: None) -> None:
    owner = r.Owner.objects.create(label="live shelf", **OLD)
    r.Shelf.objects.create(owner=owner)
    held = r.Owner.objects.create(label="held slot", **OLD)
    held_slot = r.Slot.objects.create(shelf=r.Shelf.objects.create(owner=held, **OLD), **OLD)
    RetentionHold.objects.create(model_path="rules.Slot", object_pk=str(held_slot.pk), reason="litigation")
    chain = r.Chain.objects.create(**OLD)
    r.Restaurant.objects.create(name="open", chain=chain)
    run = purge_once()
    assert list(r.Owner.objects.values_list("label", flat=True)) == ["held slot"]
    assert not r.Restaurant.objects.exists() and not r.Place.objects.filter(name="open").exists()
    assert blocked_reasons(run, "rules.Owner") == {f"legal hold on rules.Slot {held_slot.pk}: litigation": 1}


def test_the_setting_is_compiled_in() -> None:
    assert "RETAINED rules.Slot" in compile_model(r.Owner, ["public"]).sql


def test_delete_mode_compiles_no_retention_check(delete_mode: None) -> None:
    assert "RETAINED" not in compile_model(r.Owner, ["public"]).sql


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_sql_purge_matches_django_plus_the_rule_after_one_run(seed: int) -> None:
    outcome = differential(seed)
    assert outcome["deleted"] > 0


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_sql_purge_matches_plain_django_in_delete_mode(seed: int, delete_mode: None) -> None:
    differential(seed)


def test_the_differential_data_reaches_every_retained_reason() -> None:
    reasons: Counter[str] = Counter()
    for seed in (21, 22, 23, 24):
        reasons.update(differential(seed)["reasons"])
    joined = " | ".join(reasons)
    for reason in (
        "RETAINED rules.Shelf (live)",
        "RETAINED rules.Slot (60 days)",
        "RETAINED rules.Place (",  # through a multi-table child
        "legal hold on rules.Slot",
    ):
        assert reason in joined, (reason, reasons)


def test_w004_names_every_cascade_path_to_a_model_kept_longer() -> None:
    warnings = [m for m in check_retention() if m.id == "pg_retention.W004"]
    texts = sorted(m.msg for m in warnings)
    if django.VERSION >= (6, 1):  # tests/dbrules: the path goes through a DB_CASCADE
        assert texts.pop(0) == (
            "A purge of dbrules.Root (30 days) deletes rows of dbrules.KeptChild (60 days) through "
            "dbrules.KeptChild.root: such roots are blocked while a kept child is kept."
        )
    assert texts == [
        "A purge of rules.Owner (30 days) deletes rows of rules.Slot (60 days) through "
        "rules.Shelf.owner -> rules.Slot.shelf: such roots are blocked while a slot is kept.",
        "A purge of rules.Shelf (30 days) deletes rows of rules.Slot (60 days) through "
        "rules.Slot.shelf: such roots are blocked while a slot is kept.",
    ], texts
    assert all("PROTECT" in str(m.hint) and "soft delete" in str(m.hint) for m in warnings)


def test_w004_in_delete_mode_says_rows_are_destroyed(delete_mode: None) -> None:
    warnings = [m for m in check_retention() if m.id == "pg_retention.W004"]
    assert warnings and all("destroys" in m.msg for m in warnings), [m.msg for m in warnings]


def test_build_rules_data_has_the_cases() -> None:
    build_rules_data(random.Random(21))
    now = timezone.now()
    assert r.Slot.objects.filter(
        deleted_at__range=(now - BETWEEN_AGE - YOUNG_AGE, now - BETWEEN_AGE + YOUNG_AGE)
    ).exists()
    assert RetentionHold.objects.filter(model_path="rules.Slot").exists()
    assert r.Restaurant.objects.filter(chain__isnull=False).exists()
