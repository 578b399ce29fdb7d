"""The Citus group: builds Citus (../shared/citus/build.sh), starts its cluster, makes the test
database on every node and migrates it on the coordinator; stops the cluster at the end.

Run on its own settings: ``pytest tests/citus --ds=citus.settings`` (make test does). Where Citus
cannot be built the group is skipped with the reason, except under CI (CI=true), where that fails.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
# ../shared/citus beside the checkout (as on the workplace's machines), else the machine's /work/shared/citus
# (a clone elsewhere, /tmp say), else CITUS_DIR.
CITUS = Path(
    os.environ.get("CITUS_DIR")
    or next(
        (str(d) for d in (ROOT.parent / "shared" / "citus", Path("/work/shared/citus")) if d.is_dir()),
        str(ROOT.parent / "shared" / "citus"),
    )
)
NODES = (56001, 56002, 56003)
DATABASE = "test_retention_citus"
SINGLE = "test_retention_citus_single"  # no Citus: the single-server copy (coordinator's server)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Citus tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"Citus tests skipped: {reason}")


def _run(script: str, *args: str) -> None:
    path = CITUS / script
    if not path.exists():
        _unavailable(f"{path} not found")
    done = subprocess.run([str(path), *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        _unavailable(f"{script} {' '.join(args)} failed: {(done.stdout + done.stderr).strip()[-1500:]}")


def node(port: int, dbname: str = DATABASE) -> psycopg.Connection[Any]:
    return psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname, autocommit=True)


def _create_database() -> None:
    with node(NODES[0], "postgres") as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SINGLE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {SINGLE}")
    for port in NODES:
        with node(port, "postgres") as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DATABASE}")
        with node(port) as conn:
            conn.execute("CREATE EXTENSION citus")
    with node(NODES[0], "postgres") as conn:  # cron.database_name of the coordinator
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    with node(NODES[0]) as conn:
        conn.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", [NODES[0]])
        for port in NODES[1:]:
            conn.execute("SELECT citus_add_node('127.0.0.1', %s)", [port])


@pytest.fixture(scope="session")
def citus_cluster() -> Iterator[None]:
    _run("build.sh")
    _run("cluster.sh", "start")
    try:
        _create_database()
        yield
    finally:
        if not os.environ.get("CITUS_KEEP_CLUSTER"):  # kept running between runs while developing
            subprocess.run([str(CITUS / "cluster.sh"), "stop"], cwd=ROOT, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def django_db_setup(citus_cluster: None, django_db_blocker: Any) -> None:
    """The test database exists on every node (citus_cluster); migrate it on the coordinator,
    which distributes the tables (logs migration 0002) before post_migrate compiles the purges."""
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("migrate", verbosity=0)
        call_command("migrate", database="single", verbosity=0)


@pytest.fixture(autouse=True)
def _database(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Every test talks to both databases in autocommit, as run_cleanup needs (no test
    transaction, no flush: each test empties the tables it uses)."""
    with django_db_blocker.unblock():
        yield
