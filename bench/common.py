"""What the benchmarks share: the server, database copies, the data generator, fingerprints."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"

# Tables whose remaining rows are compared between methods (SET_NULL targets by content).
SIMPLE_TABLES = {"parent": "id", "childa": "id", "childb": "id"}
MIXED_TABLES = {**SIMPLE_TABLES, "parent_tags": "id", "note": "id", "ref": "id, parent_id"}
MANY_TABLES = {"parent": "id", "child": "id"}
CHAIN_TABLES = {"parent": "id", "child": "id", "grandchild": "id"}

# The schemas (--schema of bench/run.py): the Django app under bench/ that holds it, the tables
# compared, and how a data set of it is described.
SCHEMAS = {
    "simple": ("benchsimple", SIMPLE_TABLES, "2 CASCADE children (two tables)"),
    "mixed": ("benchapp", MIXED_TABLES, "2 CASCADE + 1 SET_NULL + 1 M2M + 1 generic"),
    "kept": ("benchkept", SIMPLE_TABLES, "2 soft-delete CASCADE children (5% of eligible parents keep a live one)"),
    "many": ("benchmany", MANY_TABLES, "2-4 CASCADE children in one table (3 on average)"),
    "chain": ("benchchain", CHAIN_TABLES, "a CASCADE child with a CASCADE grandchild"),
}


# How the eligible parents' deleted_at values were made: one per row (soft deletes one at a time),
# 100 shared timestamps (bulk soft deletes: QuerySet.update(deleted_at=now()) in 100 calls), or one
# timestamp for all of them (a single bulk soft delete).
STAMPS = {
    "row": "now() - interval '100 days' - g * interval '1 s'",
    "shared": "now() - interval '100 days' - (g % 100) * interval '1 hour'",
    "one": "now() - interval '100 days'",
}


@dataclass(frozen=True)
class Shape:
    """N soft-deletable parents and their children, in one of SCHEMAS: by default two CASCADE children
    each (childa, childb); mixed adds a SET_NULL ref, an M2M tag and a generic note per parent; kept
    makes the children soft-delete models; schema="many" or "chain" picks those schemas (issue 25).
    Also: the share of parents past retention; how their soft-delete timestamps were made (STAMPS)."""

    parents: int
    mixed: bool
    eligible: float = 0.5
    stamps: str = "row"
    kept: bool = False  # the children are soft-delete models (issue 13); 5% of eligible parents keep a live child
    schema: str = ""  # "many" or "chain"; empty: simple, mixed or kept as the flags above say

    @property
    def kind(self) -> str:
        """The key of SCHEMAS this shape uses."""
        if self.schema:
            return self.schema
        if self.kept:
            return "kept"
        return "mixed" if self.mixed else "simple"

    @property
    def app(self) -> str:
        """The Django app under bench/ whose schema holds this shape (SCHEMAS)."""
        return SCHEMAS[self.kind][0]

    def table(self, name: str) -> str:
        return f"{self.app}_{name}"

    @property
    def tables(self) -> dict[str, str]:
        """Table -> the columns that identify what is left of it."""
        return {self.table(t): cols for t, cols in SCHEMAS[self.kind][1].items()}

    @property
    def label(self) -> str:
        stamps = {"row": "a timestamp per row", "shared": "100 shared timestamps", "one": "one timestamp"}
        kind = SCHEMAS[self.kind][2]
        return f"{self.parents:,} parents, {kind} each, {self.eligible:.0%} eligible, {stamps[self.stamps]}"


def server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    devdb = REPO / "scripts" / "devdb"
    subprocess.run([str(devdb), "start"], check=True, stderr=subprocess.DEVNULL)
    return subprocess.run([str(devdb), "url"], check=True, capture_output=True, text=True).stdout.strip()


def with_db(url: str, dbname: str) -> str:
    """The same server URL with another database name."""
    return urlsplit(url)._replace(path="/" + dbname).geturl()


def admin(url: str, statement: sql.Composable) -> None:
    with psycopg.connect(with_db(url, "postgres"), autocommit=True) as conn:
        conn.execute(statement)


def recreate(url: str, name: str, template: str | None = None) -> None:
    drop(url, name)
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
    admin(url, create)


def drop(url: str, name: str) -> None:
    admin(url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def django_env(url: str, db: str, app: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": with_db(url, db), "DJANGO_SETTINGS_MODULE": "bench_settings", "BENCH_APP": app}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(BENCH), env.get("PYTHONPATH", "")] if p)
    return env


def manage(url: str, db: str, app: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = django_env(url, db, app)
    cmd = [sys.executable, "-m", "django", *args]
    return subprocess.run(cmd, check=True, env=env, cwd=BENCH, capture_output=True, text=True)


def build_template(url: str, name: str, shape: Shape, ages: str = "fixed") -> None:
    """A migrated database with the data set. ages='fixed': eligible parents deleted 100 days ago,
    the others live; ages='spread': every parent soft-deleted, ages uniform over 1,000 days."""
    recreate(url, name)
    manage(url, name, shape.app, "migrate", "-v0")
    n = shape.parents
    names = ("parent", "childa", "childb", "tag", "parent_tags", "ref", "note", "child", "grandchild")
    t = {k: sql.Identifier(shape.table(k)) for k in names}
    with psycopg.connect(with_db(url, name), autocommit=True) as conn:
        if ages == "spread":
            parents = sql.SQL(
                "INSERT INTO {} (id, name, is_deleted, deleted_at)"
                " SELECT g, 'parent ' || g, true, now() - (g::float8 / %(n)s * 1000) * interval '1 day'"
                " FROM generate_series(1, %(n)s) g"
            ).format(t["parent"])
        else:
            # Parents whose scrambled id falls in the eligible share are past retention; the rest live.
            parents = sql.SQL(
                "INSERT INTO {} (id, name, is_deleted, deleted_at)"
                " SELECT g, 'parent ' || g, e, CASE WHEN e THEN {stamp} END"
                " FROM (SELECT g, (g::bigint * 7919 %% 1000) < %(share)s * 1000 AS e"
                "       FROM generate_series(1, %(n)s) g) s"
            ).format(t["parent"], stamp=sql.SQL(STAMPS[shape.stamps].replace("%", "%%")))  # type: ignore[arg-type]
        conn.execute(parents, {"n": n, "share": shape.eligible})
        per_parent = "INSERT INTO {} (parent_id, payload) SELECT g, 'row ' || g FROM generate_series(1, %(n)s) g"
        if shape.kept:  # soft-deleted with their parent, except childa of every 20th eligible parent
            per_parent = (
                "INSERT INTO {} (parent_id, payload, is_deleted, deleted_at)"
                " SELECT p.id, 'row ' || p.id, p.is_deleted AND (p.id %% 20 <> 0 OR {} = 'childb'),"
                " CASE WHEN p.is_deleted AND (p.id %% 20 <> 0 OR {} = 'childb') THEN p.deleted_at END"
                " FROM {} p ORDER BY p.id"
            )
        if shape.kind == "many":  # 2, 3 or 4 children per parent, next to each other
            many = (
                "INSERT INTO {} (parent_id, payload) SELECT g, 'row ' || g || '.' || k"
                " FROM generate_series(1, %(n)s) g, generate_series(1, 2 + g %% 3) k"
            )
            conn.execute(sql.SQL(many).format(t["child"]), {"n": n})
        elif shape.kind == "chain":  # one child per parent, one grandchild per child
            conn.execute(sql.SQL(per_parent).format(t["child"]), {"n": n})
            grandchildren = "INSERT INTO {} (child_id, payload) SELECT id, 'row ' || id FROM {} ORDER BY id"
            conn.execute(sql.SQL(grandchildren).format(t["grandchild"], t["child"]))
        for child in ("childa", "childb") if shape.kind in ("simple", "mixed", "kept") else ():
            statement = sql.SQL(per_parent)
            if shape.kept:
                statement = statement.format(t[child], sql.Literal(child), sql.Literal(child), t["parent"])
            else:
                statement = statement.format(t[child])
            conn.execute(statement, {"n": n})
        if shape.mixed:
            conn.execute(
                sql.SQL("INSERT INTO {} (name) SELECT 'tag ' || g FROM generate_series(1, 20) g").format(t["tag"])
            )
            tags = "INSERT INTO {} (parent_id, tag_id) SELECT g, 1 + g %% 20 FROM generate_series(1, %(n)s) g"
            conn.execute(sql.SQL(tags).format(t["parent_tags"]), {"n": n})
            conn.execute(sql.SQL(per_parent).format(t["ref"]), {"n": n})
            notes = (
                "INSERT INTO {} (content_type_id, object_id, body)"
                " SELECT (SELECT id FROM django_content_type WHERE app_label = %(app)s AND model = 'parent'), g,"
                " 'note ' || g FROM generate_series(1, %(n)s) g"
            )
            conn.execute(sql.SQL(notes).format(t["note"]), {"n": n, "app": shape.app})
        conn.execute("VACUUM ANALYZE")


def fingerprint(url: str, db: str, shape: Shape) -> dict[str, tuple[int, str]]:
    """Row count and a digest of what is left in each table (the identifying columns, in order),
    computed by the server: reading every row into Python took longer than the purges at 1M."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(with_db(url, db)) as conn:
        conn.execute("SET work_mem = '256MB'")
        for table, columns in shape.tables.items():
            cols = sql.SQL(", ").join(sql.Identifier(c.strip()) for c in columns.split(","))
            query = sql.SQL(
                "SELECT count(*), encode(sha256(convert_to(coalesce(string_agg(ROW({cols})::text, ';' ORDER BY {cols}),"
                " ''), 'UTF8')), 'hex') FROM {t}"
            ).format(cols=cols, t=sql.Identifier(table))
            count, digest = conn.execute(query).fetchone()  # type: ignore[misc]
            out[table] = (int(count), str(digest)[:16])
    return out


def scalar(url: str, db: str, query: str, params: Any = None) -> Any:
    with psycopg.connect(with_db(url, db)) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


def running_item(conn: psycopg.Connection, model: str) -> int:
    """A running run and item, so that the purge function records its keys under it (as in a run)."""
    run = conn.execute(
        "INSERT INTO retention_run (started_at, status, triggered_by, dry_run, model_filter, rows_deleted, error)"
        " VALUES (now(), 'running', 'bench', false, '', 0, '') RETURNING id"
    ).fetchone()
    item = conn.execute(
        "INSERT INTO retention_run_item (run_id, model_path, db_table, retention_days, policy_source, cutoff,"
        " eligible, deleted, blocked, skipped_locked, cascaded, updated, blocked_reasons, batches, batch_sizes,"
        " batch_durations_ms, started_at, status, error, digests) VALUES (%s, %s, '', 30, '',"
        " now(), 0, 0, 0, 0, '{}', '{}', '{}', 0, '[]', '[]', now(), 'running', '', '{}') RETURNING id",
        [run[0] if run else None, model],
    ).fetchone()
    assert item is not None
    return int(item[0])
