"""What the proof of deletion costs: run_cleanup with and without storing the deleted keys.

    .venv/bin/python bench/proof_cost.py                  # 1M parents, 6 rounds
    .venv/bin/python bench/proof_cost.py --parents 100000 --rounds 3
    .venv/bin/python bench/proof_cost.py --batches 40     # per batch instead: 40 pairs of 5,000 roots

Each round purges three copies of one template (issue 7's two-CASCADE shape): the bare DELETE,
run_cleanup as shipped (keys recorded per batch, digested per item, run sealed), and run_cleanup
with the keys dropped on the way in: a BEFORE INSERT trigger on retention_deleted_keys returns NULL
in that copy (the purge still builds the key arrays; the items get empty digests). Medians and
ratios are printed; the end states of the three must be identical.

With --batches N, one copy instead: N pairs of committed batches of 5,000 eligible roots each,
purged by the model's generated function with the keys recorded (retention.item_id set to a
running item) and without, alternating which goes first; per-batch medians and means.
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

from common import Shape, build_template, drop, fingerprint, recreate, running_item, server_url, with_db
from run import BARE_SIMPLE, COPY, timed_sql

TEMPLATE = "retention_bench_proof_template"
DROP_KEYS = """
CREATE FUNCTION bench_drop_keys() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER bench_drop_keys BEFORE INSERT ON retention_deleted_keys FOR EACH ROW EXECUTE FUNCTION bench_drop_keys();
"""
CALL = "CALL retention.run_cleanup(triggered_by => 'bench')"


def batch_pairs(url: str, pairs: int) -> None:
    recreate(url, COPY, TEMPLATE)
    with psycopg.connect(with_db(url, COPY)) as conn:
        purge = conn.execute("SELECT purge_function FROM retention_policy WHERE model_path = 'benchsimple.Parent'")
        function = sql.Identifier("retention", purge.fetchone()[0])  # type: ignore[index]
        item = running_item(conn, "benchsimple.Parent")
        roots = conn.execute(
            "SELECT id::text FROM benchsimple_parent WHERE is_deleted ORDER BY id LIMIT %s", [pairs * 2 * 5000]
        ).fetchall()
        conn.commit()
        chunks = [[r[0] for r in roots[i : i + 5000]] for i in range(0, len(roots), 5000)]
        times: dict[str, list[float]] = {"keys recorded": [], "no keys": []}
        for pair in range(pairs):
            order = ("keys recorded", "no keys") if pair % 2 == 0 else ("no keys", "keys recorded")
            for offset, mode in enumerate(order):
                conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
                conn.execute(
                    "SELECT set_config('retention.item_id', %s, true)", [str(item) if mode == "keys recorded" else ""]
                )
                started = time.perf_counter()
                conn.execute(sql.SQL("SELECT {}(%s, false)").format(function), [chunks[2 * pair + offset]])
                conn.commit()
                times[mode].append(time.perf_counter() - started)
    drop(url, COPY)
    drop(url, TEMPLATE)
    print(f"\n{pairs} pairs of committed batches of 5,000 roots (15,000 rows)")
    print("| mode | median ms | mean ms |\n|---|---|---|")
    for mode, values in times.items():
        print(f"| {mode} | {1000 * statistics.median(values):.1f} | {1000 * statistics.mean(values):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parents", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batches", type=int, default=0, help="measure N pairs of batches instead of whole runs")
    args = parser.parse_args()
    url = server_url()
    shape = Shape(args.parents, mixed=False)
    build_template(url, TEMPLATE, shape)
    if args.batches:
        batch_pairs(url, args.batches)
        return
    times: dict[str, list[float]] = {"bare DELETE": [], "run_cleanup": [], "run_cleanup, keys dropped": []}
    states: dict[str, object] = {}
    for round_ in range(args.rounds):
        for name in times:
            recreate(url, COPY, TEMPLATE)
            if name.endswith("keys dropped"):
                with psycopg.connect(with_db(url, COPY), autocommit=True) as conn:
                    conn.execute(DROP_KEYS)  # type: ignore[arg-type]
            times[name].append(timed_sql(url, BARE_SIMPLE if name == "bare DELETE" else CALL))
            states[name] = fingerprint(url, COPY, shape)
            print(f"round {round_}: {name}: {times[name][-1]:.2f}s", flush=True)
    drop(url, COPY)
    drop(url, TEMPLATE)
    medians = {name: statistics.median(t) for name, t in times.items()}
    bare = medians["bare DELETE"]
    print(f"\n{shape.label}, {args.rounds} rounds")
    print("| method | median s | ratio to bare DELETE |\n|---|---|---|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds:.2f} | {seconds / bare:.2f} |")
    proof, plain = medians["run_cleanup"], medians["run_cleanup, keys dropped"]
    print(f"storing the deleted keys costs {100 * (proof / plain - 1):+.1f}% of run_cleanup's time")
    identical = len({repr(s) for s in states.values()}) == 1
    print(f"end states identical: {identical}")
    if not identical:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
