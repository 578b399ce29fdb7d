from django.db import migrations, models


class Migration(migrations.Migration):
    """Who, on the Django side, changed a policy: the trigger retention.record_policy_change (SQL
    0.2, migration 0008) writes the transaction's setting retention.actor here, beside the role."""

    dependencies = [("django_pg_retention", "0009_security")]

    operations = [
        migrations.AddField(
            model_name="retentionpolicyhistory",
            name="actor",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="the Django user or command the application said it acted for (retention.actor), if any",
                max_length=200,
            ),
        ),
    ]
