"""The side-effect outbox: files and hooks of purged rows, at least once, never for rolled-back work."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from leases import models as leases
from properties.models import Property
from purge_helpers import call_cleanup
from users.models import User

from django_pg_retention.models import RetentionOutbox

pytestmark = pytest.mark.django_db(transaction=True)


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
