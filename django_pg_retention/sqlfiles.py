"""The versioned SQL files under sql/, applied by the app's migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psycopg import sql

SQL_DIR = Path(__file__).resolve().parent / "sql"


APP_SCHEMA = "@app_schema@"


def read(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def apply(name: str) -> Any:
    """A RunPython callable that runs one SQL file on PostgreSQL (and nothing elsewhere).

    ``@app_schema@`` in the file becomes the quoted schema the app's tables are created in (the
    connection's current_schema()), so that procedures name them without a search_path."""

    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            schema = cursor.fetchone()[0]
            if schema is None:
                raise RuntimeError(
                    "django_pg_retention: the connection's search_path names no existing schema, so there is "
                    "no schema for the app's tables; set search_path (or OPTIONS['options']) to one"
                )
            quoted = sql.Identifier(schema).as_string(None)
            cursor.execute(read(name).replace(APP_SCHEMA, quoted))

    return run
