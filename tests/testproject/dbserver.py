"""Which PostgreSQL the test project talks to.

DATABASE_URL when given; else a testcontainers PostgreSQL built from docker/ when a Docker
engine answers; else the embedded cluster from scripts/devdb (started on demand).
"""

from __future__ import annotations

import atexit
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def _testcontainers_url() -> str:
    from testcontainers.core.image import DockerImage
    from testcontainers.postgres import PostgresContainer

    image = DockerImage(path=str(REPO / "docker"), tag="django-pg-retention-postgres:test")
    image.build()
    container = PostgresContainer(str(image), username="postgres", password="postgres", dbname="retention")
    container.start()
    atexit.register(container.stop)
    host = container.get_container_host_ip()
    port = container.get_exposed_port(5432)
    return f"postgres://postgres:postgres@{host}:{port}/retention"


def _devdb_url() -> str:
    devdb = REPO / "scripts" / "devdb"
    subprocess.run([str(devdb), "start"], check=True)
    return subprocess.run([str(devdb), "url"], check=True, capture_output=True, text=True).stdout.strip()


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        if _docker_answers():
            url = _testcontainers_url()
        else:
            url = _devdb_url()
            os.environ["RETENTION_TEST_SERVER"] = "devdb"  # ours: tests may restart it
        # Child processes (manage.py, workers) must reach the same server without starting another.
        os.environ["DATABASE_URL"] = url
    return url
