from django.db import migrations, models


class Migration(migrations.Migration):
    """Security (issue 30): who changed a policy, and which columns (the trigger that writes these
    rows, retention.record_policy_change, is created by sql/django_pg_retention--0.1--0.2.sql in
    0008); a policy's and a request's days at most 36,500, as run_cleanup accepts."""

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
        migrations.AddConstraint(
            model_name="retentionpolicy",
            constraint=models.CheckConstraint(
                condition=models.Q(("retention_days__lte", 36500)), name="retention_policy_days_at_most_max"
            ),
        ),
        migrations.AddConstraint(
            model_name="retentionrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(("days__isnull", True), ("days__lte", 36500), _connector="OR"),
                name="retention_request_days_at_most_max",
            ),
        ),
    ]
