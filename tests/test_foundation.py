"""Smoke tests of the foundation: the server, pg_cron, migrations, SoftDeleteMixin."""

from __future__ import annotations

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from properties.models import Property
from users.models import User

pytestmark = pytest.mark.django_db


def test_runs_on_postgresql_with_pg_cron_preloaded() -> None:
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_preload_libraries")
        (preload,) = cursor.fetchone()
    assert "pg_cron" in preload


def test_tests_use_their_own_database_while_pg_cron_lives_in_another(
    cron_db: psycopg.Connection,
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), current_setting('cron.database_name')")
        test_db, cron_database = cursor.fetchone()
    assert test_db.startswith("test_")
    assert test_db != cron_database
    row = cron_db.execute(
        "SELECT current_database(), extversion FROM pg_extension WHERE extname = 'pg_cron'"
    ).fetchone()
    assert row is not None and row[0] == cron_database


def test_pg_cron_schedules_a_job_in_the_test_database(cron_db: psycopg.Connection) -> None:
    test_db = connection.settings_dict["NAME"]
    assert test_db.startswith("test_")
    job_name = f"smoke-{test_db}"
    job_id = cron_db.execute(
        "SELECT cron.schedule_in_database(%s, '0 3 * * *', 'SELECT 1', %s)", (job_name, test_db)
    ).fetchone()[0]
    try:
        row = cron_db.execute("SELECT schedule, database, active FROM cron.job WHERE jobid = %s", (job_id,)).fetchone()
        assert row == ("0 3 * * *", test_db, True)
    finally:
        cron_db.execute("SELECT cron.unschedule(%s)", (job_id,))
    assert cron_db.execute("SELECT count(*) FROM cron.job WHERE jobid = %s", (job_id,)).fetchone() == (0,)


@pytest.mark.django_db(databases=["default", "archive"])  # makemigrations checks each database's history
def test_migrations_are_complete_and_applied() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT indexdef FROM pg_indexes
            WHERE tablename = 'properties_property' AND indexdef LIKE '%%WHERE is_deleted%%'
            """
        )
        defs = [r[0] for r in cursor.fetchall()]
    assert len(defs) == 1 and "(deleted_at, id)" in defs[0], defs


def test_soft_delete_and_restore() -> None:
    owner = User.objects.create(username="owner")
    prop = Property.objects.create(owner=owner, address="1 Main St")
    before = timezone.now()
    prop.soft_delete()
    prop.refresh_from_db()
    assert prop.is_deleted is True
    assert prop.deleted_at is not None and prop.deleted_at >= before
    # Soft-deleted rows stay visible through objects; alive()/deleted() split them.
    assert Property.objects.filter(pk=prop.pk).exists()
    assert list(Property.objects.deleted()) == [prop]
    assert not Property.objects.alive().exists()

    prop.restore()
    prop.refresh_from_db()
    assert (prop.is_deleted, prop.deleted_at) == (False, None)
    assert list(Property.objects.alive()) == [prop]


def test_demo_seed_creates_soft_deleted_rows_per_model() -> None:
    from demo.seed import seed

    created = seed(users=100)
    assert created["users.User"] == 100
    assert created["leases.PaymentSchedule"] == 100 * 2 * 2 * 12
    for label in created:
        app_label, model_name = label.split(".")
        from django.apps import apps

        model = apps.get_model(app_label, model_name)
        deleted = model.objects.filter(is_deleted=True)
        assert deleted.exists(), label
        assert not deleted.filter(deleted_at__isnull=True).exists(), label
