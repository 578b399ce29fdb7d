"""A soft-delete model in the admin: its changelist offers "Place a legal hold"."""

from django.contrib import admin

from rules.models import Place

admin.site.register(Place)
