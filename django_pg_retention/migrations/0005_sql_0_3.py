from django.db import migrations

from django_pg_retention import sqlfiles


class Migration(migrations.Migration):
    dependencies = [("django_pg_retention", "0004_adaptive_batching")]

    operations = [
        migrations.RunPython(
            sqlfiles.apply("django_pg_retention--0.2--0.3.sql"),
            # 0.1's file is idempotent (CREATE OR REPLACE): it restores the 0.2 run_cleanup.
            sqlfiles.apply("django_pg_retention--0.1.sql"),
            elidable=False,
        )
    ]
