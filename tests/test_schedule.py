"""pg_cron scheduling against the real pg_cron: jobs synced from settings, and the purge firing."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from purge_helpers import reset_rules_data
from rules.models import Place

from django_pg_retention.display import status_as_dict
from django_pg_retention.models import RetentionRequest, RetentionRun
from django_pg_retention.schedule import Scheduler, connect_params, job_name, job_prefix, scheduler, sync_jobs

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[1]


def app_db_name() -> str:
    return str(connection.settings_dict["NAME"])


def our_jobs(cron_db: psycopg.Connection[Any], database: str | None = None) -> dict[str, tuple[Any, ...]]:
    prefix = job_prefix(database or app_db_name())
    rows = cron_db.execute(
        "SELECT jobname, jobid, schedule, database, active, command FROM cron.job WHERE starts_with(jobname, %s)",
        [prefix],
    ).fetchall()
    return {str(r[0])[len(prefix) :]: tuple(r[1:]) for r in rows}


@pytest.fixture(autouse=True)
def restore_jobs() -> Iterator[None]:
    yield
    sync_jobs()  # back to the project's schedule (settings are restored before this runs)


def test_migrate_scheduled_the_jobs_in_pg_crons_database(cron_db: psycopg.Connection[Any]) -> None:
    cron_database = cron_db.execute("SELECT current_database()").fetchone()[0]
    assert cron_database != app_db_name()  # the layout the suite exercises: pg_cron in another database
    jobs = our_jobs(cron_db)
    prefix = job_prefix(app_db_name())
    # Names pg_cron keeps whole (63 bytes): a long database name makes the longest one end in a hash.
    names = {n: job_name(prefix + n).removeprefix(prefix) for n in ("cleanup", "housekeeping", "requests")}
    names["housekeeping-cron-history"] = job_name(prefix + "housekeeping-cron-history").removeprefix(prefix)
    assert set(jobs) == set(names.values())
    _, schedule, database, active, command = jobs["cleanup"]
    assert (schedule, database, active) == ("0 0 * * *", app_db_name(), True)
    assert command == "CALL retention.run_cleanup(triggered_by => 'pg_cron')"
    assert jobs["housekeeping"][1:4] == ("30 0 * * 0", app_db_name(), True)
    assert jobs[names["housekeeping-cron-history"]][2] == cron_database
    assert sync_jobs().changes == 0


def test_changing_disabling_and_removing_jobs(settings: Any, cron_db: psycopg.Connection[Any]) -> None:
    foreign = cron_db.execute("SELECT cron.schedule('someone-elses-job', '5 5 * * *', 'SELECT 1')").fetchone()[0]
    try:
        before = our_jobs(cron_db)
        settings.RETENTION_SCHEDULE = {"cleanup": "15 3 * * 1-5"}
        result = sync_jobs()
        assert result.updated == [job_prefix(app_db_name()) + "cleanup"] and not result.scheduled
        after = our_jobs(cron_db)
        assert after["cleanup"][0] == before["cleanup"][0]  # the same job, altered
        assert after["cleanup"][1] == "15 3 * * 1-5"
        assert sync_jobs().changes == 0

        settings.RETENTION_SCHEDULE = {"cleanup": "15 3 * * 1-5", "housekeeping": None}
        result = sync_jobs()
        assert sorted(result.unscheduled) == sorted(
            job_prefix(app_db_name()) + name for name in ("housekeeping", "housekeeping-cron-history")
        )
        assert set(our_jobs(cron_db)) == {"cleanup", "requests"}

        # A job deactivated by hand is reactivated by the next sync.
        cron_db.execute("SELECT cron.alter_job(%s, active => false)", [after["cleanup"][0]])
        assert sync_jobs().updated == [job_prefix(app_db_name()) + "cleanup"]
        assert our_jobs(cron_db)["cleanup"][3] is True
        assert cron_db.execute("SELECT count(*) FROM cron.job WHERE jobid = %s", [foreign]).fetchone() == (1,)
    finally:
        cron_db.execute("SELECT cron.unschedule(%s::bigint)", [foreign])


def test_the_same_database_layout(cron_db: psycopg.Connection[Any]) -> None:
    """pg_cron installed in the application's own database: here, its database is the app's."""
    cron_database = str(cron_db.execute("SELECT current_database()").fetchone()[0])
    same = Scheduler({**connect_params("default"), "dbname": cron_database})
    try:
        result = same.sync()
        assert not result.unavailable
        jobs = our_jobs(cron_db, cron_database)
        assert set(jobs) == {"cleanup", "housekeeping", "housekeeping-cron-history", "requests"}
        assert {j[2] for j in jobs.values()} == {cron_database}
        assert same.sync().changes == 0
    finally:
        removed = same.unschedule_all()
    assert len(removed) == 4 and our_jobs(cron_db, cron_database) == {}
    assert set(our_jobs(cron_db)) == {"cleanup", "housekeeping", "housekeeping-cron-history", "requests"}  # untouched


def test_invalid_schedules_are_refused_by_pg_cron(settings: Any) -> None:
    from django_pg_retention.checks import check_pg_cron, check_retention

    settings.RETENTION_SCHEDULE = {"cleanup": "every day at noon"}
    errors = check_pg_cron(databases=["default"])
    assert [e.id for e in errors] == ["pg_retention.E010"]
    assert "RETENTION_SCHEDULE['cleanup'] = 'every day at noon'" in errors[0].msg
    assert [m for m in check_retention() if m.id != "pg_retention.W004"] == []  # only pg_cron knows it is wrong

    settings.RETENTION_SCHEDULE = {"cleanup": "0 0 * * *", "report": "0 1 * * *", "housekeeping": 5}
    messages = {m.msg for m in check_retention()}
    assert any("RETENTION_SCHEDULE['report'] is not a known job" in m for m in messages)
    assert any("RETENTION_SCHEDULE['housekeeping'] must be a cron expression" in m for m in messages)


def test_pg_cron_really_fires_the_purge(settings: Any) -> None:
    """Schedule the cleanup every minute and wait for pg_cron's tick (at most ~70 s)."""
    reset_rules_data()
    now = timezone.now()
    Place.objects.bulk_create(
        Place(name=f"p{i}", is_deleted=True, deleted_at=now - timedelta(days=100)) for i in range(5)
    )
    young = Place.objects.create(name="young", is_deleted=True, deleted_at=now - timedelta(days=1))
    settings.RETENTION_SCHEDULE = {"cleanup": "* * * * *"}
    assert sync_jobs().updated

    deadline = time.monotonic() + 75
    run = None
    while time.monotonic() < deadline:
        run = RetentionRun.objects.filter(triggered_by="pg_cron").exclude(status="running").first()
        if run is not None:
            break
        time.sleep(1)
    assert run is not None, "pg_cron did not run the purge within 75 s"
    assert run.status == "succeeded", run.error
    assert list(Place.objects.all()) == [young]

    out = io.StringIO()
    call_command("retention", "status", "--format", "json", stdout=out)
    status = json.loads(out.getvalue())
    cleanup = next(j for j in status["jobs"] if j["job"] == "cleanup")
    assert (cleanup["schedule"], cleanup["active"]) == ("* * * * *", True)
    fired = [r for r in status["runs"] if r["job"] == "cleanup" and r["retention_run"] == run.pk]
    assert len(fired) == 1, status["runs"]  # pg_cron's record of the tick, joined with its audit row
    assert fired[0]["retention_status"] == "succeeded" and fired[0]["rows_deleted"] == 5
    table = io.StringIO()
    call_command("retention", "status", stdout=table)
    assert "Scheduled jobs" in table.getvalue() and "* * * * *" in table.getvalue()


def test_status_leaves_out_ticks_of_the_requests_job_that_drained_nothing(cron_db: psycopg.Connection[Any]) -> None:
    jobs = our_jobs(cron_db)
    insert = (
        "INSERT INTO cron.job_run_details (jobid, runid, database, username, command, status, start_time, end_time)"
        " VALUES (%s, nextval('cron.runid_seq'), 'x', current_user, 'x', 'succeeded', now() - %s::interval,"
        " now() - %s::interval) RETURNING runid"
    )
    # Recent enough to be among the 5 newest runs of the job, next to pg_cron's own every-minute ticks.
    ticks = [
        cron_db.execute(insert, [jobs["requests"][0], f"{s} seconds", f"{s} seconds"]).fetchone()[0] for s in (20, 15)
    ]
    # The tick that drained a request ran it as run_cleanup(triggered_by => 'admin') in its backend.
    with connection.cursor() as cursor:
        cursor.execute("SELECT retention.start_run(false, NULL, NULL, 'admin', 'skipped'), pg_backend_pid()")
        admin_run, pid = cursor.fetchone()  # type: ignore[misc]
    worked = cron_db.execute(
        insert.replace("username,", "username, job_pid,").replace("current_user,", f"current_user, {int(pid)},"),
        [jobs["requests"][0], "10 seconds", "-5 seconds"],
    ).fetchone()[0]
    try:
        RetentionRequest.objects.create(
            requested_by="ops", status="done", started_at=timezone.now() - timedelta(seconds=8)
        )
        ours = {
            start: runid
            for runid, start in cron_db.execute(
                "SELECT runid, start_time FROM cron.job_run_details WHERE runid = ANY(%s)", [[*ticks, worked]]
            )
        }
        noop = {ours[r["start_time"]]: r["noop"] for r in status_as_dict("default")["runs"] if r["start_time"] in ours}
        assert noop == {ticks[0]: True, ticks[1]: True, worked: False}  # real ticks of the job are left aside
        linked = {
            ours[r["start_time"]]: r["retention_run"]
            for r in status_as_dict("default")["runs"]
            if r["start_time"] in ours
        }
        assert linked == {ticks[0]: None, ticks[1]: None, worked: admin_run}  # the run that tick recorded
        table = io.StringIO()
        call_command("retention", "status", stdout=table)
        left_out = re.search(
            r"\((\d+) run\(s\) of the requests job left out: no admin request was waiting\)", table.getvalue()
        )
        assert left_out is not None and int(left_out.group(1)) >= 2
    finally:
        cron_db.execute("DELETE FROM cron.job_run_details WHERE runid = ANY(%s)", [[*ticks, worked]])


def test_housekeeping_deletes_only_old_rows_of_our_jobs(cron_db: psycopg.Connection[Any]) -> None:
    jobs = our_jobs(cron_db)
    foreign = cron_db.execute("SELECT cron.schedule('someone-elses-job', '5 5 * * *', 'SELECT 1')").fetchone()[0]
    try:
        insert = (
            "INSERT INTO cron.job_run_details (jobid, runid, database, username, command, status, start_time, end_time)"
            " VALUES (%s, nextval('cron.runid_seq'), 'x', current_user, 'x', 'succeeded', now() - %s::interval,"
            " now() - %s::interval) RETURNING runid"
        )
        ours_old = cron_db.execute(insert, [jobs["cleanup"][0], "40 days", "40 days"]).fetchone()[0]
        ours_new = cron_db.execute(insert, [jobs["cleanup"][0], "2 days", "2 days"]).fetchone()[0]
        theirs_old = cron_db.execute(insert, [foreign, "400 days", "400 days"]).fetchone()[0]
        cron_db.execute(jobs["housekeeping-cron-history"][4])  # the job's own command, as pg_cron runs it
        left = {
            r[0]
            for r in cron_db.execute(
                "SELECT runid FROM cron.job_run_details WHERE runid = ANY(%s)", [[ours_old, ours_new, theirs_old]]
            )
        }
        assert left == {ours_new, theirs_old}
    finally:
        cron_db.execute("DELETE FROM cron.job_run_details WHERE jobid = %s", [foreign])
        cron_db.execute("SELECT cron.unschedule(%s::bigint)", [foreign])

    old = timezone.now() - timedelta(days=2600)
    for status in ("succeeded", "running"):
        RetentionRun.objects.create(started_at=old, finished_at=old, status=status, triggered_by="t", dry_run=False)
    recent = RetentionRun.objects.create(
        started_at=timezone.now(), finished_at=timezone.now(), status="failed", triggered_by="t", dry_run=False
    )
    with connection.cursor() as cursor:
        cursor.execute(jobs["housekeeping"][4])  # prune_audit(2555) (its count first), then prune_outbox(30)
        assert cursor.fetchone() == (1,)
    assert set(RetentionRun.objects.values_list("status", flat=True)) == {"running", "failed"}
    assert RetentionRun.objects.filter(pk=recent.pk).exists()


def test_without_pg_cron_migrate_works_and_a_check_says_how_to_enable_it() -> None:
    """A second, throwaway server without pg_cron (scripts/devdb with DEVDB_NO_CRON=1)."""
    folder = tempfile.mkdtemp(prefix="retention-nocron-")
    os.chmod(folder, 0o755)
    env = {**os.environ, "DEVDB_NO_CRON": "1", "DEVDB_DIR": folder, "DEVDB_PORT": "54339"}
    env.pop("DATABASE_URL", None)
    devdb = str(REPO / "scripts" / "devdb")
    subprocess.run([devdb, "start"], env=env, check=True)
    try:
        url = subprocess.run([devdb, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
        manage = {**env, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "testproject.demo_settings"}
        migrate = subprocess.run(
            [sys.executable, str(REPO / "tests" / "manage.py"), "migrate", "-v0"],
            env=manage,
            capture_output=True,
            text=True,
        )
        assert migrate.returncode == 0, migrate.stderr
        assert "pg_retention.W002" in migrate.stderr + migrate.stdout
        check = subprocess.run(
            [sys.executable, str(REPO / "tests" / "manage.py"), "check", "--database", "default"],
            env=manage,
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0
        assert "pg_cron cannot schedule the purge" in check.stderr and "CALL retention.run_cleanup()" in check.stderr
        status = subprocess.run(
            [sys.executable, str(REPO / "tests" / "manage.py"), "retention", "status"],
            env=manage,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "pg_cron is not available" in status.stdout
        purge = subprocess.run(
            [
                sys.executable,
                str(REPO / "tests" / "manage.py"),
                "cleanup_soft_deleted",
                "--execute",
                "--format",
                "json",
            ],
            env=manage,
            capture_output=True,
            text=True,
        )
        assert purge.returncode == 0, purge.stderr  # the purge itself needs no pg_cron
    finally:
        subprocess.run([devdb, "stop"], env=env, check=True)
        subprocess.run(["rm", "-rf", folder], check=True)


def test_scheduler_helper_matches_django_settings() -> None:
    assert scheduler().params["dbname"] == app_db_name()
