"""The side-effect outbox: files and hooks of purged rows, at least once, never for rolled-back work."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection, models
from django.test.utils import isolate_apps
from django.utils import timezone
from leases import models as leases
from properties.models import Property
from purge_helpers import call_cleanup, rules_model
from users.models import User

from django_pg_retention.checks import check_models as check_models_of
from django_pg_retention.compiler import outbox_spec
from django_pg_retention.models import RetentionOutbox, SoftDeleteMixin
from django_pg_retention.schedule import desired_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def only(messages: list[checks.CheckMessage], check_id: str) -> checks.CheckMessage:
    found = [m for m in messages if m.id == check_id]
    assert len(found) == 1, messages
    return found[0]


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    leases.PURGED_DOCUMENTS.clear()
    leases.FAIL_HOOK_FOR.clear()
    RetentionOutbox.objects.all().delete()


def lease_with_document(tenant: User, *, eligible: bool, name: str) -> tuple[leases.Lease, leases.LeaseDocument, str]:
    prop = Property.objects.create(owner=tenant, address=f"{name} street")
    deleted_at = timezone.now() - (timedelta(days=3000) if eligible else timedelta(days=10))
    lease = leases.Lease.objects.create(
        property=prop,
        tenant=tenant,
        start_date=date(2015, 1, 1),
        end_date=date(2016, 1, 1),
        monthly_rent=Decimal(1000),
        is_deleted=True,
        deleted_at=deleted_at,
    )
    stored = default_storage.save(f"lease-documents/{name}.pdf", ContentFile(b"%PDF-1.4 " + name.encode()))
    # Soft-deleted with its lease: a live document would keep the lease (retention-aware cascades).
    document = leases.LeaseDocument.objects.create(
        lease=lease, file=stored, uploaded_by=tenant, is_deleted=True, deleted_at=deleted_at
    )
    return lease, document, stored


def drain() -> str:
    out = io.StringIO()
    call_command("retention_drain", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_purged_files_are_removed_and_hooks_called_once() -> None:
    tenant = User.objects.create(username="tenant")
    old_lease, old_doc, old_file = lease_with_document(tenant, eligible=True, name="old")
    _, young_doc, young_file = lease_with_document(tenant, eligible=False, name="young")

    call_cleanup(model="leases.Lease", dry_run=True)
    assert not RetentionOutbox.objects.exists()  # a dry run owes nothing

    run = call_cleanup(model="leases.Lease")
    assert run.status == "succeeded"
    row = RetentionOutbox.objects.get()
    assert (row.model_path, row.object_pk, row.files) == ("leases.LeaseDocument", str(old_doc.pk), {"file": old_file})
    assert row.snapshot == {"id": old_doc.pk, "lease_id": old_lease.pk, "uploaded_by_id": tenant.pk}
    assert default_storage.exists(old_file)  # nothing is lost while the drain is not running

    assert drain().startswith("1 outbox row(s) done")
    assert not default_storage.exists(old_file) and default_storage.exists(young_file)
    assert leases.PURGED_DOCUMENTS == [(old_doc.pk, old_lease.pk)]
    row.refresh_from_db()
    assert row.done_at is not None
    assert drain().startswith("0 outbox row(s) done")  # not twice
    assert leases.LeaseDocument.objects.filter(pk=young_doc.pk).exists()


def test_a_failing_hook_is_kept_and_retried() -> None:
    tenant = User.objects.create(username="tenant")
    _, doc, stored = lease_with_document(tenant, eligible=True, name="flaky")
    call_cleanup(model="leases.Lease")
    leases.FAIL_HOOK_FOR.add(doc.pk)
    assert "0 outbox row(s) done, 1 failed" in drain()
    row = RetentionOutbox.objects.get()
    assert row.done_at is None and row.attempts == 1 and "archive service unavailable" in row.last_error
    assert default_storage.exists(stored)  # rolled back with the failed hook: the file waits too

    leases.FAIL_HOOK_FOR.clear()
    default_storage.delete(stored)  # someone removed it meanwhile: not an error
    assert drain().startswith("1 outbox row(s) done")
    assert leases.PURGED_DOCUMENTS == [(doc.pk, doc.lease_id)]


def test_a_blocked_root_writes_no_outbox_row() -> None:
    """A lease whose cascade is refused (a PROTECT down the graph) leaves no outbox row behind."""
    tenant = User.objects.create(username="tenant")
    lease, doc, _ = lease_with_document(tenant, eligible=True, name="blocked")
    from django_pg_retention import place_hold

    place_hold(doc, "keep the signed copy")
    run = call_cleanup(model="leases.Lease")
    assert run.status == "succeeded"
    assert leases.Lease.objects.filter(pk=lease.pk).exists()
    assert not RetentionOutbox.objects.exists()


# --- privacy (issue 14, item 6) --------------------------------------------------------------------


@isolate_apps("rules")
def test_the_snapshot_holds_only_the_fields_a_model_names() -> None:
    Parent = rules_model("Parent", SoftDeleteMixin)

    def parent() -> models.ForeignKey[Any, Any]:
        return models.ForeignKey(Parent, on_delete=models.CASCADE)

    def email() -> models.CharField[Any, Any]:
        return models.CharField(max_length=50)

    hook = {"after_permanent_delete": lambda self: None}
    name = models.CharField(max_length=20)
    Named = rules_model("Named", parent=parent(), name=name, email=email(), retention_snapshot_fields=["name"], **hook)
    HookOnly = rules_model("HookOnly", parent=parent(), email=email(), **hook)
    Everything = rules_model("Everything", parent=parent(), email=email(), retention_snapshot_fields="__all__")

    assert outbox_spec(Named) == ([], [("name", "name")])
    assert outbox_spec(HookOnly) == ([], [])  # the hook gets the primary key alone
    assert outbox_spec(Everything) == ([], [("id", "id"), ("parent_id", "parent_id"), ("email", "email")])
    messages = check_models_of([Parent])
    assert only(messages, "pg_retention.W005").obj is HookOnly
    assert not [m for m in messages if m.id == "pg_retention.E012"]


@isolate_apps("rules")
def test_a_snapshot_list_naming_no_field_is_an_error() -> None:
    Parent = rules_model("Parent", SoftDeleteMixin)

    class Typo(models.Model):
        parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
        email = models.CharField(max_length=50)
        retention_snapshot_fields = ["e_mail"]

        class Meta:
            app_label = "rules"

    class NotAList(models.Model):
        parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
        retention_snapshot_fields = "email"

        class Meta:
            app_label = "rules"

    errors = [m for m in check_models_of([Parent]) if m.id == "pg_retention.E012"]
    assert {e.obj for e in errors} == {Typo, NotAList}
    assert any("['e_mail']" in e.msg for e in errors) and any("'__all__'" in e.msg for e in errors)


def test_drained_rows_are_pruned_after_outbox_retention_days_and_waiting_ones_kept() -> None:
    tenant = User.objects.create(username="tenant")
    lease_with_document(tenant, eligible=True, name="a")
    lease_with_document(tenant, eligible=True, name="b")
    call_cleanup(model="leases.Lease")
    first, second = RetentionOutbox.objects.order_by("id")
    RetentionOutbox.objects.filter(pk=first.pk).update(done_at=timezone.now() - timedelta(days=31))
    with connection.cursor() as cursor:
        cursor.execute("SELECT retention.prune_outbox(30)")
        assert cursor.fetchone() == (1,)
    assert list(RetentionOutbox.objects.values_list("pk", flat=True)) == [second.pk]  # not drained yet: kept
    job = next(j for j in desired_jobs("app", "postgres") if j.name.endswith(":housekeeping"))
    assert "retention.prune_outbox(30)" in job.command


def test_a_file_still_named_by_a_row_of_the_table_is_not_deleted() -> None:
    tenant = User.objects.create(username="tenant")
    lease, purged, stored = lease_with_document(tenant, eligible=True, name="shared")
    other_lease, _, _ = lease_with_document(tenant, eligible=False, name="other")
    copy = leases.LeaseDocument.objects.create(lease=other_lease, file=stored, uploaded_by=tenant)
    call_cleanup(model="leases.Lease")
    assert not leases.LeaseDocument.objects.filter(pk=purged.pk).exists()
    assert drain().startswith("1 outbox row(s) done")
    assert default_storage.exists(stored)  # the copy still names it
    assert leases.PURGED_DOCUMENTS == [(purged.pk, lease.pk)]
    assert leases.LeaseDocument.objects.get(pk=copy.pk).file.name == stored
