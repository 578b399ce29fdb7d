"""Least privilege: nothing that deletes is PUBLIC's; the named executor role can purge, others cannot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from conftest import server_dsn
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg import sql
from purge_helpers import reset_rules_data
from rules.models import Place

from django_pg_retention.sync import sync

pytestmark = pytest.mark.django_db(transaction=True)

EXECUTOR = "retention_test_executor"
OUTSIDER = "retention_test_outsider"


@pytest.fixture
def roles() -> Iterator[None]:
    """Two roles that are not superusers, with ordinary DML rights on the application's tables."""
    with connection.cursor() as cursor:
        for role in (EXECUTOR, OUTSIDER):
            name = sql.Identifier(role).as_string(None)
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE ROLE {name} NOLOGIN NOSUPERUSER")
            cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}")
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {name}")
    yield
    with connection.cursor() as cursor:
        for role in (EXECUTOR, OUTSIDER):
            name = sql.Identifier(role).as_string(None)
            cursor.execute(f"DROP OWNED BY {name}")  # the grants of this database
            cursor.execute(f"DROP ROLE {name}")


def purge_as(role: str) -> None:
    with psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        conn.execute("CALL retention.run_cleanup(model => 'rules.Place', triggered_by => 'role-test')")


def test_only_the_executor_role_can_purge(settings: Any, roles: None) -> None:
    reset_rules_data()
    now = timezone.now()
    Place.objects.bulk_create(
        Place(name=f"p{i}", is_deleted=True, deleted_at=now - timedelta(days=100)) for i in range(3)
    )

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema retention"):
        purge_as(EXECUTOR)  # not granted yet: DML rights on the tables are not enough
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "executor_role": EXECUTOR}
    sync()
    purge_as(EXECUTOR)
    assert not Place.objects.exists()

    Place.objects.create(name="again", is_deleted=True, deleted_at=now - timedelta(days=100))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        purge_as(OUTSIDER)
    assert Place.objects.count() == 1


def test_an_unknown_executor_role_is_named(settings: Any) -> None:
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "executor_role": "no_such_role"}
    with pytest.raises(ImproperlyConfigured, match="names 'no_such_role', which is not a role"):
        sync()


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE retention_policy SET retention_days = 0", "retention_policy_days_at_least_1"),
        ("UPDATE retention_policy SET max_deletions_per_run = 0", "retention_policy_max_deletions_at_least_1"),
        ("UPDATE retention_policy SET deleted_at_column = ''", "retention_policy_deleted_at_column_set"),
        ("UPDATE retention_config SET batch_size = 0", "retention_config_values_in_range"),
        ("UPDATE retention_config SET max_batch_size = min_batch_size - 1", "retention_config_values_in_range"),
        (
            "INSERT INTO retention_request (requested_by, requested_at, model_path, days, status, error)"
            " VALUES ('x', now(), '', 0, 'pending', '')",
            "retention_request_days_at_least_1",
        ),
    ],
)
def test_control_tables_refuse_what_the_settings_checks_refuse(statement: str, constraint: str) -> None:
    """A row written by hand cannot hold what settings cannot: retention_days 0 would make every
    soft-deleted row eligible."""
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
