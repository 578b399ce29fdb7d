"""Uninstalling (``migrate django_pg_retention zero``) removes every object of ours, but never the
proof of past purges by reflex: while sealed runs exist it is refused unless the audit is given up
explicitly (``manage.py retention uninstall --drop-audit``, or RETENTION_ALLOW_AUDIT_DROP=1)."""

from __future__ import annotations

import os
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.management.base import CommandError
from django.db import connections, router

from django_pg_retention.models import RetentionRun
from django_pg_retention.schedule import scheduler

APP_LABEL = "django_pg_retention"
ALLOW_ENV = "RETENTION_ALLOW_AUDIT_DROP"
_audit_may_go: ContextVar[bool] = ContextVar("retention_audit_may_go", default=False)


@contextmanager
def audit_may_go() -> Generator[None]:
    """Within it, unapplying the app's first migration may drop sealed runs."""
    token = _audit_may_go.set(True)
    try:
        yield
    finally:
        _audit_may_go.reset(token)


def _unapplies_app(plan: Any) -> bool:
    return any(backwards and m.app_label == APP_LABEL and m.name == "0001_initial" for m, backwards in plan or ())


def _installed(using: str) -> bool:
    connection = connections[using]
    return (
        connection.vendor == "postgresql"
        and router.allow_migrate(using, APP_LABEL)
        and RetentionRun._meta.db_table in connection.introspection.table_names()
    )


def refusal(using: str) -> str | None:
    """Why unapplying the app would lose proof on this database, or None when nothing sealed is there."""
    sealed = RetentionRun.objects.using(using).filter(chain_position__isnull=False)
    count = sealed.count()
    if not count:
        return None
    first = sealed.order_by("chain_position").values_list("chain_position", "started_at").first()
    last = sealed.order_by("-chain_position").values_list("chain_position", "hash").first()
    assert first is not None and last is not None
    name = connections[using].settings_dict["NAME"]
    return (
        f"refusing to uninstall django_pg_retention from database {using!r}: it would drop the audit of "
        f"{count} sealed run(s) (chain positions {first[0]}-{last[0]}, the first started {first[1]:%Y-%m-%d}; "
        f"head {last[0]}:{last[1]}). Export it first, e.g. "
        f"pg_dump --table='retention_*' --file=retention-audit.dump --format=custom {name} "
        f"(retention verify checks it after a restore), then run "
        f"'manage.py retention uninstall --drop-audit --database {using}' "
        f"(or set {ALLOW_ENV}=1 for this migrate)."
    )


def guard_uninstall(plan: Any = None, using: str = "default", **kwargs: object) -> None:
    """pre_migrate: refuse a plan that unapplies the app while sealed runs exist, unless allowed."""
    if not _unapplies_app(plan) or not _installed(using):
        return
    if _audit_may_go.get() or os.environ.get(ALLOW_ENV) == "1":
        return
    reason = refusal(using)
    if reason:
        raise CommandError(reason)


def unschedule_if_uninstalled(using: str = "default", **kwargs: object) -> list[str]:
    """post_migrate: once the app's tables are gone, so are its pg_cron jobs for this database."""
    connection = connections[using]
    if connection.vendor != "postgresql" or not router.allow_migrate(using, APP_LABEL):
        return []
    if RetentionRun._meta.db_table in connection.introspection.table_names():
        return []
    return scheduler(using).unschedule_all()
