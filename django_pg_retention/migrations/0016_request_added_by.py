from django.db import migrations, models


class Migration(migrations.Migration):
    """The database role that added a request (SQL 0.2's guard_request_row writes it): drain_requests
    checks a request another role added against the policies again when it runs it."""

    dependencies = [
        ("django_pg_retention", "0015_policy_blocking_tables"),
    ]

    operations = [
        migrations.AddField(
            model_name="retentionrequest",
            name="added_by",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="the database role that added it (written by the database; requested_by is what it said)",
                max_length=63,
            ),
        ),
    ]
