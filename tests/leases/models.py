from django.conf import settings
from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class Lease(SoftDeleteMixin):
    # Leases are kept 7 years: a property or tenant with leases cannot be purged before them.
    property = models.ForeignKey("properties.Property", on_delete=models.PROTECT, related_name="leases")
    tenant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="leases")
    start_date = models.DateField()
    end_date = models.DateField()
    monthly_rent = models.DecimalField(max_digits=10, decimal_places=2)


class PaymentSchedule(SoftDeleteMixin):
    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="payments")
    due_date = models.DateField()
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    paid = models.BooleanField(default=False)


# What LeaseDocument.after_permanent_delete saw, for the outbox tests.
PURGED_DOCUMENTS: list[tuple[int, int]] = []
FAIL_HOOK_FOR: set[int] = set()


class LeaseDocument(SoftDeleteMixin):
    # The outbox keeps these columns of a purged document for after_permanent_delete.
    retention_snapshot_fields = ["id", "lease", "uploaded_by"]

    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="documents")
    file = models.FileField(upload_to="lease-documents/")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def after_permanent_delete(self) -> None:
        """The specification's hook, called by `retention_drain` after the database purged the row."""
        if self.pk in FAIL_HOOK_FOR:
            raise RuntimeError(f"archive service unavailable for document {self.pk}")
        PURGED_DOCUMENTS.append((self.pk, self.lease_id))
