"""The optional Celery tasks through a real broker and a real worker process, and the spec's API."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from django.db import connection
from purge_helpers import call_cleanup, reset_rules_data, soft_deleted_places
from rules.models import Place

import django_pg_retention
from django_pg_retention.interfaces import IRetentionManager
from django_pg_retention.manager import RetentionManager
from django_pg_retention.models import RetentionRun

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[1]


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL, else a Redis on 127.0.0.1:6379, else one started here (installed if missing)."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    if _answers(url):
        yield url
        return
    server = shutil.which("redis-server")
    if server is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "redis-server"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        server = shutil.which("redis-server")
    assert server, "no Redis answers and redis-server is not installed: apt-get install redis-server, or set REDIS_URL"
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="retention-redis-")
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder])
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _answers(url):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(folder, ignore_errors=True)


def _test_database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="") + (f":{quote(s['PASSWORD'], safe='')}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(scope="module")
def worker(redis_url: str, django_db_blocker: Any) -> Iterator[Any]:
    """A real `celery worker` process on the test database, and the Celery app wired to it."""
    from testproject.celery import app

    app.conf.broker_url = redis_url
    app.conf.result_backend = redis_url
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    queue = f"retention-test-{os.getpid()}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,  # tasks queued from inside the worker stay on its queue
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
        "PYTHONPATH": str(REPO / "tests"),
    }
    app.conf.task_default_queue = queue
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "testproject",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
            "-n",
            f"{queue}@%h",
        ],
        env=env,
        cwd=REPO / "tests",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[f"{queue}@{socket.gethostname()}"], timeout=1):
        if proc.poll() is not None or time.monotonic() > deadline:
            output = proc.stdout.read() if proc.stdout else ""
            proc.kill()
            raise AssertionError(f"the celery worker did not come up:\n{output}")
    yield app
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_cleanup_task_runs_in_a_real_worker(worker: Any) -> None:
    from django_pg_retention.tasks import cleanup_soft_deleted_records

    reset_rules_data()
    soft_deleted_places(4)
    soft_deleted_places(2, age=timedelta(days=1))
    preview = cleanup_soft_deleted_records.delay(dry_run=True, target_model="rules.Place").get(timeout=60)
    assert preview["success"] and preview["target_model"] == "rules.Place"
    assert preview["result"] == {
        "total_eligible": 4,
        "deleted_count": 0,
        "dry_run": True,
        "blocked": 0,
        "status": "succeeded",
    }
    assert Place.objects.count() == 6

    done = cleanup_soft_deleted_records.delay(dry_run=False, target_model="rules.Place").get(timeout=60)
    assert done["success"] and done["result"]["deleted_count"] == 4
    assert Place.objects.count() == 2
    run = RetentionRun.objects.get(pk=done["run_id"])
    assert run.triggered_by == "celery" and run.status == "succeeded"

    override = cleanup_soft_deleted_records.delay(target_model="rules.Place", days_override=1).get(timeout=60)
    assert override["result"]["deleted_count"] == 2  # deleted a day ago: past a 1-day override
    assert not Place.objects.exists()
    everything = cleanup_soft_deleted_records.delay().get(timeout=60)
    assert everything["success"] and "rules.Place" in everything["results"]
    assert everything["total_deleted"] == sum(r.get("deleted_count", 0) for r in everything["results"].values())

    bad = cleanup_soft_deleted_records.delay(target_model="rules.Nope").get(timeout=60)
    assert bad == {"success": False, "error": "'rules.Nope' is not an installed model (expected 'app_label.ModelName')"}


def test_scheduled_cleanup_and_report_tasks_in_a_real_worker(worker: Any) -> None:
    from celery.result import AsyncResult

    from django_pg_retention.tasks import generate_cleanup_report, scheduled_cleanup

    reset_rules_data()
    soft_deleted_places(3)
    queued = scheduled_cleanup.delay().get(timeout=60)
    assert queued["success"]
    purge = AsyncResult(queued["task_id"], app=worker).get(timeout=60)
    assert purge["success"] and purge["results"]["rules.Place"]["deleted_count"] == 3
    assert not Place.objects.exists()

    soft_deleted_places(2)
    report = generate_cleanup_report.delay().get(timeout=60)
    assert report["success"]
    assert set(report["report"]) == {"generated_at", "models", "summary"}
    place = next(m for m in report["report"]["models"] if m["model_path"] == "rules.Place")
    assert (place["eligible_for_cleanup"], place["total_soft_deleted"]) == (2, 2)


def test_importing_the_package_without_celery_keeps_working() -> None:
    code = (
        "import sys; sys.modules['celery'] = None\n"
        # The test project installs django-celery-results (timestamp policies' tests), which needs Celery:
        # a project without Celery has no such app.
        "import testproject.settings as s\n"
        "s.INSTALLED_APPS = [a for a in s.INSTALLED_APPS if a != 'django_celery_results']\n"
        "import django; django.setup()\n"
        "import django_pg_retention, django_pg_retention.models, django_pg_retention.manager\n"
        "from django_pg_retention.management.commands import cleanup_soft_deleted\n"
        "try:\n"
        "    import django_pg_retention.tasks\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "testproject.settings", "PYTHONPATH": str(REPO / "tests")}
    env["DATABASE_URL"] = env.get("DATABASE_URL") or "postgres://unused@127.0.0.1:1/unused"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert (
        "ImportError: django_pg_retention.tasks needs Celery: pip install 'django-pg-retention[celery]'" in out.stdout
    )


def test_get_service_returns_the_specifications_manager() -> None:
    manager = django_pg_retention.get_service("retention_manager")
    assert isinstance(manager, RetentionManager) and isinstance(manager, IRetentionManager)
    assert manager.get_retention_days("leases.Lease") == 2555
    with pytest.raises(LookupError, match="unknown service 'mailer'"):
        django_pg_retention.get_service("mailer")


def test_each_run_started_from_python_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    reset_rules_data()
    soft_deleted_places(2)
    caplog.set_level(logging.INFO, logger="django_pg_retention")
    manager = django_pg_retention.get_retention_manager()
    manager.cleanup_model(Place, dry_run=False)
    records = [r for r in caplog.records if r.name == "django_pg_retention.manager"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    assert "starting" in records[0].getMessage()
    assert "succeeded: 2 rows deleted" in records[1].getMessage()

    caplog.clear()
    import psycopg
    from conftest import server_dsn

    from django_pg_retention.manager import call_run_cleanup

    with psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True) as holder:
        # Another session holds the run lock: this run is skipped, and logged as a warning.
        with holder.transaction():
            holder.execute("SELECT retention.take_lock('run_cleanup')")
            skipped = call_run_cleanup(dry_run=False, model="rules.Place", triggered_by="test")
    assert skipped.status == "skipped"
    records = [r for r in caplog.records if r.name == "django_pg_retention.manager"]
    assert [r.levelno for r in records] == [logging.INFO, logging.WARNING]
    assert f"retention run {skipped.pk} skipped" in records[1].getMessage()
    assert call_cleanup(model="rules.Place").status == "succeeded"
