"""The docs stay true: the generated reference pages equal what the code renders now, and every check
id the code emits is declared (CHECKS, the source of docs/reference/checks.md)."""

from __future__ import annotations

import difflib
import inspect
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


SQL_MD = Path(__file__).resolve().parents[1] / "docs" / "sql.md"


@pytest.mark.django_db
def test_sql_md_documents_every_routine_of_schema_retention_and_no_other() -> None:
    section = SQL_MD.read_text().split("## Schema `retention`")[1].split("\n## ")[0]
    first_cells = [row.split(" | ")[0] for row in section.splitlines() if row.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"(?:^\| `|, `)([a-z_][a-z0-9_]*)\(", cell)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT proname FROM pg_proc WHERE pronamespace = 'retention'::regnamespace"
            " AND proname !~ '^(purge|select|refs)__'"
        )
        installed = {name for (name,) in cursor.fetchall()}
    assert sorted(documented - installed) == [], "docs/sql.md documents routines the database does not have"
    assert sorted(installed - documented) == [], "routines of schema retention that docs/sql.md does not document"


def test_readme_links_name_files_that_exist() -> None:
    """The README is not part of the docs site (whose links mkdocs --strict checks): check its own."""
    root = Path(__file__).resolve().parents[1]
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", (root / "README.md").read_text())
    local = [t for t in targets if "://" not in t]
    assert local, "the README links into the docs"
    assert [t for t in local if not (root / t).exists()] == []


def test_the_checks_marked_database_are_those_registered_with_the_database_tag() -> None:
    """docs/reference/checks.md says which checks need `check --database`: CHECKS' `database` flag,
    which must match how each check is registered (a check tagged database runs only with --database)."""
    source = CHECKS_SOURCE.read_text().split("CHECKS: dict[str, CheckInfo]")[1].split("\n}\n", 1)[1]
    database_ids: set[str] = set()
    for chunk in source.split("@checks.register(")[1:]:
        if chunk.startswith('"pg_retention", checks.Tags.database)'):
            database_ids |= set(re.findall(r'"(pg_retention\.[EW]\d+)"', chunk))
    assert database_ids == {info.id for info in CHECKS.values() if info.database}


def test_sql_md_lists_the_fields_the_chain_hashes_in_the_order_verify_reads_them() -> None:
    """docs/sql.md, "The audit chain": the fields of a run and its items in the record, in order, as
    audit._record (every record format; verify compares it with retention.run_record) reads them."""
    from django_pg_retention.audit import _record  # pyright: ignore[reportPrivateUsage]
    from django_pg_retention.models import RetentionRun, RetentionRunItem

    fields = {f.name for model in (RetentionRun, RetentionRunItem) for f in model._meta.get_fields()}
    paragraph = SQL_MD.read_text().split("## The audit chain")[1].split("`hash = sha256")[0]
    documented = [word for word in re.findall(r"`(\w+)`", paragraph) if word in fields - {"run", "items"}]
    read: list[str] = []
    for name in re.findall(r"\b(?:run|item)\.(\w+)", inspect.getsource(_record)):
        if name in fields and name != "digests" and (not read or read[-1] != name):
            read.append(name)
    assert documented == read
