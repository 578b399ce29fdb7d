"""Whole partitions dropped vs batches vs one DELETE (issue 26): a log table range-partitioned by day.

    .venv/bin/python bench/partitions.py                 # 10M rows in 100 daily partitions
    .venv/bin/python bench/partitions.py --rows 200000   # a quick look

One template holds the same rows twice: in benchpart_event, partitioned by day on ``at`` (100 daily
partitions and a DEFAULT one), and in benchpart_flatevent, an ordinary table; both have a 40-day
timestamp policy, so about 60% of the rows are past the cutoff (none within two hours of it, so the
few seconds between methods change nothing). Each method purges a fresh copy after a CHECKPOINT:

- drop path: CALL retention.run_cleanup(model => 'benchpart.Event'): the 59 partitions wholly past
  the cutoff detached and dropped (their keys read into the proof first), the straddling one in batches;
- batched: CALL retention.run_cleanup(model => 'benchpart.FlatEvent'): the same rows, unpartitioned;
- bare DELETE: DELETE FROM benchpart_event WHERE at < now() - interval '40 days', one statement.

Prints seconds, WAL bytes (pg_current_wal_insert_lsn before and after) and ratios to the bare DELETE, and
fails unless the three leave the same rows (count and digest of (id, at)).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import drop, manage, recreate, server_url, with_db

TEMPLATE = "retention_bench_part_template"
COPY = "retention_bench_part_copy"
DAYS = 40  # bench_settings: RETENTION_TIMESTAMP_POLICIES for benchpart
METHODS = {
    "drop path (partitioned)": (
        "benchpart_event",
        "CALL retention.run_cleanup(model => 'benchpart.Event', triggered_by => 'bench')",
    ),
    "batched (unpartitioned)": (
        "benchpart_flatevent",
        "CALL retention.run_cleanup(model => 'benchpart.FlatEvent', triggered_by => 'bench')",
    ),
    "bare DELETE (partitioned)": (
        "benchpart_event",
        "DELETE FROM benchpart_event WHERE at < now() - interval '40 days'",  # DAYS
    ),
}


def build(url: str, rows: int, partitions: int) -> None:
    """The template: migrated, the daily partitions (today's the last), the rows spread evenly over
    them, the same rows in the flat table, analyzed."""
    recreate(url, TEMPLATE)
    manage(url, TEMPLATE, "benchpart", "migrate", "-v0")
    with psycopg.connect(with_db(url, TEMPLATE), autocommit=True) as conn:
        first = conn.execute(
            "SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => %s)",
            [partitions - 1],
        ).fetchone()[0]  # type: ignore[index]
        for d in range(partitions):
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF benchpart_event FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(f"benchpart_event_p{d:03d}"),
                    sql.Literal((first + d * _DAY).isoformat()),
                    sql.Literal((first + (d + 1) * _DAY).isoformat()),
                )
            )
        conn.execute(
            "INSERT INTO benchpart_event (id, at, payload)"
            " SELECT g, CASE WHEN abs(extract(epoch FROM t - c)) < 7200 THEN t + interval '4 hours' ELSE t END,"
            "        md5(g::text)"
            "   FROM generate_series(1, %(rows)s) g,"
            "        LATERAL (SELECT %(first)s::timestamptz"
            "                        + (g - 1) * (make_interval(days => %(parts)s) / %(rows)s) AS t) s,"
            "        LATERAL (SELECT now() - make_interval(days => %(days)s) AS c) k",
            {"rows": rows, "first": first, "parts": partitions, "days": DAYS},
        )
        conn.execute("INSERT INTO benchpart_flatevent (id, at, payload) SELECT id, at, payload FROM benchpart_event")
        for table in ("benchpart_event", "benchpart_flatevent"):
            conn.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), %s)").format(sql.Literal(table)), [rows]
            )
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))


_DAY = __import__("datetime").timedelta(days=1)


def left(conn: psycopg.Connection, table: str) -> tuple[int, str]:
    """Rows left and a digest of their (id, at)."""
    conn.execute("SET work_mem = '512MB'")
    row = conn.execute(
        sql.SQL(
            "SELECT count(*), encode(sha256(convert_to(coalesce(string_agg(id || ' ' || extract(epoch FROM at),"
            " ';' ORDER BY id), ''), 'UTF8')), 'hex') FROM {}"
        ).format(sql.Identifier(table))
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])[:16]


def measure(url: str, table: str, statement: str) -> dict[str, object]:
    recreate(url, COPY, TEMPLATE)
    with psycopg.connect(with_db(url, COPY), autocommit=True) as conn:
        before = left(conn, table)
        conn.execute("CHECKPOINT")
        lsn = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
        started = time.perf_counter()
        conn.execute(statement)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)::bigint", [lsn]).fetchone()[0]  # type: ignore[index]
        dropped = conn.execute(
            "SELECT coalesce(sum(jsonb_array_length(coalesce(partitions_dropped, '[]'))), 0) FROM retention_run_item"
        ).fetchone()[0]  # type: ignore[index]
        status = conn.execute("SELECT string_agg(status, ',') FROM retention_run").fetchone()[0]  # type: ignore[index]
        return {
            "seconds": seconds,
            "wal": int(wal),
            "before": before,
            "after": left(conn, table),
            "dropped": int(dropped),
            "status": status or "",
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the template database")
    args = parser.parse_args()
    url = server_url()
    started = time.perf_counter()
    build(url, args.rows, args.partitions)
    print(
        f"{args.rows:,} rows in {args.partitions} daily partitions (and a flat copy), {DAYS}-day policy;"
        f" built in {time.perf_counter() - started:.0f} s"
    )
    results = {name: measure(url, table, statement) for name, (table, statement) in METHODS.items()}
    bare = results["bare DELETE (partitioned)"]
    print(f"{'method':28} {'seconds':>9} {'WAL bytes':>15} {'x faster than DELETE':>21} {'WAL vs DELETE':>14}")
    for name, r in results.items():
        speed = float(bare["seconds"]) / float(r["seconds"])  # type: ignore[arg-type]
        wal = int(r["wal"]) / max(int(bare["wal"]), 1)  # type: ignore[arg-type]
        print(f"{name:28} {r['seconds']:9.2f} {r['wal']:15,} {speed:20.1f}x {wal:13.2%}")
    deleted = {name: r["before"][0] - r["after"][0] for name, r in results.items()}  # type: ignore[index]
    print(
        f"rows deleted: {deleted}; partitions dropped by the drop path: {results['drop path (partitioned)']['dropped']}"
    )
    ends = {name: r["after"] for name, r in results.items()}
    same = len(set(ends.values())) == 1
    print(f"end states {'equal' if same else 'DIFFER'}: {ends}")
    statuses = {name: r["status"] for name, r in results.items() if r["status"]}
    drop(url, COPY)
    if not args.keep:
        drop(url, TEMPLATE)
    if (
        not same
        or any(s != "succeeded" for s in statuses.values())
        or not results["drop path (partitioned)"]["dropped"]
    ):
        print(f"FAILED: runs {statuses}")
        sys.exit(1)


if __name__ == "__main__":
    main()
