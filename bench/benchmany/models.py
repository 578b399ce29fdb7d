"""Issue 25's one-table shape: soft-deletable parents, several CASCADE children each (2 to 4) in ONE table."""

from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class Parent(SoftDeleteMixin):
    name = models.CharField(max_length=40)


class Child(models.Model):
    parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
    payload = models.CharField(max_length=40)
