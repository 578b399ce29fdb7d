"""Soft-delete models with the rules a purge must honour: CASCADE, PROTECT, SET_NULL, many-to-many,
a soft-delete parent whose children keep their own policy, and a hook that fills the outbox."""

from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class Customer(SoftDeleteMixin):
    name = models.CharField(max_length=50)


class Tag(models.Model):
    name = models.CharField(max_length=20)


class Order(SoftDeleteMixin):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    number = models.IntegerField()
    tags = models.ManyToManyField(Tag, blank=True)

    retention_snapshot_fields = ["number"]

    def after_permanent_delete(self) -> None:
        """Called by retention_drain for each purged order (its outbox row)."""


class Line(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE)
    quantity = models.IntegerField()


class Invoice(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT)


class Note(SoftDeleteMixin):
    order = models.ForeignKey(Order, null=True, on_delete=models.SET_NULL)
    text = models.CharField(max_length=50)
