from django.db import migrations, models


class Migration(migrations.Migration):
    """Runs are sealed in record format 2 (django_pg_retention--0.1--0.2.sql, applied by 0008): only
    the field's help text."""

    dependencies = [
        ("django_pg_retention", "0013_policy_position_order"),
    ]

    operations = [
        migrations.AlterField(
            model_name="retentionrun",
            name="record_format",
            field=models.PositiveSmallIntegerField(
                db_default=1,
                default=1,
                help_text=(
                    "the format of the record its hash covers (1: release 0.1.0's; 2: 0.2's, each digest with its"
                    " chunk); verify recomputes that one"
                ),
            ),
        ),
    ]
