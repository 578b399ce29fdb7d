from typing import Any

from django.db import migrations, models


def compress_keys_with_lz4(apps: Any, schema_editor: Any) -> None:
    """Every batch writes its keys: pglz, the default compression, costs more CPU than the rest of the
    proof of deletion (about 0.2 s of a 1M-row run); lz4 costs almost none for about the same size. A
    server built without lz4 stores them uncompressed instead."""
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "DO $$ BEGIN"
        " ALTER TABLE retention_deleted_keys ALTER COLUMN keys SET COMPRESSION lz4;"
        " EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN"
        " ALTER TABLE retention_deleted_keys ALTER COLUMN keys SET STORAGE EXTERNAL;"
        " END $$"
    )


def compress_keys_as_before(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE retention_deleted_keys ALTER COLUMN keys SET COMPRESSION default,"
            " ALTER COLUMN keys SET STORAGE EXTENDED"
        )


class Migration(migrations.Migration):
    """The digest orders integer keys numerically: each batch's keys say which order they take and
    whether they are sorted already; the keys are compressed with lz4."""

    dependencies = [("django_pg_retention", "0006_replica_lag_throttle")]

    operations = [
        migrations.AddField(
            model_name="retentiondeletedkeys",
            name="key_order",
            field=models.CharField(
                choices=[("numeric", "numeric"), ("bytewise", "bytewise")],
                db_default="bytewise",
                help_text="how the digest orders these keys: numeric for an integer primary key, else bytewise",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="retentiondeletedkeys",
            name="ascending",
            field=models.BooleanField(
                db_default=False, help_text="the purge function wrote the keys in ascending numeric order"
            ),
        ),
        migrations.AddConstraint(
            model_name="retentiondeletedkeys",
            constraint=models.CheckConstraint(
                condition=models.Q(("key_order__in", ["numeric", "bytewise"])),
                name="retention_deleted_keys_order_known",
            ),
        ),
        migrations.RunPython(compress_keys_with_lz4, compress_keys_as_before),
    ]
