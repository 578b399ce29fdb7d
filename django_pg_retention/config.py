"""Settings, read lazily through one typed function each; bad values name their key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, TypeVar, cast, get_type_hints

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SYSTEM_DEFAULT_DAYS = 30
T = TypeVar("T")

POLICIES_SETTING = "SOFT_DELETE_RETENTION_POLICIES"
TIMESTAMP_POLICIES_SETTING = "RETENTION_TIMESTAMP_POLICIES"
CLEANUP_SETTING = "RETENTION_CLEANUP_CONFIG"
SCHEDULE_SETTING = "RETENTION_SCHEDULE"

# Cleanup daily at midnight; housekeeping weekly, early on Sundays.
# "requests" drains the real runs asked for in the admin, every minute.
DEFAULT_SCHEDULE: dict[str, str | None] = {
    "cleanup": "0 0 * * *",
    "housekeeping": "30 0 * * 0",
    "requests": "* * * * *",
}

RETAINED_CASCADE_MODES = ("block", "delete")


def _setting(
    default: Any,
    doc: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    synced: bool = False,
    check: Callable[[object], str | None] | None = None,
) -> Any:
    """A key of RETENTION_CLEANUP_CONFIG: its default, meaning and bounds (or, for a key that is not a
    number or a boolean, the check that says what is wrong with a value). synced: written to the
    retention_config row that the SQL procedures read (retention.config())."""
    metadata = {"doc": doc, "minimum": minimum, "maximum": maximum, "synced": synced, "check": check}
    return field(default=default, metadata=metadata)


def _retained_cascade_problem(value: object) -> str | None:
    return None if value in RETAINED_CASCADE_MODES else f"must be 'block' or 'delete', not {value!r}"


def _role_problem(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value.strip()):
        return None
    return f"must be the name of a database role, or None, not {value!r}"


def _slot_names_problem(value: object) -> str | None:
    names: list[object] = list(cast(Any, value)) if isinstance(value, list | tuple) else []
    if isinstance(value, list | tuple) and all(isinstance(name, str) and name.strip() for name in names):
        return None
    return f"must be a list of replication slot names, not {value!r}"


# The longest retention a policy or a run may have: 100 years (no legal period is longer, and
# now() - days must stay a timestamp). SQL: retention.max_days().
MAX_DAYS = 36_500

# The largest value of an integer column of retention_config (PostgreSQL's integer).
INT4_MAX = 2**31 - 1


@dataclass(frozen=True)
class CleanupConfig:
    """RETENTION_CLEANUP_CONFIG with defaults filled in. Every key is declared here once (name, type,
    default, bounds, meaning); the checks, the retention_config row and docs/settings.md (checked by
    tests/test_settings.py) follow from it."""

    batch_size: int = _setting(
        1000,
        "rows per committed batch; with adaptive batching, the first batch's size",
        minimum=1,
        maximum=1_000_000,
        synced=True,
    )
    max_execution_time: int = _setting(
        3600, "seconds per run, checked between batches", minimum=1, maximum=7 * 86_400, synced=True
    )
    enable_notifications: bool = _setting(True, "record alerts for runs that end badly or delete a lot", synced=True)
    notification_threshold: int = _setting(
        10000, "rows deleted by one run above which it raises an alert", minimum=1, maximum=INT4_MAX, synced=True
    )
    dry_run_default: bool = _setting(True, "cleanup_soft_deleted without --execute previews")
    require_confirmation: bool = _setting(True, "cleanup_soft_deleted --execute asks on a terminal")
    lock_timeout_ms: int = _setting(2000, "lock_timeout of each batch", minimum=1, maximum=INT4_MAX, synced=True)
    large_deletion_threshold: int = _setting(
        10000, "cleanup_soft_deleted --execute refuses more eligible rows without --force"
    )
    # Seven years: the longest retention period of the example policies (leases), so the proof of a
    # purge outlives the data it purged.
    audit_retention_days: int = _setting(
        2555, "housekeeping keeps finished audit runs this long", minimum=1, maximum=MAX_DAYS, synced=True
    )
    cron_history_days: int = _setting(
        30, "housekeeping keeps our rows of cron.job_run_details this long", minimum=1, maximum=MAX_DAYS
    )
    outbox_retention_days: int = _setting(
        30, "housekeeping keeps drained retention_outbox rows this long", minimum=1, maximum=MAX_DAYS
    )
    target_batch_ms: int = _setting(
        200, "adaptive batching: the batch duration to aim at", minimum=1, maximum=3_600_000, synced=True
    )
    min_batch_size: int = _setting(
        100, "adaptive batching: the smallest batch", minimum=1, maximum=1_000_000, synced=True
    )
    # Bounds the slowest batch (docs/benchmarks.md).
    max_batch_size: int = _setting(
        5000, "adaptive batching: the largest batch", minimum=1, maximum=1_000_000, synced=True
    )
    # Throttling (the tools trusted for purges pause on replica lag: pt-archiver --max-lag, gh-ost).
    max_replica_lag_bytes: int | None = _setting(
        None,
        "before each batch, wait while a connected standby's replay lags more than this; None: off",
        minimum=1,
        maximum=2**63 - 1,
        synced=True,
    )
    replica_slots: tuple[str, ...] = _setting(
        (),
        "physical replication slots whose lag counts too (a standby that is not connected)",
        synced=True,
        check=_slot_names_problem,
    )
    batch_pause_ms: int = _setting(0, "a pause after each committed batch", minimum=0, maximum=3_600_000, synced=True)
    # Guard rail for unattended runs: more eligible rows of one model than this, and the run deletes
    # none of them until a person confirms (cleanup_soft_deleted --model ... --execute --force).
    max_deletions_per_run: int | dict[str, int] | None = _setting(
        100_000, "an int for every model, or {'default': n, 'app': n, 'app.Model': n}; None: no limit"
    )
    executor_role: str | None = _setting(
        None, "the database role that may CALL retention.run_cleanup", check=_role_problem
    )
    # "block" keeps a root whose cascade reaches a row its own policy still keeps (RETAINED app.Model);
    # "delete" is Django's plain cascade. Holds block in both.
    on_retained_cascade: str = _setting("block", "'block' or 'delete'", check=_retained_cascade_problem)


CLEANUP_KEYS: dict[str, Field[Any]] = {f.name: f for f in fields(CleanupConfig)}


def synced_keys() -> list[str]:
    """The keys written to retention_config, in declaration order."""
    return [name for name, f in CLEANUP_KEYS.items() if f.metadata["synced"]]


def _key_problem(key: str, value: object) -> str | None:
    """Why value is not valid for key (by its declared type and bounds), or None."""
    declared = get_type_hints(CleanupConfig)[key]
    check = CLEANUP_KEYS[key].metadata["check"]
    if check is not None:
        return check(value)
    if declared is bool:
        return None if isinstance(value, bool) else f"must be True or False, not {value!r}"
    if value is None and CLEANUP_KEYS[key].default is None:
        return None  # None: the feature is off
    if declared in (int, int | None):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, not {value!r} ({type(value).__name__})"
        minimum, maximum = CLEANUP_KEYS[key].metadata["minimum"], CLEANUP_KEYS[key].metadata["maximum"]
        if minimum is not None and value < minimum:
            return f"must be at least {minimum}, not {value}"
        if maximum is not None and value > maximum:
            return f"must be at most {maximum:,}, not {value:,}"
    return None


def as_mapping(raw: object) -> dict[object, object] | None:
    """A settings value as a typed dict, or None when it is not a dict."""
    if not isinstance(raw, dict):
        return None
    return {k: v for k, v in raw.items()}  # pyright: ignore[reportUnknownVariableType]


def raw_policies() -> object:
    return getattr(settings, POLICIES_SETTING, {})


def raw_timestamp_policies() -> object:
    return getattr(settings, TIMESTAMP_POLICIES_SETTING, {})


def raw_cleanup_config() -> object:
    return getattr(settings, CLEANUP_SETTING, {})


def policy_value_problem(value: object) -> str | None:
    """Why a policy value is not a usable number of days, or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be a whole number of days, not {value!r} ({type(value).__name__})"
    if value < 1:
        return f"must be at least 1 day, not {value}"
    if value > MAX_DAYS:
        return f"must be at most {MAX_DAYS:,} days (100 years), not {value:,}"
    return None


# The keys of an entry of RETENTION_TIMESTAMP_POLICIES: {"field": "action_time", "days": 365}.
TIMESTAMP_POLICY_KEYS = ("field", "days")


def timestamp_days_problem(value: object) -> str | None:
    """Why a timestamp policy's days is not usable, or None: 0 is allowed (a session past its
    expire_date), since the row's own timestamp, not a soft delete, starts the clock."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be a whole number of days, not {value!r} ({type(value).__name__})"
    if value < 0:
        return f"must be at least 0 days, not {value}"
    if value > MAX_DAYS:
        return f"must be at most {MAX_DAYS:,} days (100 years), not {value:,}"
    return None


def timestamp_entry_problems(value: object) -> list[tuple[str, str]]:
    """(sub-key, problem) for the shape of one entry of RETENTION_TIMESTAMP_POLICIES; the model and
    its field are checked against the app registry by policies.timestamp_policy_problems."""
    entry = as_mapping(value)
    if entry is None:
        return [("", f"must be a dict such as {{'field': 'created_at', 'days': 90}}, not {value!r}")]
    problems = [
        (str(key), f"is not a known key (known keys: {', '.join(TIMESTAMP_POLICY_KEYS)})")
        for key in entry
        if key not in TIMESTAMP_POLICY_KEYS
    ]
    name = entry.get("field")
    if not isinstance(name, str) or not name:
        problems.append(("field", f"must name a DateTimeField of the model, not {name!r}"))
    if "days" not in entry:
        problems.append(("days", "is missing"))
    elif (days_problem := timestamp_days_problem(entry["days"])) is not None:
        problems.append(("days", days_problem))
    return problems


def _known_entries(
    raw: object, known: Mapping[str, object], noun: str, shape: str
) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """The entries of a settings dict whose keys are known, and a (key, problem) for each other."""
    mapping = as_mapping(raw)
    if mapping is None:
        return {}, [("", f"must be {shape}, not {type(raw).__name__}")]
    entries: dict[str, object] = {}
    problems: list[tuple[str, str]] = []
    for key, value in mapping.items():
        if isinstance(key, str) and key in known:
            entries[key] = value
        else:
            problems.append((str(key), f"is not a known {noun} (known {noun}s: {', '.join(sorted(known))})"))
    return entries, problems


def cleanup_config_problems(raw: object) -> list[tuple[str, str]]:
    """(key, problem) for each bad entry of RETENTION_CLEANUP_CONFIG."""
    entries, problems = _known_entries(raw, CLEANUP_KEYS, "key", "a dict")
    for key, value in entries.items():
        if key == "max_deletions_per_run":
            problems.extend(_limit_problems(value))
        elif (problem := _key_problem(key, value)) is not None:
            problems.append((key, problem))
    if not problems:
        smallest = entries.get("min_batch_size", CLEANUP_KEYS["min_batch_size"].default)
        largest = entries.get("max_batch_size", CLEANUP_KEYS["max_batch_size"].default)
        if isinstance(smallest, int) and isinstance(largest, int) and largest < smallest:
            problems.append(("max_batch_size", f"must be at least min_batch_size ({smallest}), not {largest}"))
    return problems


def cleanup_config() -> CleanupConfig:
    """RETENTION_CLEANUP_CONFIG with defaults filled in; raises on a bad entry."""
    raw = raw_cleanup_config()
    problems = cleanup_config_problems(raw)
    if problems:
        key, problem = problems[0]
        raise ImproperlyConfigured(f"{CLEANUP_SETTING}[{key!r}] {problem}")
    mapping = as_mapping(raw) or {}
    values: dict[str, Any] = {str(key): value for key, value in mapping.items()}
    return CleanupConfig(**values)


def schedule_problems(raw: object) -> list[tuple[str, str]]:
    """(key, problem) for each malformed entry of RETENTION_SCHEDULE (expressions: see checks)."""
    entries, problems = _known_entries(raw, DEFAULT_SCHEDULE, "job", "a dict of job name to cron expression or None")
    for key, value in entries.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
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
        (key, f"[{name!r}] must be a whole number from 1 to {INT4_MAX:,}, not {limit!r}")
        for name, limit in items.items()
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= INT4_MAX
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
