"""The benchmark suite: the purge against its baselines, on identical database copies.

    .venv/bin/python bench/run.py                      # 100k and 1M parents, every section
    .venv/bin/python bench/run.py --sizes 10000000     # 10M on request
    .venv/bin/python bench/run.py --sizes 100000 --check-only   # CI: end states identical, no timing verdicts
    .venv/bin/python bench/run.py --simple --sizes 1000000,4000000 --stamps row,shared,one --no-orm
                                                       # issue 12: every timestamp shape, linear cost
    .venv/bin/python bench/run.py --schema simple,many,chain --sizes 1000000 --stamps row,shared,one --no-orm
                                                       # issue 25: the floor on every parent/children schema

For each size a template database is built once (bench/common.py) and copied with CREATE DATABASE
... TEMPLATE for every measurement, so every method starts from the same data and the same cold
caches. Methods: the floor, hand-written SQL in one transaction, in its two forms (A: children
first, then the parents, one statement each; B: one statement with data-modifying CTEs, parents
first), CALL retention.run_cleanup() (adaptive batches), the same purge as a DBA's batched loop
(5,000 roots a batch, committed, with and without FOR UPDATE SKIP LOCKED; no proof, no audit),
Django's QuerySet.delete(), and the specification's loop (1,000 rows into Python, ORM delete,
repeat). All end states must be identical. run_cleanup is divided by the faster floor form, which
is named. Each SQL method's server backend is sampled for its peak private memory (RssAnon, when
the server runs on this machine): run_cleanup's must stay flat from 1M to 4M. Then:
cleanup_soft_deleted's peak memory (the Python client's), how the purge's cost grows with the eligible
rows (1% vs 100% of a table), and the report's speed. The server settings that matter are printed next to every table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH,
    SCHEMAS,
    STAMPS,
    Shape,
    build_template,
    django_env,
    drop,
    fingerprint,
    recreate,
    scalar,
    server_url,
    with_db,
)

TEMPLATE = "retention_bench_template"
COPY = "retention_bench_copy"

# The floor: the fastest hand-written SQL for the same end state, in one transaction, in two forms.
# A: the children first (each by its parents' eligibility), then the parents, one statement each.
# B: one statement with data-modifying CTEs, the parents first, their children by IN (SELECT id FROM p).
# now() is the transaction's start, so every statement of form A uses the same cutoff.
FLOOR_A = "floor A: children first, then parents"
FLOOR_B = "floor B: one statement, CTEs, parents first"
FLOORS = (FLOOR_A, FLOOR_B)

BARE_SIMPLE = """
WITH p AS (DELETE FROM benchsimple_parent WHERE is_deleted AND deleted_at < now() - interval '30 days' RETURNING id),
     a AS (DELETE FROM benchsimple_childa WHERE parent_id IN (SELECT id FROM p)),
     b AS (DELETE FROM benchsimple_childb WHERE parent_id IN (SELECT id FROM p))
SELECT count(*) FROM p
"""

BARE_MIXED = """
WITH p AS (DELETE FROM benchapp_parent WHERE is_deleted AND deleted_at < now() - interval '30 days' RETURNING id),
     a AS (DELETE FROM benchapp_childa WHERE parent_id IN (SELECT id FROM p)),
     b AS (DELETE FROM benchapp_childb WHERE parent_id IN (SELECT id FROM p)),
     t AS (DELETE FROM benchapp_parent_tags WHERE parent_id IN (SELECT id FROM p)),
     n AS (DELETE FROM benchapp_note WHERE object_id IN (SELECT id FROM p) AND content_type_id =
             (SELECT id FROM django_content_type WHERE app_label = 'benchapp' AND model = 'parent')),
     r AS (UPDATE benchapp_ref SET parent_id = NULL WHERE parent_id IN (SELECT id FROM p))
SELECT count(*) FROM p
"""


# Issue 13's rule by hand: eligible children go; an eligible parent goes unless a child of it is
# kept by its own policy (one statement: every CTE sees the rows as they were before it).
BARE_KEPT = """
WITH a AS (DELETE FROM benchkept_childa WHERE is_deleted AND deleted_at < now() - interval '30 days'),
     b AS (DELETE FROM benchkept_childb WHERE is_deleted AND deleted_at < now() - interval '30 days'),
     p AS (DELETE FROM benchkept_parent t WHERE is_deleted AND deleted_at < now() - interval '30 days'
             AND NOT EXISTS (SELECT 1 FROM benchkept_childa c WHERE c.parent_id = t.id
                              AND NOT (c.is_deleted AND c.deleted_at < now() - interval '30 days'))
             AND NOT EXISTS (SELECT 1 FROM benchkept_childb c WHERE c.parent_id = t.id
                              AND NOT (c.is_deleted AND c.deleted_at < now() - interval '30 days'))
           RETURNING id)
SELECT count(*) FROM p
"""

# The same rule children first: once the eligible children are gone, what is left of a parent's
# children is exactly what its own policy keeps, so the parents to delete are the eligible ones
# left without children.
KEPT_CHILDREN_FIRST = [
    "DELETE FROM benchkept_childa WHERE is_deleted AND deleted_at < now() - interval '30 days'",
    "DELETE FROM benchkept_childb WHERE is_deleted AND deleted_at < now() - interval '30 days'",
    """DELETE FROM benchkept_parent t WHERE is_deleted AND deleted_at < now() - interval '30 days'
         AND NOT EXISTS (SELECT 1 FROM benchkept_childa c WHERE c.parent_id = t.id)
         AND NOT EXISTS (SELECT 1 FROM benchkept_childb c WHERE c.parent_id = t.id)""",
]

SIMPLE_CHILDREN_FIRST = [
    """DELETE FROM benchsimple_childa WHERE parent_id IN
         (SELECT id FROM benchsimple_parent WHERE is_deleted AND deleted_at < now() - interval '30 days')""",
    """DELETE FROM benchsimple_childb WHERE parent_id IN
         (SELECT id FROM benchsimple_parent WHERE is_deleted AND deleted_at < now() - interval '30 days')""",
    "DELETE FROM benchsimple_parent WHERE is_deleted AND deleted_at < now() - interval '30 days'",
]

MIXED_CHILDREN_FIRST = [
    """DELETE FROM benchapp_childa WHERE parent_id IN
         (SELECT id FROM benchapp_parent WHERE is_deleted AND deleted_at < now() - interval '30 days')""",
    """DELETE FROM benchapp_childb WHERE parent_id IN
         (SELECT id FROM benchapp_parent WHERE is_deleted AND deleted_at < now() - interval '30 days')""",
    """DELETE FROM benchapp_parent_tags WHERE parent_id IN
         (SELECT id FROM benchapp_parent WHERE is_deleted AND deleted_at < now() - interval '30 days')""",
    """DELETE FROM benchapp_note WHERE object_id IN
         (SELECT id FROM benchapp_parent WHERE is_deleted AND deleted_at < now() - interval '30 days')
         AND content_type_id =
           (SELECT id FROM django_content_type WHERE app_label = 'benchapp' AND model = 'parent')""",
    """UPDATE benchapp_ref SET parent_id = NULL WHERE parent_id IN
         (SELECT id FROM benchapp_parent WHERE is_deleted AND deleted_at < now() - interval '30 days')""",
    "DELETE FROM benchapp_parent WHERE is_deleted AND deleted_at < now() - interval '30 days'",
]

MANY_CHILDREN_FIRST = [
    """DELETE FROM benchmany_child WHERE parent_id IN
         (SELECT id FROM benchmany_parent WHERE is_deleted AND deleted_at < now() - interval '30 days')""",
    "DELETE FROM benchmany_parent WHERE is_deleted AND deleted_at < now() - interval '30 days'",
]

MANY_CTE = """
WITH p AS (DELETE FROM benchmany_parent WHERE is_deleted AND deleted_at < now() - interval '30 days' RETURNING id),
     c AS (DELETE FROM benchmany_child WHERE parent_id IN (SELECT id FROM p))
SELECT count(*) FROM p
"""

CHAIN_CHILDREN_FIRST = [
    """DELETE FROM benchchain_grandchild WHERE child_id IN
         (SELECT c.id FROM benchchain_child c JOIN benchchain_parent p ON p.id = c.parent_id
           WHERE p.is_deleted AND p.deleted_at < now() - interval '30 days')""",
    """DELETE FROM benchchain_child WHERE parent_id IN
         (SELECT id FROM benchchain_parent WHERE is_deleted AND deleted_at < now() - interval '30 days')""",
    "DELETE FROM benchchain_parent WHERE is_deleted AND deleted_at < now() - interval '30 days'",
]

CHAIN_CTE = """
WITH p AS (DELETE FROM benchchain_parent WHERE is_deleted AND deleted_at < now() - interval '30 days' RETURNING id),
     c AS (DELETE FROM benchchain_child WHERE parent_id IN (SELECT id FROM p) RETURNING id),
     g AS (DELETE FROM benchchain_grandchild WHERE child_id IN (SELECT id FROM c))
SELECT count(*) FROM p
"""

FLOOR_STATEMENTS: dict[str, dict[str, list[str]]] = {
    "simple": {FLOOR_A: SIMPLE_CHILDREN_FIRST, FLOOR_B: [BARE_SIMPLE]},
    "mixed": {FLOOR_A: MIXED_CHILDREN_FIRST, FLOOR_B: [BARE_MIXED]},
    "kept": {FLOOR_A: KEPT_CHILDREN_FIRST, FLOOR_B: [BARE_KEPT]},
    "many": {FLOOR_A: MANY_CHILDREN_FIRST, FLOOR_B: [MANY_CTE]},
    "chain": {FLOOR_A: CHAIN_CHILDREN_FIRST, FLOOR_B: [CHAIN_CTE]},
}
assert set(FLOOR_STATEMENTS) == set(SCHEMAS)

# What a DBA writes for short locks: the same purge in committed batches of 5,000 roots in keyset
# order (the purge index), each batch's children deleted by ANY(ids), then its roots; no proof, no
# audit, no holds. Once without a row lock and once with the select taking FOR UPDATE SKIP LOCKED as
# run_cleanup's does: the difference is what skipping hot rows costs, the rest of run_cleanup's
# distance from them is the engine's own work. Not written for kept (its rule is the floor's).
LOOP = "batched loop, no row lock"
LOOP_LOCKED = "batched loop, FOR UPDATE SKIP LOCKED"
LOOPS = (LOOP, LOOP_LOCKED)
LOOP_TEMPLATE = """
DO $loop$
DECLARE
  ids bigint[];
  after_at timestamptz := '-infinity';
  after_id bigint := 0;
  cutoff timestamptz := now() - interval '30 days';
BEGIN
  LOOP
    SELECT array_agg(id ORDER BY deleted_at, id), max(deleted_at) INTO ids, after_at FROM (
      SELECT id, deleted_at FROM {parent}
       WHERE is_deleted AND deleted_at < cutoff AND (deleted_at, id) > (after_at, after_id)
       ORDER BY deleted_at, id LIMIT 5000 {lock}) s;
    EXIT WHEN ids IS NULL;
    after_id := ids[cardinality(ids)];
    {children}
    DELETE FROM {parent} WHERE id = ANY(ids);
    COMMIT;
  END LOOP;
END
$loop$
"""

LOOP_CHILDREN: dict[str, list[str]] = {
    "simple": [
        "DELETE FROM benchsimple_childa WHERE parent_id = ANY(ids)",
        "DELETE FROM benchsimple_childb WHERE parent_id = ANY(ids)",
    ],
    "mixed": [
        "DELETE FROM benchapp_childa WHERE parent_id = ANY(ids)",
        "DELETE FROM benchapp_childb WHERE parent_id = ANY(ids)",
        "DELETE FROM benchapp_parent_tags WHERE parent_id = ANY(ids)",
        "DELETE FROM benchapp_note WHERE object_id = ANY(ids) AND content_type_id ="
        " (SELECT id FROM django_content_type WHERE app_label = 'benchapp' AND model = 'parent')",
        "UPDATE benchapp_ref SET parent_id = NULL WHERE parent_id = ANY(ids)",
    ],
    "many": ["DELETE FROM benchmany_child WHERE parent_id = ANY(ids)"],
    "chain": [
        "DELETE FROM benchchain_grandchild WHERE child_id IN"
        " (SELECT id FROM benchchain_child WHERE parent_id = ANY(ids))",
        "DELETE FROM benchchain_child WHERE parent_id = ANY(ids)",
    ],
}


def batched_loop(kind: str, locked: bool) -> str:
    return LOOP_TEMPLATE.format(
        parent=f"bench{'app' if kind == 'mixed' else kind}_parent",
        lock="FOR UPDATE SKIP LOCKED" if locked else "",
        children="\n    ".join(f"{c};" for c in LOOP_CHILDREN[kind]),
    )


# The settings that move the floor and the purge; printed next to every table.
SETTINGS = ("shared_buffers", "work_mem", "max_wal_size", "synchronous_commit", "fsync")


def server_settings(url: str) -> str:
    with psycopg.connect(with_db(url, "postgres")) as conn:
        values = [conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0] for name in SETTINGS]  # type: ignore[index]
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    return f"PostgreSQL {version}: " + ", ".join(f"{n}={v}" for n, v in zip(SETTINGS, values, strict=True))


class BackendMemory:
    """The peak private memory (RssAnon: its own allocations, not the shared buffers it maps) of one
    server backend, sampled from /proc every 50 ms while the block runs. Only for a server on this
    machine; elsewhere the peak stays None."""

    def __init__(self, pid: int) -> None:
        self.path = Path(f"/proc/{pid}/status")
        self.peak_kb: int | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _read(self) -> int | None:
        try:
            lines = self.path.read_text().splitlines()
        except OSError:
            return None
        return next((int(line.split()[1]) for line in lines if line.startswith("RssAnon:")), None)

    def _sample(self) -> None:
        while True:
            kb = self._read()
            if kb is not None:
                self.peak_kb = max(self.peak_kb or 0, kb)
            if self._done.wait(0.05):
                return

    def __enter__(self) -> BackendMemory:
        if self._read() is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()


def timed_sql(url: str, statements: str | list[str], memory: dict[str, int | None] | None = None) -> float:
    """Run a CALL on its own, or statements in one transaction; the seconds taken, commit included.
    With `memory`, also the backend's peak private memory in kB (BackendMemory) as memory["peak_kb"]."""
    with psycopg.connect(with_db(url, COPY), autocommit=True) as conn:
        if memory is not None:
            with BackendMemory(conn.info.backend_pid) as sampled:
                seconds = timed_sql_on(conn, statements)
            memory["peak_kb"] = sampled.peak_kb
            return seconds
        return timed_sql_on(conn, statements)


def timed_sql_on(conn: psycopg.Connection[Any], statements: str | list[str]) -> float:
    started = time.perf_counter()
    if isinstance(statements, str) and statements.lstrip().upper().startswith(("CALL", "DO")):
        conn.execute(statements)  # type: ignore[arg-type]
    else:
        with conn.transaction():
            for statement in [statements] if isinstance(statements, str) else statements:
                conn.execute(statement)  # type: ignore[arg-type]
    return time.perf_counter() - started


def timed_orm(url: str, app: str, method: str) -> float:
    out = subprocess.run(
        [sys.executable, str(BENCH / "orm_delete.py"), method],
        env=django_env(url, COPY, app),
        cwd=BENCH,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(out.stdout)["seconds"])


def child_peak_rss_kb(url: str, app: str, *args: str) -> int:
    """Peak resident memory of a manage.py command, read from the kernel's accounting of that child."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "django", *args],
        env=django_env(url, COPY, app),
        cwd=BENCH,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return int(usage.ru_maxrss)


PURGE = "CALL retention.run_cleanup()"


def batch_stats(url: str) -> dict[str, float]:
    """The purge's batches in the copy just purged: the longest, and the median of the last tenth
    of an item's batches against its first tenth (a batch must cost the same at the end as at the
    start), for the item where that ratio is highest: the items of one run purge different models
    (benchkept's parents, then the children they left), whose batches cannot be compared with each
    other. Compared per row (ms per 1,000 rows of the batch's size): adaptive batches start at
    batch_size and grow, so an item of a few batches would otherwise compare its first, small batch
    with full ones. An item's last batch (whatever rows were left, fewer than its size) is left out."""
    items = scalar(
        url,
        COPY,
        "SELECT jsonb_agg(jsonb_build_array(i.batch_durations_ms, i.batch_sizes) ORDER BY i.id)"
        " FROM retention_run_item i",
    )
    durations = [float(d) for item in items or [] for d in item[0]]
    worst = {"first_ms": 0.0, "last_ms": 0.0, "last_vs_first": 0.0}
    for item_durations, sizes in items or []:
        per_row = [1000 * float(d) / int(n) for d, n in zip(item_durations, sizes, strict=True)][:-1]
        if not per_row:
            continue
        tenth = max(1, len(per_row) // 10)
        first, last = statistics.median(per_row[:tenth]), statistics.median(per_row[-tenth:])
        if first > 0 and last / first >= worst["last_vs_first"]:
            worst = {"first_ms": first, "last_ms": last, "last_vs_first": last / first}
    return {"batches": len(durations), "longest_ms": max(durations, default=0.0), **worst}


def compare(url: str, shape: Shape, rounds: int, orm: bool, loop: bool = True, dba_loop: bool = True) -> dict[str, Any]:
    build_started = time.perf_counter()
    build_template(url, TEMPLATE, shape)
    print(f"\n== {shape.label}: template built in {time.perf_counter() - build_started:.1f}s", flush=True)
    settings = server_settings(url)
    print(f"   {settings}", flush=True)
    floors = FLOOR_STATEMENTS[shape.kind]
    methods: dict[str, Any] = {
        FLOOR_A: lambda mem: timed_sql(url, floors[FLOOR_A], mem),
        FLOOR_B: lambda mem: timed_sql(url, floors[FLOOR_B], mem),
        PURGE: lambda mem: timed_sql(url, "CALL retention.run_cleanup(triggered_by => 'bench')", mem),
    }
    if dba_loop and shape.kind in LOOP_CHILDREN:
        methods[LOOP] = lambda mem: timed_sql(url, batched_loop(shape.kind, locked=False), mem)
        methods[LOOP_LOCKED] = lambda mem: timed_sql(url, batched_loop(shape.kind, locked=True), mem)
    if orm and not shape.kept:  # Django's plain cascade would also take the kept children
        methods["Django QuerySet.delete()"] = lambda mem: timed_orm(url, shape.app, "queryset")
        if loop:
            methods["specification's loop (1,000 rows)"] = lambda mem: timed_orm(url, shape.app, "spec-loop")
    times: dict[str, list[float]] = {m: [] for m in methods}
    states: dict[str, Any] = {}
    batches: list[dict[str, float]] = []
    backend_kb: dict[str, int] = {}  # the server backend's peak private memory, per SQL method
    for _ in range(rounds):
        for name, run in methods.items():
            recreate(url, COPY, TEMPLATE)
            mem: dict[str, int | None] = {}
            times[name].append(run(mem))
            states[name] = fingerprint(url, COPY, shape)
            peak = mem.get("peak_kb")
            if peak is not None:
                backend_kb[name] = max(backend_kb.get(name, 0), peak)
            memory_note = f" (backend peak private memory {peak / 1024:.1f} MiB)" if peak is not None else ""
            print(f"  {name}: {times[name][-1]:.2f}s{memory_note}", flush=True)
            if name == PURGE:
                batches.append(batch_stats(url))
                print(
                    "    batches: {batches:.0f}, longest {longest_ms:.0f} ms, median of the first tenth "
                    "{first_ms:.1f} ms per 1,000 rows, of the last tenth {last_ms:.1f}".format(**batches[-1]),
                    flush=True,
                )
    reference = states[FLOOR_B]
    identical = all(s == reference for s in states.values())
    medians = {m: statistics.median(t) for m, t in times.items()}
    floor = min(FLOORS, key=lambda m: medians[m])
    with psycopg.connect(with_db(url, TEMPLATE)) as conn:
        count = sql.SQL("SELECT count(*) FROM {}")
        before = {t: conn.execute(count.format(sql.Identifier(t))).fetchone()[0] for t in reference}  # type: ignore[index]
    removed = sum(before[t] - reference[t][0] for t in reference)
    return {
        "shape": shape,
        "settings": settings,
        "floor": floor,
        "medians": medians,
        "identical": identical,
        "rows_removed": removed,
        "states": states,
        "batches": batches,
        "backend_kb": backend_kb,
    }


def memory(url: str, shape: Shape) -> int:
    recreate(url, COPY, TEMPLATE)
    return child_peak_rss_kb(url, shape.app, "cleanup_soft_deleted", "--execute", "--force", "--format", "json")


def scaling(url: str, parents: int) -> dict[str, float]:
    """Every parent soft-deleted, ages spread over 1,000 days: purge ~1% (days=990) vs ~100% (days=1)."""
    template = TEMPLATE + "_spread"
    shape = Shape(parents, mixed=False)
    build_template(url, template, shape, ages="spread")
    out: dict[str, float] = {}
    for label, days in (("1%", 990), ("100%", 1)):
        recreate(url, COPY, template)
        out[label] = timed_sql(url, f"CALL retention.run_cleanup(days => {days}, triggered_by => 'bench')")
        out[label + " rows"] = float(scalar(url, COPY, "SELECT sum(deleted) FROM retention_run_item"))
    recreate(url, COPY, template)
    with psycopg.connect(with_db(url, COPY)) as conn:
        started = time.perf_counter()
        conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(shape.table("parent")))).fetchone()
        out["seq scan count(*)"] = time.perf_counter() - started
    drop(url, template)
    return out


def report_speed(url: str, parents: int) -> dict[str, Any]:
    """The retention_report view on a table in steady state: 2% of its rows soft-deleted."""
    template = TEMPLATE + "_report"
    shape = Shape(parents, mixed=False, eligible=0.02)
    parent = sql.Identifier(shape.table("parent"))
    build_template(url, template, shape)
    recreate(url, COPY, template)
    drop(url, template)
    with psycopg.connect(with_db(url, COPY)) as conn:
        conn.execute("SELECT * FROM retention_report").fetchall()  # warm the plan cache, not the table
        started = time.perf_counter()
        rows = conn.execute("SELECT model_path, soft_deleted, eligible FROM retention_report").fetchall()
        report_s = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(sql.SQL("SELECT count(*) FROM {}").format(parent)).fetchone()
        count_s = time.perf_counter() - started
        cutoff_plan = conn.execute(
            sql.SQL(
                "EXPLAIN SELECT count(*), count(*) FILTER (WHERE deleted_at < now() - interval '30 days'),"
                " min(deleted_at) FROM {} WHERE is_deleted"
            ).format(parent)
        ).fetchall()
    plan = "\n".join(r[0] for r in cutoff_plan)
    return {"report_s": report_s, "count_s": count_s, "rows": rows, "plan": plan, "seq_scan": "Seq Scan" in plan}


def print_linearity(results: list[dict[str, Any]]) -> None:
    """run_cleanup's time at the largest size against the smallest, per timestamp shape."""
    by_stamps: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        by_stamps.setdefault((r["shape"].kind, r["shape"].stamps), []).append(r)
    for (kind, stamps), rs in by_stamps.items():
        if len(rs) < 2:
            continue
        small, large = rs[0], rs[-1]
        factor = large["shape"].parents / small["shape"].parents
        ratio = large["medians"][PURGE] / small["medians"][PURGE]
        print(
            f"\nrun_cleanup, {kind}, {stamps} timestamps: {large['shape'].parents:,} / "
            f"{small['shape'].parents:,} parents = {ratio:.2f} for {factor:.0f}x the rows "
            f"(target <= {factor * 1.1:.1f}: linear)"
        )
        memory = [r["backend_kb"].get(PURGE) for r in (small, large)]
        if None not in memory:
            print(
                f"  its backend's peak private memory: {memory[0] / 1024:.1f} MiB, then {memory[1] / 1024:.1f} MiB "
                f"({memory[1] / memory[0]:.2f}; target: flat)"
            )


def write_json(path: Path, results: list[dict[str, Any]]) -> None:
    """The figures of every data set, for tables: medians, the faster floor, the ratio, the batches."""
    rows = []
    for r in results:
        shape: Shape = r["shape"]
        floor = r["medians"][r["floor"]]
        rows.append(
            {
                "schema": shape.kind,
                "parents": shape.parents,
                "stamps": shape.stamps,
                "label": shape.label,
                "settings": r["settings"],
                "medians_s": r["medians"],
                "floor": r["floor"],
                "run_cleanup_over_floor": r["medians"][PURGE] / floor,
                "rows_removed": r["rows_removed"],
                "identical": r["identical"],
                "batches": r["batches"],
                "backend_peak_private_kb": r["backend_kb"],
            }
        )
    path.write_text(json.dumps(rows, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="parents per run, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="measurements per method (median reported)")
    parser.add_argument(
        "--simple", action="store_true", help="only 2 CASCADE children per parent (issue 7's baseline shape)"
    )
    parser.add_argument("--check-only", action="store_true", help="CI: compare end states; skip the extra sections")
    parser.add_argument(
        "--stamps", default="row", help=f"timestamp shapes of the eligible rows, comma-separated: {', '.join(STAMPS)}"
    )
    parser.add_argument("--no-orm", action="store_true", help="only the two floors and run_cleanup (large sizes)")
    parser.add_argument(
        "--no-loop", action="store_true", help="skip the specification's loop (Django's QuerySet.delete() stays)"
    )
    parser.add_argument(
        "--no-dba-loop", action="store_true", help="skip the DBA's batched loops (a 4M matrix: floors and run_cleanup)"
    )
    parser.add_argument("--kept", action="store_true", help="children are soft-delete models too (issue 13)")
    parser.add_argument("--json", metavar="FILE", help="also write each data set's figures to FILE (JSON)")
    parser.add_argument(
        "--schema",
        help=f"schemas, comma-separated: {', '.join(SCHEMAS)} (default mixed; --simple and --kept pick theirs)",
    )
    args = parser.parse_args()
    url = server_url()
    sizes = [int(s) for s in args.sizes.split(",")]
    stamps = args.stamps.split(",")
    unknown = [s for s in stamps if s not in STAMPS]
    if unknown:
        parser.error(f"--stamps: unknown shape(s) {', '.join(unknown)} (choose from {', '.join(STAMPS)})")
    if args.schema:
        schemas = args.schema.split(",")
    else:
        schemas = ["kept" if args.kept else "simple" if args.simple else "mixed"]
    unknown = [s for s in schemas if s not in SCHEMAS]
    if unknown:
        parser.error(f"--schema: unknown schema(s) {', '.join(unknown)} (choose from {', '.join(SCHEMAS)})")
    results = []
    for kind in schemas:
        for stamp in stamps:
            for size in sizes:
                shape = Shape(
                    size,
                    mixed=kind == "mixed",
                    stamps=stamp,
                    kept=kind == "kept",
                    schema=kind if kind in ("many", "chain") else "",
                )
                result = compare(
                    url, shape, args.rounds, orm=not args.no_orm, loop=not args.no_loop, dba_loop=not args.no_dba_loop
                )
                if not args.check_only:
                    result["peak_rss_kb"] = memory(url, shape)
                    result["report"] = report_speed(url, size) if kind != "kept" else None
                results.append(result)

    for settings in dict.fromkeys(r["settings"] for r in results):
        print(f"\nServer: {settings}")
    print("\n| data set | method | median s | rows/s | ratio to the faster floor |")
    print("|---|---|---|---|---|")
    for r in results:
        floor = r["medians"][r["floor"]]
        for method, seconds in r["medians"].items():
            rate = r["rows_removed"] / seconds
            faster = " (the faster floor)" if method == r["floor"] else ""
            print(f"| {r['shape'].label} | {method}{faster} | {seconds:.2f} | {rate:,.0f} | {seconds / floor:.2f} |")
    failures = [r["shape"].label for r in results if not r["identical"]]
    for r in results:
        removed, identical = r["rows_removed"], r["identical"]
        print(f"\n{r['shape'].label}: {removed:,} rows removed or updated; end states identical: {identical}")
        purge, floor = r["medians"][PURGE], r["medians"][r["floor"]]
        target = 1.35 if r["shape"].kind == "kept" else 1.20
        print(
            f"  the faster floor is {r['floor']}, {floor:.2f}s "
            f"(A {r['medians'][FLOOR_A]:.2f}s, B {r['medians'][FLOOR_B]:.2f}s); "
            f"run_cleanup {purge:.2f}s; run_cleanup / floor = {purge / floor:.3f} (issue 25 target <= {target:.2f})"
        )
        if LOOP in r["medians"]:
            loop, locked = r["medians"][LOOP], r["medians"][LOOP_LOCKED]
            print(
                f"  batched loops: no lock {loop:.2f}s ({loop / floor:.3f} x floor), SKIP LOCKED {locked:.2f}s "
                f"({locked / floor:.3f} x floor); run_cleanup / the locked loop = {purge / locked:.3f}"
            )
        for b in r["batches"]:
            print(
                f"  batches {b['batches']:.0f}: longest {b['longest_ms']:.0f} ms (target <= 500); median of the last "
                f"tenth / the first tenth of an item's batches = {b['last_vs_first']:.2f}, the highest item "
                "(target <= 1.5)"
            )
        if r["backend_kb"]:
            peaks = ", ".join(f"{m} {kb / 1024:.1f}" for m, kb in r["backend_kb"].items())
            print(f"  the server backend's peak private memory (RssAnon), MiB: {peaks}")
        loop = r["medians"].get("specification's loop (1,000 rows)")
        if loop:
            print(f"  specification's loop / run_cleanup = {loop / purge:.2f}x (target >= 4x)")
        if "peak_rss_kb" in r:
            print(f"  cleanup_soft_deleted peak RSS: {r['peak_rss_kb'] / 1024:.1f} MiB")
        if r.get("report"):
            rep = r["report"]
            print(
                f"  retention_report (2% of the rows soft-deleted): {rep['report_s'] * 1000:.1f} ms vs "
                f"SELECT count(*) of the table {rep['count_s'] * 1000:.1f} ms; sequential scan in its plan: "
                f"{rep['seq_scan']}"
            )
            print("    " + rep["plan"].replace("\n", "\n    "))
    print_linearity(results)
    if args.json:
        write_json(Path(args.json), results)
    if len(results) > 1 and all("peak_rss_kb" in r for r in results):
        small, large = results[0]["peak_rss_kb"], results[-1]["peak_rss_kb"]
        print(f"\ncleanup_soft_deleted peak memory, largest / smallest size: {large / small:.3f} (target: the same)")
    if not args.check_only:
        s = scaling(url, sizes[-1])
        print(
            f"\ncost vs eligible rows ({sizes[-1]:,} soft-deleted parents, 2 CASCADE children each): "
            f"purge of {s['1% rows']:,.0f} rows {s['1%']:.2f}s, of {s['100% rows']:,.0f} rows {s['100%']:.2f}s; "
            f"ratio {s['1%'] / s['100%']:.3f} for {s['1% rows'] / s['100% rows']:.3f} of the rows "
            f"(a sequential count(*) of the table: {s['seq scan count(*)']:.2f}s)"
        )
    drop(url, COPY)
    drop(url, TEMPLATE)
    if failures:
        raise SystemExit(f"end states differ for: {', '.join(failures)}")


if __name__ == "__main__":
    main()
