from django.db import migrations

from django_pg_retention import sqlfiles


class Migration(migrations.Migration):
    dependencies = [("django_pg_retention", "0002_sql_0_1")]

    operations = [
        migrations.RunPython(
            sqlfiles.apply("django_pg_retention--0.1--0.2.sql"),
            sqlfiles.apply("django_pg_retention--0.2--0.1.sql"),
            elidable=False,
        )
    ]
