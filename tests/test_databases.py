"""Two databases (testproject.routers): the ledger app lives in 'archive', the rest in 'default'. Each
database holds the policies of its own models, purges with its own procedure and audit, and the
commands cover both with --database all."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from ledger.models import Entry, EntryLine
from purge_helpers import ELIGIBLE_AGE, soft_deleted_places
from rules.models import Place

from django_pg_retention import place_hold
from django_pg_retention.holds import HoldError
from django_pg_retention.models import RetentionHold, RetentionPolicy, RetentionRun, RetentionRunItem
from django_pg_retention.schedule import scheduler
from django_pg_retention.sync import policy_databases, sync

pytestmark = [
    pytest.mark.django_db(transaction=True, databases=["default", "archive"]),
    pytest.mark.usefixtures("reset_rules"),
]


@pytest.fixture(autouse=True)
def synced_archive() -> None:
    """Each test flushes both databases after it: the archive's policies and settings are synced
    again before the next (reset_rules does the same for default)."""
    sync("archive")


def command(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def ledger_entries(eligible: int, young: int, live: int) -> list[int]:
    """Entries in the archive database, two lines each; the primary keys of the eligible ones."""
    now = timezone.now()
    rows = [
        *(Entry(memo="old", is_deleted=True, deleted_at=now - ELIGIBLE_AGE) for _ in range(eligible)),
        *(Entry(memo="young", is_deleted=True, deleted_at=now - timedelta(days=5)) for _ in range(young)),
        *(Entry(memo="live") for _ in range(live)),
    ]
    entries = Entry.objects.bulk_create(rows)
    EntryLine.objects.bulk_create(EntryLine(entry=e) for e in entries for _ in range(2))
    return [e.pk for e in entries if e.memo == "old"]


def test_each_database_holds_the_policies_of_the_models_routed_to_it() -> None:
    assert policy_databases() == ["default", "archive"]
    archive = set(RetentionPolicy.objects.using("archive").filter(is_active=True).values_list("model_path", flat=True))
    default = set(RetentionPolicy.objects.using("default").filter(is_active=True).values_list("model_path", flat=True))
    assert archive == {"ledger.Entry"}
    assert "ledger.Entry" not in default and "rules.Place" in default
    with connections["archive"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'retention'::regnamespace"
            " AND proname LIKE 'purge\\_\\_%%'"
        )
        assert cursor.fetchone()[0] == 1  # ledger.Entry's purge function only
    # migrate --database archive scheduled that database's own pg_cron jobs.
    jobs, _ = scheduler("archive").status()
    name = connections["archive"].settings_dict["NAME"]
    assert {j["job"] for j in jobs if j["database"] == name} >= {"cleanup"}, jobs
    default_jobs, _ = scheduler("default").status()
    assert not [j for j in default_jobs if j["database"] == name], default_jobs


def test_cleanup_all_purges_every_database_with_its_own_procedure_and_audit() -> None:
    places = soft_deleted_places(3)
    Place.objects.create(name="live")
    eligible = ledger_entries(eligible=4, young=2, live=3)

    preview = command("cleanup_soft_deleted", "--database", "all", "--dry-run")
    assert "database default:" in preview and "database archive:" in preview
    assert Entry.objects.count() == 9 and Place.objects.count() == 4

    output = command("cleanup_soft_deleted", "--database", "all", "--execute", "--force")
    assert "database default:" in output and "database archive:" in output
    assert not Place.objects.filter(pk__in=places).exists() and Place.objects.filter(name="live").exists()
    assert not Entry.objects.filter(pk__in=eligible).exists()
    assert sorted(Entry.objects.values_list("memo", flat=True)) == ["live"] * 3 + ["young"] * 2
    assert EntryLine.objects.count() == 10  # the lines of the five entries left

    # Each database audited its own run: the archive run knows nothing of rules, and the reverse.
    archive_run = RetentionRun.objects.using("archive").latest("id")
    default_run = RetentionRun.objects.using("default").latest("id")
    assert not archive_run.dry_run and not default_run.dry_run
    archive_items = {i.model_path: i for i in RetentionRunItem.objects.using("archive").filter(run=archive_run)}
    assert set(archive_items) == {"ledger.Entry"}
    assert archive_items["ledger.Entry"].cascaded == {"ledger_entry": 4, "ledger_entryline": 8}
    assert "ledger.Entry" not in set(
        RetentionRunItem.objects.using("default").filter(run=default_run).values_list("model_path", flat=True)
    )
    verified = command("retention", "verify", "--database", "archive")
    assert "audit chain intact" in verified


def test_json_of_every_database_is_keyed_by_alias() -> None:
    ledger_entries(eligible=2, young=0, live=1)
    data = json.loads(command("cleanup_soft_deleted", "--database", "all", "--execute", "--force", "--format", "json"))
    assert set(data) == {"default", "archive"}
    assert data["archive"]["items"][0]["model_path"] == "ledger.Entry" and data["archive"]["items"][0]["deleted"] == 2
    one = json.loads(command("cleanup_soft_deleted", "--database", "archive", "--dry-run", "--format", "json"))
    assert one["dry_run"] and [i["model_path"] for i in one["items"]] == ["ledger.Entry"]


def test_a_model_runs_only_in_the_database_it_is_routed_to() -> None:
    eligible = ledger_entries(eligible=2, young=0, live=0)
    output = command("cleanup_soft_deleted", "--database", "all", "--model", "ledger.Entry", "--execute", "--force")
    assert "database" not in output  # one database only: no headers
    assert not Entry.objects.filter(pk__in=eligible).exists()
    assert not RetentionRun.objects.using("default").exists()  # nothing ran in default
    with pytest.raises(CommandError, match=r"--model ledger.Entry: the database routers put it in none of default"):
        command("cleanup_soft_deleted", "--database", "default", "--model", "ledger.Entry", "--dry-run")
    with pytest.raises(CommandError, match=r"--database 'nowhere' is not in DATABASES"):
        command("cleanup_soft_deleted", "--database", "nowhere")


def test_status_and_show_cover_every_database(settings: Any) -> None:
    soft_deleted_places(2)
    ledger_entries(eligible=3, young=0, live=0)
    command("cleanup_soft_deleted", "--database", "all", "--execute", "--force")
    assert "database archive:" not in command("retention", "status")  # default: the default database alone
    status = command("retention", "status", "--database", "all")
    assert "database default:" in status and "database archive:" in status
    shown = command("retention", "show", "--database", "all")
    archive_part = shown.split("database archive:", 1)[1]
    assert "ledger.Entry" in archive_part and "rules.Place" not in archive_part
    assert "rules.Place" in shown.split("database archive:", 1)[0]
    statuses = json.loads(command("retention", "status", "--database", "all", "--format", "json"))
    assert set(statuses) == {"default", "archive"}
    only = command("retention", "show", "--database", "archive")
    assert "ledger.Entry" in only and "database archive:" not in only
    run_id = RetentionRun.objects.using("archive").latest("id").pk
    with pytest.raises(CommandError, match="run ids are per database"):
        command("retention", "show", str(run_id), "--database", "all")
    assert "ledger.Entry" in command("retention", "show", str(run_id), "--database", "archive")


def test_a_hold_goes_to_the_database_of_its_rows_and_is_in_force_through_its_purge() -> None:
    held_by_python, held_by_admin, free = ledger_entries(eligible=3, young=0, live=0)
    place_hold(Entry.objects.get(pk=held_by_python), "litigation", by="legal")  # routed: archive
    User = get_user_model()
    root = User.objects.create_superuser(username="root", password="pw")
    client = Client()
    client.force_login(root)
    added = client.post(
        reverse("admin:django_pg_retention_retentionhold_add"),
        {"model_path": "ledger.Entry", "object_pk": f"0{held_by_admin}", "reason": "subpoena"},
        follow=True,
    )
    assert "placed in database &#x27;archive&#x27;" in added.content.decode(), added.content.decode()[:3000]
    holds = RetentionHold.objects.using("archive").order_by("id")
    assert [(h.model_path, h.object_pk, h.created_by) for h in holds] == [
        ("ledger.Entry", str(held_by_python), "legal"),
        ("ledger.Entry", str(held_by_admin), "root"),
    ]
    assert not RetentionHold.objects.using("default").exists()
    # The default database purges no ledger model: a hold written there would protect nothing.
    with connections["default"].cursor() as cursor, pytest.raises(IntegrityError, match="not purged in this database"):
        cursor.execute(
            "INSERT INTO retention_hold (model_path, object_pk, reason, created_by, created_at, released_by)"
            " VALUES ('ledger.Entry', %s, 'x', 'dba', now(), '')",
            [str(free)],
        )
    with pytest.raises(
        HoldError, match=r"ledger\.Entry is not purged in database .default.: the routers put its rows in .archive."
    ):
        place_hold(Entry.objects.get(pk=free), "wrong database", using="default")

    command("cleanup_soft_deleted", "--database", "archive", "--execute", "--force")
    assert sorted(Entry.objects.values_list("pk", flat=True)) == sorted([held_by_python, held_by_admin])
    item = RetentionRunItem.objects.using("archive").latest("id")
    assert (item.deleted, item.blocked) == (1, 2)
