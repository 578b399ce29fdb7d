from django.db import migrations, models


class Migration(migrations.Migration):
    """Security (issue 30): who changed a policy, and which columns. The trigger that writes these
    rows, retention.record_policy_change, is created by sql/django_pg_retention--0.1--0.2.sql (0008)."""

    dependencies = [("django_pg_retention", "0008_sql_0_2")]

    operations = [
        migrations.AddField(
            model_name="retentionpolicyhistory",
            name="changed_by",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="the database role that made the change",
                max_length=200,
            ),
        ),
        migrations.AddField(
            model_name="retentionpolicyhistory",
            name="detail",
            field=models.CharField(
                blank=True, db_default="", default="", help_text="the columns an update changed", max_length=1000
            ),
        ),
    ]
