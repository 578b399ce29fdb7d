"""Upgrades, dump and restore, uninstall: a database installed from a release and used under it
becomes, after this checkout's ``migrate``, what a fresh install of this checkout is, keeps its
proof and its jobs, and purges exactly (Django's Collector as the oracle).

Each release is installed from the repository's history (git archive of its commit) into a
database on the test server, with tests/upgrade_project as the application; every command runs in
a subprocess under the release's code or this checkout's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from upgrade_helpers import REPO, Project, catalog, checkout, differences, drop, interrupt_a_run, jobs, recreate, url

# Every release a database may have been installed from, with its commit. Add each new release.
RELEASES = {"0.1.0": "b59438d90955cdc11f9306241f6e57304337f5e5"}
# The app policy of shop.Order when the release was installed, and after (a change in the history).
DAYS_BEFORE, DAYS_AFTER = "60", "45"


class Installed:
    """A database installed from a release, used under it, then upgraded to this checkout."""

    def __init__(self, version: str, workdir: Path) -> None:
        self.version = version
        self.dbname = f"upgrade_from_{version.replace('.', '_')}"
        self.released = Project(
            self.dbname, checkout(RELEASES[version], workdir / version), SHOP_ORDER_DAYS=DAYS_BEFORE
        )
        self.current = Project(self.dbname, None, SHOP_ORDER_DAYS=DAYS_AFTER)
        self.before: dict[str, Any] = {}

    def install_and_use(self) -> None:
        """Under the release: migrate, data, holds, a dry run, real runs, an interrupted run, a policy
        change, outbox rows, pg_cron jobs; then the release's own verify gives the head to keep."""
        old = self.released
        recreate(self.dbname)
        old.manage("migrate", "-v0")
        seeded = old.step("seed", "30")
        assert seeded["version"] == self.version and str(self.released.code) in seeded["module"], seeded
        old.step("soft_delete", "Order", "30", "100")
        old.step("soft_delete", "Customer", "5", "40")
        old.step("soft_delete", "Note", "10", "40")
        old.step("holds")
        old.sql("CALL retention.run_cleanup(dry_run => true, triggered_by => 'upgrade-test')")
        old.sql("CALL retention.run_cleanup(triggered_by => 'upgrade-test')")
        old.step("soft_delete", "Order", "6", "100")
        self.interrupted = interrupt_a_run(old)
        # Housekeeping under the release: the first run (the dry run), made old, is pruned. 0.1.0
        # kept no record of it; the upgrade notes the gap so that verify still accepts it.
        old.sql(
            "SELECT set_config('pgtrigger.ignore', '{' || string_agg(tgname, ',') || '}', true) FROM pg_trigger"
            " WHERE tgname LIKE 'pgtrigger\\_append\\_only\\_%';"
            " UPDATE retention_run SET started_at = started_at - interval '4000 days',"
            " finished_at = finished_at - interval '4000 days' WHERE chain_position = 1;"
            " SELECT retention.prune_audit(2555)"
        )
        assert old.sql("SELECT min(chain_position) FROM retention_run") == [(2,)]
        changed = Project(self.dbname, old.code, SHOP_ORDER_DAYS=DAYS_AFTER)
        changed.manage("retention", "sync")
        changed.sql("CALL retention.run_cleanup(dry_run => true, triggered_by => 'upgrade-test')")
        changed.sql("CALL retention.run_cleanup(triggered_by => 'upgrade-test')")
        self.head = changed.head()
        self.before = {
            "jobs": jobs(self.dbname),
            "counts": self.counts(),
            "interrupted": old.sql("SELECT status FROM retention_run WHERE id = %s", [self.interrupted]),
        }

    def counts(self) -> dict[str, Any]:
        return audit_counts(self.current)


def audit_counts(project: Project) -> dict[str, Any]:
    """How many rows of each kind the audit holds."""
    rows = project.sql(
        "SELECT (SELECT count(*) FROM retention_run), (SELECT count(*) FROM retention_run WHERE hash <> ''),"
        " (SELECT count(*) FROM retention_run_item), (SELECT count(*) FROM retention_hold),"
        " (SELECT count(*) FROM retention_hold WHERE released_at IS NOT NULL),"
        " (SELECT count(*) FROM retention_policy_history), (SELECT count(*) FROM retention_outbox),"
        " (SELECT count(*) FROM retention_deleted_keys), (SELECT count(*) FROM retention_run WHERE dry_run)"
    )
    names = ("runs", "sealed", "items", "holds", "released", "policy_history", "outbox", "keys", "dry_runs")
    return dict(zip(names, rows[0], strict=True))


@pytest.fixture(scope="module", params=sorted(RELEASES))
def installed(request: pytest.FixtureRequest) -> Iterator[Installed]:
    workdir = Path(tempfile.mkdtemp(prefix="retention-upgrade-"))
    db = Installed(request.param, workdir)
    fresh = f"upgrade_fresh_{request.param.replace('.', '_')}"
    try:
        db.install_and_use()
        db.current.manage("migrate", "-v0")
        recreate(fresh)
        Project(fresh, None, SHOP_ORDER_DAYS=DAYS_AFTER).manage("migrate", "-v0")
        db.fresh = fresh  # type: ignore[attr-defined]
        yield db
    finally:
        drop(db.dbname)
        drop(fresh)
        shutil.rmtree(workdir, ignore_errors=True)


def test_history_was_made_under_the_release(installed: Installed) -> None:
    """The release really ran what the upgrade must keep (else the other tests prove little)."""
    counts = installed.before["counts"]
    assert counts["sealed"] >= 4 and counts["dry_runs"] == 1
    assert counts["holds"] == 2 and counts["released"] == 1
    assert counts["policy_history"] == 4  # three soft-delete models' policies created, then shop.Order's changed
    assert counts["outbox"] > 0
    assert installed.before["interrupted"] == [("interrupted",)]
    assert len(installed.before["jobs"]) >= 3


def test_an_upgraded_database_equals_a_fresh_install(installed: Installed) -> None:
    """Routines of schema retention (definition, comment, rights, SECURITY DEFINER), our tables,
    views, columns, constraints, indexes, every trigger of the database, the policy rows and the
    synced settings: object by object."""
    found = differences(catalog(installed.dbname), catalog(installed.fresh))  # type: ignore[attr-defined]
    assert not found, "upgraded vs fresh:\n" + "\n".join(found)


def test_the_history_and_the_jobs_survive_the_upgrade(installed: Installed) -> None:
    """Every audit row is still there; the jobs do what a fresh install's do (for this database),
    the release's are kept as they were but for a name pg_cron had cut to 63 bytes (0.1.0 then
    scheduled and unscheduled it on alternate syncs; such a name now ends in a hash), and they stay
    the same over later migrates."""
    assert installed.counts() == installed.before["counts"]
    after = jobs(installed.dbname)
    fresh = installed.fresh  # type: ignore[attr-defined]
    assert job_actions(after, installed.dbname) == job_actions(jobs(fresh), fresh)
    assert all(
        len(job[0].encode()) <= 63 and job[0].startswith(f"django_pg_retention:{installed.dbname}:") for job in after
    )
    kept = [job for job in installed.before["jobs"] if len(job[0].encode()) < 63]
    assert len(kept) >= 3 and all(job in after for job in kept)
    installed.current.manage("migrate", "-v0")
    assert jobs(installed.dbname) == after


def job_actions(rows: list[tuple[Any, ...]], dbname: str) -> list[str]:
    """What the jobs do (schedule, command, database, user, active), whichever database they serve."""
    return sorted(str(row[1:]).replace(dbname, "DB") for row in rows)


def test_a_chain_sealed_by_the_release_verifies_with_the_head_kept_before(installed: Installed) -> None:
    done = installed.current.manage("retention", "verify", "--head", installed.head)
    assert "audit chain intact" in done.stdout and "known heads: 1 checked" in done.stdout, done.stdout
    assert "positions 1-1 pruned before 0.2 recorded pruning" in done.stdout, done.stdout
    # The release's holds (one released) and policy history, sealed by the upgrade as they were.
    assert re.search(r"holds and policy history: \d+ seal\(s\) verified, [1-9]\d* sealed at the upgrade", done.stdout)
    formats = installed.current.sql("SELECT DISTINCT record_format FROM retention_run WHERE hash <> ''")
    assert formats == [(1,)]


def test_the_next_run_purges_exactly(installed: Installed) -> None:
    """After the upgrade: Django's Collector says what the eligible roots would take; the run takes
    exactly that, records it, and seals it so that the whole chain still verifies."""
    db = installed.current
    db.step("soft_delete", "Order", "9", "100")
    db.step("soft_delete", "Customer", "6", "40")
    expected = db.step("expected")
    assert expected.get("shop.Order") and expected.get("shop.Line"), expected
    before = db.step("snapshot")
    db.sql("CALL retention.run_cleanup(triggered_by => 'after-upgrade')")
    after = db.step("snapshot")
    tables = {"shop.Order": "Order", "shop.Customer": "Customer", "shop.Line": "Line", "shop.Note": "Note"}
    for path, name in tables.items():
        gone = sorted({row[0] for row in before[name]} - {row[0] for row in after[name]})
        assert gone == expected.get(path, []), f"{path}: deleted {gone}, Django would delete {expected.get(path)}"
    # SET_NULL: notes of purged orders lost their order, no other note changed.
    purged = set(expected["shop.Order"])
    notes_after = {row[0]: row for row in after["Note"]}
    for note in before["Note"]:
        want = list(note)
        if want[3] in purged:
            want[3] = None
        assert notes_after[note[0]] == want
    item = db.sql(
        "SELECT i.deleted, i.status FROM retention_run_item i JOIN retention_run r ON r.id = i.run_id"
        " WHERE r.triggered_by = 'after-upgrade' AND i.model_path = 'shop.Order'"
    )
    assert item == [(len(expected["shop.Order"]), "succeeded")]
    done = db.manage("retention", "verify", "--head", installed.head)
    assert "audit chain intact" in done.stdout, done.stdout


def test_a_downgrade_to_the_release_and_back_ends_where_a_fresh_install_does(installed: Installed) -> None:
    """migrate django_pg_retention 0007 (0.1.0's last migration) restores 0.1.0's static SQL;
    migrating forward again ends equal to a fresh install."""
    db = installed.current
    formats = db.sql("SELECT id, record_format FROM retention_run WHERE hash <> '' ORDER BY id")
    assert {f for _, f in formats} == {1, 2}, formats  # the release's runs, and those sealed since
    db.manage("migrate", "django_pg_retention", "0007", "-v0")
    reference = f"upgrade_reference_{installed.version.replace('.', '_')}"
    try:
        recreate(reference)
        Project(reference, installed.released.code, SHOP_ORDER_DAYS=DAYS_AFTER).manage("migrate", "-v0")
        static = {"routines", "schema", "relations", "columns", "constraints", "indexes"}
        released, downgraded = catalog(reference), catalog(installed.dbname)
        found = differences({k: released[k] for k in static}, {k: downgraded[k] for k in static})
        assert not [f for f in found if not _generated(f)], "0.1.0 vs downgraded:\n" + "\n".join(found)
    finally:
        drop(reference)
    db.manage("migrate", "-v0")
    found = differences(catalog(installed.dbname), catalog(installed.fresh))  # type: ignore[attr-defined]
    assert not found, "downgraded and upgraded again vs fresh:\n" + "\n".join(found)
    # The column went with the downgrade; each run sealed in format 2 gets its number back.
    assert db.sql("SELECT id, record_format FROM retention_run WHERE hash <> '' ORDER BY id") == formats
    assert "audit chain intact" in db.manage("retention", "verify", "--head", installed.head).stdout


def _generated(difference: str) -> bool:
    """A generated purge/select function: recompiled by this checkout's sync even at 0007."""
    return "retention.purge__" in difference or "retention.select__" in difference


# --- dump and restore onto another cluster ---------------------------------------------------


@pytest.fixture
def other_cluster() -> Iterator[str]:
    """A second PostgreSQL with pg_cron (scripts/devdb on a port and directory of its own)."""
    if not os.environ.get("RETENTION_TEST_SERVER") == "devdb" and not shutil.which("initdb"):
        binaries = list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not binaries:
            pytest.skip("no local PostgreSQL binaries to start a second cluster with")
    folder = Path(tempfile.mkdtemp(prefix="retention-restore-", dir="/var/tmp"))
    folder.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DEVDB_PORT="54361", DEVDB_DIR=str(folder), DEVDB_NAME="restored")
    devdb = str(REPO / "scripts" / "devdb")
    subprocess.run([devdb, "start"], env=env, check=True, capture_output=True)
    try:
        yield subprocess.run([devdb, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    finally:
        subprocess.run([devdb, "stop"], env=env, check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _pg_tool(name: str) -> str:
    with psycopg.connect(url("postgres")) as conn:
        major = conn.execute("SHOW server_version_num").fetchone()[0][:2]  # type: ignore[index]
    tool = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    return str(tool) if tool.exists() else (shutil.which(name) or name)


def test_a_dump_restored_on_another_cluster_purges_verifies_and_gets_its_jobs(
    installed: Installed, other_cluster: str, tmp_path: Path
) -> None:
    """docs/operations.md, "Restoring from a dump", step by step."""
    dump = tmp_path / "app.dump"
    subprocess.run([_pg_tool("pg_dump"), "--format=custom", f"--file={dump}", installed.current.url], check=True)
    head = installed.current.head()
    expected_counts = installed.counts()
    restored = Project("restored", None, base=other_cluster, SHOP_ORDER_DAYS=DAYS_AFTER)
    done = subprocess.run(
        [_pg_tool("pg_restore"), "--exit-on-error", "--dbname", restored.url, str(dump)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert jobs("restored", other_cluster) == []  # pg_cron keeps jobs in its own database: not in the dump
    restored.manage("migrate", "-v0")
    assert job_actions(jobs("restored", other_cluster), "restored") == job_actions(
        jobs(installed.dbname), installed.dbname
    )
    verified = restored.manage("retention", "verify", "--head", head)
    assert "audit chain intact" in verified.stdout, verified.stdout
    assert audit_counts(restored) == expected_counts
    restored.step("soft_delete", "Order", "3", "100")
    expected = restored.step("expected")
    restored.sql("CALL retention.run_cleanup(triggered_by => 'restored')")
    deleted = restored.sql(
        "SELECT i.deleted FROM retention_run_item i JOIN retention_run r ON r.id = i.run_id"
        " WHERE r.triggered_by = 'restored' AND i.model_path = 'shop.Order'"
    )
    assert deleted == [(len(expected["shop.Order"]),)] and expected["shop.Order"]
    assert "audit chain intact" in restored.manage("retention", "verify", "--head", head).stdout


# --- uninstall (last: it removes what the tests above read) --------------------------------------


def test_uninstall_refuses_to_drop_sealed_runs_then_removes_every_object_of_ours(installed: Installed) -> None:
    db = installed.current
    app_rows = db.step("snapshot")
    refused = db.manage("migrate", "django_pg_retention", "zero", check=False)
    assert refused.returncode != 0
    assert "refusing to uninstall django_pg_retention" in refused.stderr and "pg_dump" in refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    assert db.sql("SELECT count(*) FROM retention_run WHERE hash <> ''")[0][0] > 0  # nothing dropped
    assert jobs(installed.dbname)

    done = db.manage("retention", "uninstall", "--drop-audit")
    assert "Unapplying django_pg_retention.0001_initial" in done.stdout, done.stdout
    leftovers = db.sql(
        "SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname = 'retention'"
        " UNION ALL SELECT 'table ' || relname FROM pg_class WHERE relname LIKE 'retention\\_%'"
        " UNION ALL SELECT 'routine ' || p.oid::regprocedure::text FROM pg_proc p"
        "   WHERE p.proname LIKE '%retention%' OR p.prosrc LIKE '%retention.%'"
        " UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal"
        " UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typname LIKE 'retention\\_%'"
    )
    assert leftovers == []
    assert jobs(installed.dbname) == []
    assert db.step("snapshot") == app_rows  # the application's tables as they were
