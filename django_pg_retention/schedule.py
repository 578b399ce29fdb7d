"""pg_cron jobs, synced from RETENTION_SCHEDULE: the purge runs with no Python process alive.

pg_cron keeps its jobs in one database (``cron.database_name``, often ``postgres``, as on managed
services), which may not be the application's. Jobs are created there with
``cron.schedule_in_database`` and changed with ``cron.alter_job`` (pg_cron 1.4's upsert by name
does not update the database or the active flag). Our jobs are named
``django_pg_retention:<database>:<job>``, so two projects or databases on one server never clash,
and nothing else in ``cron.job`` is touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from django.db import connections
from psycopg import sql

from django_pg_retention import config

PREFIX = "django_pg_retention"


@dataclass(frozen=True)
class CronJob:
    name: str  # full pg_cron job name
    schedule: str
    command: str
    database: str


@dataclass
class JobSyncResult:
    scheduled: list[str] = field(default_factory=list[str])
    updated: list[str] = field(default_factory=list[str])
    unscheduled: list[str] = field(default_factory=list[str])
    unavailable: str = ""  # why pg_cron could not be used, if it could not

    @property
    def changes(self) -> int:
        return len(self.scheduled) + len(self.updated) + len(self.unscheduled)


def job_prefix(database: str) -> str:
    return f"{PREFIX}:{database}:"


JOB_NAME_BYTES = 63  # pg_cron's jobname is a PostgreSQL name: longer ones are cut to 63 bytes


def job_name(full: str) -> str:
    """A job name pg_cron keeps whole: a longer one ends in a hash of the full name instead, since
    cut names would collide (housekeeping and housekeeping-cron-history of a long database name) and
    never equal the name asked for, so every sync would unschedule what it had just scheduled."""
    if len(full.encode()) <= JOB_NAME_BYTES:
        return full
    suffix = "~" + hashlib.sha256(full.encode()).hexdigest()[:8]
    return full.encode()[: JOB_NAME_BYTES - len(suffix)].decode(errors="ignore") + suffix


def connect_params(using: str) -> dict[str, Any]:
    """psycopg connection parameters of a Django database alias (its credentials and options)."""
    params: dict[str, Any] = {**cast(dict[str, Any], connections[using].get_connection_params())}
    for django_only in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(django_only, None)
    return params


class PgCronUnavailable(RuntimeError):
    pass


class Scheduler:
    """Our jobs in pg_cron for one application database, wherever pg_cron lives."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    @contextmanager
    def _connect(self, dbname: str | None = None) -> Generator[psycopg.Connection[Any]]:
        params = dict(self.params)
        if dbname:
            params["dbname"] = dbname
        with psycopg.connect(**params, autocommit=True) as conn:
            yield conn

    @contextmanager
    def cron(self) -> Generator[tuple[psycopg.Connection[Any], str, str]]:
        """(connection to pg_cron's database, application database, pg_cron's database)."""
        with self._connect() as app:
            app_db, cron_db = app.execute(
                "SELECT current_database(), current_setting('cron.database_name', true)"
            ).fetchone() or ("", None)
            if not cron_db:
                raise PgCronUnavailable("pg_cron is not preloaded (shared_preload_libraries) on this server")
            if cron_db == app_db:  # pg_cron lives in the application's database
                yield self._checked(app, cron_db), app_db, cron_db
                return
        with self._connect(cron_db) as conn:  # pg_cron elsewhere: same credentials, its database
            yield self._checked(conn, cron_db), app_db, cron_db

    @staticmethod
    def _checked(conn: psycopg.Connection[Any], cron_db: str) -> psycopg.Connection[Any]:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'").fetchone() is None:
            raise PgCronUnavailable(f"the pg_cron extension is not created in database {cron_db!r}")
        return conn

    def unavailable_reason(self) -> str | None:
        """None when our jobs can be scheduled; otherwise what is missing, in words."""
        try:
            with self.cron():
                return None
        except (PgCronUnavailable, psycopg.Error) as exc:
            return str(exc).strip()

    def sync(self) -> JobSyncResult:
        """Schedule, update and unschedule our jobs so cron.job matches RETENTION_SCHEDULE."""
        result = JobSyncResult()
        reason = self.unavailable_reason()
        if reason:
            result.unavailable = reason
            return result
        with self.cron() as (conn, app_db, cron_db):
            installed = _installed(conn, job_prefix(app_db))
            for job in desired_jobs(app_db, cron_db):
                current = installed.pop(job.name, None)
                if current is None:
                    conn.execute(
                        "SELECT cron.schedule_in_database(%s, %s, %s, %s)",
                        [job.name, job.schedule, job.command, job.database],
                    )
                    result.scheduled.append(job.name)
                elif current[1:] != (job.schedule, job.command, job.database, True):
                    conn.execute(
                        "SELECT cron.alter_job(%s, schedule => %s, command => %s, database => %s, active => true)",
                        [current[0], job.schedule, job.command, job.database],
                    )
                    result.updated.append(job.name)
            for name, (jobid, *_rest) in installed.items():
                conn.execute("SELECT cron.unschedule(%s::bigint)", [jobid])
                result.unscheduled.append(name)
        return result

    def unschedule_all(self) -> list[str]:
        """Remove every job of this application database (e.g. before dropping it)."""
        if self.unavailable_reason():
            return []
        with self.cron() as (conn, app_db, _):
            installed = _installed(conn, job_prefix(app_db))
            for jobid, *_rest in installed.values():
                conn.execute("SELECT cron.unschedule(%s::bigint)", [jobid])
        return sorted(installed)

    def schedule_problem(self, expression: str) -> str | None:
        """pg_cron's own verdict on a schedule: a job is created in a transaction rolled back."""
        with self.cron() as (conn, _, _):
            try:
                with conn.transaction(force_rollback=True):
                    conn.execute("SELECT cron.schedule(%s, %s, 'SELECT 1')", [f"{PREFIX}:validate", expression])
            except psycopg.Error as exc:
                return str(exc).strip()
        return None

    def status(self, runs_per_job: int = 5) -> tuple[list[dict[str, Any]], list[JobRun]]:
        """Our jobs (name, schedule, database, active, next due) and their latest runs."""
        with self.cron() as (conn, app_db, _):
            prefix = job_prefix(app_db)
            jobs = conn.execute(
                "SELECT jobid, jobname, schedule, database, active FROM cron.job"
                " WHERE starts_with(jobname, %s) ORDER BY jobname",
                [prefix],
            ).fetchall()
            runs = conn.execute(
                """
                SELECT j.jobname, d.start_time, d.end_time, d.status, d.return_message, d.job_pid
                FROM cron.job j
                JOIN LATERAL (SELECT * FROM cron.job_run_details d WHERE d.jobid = j.jobid
                              ORDER BY d.start_time DESC NULLS LAST LIMIT %s) d ON true
                WHERE starts_with(j.jobname, %s)
                ORDER BY d.start_time DESC NULLS LAST
                """,
                [runs_per_job, prefix],
            ).fetchall()
        job_rows = [
            {
                "job": str(name)[len(prefix) :],
                "jobid": jobid,
                "schedule": schedule,
                "database": database,
                "active": active,
                "next_due": next_due(str(schedule)) if active else None,
            }
            for jobid, name, schedule, database, active in jobs
        ]
        run_rows = [JobRun(str(r[0])[len(prefix) :], r[1], r[2], str(r[3] or ""), str(r[4] or ""), r[5]) for r in runs]
        return job_rows, run_rows


def scheduler(using: str = "default") -> Scheduler:
    return Scheduler(connect_params(using))


def sync_jobs(using: str = "default") -> JobSyncResult:
    return scheduler(using).sync()


def desired_jobs(app_db: str, cron_db: str) -> list[CronJob]:
    cleanup = config.cleanup_config()
    prefix = job_prefix(app_db)
    jobs: list[CronJob] = []
    for name, expression in config.retention_schedule().items():
        if expression is None:
            continue
        if name == "cleanup":
            # The job's only statement: pg_cron can commit inside a procedure only then.
            jobs.append(
                CronJob(
                    job_name(prefix + name), expression, "CALL retention.run_cleanup(triggered_by => 'pg_cron')", app_db
                )
            )
        elif name == "requests":
            jobs.append(CronJob(job_name(prefix + name), expression, "CALL retention.drain_requests()", app_db))
        elif name == "housekeeping":
            prune = sql.SQL("SELECT retention.prune_audit({}); SELECT retention.prune_outbox({})").format(
                sql.Literal(cleanup.audit_retention_days), sql.Literal(cleanup.outbox_retention_days)
            )
            jobs.append(CronJob(job_name(prefix + name), expression, prune.as_string(None), app_db))
            # pg_cron never cleans its run history: prune our jobs' rows, in pg_cron's database.
            history = sql.SQL(
                "DELETE FROM cron.job_run_details WHERE end_time < now() - make_interval(days => {days})"
                " AND jobid IN (SELECT jobid FROM cron.job WHERE starts_with(jobname, {prefix}))"
            ).format(days=sql.Literal(cleanup.cron_history_days), prefix=sql.Literal(prefix))
            jobs.append(
                CronJob(job_name(prefix + name + "-cron-history"), expression, history.as_string(None), cron_db)
            )
    return jobs


def _installed(conn: psycopg.Connection[Any], prefix: str) -> dict[str, tuple[int, str, str, str, bool]]:
    rows = conn.execute(
        "SELECT jobname, jobid, schedule, command, database, active FROM cron.job"
        " WHERE username = current_user AND starts_with(jobname, %s)",
        [prefix],
    ).fetchall()
    return {str(r[0]): (int(r[1]), str(r[2]), str(r[3]), str(r[4]), bool(r[5])) for r in rows}


def next_due(expression: str, after: datetime | None = None) -> datetime | None:
    """When a pg_cron schedule fires next (pg_cron 1.4 schedules in UTC); None if unknown."""
    from cronsim import CronSim, CronSimError

    start = (after or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    try:
        return next(CronSim(expression, start))
    except (CronSimError, StopIteration, ValueError):
        return None


@dataclass(frozen=True)
class JobRun:
    job: str
    start_time: datetime | None
    end_time: datetime | None
    status: str
    return_message: str
    job_pid: int | None
