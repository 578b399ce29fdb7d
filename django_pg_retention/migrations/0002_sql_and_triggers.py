from django.db import migrations

from django_pg_retention import audit, sqlfiles


class Migration(migrations.Migration):
    """The static SQL (after the tables it reads) and the append-only triggers."""

    dependencies = [("django_pg_retention", "0001_initial")]

    operations = [
        migrations.RunPython(
            sqlfiles.apply("django_pg_retention--0.1.sql"),
            sqlfiles.apply("django_pg_retention--0.1--uninstall.sql"),
            elidable=False,
        ),
        migrations.RunPython(audit.install_triggers, audit.uninstall_triggers, elidable=False),
    ]
