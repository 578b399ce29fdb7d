"""The digest of deleted keys, as retention_run_item.digests stores it. Plain hashlib, importable
without a Django project: an auditor holding an export of the keys checks the figure with it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable


def keys_digest(keys: Iterable[str | int | uuid.UUID], order: str = "bytewise", chunk: int | None = None) -> str:
    """SHA-256 of primary keys (as text) in order, each followed by a newline.

    What ``retention_run_item.digests`` stores per table, with the entry's ``order``: "numeric"
    for an integer primary key, else "bytewise"; and its ``chunk`` (entries written since 0.2): past
    that many keys, each run of ``chunk`` sorted keys is hashed on its own and the digest is the
    SHA-256 of those hex digests, one per line, so that the database never holds every key at once.
    Keys may be given as text or as the values themselves (integers, UUIDs): they are hashed as text.
    """
    texts = [str(k) for k in keys]
    if order == "numeric":
        ordered = sorted(texts, key=_as_integer)
    elif order == "bytewise":
        ordered = sorted(texts, key=lambda k: k.encode())
    else:
        raise ValueError(f"unknown key order {order!r}: expected 'numeric' or 'bytewise'")
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be a positive number of keys, not {chunk!r}")
    lines = [k + "\n" for k in ordered]
    if chunk is None or len(lines) <= chunk:
        return _sha256("".join(lines))
    return _sha256("".join(_sha256("".join(lines[i : i + chunk])) + "\n" for i in range(0, len(lines), chunk)))


def _as_integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"key {text!r} is not an integer: order 'numeric' is for integer keys") from None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
