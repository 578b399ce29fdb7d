"""The benchmarks' schema: soft-deletable parents whose children cover CASCADE, SET_NULL, M2M and
a GenericRelation."""

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class Tag(models.Model):
    name = models.CharField(max_length=20)


class Note(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    body = models.CharField(max_length=40)

    class Meta:
        indexes = [models.Index(fields=["content_type", "object_id"])]


class Parent(SoftDeleteMixin):
    name = models.CharField(max_length=40)
    tags = models.ManyToManyField(Tag)
    notes = GenericRelation(Note)


class ChildA(models.Model):
    parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
    payload = models.CharField(max_length=40)


class ChildB(models.Model):
    parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
    payload = models.CharField(max_length=40)


class Ref(models.Model):
    parent = models.ForeignKey(Parent, on_delete=models.SET_NULL, null=True)
    payload = models.CharField(max_length=40)
