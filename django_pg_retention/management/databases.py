"""--database for the commands: one alias, or 'all' for every database that holds policies."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from django_pg_retention.sync import policy_databases

ALL_DATABASES = "all"


def databases_option(value: str, fallback: bool = False) -> list[str]:
    """The aliases --database names. With 'all' and no database holding policies: an error, or with
    ``fallback`` the default alias (what status shows before anything was routed or migrated)."""
    if value == ALL_DATABASES:
        aliases = policy_databases()
        if aliases:
            return aliases
        if fallback:
            return [DEFAULT_DB_ALIAS]
        raise CommandError(
            "--database all: no database holds retention policies (PostgreSQL, django_pg_retention "
            "allowed there by the routers, and a soft-delete model routed there)"
        )
    if value not in connections:
        raise CommandError(f"--database {value!r} is not in DATABASES (or use --database all)")
    return [value]
