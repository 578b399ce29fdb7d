"""The versioned SQL files under sql/, applied by the app's migrations.

As pg_cron and pg_partman ship theirs: ``django_pg_retention--0.1.sql`` installs release 0.1.0's
objects, and each later version adds ``django_pg_retention--<from>--<to>.sql`` (applied by the
migration of that version) and ``django_pg_retention--<to>--<from>.sql`` (its reverse: drops what
the upgrade created, after which the previous files are applied again). A fresh install runs every
file in order, an upgraded database the ones it lacks, so both end with the same objects. A
released file is never edited: :data:`RELEASED` pins each one's SHA-256 (tests/test_release.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from psycopg import sql

SQL_DIR = Path(__file__).resolve().parent / "sql"

APP_SCHEMA = "@app_schema@"

# Released files, with the release that shipped them and their SHA-256: a change to one of these
# is a defect (a new file is added instead).
RELEASED = {
    "django_pg_retention--0.1.sql": ("0.1.0", "44f70361e0c7a81ec9b924efe04ccedd5038c25e366ff8f3bc969b3029a807c4"),
    "django_pg_retention--0.1--uninstall.sql": (
        "0.1.0",
        "c1a5d70786f1c4b94b432774ac24863c262cf6197067578bd31f6f6e5d211ff7",
    ),
}


def read(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def sha256(name: str) -> str:
    return hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest()


def apply(*names: str) -> Any:
    """A RunPython callable that runs SQL files in order on PostgreSQL (and nothing elsewhere).

    ``@app_schema@`` in a file becomes the quoted schema the app's tables are created in (the
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
            for name in names:
                cursor.execute(read(name).replace(APP_SCHEMA, quoted))

    return run
