"""Renderers: the same problems as text, JSON, GitHub annotations or a markdown summary.

Renderers are pure (strings in, strings out) so the CLI, the pre-commit hook and the Action
all print the same words from the same `Problem` objects. Every one of them shows text from
the user's file through `visible`: a message quotes the file, and the file may hold a terminal
escape sequence (JSON escapes control characters by itself).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from multi_agent_coder.problems import Problem
from multi_agent_coder.visible import visible


@dataclass(frozen=True, slots=True)
class FileReport:
    """The outcome of checking one file."""

    path: str
    problems: Sequence[Problem]
    tasks: int | None = None  # tasks in the file when it loaded

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if p.severity == "warning")


def summary_line(reports: Sequence[FileReport]) -> str:
    errors = sum(r.errors for r in reports)
    warnings = sum(r.warnings for r in reports)
    files = len(reports)
    noun = "file" if files == 1 else "files"
    if not errors and not warnings:
        return f"ok: {files} {noun} checked, no problems"
    return f"{errors} error(s), {warnings} warning(s) in {files} {noun}"


def render_text(reports: Sequence[FileReport]) -> str:
    """One `path:line:col: field: message [code]` line per problem, then a summary line."""
    lines = [p.render() for r in reports for p in r.problems]
    lines.append(summary_line(reports))
    return "\n".join(lines) + "\n"


def render_json(reports: Sequence[FileReport]) -> str:
    """A stable machine-readable document (keys documented in the README)."""
    document = {
        "ok": all(r.errors == 0 for r in reports),
        "errors": sum(r.errors for r in reports),
        "warnings": sum(r.warnings for r in reports),
        "files": [
            {
                "path": r.path,
                "tasks": r.tasks,
                "problems": [asdict(p) for p in r.problems],
            }
            for r in reports
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _escape_data(text: str) -> str:
    return visible(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(kind: str, message: str, **properties: str) -> str:
    """`::error title=...::message`, escaped the way the runner unescapes it, so a message
    with newlines stays one annotation and a `::` inside it cannot start a new command; any
    other control character is shown as an escape, never passed to the log."""
    props = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    return f"::{kind}{' ' + props if props else ''}::{_escape_data(message)}"


def github_annotation(problem: Problem) -> str:
    """A workflow command that GitHub shows on the file's line in the PR diff."""
    level = "error" if problem.severity == "error" else "warning"
    field = f"{problem.field}: " if problem.field else ""
    return workflow_command(
        level,
        field + problem.message,
        file=problem.path,
        line=str(problem.line),
        col=str(problem.col),
        title=problem.code,
    )


def render_github(reports: Sequence[FileReport]) -> str:
    lines = [github_annotation(p) for r in reports for p in r.problems]
    lines.append(summary_line(reports))
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return visible(text.replace("\n", " ")).replace("|", "\\|")


def render_markdown(reports: Sequence[FileReport]) -> str:
    """A job-summary section: a headline and a table of problems."""
    out = [f"### Backlog check: {summary_line(reports)}", ""]
    problems = [p for r in reports for p in r.problems]
    if problems:
        out += ["| where | field | problem | code |", "| --- | --- | --- | --- |"]
        out += [
            f"| `{p.path}:{p.line}:{p.col}` | `{_cell(p.field)}` "
            f"| {_cell(p.message)} | `{p.code}` |"
            for p in problems
        ]
        out.append("")
    return visible("\n".join(out), lines=True) + "\n"


RENDERERS = {
    "text": render_text,
    "json": render_json,
    "github": render_github,
    "markdown": render_markdown,
}
