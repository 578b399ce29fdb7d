"""run_cleanup against the DBA's locked batched loop, statement by statement (issue 25).

    .venv/bin/python bench/statement_cost.py --schema many --parents 200000 --stamps one

Both run on a fresh copy of the same template with pg_stat_statements tracking nested statements and
their planning (pg_stat_statements.track_planning, set for the session): the statements that took the
most planning plus execution time, with their calls and plans, and the planning time of the whole
purge. The loop's foreign-key checks run at its COMMITs (Django's constraints are deferred); the
purge's inside its DELETE statement (it makes them immediate), so a statement's time includes the
foreign-key queries listed under it. The server must preload pg_stat_statements (scripts/devdb with
DEVDB_STATEMENTS=1, a cluster of its own on port 54374 unless DATABASE_URL is set), as for
bench/breakdown.py."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Shape, build_template, drop, recreate, with_db
from run import batched_loop

TEMPLATE = "retention_statements_template"
COPY = "retention_statements_copy"

TOP = """
SELECT calls, plans, total_plan_time, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 100)
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query NOT LIKE '%%pg_stat_statements%%'
 ORDER BY total_plan_time + total_exec_time DESC LIMIT %s
"""
PLANNING = """
SELECT coalesce(sum(total_plan_time), 0), coalesce(sum(plans), 0) FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def measure(url: str, name: str, statement: str, top: int) -> None:
    recreate(url, COPY, TEMPLATE)
    with psycopg.connect(with_db(url, COPY), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SET pg_stat_statements.track_planning = on")
        conn.execute("SELECT pg_stat_statements_reset()")
        started = time.perf_counter()
        conn.execute(statement)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        plan_ms, plans = conn.execute(PLANNING).fetchone()  # type: ignore[misc]
        rows = conn.execute(TOP, (top,)).fetchall()
    print(f"\n## {name}: {seconds:.2f} s; planning {plan_ms:,.0f} ms in {plans:,} plans\n")
    print("| calls | plans | plan ms | exec ms | statement |")
    print("|---|---|---|---|---|")
    for calls, plans, plan, execution, query in rows:
        print(f"| {calls:,} | {plans:,} | {plan:,.0f} | {execution:,.0f} | `{query}` |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schema", default="many", choices=["simple", "many", "chain"])
    parser.add_argument("--parents", type=int, default=200_000)
    parser.add_argument("--stamps", default="one", choices=["row", "shared", "one"])
    parser.add_argument("--top", type=int, default=10, help="statements listed per method")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        os.environ.update(DEVDB_STATEMENTS="1", DEVDB_PORT="54374", DEVDB_DIR="/var/tmp/retention-statements")
    from common import server_url

    url = server_url()
    shape = Shape(args.parents, mixed=False, stamps=args.stamps, schema="" if args.schema == "simple" else args.schema)
    build_template(url, TEMPLATE, shape)
    print(f"{shape.label}; statements by planning + execution time (pg_stat_statements, nested)")
    measure(url, "CALL retention.run_cleanup()", "CALL retention.run_cleanup(triggered_by => 'bench')", args.top)
    measure(url, "the batched loop, FOR UPDATE SKIP LOCKED", batched_loop(shape.kind, locked=True), args.top)
    drop(url, COPY)
    drop(url, TEMPLATE)


if __name__ == "__main__":
    main()
