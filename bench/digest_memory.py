"""What an item's digests cost the server backend: 0.1's item_digests against the installed one.

    .venv/bin/python bench/digest_memory.py                  # 6,000,000 keys (a 4M-parent run of bench/run.py)
    .venv/bin/python bench/digest_memory.py --keys 20000000

An item keeps the keys it deleted (retention_deleted_keys, 5,000 a batch) until finish_item hashes
them into its digests (count and SHA-256 per table) and drops them. This script writes such keys for
a made-up item in three shapes: in order (three tables, each batch above the last: a backlog taken in
primary-key order), not in order (one table, batches descending: keyset order over timestamps that
run against the keys), and text keys (one table, a sixth of the keys). For each shape it calls 0.1's
item_digests (taken from sql/django_pg_retention--0.1.sql, installed under another name) and the
installed one, each in a new session whose peak private memory (RssAnon) is sampled, and checks that
both give the same digests. The server must run on this machine (scripts/devdb; DATABASE_URL to use
another local one)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, manage, recreate, server_url, with_db
from run import BackendMemory

DB = "retention_digest_bench"
BATCH = 5000

# Each shape: the INSERT of its keys under item 1, from generate_series of batches.
SHAPES = {
    "in order: 3 tables, ascending batches": (
        "SELECT 1, t, 'numeric', true, (SELECT array_agg(x::text ORDER BY x)"
        "  FROM generate_series(b * {batch} + 1, b * {batch} + {batch}) x)"
        " FROM generate_series(0, {keys} / 3 / {batch} - 1) b, unnest(ARRAY['ta', 'tb', 'tc']) t"
    ),
    "not in order: 1 table, descending batches": (
        "SELECT 1, 'tn', 'numeric', true, (SELECT array_agg(x::text ORDER BY x)"
        "  FROM generate_series(({n} - 1 - b) * {batch} + 1, ({n} - 1 - b) * {batch} + {batch}) x)"
        " FROM generate_series(0, {n} - 1) b"
    ),
    "text keys: 1 table, a sixth of the keys": (
        "SELECT 1, 'tt', 'bytewise', false, (SELECT array_agg(md5(x::text))"
        "  FROM generate_series(b * {batch} + 1, b * {batch} + {batch}) x)"
        " FROM generate_series(0, {keys} / 6 / {batch} - 1) b"
    ),
}


def install_baseline(conn: psycopg.Connection[Any]) -> None:
    """0.1's item_digests as retention.item_digests_0_1, with the search path the migration gives it."""
    released = (REPO / "sql" / "django_pg_retention--0.1.sql").read_text()
    found = re.search(r"CREATE OR REPLACE FUNCTION retention\.item_digests\(.*?\n\$\$;\n", released, re.S)
    if not found:
        raise SystemExit("item_digests not found in sql/django_pg_retention--0.1.sql")
    conn.execute(found.group(0).replace("retention.item_digests(", "retention.item_digests_0_1(", 1))  # type: ignore[arg-type]
    conn.execute("ALTER FUNCTION retention.item_digests_0_1(bigint) SET search_path = pg_catalog, public, pg_temp")


def digests(url: str, function: str) -> tuple[float, int | None, Any]:
    with psycopg.connect(with_db(url, DB), autocommit=True) as conn:
        query = f"SELECT retention.{function}(1)"
        with BackendMemory(conn.info.backend_pid) as sampled:
            started = time.perf_counter()
            result = conn.execute(query).fetchone()[0]  # type: ignore[index, arg-type]
            seconds = time.perf_counter() - started
        return seconds, sampled.peak_kb, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=6_000_000, help="keys per shape (a multiple of 30,000)")
    args = parser.parse_args()
    url = server_url()
    recreate(url, DB)
    manage(url, DB, "benchsimple", "migrate", "-v0")
    with psycopg.connect(with_db(url, DB), autocommit=True) as conn:
        install_baseline(conn)
        version = conn.execute("SELECT retention.sql_version()").fetchone()[0]  # type: ignore[index]
    print(f"{args.keys:,} keys a shape; item_digests of 0.1 against the installed one (SQL {version})\n")
    print("| keys | function | seconds | backend peak private memory MiB | same digests |")
    print("|---|---|---|---|---|")
    failed = False
    for shape, insert in SHAPES.items():
        with psycopg.connect(with_db(url, DB), autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")  # no audit guard, no foreign key: a made-up item
            conn.execute("DELETE FROM retention_deleted_keys")
            statement = insert.format(batch=BATCH, keys=args.keys, n=args.keys // BATCH)
            columns = "run_item_id, db_table, key_order, ascending, keys"
            conn.execute(f"INSERT INTO retention_deleted_keys ({columns}) {statement}")  # type: ignore[arg-type]
        results = {f: digests(url, f) for f in ("item_digests_0_1", "item_digests")}
        same = results["item_digests_0_1"][2] == results["item_digests"][2]
        failed = failed or not same
        for function, (seconds, peak_kb, _) in results.items():
            peak = f"{peak_kb / 1024:.1f}" if peak_kb is not None else "not sampled (server not on this machine)"
            print(f"| {shape} | {function} | {seconds:.2f} | {peak} | {same} |", flush=True)
    recreate(url, DB)
    if failed:
        raise SystemExit("the two functions gave different digests")


if __name__ == "__main__":
    main()
