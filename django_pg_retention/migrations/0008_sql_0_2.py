from django.db import migrations, models

from django_pg_retention import sqlfiles


class Migration(migrations.Migration):
    """SQL 0.2 (sql/django_pg_retention--0.1--0.2.sql), the record format of each sealed run, and the
    records of what housekeeping pruned (the SQL file reads that table, so it comes first)."""

    dependencies = [("django_pg_retention", "0007_deleted_keys_order")]

    operations = [
        migrations.AddField(
            model_name="retentionrun",
            name="record_format",
            field=models.PositiveSmallIntegerField(
                db_default=1,
                default=1,
                help_text="the format of the record its hash covers (1: release 0.1.0's); verify recomputes that one",
            ),
        ),
        migrations.CreateModel(
            name="RetentionAuditPrune",
            fields=[
                ("id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("pruned_at", models.DateTimeField()),
                ("older_than_days", models.PositiveIntegerField()),
                ("through_position", models.BigIntegerField(help_text="the last chain position removed")),
                ("through_hash", models.CharField(help_text="its hash: the next run's prev_hash", max_length=64)),
                ("runs_removed", models.BigIntegerField()),
                ("newest_removed_at", models.DateTimeField(help_text="when the newest removed run finished")),
                ("prev_hash", models.CharField(blank=True, max_length=64)),
                ("hash", models.CharField(max_length=64)),
                (
                    "at_upgrade",
                    models.BooleanField(
                        default=False,
                        help_text="written by the upgrade to SQL 0.2 for runs pruned before records existed: "
                        "their age is unknown",
                    ),
                ),
            ],
            options={"verbose_name": "audit pruning record", "db_table": "retention_audit_prune", "ordering": ["id"]},
        ),
        migrations.RunPython(
            sqlfiles.apply("django_pg_retention--0.1--0.2.sql"),
            sqlfiles.apply("django_pg_retention--0.2--0.1.sql", "django_pg_retention--0.1.sql"),
            elidable=False,
        ),
    ]
