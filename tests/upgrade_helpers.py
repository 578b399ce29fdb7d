"""What tests/test_upgrade.py needs to install a release, run a project under it, and compare two
databases object by object. Databases live on the test server (DATABASE_URL, which the test
settings set); each project command runs in a subprocess, under the code on its PYTHONPATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "tests" / "upgrade_project"


def url(dbname: str, base: str | None = None) -> str:
    """DATABASE_URL of another database on the same server (or on the server of ``base``)."""
    parts = urlsplit(base or os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + dbname))


def recreate(dbname: str, base: str | None = None) -> None:
    with psycopg.connect(url("postgres", base), autocommit=True) as conn:
        forget_jobs(conn, dbname)
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(dbname)))
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname)))


def drop(dbname: str, base: str | None = None) -> None:
    with psycopg.connect(url("postgres", base), autocommit=True) as conn:
        forget_jobs(conn, dbname)
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(dbname)))


def forget_jobs(conn: psycopg.Connection[Any], dbname: str) -> None:
    """Jobs a failed earlier test left for a database of that name (pg_cron's database is postgres)."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'").fetchone():
        conn.execute("DELETE FROM cron.job WHERE database = %s", [dbname])


def checkout(commit: str, into: Path) -> Path:
    """The package as released at ``commit`` (git archive of the repository this test runs in)."""
    found = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
    assert found.returncode == 0, (
        f"commit {commit} is not in this clone: the upgrade test installs released versions from the "
        "repository's history (clone without --depth)"
    )
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit, "django_pg_retention", "sql"],
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="tar")
    return into


class Project:
    """The upgrade project on one database, under one version of the package (``code``: a checkout
    to put first on the path, or None for this checkout's installed package)."""

    def __init__(self, dbname: str, code: Path | None, base: str | None = None, **env: str) -> None:
        self.dbname = dbname
        self.url = url(dbname, base)
        self.code = code
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        path = [str(self.code)] if self.code else []
        env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "DJANGO_SETTINGS_MODULE": "upgrade_settings",
            "PYTHONPATH": os.pathsep.join([*path, str(PROJECT)]),
            **self.env,
        }
        done = subprocess.run(
            [sys.executable, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "django", *args, check=check)

    def step(self, *args: str) -> Any:
        return json.loads(self.run("history.py", *args).stdout.strip().splitlines()[-1])

    def sql(self, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def head(self) -> str:
        """POSITION:HASH of the chain head, as retention verify prints it."""
        out = self.manage("retention", "verify").stdout
        line = next(line for line in out.splitlines() if line.startswith("chain head: "))
        return line.split()[2]


def interrupt_a_run(project: Project) -> int:
    """A real run killed while a batch works (every deleted line takes 0.2 s): its row stays
    'running' until a later call finds its backend gone. Returns its id."""
    project.sql(
        "CREATE FUNCTION slow_line() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN PERFORM pg_sleep(0.2); RETURN OLD; END $$;"
        " CREATE TRIGGER slow_line BEFORE DELETE ON shop_line FOR EACH ROW EXECUTE FUNCTION slow_line()"
    )
    errors: list[BaseException] = []

    def call() -> None:
        try:
            with psycopg.connect(project.url, autocommit=True) as conn:
                conn.execute("CALL retention.run_cleanup(triggered_by => 'upgrade-test')")
        except psycopg.OperationalError as exc:  # terminated: what is expected
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 60
    while True:
        rows = project.sql(
            "SELECT r.id, r.backend_pid FROM retention_run r JOIN retention_run_item i ON i.run_id = r.id"
            " WHERE r.status = 'running' AND i.model_path = 'shop.Order' AND i.status = 'running'"
        )
        if rows:
            break
        assert time.monotonic() < deadline, "the run to interrupt never reached shop.Order"
        time.sleep(0.1)
    run_id, pid = rows[0]
    time.sleep(0.3)
    project.sql("SELECT pg_terminate_backend(%s)", [pid])
    thread.join(60)
    assert errors, "the interrupted run finished instead"
    project.sql("DROP TRIGGER slow_line ON shop_line; DROP FUNCTION slow_line()")
    return int(run_id)


# --- the objects of ours, read from the catalog ------------------------------------------------

OUR_TABLES = "(c.relname LIKE 'retention\\_%' OR c.relnamespace = 'retention'::regnamespace)"
CATALOG = {
    "routines": """
        SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), obj_description(p.oid, 'pg_proc'),
               p.proacl::text, p.prosecdef
          FROM pg_proc p WHERE p.pronamespace = 'retention'::regnamespace ORDER BY 1""",
    "schema": """
        SELECT n.nspname, n.nspacl::text, obj_description(n.oid, 'pg_namespace')
          FROM pg_namespace n WHERE n.nspname = 'retention'""",
    "relations": f"""
        SELECT c.relname, c.relkind, c.relacl::text, obj_description(c.oid, 'pg_class'),
               CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END
          FROM pg_class c WHERE {OUR_TABLES} AND c.relkind IN ('r', 'v', 'p', 'm', 'S') ORDER BY 1""",
    "columns": f"""
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attcompression, a.attstorage
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE {OUR_TABLES} AND c.relkind IN ('r', 'v', 'p') AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY 1, 2""",  # by name: a column dropped and added again (a downgrade and back) moves
    "constraints": f"""
        SELECT c.relname, k.conname, pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE {OUR_TABLES} ORDER BY 1, 2""",
    "indexes": f"""
        SELECT c.relname, pg_get_indexdef(i.indexrelid)
          FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE {OUR_TABLES} ORDER BY 1, 2""",
    # Every trigger of the database: ours on our tables, and any a package put on the app's tables.
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled,
               obj_description(t.oid, 'pg_trigger')
          FROM pg_trigger t WHERE NOT t.tgisinternal ORDER BY 1, 2""",
    "policies": """
        SELECT model_path, db_table, pk_column, retention_days, policy_source, purge_function,
               select_function, position, is_active, sql_hash
          FROM retention_policy ORDER BY model_path""",
    "config": "SELECT (to_jsonb(c) - 'id' - 'updated_at')::text FROM retention_config c",
}


def catalog(dbname: str, base: str | None = None) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url(dbname, base)) as conn:
        return {name: [tuple(row) for row in conn.execute(query).fetchall()] for name, query in CATALOG.items()}


def differences(left: dict[str, list[tuple[Any, ...]]], right: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """What one catalog has and the other has not, object by object, in words."""
    found: list[str] = []
    for name in left:
        a, b = set(left[name]), set(right[name])
        found += [f"{name}: only in the first: {row!r:.300}" for row in sorted(a - b, key=repr)]
        found += [f"{name}: only in the second: {row!r:.300}" for row in sorted(b - a, key=repr)]
    return found


def jobs(dbname: str, base: str | None = None) -> list[tuple[Any, ...]]:
    """Our pg_cron jobs for that database, as pg_cron keeps them (its database is postgres here)."""
    with psycopg.connect(url("postgres", base)) as conn:
        rows = conn.execute(
            "SELECT jobname, schedule, command, database, username, active FROM cron.job"
            " WHERE jobname LIKE %s ORDER BY jobname",
            [f"%{dbname}%"],
        ).fetchall()
    return [tuple(row) for row in rows]
