from typing import Any

from django.db import migrations

from django_pg_retention import audit, sqlfiles


def downgrade(apps: Any, schema_editor: Any) -> None:
    sqlfiles.apply("django_pg_retention--0.7--0.6.sql")(apps, schema_editor)
    for name in (
        "django_pg_retention--0.5--0.6.sql",
        "django_pg_retention--0.3--0.4.sql",
        "django_pg_retention--0.4--0.5.sql",
        "django_pg_retention--0.1--0.2.sql",
    ):
        sqlfiles.apply(name)(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("django_pg_retention", "0015_audit_chain_and_columns")]

    operations = [
        migrations.RunPython(sqlfiles.apply("django_pg_retention--0.6--0.7.sql"), downgrade, elidable=False),
        migrations.RunPython(audit.install_triggers, audit.uninstall_triggers, elidable=False),
    ]
