from django.conf import settings
from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class TeamMember(SoftDeleteMixin):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_member")
    role = models.CharField(max_length=64)
    properties = models.ManyToManyField("properties.Property", blank=True, related_name="team")
