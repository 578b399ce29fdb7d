"""An app that lives in the second database ('archive', testproject.routers): its soft-delete model
is purged there, by that database's own policies, procedure and audit."""

from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class Entry(SoftDeleteMixin):
    memo = models.CharField(max_length=40, default="")


class EntryLine(models.Model):
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="lines")
