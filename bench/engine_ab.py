"""run_cleanup of an earlier commit against the working tree's, interleaved on the same data (issue 25).

    .venv/bin/python bench/engine_ab.py --base b3a574c --schema many,simple,chain,kept --parents 400000

On this machine kind the same purge moves 10-40% between runs minutes apart, so a before/after
taken as two runs of bench/run.py says little about a change worth 10%. Here each schema's data set
is built twice, migrated once by the base commit's package (a git worktree put first on PYTHONPATH,
its SQL files with it) and once by the working tree's, and the two purges alternate round by round
on fresh copies of their template: the medians and each round's ratio, working tree / base. Both
end states must be the same."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, SCHEMAS, STAMPS, Shape, build_template, drop, fingerprint, recreate, server_url, with_db

COPY = "retention_ab_copy"


def template(url: str, shape: Shape, side: str, pythonpath: str | None) -> str:
    name = f"retention_ab_{shape.kind}_{side}"
    saved = os.environ.get("PYTHONPATH")
    if pythonpath:
        os.environ["PYTHONPATH"] = pythonpath
    try:
        build_template(url, name, shape)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    return name


def timed_purge(url: str, template_name: str, shape: Shape) -> tuple[float, dict[str, tuple[int, str]]]:
    recreate(url, COPY, template_name)
    with psycopg.connect(with_db(url, COPY), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        conn.execute("CALL retention.run_cleanup(triggered_by => 'bench')")
        seconds = time.perf_counter() - started
    return seconds, fingerprint(url, COPY, shape)


def compare(url: str, shape: Shape, worktree: Path, rounds: int) -> None:
    sides = {"base": template(url, shape, "base", str(worktree)), "head": template(url, shape, "head", None)}
    times: dict[str, list[float]] = {side: [] for side in sides}
    states = set()
    for _ in range(rounds):
        for side, name in sides.items():
            seconds, state = timed_purge(url, name, shape)
            times[side].append(seconds)
            states.add(tuple(sorted(state.items())))
    base, head = (statistics.median(times[s]) for s in ("base", "head"))
    ratios = ", ".join(f"{h / b:.2f}" for b, h in zip(times["base"], times["head"], strict=True))
    print(
        f"| {shape.label} | {base:.2f} | {head:.2f} | {head / base:.3f} | {ratios} | {len(states) == 1} |",
        flush=True,
    )
    for name in sides.values():
        drop(url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the commit to compare the working tree with")
    parser.add_argument("--schema", default="many,simple,chain", help=f"comma-separated: {', '.join(SCHEMAS)}")
    parser.add_argument("--parents", type=int, default=400_000)
    parser.add_argument("--stamps", default="one", help=f"comma-separated: {', '.join(STAMPS)}")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url = server_url()
    with tempfile.TemporaryDirectory() as tmp:
        worktree = Path(tmp) / "base"
        git = ["git", "-C", str(REPO), "worktree"]
        subprocess.run([*git, "add", "-q", "--detach", str(worktree), args.base], check=True)
        try:
            print(f"base {args.base}, head: the working tree; {args.rounds} rounds alternating; run_cleanup seconds\n")
            print("| data set | base s | head s | head / base | per round | same end state |")
            print("|---|---|---|---|---|---|")
            for schema in args.schema.split(","):
                for stamps in args.stamps.split(","):
                    shape = Shape(
                        parents=args.parents,
                        mixed=schema == "mixed",
                        kept=schema == "kept",
                        schema=schema if schema in ("many", "chain") else "",
                        stamps=stamps,
                    )
                    compare(url, shape, worktree, args.rounds)
        finally:
            subprocess.run([*git, "remove", "--force", str(worktree)], check=True)
            drop(url, COPY)


if __name__ == "__main__":
    main()
