"""Where a purge spends its time: run_cleanup and the floor, phase by phase (issue 25, item 4).

    .venv/bin/python bench/breakdown.py                              # simple, many, chain at 100k
    .venv/bin/python bench/breakdown.py --schema simple --parents 1000000 --stamps one
    .venv/bin/python bench/breakdown.py --schema kept --parents 1000000   # children with policies of their own

The server runs with pg_stat_statements tracking nested statements and track_functions = 'all'
(scripts/devdb with DEVDB_STATEMENTS=1, a cluster of its own on port 54374 unless DATABASE_URL is
set; that server must preload pg_stat_statements). Both counters are reset before each method, on
a fresh copy of the same template, so they hold one purge each.

Two levels, each adding up:
- functions: the self time of every routine that run_cleanup calls (track_functions), grouped; the
  self times of one call tree add up to run_cleanup's total time. The procedure's own self time is
  its PL/pgSQL and its COMMITs.
- the generated purge function's statements (pg_stat_statements): the cascade's collection, probes,
  the DELETE statement with the proof insert, and PostgreSQL's foreign-key checks (the RI trigger
  queries, which run inside that DELETE statement: constraints are IMMEDIATE in a purge; the
  trigger machinery around those queries stays in the DELETE's line).
The floor (form A, children first) is split the same way: its DELETE statements and its FK checks.
Both also run once more with session_replication_role = replica, where no trigger fires: the
difference is what PostgreSQL's foreign-key triggers cost in all (a measurement, not a method).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Shape, build_template, drop, recreate, with_db

TEMPLATE = "retention_bench_breakdown_template"
COPY = "retention_bench_breakdown_copy"
CALL = "CALL retention.run_cleanup(triggered_by => 'bench')"

# Function groups by name (first match wins); every other routine of ours is bookkeeping.
FUNCTION_GROUPS = [
    ("driver: run_cleanup's PL/pgSQL and COMMITs", r"^(run_cleanup|purge_batch|purge_isolating)$"),
    ("select the batch and lock its roots", r"^select__"),
    ("the generated purge function (split below)", r"^purge__"),
    ("hold lookups (active_holds)", r"^active_holds$"),
    ("guards: caller, session and argument checks", r"^(refuse_planting_sessions|own_(run|item)|check_run_arguments)$"),
]
BOOKKEEPING = "audit bookkeeping: items, batches, digests, the seal"

# The purge function's statements and the RI queries (first match wins).
STATEMENT_GROUPS = [
    ("foreign-key checks (PostgreSQL's RI triggers)", r"FOR KEY SHARE OF x"),
    ("delete the rows (every table) and insert the proof keys", r'^(WITH .*DELETE FROM "|DELETE FROM (?!retention))'),
    ("collect and lock the cascaded rows", r'^"d\d+" := ARRAY'),
    ("hold probes", r"^EXISTS \(SELECT \$1 FROM retention\.active_holds|INTO hold_reason"),
    ("retained and blocker probes", r'INTO retained_reason|^EXISTS \(SELECT \$1 FROM "'),
    ("SET_NULL / SET_DEFAULT updates", r'^UPDATE "'),
]


# Work that does not depend on the machine's load: buffers touched, buffers dirtied, WAL records,
# WAL bytes. pg_stat_statements counts a statement's nested statements in its own figures too, so
# only the leaf statements (the purge function's, the RI queries) are summed by group.
WORK = ("buffers touched", "buffers dirtied", "WAL records", "WAL MB")


def statement_work(conn: psycopg.Connection) -> list[tuple[str, int, float, tuple[float, ...]]]:
    rows = conn.execute(
        "SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls, total_exec_time,"
        " shared_blks_hit + shared_blks_read, shared_blks_dirtied, wal_records, wal_bytes / 1e6"
        " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchall()
    return [(str(r[0]), int(r[1]), float(r[2]), tuple(float(x) for x in r[3:])) for r in rows]


def function_times(conn: psycopg.Connection) -> dict[str, tuple[float, float]]:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute("SELECT funcname, total_time, self_time FROM pg_stat_user_functions").fetchall()
    return {str(n): (float(t), float(s)) for n, t, s in rows}


def group_of(name: str, groups: list[tuple[str, str]]) -> str | None:
    return next((label for label, pattern in groups if re.search(pattern, name)), None)


@dataclass
class Measured:
    wall: float  # seconds
    wal_mb: float  # WAL written by the server while the statements ran (all of it, LSN difference)
    statements: list[tuple[str, int, float, tuple[float, ...]]]
    functions: dict[str, tuple[float, float]]


def measured(url: str, statements: list[str], fk_triggers: bool = True) -> Measured:
    """Wall seconds of the statements on a fresh copy, then what the counters saw. fk_triggers=False
    runs them with session_replication_role = replica (no trigger fires, the foreign keys' included):
    a measurement of what the FK triggers cost in all, never a way to purge."""
    recreate(url, COPY, TEMPLATE)
    with psycopg.connect(with_db(url, COPY), autocommit=True) as conn:
        if not fk_triggers:
            conn.execute("SET session_replication_role = replica")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CHECKPOINT")  # every method starts with the same full-page-image state
        conn.execute("SELECT pg_stat_statements_reset(), pg_stat_reset()")
        lsn = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
        started = time.perf_counter()
        if statements == [CALL]:
            conn.execute(CALL)
        else:
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement)  # type: ignore[arg-type]
        wall = time.perf_counter() - started
        wal_row = conn.execute(
            "SELECT (pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s) / 1e6)::float8", [lsn]
        ).fetchone()
        assert wal_row is not None
        time.sleep(0.6)  # function counters reach the statistics collector when the backend reports
        return Measured(wall, float(wal_row[0]), statement_work(conn), function_times(conn))


def split_work(stats: list[tuple[str, int, float, tuple[float, ...]]], checks_inside: bool) -> dict[str, list[float]]:
    """Buffers and WAL by STATEMENT_GROUPS (leaf statements only: the RI queries are counted inside
    the DELETE's figures too, so they are subtracted from it, as for the time)."""
    out: dict[str, list[float]] = {}
    for query, _, _, work in stats:
        label = group_of(query, STATEMENT_GROUPS)
        if label:
            acc = out.setdefault(label, [0.0] * len(WORK))
            for i, value in enumerate(work):
                acc[i] += value
    fk, delete = STATEMENT_GROUPS[0][0], STATEMENT_GROUPS[1][0]
    if checks_inside and fk in out and delete in out:
        out[delete] = [d - f for d, f in zip(out[delete], out[fk], strict=True)]
    return out


def split(stats: list[tuple[str, int, float, tuple[float, ...]]], checks_inside: bool) -> dict[str, float]:
    """Statement time by STATEMENT_GROUPS. A purge sets its constraints IMMEDIATE, so the RI queries
    ran inside its DELETE statement and are subtracted from it; the floor's (Django's constraints are
    DEFERRABLE INITIALLY DEFERRED) ran at its COMMIT."""
    out: dict[str, float] = {}
    for query, _, ms, _ in stats:
        label = group_of(query, STATEMENT_GROUPS)
        if label:
            out[label] = out.get(label, 0.0) + ms
    fk, delete = STATEMENT_GROUPS[0][0], STATEMENT_GROUPS[1][0]
    if checks_inside and delete in out:
        out[delete] -= out.get(fk, 0.0)
    return out


def row(label: str, ms: float, total: float) -> str:
    return f"| {label} | {ms:,.0f} | {100 * ms / total:.1f}% |"


def work_row(label: str, work: list[float] | None) -> str:
    figures = work or [0.0] * len(WORK)
    return f"| {label} | " + " | ".join(f"{v:,.0f}" if i < 3 else f"{v:,.1f}" for i, v in enumerate(figures)) + " |"


def print_times(shape: Shape, floor: Measured, floor_bare: float, run: Measured, run_bare: float) -> None:
    total = run.functions["run_cleanup"][0]
    by_group: dict[str, float] = {}
    for name, (_, self_ms) in run.functions.items():
        label = group_of(name, FUNCTION_GROUPS) or BOOKKEEPING
        by_group[label] = by_group.get(label, 0.0) + self_ms
    purge_ms = by_group.get(FUNCTION_GROUPS[2][0], 0.0)
    parts = split(purge_statements(run), checks_inside=True)

    print(f"\n## {shape.label}\n")
    print("| | floor A | run_cleanup | ratio |\n|---|---|---|---|")
    print(f"| wall s | {floor.wall:.2f} | {run.wall:.2f} | {run.wall / floor.wall:.2f} |")
    bare = f"{floor_bare:.2f} | {run_bare:.2f} | {run_bare / floor_bare:.2f}"
    print(f"| wall s, no trigger fires (replica role) | {bare} |")
    print(f"| the FK triggers in all, s | {floor.wall - floor_bare:.2f} | {run.wall - run_bare:.2f} | |")
    wal = f"{floor.wal_mb:,.1f} | {run.wal_mb:,.1f} | {run.wal_mb / floor.wal_mb:.2f}"
    print(f"| WAL MB (whole server, after a CHECKPOINT) | {wal} |\n")
    print("| run_cleanup, by routine (self time) | ms | share |\n|---|---|---|")
    for label in [g[0] for g in FUNCTION_GROUPS] + [BOOKKEEPING]:
        print(row(label, by_group.get(label, 0.0), total))
    print("\n| the purge function, by statement | ms | share of run_cleanup |\n|---|---|---|")
    for label, _ in STATEMENT_GROUPS:
        print(row(label, parts.get(label, 0.0), total))
    print(row("its PL/pgSQL (arrays, loops, calls)", purge_ms - sum(parts.values()), total))
    floor_parts = split(floor.statements, checks_inside=False)
    floor_ms = 1000 * floor.wall
    print(f"\n| floor A, by statement | ms | share of the floor's {floor_ms:,.0f} ms |\n|---|---|---|")
    for label, _ in STATEMENT_GROUPS[:2]:
        print(row(label, floor_parts.get(label, 0.0), floor_ms))
    rest = "the rest: COMMIT, where the deferred FK triggers fire (their queries are counted above)"
    print(row(rest, floor_ms - sum(floor_parts.values()), floor_ms))


def print_work(floor: Measured, run: Measured) -> None:
    """The same split in work that the machine's load does not change (read these on a busy machine)."""
    header = "| " + " | ".join(WORK) + " |"
    print(f"\n| run_cleanup's purge function and select, by statement {header}\n|---" + "|---" * len(WORK) + "|")
    parts = split_work(purge_statements(run), checks_inside=True)
    for label, _ in STATEMENT_GROUPS:
        print(work_row(label, parts.get(label)))
    select = [s for s in run.statements if s[0].startswith("WITH c AS")]
    print(work_row("select the batch and lock its roots", split_sum(select)))
    print(f"\n| floor A, by statement {header}\n|---" + "|---" * len(WORK) + "|")
    floor_parts = split_work(floor.statements, checks_inside=False)
    for label, _ in STATEMENT_GROUPS[:2]:
        print(work_row(label, floor_parts.get(label)))


def split_sum(stats: list[tuple[str, int, float, tuple[float, ...]]]) -> list[float]:
    return [sum(s[3][i] for s in stats) for i in range(len(WORK))]


def purge_statements(run: Measured) -> list[tuple[str, int, float, tuple[float, ...]]]:
    return [s for s in run.statements if not s[0].startswith("SELECT retention.")]


def report(shape: Shape, url: str) -> None:
    from run import FLOOR_A, FLOOR_STATEMENTS

    build_template(url, TEMPLATE, shape)
    floor = measured(url, FLOOR_STATEMENTS[shape.kind][FLOOR_A])
    floor_bare = measured(url, FLOOR_STATEMENTS[shape.kind][FLOOR_A], fk_triggers=False).wall
    run = measured(url, [CALL])
    run_bare = measured(url, [CALL], fk_triggers=False).wall
    print_times(shape, floor, floor_bare, run, run_bare)
    print_work(floor, run)
    drop(url, COPY)
    drop(url, TEMPLATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--schema", default="simple,many,chain", help="comma-separated: simple, many, chain, mixed, kept"
    )
    parser.add_argument("--parents", type=int, default=100_000)
    parser.add_argument("--stamps", default="row", choices=["row", "shared", "one"])
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        os.environ.update(DEVDB_STATEMENTS="1", DEVDB_PORT="54374", DEVDB_DIR="/var/tmp/retention-statements")
    from common import server_url

    url = server_url()
    with psycopg.connect(with_db(url, "postgres")) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        preload: object = conn.execute("SHOW shared_preload_libraries").fetchone()[0]  # type: ignore[index]
    if "pg_stat_statements" not in str(preload):
        raise SystemExit(f"{url} does not preload pg_stat_statements (shared_preload_libraries = '{preload}')")
    print(f"PostgreSQL {version}; load average {os.getloadavg()[0]:.2f}; figures in ms of server time")
    for schema in args.schema.split(","):
        flags = {"mixed": False, "kept": False, "schema": ""}
        flags.update({schema: True} if schema in ("mixed", "kept") else {"schema": schema})
        report(Shape(args.parents, stamps=args.stamps, **flags), url)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
