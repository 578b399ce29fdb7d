"""Django 6.1's database-level delete rules (installed on Django 6.1 and later only, see
testproject/settings.py): the purge must leave what Django's own delete() plus the database's
ON DELETE actions leave, and count, prove and guard what those actions take."""

from django.db import models

from django_pg_retention.models import SoftDeleteMixin


class Root(SoftDeleteMixin):
    name = models.CharField(max_length=20)


class Child(models.Model):
    root = models.ForeignKey(Root, on_delete=models.DB_CASCADE)  # type: ignore[attr-defined]


class Grandchild(models.Model):
    child = models.ForeignKey(Child, on_delete=models.DB_CASCADE)  # type: ignore[attr-defined]


class KeptChild(SoftDeleteMixin):
    """A soft-delete child behind DB_CASCADE with a longer policy: a live or young one keeps its root."""

    root = models.ForeignKey(Root, on_delete=models.DB_CASCADE)  # type: ignore[attr-defined]


class Nullable(models.Model):
    root = models.ForeignKey(Root, null=True, on_delete=models.DB_SET_NULL)  # type: ignore[attr-defined]


class Defaulted(models.Model):
    """DB_SET_DEFAULT writes the column's DEFAULT: the sentinel root (pk 1, never deleted)."""

    root = models.ForeignKey(Root, db_default=1, on_delete=models.DB_SET_DEFAULT)  # type: ignore[attr-defined]


class Guard(models.Model):
    """PROTECT beside DB_SET_NULL: a guarded root is blocked, its nullable rows untouched."""

    root = models.ForeignKey(Root, on_delete=models.PROTECT)
