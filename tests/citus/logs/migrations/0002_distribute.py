"""Distribute the tables on the Citus cluster, as a team would in a migration: Citus requires every
key and foreign key of colocated tables to include the distribution column, so the order graph's
tables get (tenant_id, id) keys and (tenant_id, <fk>) foreign keys in place of Django's one-column
ones (Django still sees id as the key; the sequence keeps it unique). Event is distributed by its
key; Country is a reference table; Shipment stays local on the coordinator."""

from typing import Any

from django.db import migrations

COLOCATED = ["logs_order", "logs_line", "logs_linenote", "logs_comment", "logs_invoice"]
FOREIGN_KEYS = [
    ("logs_line", "order_id", "logs_order"),
    ("logs_linenote", "line_id", "logs_line"),
    ("logs_comment", "order_id", "logs_order"),
    ("logs_invoice", "order_id", "logs_order"),
]

DROP_FOREIGN_KEYS = """
DO $$
DECLARE c record;
BEGIN
  FOR c IN SELECT conrelid::regclass AS t, conname FROM pg_constraint
            WHERE contype = 'f' AND conrelid = ANY (ARRAY['logs_line', 'logs_linenote', 'logs_comment', 'logs_invoice']::regclass[])
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.t, c.conname);
  END LOOP;
END $$;
"""

FORWARD = [DROP_FOREIGN_KEYS]
for table in COLOCATED:
    FORWARD.append(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY (tenant_id, id)")
FORWARD.append("SELECT create_distributed_table('logs_order', 'tenant_id')")
for table in COLOCATED[1:]:
    FORWARD.append(f"SELECT create_distributed_table('{table}', 'tenant_id', colocate_with => 'logs_order')")
for table, column, parent in FOREIGN_KEYS:
    FORWARD.append(
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fk FOREIGN KEY (tenant_id, {column})"
        f" REFERENCES {parent} (tenant_id, id) DEFERRABLE INITIALLY DEFERRED"
    )
FORWARD.append("SELECT create_distributed_table('logs_event', 'id')")
FORWARD.append("SELECT create_reference_table('logs_country')")


def distribute(apps: object, schema_editor: Any) -> None:
    """On a database with Citus only: the Citus tests' single-server copy keeps Django's tables."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
        if cursor.fetchone() is None:
            return
        for statement in FORWARD:
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("logs", "0001_initial")]
    operations = [migrations.RunPython(distribute, migrations.RunPython.noop)]
