"""Benchmark: a purge against a streaming standby, with and without the throttle (issue 15).

    .venv/bin/python bench/standby_lag.py [--parents 1000000] [--apply-delay-ms 1000] [--workers 4]
    .venv/bin/python bench/standby_lag.py --pgbench-seconds 60 --idle-seconds 15   # pgbench as the load

Makes a hot standby of the scripts/devdb server (pg_basebackup -R, another port) that applies WAL
--apply-delay-ms behind (recovery_min_apply_delay: a standby that cannot keep up), then purges copies
of one template (the --simple shape, half eligible) four ways while four threads run an OLTP load on
live parents (lock_impact.py's: read 60%, update 30%, insert a child 10%): one bare DELETE, and
run_cleanup with no throttle, with max_replica_lag_bytes, and with batch_pause_ms. For each it prints
the time, the largest replay lag seen (sampled every 50 ms from pg_stat_replication), the WAL written
per row removed, and the load's p99 latency. The standby is removed at the end.

With --pgbench-seconds, the load is pgbench instead (the same mix as one statement each, as many
clients as --workers, no rate limit: it saturates the server), run that long around each purge; the
p99 counts the transactions that ended while the purge ran. --idle-seconds adds the load alone.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Shape, build_template, drop, recreate, server_url, with_db
from lock_impact import Workload, percentile

TEMPLATE = "retention_bench_lag_template"
COPY = "retention_bench_lag_copy"
STANDBY_PORT = 54338
LAG = "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)::bigint FROM pg_stat_replication"
BARE = (
    "WITH p AS (DELETE FROM benchsimple_parent WHERE is_deleted AND deleted_at < now() - interval '30 days'"
    " RETURNING id), a AS (DELETE FROM benchsimple_childa WHERE parent_id IN (SELECT id FROM p)),"
    " b AS (DELETE FROM benchsimple_childb WHERE parent_id IN (SELECT id FROM p)) SELECT count(*) FROM p"
)


class Standby:
    """A hot standby of the server at url, applying WAL delay_ms behind."""

    def __init__(self, url: str, delay_ms: int) -> None:
        with psycopg.connect(with_db(url, "postgres")) as conn:
            data = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
            major = int(str(conn.execute("SHOW server_version_num").fetchone()[0])) // 10000  # type: ignore[index]
            info = conn.info
            primary = f"host={info.host} port={info.port} user={info.user}"
        self.bindir = Path(f"/usr/lib/postgresql/{major}/bin")
        self.owner = pwd.getpwuid(data.stat().st_uid).pw_name
        self.root = Path(tempfile.mkdtemp(prefix="retention-bench-standby-"))
        shutil.chown(self.root, self.owner)
        self.data = self.root / "data"
        self.run("pg_basebackup", "-d", primary, "-D", str(self.data), "-R", "-X", "stream", "-c", "fast")
        options = (
            f"-p {STANDBY_PORT} -k {self.root} -c listen_addresses=127.0.0.1 -c hot_standby=on"
            f" -c recovery_min_apply_delay={delay_ms}ms"
        )
        self.run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "120", "-o", options, "start"
        )

    def run(self, binary: str, *args: str) -> None:
        prefix = ["runuser", "-u", self.owner, "--"] if os.geteuid() == 0 and self.owner != "root" else []
        subprocess.run([*prefix, str(self.bindir / binary), *args], check=True, capture_output=True, timeout=600)

    def remove(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def wait_caught_up(dsn: str, limit: int = 1 << 20, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while conn.execute(LAG).fetchone()[0] > limit:  # type: ignore[index]
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not catch up")
            time.sleep(0.2)


PGBENCH_SCRIPTS = {  # weight: statement, on live parents only (ids from bench_live)
    6: "SELECT name FROM benchsimple_parent WHERE id = (SELECT id FROM bench_live WHERE i = :k);",
    3: "UPDATE benchsimple_parent SET name = 'pgbench' WHERE id = (SELECT id FROM bench_live WHERE i = :k);",
    1: "INSERT INTO benchsimple_childa (parent_id, payload) SELECT id, 'pgbench' FROM bench_live WHERE i = :k;",
}


def pgbench_while(
    dsn: str, ids: list[int], workers: int, seconds: int, action: Callable[[], None]
) -> tuple[list[float], float]:
    """pgbench (as many clients as workers, no rate limit: saturating) on live parents for `seconds`,
    action started a second in; the latencies of the transactions that ended while action ran."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_live (i integer PRIMARY KEY, id bigint NOT NULL)")
        conn.execute("TRUNCATE bench_live")
        with conn.cursor().copy("COPY bench_live (i, id) FROM STDIN") as copy:
            for i, pid in enumerate(ids, start=1):
                copy.write_row((i, pid))
    work = Path(tempfile.mkdtemp(prefix="retention-bench-pgbench-"))
    scripts: list[str] = []
    for weight, text in PGBENCH_SCRIPTS.items():
        path = work / f"script{weight}.sql"
        path.write_text(f"\\set k random(1, :live)\n{text}\n")
        scripts += ["-f", f"{path}@{weight}"]
    command = [
        "pgbench",
        "-n",
        "-c",
        str(workers),
        "-j",
        str(min(workers, 2)),
        "-T",
        str(seconds),
        "-D",
        f"live={len(ids)}",
        "-l",
        "--log-prefix",
        str(work / "log"),
        *scripts,
        dsn,
    ]
    load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.0)
    started = time.time()
    action()
    ended = time.time()
    out, _ = load.communicate(timeout=seconds + 120)
    if load.returncode != 0:
        raise RuntimeError(f"pgbench failed: {out}")
    if ended > started + seconds - 1:
        raise RuntimeError(f"the purge outlasted pgbench's {seconds} s: raise --pgbench-seconds")
    latencies: list[float] = []
    for log in work.glob("log*"):
        for line in log.read_text().splitlines():
            fields = line.split()  # client, transaction, latency us, script, epoch s, us
            at = int(fields[4]) + int(fields[5]) / 1e6
            if started <= at <= ended:
                latencies.append(int(fields[2]) / 1e6)
    shutil.rmtree(work, ignore_errors=True)
    return latencies, ended - started


def measure(
    dsn: str, ids: list[int], workers: int, action: Callable[[], None], pgbench_seconds: int = 0
) -> dict[str, Any]:
    """Run action under the OLTP load (threads, or pgbench when pgbench_seconds), sampling the replay
    lag; the WAL it wrote and its figures."""
    largest = [0]
    done = threading.Event()

    def sample() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not done.is_set():
                largest[0] = max(largest[0], conn.execute(LAG).fetchone()[0])  # type: ignore[index]
                time.sleep(0.05)

    with psycopg.connect(dsn, autocommit=True) as conn:
        before = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
    sampler = threading.Thread(target=sample)
    sampler.start()
    if pgbench_seconds:
        latencies, took = pgbench_while(dsn, ids, workers, pgbench_seconds, action)
    else:
        latencies, took = Workload(dsn, ids, workers).run_while(action)
    done.set()
    sampler.join()
    with psycopg.connect(dsn, autocommit=True) as conn:
        wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [before]).fetchone()[0]  # type: ignore[index]
    return {
        "seconds": took,
        "largest_lag": largest[0],
        "wal": int(wal),
        "transactions": len(latencies),
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parents", type=int, default=1_000_000)
    parser.add_argument("--apply-delay-ms", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-lag-mb", type=int, default=8)
    parser.add_argument("--pause-ms", type=int, default=50)
    parser.add_argument(
        "--pgbench-seconds",
        type=int,
        default=0,
        help="the load from pgbench (run this long; each purge must end within it) instead of the threads",
    )
    parser.add_argument("--idle-seconds", type=int, default=0, help="also measure the load alone, this long")
    args = parser.parse_args()
    url = server_url()
    shape = Shape(args.parents, mixed=False)
    build_template(url, TEMPLATE, shape)
    standby = Standby(url, args.apply_delay_ms)
    rows = args.parents // 2 * 3  # eligible parents and their two children each
    # method -> (max_replica_lag_bytes, batch_pause_ms) for run_cleanup; None: the bare DELETE
    variants: dict[str, tuple[int | None, int] | str | None] = {
        **({"no purge (the load alone)": "idle"} if args.idle_seconds else {}),
        "one bare DELETE": None,
        "run_cleanup, no throttle": (None, 0),
        f"run_cleanup, max_replica_lag_bytes {args.max_lag_mb} MiB": (args.max_lag_mb << 20, 0),
        f"run_cleanup, batch_pause_ms {args.pause_ms}": (None, args.pause_ms),
    }
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, config in variants.items():
            recreate(url, COPY, TEMPLATE)
            dsn = with_db(url, COPY)
            with psycopg.connect(dsn, autocommit=True) as conn:
                if isinstance(config, tuple):
                    conn.execute("UPDATE retention_config SET max_replica_lag_bytes = %s, batch_pause_ms = %s", config)
                ids = [r[0] for r in conn.execute("SELECT id FROM benchsimple_parent WHERE NOT is_deleted LIMIT 20000")]
                conn.execute("CHECKPOINT")
            wait_caught_up(dsn)

            def action(dsn: str = dsn, config: tuple[int | None, int] | str | None = config) -> None:
                if config == "idle":
                    time.sleep(args.idle_seconds)
                    return
                with psycopg.connect(dsn, autocommit=config is not None) as conn:
                    if config is None:
                        with conn.transaction():
                            conn.execute(BARE)
                    else:
                        conn.execute("CALL retention.run_cleanup(triggered_by => 'bench')")

            results[name] = measure(dsn, ids, args.workers, action, args.pgbench_seconds)
            print(name, results[name], flush=True)
            drop(url, COPY)
    finally:
        standby.remove()
        drop(url, TEMPLATE)
    load = (
        f"pgbench, {args.workers} clients, no rate limit (60% read, 30% update, 10% insert a child)"
        if args.pgbench_seconds
        else f"{args.workers} OLTP threads"
    )
    print(
        f"\n{args.parents:,} parents, half eligible ({rows:,} rows removed); a standby applying "
        f"{args.apply_delay_ms} ms behind; {load} on live parents (their WAL is counted too)"
    )
    print("| method | seconds | largest replay lag | WAL per row removed | OLTP transactions | OLTP p99 |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['seconds']:.1f} | {r['largest_lag'] / (1 << 20):.1f} MiB | {r['wal'] / rows:.0f} bytes"
            f" | {r['transactions']:,} | {r['p99_ms']:.1f} ms |"
        )


if __name__ == "__main__":
    main()
