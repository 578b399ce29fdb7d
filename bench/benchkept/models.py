"""Issue 13's shape: the two CASCADE children are soft-delete models too, with policies of their own."""

from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class Parent(SoftDeleteMixin):
    name = models.CharField(max_length=40)


class ChildA(SoftDeleteMixin):
    parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
    payload = models.CharField(max_length=40)


class ChildB(SoftDeleteMixin):
    parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
    payload = models.CharField(max_length=40)
