"""The versioned SQL files under sql/, applied by the app's migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SQL_DIR = Path(__file__).resolve().parent / "sql"


def read(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def apply(name: str) -> Any:
    """A RunPython callable that runs one SQL file on PostgreSQL (and nothing elsewhere)."""

    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(read(name))

    return run
