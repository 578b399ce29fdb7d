from django.conf import settings
from django.db import models

from django_pg_retention.models import SoftDeleteManager, SoftDeleteMixin


class Amenity(models.Model):
    name = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.name


class Property(SoftDeleteMixin):
    # An owner with properties cannot be purged: PROTECT.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_properties")
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="managed_properties",
    )
    address = models.CharField(max_length=200)
    amenities = models.ManyToManyField(Amenity, blank=True, related_name="properties")

    objects = SoftDeleteManager()


class PropertyImage(SoftDeleteMixin):
    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="images")
    image = models.FileField(upload_to="property-images/")
    caption = models.CharField(max_length=200, blank=True)
