from django.db import migrations

from django_pg_retention import sqlfiles


class Migration(migrations.Migration):
    dependencies = [("django_pg_retention", "0006_report_view")]

    operations = [
        migrations.RunPython(
            sqlfiles.apply("django_pg_retention--0.3--0.4.sql"),
            sqlfiles.apply("django_pg_retention--0.4--0.3.sql"),
            elidable=False,
        )
    ]
