"""Every snippet of README.md and docs/ that a user would run is run here (tests/doc_snippets.py says
how blocks are found and marked): sql on the migrated test database (rolled back, or in autocommit when
it CALLs a procedure that commits), python with the test project's settings, settings fragments through
the system checks, `python manage.py ...` lines through call_command, their output compared where
the docs show it."""

from __future__ import annotations

import doctest
import importlib
import io
from typing import Any

import pytest
import sqlparse
from django.core import checks
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from doc_snippets import Snippet, all_snippets, shell_commands

from django_pg_retention.checks import check_retention

SNIPPETS = all_snippets()
OUTPUT = doctest.OutputChecker()
OUTPUT_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# INSTALLED_APPS of a `django-admin startproject` project, which settings fragments add to.
STARTPROJECT_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
REQUIRED_APPS = ["django.contrib.contenttypes", "django.contrib.postgres", "pgtrigger", "django_pg_retention"]


def _of(language: set[str], marker: str = "") -> list[Any]:
    return [
        pytest.param(s, id=s.name, marks=_database(s))
        for s in SNIPPETS
        if s.language in language and s.marker == marker
    ]


def _database(snippet: Snippet) -> pytest.MarkDecorator:
    """The cheapest database access a snippet needs: a flush of every database only for --database all,
    a committed one only where a run commits (run_cleanup refuses a transaction block)."""
    if "--database all" in snippet.body:
        return pytest.mark.django_db(transaction=True, databases="__all__")
    if snippet.marker == "settings-fragment":
        return pytest.mark.django_db
    commits = snippet.language != "sql" or "CALL " in snippet.body.upper()
    return pytest.mark.django_db(transaction=commits)


def test_every_snippet_is_run_or_says_why_not() -> None:
    problems: list[str] = []
    for snippet in SNIPPETS:
        if snippet.marker == "not-run":
            if not snippet.reason:
                problems.append(f"{snippet.name}: <!-- not-run: ... --> must say why")
        elif snippet.marker == "settings-fragment" and snippet.language != "python":
            problems.append(f"{snippet.name}: a settings fragment must be a python block")
        elif snippet.language in {"bash", "sh", "shell", "console"}:
            try:
                shell_commands(snippet)
            except ValueError as exc:
                problems.append(f"{exc} (run only manage.py in a shell block, or mark it <!-- not-run: why -->)")
    assert not problems, "\n".join(problems)
    assert len([s for s in SNIPPETS if s.marker != "not-run"]) >= 10  # the test runs something


@pytest.mark.parametrize("snippet", _of({"sql"}))
def test_sql_snippet(snippet: Snippet) -> None:
    statements = [s for s in sqlparse.split(snippet.body) if s.strip()]
    if "CALL " in snippet.body.upper():  # run_cleanup commits: one statement at a time, in autocommit
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        transaction.set_rollback(True)


@pytest.mark.parametrize("snippet", _of({"python"}))
def test_python_snippet(snippet: Snippet) -> None:
    exec(compile(snippet.body, snippet.name, "exec"), {"__name__": "snippet"})


@pytest.mark.parametrize("snippet", _of({"python"}, "settings-fragment"))
def test_settings_fragment_passes_the_checks(snippet: Snippet) -> None:
    namespace: dict[str, Any] = {"INSTALLED_APPS": list(STARTPROJECT_APPS), "CELERY_BEAT_SCHEDULE": {}}
    exec(compile(snippet.body, snippet.name, "exec"), namespace)
    installed = namespace.pop("INSTALLED_APPS")
    assert len(set(installed)) == len(installed), f"{snippet.name}: an app listed twice: {installed}"
    if installed != STARTPROJECT_APPS:  # the fragment adds apps: with startproject's, all that we need
        assert set(REQUIRED_APPS) <= set(installed), f"{snippet.name}: {installed}"
    for app in installed:
        importlib.import_module(app)
    for entry in namespace.pop("CELERY_BEAT_SCHEDULE").values():  # the tasks it names exist
        module, _, task = entry["task"].rpartition(".")
        if module.startswith("django_pg_retention"):
            assert hasattr(importlib.import_module(module), task), f"{snippet.name}: no task {entry['task']}"
    values = {name: value for name, value in namespace.items() if name.isupper() and name != "LOGGING"}
    with override_settings(**values):
        errors = [m for m in check_retention() if m.level >= checks.ERROR]
    assert not errors, f"{snippet.name}: {errors}"


@pytest.mark.parametrize("snippet", _of({"bash", "sh", "shell", "console"}))
def test_shell_snippet(snippet: Snippet) -> None:
    for command in shell_commands(snippet):
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(*command.argv, stdout=out, stderr=err)
        except SystemExit as exc:
            pytest.fail(f"{snippet.name}: manage.py {' '.join(command.argv)} exited {exc.code}: {err.getvalue()}")
        if command.expected is not None and not OUTPUT.check_output(command.expected, out.getvalue(), OUTPUT_FLAGS):
            pytest.fail(
                f"{snippet.name}: manage.py {' '.join(command.argv)} printed\n{out.getvalue()}\n"
                f"where the docs show\n{command.expected}"
            )
