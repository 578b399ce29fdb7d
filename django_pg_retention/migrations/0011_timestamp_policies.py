from django.db import migrations, models


class Migration(migrations.Migration):
    """Timestamp policies (issue 26): a policy row's kind, and 0 days allowed for a timestamp policy
    only (a session past its expire_date); a timestamp policy has no flag column."""

    dependencies = [
        ("django_pg_retention", "0010_policy_history_actor"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="retentionpolicy",
            name="retention_policy_days_at_least_1",
        ),
        migrations.AddField(
            model_name="retentionpolicy",
            name="kind",
            field=models.CharField(
                choices=[("soft_delete", "soft delete"), ("timestamp", "timestamp")],
                db_default="soft_delete",
                default="soft_delete",
                help_text="what starts the clock: the soft delete, or the timestamp in deleted_at_column",
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="retentionpolicy",
            constraint=models.CheckConstraint(
                condition=models.Q(("retention_days__gte", 1), ("kind", "timestamp"), _connector="OR"),
                name="retention_policy_days_at_least_1",
            ),
        ),
        migrations.AddConstraint(
            model_name="retentionpolicy",
            constraint=models.CheckConstraint(
                condition=models.Q(("kind__in", ["soft_delete", "timestamp"])), name="retention_policy_kind"
            ),
        ),
        migrations.AddConstraint(
            model_name="retentionpolicy",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "timestamp"), _negated=True), ("flag_column", ""), _connector="OR"
                ),
                name="retention_policy_timestamp_without_flag",
            ),
        ),
    ]
