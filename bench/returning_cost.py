"""What capturing the deleted keys costs a batch (issue 25): the DBA's loop statements with and without
RETURNING, beside the generated purge function with its proof recorded and without.

    .venv/bin/python bench/returning_cost.py --schema many --parents 400000 --stamps row --rounds 8

One copy of one template. Each round purges one committed batch of 5,000 eligible roots (taken in the
keyset order run_cleanup takes them) by each method in turn, the order rotating from round to round, so
that every method meets the same mix of early and late batches. Every method runs from PL/pgSQL (its
plans cached, as in run_cleanup and in the DBA's loop), with the constraints IMMEDIATE as in a purge.
After each batch its roots must be gone. Prints per-batch medians and means, and each method's median
over the loop's.

PostgreSQL's DELETE ... RETURNING fetches every deleted row again to project it (nodeModifyTable.c,
ExecDelete), whatever it returns: the difference between the first two lines is that fetch, the
tuplestore of the returned rows and the sort into arrays. run_cleanup needs those keys for its proof
of deletion (retention_deleted_keys, digested into the sealed item).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import STAMPS, Shape, build_template, drop, recreate, running_item, server_url, with_db
from run import LOOP_CHILDREN

TEMPLATE = "retention_bench_returning_template"
COPY = "retention_bench_returning_copy"
SCHEMAS = ("many", "simple", "chain")
BATCH = 5000

LOOP = "the loop's DELETEs"
LOOP_RETURNING = "the loop's DELETEs, RETURNING the keys"
PURGE = "purge function, keys recorded (run_cleanup's)"
PURGE_NO_PROOF = "purge function, keys not recorded"
METHODS = (LOOP, LOOP_RETURNING, PURGE, PURGE_NO_PROOF)

PROCEDURE = "CREATE PROCEDURE {name}(ids bigint[]) LANGUAGE plpgsql AS $$ DECLARE k bigint[]; BEGIN {body} END $$"
RETURNING = "WITH d AS ({statement} RETURNING id) SELECT array_agg(id ORDER BY id) INTO k FROM d;"


def loop_statements(schema: str) -> list[str]:
    """The DBA's loop's statements for one batch (bench/run.py), children first, then the roots."""
    parent = f"DELETE FROM bench{schema}_parent WHERE id = ANY(ids)"  # noqa: S608 (SCHEMAS: the bench's own tables)
    return [*LOOP_CHILDREN[schema], parent]


def create_procedures(conn: psycopg.Connection, schema: str) -> None:
    statements = loop_statements(schema)
    bodies = {
        "bench_loop": " ".join(f"{s};" for s in statements),
        "bench_loop_returning": " ".join(RETURNING.format(statement=s) for s in statements),
    }
    for name, body in bodies.items():
        conn.execute(PROCEDURE.format(name=name, body=body))  # type: ignore[arg-type]


def purge_batch(conn: psycopg.Connection, method: str, ids: list[int], function: sql.Composable, item: int) -> float:
    """One committed batch by one method; its seconds, commit included."""
    conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    conn.execute("SELECT set_config('retention.item_id', %s, true)", [str(item) if method == PURGE else ""])
    started = time.perf_counter()
    if method == LOOP:
        conn.execute("CALL bench_loop(%s)", [ids])
    elif method == LOOP_RETURNING:
        conn.execute("CALL bench_loop_returning(%s)", [ids])
    else:
        conn.execute(sql.SQL("SELECT {}(%s::text[], false)").format(function), [[str(i) for i in ids]])
    conn.commit()
    return time.perf_counter() - started


def measure(url: str, schema: str, rounds: int) -> dict[str, list[float]]:
    parent = f"bench{schema}_parent"
    recreate(url, COPY, TEMPLATE)
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    left = sql.SQL("SELECT count(*) FROM {} WHERE id = ANY(%s)").format(sql.Identifier(parent))
    with psycopg.connect(with_db(url, COPY)) as conn:
        create_procedures(conn, schema)
        model = f"bench{schema}.Parent"
        item = running_item(conn, model)
        name = conn.execute("SELECT purge_function FROM retention_policy WHERE model_path = %s", [model])
        function = sql.Identifier("retention", str(name.fetchone()[0]))  # type: ignore[index]
        roots = [
            int(r[0])
            for r in conn.execute(
                sql.SQL("SELECT id FROM {} WHERE is_deleted ORDER BY deleted_at, id").format(sql.Identifier(parent))
            ).fetchall()
        ]
        conn.commit()
        batches = [roots[i : i + BATCH] for i in range(0, len(roots), BATCH)]
        if len(batches) < rounds * len(METHODS):
            raise SystemExit(f"{len(batches)} batches of eligible roots, fewer than {rounds} rounds x {len(METHODS)}")
        for round_ in range(rounds):
            order = METHODS[round_ % len(METHODS) :] + METHODS[: round_ % len(METHODS)]
            for method in order:
                ids = batches.pop(0)
                times[method].append(purge_batch(conn, method, ids, function, item))
                if conn.execute(left, [ids]).fetchone() != (0,):
                    raise SystemExit(f"{method}: roots of the batch are still there")
                conn.commit()
    drop(url, COPY)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schema", default="many", choices=SCHEMAS)
    parser.add_argument("--parents", type=int, default=400_000)
    parser.add_argument("--stamps", default="row", choices=list(STAMPS))
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    url = server_url()
    shape = Shape(args.parents, mixed=False, stamps=args.stamps, schema=args.schema)
    build_template(url, TEMPLATE, shape)
    times = measure(url, args.schema, args.rounds)
    drop(url, TEMPLATE)
    loop = statistics.median(times[LOOP])
    print(f"\n{shape.label}: {args.rounds} committed batches of {BATCH:,} roots per method\n")
    print("| method | median ms | mean ms | median / the loop's |\n|---|---|---|---|")
    for method, values in times.items():
        median = statistics.median(values)
        print(f"| {method} | {1000 * median:.1f} | {1000 * statistics.mean(values):.1f} | {median / loop:.3f} |")


if __name__ == "__main__":
    main()
