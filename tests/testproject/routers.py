"""Two databases: the ledger app in 'archive' (with django_pg_retention's tables, which every
database that holds policies needs), everything else in 'default'."""

from __future__ import annotations

from typing import Any

ARCHIVE = "archive"
ARCHIVE_APPS = {"ledger"}
SHARED_APPS = {"django_pg_retention", "contenttypes", "auth"}


class ArchiveRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return ARCHIVE if model._meta.app_label in ARCHIVE_APPS else None

    db_for_write = db_for_read

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        if app_label in ARCHIVE_APPS:
            return db == ARCHIVE
        if db == ARCHIVE:
            return app_label in SHARED_APPS
        return None
