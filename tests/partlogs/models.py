"""Range-partitioned tables (issue 26 items 3-4), created by migration 0001's RunSQL: PartLog, a
log partitioned by day on its timestamp ``at`` (a timestamp policy's field when a test sets one),
with children that CASCADE, SET_NULL and PROTECT; PartTrash, a soft-delete model partitioned by
day on ``deleted_at`` (live rows in the DEFAULT partition). PostgreSQL 15 has no unique key on a
partitioned table without its partition key, so the children have no foreign key constraint."""

from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class PartLog(models.Model):
    at = models.DateTimeField()
    note = models.CharField(max_length=40, default="")


class PartLogChild(models.Model):
    log = models.ForeignKey(PartLog, on_delete=models.CASCADE, db_constraint=False)


class PartLogMark(models.Model):
    log = models.ForeignKey(PartLog, on_delete=models.SET_NULL, null=True, db_constraint=False)


class PartLogLock(models.Model):
    log = models.ForeignKey(PartLog, on_delete=models.PROTECT, db_constraint=False)


class PartTrash(SoftDeleteMixin):
    name = models.CharField(max_length=40, default="")


class PartTrashChild(models.Model):
    trash = models.ForeignKey(PartTrash, on_delete=models.CASCADE, db_constraint=False)
