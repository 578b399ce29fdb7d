from django.db import migrations, models


class Migration(migrations.Migration):
    """The digest orders integer keys numerically: each batch's keys say which order they take."""

    dependencies = [("django_pg_retention", "0006_replica_lag_throttle")]

    operations = [
        migrations.AddField(
            model_name="retentiondeletedkeys",
            name="key_order",
            field=models.CharField(
                choices=[("numeric", "numeric"), ("bytewise", "bytewise")],
                db_default="bytewise",
                help_text="how the digest orders these keys: numeric for an integer primary key, else bytewise",
                max_length=8,
            ),
        ),
        migrations.AddConstraint(
            model_name="retentiondeletedkeys",
            constraint=models.CheckConstraint(
                condition=models.Q(("key_order__in", ["numeric", "bytewise"])),
                name="retention_deleted_keys_order_known",
            ),
        ),
    ]
