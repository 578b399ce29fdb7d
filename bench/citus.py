"""Issue 27: the purge on a 3-node Citus cluster against the same data on one node.

    .venv/bin/python bench/citus.py                  # 1M eligible parents, two children each
    .venv/bin/python bench/citus.py --parents 100000 # what a shared machine can afford
    .venv/bin/python bench/citus.py --shard-count 4 --max-batch-size 20000 --batch-size 20000
                                                     # Citus's rule for the shard count (2-4x the
                                                     # workers' cores), batches of 20,000

Parents are tests/citus's logs_order rows (distributed by tenant_id over the two workers; 32 shards,
Citus's default, unless --shard-count says otherwise),
children its logs_line rows (colocated, CASCADE), every one eligible. The single node is a database
without Citus on the coordinator's server (the same PostgreSQL binaries and settings). For each
side and method the data is seeded afresh, then timed: one bare DELETE (children joined to their
parents, then the parents, in one transaction) and CALL retention.run_cleanup(model => 'logs.Order').
Both must leave no parent and no child. Needs ../shared/citus (built and started here, as the tests do).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citus.settings")

import django  # noqa: E402

django.setup()

from citus import conftest as cluster  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

SIDES = {"cluster (coordinator + 2 workers)": "default", "one node": "single"}

SEED = [
    "TRUNCATE logs_linenote, logs_comment, logs_invoice, logs_line, logs_order, logs_shipment, logs_ordertag",
    "INSERT INTO logs_order (id, tenant_id, is_deleted, deleted_at)"
    " SELECT i, i % 97, true, now() - interval '400 days' + i * interval '1 ms' FROM generate_series(1, %(n)s) i",
    "INSERT INTO logs_line (id, tenant_id, order_id, is_deleted, deleted_at)"
    " SELECT i, ((i + 1) / 2) % 97, (i + 1) / 2, true, now() - interval '400 days'"
    " FROM generate_series(1, 2 * %(n)s) i",
    "VACUUM ANALYZE logs_order",
    "VACUUM ANALYZE logs_line",
]

BARE = [
    "BEGIN",
    "DELETE FROM logs_line l USING logs_order o WHERE l.tenant_id = o.tenant_id AND l.order_id = o.id"
    " AND o.is_deleted AND o.deleted_at < now() - interval '30 days'",
    "DELETE FROM logs_order o WHERE o.is_deleted AND o.deleted_at < now() - interval '30 days'",
    "COMMIT",
]

PURGE = ["CALL retention.run_cleanup(model => 'logs.Order', triggered_by => 'bench')"]


def run(using: str, statements: list[str], n: int = 0) -> float:
    connection = connections[using]
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    raw.autocommit = True
    started = time.monotonic()
    for statement in statements:
        raw.execute(statement.replace("%(n)s", str(n)))  # type: ignore[arg-type]
    return time.monotonic() - started


def left(using: str) -> int:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM logs_order) + (SELECT count(*) FROM logs_line)")
        return int(cursor.fetchone()[0])  # type: ignore[index]


def last_item(using: str) -> str:
    """The last run item's status and error, to say why a purge left rows."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT status || ': ' || error FROM retention_run_item ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
        return str(row[0]) if row else "no run item"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parents", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, help="run_cleanup's batch_size (default: adaptive)")
    parser.add_argument("--max-batch-size", type=int, help="RETENTION_CLEANUP_CONFIG's max_batch_size (default 5,000)")
    parser.add_argument(
        "--shard-count", type=int, default=32, help="citus.shard_count of the distributed tables (Citus's default: 32)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args()
    cluster._run("build.sh")  # pyright: ignore[reportPrivateUsage]
    cluster._run("cluster.sh", "start")  # pyright: ignore[reportPrivateUsage]
    try:
        cluster._create_database()  # pyright: ignore[reportPrivateUsage]
        with cluster.node(cluster.NODES[0]) as conn:  # read by the migration that distributes the tables
            conn.execute(f"ALTER DATABASE {cluster.DATABASE} SET citus.shard_count = {args.shard_count:d}")
        # Synced into retention_config by migrate: the whole backlog in one run (the cap of 100,000
        # would stop a 1M run at needs_confirmation), and the largest batch asked for.
        config: dict[str, object] = {**settings.RETENTION_CLEANUP_CONFIG, "max_deletions_per_run": None}
        if args.max_batch_size:
            config["max_batch_size"] = args.max_batch_size
        settings.RETENTION_CLEANUP_CONFIG = config
        call_command("migrate", verbosity=0)
        call_command("migrate", database="single", verbosity=0)
        results: dict[tuple[str, str], float] = {}
        for side, using in SIDES.items():
            purge = [p.replace(")", f", batch_size => {args.batch_size})") for p in PURGE] if args.batch_size else PURGE
            for method, statements in (("bare DELETE", BARE), ("run_cleanup", purge)):
                run(using, SEED, args.parents)
                results[(side, method)] = run(using, statements)
                assert left(using) == 0, f"{side} {method}: rows left ({last_item(using)})"
                print(f"{side:36} {method:12} {results[(side, method)]:8.2f} s", flush=True)
        batches = f"batch_size {args.batch_size}" if args.batch_size else "adaptive batches"
        data = f"{args.parents:,} eligible parents, {2 * args.parents:,} children (CASCADE)"
        print(f"\n{data}, {args.shard_count} shards over 2 workers, {batches}, seconds:")
        print(f"{'':14} {'one node':>10} {'cluster':>10} {'one node / cluster':>20}")
        for method in ("bare DELETE", "run_cleanup"):
            single = results[("one node", method)]
            spread = results[("cluster (coordinator + 2 workers)", method)]
            print(f"{method:14} {single:10.2f} {spread:10.2f} {single / spread:20.2f}")
        for side in SIDES:
            ratio = results[(side, "run_cleanup")] / results[(side, "bare DELETE")]
            print(f"run_cleanup / bare DELETE on {side}: {ratio:.2f}")
        print(f"\nMachine: {os.cpu_count()} CPUs for all three nodes and the client.")
    finally:
        connections.close_all()
        if not args.keep:
            cluster._run("cluster.sh", "stop")  # pyright: ignore[reportPrivateUsage]


if __name__ == "__main__":
    main()
