"""No routine resolves a name through its caller's search_path (issue 14, item 4).

A role that can create objects in a schema on a superuser's search_path could otherwise plant a
look-alike (a table, or a function that matches an argument better than pg_catalog's) and have
the purge read it or run it with the caller's rights.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from purge_helpers import build_rules_data, expected_after_django_purge, reset_rules_data, rules_tables, snapshot
from test_purge_differential import assert_same_tables
from test_purge_runs import app_db_dsn

from django_pg_retention.models import RetentionRun

pytestmark = pytest.mark.django_db(transaction=True)

# Functions the purge, the digests and the seal call, each planted with a signature that matches
# our calls at least as well as pg_catalog's: when called, they record it and behave like the real one.
PLANTED_FUNCTIONS = {
    "convert_to(t text, e text) RETURNS bytea": "pg_catalog.convert_to(t, e::name)",
    "format(f text, a text) RETURNS text": "pg_catalog.format(f, a)",
    "format(f text, a text, b text) RETURNS text": "pg_catalog.format(f, a, b)",
    "cardinality(a text[]) RETURNS integer": "pg_catalog.cardinality(a)",
    "cardinality(a bigint[]) RETURNS integer": "pg_catalog.cardinality(a)",
    "array_to_string(a text[], s text) RETURNS text": "pg_catalog.array_to_string(a, s)",
    "jsonb_build_object(k text, v bigint) RETURNS jsonb": "pg_catalog.jsonb_build_object(k, v)",
    "to_jsonb(a text[]) RETURNS jsonb": "pg_catalog.to_jsonb(a)",
    "clock_timestamp() RETURNS timestamptz": "pg_catalog.clock_timestamp()",
    "now() RETURNS timestamptz": "pg_catalog.now()",
    "set_config(n text, v text, l boolean) RETURNS text": "pg_catalog.set_config(n, v, l)",
}
# Tables the purge reads, planted empty: a purge that read these would find no policy, no
# configuration, no content type, and would write its audit where nobody looks.
PLANTED_TABLES = [
    "retention_policy",
    "retention_config",
    "retention_run",
    "retention_run_item",
    "retention_hold",
    "retention_outbox",
    "retention_deleted_keys",
    "django_content_type",
]


@pytest.fixture
def planted() -> Iterator[None]:
    reset_rules_data()
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA planted; CREATE TABLE planted.calls (name text)")
        for table in PLANTED_TABLES:
            cursor.execute(f"CREATE TABLE planted.{table} (LIKE public.{table} INCLUDING DEFAULTS)")
        for signature, real in PLANTED_FUNCTIONS.items():
            name = signature.split("(")[0]
            cursor.execute(
                f"CREATE FUNCTION planted.{signature} LANGUAGE sql VOLATILE AS $$"
                f" INSERT INTO planted.calls VALUES ('{name}'); SELECT {real} $$"
            )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA planted CASCADE")


def planted_calls() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT name FROM planted.calls ORDER BY name")
        return [name for (name,) in cursor.fetchall()]


def test_every_function_pins_its_search_path() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.oid::regprocedure::text,
                   (SELECT c FROM unnest(p.proconfig) c WHERE c LIKE 'search\\_path=%%')
              FROM pg_proc p
             WHERE p.pronamespace = 'retention'::regnamespace AND p.prokind = 'f'
            """
        )
        rows = cursor.fetchall()
    assert len(rows) > 20  # the static helpers and every model's generated purge and select
    unpinned = [name for name, path in rows if path is None or not path.startswith("search_path=pg_catalog, ")]
    assert unpinned == []
    assert all(path.endswith(", pg_temp") for _, path in rows)


def test_lookalikes_first_on_the_callers_path_are_never_used(planted: None) -> None:
    build_rules_data(random.Random(1))
    expected, _ = expected_after_django_purge()
    with psycopg.connect(app_db_dsn(), autocommit=True, options="-c search_path=planted,public") as caller:
        assert caller.execute("SELECT current_schemas(false)").fetchone() == (["planted", "public"],)
        caller.execute("CALL retention.run_cleanup(dry_run => true, triggered_by => 'planted')")
        caller.execute("CALL retention.run_cleanup(triggered_by => 'planted')")
        caller.execute("CALL retention.run_cleanup(triggered_by => 'planted')")  # the fixpoint: deletes nothing
        caller.execute("SELECT retention.report()").fetchall()
    assert planted_calls() == []
    runs = list(RetentionRun.objects.filter(triggered_by="planted").order_by("id"))
    assert [r.status for r in runs] == ["succeeded"] * 3
    dry, real, again = runs
    assert dry.rows_deleted == 0 and real.rows_deleted > 0 and again.rows_deleted == 0
    counts = ["model_path", "deleted", "blocked", "cascaded", "updated"]
    assert list(dry.items.order_by("model_path").values(*counts)) == list(
        real.items.order_by("model_path").values(*counts)
    )
    assert all(r.hash for r in runs)
    assert_same_tables(expected, snapshot(rules_tables()))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM planted.retention_run) + (SELECT count(*) FROM planted.retention_outbox)"
        )
        assert cursor.fetchone() == (0,)
