"""Settings, read lazily through one typed function each; bad values name their key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SYSTEM_DEFAULT_DAYS = 30
T = TypeVar("T")

POLICIES_SETTING = "SOFT_DELETE_RETENTION_POLICIES"
CLEANUP_SETTING = "RETENTION_CLEANUP_CONFIG"
SCHEDULE_SETTING = "RETENTION_SCHEDULE"

# The specification's cadence: cleanup daily at midnight, housekeeping (its weekly report slot) on Sundays.
# "requests" drains the real runs asked for in the admin, every minute.
DEFAULT_SCHEDULE: dict[str, str | None] = {
    "cleanup": "0 0 * * *",
    "housekeeping": "30 0 * * 0",
    "requests": "* * * * *",
}

# key -> (expected type, default). bool is checked before int: bool is an int in Python.
CLEANUP_KEYS: dict[str, tuple[type, Any]] = {
    "batch_size": (int, 1000),
    "max_execution_time": (int, 3600),
    "enable_notifications": (bool, True),
    "notification_threshold": (int, 10000),
    "dry_run_default": (bool, True),
    "require_confirmation": (bool, True),
    "lock_timeout_ms": (int, 2000),
    "large_deletion_threshold": (int, 10000),
    "audit_retention_days": (int, 2555),  # 7 years, the longest period in the specification's policies
    "cron_history_days": (int, 30),  # our rows in cron.job_run_details
    "outbox_retention_days": (int, 30),  # drained retention_outbox rows (snapshots of purged rows)
    "target_batch_ms": (int, 200),  # adaptive batching: batch duration to aim at
    "min_batch_size": (int, 100),
    "max_batch_size": (int, 5000),  # bounds the slowest batch (docs/benchmarks.md)
    # Guard rail for unattended runs: more eligible rows of one model than this, and the run deletes
    # none of them until a person confirms (cleanup_soft_deleted --model ... --execute --force).
    # An int for every model, or {"default": n, "app": n, "app.Model": n}; None: no limit.
    "max_deletions_per_run": (dict, 100_000),
    # The database role allowed to run purges: sync grants it USAGE on schema retention and EXECUTE
    # on its routines (nothing there is executable by PUBLIC). None: only the owner and superusers.
    "executor_role": (str, None),
    # A root whose cascade reaches a row its own policy still keeps (a soft-delete model's row that is
    # live, younger than its policy, or held): "block" keeps the root (RETAINED app.Model ...);
    # "delete" is Django's plain cascade. Holds block in both.
    "on_retained_cascade": (str, "block"),
}
RETAINED_CASCADE_MODES = ("block", "delete")
POSITIVE_KEYS = {
    "batch_size",
    "max_execution_time",
    "lock_timeout_ms",
    "notification_threshold",
    "audit_retention_days",
    "cron_history_days",
    "outbox_retention_days",
    "target_batch_ms",
    "min_batch_size",
    "max_batch_size",
}


@dataclass(frozen=True)
class CleanupConfig:
    batch_size: int
    max_execution_time: int
    enable_notifications: bool
    notification_threshold: int
    dry_run_default: bool
    require_confirmation: bool
    lock_timeout_ms: int
    large_deletion_threshold: int
    audit_retention_days: int
    cron_history_days: int
    outbox_retention_days: int
    target_batch_ms: int
    min_batch_size: int
    max_batch_size: int
    max_deletions_per_run: int | dict[str, int] | None
    executor_role: str | None
    on_retained_cascade: str


def as_mapping(raw: object) -> dict[object, object] | None:
    """A settings value as a typed dict, or None when it is not a dict."""
    if not isinstance(raw, dict):
        return None
    return {k: v for k, v in raw.items()}  # pyright: ignore[reportUnknownVariableType]


def raw_policies() -> object:
    return getattr(settings, POLICIES_SETTING, {})


def raw_cleanup_config() -> object:
    return getattr(settings, CLEANUP_SETTING, {})


def policy_value_problem(value: object) -> str | None:
    """Why a policy value is not a usable number of days, or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be a whole number of days, not {value!r} ({type(value).__name__})"
    if value < 1:
        return f"must be at least 1 day, not {value}"
    return None


def cleanup_config_problems(raw: object) -> list[tuple[str, str]]:
    """(key, problem) for each bad entry of RETENTION_CLEANUP_CONFIG."""
    mapping = as_mapping(raw)
    if mapping is None:
        return [("", f"must be a dict, not {type(raw).__name__}")]
    problems: list[tuple[str, str]] = []
    for key, value in mapping.items():
        if not isinstance(key, str) or key not in CLEANUP_KEYS:
            known = ", ".join(sorted(CLEANUP_KEYS))
            problems.append((str(key), f"is not a known key (known keys: {known})"))
            continue
        expected, _ = CLEANUP_KEYS[key]
        is_bool = isinstance(value, bool)
        if key == "max_deletions_per_run":
            problems.extend(_limit_problems(value))
            continue
        if key == "on_retained_cascade":
            if value not in RETAINED_CASCADE_MODES:
                problems.append((key, f"must be 'block' or 'delete', not {value!r}"))
            continue
        if key == "executor_role":
            if value is not None and (not isinstance(value, str) or not value.strip()):
                problems.append((key, f"must be the name of a database role, or None, not {value!r}"))
            continue
        if expected is bool and not is_bool:
            problems.append((key, f"must be True or False, not {value!r}"))
        elif expected is int and (is_bool or not isinstance(value, int)):
            problems.append((key, f"must be an integer, not {value!r} ({type(value).__name__})"))
        elif expected is int and key in POSITIVE_KEYS and isinstance(value, int) and value < 1:
            problems.append((key, f"must be at least 1, not {value}"))
    return problems


def cleanup_config() -> CleanupConfig:
    """RETENTION_CLEANUP_CONFIG with defaults filled in; raises on a bad entry."""
    raw = raw_cleanup_config()
    problems = cleanup_config_problems(raw)
    if problems:
        key, problem = problems[0]
        raise ImproperlyConfigured(f"{CLEANUP_SETTING}[{key!r}] {problem}")
    mapping = as_mapping(raw) or {}
    values: dict[str, Any] = {key: mapping.get(key, default) for key, (_, default) in CLEANUP_KEYS.items()}
    return CleanupConfig(**values)


def schedule_problems(raw: object) -> list[tuple[str, str]]:
    """(key, problem) for each malformed entry of RETENTION_SCHEDULE (expressions: see checks)."""
    mapping = as_mapping(raw)
    if mapping is None:
        return [("", f"must be a dict of job name to cron expression or None, not {type(raw).__name__}")]
    problems: list[tuple[str, str]] = []
    for key, value in mapping.items():
        if not isinstance(key, str) or key not in DEFAULT_SCHEDULE:
            known = ", ".join(sorted(DEFAULT_SCHEDULE))
            problems.append((str(key), f"is not a known job (known jobs: {known})"))
        elif value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append((key, f"must be a cron expression such as '0 0 * * *', or None to disable, not {value!r}"))
    return problems


def retention_schedule() -> dict[str, str | None]:
    """RETENTION_SCHEDULE over the defaults; raises on a malformed entry."""
    raw = getattr(settings, SCHEDULE_SETTING, {})
    problems = schedule_problems(raw)
    if problems:
        key, problem = problems[0]
        raise ImproperlyConfigured(f"{SCHEDULE_SETTING}[{key!r}] {problem}")
    merged = dict(DEFAULT_SCHEDULE)
    for key, value in (as_mapping(raw) or {}).items():
        merged[str(key)] = value.strip() if isinstance(value, str) else None
    return merged


def _limit_problems(value: object) -> list[tuple[str, str]]:
    key = "max_deletions_per_run"
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int | dict):
        shape = "a whole number, a dict of 'default'/'app'/'app.Model' to numbers, or None"
        return [(key, f"must be {shape}, not {value!r}")]
    items: dict[object, object] = {"default": value}
    if not isinstance(value, int):
        items = as_mapping(cast(object, value)) or {}
    return [
        (key, f"[{name!r}] must be a whole number of at least 1, not {limit!r}")
        for name, limit in items.items()
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
    ]


def most_specific(path: str, values: Mapping[str, T]) -> tuple[T, int] | None:
    """The value settings give 'app.Model', and its level: the model (0) > its app (1) > 'default' (2)."""
    for level, key in enumerate((path, path.split(".")[0], "default")):
        if key in values:
            return values[key], level
    return None


def max_deletions_for(path: str) -> int | None:
    """The unattended-run limit for 'app.Model'; None means no limit."""
    limit = cleanup_config().max_deletions_per_run
    if limit is None or isinstance(limit, int):
        return limit
    found = most_specific(path, limit)
    return found[0] if found else None
