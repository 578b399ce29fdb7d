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


class LeaseDocument(SoftDeleteMixin):
    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="documents")
    file = models.FileField(upload_to="lease-documents/")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
