"""The docs stay true: the generated reference pages equal what the code renders now, and every check
id the code emits is declared (CHECKS, the source of docs/reference/checks.md)."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest
from django.db import connection
from docs_reference import REFERENCE, pages, stale

from django_pg_retention.checks import CHECKS

CHECKS_SOURCE = Path(__file__).resolve().parents[1] / "django_pg_retention" / "checks.py"


@pytest.mark.django_db
def test_generated_reference_pages_match_the_code() -> None:
    with connection.cursor() as cursor:
        rendered = pages(cursor)
    if os.environ.get("DOCS_REFERENCE_WRITE") == "1":  # scripts/docs_reference
        for name in stale(rendered):
            (REFERENCE / name).write_text(rendered[name])
    for name in stale(rendered):
        committed = (REFERENCE / name).read_text() if (REFERENCE / name).exists() else ""
        diff = "\n".join(
            difflib.unified_diff(
                committed.splitlines(), rendered[name].splitlines(), f"docs/reference/{name}", "the code", lineterm=""
            )
        )
        pytest.fail(f"docs/reference/{name} disagrees with the code; run scripts/docs_reference:\n{diff}")


def test_every_check_id_emitted_is_declared_and_every_declared_one_emitted() -> None:
    source = CHECKS_SOURCE.read_text().split("CHECKS: dict[str, CheckInfo]")[1].split("\n}\n", 1)[1]
    emitted = set(re.findall(r'"(pg_retention\.[EW]\d+)"', source))
    assert emitted == set(CHECKS)
