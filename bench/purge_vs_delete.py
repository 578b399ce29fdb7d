"""Benchmark: retention.run_cleanup against one bare DELETE, on identical database copies.

    .venv/bin/python bench/purge_vs_delete.py [--parents 1000000] [--batch-size 5000] [--rounds 2]

Builds a template database (N soft-deletable parents, two CASCADE children each, half of the
parents past retention), copies it with CREATE DATABASE ... TEMPLATE for every measurement,
times each method on its own copy, checks that all end states are identical, and prints the
times and the ratio to the bare DELETE. Uses DATABASE_URL's server, else scripts/devdb.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = "retention_bench_template"
TABLES = ["benchapp_parent", "benchapp_childa", "benchapp_childb"]

BARE_DELETE = """
WITH p AS (DELETE FROM benchapp_parent WHERE is_deleted AND deleted_at < now() - interval '30 days' RETURNING id),
     a AS (DELETE FROM benchapp_childa WHERE parent_id IN (SELECT id FROM p) RETURNING 1),
     b AS (DELETE FROM benchapp_childb WHERE parent_id IN (SELECT id FROM p) RETURNING 1)
SELECT (SELECT count(*) FROM p) + (SELECT count(*) FROM a) + (SELECT count(*) FROM b)
"""

GENERATE = [
    """INSERT INTO benchapp_parent (id, name, is_deleted, deleted_at)
       SELECT g, 'parent ' || g, g %% 2 = 0,
              CASE WHEN g %% 2 = 0 THEN now() - interval '100 days' - g * interval '1 second' END
       FROM generate_series(1, %(n)s) g""",
    "INSERT INTO benchapp_childa (parent_id, payload) SELECT g, 'a ' || g FROM generate_series(1, %(n)s) g",
    "INSERT INTO benchapp_childb (parent_id, payload) SELECT g, 'b ' || g FROM generate_series(1, %(n)s) g",
]


def server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    devdb = REPO / "scripts" / "devdb"
    subprocess.run([str(devdb), "start"], check=True)
    return subprocess.run([str(devdb), "url"], check=True, capture_output=True, text=True).stdout.strip()


def with_db(url: str, dbname: str) -> str:
    """The same server URL with another database name."""
    return urlsplit(url)._replace(path="/" + dbname).geturl()


def admin(url: str, statement: sql.Composable) -> None:
    with psycopg.connect(with_db(url, "postgres"), autocommit=True) as conn:
        conn.execute(statement)


def recreate(url: str, name: str, template: str | None = None) -> None:
    admin(url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
    admin(url, create)


def build_template(url: str, parents: int) -> None:
    recreate(url, TEMPLATE)
    env = {**os.environ, "DATABASE_URL": with_db(url, TEMPLATE), "DJANGO_SETTINGS_MODULE": "bench_settings"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "bench"), env.get("PYTHONPATH", "")])
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v0"], check=True, env=env, cwd=REPO / "bench"
    )
    with psycopg.connect(with_db(url, TEMPLATE), autocommit=True) as conn:
        for statement in GENERATE:
            conn.execute(statement, {"n": parents})  # type: ignore[arg-type]
        conn.execute("VACUUM ANALYZE")


def fingerprint(url: str, db: str) -> dict[str, tuple[int, str]]:
    """Row count and a digest of the primary keys left in each table."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(with_db(url, db)) as conn:
        for table in TABLES:
            ids = conn.execute(sql.SQL("SELECT id FROM {} ORDER BY id").format(sql.Identifier(table))).fetchall()
            out[table] = (len(ids), hashlib.sha256(",".join(str(r[0]) for r in ids).encode()).hexdigest()[:16])
    return out


def timed(url: str, db: str, statement: str, params: dict[str, Any] | None = None) -> float:
    with psycopg.connect(with_db(url, db), autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM benchapp_parent")  # warm the connection, not the tables
        started = time.perf_counter()
        if statement.lstrip().startswith("WITH"):
            with conn.transaction():
                conn.execute(statement)  # type: ignore[arg-type]
        else:
            conn.execute(statement, params)  # type: ignore[arg-type]
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parents", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2, help="measurements per method (median reported)")
    parser.add_argument("--max-ratio", type=float, default=None, help="exit 1 if purge/bare exceeds this")
    args = parser.parse_args()

    url = server_url()
    started = time.perf_counter()
    build_template(url, args.parents)
    took = time.perf_counter() - started
    print(f"template: {args.parents:,} parents, {2 * args.parents:,} children, built in {took:.1f}s")

    methods = {
        "bare DELETE (one statement, one transaction)": (BARE_DELETE, None),
        f"CALL retention.run_cleanup (batches of {args.batch_size:,})": (
            "CALL retention.run_cleanup(batch_size => %(batch)s, triggered_by => 'bench')",
            {"batch": args.batch_size},
        ),
    }
    times: dict[str, list[float]] = {m: [] for m in methods}
    states: dict[str, dict[str, tuple[int, str]]] = {}
    for round_ in range(args.rounds):
        for i, (name, (statement, params)) in enumerate(methods.items()):
            db = f"retention_bench_{i}"
            recreate(url, db, TEMPLATE)
            times[name].append(timed(url, db, statement, params))
            state = fingerprint(url, db)
            if name in states and states[name] != state:
                raise SystemExit(f"{name}: end state differs between rounds")
            states[name] = state
            admin(url, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))
        print(f"round {round_ + 1}: " + ", ".join(f"{t[-1]:.2f}s" for t in times.values()))

    reference = next(iter(states.values()))
    identical = all(s == reference for s in states.values())
    deleted = args.parents // 2 * 3
    bare = statistics.median(next(iter(times.values())))
    print()
    print(f"{'method':<48} {'median s':>9} {'rows/s':>12} {'ratio':>7}")
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"{name:<48} {median:>9.2f} {deleted / median:>12,.0f} {median / bare:>7.3f}")
    print(f"\nrows deleted per method: {deleted:,}; end states identical: {identical}")
    for table, (count, digest) in reference.items():
        print(f"  {table}: {count:,} rows left (ids sha256 {digest})")
    admin(url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
    if not identical:
        raise SystemExit("end states differ")
    ratio = statistics.median(list(times.values())[1]) / bare
    if args.max_ratio is not None and ratio > args.max_ratio:
        raise SystemExit(f"ratio {ratio:.3f} exceeds {args.max_ratio}")


if __name__ == "__main__":
    main()
