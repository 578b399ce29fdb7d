"""The fenced code blocks of README.md and docs/: found, classified, and how each is run by
tests/test_snippets.py.

A block in bash/sh/shell/console, python or sql is run unless the line right before its fence is
``<!-- not-run: REASON -->`` (a reason is required). A python block right after
``<!-- settings-fragment -->`` is a piece of settings.py: it is executed on its own and what it sets
is validated as ``manage.py check`` would. A shell block is runnable when each of its commands is
``python manage.py ...``; a ``console`` block holds ``$ command`` lines, each followed by the output
the command prints (``...`` stands for any text, as in doctest)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELL = {"bash", "sh", "shell", "console"}
RUN_LANGUAGES = SHELL | {"python", "sql"}
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*(?P<kind>not-run|settings-fragment)(?::\s*(?P<reason>.*?))?\s*-->\s*$", re.S)
MANAGE = "python manage.py "


@dataclass(frozen=True)
class Snippet:
    path: str  # relative to the repository
    line: int  # of the opening fence
    language: str
    body: str
    marker: str  # "", "not-run" or "settings-fragment"
    reason: str

    @property
    def name(self) -> str:
        return f"{self.path}:{self.line}"


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def snippets(path: Path) -> list[Snippet]:
    text = path.read_text()
    found: list[Snippet] = []
    for match in FENCE.finditer(text):
        language = match["lang"]
        if language not in RUN_LANGUAGES:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        indent = len(match["indent"])
        body = "\n".join(line[indent:] for line in match["body"].splitlines())
        found.append(
            Snippet(
                path=str(path.relative_to(ROOT)),
                line=text.count("\n", 0, match.start()) + 1,
                language=language,
                body=body,
                marker=marker["kind"] if marker else "",
                reason=(marker["reason"] or "").strip() if marker else "",
            )
        )
    return found


def all_snippets() -> list[Snippet]:
    return [snippet for path in doc_files() for snippet in snippets(path)]


@dataclass(frozen=True)
class Command:
    argv: list[str]  # manage.py's arguments
    expected: str | None  # the output the docs show (console blocks), else None


def shell_commands(snippet: Snippet) -> list[Command]:
    """The manage.py commands of a shell block, continuation lines joined and comments dropped;
    ValueError names a line that is not one (the block then needs a not-run marker)."""
    lines = snippet.body.replace("\\\n", " ").splitlines()
    commands: list[Command] = []
    if snippet.language == "console":
        output: list[str] = []
        for line in [*lines, "$ "]:
            if not line.startswith("$ "):
                output.append(line)
                continue
            if commands:
                last = commands.pop()
                commands.append(Command(last.argv, "\n".join(output).strip() + "\n"))
            output = []
            if line.strip() != "$":
                commands.append(Command(_manage_argv(line[2:], snippet), None))
        return commands
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            commands.append(Command(_manage_argv(line, snippet), None))
    return commands


def _manage_argv(line: str, snippet: Snippet) -> list[str]:
    if not line.strip().startswith(MANAGE):
        raise ValueError(f"{snippet.name}: {line.strip()!r} is not `python manage.py ...`")
    return shlex.split(line.strip()[len(MANAGE) :], comments=True)
