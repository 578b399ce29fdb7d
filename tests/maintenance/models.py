from django.conf import settings
from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class MaintenanceRequest(SoftDeleteMixin):
    property = models.ForeignKey("properties.Property", on_delete=models.CASCADE, related_name="maintenance_requests")
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    description = models.TextField()


class WorkOrder(SoftDeleteMixin):
    request = models.ForeignKey(MaintenanceRequest, on_delete=models.CASCADE, related_name="work_orders")
    assigned_to = models.ForeignKey(
        "team.TeamMember",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="work_orders",
    )
    cost = models.DecimalField(max_digits=10, decimal_places=2, default=0)
