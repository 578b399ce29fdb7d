"""Numbers given on a command line: whole numbers within a range, refused by argparse with the
option's name and the range (a usage error, never a traceback or a run left 'running')."""

from __future__ import annotations

from argparse import ArgumentTypeError
from collections.abc import Callable

from django_pg_retention import config

BIGINT_MAX = 2**63 - 1  # an id of the audit tables


def whole_number(minimum: int, maximum: int | Callable[[], int]) -> Callable[[str], int]:
    """An argparse ``type``: ``value`` as an int from ``minimum`` to ``maximum`` (a callable for a
    maximum that comes from the settings, read when the option is parsed)."""

    def parse(value: str) -> int:
        largest = maximum() if callable(maximum) else maximum
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or not minimum <= number <= largest:
            raise ArgumentTypeError(f"must be a whole number from {minimum:,} to {largest:,}, not {value!r}")
        return number

    return parse


DAYS = whole_number(1, config.MAX_DAYS)
RUN_ID = whole_number(1, BIGINT_MAX)


def batch_size() -> Callable[[str], int]:
    """--batch-size: at most the synced max_batch_size, as run_cleanup checks it."""
    return whole_number(1, lambda: config.cleanup_config().max_batch_size)
