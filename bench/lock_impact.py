"""Benchmark: what a purge does to an OLTP workload on the same tables.

    .venv/bin/python bench/lock_impact.py [--parents 1000000] [--workers 4] [--idle-seconds 10]

Threads read, update and add children to live parents (one statement per transaction) and record
each statement's latency: first with nothing else running, then while CALL retention.run_cleanup()
purges the eligible half of the table, then, for contrast, while one bare DELETE does. Prints p50 /
p99 per phase and the longest purge batch (from retention_run_item.batch_durations_ms).
Targets: p99 during the purge at most 2x the idle p99; no batch over 500 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Shape, build_template, drop, recreate, server_url, with_db

TEMPLATE = "retention_bench_lock_template"
COPY = "retention_bench_lock_copy"


class Workload:
    def __init__(self, dsn: str, live_ids: list[int], workers: int) -> None:
        self.dsn = dsn
        self.live_ids = live_ids
        self.workers = workers
        self.latencies: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _work(self, seed: int) -> None:
        rng = random.Random(seed)
        local: list[float] = []
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                pid = rng.choice(self.live_ids)
                op = rng.random()
                started = time.perf_counter()
                try:
                    if op < 0.6:
                        conn.execute("SELECT name FROM benchsimple_parent WHERE id = %s", [pid]).fetchone()
                    elif op < 0.9:
                        conn.execute("UPDATE benchsimple_parent SET name = %s WHERE id = %s", [f"n{started}", pid])
                    else:
                        conn.execute("INSERT INTO benchsimple_childa (parent_id, payload) VALUES (%s, 'oltp')", [pid])
                except psycopg.Error:
                    self.errors += 1
                    continue
                local.append(time.perf_counter() - started)
        with self._lock:
            self.latencies.extend(local)

    def run_while(self, action: object) -> tuple[list[float], float]:
        """Run the workload while action() runs (or, given a number, for that many seconds)."""
        self.latencies = []
        self._stop.clear()
        threads = [threading.Thread(target=self._work, args=(i,)) for i in range(self.workers)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # connected and warm
        started = time.perf_counter()
        if callable(action):
            action()
        else:
            time.sleep(float(action))  # type: ignore[arg-type]
        took = time.perf_counter() - started
        self._stop.set()
        for t in threads:
            t.join()
        return self.latencies, took


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parents", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--idle-seconds", type=float, default=10)
    args = parser.parse_args()
    url = server_url()
    build_template(url, TEMPLATE, Shape(args.parents, mixed=False))
    results: dict[str, tuple[list[float], float]] = {}

    def prepare() -> tuple[str, list[int]]:
        recreate(url, COPY, TEMPLATE)
        dsn = with_db(url, COPY)
        with psycopg.connect(dsn) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM benchsimple_parent WHERE NOT is_deleted LIMIT 20000")]
        return dsn, ids

    dsn, ids = prepare()
    workload = Workload(dsn, ids, args.workers)
    results["idle"] = workload.run_while(args.idle_seconds)

    def purge() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CALL retention.run_cleanup(triggered_by => 'bench')")

    results["during run_cleanup"] = workload.run_while(purge)
    with psycopg.connect(dsn) as conn:
        durations = [
            d
            for (ds,) in conn.execute("SELECT batch_durations_ms FROM retention_run_item WHERE batches > 0")
            for d in ds
        ]
        sizes = [
            s for (ss,) in conn.execute("SELECT batch_sizes FROM retention_run_item WHERE batches > 0") for s in ss
        ]

    dsn, ids = prepare()
    workload = Workload(dsn, ids, args.workers)

    def bare() -> None:
        with psycopg.connect(dsn) as conn, conn.transaction():
            conn.execute(
                "WITH p AS (DELETE FROM benchsimple_parent WHERE is_deleted AND deleted_at < now() - interval '30 days'"
                " RETURNING id), a AS (DELETE FROM benchsimple_childa WHERE parent_id IN (SELECT id FROM p)),"
                " b AS (DELETE FROM benchsimple_childb WHERE parent_id IN (SELECT id FROM p)) SELECT count(*) FROM p"
            )

    results["during one bare DELETE"] = workload.run_while(bare)
    drop(url, COPY)
    drop(url, TEMPLATE)

    idle_p99 = percentile(results["idle"][0], 0.99)
    print(
        f"\n{args.parents:,} parents, half eligible; {args.workers} workload threads (read 60%, update 30%, insert 10%)"
    )
    print("| phase | seconds | statements | p50 ms | p99 ms | p99 / idle p99 |")
    print("|---|---|---|---|---|---|")
    for phase, (lat, took) in results.items():
        p50, p99 = percentile(lat, 0.5) * 1000, percentile(lat, 0.99) * 1000
        print(f"| {phase} | {took:.1f} | {len(lat):,} | {p50:.2f} | {p99:.2f} | {p99 / 1000 / idle_p99:.2f} |")
    print(
        f"\nrun_cleanup batches: {len(durations)}, sizes {min(sizes)}..{max(sizes)}, "
        f"median {statistics.median(durations):.0f} ms, longest {max(durations)} ms (target <= 500 ms)"
    )


if __name__ == "__main__":
    main()
