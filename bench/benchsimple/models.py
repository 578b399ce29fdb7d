"""Issue 7's baseline shape, alone in its schema: soft-deletable parents, two CASCADE children each."""

from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class Parent(SoftDeleteMixin):
    name = models.CharField(max_length=40)


class ChildA(models.Model):
    parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
    payload = models.CharField(max_length=40)


class ChildB(models.Model):
    parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
    payload = models.CharField(max_length=40)
