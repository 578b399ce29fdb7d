"""RETENTION_CLEANUP_CONFIG: every key is declared once (config.CleanupConfig); the retention_config
row, what the SQL reads (retention.config()) and docs/settings.md follow from that declaration."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_type_hints

import psycopg
import pytest
from conftest import server_dsn
from django.db import connection

from django_pg_retention.config import CLEANUP_KEYS, CleanupConfig, cleanup_config, synced_keys
from django_pg_retention.sync import sync

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
# A valid value other than the default for each key (the executor role must name a real role).
OTHER_VALUES: dict[str, Any] = {
    "max_deletions_per_run": {"default": 5, "rules": 9},
    "max_replica_lag_bytes": 50_000_000,
    "replica_slots": ["standby_b"],
    "executor_role": None,
    "on_retained_cascade": "delete",
}


def other_value(key: str) -> Any:
    if key in OTHER_VALUES:
        return OTHER_VALUES[key]
    default = CLEANUP_KEYS[key].default
    return (not default) if isinstance(default, bool) else default + 1


@pytest.mark.django_db(transaction=True)
def test_every_key_reaches_the_config_and_every_synced_key_what_the_sql_reads(settings: Any) -> None:
    values = {key: other_value(key) for key in CLEANUP_KEYS}
    original = settings.RETENTION_CLEANUP_CONFIG
    settings.RETENTION_CLEANUP_CONFIG = values
    assert cleanup_config() == CleanupConfig(**values)
    assert synced_keys() == [
        "batch_size", "max_execution_time", "enable_notifications", "notification_threshold", "lock_timeout_ms",
        "audit_retention_days", "target_batch_ms", "min_batch_size", "max_batch_size", "max_replica_lag_bytes",
        "replica_slots", "batch_pause_ms",
    ]  # fmt: skip
    try:
        sync()
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_jsonb(retention.config())::text")
            read: dict[str, Any] = json.loads(cursor.fetchone()[0])  # type: ignore[index]
        assert {key: read[key] for key in synced_keys()} == {key: values[key] for key in synced_keys()}
    finally:
        settings.RETENTION_CLEANUP_CONFIG = original
        sync()


@pytest.mark.django_db(transaction=True)
def test_the_sql_has_no_defaults_of_its_own_and_a_database_never_synced_says_so() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE oid = 'retention.run_cleanup'::regproc")
        source = cursor.fetchone()[0]  # type: ignore[index]
        assert "retention.config()" in source and not re.search(r"coalesce\(cfg\.", source)
        cursor.execute("DELETE FROM retention_config")
    try:
        with psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="retention_config has no row"):
                conn.execute("CALL retention.run_cleanup()")
    finally:
        sync()


def test_docs_settings_md_lists_every_key_with_its_declared_type_and_default() -> None:
    section = DOCS.read_text().split("## `RETENTION_CLEANUP_CONFIG`")[1].split("\n## ")[0]
    rows = {m[0]: (m[1], m[2]) for m in re.findall(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \|", section, re.M)}
    assert sorted(rows) == sorted(CLEANUP_KEYS)
    hints = get_type_hints(CleanupConfig)
    for key, declared in CLEANUP_KEYS.items():
        kind, default = rows[key]
        assert default.strip().strip("`").strip('"') == str(declared.default), key
        if hints[key] in (int, bool):
            assert kind.strip().startswith(hints[key].__name__), key
        if declared.metadata["minimum"] is not None:
            assert f">= {declared.metadata['minimum']}" in kind, key
