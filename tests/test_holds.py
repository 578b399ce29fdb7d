"""Legal holds: a held row, and a row whose cascade reaches a held row, both survive every purge."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection, models, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from purge_helpers import ELIGIBLE_AGE, app_db_dsn, call_cleanup, start_cleanup, wait_for
from rules.models import Archive, ArchivePage, Author, Book, Chapter, Language, Menu, Place, Publisher, Restaurant

from django_pg_retention import place_hold, release_hold
from django_pg_retention.holds import HoldError, place_holds
from django_pg_retention.models import RetentionHold, RetentionRun, RetentionRunItem
from django_pg_retention.policies import model_path

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reset_rules")]


def old_place(name: str) -> Place:
    return Place.objects.create(name=name, is_deleted=True, deleted_at=timezone.now() - ELIGIBLE_AGE)


def test_a_held_row_survives_and_is_counted_with_its_reason() -> None:
    held, free = old_place("held"), old_place("free")
    hold = place_hold(held, "litigation 2026-17", by="legal")
    assert (hold.model_path, hold.object_pk, hold.created_by) == ("rules.Place", str(held.pk), "legal")
    run = call_cleanup(model="rules.Place")
    item = RetentionRunItem.objects.get(run=run)
    assert (item.eligible, item.deleted, item.blocked) == (2, 1, 1)
    assert item.blocked_reasons == {f"legal hold on rules.Place {held.pk}: litigation 2026-17": 1}
    assert list(Place.objects.all()) == [held] and free.pk != held.pk

    assert release_hold(held, by="legal") == 1
    hold.refresh_from_db()
    assert hold.released_by == "legal" and hold.released_at is not None  # the release is recorded
    call_cleanup(model="rules.Place")
    assert not Place.objects.exists()


def test_a_hold_on_the_whole_model_blocks_every_row_until_it_lapses() -> None:
    for i in range(3):
        old_place(f"p{i}")
    hold = place_hold(Place, "audit freeze", until=timezone.now() + timedelta(seconds=3))
    item = RetentionRunItem.objects.get(run=call_cleanup(model="rules.Place"))
    assert (item.deleted, item.blocked) == (0, 3) and Place.objects.count() == 3
    assert hold.until is not None
    time.sleep(max(0.0, (hold.until - timezone.now()).total_seconds()) + 0.1)  # lapsed (an expiry never moves sooner)
    call_cleanup(model="rules.Place")
    assert not Place.objects.exists()


def test_a_row_whose_cascade_reaches_a_held_row_is_blocked() -> None:
    now = timezone.now()
    Language.objects.create(code="en")
    reaching = Author.objects.create(name="reaching", is_deleted=True, deleted_at=now - ELIGIBLE_AGE)
    other = Author.objects.create(name="other", is_deleted=True, deleted_at=now - ELIGIBLE_AGE)
    book = Book.objects.create(isbn="held-book", author=reaching, language_id="en")
    chapter = Chapter.objects.create(book=book)
    Book.objects.create(isbn="free-book", author=other, language_id="en")
    place_hold(chapter, "evidence in case 42")
    run = call_cleanup(model="rules.Author")
    item = RetentionRunItem.objects.get(run=run)
    assert (item.deleted, item.blocked) == (1, 1)
    assert item.blocked_reasons == {f"legal hold on rules.Chapter {chapter.pk}: evidence in case 42": 1}
    assert Author.objects.filter(pk=reaching.pk).exists() and Chapter.objects.filter(pk=chapter.pk).exists()
    assert not Author.objects.filter(pk=other.pk).exists()


def test_holds_need_a_reason_and_a_saved_row() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        place_hold(Place, "  ")
    with pytest.raises(ValueError, match=r"unsaved rules\.Place"):
        place_hold(Place(name="new"), "why")


def test_holds_in_the_admin_follow_the_model_permissions() -> None:
    User = get_user_model()
    clerk = User.objects.create_user(username="clerk", password="pw", is_staff=True)
    client = Client()
    client.force_login(clerk)
    add_url = reverse("admin:django_pg_retention_retentionhold_add")
    assert client.get(add_url).status_code == 403  # staff without the permission

    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["add_retentionhold", "view_retentionhold"]))
    place = old_place("held")
    response = client.post(add_url, {"model_path": "rules.Place", "object_pk": str(place.pk), "reason": "subpoena"})
    assert response.status_code == 302, response.content.decode()[:2000]
    hold = RetentionHold.objects.get()
    assert (hold.created_by, hold.reason) == ("clerk", "subpoena")
    bad = client.post(add_url, {"model_path": "rules.Nope", "reason": "x"})
    assert bad.status_code == 200 and "is not an installed model" in bad.content.decode()
    # A hold must protect something: a model a purge deletes, and a row that exists.
    for data, error in (
        ({"model_path": "auth.Group", "reason": "x"}, "is not purged by any retention policy"),
        ({"model_path": "rules.Place", "object_pk": "999999999", "reason": "x"}, "no row with primary key"),
        ({"model_path": "rules.Place", "object_pk": "abc", "reason": "x"}, "no row with primary key"),
    ):
        refused = client.post(add_url, data)
        assert refused.status_code == 200 and error in refused.content.decode(), data
    assert RetentionHold.objects.count() == 1
    whole = client.post(add_url, {"model_path": "rules.Chapter", "object_pk": "", "reason": "all chapters"})
    assert whole.status_code == 302  # no primary key: every row of a model a cascade reaches

    changelist = reverse("admin:django_pg_retention_retentionhold_changelist")
    release = {"action": "release", "_selected_action": [hold.pk]}
    client.post(changelist, release)
    hold.refresh_from_db()
    assert hold.released_at is None  # releasing needs the change permission
    clerk.user_permissions.add(Permission.objects.get(codename="change_retentionhold"))
    client.post(changelist, release)
    hold.refresh_from_db()
    assert hold.released_by == "clerk" and hold.released_at is not None
    delete = reverse("admin:django_pg_retention_retentionhold_delete", args=[hold.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert RetentionHold.objects.filter(pk=hold.pk).exists()


def test_release_hold_must_say_who_releases_it() -> None:
    held = Place.objects.create(name="p", is_deleted=True, deleted_at=timezone.now())
    place_hold(held, "audit", by="legal")
    with pytest.raises(ValueError, match="must say who releases it"):
        release_hold(held)
    assert RetentionHold.objects.get().released_at is None


def test_place_legal_hold_is_offered_on_a_soft_delete_models_changelist_and_asks_for_a_reason() -> None:
    User = get_user_model()
    clerk = User.objects.create_user(username="clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["view_place", "change_place"]))
    client = Client()
    client.force_login(clerk)
    first, second = Place.objects.create(name="a"), Place.objects.create(name="b")
    changelist = reverse("admin:rules_place_changelist")
    assert 'value="place_legal_hold"' in client.get(changelist).content.decode()
    selected = {"action": "place_legal_hold", "_selected_action": [first.pk, second.pk]}

    refused = client.post(changelist, selected, follow=True)
    assert "You may not place legal holds" in refused.content.decode() and not RetentionHold.objects.exists()
    clerk.user_permissions.add(Permission.objects.get(codename="add_retentionhold"))
    asked = client.post(changelist, selected)  # the action's first step: a page asking why
    assert asked.status_code == 200 and "Place the hold" in asked.content.decode()
    assert not RetentionHold.objects.exists()
    no_reason = client.post(changelist, {**selected, "post": "yes", "reason": ""})
    assert no_reason.status_code == 200 and not RetentionHold.objects.exists()
    client.post(changelist, {**selected, "post": "yes", "reason": "litigation 42"})
    holds = RetentionHold.objects.order_by("object_pk")
    assert [(h.model_path, h.object_pk, h.reason, h.created_by) for h in holds] == [
        ("rules.Place", str(first.pk), "litigation 42", "clerk"),
        ("rules.Place", str(second.pk), "litigation 42", "clerk"),
    ]


def test_a_hold_page_releases_through_a_confirmation_and_says_who() -> None:
    User = get_user_model()
    clerk = User.objects.create_user(username="clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_retentionhold"))
    client = Client()
    client.force_login(clerk)
    hold = place_hold(old_place("held"), "audit", by="legal")
    page = reverse("admin:django_pg_retention_retentionhold_change", args=[hold.pk])
    release = reverse("admin:django_pg_retention_release_hold", args=[hold.pk])
    shown = client.get(page).content.decode()
    assert f"Legal hold {hold.pk}" in shown and 'id="retention-release"' not in shown  # not without the permission
    assert client.post(release).status_code == 403

    clerk.user_permissions.add(Permission.objects.get(codename="change_retentionhold"))
    assert 'id="retention-release"' in client.get(page).content.decode()
    confirmation = client.get(release)
    assert confirmation.status_code == 200 and "Yes, release it" in confirmation.content.decode()
    hold.refresh_from_db()
    assert hold.released_at is None  # asking is not releasing
    client.post(release)
    hold.refresh_from_db()
    assert hold.released_by == "clerk" and hold.released_at is not None
    assert 'id="retention-release"' not in client.get(page).content.decode()  # released once, for good


# Issue 28: a hold never lands on nothing and never arrives too late.


def batch_in_flight(pid: int) -> bool:
    """The run's backend sleeps in the slow delete trigger: its batch holds the rows it selected."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row) and row[0] == "PgSleep"


def test_a_stale_instance_is_refused_naming_the_run_that_purged_it() -> None:
    loaded = Place.objects.get(pk=old_place("stale").pk)  # read, then purged by a run
    run = call_cleanup(model="rules.Place")
    assert not Place.objects.filter(pk=loaded.pk).exists()
    with pytest.raises(HoldError) as refused:
        place_hold(loaded, "litigation", by="legal")
    assert str(refused.value).startswith(
        f"rules.Place has no row with primary key {loaded.pk}: it was purged, most likely by retention run {run.pk} ("
    )
    assert "No hold was recorded" in str(refused.value)
    assert not RetentionHold.objects.exists()
    # A key its sequence never gave: never existed; and all or nothing with a row that exists.
    alive = old_place("alive")
    with pytest.raises(HoldError, match=r"key 999999: it never existed \(its primary key sequence"):
        place_holds([alive, Place(pk=999999)], "litigation", by="legal")
    # A key not from a sequence, of a table no run has deleted from: never existed, or deleted by hand.
    with pytest.raises(
        HoldError, match=r"key zz: it never existed \(or was deleted outside retention: no retention run"
    ):
        place_hold(Language(code="zz"), "litigation", by="legal")
    assert not RetentionHold.objects.exists()


def test_a_hold_placed_while_a_batch_holds_the_row_waits_and_then_fails(
    slow_place_deletes: Callable[[float], None],
) -> None:
    slow_place_deletes(1.5)
    place = old_place("in flight")
    thread, state = start_cleanup(model="rules.Place", batch_size=1, triggered_by="race")
    wait_for(lambda: batch_in_flight(state["pid"]))
    started = time.monotonic()
    with pytest.raises(
        HoldError, match=rf"rules.Place has no row with primary key {place.pk}: it was purged"
    ) as refused:
        place_hold(place, "litigation", by="legal")
    waited = time.monotonic() - started
    thread.join(30)
    run = RetentionRun.objects.get(triggered_by="race")
    assert f"most likely by retention run {run.pk} (" in str(refused.value)
    assert waited > 0.5  # it waited for the batch to commit, then found the row gone
    assert not RetentionHold.objects.exists() and not Place.objects.exists()


def test_a_hold_that_commits_first_keeps_its_row_from_a_run_in_flight(
    slow_place_deletes: Callable[[float], None],
) -> None:
    slow_place_deletes(1.0)
    first = old_place("first")  # the oldest: the first batch
    held = old_place("held")
    thread, state = start_cleanup(model="rules.Place", batch_size=1, triggered_by="race")
    wait_for(lambda: batch_in_flight(state["pid"]))
    started = time.monotonic()
    place_hold(held, "litigation 9", by="legal")
    assert time.monotonic() - started < 0.9  # the batch in flight does not hold this row
    thread.join(30)
    item = RetentionRunItem.objects.get(run__triggered_by="race")
    assert (item.deleted, item.blocked) == (1, 1)
    assert item.blocked_reasons == {f"legal hold on rules.Place {held.pk}: litigation 9": 1}
    assert list(Place.objects.values_list("pk", flat=True)) == [held.pk] and first.pk != held.pk


def test_a_whole_model_hold_lets_the_batch_in_flight_finish_and_blocks_every_later_one(
    slow_place_deletes: Callable[[float], None],
) -> None:
    slow_place_deletes(1.0)
    first = old_place("first")
    later = [old_place("second").pk, old_place("third").pk]
    thread, state = start_cleanup(model="rules.Place", batch_size=1, triggered_by="race")
    wait_for(lambda: batch_in_flight(state["pid"]))
    place_hold(Place, "audit freeze", by="legal")
    thread.join(30)
    item = RetentionRunItem.objects.get(run__triggered_by="race")
    assert (item.deleted, item.blocked) == (1, 2)
    assert not Place.objects.filter(pk=first.pk).exists()
    assert sorted(Place.objects.values_list("pk", flat=True)) == sorted(later)


SQL_HOLD = (
    "INSERT INTO retention_hold (model_path, object_pk, reason, created_by, created_at, released_by)"
    " VALUES (%s, %s, 'x', 'dba', now(), '')"
)


def test_a_hold_inserted_in_sql_on_a_missing_row_or_an_unpurged_model_is_refused() -> None:
    gone = old_place("gone")
    call_cleanup(model="rules.Place")
    with psycopg.connect(app_db_dsn(), autocommit=True) as psql:
        insert = SQL_HOLD
        with pytest.raises(
            psycopg.errors.ForeignKeyViolation, match=rf"rules.Place has no row with primary key {gone.pk}"
        ):
            psql.execute(insert, ["rules.Place", str(gone.pk)])
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match=r"auth.Group is not purged in this database"):
            psql.execute(insert, ["auth.Group", ""])
        with pytest.raises(
            psycopg.errors.InvalidTextRepresentation, match=r"'abc' is not a primary key of rules.Place"
        ):
            psql.execute(insert, ["rules.Place", "abc"])
    assert not RetentionHold.objects.exists()


def test_a_hold_inserted_in_sql_waits_for_the_batch_that_holds_its_row(
    slow_place_deletes: Callable[[float], None],
) -> None:
    slow_place_deletes(1.5)
    place = old_place("in flight")
    thread, state = start_cleanup(model="rules.Place", batch_size=1, triggered_by="race")
    wait_for(lambda: batch_in_flight(state["pid"]))
    with psycopg.connect(app_db_dsn(), autocommit=True) as psql:
        with pytest.raises(
            psycopg.errors.ForeignKeyViolation, match=rf"rules.Place has no row with primary key {place.pk}"
        ):
            psql.execute(
                "INSERT INTO retention_hold (model_path, object_pk, reason, created_by, created_at)"
                " VALUES ('rules.Place', %s, 'x', 'dba', now())",
                [str(place.pk)],
            )
    thread.join(30)
    assert not RetentionHold.objects.exists()


def test_the_hold_form_and_action_on_a_row_purged_meanwhile_show_the_error(
    slow_place_deletes: Callable[[float], None],
) -> None:
    User = get_user_model()
    clerk = User.objects.create_user(username="clerk", password="pw", is_staff=True)
    codenames = ["view_place", "change_place", "add_retentionhold", "view_retentionhold"]
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(clerk)
    slow_place_deletes(1.5)
    by_form, by_action = old_place("form"), old_place("action")
    add_url = reverse("admin:django_pg_retention_retentionhold_add")

    thread, state = start_cleanup(model="rules.Place", batch_size=1, triggered_by="race")
    wait_for(lambda: batch_in_flight(state["pid"]))  # deleting by_form (the older): the form's check still sees it
    response = client.post(add_url, {"model_path": "rules.Place", "object_pk": str(by_form.pk), "reason": "subpoena"})
    page = response.content.decode()
    assert response.status_code == 200, page[:2000]  # the form again, not a redirect to a success
    assert f"rules.Place has no row with primary key {by_form.pk}: it was purged" in page
    assert "was added successfully" not in page

    wait_for(lambda: batch_in_flight(state["pid"]) and not Place.objects.filter(pk=by_form.pk).exists())
    changelist = reverse("admin:rules_place_changelist")
    selected = {"action": "place_legal_hold", "_selected_action": [by_action.pk], "post": "yes", "reason": "subpoena"}
    shown = client.post(changelist, selected, follow=True).content.decode()
    thread.join(30)
    assert "No legal hold was placed" in shown and f"has no row with primary key {by_action.pk}" in shown
    assert "row(s) held" not in shown
    assert not RetentionHold.objects.exists() and not Place.objects.exists()


# Issue 30, item 3: a hold names a row one way, whichever path writes it.


def test_a_key_written_another_way_is_stored_canonically_and_in_force_through_a_purge() -> None:
    places = [old_place(f"p{i}") for i in range(4)]
    by_sql, by_form, by_python, free = places
    publisher = Publisher.objects.create(is_deleted=True, deleted_at=timezone.now() - ELIGIBLE_AGE)
    spare = Publisher.objects.create(is_deleted=True, deleted_at=timezone.now() - ELIGIBLE_AGE)
    with psycopg.connect(app_db_dsn(), autocommit=True) as psql:
        psql.execute(SQL_HOLD, ["rules.Place", f"00{by_sql.pk}"])  # '007'
        psql.execute(SQL_HOLD, ["rules.Publisher", str(publisher.pk).upper()])
        for bad in ("7.0", " ", "seven"):  # not a bigint: refused, nothing stored
            with pytest.raises(psycopg.errors.InvalidTextRepresentation, match=r"is not a primary key of rules\.Place"):
                psql.execute(SQL_HOLD, ["rules.Place", bad])
    User = get_user_model()
    clerk = User.objects.create_user(username="clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["add_retentionhold", "view_retentionhold"]))
    client = Client()
    client.force_login(clerk)
    add_url = reverse("admin:django_pg_retention_retentionhold_add")
    response = client.post(add_url, {"model_path": "rules.Place", "object_pk": f" {by_form.pk} ", "reason": "x"})
    assert response.status_code == 302, response.content.decode()[:2000]
    place_hold(Place(pk=f"00{by_python.pk}"), "x", by="legal")

    stored = sorted(RetentionHold.objects.values_list("model_path", "object_pk"))
    assert stored == sorted(
        [
            ("rules.Place", str(by_sql.pk)),
            ("rules.Place", str(by_form.pk)),
            ("rules.Place", str(by_python.pk)),
            ("rules.Publisher", str(publisher.pk)),  # lower case, as uuid::text
        ]
    )
    call_cleanup(model="rules.Place")
    call_cleanup(model="rules.Publisher")
    assert sorted(Place.objects.values_list("pk", flat=True)) == sorted([by_sql.pk, by_form.pk, by_python.pk])
    assert not Place.objects.filter(pk=free.pk).exists()
    assert list(Publisher.objects.values_list("pk", flat=True)) == [publisher.pk] and spare.pk != publisher.pk


def test_a_text_key_keeps_its_blanks() -> None:
    Language.objects.create(code="en", is_deleted=True, deleted_at=timezone.now() - ELIGIBLE_AGE)
    with psycopg.connect(app_db_dsn(), autocommit=True) as psql:
        with pytest.raises(
            psycopg.errors.ForeignKeyViolation, match=r"rules\.Language has no row with primary key  en"
        ):
            psql.execute(SQL_HOLD, ["rules.Language", " en"])  # a different key, which no row has
        psql.execute(SQL_HOLD, ["rules.Language", "en"])
    assert list(RetentionHold.objects.values_list("object_pk", flat=True)) == ["en"]


def held_chapter() -> tuple[str, models.Model, models.Model]:
    """An author (a cyclic graph: the chapter is locked by key) whose cascade reaches a chapter."""
    Language.objects.create(code="en")
    author = Author.objects.create(name="reaching", is_deleted=True, deleted_at=timezone.now() - ELIGIBLE_AGE)
    book = Book.objects.create(isbn="held-book", author=author, language_id="en")
    return "rules.Author", author, Chapter.objects.create(book=book)


def held_menu() -> tuple[str, models.Model, models.Model]:
    """A restaurant (an acyclic graph: the menu is a leaf, deleted by its parent match) and its menu."""
    restaurant = Restaurant.objects.create(name="r", is_deleted=True, deleted_at=timezone.now() - ELIGIBLE_AGE)
    return "rules.Place", restaurant, Menu.objects.create(restaurant=restaurant)


def held_page() -> tuple[str, models.Model, models.Model]:
    """An archive (an acyclic graph: its page is a leaf, deleted by its parent match, not locked by key)."""
    archive = Archive.objects.create(title="a", deleted=timezone.now() - ELIGIBLE_AGE)
    return "rules.Archive", archive, ArchivePage.objects.create(archive=archive)


@pytest.mark.parametrize("graph", [held_chapter, held_menu, held_page])
def test_a_hold_that_commits_while_the_batch_waits_for_a_cascaded_row_keeps_it(
    graph: Callable[[], tuple[str, models.Model, models.Model]],
) -> None:
    """The hold's transaction holds the cascaded row's lock when the batch reaches it: the batch
    waits, the hold commits, and the batch, which checked the holds before, must see it now."""
    path, root, held = graph()
    with transaction.atomic():
        place_hold(held, "evidence", by="legal")  # locked and recorded, not committed yet
        thread, state = start_cleanup(model=path, triggered_by="race")

        def waiting_for_a_lock() -> bool:
            with psycopg.connect(app_db_dsn(), autocommit=True) as other:
                row = other.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [state["pid"]]
                ).fetchone()
            return bool(row) and row[0] == "Lock"

        wait_for(waiting_for_a_lock)
    thread.join(30)
    item = RetentionRunItem.objects.get(run__triggered_by="race")
    assert type(held).objects.filter(pk=held.pk).exists() and type(root).objects.filter(pk=root.pk).exists()
    assert (item.deleted, item.blocked) == (0, 1)
    assert item.blocked_reasons == {f"legal hold on {model_path(type(held))} {held.pk}: evidence": 1}


def test_the_hold_trigger_comes_with_sql_0_2_and_goes_with_its_reverse() -> None:
    """An install at 0.1 (migrate back to 0007, whose reverse applies django_pg_retention--0.2--0.1.sql
    and 0.1's file again) stores a key as written; upgrading (0008, then the sync of migrate) puts
    the trigger and retention_hold_target back, and the same INSERT is stored canonically."""
    place = old_place("p")

    def objects() -> tuple[bool, bool, bool]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT to_regclass('retention_hold_target') IS NOT NULL,"
                " to_regprocedure('retention.check_hold()') IS NOT NULL,"
                " EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'retention_hold_check')"
            )
            row = cursor.fetchone()
        assert row is not None
        return row[0], row[1], row[2]

    assert objects() == (True, True, True)
    try:
        call_command("migrate", "django_pg_retention", "0007", verbosity=0)
        assert objects() == (False, False, False)
        with psycopg.connect(app_db_dsn(), autocommit=True) as psql:
            psql.execute(SQL_HOLD, ["rules.Place", f"00{place.pk}"])  # 0.1 took it as written
        assert list(RetentionHold.objects.values_list("object_pk", flat=True)) == [f"00{place.pk}"]
    finally:
        call_command("migrate", "django_pg_retention", verbosity=0)
    assert objects() == (True, True, True)
    with psycopg.connect(app_db_dsn(), autocommit=True) as psql:
        psql.execute(SQL_HOLD, ["rules.Place", f"00{place.pk}"])
    assert sorted(RetentionHold.objects.values_list("object_pk", flat=True)) == sorted([f"00{place.pk}", str(place.pk)])


def test_a_row_locked_longer_than_the_wait_is_not_held() -> None:
    place = old_place("locked")
    with psycopg.connect(app_db_dsn()) as other:  # a transaction that keeps the row locked
        other.execute("SELECT 1 FROM rules_place WHERE id = %s FOR UPDATE", [place.pk])
        started = time.monotonic()
        with pytest.raises(HoldError, match=r"could not lock the rules\.Place rows to hold within 0\.3 s"):
            place_hold(place, "litigation", by="legal", lock_wait=0.3)
        assert 0.3 <= time.monotonic() - started < 5
        other.rollback()
    assert not RetentionHold.objects.exists()
    place_hold(place, "litigation", by="legal", lock_wait=0.3)  # free again: held
    assert RetentionHold.objects.get().object_pk == str(place.pk)


def test_the_hold_action_on_select_all_over_more_than_a_thousand_rows_holds_them_all() -> None:
    """Django's "select all" of a filtered changelist: the confirmation posts select_across back, not
    one field per row (beyond DATA_UPLOAD_MAX_NUMBER_FIELDS, 1,000, the request was refused)."""
    User = get_user_model()
    clerk = User.objects.create_user(username="clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_place", "change_place", "add_retentionhold"])
    )
    client = Client()
    client.force_login(clerk)
    Place.objects.bulk_create(Place(name=f"held {i}") for i in range(1200))
    Place.objects.bulk_create(Place(name=f"other {i}") for i in range(3))
    changelist = reverse("admin:rules_place_changelist") + "?name__startswith=held"
    page = [p.pk for p in Place.objects.filter(name__startswith="held").order_by("-pk")[:2]]
    selected = {"action": "place_legal_hold", "select_across": "1", "index": "0", "_selected_action": page}
    asked = client.post(changelist, selected)
    html = asked.content.decode()
    assert asked.status_code == 200 and "these 1200 places" in html and "and 1180 more" in html
    assert html.count('name="_selected_action"') == len(page) and 'name="select_across" value="1"' in html
    done = client.post(changelist, {**selected, "post": "yes", "reason": "litigation 1200"}, follow=True)
    assert done.status_code == 200 and "1,200 row(s) held" in done.content.decode()
    held = set(RetentionHold.objects.values_list("object_pk", flat=True))
    assert held == {str(pk) for pk in Place.objects.filter(name__startswith="held").values_list("pk", flat=True)}
