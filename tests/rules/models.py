"""A model graph with every on_delete rule the purge must reproduce (the differential tests' subject).

Purged (soft-deletable): Author (bigint pk, self-FK cycle, self M2M, generic relations),
Publisher (UUID pk), Language (char pk), Place (MTI parent), Car (MTI child of a plain model),
Archive and Memo (soft-delete columns of their own, no SoftDeleteMixin), Bin/Owner (an order that
needs a second pass), Chain/Shelf/Slot (cascades into soft-delete models, Slot kept longer),
Shipment (a partitioned table).
"""

import uuid

import pgtrigger
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

from django_pg_retention.models import SoftDeleteMixin


class Comment(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")


class Flag(models.Model):
    """A generic relation whose object id is text (compared in its own type)."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.CharField(max_length=64)
    target = GenericForeignKey("content_type", "object_id")


class Language(SoftDeleteMixin):
    code = models.CharField(primary_key=True, max_length=8)


class Author(SoftDeleteMixin):
    name = models.CharField(max_length=50)
    mentor = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="mentees")
    followers = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="following")
    comments = GenericRelation(Comment)


class AuthorProxy(Author):
    class Meta:
        proxy = True


class Publisher(SoftDeleteMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    flags = GenericRelation(Flag)


class Tag(models.Model):
    name = models.CharField(max_length=20)


class Book(models.Model):
    isbn = models.CharField(max_length=20, unique=True)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    publisher = models.ForeignKey(Publisher, on_delete=models.SET_NULL, null=True, blank=True)
    language = models.ForeignKey(Language, on_delete=models.SET_DEFAULT, default="en", related_name="books")
    fallback_language = models.ForeignKey(Language, on_delete=models.SET("en"), null=True, related_name="+")
    tags = models.ManyToManyField(Tag, blank=True)
    comments = GenericRelation(Comment)


class Chapter(models.Model):
    """Hard deletes are refused by a pgtrigger Protect; the purge ignores it as pgtrigger.ignore would."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE)

    class Meta:
        triggers = [pgtrigger.Protect(name="protect_deletes", operation=pgtrigger.Delete)]


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.SET_NULL, null=True)


class Edition(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, to_field="isbn")


class Song(models.Model):
    """RESTRICT: a book goes only if its songs go too, through their author's cascade."""

    book = models.ForeignKey(Book, on_delete=models.RESTRICT, db_constraint=False)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)


class Royalty(models.Model):
    """PROTECT one level down a cascade: checked inside the purge, found by bisection."""

    book = models.ForeignKey(Book, on_delete=models.PROTECT)


class BookNote(models.Model):
    """DO_NOTHING one level down a cascade: the foreign key fails the batch, bisection isolates it."""

    book = models.ForeignKey(Book, on_delete=models.DO_NOTHING)


class Contract(models.Model):
    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT)


class Note(models.Model):
    """DO_NOTHING with a foreign key: the delete fails, so the author is blocked."""

    author = models.ForeignKey(Author, on_delete=models.DO_NOTHING)


class Mention(models.Model):
    """DO_NOTHING without a constraint: the author goes, the mention keeps a dangling id."""

    author = models.ForeignKey(Author, on_delete=models.DO_NOTHING, db_constraint=False)


class Fan(models.Model):
    favourite = models.ForeignKey(AuthorProxy, on_delete=models.CASCADE)


class Place(SoftDeleteMixin):
    name = models.CharField(max_length=50)

    retention_snapshot_fields = ["name"]  # an outbox row per purged place (checked by the fault tests)


class Restaurant(Place):
    serves_pizza = models.BooleanField(default=False)
    # Purging a chain deletes its restaurants and with them their Place rows: a multi-table
    # inheritance path into a soft-delete model.
    chain = models.ForeignKey("Chain", on_delete=models.CASCADE, null=True, blank=True)


class Menu(models.Model):
    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE)


class Vehicle(models.Model):
    plate = models.CharField(max_length=12)


class Car(Vehicle, SoftDeleteMixin):
    seats = models.PositiveSmallIntegerField(default=4)


class Garage(models.Model):
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE)


class Parking(models.Model):
    car = models.ForeignKey(Car, on_delete=models.SET_NULL, null=True)


class Hostile(SoftDeleteMixin):
    """Identifiers with quotes, spaces, semicolons and mixed case: quoted everywhere or broken."""

    label = models.CharField(max_length=20, db_column="Label 'x'; DROP TABLE rules_place;--")

    class Meta(SoftDeleteMixin.Meta):  # a Meta of its own keeps the mixin's purge index only this way
        db_table = "rules_Hostile 'Table'; DROP TABLE rules_place;--"


class HostileChild(models.Model):
    parent = models.ForeignKey(Hostile, on_delete=models.CASCADE, db_column="Parent Id; 'x'")
    watcher = models.ForeignKey(
        Hostile, on_delete=models.SET_NULL, null=True, related_name="+", db_column="MixedCase Watcher"
    )

    class Meta:
        db_table = "rules hostile child; SELECT 1"


class Archive(models.Model):
    """django-safedelete's scheme: one nullable ``deleted`` timestamp and no boolean flag."""

    title = models.CharField(max_length=50)
    deleted = models.DateTimeField(null=True, blank=True, editable=False, db_column="Deleted On")

    retention_deleted_at_field = "deleted"
    retention_flag_field = None

    class Meta:
        indexes = [models.Index(fields=["deleted", "id"], condition=Q(deleted__isnull=False), name="archive_purge_idx")]


class ArchivePage(models.Model):
    archive = models.ForeignKey(Archive, on_delete=models.CASCADE)


class ArchiveLock(models.Model):
    archive = models.ForeignKey(Archive, on_delete=models.PROTECT)


class Memo(models.Model):
    """Its own names for both: a ``removed`` flag and a ``removed_on`` timestamp."""

    removed = models.BooleanField(default=False)
    removed_on = models.DateTimeField(null=True, blank=True)
    archive = models.ForeignKey(Archive, null=True, on_delete=models.SET_NULL)

    retention_deleted_at_field = "removed_on"
    retention_flag_field = "removed"

    class Meta:
        indexes = [models.Index(fields=["removed_on", "id"], condition=Q(removed=True), name="memo_purge_idx")]


# One run must reach the fixpoint: Bin is purged before Owner (registry order, neither references
# the other), and a Bin row is RESTRICTed by a Link that only Owner's purge removes.
class Bin(SoftDeleteMixin):
    label = models.CharField(max_length=20, default="")


class Owner(SoftDeleteMixin):
    label = models.CharField(max_length=20, default="")


class Link(models.Model):
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE)
    bin = models.ForeignKey(Bin, on_delete=models.RESTRICT)


# Retention-aware cascades: soft-delete models that cascades from other soft-delete models reach.
class Chain(SoftDeleteMixin):
    name = models.CharField(max_length=20, default="")


class Shelf(SoftDeleteMixin):
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, null=True, blank=True)


class Slot(SoftDeleteMixin):
    """Kept 60 days (testproject settings), longer than the 30 days of the rest of the app."""

    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE)


# A declaratively partitioned table (migration 0009 creates it with RunSQL, hash-partitioned by
# tenant): in the database its primary key is (id, tenant), so Parcel's foreign key to it cannot be
# a constraint; Django's CASCADE still holds. Purged by its own policy, reached by Author's CASCADE
# and Publisher's SET_NULL, and cascading into Parcel.
class Shipment(SoftDeleteMixin):
    tenant = models.IntegerField()
    author = models.ForeignKey(Author, on_delete=models.CASCADE, null=True, blank=True, related_name="shipments")
    publisher = models.ForeignKey(Publisher, on_delete=models.SET_NULL, null=True, blank=True)


class Parcel(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, db_constraint=False)


# A log table without soft delete, purged by a timestamp policy on seen_at when a test sets one
# (tests/test_timestamp_policies.py): its rows cascade into details, set a mark's link NULL, are kept
# by a lock (PROTECT), and cascade into notes that have a soft-delete policy of their own (rules, 30
# days), so a young or live note keeps its visit. A visitor (soft-delete) cascades into its visits,
# which the timestamp policy then keeps while they are young. No (seen_at, id) index: retention sync
# creates it.
class Visitor(SoftDeleteMixin):
    pass


class Visit(models.Model):
    seen_at = models.DateTimeField(null=True)
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, null=True, blank=True)


class VisitDetail(models.Model):
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE)


class VisitMark(models.Model):
    visit = models.ForeignKey(Visit, on_delete=models.SET_NULL, null=True)


class VisitLock(models.Model):
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT)


class VisitNote(SoftDeleteMixin):
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE)
