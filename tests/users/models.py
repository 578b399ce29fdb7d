from django.contrib.auth.models import AbstractUser
from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class User(SoftDeleteMixin, AbstractUser):
    """The platform's account; its purge cascades to the profile."""


class UserProfile(SoftDeleteMixin):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    phone = models.CharField(max_length=32, blank=True)
    bio = models.TextField(blank=True)
