from django.db import migrations, models


class Migration(migrations.Migration):
    """The tables that can block a policy's purge (written by sync), which run_cleanup reads to give
    blocked rows another pass only when a purge may have freed them (SQL 0.2, applied by 0008)."""

    dependencies = [
        ("django_pg_retention", "0014_record_format_2"),
    ]

    operations = [
        migrations.AddField(
            model_name="retentionpolicy",
            name="blocking_tables",
            field=models.JSONField(
                blank=True,
                null=True,
                help_text=(
                    "tables whose rows can block this model's purge by reference (PROTECT, RESTRICT, DO_NOTHING): a"
                    " run gives blocked rows another pass only after a purge deleted rows of one (NULL: after any"
                    " purge)"
                ),
            ),
        ),
    ]
