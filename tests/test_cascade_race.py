"""A cascade row moved to a live parent while a batch waits for it is not deleted (two sessions).

Session B changes the row first and keeps its transaction open; the purge (session A) reads the
cascade, then waits for B's row lock; B commits; A must re-check the row against the batch's
parents. Before the fix a row found through its foreign key was deleted by primary key, with
everything below it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone
from rules.models import Bin, Link, Owner, Shelf, Slot
from test_purge_runs import app_db_dsn, start_cleanup, wait_for

from django_pg_retention.models import RetentionRun, RetentionRunItem

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reset_rules")]


def purge_owners_while(change: str, params: list[object], model: str = "rules.Owner") -> RetentionRun:
    """Run the Owner purge (or ``model``'s) while another session holds ``change`` uncommitted;
    commit it once the purge waits for its lock."""
    with psycopg.connect(app_db_dsn()) as other:
        other.execute(change, params)  # a transaction block: the row stays locked until commit
        thread, state = start_cleanup(model=model, triggered_by="race")
        waiting: Callable[[], bool] = lambda: bool(  # noqa: E731
            other.execute(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [state["pid"]]
            ).fetchone()
            == (True,)
        )
        wait_for(waiting)
        other.commit()
    thread.join(30)
    assert "error" not in state, state.get("error")
    return RetentionRun.objects.get(triggered_by="race")


def eligible(**kwargs: object) -> dict[str, object]:
    return {"is_deleted": True, "deleted_at": timezone.now() - timedelta(days=100), **kwargs}


def test_a_child_with_children_moved_to_a_live_parent_meanwhile_survives_with_its_subtree() -> None:
    gone, live = Owner.objects.create(**eligible()), Owner.objects.create()
    shelf = Shelf.objects.create(**eligible(owner=gone))
    slot = Slot.objects.create(**eligible(shelf=shelf))
    run = purge_owners_while("UPDATE rules_shelf SET owner_id = %s WHERE id = %s", [live.pk, shelf.pk])
    assert run.status == "succeeded"
    assert not Owner.objects.filter(pk=gone.pk).exists()
    assert Shelf.objects.get(pk=shelf.pk).owner_id == live.pk
    assert Slot.objects.filter(pk=slot.pk).exists()
    item = RetentionRunItem.objects.get(run=run)
    assert item.deleted == 1 and item.cascaded == {"rules_owner": 1}


def test_a_leaf_row_moved_to_a_live_parent_meanwhile_survives() -> None:
    gone, live = Owner.objects.create(**eligible()), Owner.objects.create()
    bin_ = Bin.objects.create()
    moved = Link.objects.create(owner=gone, bin=bin_)
    taken = Link.objects.create(owner=gone, bin=bin_)
    run = purge_owners_while("UPDATE rules_link SET owner_id = %s WHERE id = %s", [live.pk, moved.pk])
    assert run.status == "succeeded"
    assert not Owner.objects.filter(pk=gone.pk).exists()
    assert Link.objects.get(pk=moved.pk).owner_id == live.pk
    assert not Link.objects.filter(pk=taken.pk).exists()
    item = RetentionRunItem.objects.get(run=run)
    assert item.deleted == 1 and item.cascaded == {"rules_owner": 1, "rules_link": 1}
    # The proof of deletion lists the rows that went, not the rows the cascade first read.
    chunk = {"chunk": 65536}  # keys per chunk (retention.item_digests); one key: the plain digest
    assert item.digests == {
        "rules_link": {
            "count": 1,
            "sha256": hashlib.sha256(f"{taken.pk}\n".encode()).hexdigest(),
            "order": "numeric",
            **chunk,
        },
        "rules_owner": {
            "count": 1,
            "sha256": hashlib.sha256(f"{gone.pk}\n".encode()).hexdigest(),
            "order": "numeric",
            **chunk,
        },
    }


def test_a_leaf_row_its_policy_keeps_again_meanwhile_blocks_its_root() -> None:
    """A retained leaf is deleted by its parent match (compiler._Purge.by_match), without a lock
    taken when its keys are read for the retention check: a slot restored while the DELETE waits for
    it must not go with its shelf (a row its own policy keeps), and the root is blocked instead.
    Failed before the DELETE checked the rows it takes (the restored slot was deleted)."""
    gone = Owner.objects.create(**eligible())
    shelf = Shelf.objects.create(**eligible(owner=gone))
    slot = Slot.objects.create(**eligible(shelf=shelf))
    sibling = Slot.objects.create(**eligible(shelf=shelf))
    run = purge_owners_while("UPDATE rules_slot SET is_deleted = false, deleted_at = NULL WHERE id = %s", [slot.pk])
    assert run.status == "succeeded"
    slot.refresh_from_db()
    assert not slot.is_deleted and slot.deleted_at is None
    assert Owner.objects.filter(pk=gone.pk).exists() and Shelf.objects.filter(pk=shelf.pk).exists()
    assert Slot.objects.filter(pk=sibling.pk).exists()
    item = RetentionRunItem.objects.get(run=run)
    assert item.deleted == 0 and item.blocked == 1
    assert item.blocked_reasons == {"RETAINED rules.Slot (live)": 1}


def test_a_child_its_policy_keeps_again_meanwhile_blocks_its_root() -> None:
    """The same for a direct child (rules.Shelf -> rules.Slot): the batch selection probed the
    root for kept slots and the purge reads no slot keys at all, so only the DELETE can see it."""
    shelf = Shelf.objects.create(**eligible())
    slot = Slot.objects.create(**eligible(shelf=shelf))
    sibling = Slot.objects.create(**eligible(shelf=shelf))
    run = purge_owners_while(
        "UPDATE rules_slot SET is_deleted = false, deleted_at = NULL WHERE id = %s", [slot.pk], model="rules.Shelf"
    )
    assert run.status == "succeeded"
    slot.refresh_from_db()
    assert not slot.is_deleted
    assert Shelf.objects.filter(pk=shelf.pk).exists() and Slot.objects.filter(pk=sibling.pk).exists()
    item = RetentionRunItem.objects.get(run=run)
    assert item.deleted == 0 and item.blocked == 1
    assert item.blocked_reasons == {"RETAINED rules.Slot (live)": 1}
