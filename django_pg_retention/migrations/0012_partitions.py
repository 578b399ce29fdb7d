from django.db import migrations, models


class Migration(migrations.Migration):
    """Whole partitions (issue 26 items 3-4): the query that finds a partition's referenced rows,
    per policy (written by sync), and the partitions a run item dropped."""

    dependencies = [
        ("django_pg_retention", "0011_timestamp_policies"),
    ]

    operations = [
        migrations.AddField(
            model_name="retentionpolicy",
            name="partition_refs",
            field=models.TextField(
                blank=True,
                db_default="",
                default="",
                help_text="the function retention.drop_partition calls to find a partition's referenced rows",
            ),
        ),
        migrations.AddField(
            model_name="retentionrunitem",
            name="partitions_dropped",
            field=models.JSONField(
                blank=True,
                null=True,
                help_text="whole partitions dropped: [{partition, rows}] (not in the run's hash)",
            ),
        ),
    ]
