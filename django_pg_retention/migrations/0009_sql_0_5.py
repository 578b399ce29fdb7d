from django.db import migrations

from django_pg_retention import sqlfiles


class Migration(migrations.Migration):
    dependencies = [("django_pg_retention", "0008_admin_requests_alerts")]

    operations = [
        migrations.RunPython(
            sqlfiles.apply("django_pg_retention--0.4--0.5.sql"),
            sqlfiles.apply("django_pg_retention--0.5--0.4.sql"),
            elidable=False,
        )
    ]
