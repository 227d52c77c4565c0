"""What checks return instead of raising: a problem with its place in the file.

Pure checks (rules, hygiene, schema validation) know *which field* is wrong but not *where in
the file* it is; they return a `Finding` holding a location path such as
`("tasks", 3, "depends_on", 0)`. The loader, which has the YAML node positions, turns findings
into `Problem`s with line and column. Every renderer (text, json, GitHub annotation, markdown)
starts from the same `Problem`, so a user sees the same words everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from multi_agent_coder.visible import visible

Loc = tuple[str | int, ...]
Severity = Literal["error", "warning"]

#: Every problem code with a one-line meaning. The README's table is checked against this.
CODES: Final[dict[str, str]] = {
    # reading the file
    "encoding": "the file is not valid UTF-8, or starts with more than one byte order mark",
    "empty-file": "the file has no YAML document",
    "yaml-syntax": "the YAML does not parse (tab indentation, nesting over 64 levels)",
    "yaml-duplicate-key": "a mapping has the same key twice",
    "yaml-alias-bomb": "anchors and aliases expand too far, or an anchor is used inside itself",
    "yaml-multiple-documents": "the file holds more than one YAML document",
    "yaml-tag": "an explicit YAML tag (such as !!python/object) is not allowed",
    "not-a-mapping": "the top level of the file is not a mapping",
    # schema
    "missing-field": "a required field is absent",
    "unknown-key": "a key the schema does not define (with a did-you-mean)",
    "wrong-type": "a value has the wrong type (string, number, list, mapping)",
    "invalid-value": "a value is of the right type but not allowed (empty, negative, bad format)",
    "invalid-task-id": "a task id (or dependency) does not match the task-id pattern",
    "invalid-path": "a files_hint entry is absolute, leaves the repository, points into VCS "
    "metadata (.git, .hg, .svn, .jj, .bzr), holds an invisible character or is empty",
    "control-character": "a field holds a control character or bidi override (text may hold "
    "tab and line feed, a path neither)",
    "number-out-of-range": "a number is not finite (.nan, .inf, 1e400), past its ceiling, or "
    "has too many digits",
    # graph and status rules
    "duplicate-id": "two tasks share one id",
    "confusable-id": "two task ids differ only in leading zeros (T001 and T0001)",
    "unknown-dependency": "depends_on names a task the backlog does not have",
    "self-dependency": "a task depends on itself",
    "dependency-cycle": "tasks depend on each other in a cycle",
    "completed-before-dependency": "a completed task depends on a task that is not completed",
    # context hygiene
    "context-too-large": "the prompt built for the task exceeds the byte limit",
    "planning-debris": "a field or a spec file holds planning chatter (e.g. 'we explored', "
    "'let me think')",
    "cross-task-reference": "a field names another task's id",
    "full-file-paste": "a field holds a pasted whole file (> 50 lines under a marker or fence)",
    "invalid-pattern": "a context pattern is not in the 'path:45-78 - description' form",
    "context-truncated": "a field is longer than its budget and is cut in the prompt (warning)",
}


def format_loc(loc: Loc) -> str:
    """`("tasks", 3, "depends_on", 0)` -> `tasks[3].depends_on[0]`."""
    out: list[str] = []
    for part in loc:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(f".{part}" if out else part)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Finding:
    """A position-free problem, as pure checks produce it.

    `at_key` asks the position resolver to point at the mapping key rather than its value
    (unknown keys, duplicate keys). `refs` are other places the message mentions as
    `{ref0}`, `{ref1}`...; whoever knows positions replaces them with "line N".
    """

    loc: Loc
    code: str
    message: str
    severity: Severity = "error"
    at_key: bool = False
    refs: tuple[Loc, ...] = ()
    #: A phrase inside the value to point at (its own line in a multi-line text).
    needle: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem pinned to `path:line:col` (1-based). `field` is the dotted location or ""."""

    path: str
    line: int
    col: int
    code: str
    message: str
    field: str = ""
    severity: Severity = "error"

    def render(self) -> str:
        """`BACKLOG.yaml:12:5: tasks[3].depends_on: unknown task 'T099' [unknown-dependency]`.

        One line, shown through `visible`: the message may quote the file, and the file may
        hold what a terminal would execute."""
        where = f"{self.path}:{self.line}:{self.col}"
        field = f" {self.field}:" if self.field else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return visible(f"{where}:{field} {prefix}{self.message} [{self.code}]")

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.col, self.code)


def kind_of(value: object) -> str:
    """How a YAML/JSON/TOML value is named in a message: 'expected a list, got a string'."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "an empty value" if value is None else f"a {type(value).__name__}"


def errors_in(problems: Iterable[Problem]) -> list[Problem]:
    """Only the problems that fail a check (warnings do not, unless asked)."""
    return [p for p in problems if p.severity == "error"]
