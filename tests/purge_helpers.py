"""Helpers for purge tests: data on the rules graph, Django as the oracle, table snapshots."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pgtrigger
import psycopg
from conftest import server_dsn
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.db.models.deletion import Collector
from django.utils import timezone
from rules import models as r

from django_pg_retention import config
from django_pg_retention.models import RetentionHold, RetentionPolicy, RetentionRun
from django_pg_retention.policies import model_path, policy_columns
from django_pg_retention.sync import sync

ELIGIBLE_AGE = timedelta(days=100)  # rules policy: 30 days
YOUNG_AGE = timedelta(days=5)
BETWEEN_AGE = timedelta(days=45)  # past the rules policy (30 days), not past rules.Slot's (60 days)


def state(rng: random.Random, eligible_share: float = 0.45) -> dict[str, Any]:
    """Live, soft-deleted but young, or soft-deleted past retention."""
    x = rng.random()
    if x < eligible_share:
        return {
            "is_deleted": True,
            "deleted_at": timezone.now() - ELIGIBLE_AGE - timedelta(minutes=rng.randrange(10_000)),
        }
    if x < eligible_share + 0.15:
        return {"is_deleted": True, "deleted_at": timezone.now() - YOUNG_AGE}
    return {"is_deleted": False, "deleted_at": None}


def build_rules_data(rng: random.Random, authors: int = 12) -> None:
    """Rows on every edge of the rules graph, with random soft-delete states."""
    en = r.Language.objects.create(code="en")
    languages = [en] + [r.Language.objects.create(code=f"l{i}", **state(rng)) for i in range(3)]
    author_rows: list[r.Author] = []
    for i in range(authors):
        mentor = rng.choice(author_rows) if author_rows and rng.random() < 0.4 else None
        author_rows.append(r.Author.objects.create(name=f"a{i}", mentor=mentor, **state(rng)))
    for a in author_rows:
        a.followers.set(rng.sample(author_rows, rng.randrange(0, min(3, len(author_rows)) + 1)))
    publishers = [r.Publisher.objects.create(**state(rng)) for _ in range(6)]
    tags = [r.Tag.objects.create(name=f"t{i}") for i in range(4)]
    books: list[r.Book] = []
    for a in author_rows:
        for _ in range(rng.randrange(0, 4)):
            book = r.Book.objects.create(
                isbn=f"isbn-{len(books)}",
                author=a,
                publisher=rng.choice([*publishers, None]),
                language=rng.choice(languages),
                fallback_language=rng.choice([*languages, None]),
            )
            book.tags.set(rng.sample(tags, rng.randrange(0, 3)))
            books.append(book)
            for _ in range(rng.randrange(0, 3)):
                r.Chapter.objects.create(book=book)
            for _ in range(rng.randrange(0, 2)):
                r.Review.objects.create(book=book)
            if rng.random() < 0.5:
                r.Edition.objects.create(book=book)
            if rng.random() < 0.4:
                r.Comment.objects.create(target=book)
            if rng.random() < 0.08:
                r.Royalty.objects.create(book=book)
            if rng.random() < 0.08:
                r.BookNote.objects.create(book=book)
    for _ in range(len(books) // 2):
        book = rng.choice(books)
        # Mostly the book's own author (RESTRICT then allows the cascade), sometimes another.
        author = book.author if rng.random() < 0.6 else rng.choice(author_rows)
        r.Song.objects.create(book=book, author=author)
    for p in publishers:
        if rng.random() < 0.5:
            r.Contract.objects.create(publisher=p)
        if rng.random() < 0.6:
            r.Flag.objects.create(target=p)
    for a in author_rows:
        if rng.random() < 0.15:
            r.Note.objects.create(author=a)
        if rng.random() < 0.3:
            r.Mention.objects.create(author=a)
        if rng.random() < 0.3:
            r.Fan.objects.create(favourite=r.AuthorProxy.objects.get(pk=a.pk))
        if rng.random() < 0.4:
            r.Comment.objects.create(target=a)
        # Decoys: same object id under another content type, or as text: must survive.
        book_ct = ContentType.objects.get_for_model(r.Book)
        r.Comment.objects.create(content_type=book_ct, object_id=a.pk + 1_000_000)
        r.Flag.objects.create(content_type=ContentType.objects.get_for_model(r.Author), object_id=str(a.pk))
    for i in range(6):
        if rng.random() < 0.5:
            place: r.Place = r.Restaurant.objects.create(name=f"p{i}", serves_pizza=True, **state(rng))
            r.Menu.objects.create(restaurant=place)  # type: ignore[misc]
        else:
            place = r.Place.objects.create(name=f"p{i}", **state(rng))
    for i in range(6):
        if rng.random() < 0.6:
            vehicle: r.Vehicle = r.Car.objects.create(plate=f"c{i}", **state(rng))
            if rng.random() < 0.5:
                r.Parking.objects.create(car=vehicle)  # type: ignore[misc]
        else:
            vehicle = r.Vehicle.objects.create(plate=f"v{i}")
        if rng.random() < 0.5:
            r.Garage.objects.create(vehicle=vehicle)
    # Own soft-delete columns (drawn last, so the rows above stay as each seed always made them).
    for i in range(6):
        s = state(rng)
        archive = r.Archive.objects.create(title=f"a{i}", deleted=s["deleted_at"])
        for _ in range(rng.randrange(0, 3)):
            r.ArchivePage.objects.create(archive=archive)
        if rng.random() < 0.2:
            r.ArchiveLock.objects.create(archive=archive)
        m = state(rng)
        r.Memo.objects.create(
            removed=m["is_deleted"], removed_on=m["deleted_at"], archive=archive if rng.random() < 0.5 else None
        )
    # In every data set: a timestamp without the flag is not soft-deleted (the flag decides for
    # Memo; this one's archive goes, so SET_NULL reaches it), and an eligible archive PROTECT keeps.
    gone = r.Archive.objects.create(title="gone", deleted=timezone.now() - ELIGIBLE_AGE)
    r.Memo.objects.create(removed=False, removed_on=timezone.now() - ELIGIBLE_AGE, archive=gone)
    r.ArchiveLock.objects.create(
        archive=r.Archive.objects.create(title="locked", deleted=timezone.now() - ELIGIBLE_AGE)
    )
    # The order-dependent graph: Bin is purged before Owner, and a Link RESTRICTs its bin until
    # Owner's purge cascades to the link. Random links, and in every data set one eligible bin
    # that only the second pass can delete.
    bins = [r.Bin.objects.create(label=f"b{i}", **state(rng)) for i in range(4)]
    owners = [r.Owner.objects.create(label=f"o{i}", **state(rng)) for i in range(4)]
    for _ in range(4):
        r.Link.objects.create(owner=rng.choice(owners), bin=rng.choice(bins))
    old = {"is_deleted": True, "deleted_at": timezone.now() - ELIGIBLE_AGE}
    r.Link.objects.create(
        owner=r.Owner.objects.create(label="frees", **old), bin=r.Bin.objects.create(label="freed", **old)
    )
    build_retained_cascades(rng, owners)
    build_shipments(rng, author_rows, publishers)


def build_shipments(rng: random.Random, authors: list[r.Author], publishers: list[r.Publisher]) -> None:
    """The partitioned table: shipments of five tenants (rows in every partition), of authors
    (CASCADE into it) and publishers (SET_NULL on it), with parcels (CASCADE without a constraint)."""
    for i in range(14):
        shipment = r.Shipment.objects.create(
            tenant=i % 5, author=rng.choice([*authors, None]), publisher=rng.choice([*publishers, None]), **state(rng)
        )
        for _ in range(rng.randrange(0, 3)):
            r.Parcel.objects.create(shipment=shipment)


def aged_state(rng: random.Random) -> dict[str, Any]:
    """state(), and soft-deleted 45 days ago: eligible under 30 days, not under rules.Slot's 60."""
    if rng.random() < 0.2:
        return {"is_deleted": True, "deleted_at": timezone.now() - BETWEEN_AGE}
    return state(rng, eligible_share=0.5)


def build_retained_cascades(rng: random.Random, owners: list[r.Owner]) -> None:
    """Cascades into soft-delete models: shelves of owners and slots of shelves (two levels, Slot kept
    longer), restaurants of chains (their Place rows: multi-table inheritance), a held slot. In every
    data set too: eligible owners kept by a live shelf, by a 45-day slot and by a held slot, one whose
    subtree all goes, and an eligible chain kept by its open restaurant."""
    old = {"is_deleted": True, "deleted_at": timezone.now() - ELIGIBLE_AGE}
    for owner in owners:
        for _ in range(rng.randrange(0, 3)):
            shelf = r.Shelf.objects.create(owner=owner, **aged_state(rng))
            for _ in range(rng.randrange(0, 3)):
                r.Slot.objects.create(shelf=shelf, **aged_state(rng))
    for i in range(3):
        chain = r.Chain.objects.create(name=f"c{i}", **state(rng))
        for _ in range(rng.randrange(0, 3)):
            r.Restaurant.objects.create(name=f"r{i}", chain=chain, **aged_state(rng))
    r.Shelf.objects.create(owner=r.Owner.objects.create(label="live shelf", **old))
    kept = r.Owner.objects.create(label="kept by a slot", **old)
    between = {"is_deleted": True, "deleted_at": timezone.now() - BETWEEN_AGE}
    r.Slot.objects.create(shelf=r.Shelf.objects.create(owner=kept, **old), **between)
    held_owner = r.Owner.objects.create(label="held slot", **old)
    held = r.Slot.objects.create(shelf=r.Shelf.objects.create(owner=held_owner, **old), **old)
    RetentionHold.objects.create(model_path="rules.Slot", object_pk=str(held.pk), reason="litigation")
    gone = r.Owner.objects.create(label="all goes", **old)
    r.Slot.objects.create(shelf=r.Shelf.objects.create(owner=gone, **old), **old)
    r.Restaurant.objects.create(name="open", chain=r.Chain.objects.create(name="open restaurant", **old))


def rules_tables() -> list[str]:
    return sorted(t for t in connection.introspection.table_names() if t.startswith("rules_"))


def snapshot(tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}"')
            out[table] = sorted(cursor.fetchall(), key=repr)
    return out


def eligible_pks(model: Any, days: int, now: datetime) -> list[Any]:
    columns = policy_columns(model)
    qs = model._base_manager.filter(columns.eligible(now - timedelta(days=days)))
    return list(qs.order_by(columns.deleted_at_field, "pk").values_list("pk", flat=True))


def kept_by_retention(obj: Any, now: datetime) -> bool:
    """What the purge adds to Django's collector: a root is kept when a row its delete would take
    is held, or (on_retained_cascade "block") belongs to a model with a policy and is not itself
    eligible. Raises ProtectedError/RestrictedError as obj.delete() would."""
    collector = Collector(using="default", origin=obj)
    collector.collect([obj])
    rows: list[Any] = [row for instances in collector.data.values() for row in instances]
    rows += [row for queryset in collector.fast_deletes for row in queryset]
    block = config.cleanup_config().on_retained_cascade == "block"
    days = dict(RetentionPolicy.objects.filter(is_active=True).values_list("model_path", "retention_days"))
    held = list(RetentionHold.objects.filter(released_at__isnull=True).values_list("model_path", "object_pk"))
    for row in rows:
        path = model_path(type(row))
        if (path, str(row.pk)) in held or (path, "") in held:
            return True
        if not block or path not in days or (type(row), row.pk) == (type(obj), obj.pk):
            continue
        columns = policy_columns(type(row))
        deleted_at = getattr(row, columns.deleted_at_field)
        flagged = getattr(row, columns.flag_field) if columns.flag_field else deleted_at is not None
        if not (flagged and deleted_at is not None and deleted_at < now - timedelta(days=days[path])):
            return True
    return False


def django_purge(now: datetime) -> int:
    """The oracle: delete each eligible row with obj.delete() in a savepoint, skipping the rows
    Django refuses (ProtectedError, RestrictedError, or a DO_NOTHING foreign key) and the rows the
    retention rule keeps (kept_by_retention), until nothing changes. Returns the roots deleted."""
    deleted = 0
    # What a Django user purging by hand must do for a table whose hard deletes are protected.
    with pgtrigger.ignore("rules.Chapter:protect_deletes"):
        return _django_purge(now, deleted)


def _django_purge(now: datetime, deleted: int) -> int:
    changed = True
    while changed:
        changed = False
        for policy in RetentionPolicy.objects.filter(is_active=True).order_by("position", "model_path"):
            model = apps.get_model(policy.model_path)
            for pk in eligible_pks(model, policy.retention_days, now):
                obj = model._base_manager.filter(pk=pk).first()
                if obj is None:
                    continue  # already gone with an earlier cascade
                try:
                    with transaction.atomic():
                        if kept_by_retention(obj, now):
                            continue
                        obj.delete()
                        # Django's foreign keys are deferred and its delete order relies on it: check
                        # them once the delete is complete, as a commit would (DO_NOTHING fails here).
                        with connection.cursor() as cursor:
                            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                except (ProtectedError, RestrictedError, IntegrityError):
                    continue
                deleted += 1
                changed = True
    return deleted


def expected_after_django_purge() -> tuple[dict[str, list[tuple[Any, ...]]], int]:
    """The end state Django's collector produces, computed in a transaction that is rolled back."""

    class Rollback(Exception):
        pass

    result: dict[str, Any] = {}
    try:
        with transaction.atomic():
            result["roots"] = django_purge(timezone.now())
            result["state"] = snapshot(rules_tables())
            raise Rollback
    except Rollback:
        pass
    return result["state"], result["roots"]


def call_cleanup(**kwargs: Any) -> RetentionRun:
    """CALL retention.run_cleanup(...) with named arguments; returns the run it recorded."""
    names = ", ".join(f"{k} => %s" for k in kwargs)
    before = RetentionRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with connection.cursor() as cursor:
        cursor.execute(f"CALL retention.run_cleanup({names})", list(kwargs.values()))
    run = RetentionRun.objects.filter(id__gt=before).order_by("-id").first()
    assert run is not None, "run_cleanup recorded no run"
    return run


def purge_once(**kwargs: Any) -> RetentionRun:
    """One run of the SQL purge, which must reach the fixpoint the oracle loops to: a second run
    deletes nothing."""
    run = call_cleanup(**kwargs)
    assert run.status == "succeeded", (run.status, run.error)
    again = call_cleanup(**kwargs)
    assert again.status == "succeeded" and again.rows_deleted == 0, "a second run still deleted rows"
    assert sum(i.deleted for i in again.items.all()) == 0
    return run


def rules_model(model_name: str, base: type[models.Model] = models.Model, /, **attrs: Any) -> Any:
    """class <model_name>(<base>) with attrs (fields too), in the rules app: a model a test makes
    inside @isolate_apps("rules")."""
    meta = type("Meta", (), {"app_label": "rules"})
    return type(model_name, (base,), {"__module__": __name__, "Meta": meta, **attrs})


def soft_deleted_places(n: int, age: timedelta = ELIGIBLE_AGE, name: str = "p") -> list[Any]:
    """n rules.Place rows soft-deleted at least `age` ago, a second apart, in primary-key order (the
    order a purge takes them in); their primary keys."""
    now = timezone.now()
    places = r.Place.objects.bulk_create(
        r.Place(name=f"{name}{i}", is_deleted=True, deleted_at=now - age - timedelta(seconds=n - i)) for i in range(n)
    )
    return [p.pk for p in places]


def unattended_run_over_the_limit(settings: Any, limit: int, eligible: int) -> RetentionRun:
    """A pg_cron run that finds `eligible` rules.Place rows where max_deletions_per_run allows `limit`."""
    settings.RETENTION_CLEANUP_CONFIG = {
        **settings.RETENTION_CLEANUP_CONFIG,
        "max_deletions_per_run": {"default": 100_000, "rules.Place": limit},
    }
    sync()
    soft_deleted_places(eligible)
    return call_cleanup(triggered_by="pg_cron")


def reset_rules_data() -> None:
    """Empty the rules tables, the audit and the holds (between hypothesis examples) and re-sync policies."""
    # TRUNCATE: the append-only triggers refuse row deletes of runs, items and holds.
    audit = ["retention_run_item", "retention_run", "retention_deleted_keys", "retention_outbox", "retention_hold"]
    audit.append("retention_audit_prune")  # the chain restarts at 1: so do the records of what was pruned
    tables = [*rules_tables(), *audit]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        reseal_after_truncate(cursor)
    ContentType.objects.clear_cache()
    sync()


def reseal_after_truncate(cursor: Any) -> None:
    """The holds were truncated (their ids restart): the seals of holds and policy history
    (retention.record_seal, SQL 0.2) start again from the rows that are left."""
    cursor.execute("SELECT to_regclass('retention.record_seal') IS NOT NULL")
    if cursor.fetchone()[0]:
        cursor.execute(
            "TRUNCATE retention.record_seal;"
            " DO $$ DECLARE r record; BEGIN"
            "  FOR r IN SELECT 'hold' AS kind, h.id, to_jsonb(h) AS j FROM retention_hold h UNION ALL"
            "           SELECT 'policy_history', h.id, to_jsonb(h) FROM retention_policy_history h ORDER BY 1, 2 LOOP"
            "    PERFORM retention.seal_record(r.kind, r.id, r.j, false);"
            "  END LOOP; END $$"
        )


def app_db_dsn() -> str:
    return server_dsn(connection.settings_dict["NAME"])


def start_cleanup(**kwargs: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """CALL run_cleanup on its own connection in a thread; returns the thread and its backend pid."""
    state: dict[str, Any] = {}
    names = ", ".join(f"{k} => %s" for k in kwargs)

    def run() -> None:
        with psycopg.connect(app_db_dsn(), autocommit=True) as conn:
            state["pid"] = conn.info.backend_pid
            try:
                conn.execute(f"CALL retention.run_cleanup({names})", list(kwargs.values()))  # type: ignore[arg-type]
            except psycopg.Error as exc:
                state["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while "pid" not in state and time.monotonic() < deadline:
        time.sleep(0.01)
    return thread, state


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
