"""Leases in the demo's admin: their changelist offers "Place a legal hold"."""

from django.contrib import admin

from leases.models import Lease


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "property", "tenant", "start_date", "end_date", "is_deleted", "deleted_at")
    list_filter = ("is_deleted",)
