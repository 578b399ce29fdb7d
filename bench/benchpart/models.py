"""bench/partitions.py's log tables: Event, range-partitioned by day on ``at`` (migration 0001's
RunSQL; bench/partitions.py makes the partitions), and FlatEvent, the same rows in a plain table.
Both have a timestamp policy on ``at`` (bench_settings, with BENCH_APP=benchpart)."""

from django.db import models


class Event(models.Model):
    at = models.DateTimeField()
    payload = models.CharField(max_length=64)


class FlatEvent(models.Model):
    at = models.DateTimeField()
    payload = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["at", "id"], name="benchpart_flat_at_id")]
