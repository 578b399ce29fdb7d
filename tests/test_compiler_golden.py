"""The compiler's output for a few model graphs, reviewed like pg_cron's expected outputs.

A change to the generated SQL shows up here as a diff of a file in tests/golden/. To accept one,
regenerate and review it:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_compiler_golden.py && git diff tests/golden/

These tests need no database: the compiler only reads Django's model graph. The ``.citus.sql``
files are the distributed part's output for a Citus layout given here (no Citus needed either).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import models

from django_pg_retention import compiler, graph
from django_pg_retention.compiler import compile_model
from django_pg_retention.distribution import REFERENCE, SINGLE_SERVER, Layout, Placement
from django_pg_retention.policies import get_model

GOLDEN = Path(__file__).resolve().parent / "golden"
# model -> what its graph exercises
CASES = {
    "rules.Author": "a CASCADE to itself, a many-to-many to itself, GenericRelations, a proxy's CASCADE, and the"
    " books it cascades to with their SET_NULL, PROTECT, RESTRICT, DO_NOTHING and to_field relations",
    "rules.Publisher": "SET_NULL (books), PROTECT (contracts), a GenericRelation",
    "rules.Language": "SET_DEFAULT and SET(constant)",
    "rules.Place": "multi-table inheritance (a child table and its CASCADE), an outbox snapshot",
    "rules.Archive": "the soft delete in columns of the model's own (no flag), PROTECT and SET_NULL",
    "rules.Hostile": "table and column names that need quoting",
    "rules.Owner": "a CASCADE chain into soft-delete models with a period of their own (RETAINED)",
    "rules.Shelf": "a CASCADE into a leaf with a longer period of its own (RETAINED): probed by the batch"
    " selection, not collected, each row checked by its DELETE",
}
# model -> what its distributed functions exercise, every table of its purge a reference table
CITUS_CASES = {
    "rules.Visitor": "CASCADE into a model with a policy of its own (RETAINED), PROTECT and SET_NULL",
    "rules.Bin": "RESTRICT",
    "rules.Language": "SET_DEFAULT and SET(constant), text keys",
    "rules.Hostile": "table and column names that need quoting",
    "rules.Author": "the functions that refuse, naming why (a cycle, generic relations, a to_field relation)",
}


def citus_layout(model: type[models.Model]) -> Layout:
    """Every table the purge of ``model`` touches as a Citus reference table."""
    built = graph.build(model)
    tables = {n.table for n in built.nodes} | {e.target.table for e in built.edges}
    return Layout({t: Placement(REFERENCE, None) for t in tables})


def assert_golden(generated: str, golden: Path, what: str) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(generated)
    assert golden.exists(), f"no golden file {golden.name}: run with UPDATE_GOLDEN=1 and review it"
    assert generated == golden.read_text(), (
        f"the SQL generated for {what} differs from {golden.name}: if the change is meant, "
        "run UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_compiler_golden.py and review git diff tests/golden/"
    )


@pytest.mark.parametrize("path", sorted(CASES))
def test_the_generated_sql_is_the_reviewed_golden_file(path: str) -> None:
    compiled = compile_model(get_model(path), ["public"])
    assert_golden(compiled.sql, GOLDEN / f"{path}.sql", f"{path} ({CASES[path]})")


@pytest.mark.parametrize("path", sorted(CITUS_CASES))
def test_the_distributed_sql_is_the_reviewed_golden_file(path: str) -> None:
    model = get_model(path)
    compiled = compile_model(model, ["public"], citus_layout(model))
    assert_golden(compiled.sql, GOLDEN / f"{path}.citus.sql", f"{path} on Citus ({CITUS_CASES[path]})")


@pytest.mark.parametrize(("path", "citus"), [("rules.Author", False), ("rules.Owner", False), ("rules.Owner", True)])
def test_compiling_a_model_builds_its_graph_once(path: str, citus: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """compile_model reads Django's model graph once and hands it to every part of both functions
    (issue 25: it used to build it ten times), the distributed part (which Citus can purge for
    rules.Owner) included."""
    model = get_model(path)
    layout = citus_layout(model) if citus else SINGLE_SERVER
    real_build = graph.build
    calls: list[object] = []

    def counting_build(m: type[models.Model]) -> graph.Graph:
        calls.append(m)
        return real_build(m)

    monkeypatch.setattr(graph, "build", counting_build)
    monkeypatch.setattr(compiler, "build", counting_build)
    compiled = compile_model(model, ["public"], layout)
    assert ("cannot purge" in compiled.sql) is False  # the distributed purge itself, not its refusal
    assert len(calls) == 1
