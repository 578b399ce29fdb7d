from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection

# tests/citus runs on its own settings (a Citus coordinator), in a pytest run of its own: make test.
collect_ignore = [] if os.environ.get("DJANGO_SETTINGS_MODULE") == "citus.settings" else ["citus"]


def server_dsn(dbname: str) -> str:
    """A DSN for another database on the test server, with Django's credentials."""
    params = connection.get_connection_params()
    keys = ("host", "port", "user", "password")
    parts = {k: params[k] for k in keys if params.get(k)}
    parts["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items()})


@pytest.fixture
def cron_db(django_db_blocker: pytest.FixtureRequest) -> Iterator[psycopg.Connection]:
    """A connection to the database where pg_cron keeps its jobs (cron.database_name)."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SHOW cron.database_name")
        (cron_database,) = cursor.fetchone()
    with psycopg.connect(server_dsn(cron_database), autocommit=True) as conn:
        yield conn


def reseal_after_flush(using: str = "default", plan: Any = None, **kwargs: Any) -> None:
    """Between transactional tests Django flushes every table (TRUNCATE), holds and policy history
    included, which no real database goes through; their seals (retention.record_seal, not a Django
    model) would name rows that are gone. After a flush (post_migrate without a plan) the seals
    start again from the rows that are left. A migrate (with a plan) is left alone."""
    if plan is not None:
        return
    from django.db import connections
    from purge_helpers import reseal_after_truncate

    with connections[using].cursor() as cursor:
        reseal_after_truncate(cursor)


@pytest.fixture(scope="session", autouse=True)
def connect_reseal_after_flush() -> None:
    from django.apps import apps
    from django.db.models.signals import post_migrate

    post_migrate.connect(
        reseal_after_flush, sender=apps.get_app_config("django_pg_retention"), dispatch_uid="tests.reseal"
    )


@pytest.fixture(scope="session", autouse=True)
def unschedule_test_jobs(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """migrate schedules pg_cron jobs for test_<name>; remove them with the test database."""
    yield
    from django.db import connections

    from django_pg_retention.schedule import scheduler

    with django_db_blocker.unblock():
        for alias in connections:  # each test database that was set up (the archive only when used)
            if str(connections[alias].settings_dict["NAME"]).startswith("test_"):
                scheduler(alias).unschedule_all()


@pytest.fixture
def reset_rules() -> None:
    """Each test of a module that uses it (pytestmark) starts from empty rules tables and audit."""
    from purge_helpers import reset_rules_data

    reset_rules_data()


@pytest.fixture
def slow_place_deletes() -> Iterator[Callable[[float], None]]:
    """slow_place_deletes(seconds): each deleted rules_place row then takes that long, so that a run
    lasts long enough to be interfered with; the trigger is dropped after the test."""

    def slow(seconds: float) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE OR REPLACE FUNCTION test_slow_delete() RETURNS trigger LANGUAGE plpgsql AS"
                f" $$ BEGIN PERFORM pg_sleep({float(seconds)}); RETURN OLD; END $$;"
                "CREATE OR REPLACE TRIGGER test_slow BEFORE DELETE ON rules_place"
                " FOR EACH ROW EXECUTE FUNCTION test_slow_delete();"
            )

    yield slow
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS test_slow ON rules_place; DROP FUNCTION IF EXISTS test_slow_delete();")
