"""Issue 25's three-level chain: soft-deletable parents -> a CASCADE child each -> a CASCADE grandchild each
(three rows per parent, as in benchsimple, but the cascade goes two levels deep)."""

from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class Parent(SoftDeleteMixin):
    name = models.CharField(max_length=40)


class Child(models.Model):
    parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
    payload = models.CharField(max_length=40)


class Grandchild(models.Model):
    child = models.ForeignKey(Child, on_delete=models.CASCADE)
    payload = models.CharField(max_length=40)
