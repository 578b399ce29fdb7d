"""What an item's digests cost the server backend: 0.1's item_digests against the installed one.

    .venv/bin/python bench/digest_memory.py                          # 6M and 24M keys a shape
    .venv/bin/python bench/digest_memory.py --keys 300000 --keys 1200000

An item keeps the keys it deleted (retention_deleted_keys, 5,000 a batch) until finish_item hashes
them into its digests (count, SHA-256 and chunk per table) and drops them. This script writes such keys
for a made-up item in three shapes: in order (three tables, each batch above the last: a backlog taken
in primary-key order), not in order (one table, batches descending: keyset order over timestamps that
run against the keys), and text keys (one table, a sixth of the keys). For each shape and number of
keys it calls the installed item_digests, and at the first number also 0.1's (taken from
sql/django_pg_retention--0.1.sql, installed under another name), each in a new session whose peak
private memory (RssAnon) is sampled, and checks each digest against audit.keys_digest over the same
keys (0.1's: without chunks). Flat memory: the installed function's peak stays the same from one
number of keys to the next. The server must run on this machine (scripts/devdb; DATABASE_URL to use
another local one)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import django
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, REPO, manage, recreate, server_url, with_db
from run import BackendMemory

CHUNK = 65536  # keys per chunk of the installed item_digests

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


def expected_digests(url: str, chunk: int | None) -> dict[str, str]:
    """audit.keys_digest over the item's stored keys, per table."""
    from django_pg_retention.audit import keys_digest  # after django.setup() in main

    with psycopg.connect(with_db(url, DB), autocommit=True) as conn:
        rows = conn.execute("SELECT db_table, min(key_order) FROM retention_deleted_keys GROUP BY db_table").fetchall()
        found: dict[str, str] = {}
        for table, order in rows:
            keys = conn.execute(
                "SELECT key FROM retention_deleted_keys k, unnest(k.keys) AS key WHERE k.db_table = %s", [table]
            ).fetchall()
            found[table] = keys_digest((key for (key,) in keys), order, chunk)
        return found


def measure(url: str, keys: int, baseline: bool) -> bool:
    """One row per function for each shape at this number of keys; False if a digest is wrong."""
    correct = True
    for shape, insert in SHAPES.items():
        with psycopg.connect(with_db(url, DB), autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")  # no audit guard, no foreign key: a made-up item
            conn.execute("DELETE FROM retention_deleted_keys")
            statement = insert.format(batch=BATCH, keys=keys, n=keys // BATCH)
            columns = "run_item_id, db_table, key_order, ascending, keys"
            conn.execute(f"INSERT INTO retention_deleted_keys ({columns}) {statement}")  # type: ignore[arg-type]
        functions = {"item_digests_0_1": None, "item_digests": CHUNK} if baseline else {"item_digests": CHUNK}
        for function, chunk in functions.items():
            seconds, peak_kb, result = digests(url, function)
            expected = expected_digests(url, chunk)
            right = {table: entry["sha256"] for table, entry in result.items()} == expected
            correct = correct and right
            peak = f"{peak_kb / 1024:.1f}" if peak_kb is not None else "not sampled (server not on this machine)"
            print(f"| {shape} | {keys:,} | {function} | {seconds:.2f} | {peak} | {right} |", flush=True)
    return correct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--keys", type=int, action="append", help="keys per shape, a multiple of 30,000 (repeat: 6M and 24M)"
    )
    args = parser.parse_args()
    sizes: list[int] = args.keys or [6_000_000, 24_000_000]
    url = server_url()
    # audit.keys_digest needs Django's app registry (audit.py imports the models): the bench settings.
    os.environ.update(DATABASE_URL=with_db(url, DB), DJANGO_SETTINGS_MODULE="bench_settings", BENCH_APP="benchsimple")
    sys.path.insert(0, str(BENCH))
    django.setup()
    recreate(url, DB)
    manage(url, DB, "benchsimple", "migrate", "-v0")
    with psycopg.connect(with_db(url, DB), autocommit=True) as conn:
        install_baseline(conn)
        version = conn.execute("SELECT retention.sql_version()").fetchone()[0]  # type: ignore[index]
    print(f"item_digests of 0.1 (at {sizes[0]:,} keys) against the installed one (SQL {version})\n")
    print("| shape | keys | function | seconds | backend peak private memory MiB | digests = audit.keys_digest |")
    print("|---|---|---|---|---|---|")
    correct = all([measure(url, keys, baseline=i == 0) for i, keys in enumerate(sizes)])
    recreate(url, DB)
    if not correct:
        raise SystemExit("a digest differs from audit.keys_digest over the same keys")


if __name__ == "__main__":
    main()
