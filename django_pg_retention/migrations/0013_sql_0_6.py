from typing import Any

from django.db import migrations

from django_pg_retention import sqlfiles


def downgrade(apps: Any, schema_editor: Any) -> None:
    sqlfiles.apply("django_pg_retention--0.6--0.5.sql")(apps, schema_editor)
    sqlfiles.apply("django_pg_retention--0.2--0.3.sql")(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("django_pg_retention", "0012_guard_rails")]

    operations = [
        migrations.RunPython(sqlfiles.apply("django_pg_retention--0.5--0.6.sql"), downgrade, elidable=False),
    ]
