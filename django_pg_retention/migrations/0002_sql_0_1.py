from django.db import migrations

from django_pg_retention import sqlfiles


class Migration(migrations.Migration):
    dependencies = [("django_pg_retention", "0001_audit_tables")]

    operations = [
        migrations.RunPython(
            sqlfiles.apply("django_pg_retention--0.1.sql"),
            sqlfiles.apply("django_pg_retention--0.1--uninstall.sql"),
            elidable=False,
        )
    ]
