"""What a release promises: released SQL never changes, the wheel a user installs holds everything
the app reads from disk, the version lives in one place, and pg_cron keeps our job names whole."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import django_pg_retention
from django_pg_retention import sqlfiles
from django_pg_retention.audit import UnknownRecordFormat, run_record
from django_pg_retention.models import RetentionRun
from django_pg_retention.schedule import JOB_NAME_BYTES, job_name, job_prefix

REPO = Path(__file__).resolve().parents[1]
# The commit of each release (tests/test_upgrade.py installs them).
RELEASE_COMMITS = {"0.1.0": "b59438d90955cdc11f9306241f6e57304337f5e5"}


@pytest.mark.parametrize("name", sorted(sqlfiles.RELEASED))
def test_a_released_sql_file_is_never_edited(name: str) -> None:
    version, pinned = sqlfiles.RELEASED[name]
    assert sqlfiles.sha256(name) == pinned, (
        f"sql/{name} was released in {version} and must not change: add the change to the next upgrade file"
    )
    released = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{RELEASE_COMMITS[version]}:sql/{name}"], capture_output=True, check=True
    ).stdout
    assert released == (sqlfiles.SQL_DIR / name).read_bytes()


def test_every_sql_file_is_applied_by_a_migration() -> None:
    """An SQL file no migration applies would never reach a database."""
    migrations = "".join(p.read_text() for p in (REPO / "django_pg_retention" / "migrations").glob("0*.py"))
    unused = [p.name for p in sqlfiles.SQL_DIR.glob("*.sql") if f'"{p.name}"' not in migrations]
    assert not unused


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and sdist as `python -m build` makes them from this checkout, checked by twine."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], check=True, capture_output=True)
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, out.iterdir())], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return next(out.glob("*.whl"))


def test_the_wheel_holds_the_sql_templates_static_files_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    package = REPO / "django_pg_retention"
    wanted = [f"django_pg_retention/sql/{p.name}" for p in sqlfiles.SQL_DIR.glob("*.sql")]
    for folder in ("templates", "static", "migrations"):
        wanted += [
            str(p.relative_to(REPO)) for p in (package / folder).rglob("*") if p.is_file() and p.suffix != ".pyc"
        ]
    wanted.append("django_pg_retention/py.typed")
    assert len(wanted) > 20
    assert sorted(set(wanted) - names) == []


def test_the_version_is_kept_in_one_place(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        version = Parser().parsestr(archive.read(metadata).decode())["Version"]
    assert version == django_pg_retention.__version__
    assert f"-{version}-" in wheel.name
    assert '\nversion = "' not in (REPO / "pyproject.toml").read_text()


def test_job_names_fit_pg_cron_and_stay_distinct() -> None:
    """pg_cron cuts a job name to 63 bytes; ours never need cutting, so a sync finds what it scheduled."""
    for database in ("app", "upgrade_from_0_1_0", "a" * 63, "prod_ü" * 10):
        names = [
            job_name(job_prefix(database) + job) for job in ("cleanup", "housekeeping", "housekeeping-cron-history")
        ]
        assert all(len(name.encode()) <= JOB_NAME_BYTES for name in names)
        assert len(set(names)) == 3
        assert all(job_name(name) == name for name in names)
    assert job_name("django_pg_retention:app:cleanup") == "django_pg_retention:app:cleanup"


def test_a_run_sealed_in_a_format_this_version_does_not_know_is_named_not_miscomputed() -> None:
    run = RetentionRun(pk=7, record_format=99)
    with pytest.raises(UnknownRecordFormat, match=r"run 7 was sealed in record format 99.*upgrade the package"):
        run_record(run, [])
