"""The Python baselines, run inside Django on a database copy; prints JSON with the time taken.

python orm_delete.py queryset    # Django's QuerySet.delete() on every eligible parent
python orm_delete.py spec-loop   # the specification's loop: load 1,000 rows, ORM delete, repeat
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
from datetime import timedelta

import django

django.setup()

from django.utils import timezone  # noqa: E402

Parent = importlib.import_module(os.environ.get("BENCH_APP", "benchapp") + ".models").Parent

BATCH = 1000


def eligible():  # type: ignore[no-untyped-def]
    return Parent.objects.filter(is_deleted=True, deleted_at__lt=timezone.now() - timedelta(days=30))


def queryset_delete() -> int:
    deleted, _ = eligible().delete()
    return deleted


def spec_loop() -> int:
    """retention-policy-system-v3.md, RetentionManager.cleanup_model (dry_run=False)."""
    records = eligible()
    deleted_count = 0
    while True:
        batch = list(records[:BATCH])
        if not batch:
            break
        for record in batch:
            if hasattr(record, "before_permanent_delete"):
                record.before_permanent_delete()
        batch_ids = [record.pk for record in batch]
        deleted_batch_count, _ = Parent.objects.filter(pk__in=batch_ids).delete()
        deleted_count += deleted_batch_count
        for record in batch:
            if hasattr(record, "after_permanent_delete"):
                record.after_permanent_delete()
    return deleted_count


if __name__ == "__main__":
    method = {"queryset": queryset_delete, "spec-loop": spec_loop}[sys.argv[1]]
    started = time.perf_counter()
    rows = method()
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_kb": peak_kb}))
