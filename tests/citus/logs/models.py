"""Models of the Citus tests: an event log distributed by its key, and an order graph distributed
by its tenant (migration 0002 distributes them and gives each table the keys Citus requires)."""

from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class Event(SoftDeleteMixin):
    """The issue's logs_event: distributed by its primary key."""

    message = models.TextField(default="")


class Order(SoftDeleteMixin):
    """A root distributed by tenant_id; its key in the database is (tenant_id, id)."""

    tenant_id = models.IntegerField()


class Line(SoftDeleteMixin):
    """CASCADE child, colocated with Order; kept longer than orders by its own policy."""

    tenant_id = models.IntegerField()
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")


class LineNote(models.Model):
    """CASCADE grandchild (through Line), colocated."""

    tenant_id = models.IntegerField()
    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="notes")


class Comment(models.Model):
    """SET_NULL child, colocated."""

    tenant_id = models.IntegerField()
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, related_name="comments")


class Invoice(models.Model):
    """PROTECT child, colocated: an order with an invoice is blocked."""

    tenant_id = models.IntegerField()
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="invoices")


class Country(models.Model):
    """A Citus reference table that orders' tables point to (nothing of it is purged)."""

    code = models.CharField(max_length=2, unique=True)


class OrderTag(models.Model):
    """A Citus reference table with a CASCADE foreign key into the graph (no constraint: Citus
    refuses one from a reference table to a distributed table)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, db_constraint=False, related_name="tags")
    label = models.CharField(max_length=20)


class Shipment(models.Model):
    """A CASCADE child left local on the coordinator (no foreign key constraint: Citus refuses
    one between a local and a distributed table)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, db_constraint=False, related_name="shipments")
    country = models.ForeignKey(Country, on_delete=models.PROTECT, db_constraint=False)
