import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    """Throttling on replica lag: two synced settings and what each item records of it."""

    dependencies = [("django_pg_retention", "0005_config_row_without_defaults")]

    operations = [
        migrations.AddField(
            model_name="retentionconfigrow",
            name="max_replica_lag_bytes",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="retentionconfigrow",
            name="replica_slots",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.TextField(), blank=True, default=list, size=None
            ),
        ),
        migrations.AddField(
            model_name="retentionconfigrow",
            name="batch_pause_ms",
            field=models.PositiveIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="retentionconfigrow",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("max_replica_lag_bytes__isnull", True), ("max_replica_lag_bytes__gte", 1), _connector="OR"
                ),
                name="retention_config_replica_lag_at_least_1",
            ),
        ),
        migrations.AddField(
            model_name="retentionrunitem",
            name="throttled_ms",
            field=models.BigIntegerField(db_default=0, default=0, help_text="waited for standbys to catch up"),
        ),
        migrations.AddField(
            model_name="retentionrunitem",
            name="replica_lag_bytes",
            field=models.BigIntegerField(
                blank=True, help_text="the largest standby replay lag seen before a batch (when throttled)", null=True
            ),
        ),
    ]
