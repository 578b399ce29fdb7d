from django.db import migrations, models

from django_pg_retention import sqlfiles


class Migration(migrations.Migration):
    """SQL 0.2 (sql/django_pg_retention--0.1--0.2.sql) and the record format of each sealed run."""

    dependencies = [("django_pg_retention", "0007_deleted_keys_order")]

    operations = [
        migrations.AddField(
            model_name="retentionrun",
            name="record_format",
            field=models.PositiveSmallIntegerField(
                db_default=1,
                default=1,
                help_text="the format of the record its hash covers (1: release 0.1.0's); verify recomputes that one",
            ),
        ),
        migrations.RunPython(
            sqlfiles.apply("django_pg_retention--0.1--0.2.sql"),
            sqlfiles.apply("django_pg_retention--0.2--0.1.sql", "django_pg_retention--0.1.sql"),
            elidable=False,
        ),
    ]
