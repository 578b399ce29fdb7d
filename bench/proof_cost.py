"""What the proof of deletion costs: run_cleanup with and without recording the deleted keys.

    .venv/bin/python bench/proof_cost.py                  # 1M parents, 6 rounds
    .venv/bin/python bench/proof_cost.py --parents 100000 --rounds 3

Each round purges three copies of one template (issue 7's two-CASCADE shape): the bare DELETE,
the current run_cleanup (SQL 0.7: keys recorded per batch, digested per item, run sealed), and
run_cleanup of SQL 0.6 (no keys, no digests, no seal) installed into its copy. Medians and ratios
are printed; the end states of the three must be identical.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Shape, build_template, drop, fingerprint, recreate, server_url, with_db
from run import BARE_SIMPLE, COPY, timed_sql

TEMPLATE = "retention_bench_proof_template"
SQL_0_6 = Path(__file__).resolve().parents[1] / "sql" / "django_pg_retention--0.5--0.6.sql"
CALL = "CALL retention.run_cleanup(triggered_by => 'bench')"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parents", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    url = server_url()
    shape = Shape(args.parents, mixed=False)
    build_template(url, TEMPLATE, shape)
    times: dict[str, list[float]] = {"bare DELETE": [], "run_cleanup 0.7 (proof)": [], "run_cleanup 0.6 (no proof)": []}
    states: dict[str, object] = {}
    for round_ in range(args.rounds):
        for name in times:
            recreate(url, COPY, TEMPLATE)
            if name.endswith("(no proof)"):
                with psycopg.connect(with_db(url, COPY), autocommit=True) as conn:
                    # 0.6 does not fill the digests column, which has no database default.
                    conn.execute("ALTER TABLE retention_run_item ALTER digests SET DEFAULT '{}'")
                    conn.execute(SQL_0_6.read_text(encoding="utf-8"))  # type: ignore[arg-type]
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
    proof, plain = medians["run_cleanup 0.7 (proof)"], medians["run_cleanup 0.6 (no proof)"]
    print(f"proof of deletion costs {100 * (proof / plain - 1):+.1f}% of run_cleanup's time")
    identical = len({repr(s) for s in states.values()}) == 1
    print(f"end states identical: {identical}")
    if not identical:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
