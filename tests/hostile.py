"""Backlogs that must be refused, and the look-alikes that must not: one table for the loader's
unit tests and the command-line tests, so both hold the same cases.

Each hostile backlog has two tasks, `T001` (the one made hostile) and `T002` (clean), so a
command can name a task that exists whatever the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support import backlog_yaml, task_dict

#: Every character class the rules refuse in text (see `visible.py`); tab and line feed are text.
CONTROL_TITLES = {
    "esc-colour": "\x1b[31mred\x1b[0m",
    "esc-osc-title": "\x1b]0;owned\x07title",
    "bell": "ring \x07 ring",
    "nul": "nul \x00 byte",
    "carriage-return": "fake\rline",
    "del": "del \x7f",
    "c1-csi": "c1 \x9b31m",
    "rlo": "evil \u202etxt.exe",
    "lri": "isolate \u2066x\u2069",
    "line-separator": "a\u2028b",
}


@dataclass(frozen=True)
class Case:
    """A backlog text, the code and field `check` must report, and a name for the test id."""

    name: str
    text: str
    code: str
    field: str


def _tasks(first: dict[str, Any] | None = None, second_id: str = "T002") -> str:
    return backlog_yaml(first or task_dict("T001"), task_dict(second_id))


def _first(**overrides: Any) -> str:
    return _tasks(task_dict("T001", **overrides))


def _literal(key: str, literal: str) -> str:
    """T001 with `key: <literal>` written as is (what yaml.safe_dump cannot write)."""
    marker = "424242"
    text = (
        _first(attempts=int(marker))
        if key == "attempts"
        else _first(scope={"files_hint": [], "estimated_hours": int(marker)})
    )
    assert text.count(marker) == 1
    return text.replace(marker, literal)


def _hint(path: str) -> str:
    return _first(scope={"files_hint": ["src/ok.py", path], "estimated_hours": 1})


HOURS = "tasks[0].scope.estimated_hours"

NUMBER_CASES = [
    Case("hours-inf", _literal("estimated_hours", ".inf"), "number-out-of-range", HOURS),
    Case("hours-minus-inf", _literal("estimated_hours", "-.inf"), "number-out-of-range", HOURS),
    Case("hours-nan", _literal("estimated_hours", ".nan"), "number-out-of-range", HOURS),
    Case("hours-1e400", _literal("estimated_hours", "1e400"), "number-out-of-range", HOURS),
    Case("hours-1e300", _literal("estimated_hours", "1e300"), "number-out-of-range", HOURS),
    Case("hours-1001", _literal("estimated_hours", "1001"), "number-out-of-range", HOURS),
    Case("hours-5000-digits", _literal("estimated_hours", "9" * 5000), "number-out-of-range", ""),
    Case("attempts-5000-digits", _literal("attempts", "9" * 5000), "number-out-of-range", ""),
    Case("attempts-hex-digits", _literal("attempts", "0x" + "f" * 200), "number-out-of-range", ""),
    Case(
        "attempts-30-digits",
        _literal("attempts", "9" * 30),
        "number-out-of-range",
        "tasks[0].attempts",
    ),
    Case(
        "attempts-10001", _literal("attempts", "10001"), "number-out-of-range", "tasks[0].attempts"
    ),
    Case("attempts-negative", _literal("attempts", "-1"), "invalid-value", "tasks[0].attempts"),
]

ID_CASES = [
    Case("t001-t0001", _tasks(second_id="T0001"), "confusable-id", "tasks[1].id"),
    Case("t001-t01", _tasks(second_id="T01"), "confusable-id", "tasks[1].id"),
    Case(
        "auth-012-auth-12",
        backlog_yaml(task_dict("T001"), task_dict("AUTH-012"), task_dict("AUTH-12")),
        "confusable-id",
        "tasks[2].id",
    ),
]

HINT = "tasks[0].scope.files_hint[1]"
PATH_CASES = [
    Case(f"path-{path}", _hint(path), "invalid-path", HINT)
    for path in (
        ".git/hooks/post-commit",
        ".git",
        "src/.GIT/config",
        "sub\\.git\\config",
        "a/.git./hooks/x",
        "GIT~1/config",
        ".hg/hgrc",
        "vendor/.svn/entries",
        ".jj/repo/store",
        ".bzr/branch",
        "src/a\u200bb.py",
        "/etc/passwd",
        "../outside.py",
    )
] + [Case("path-esc", _hint("src/\x1b[31m.py"), "control-character", HINT)]

TEXT_CASES = [
    *(
        Case(f"title-{name}", _first(title=title), "control-character", "tasks[0].title")
        for name, title in CONTROL_TITLES.items()
    ),
    Case(
        "description-esc",
        _first(description="line one\n\x1b[2Jline two"),
        "control-character",
        "tasks[0].description",
    ),
    Case(
        "acceptance-rlo",
        _first(acceptance=["ok", "pass \u202e"]),
        "control-character",
        "tasks[0].acceptance[1]",
    ),
    Case(
        "pattern-esc",
        _first(context={"patterns": ["src/a.py:1-2 - x\x1b[8my"]}),
        "control-character",
        "tasks[0].context.patterns[0]",
    ),
    Case("path-line-feed", _hint("src/a\nb.py"), "control-character", HINT),
    Case(
        "track-id-esc",
        backlog_yaml(task_dict("T001"), track_id="demo\x1b[8m"),
        "control-character",
        "track_id",
    ),
    Case(
        "depends-on-esc",
        _tasks(task_dict("T001", depends_on=["T00\x1b2"])),
        "invalid-task-id",
        "tasks[0].depends_on[0]",
    ),
]

HOSTILE = [*NUMBER_CASES, *ID_CASES, *PATH_CASES, *TEXT_CASES]

#: Look-alikes that are fine and must stay fine.
ACCEPTED = {
    "tab-and-newline-in-description": _first(description="first line\n\tindented second"),
    "folded-title-ends-with-a-line-break": _first(title="Add the login page\n"),
    "tab-in-title": _first(title="tab\there"),
    "emoji-with-zero-width-joiner": _first(title="Pair on it \U0001f469\u200d\U0001f4bb"),
    "persian-with-zwnj": _first(title="\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),
    "rich-markup-lookalike": _first(title="[bold]not bold[/] [link=https://x]y"),
    "github-and-gitignore": _hint(".github/workflows/ci.yml"),
    "dot-gitignore": _hint(".gitignore"),
    "git-package": _hint("src/git/repo.py"),
    "hgignore": _hint("docs/.hgignore"),
    "hours-at-ceiling": _literal("estimated_hours", "1000"),
    "attempts-at-ceiling": _literal("attempts", "10000"),
    "distinct-numbers": _tasks(second_id="T010"),
    "digits-in-prefix": backlog_yaml(task_dict("T1001"), task_dict("T10001")),
}
