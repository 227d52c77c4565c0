"""BACKLOG.yaml from bytes to a validated `Backlog`, or to problems with `line:col`.

The order of work is chosen for the common case, a valid file: parse with the fast parser,
validate the whole document in one pydantic call, run the rules. Only when any of that finds
something does the slow path run: PyYAML node composition for exact positions, validation task
by task (so one malformed task does not hide problems in the others), the rules again on the
tasks that did validate, and every finding pinned to the line and column of the node it is about.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from multi_agent_coder.backlog.model import TEXT_PATTERN, Backlog, Task, TaskStatus
from multi_agent_coder.backlog.rules import Entry, check_rules
from multi_agent_coder.errors import BacklogInvalidError
from multi_agent_coder.ids import TASK_ID_PATTERN, is_task_id
from multi_agent_coder.limits import MAX_FILE_BYTES
from multi_agent_coder.problems import Finding, Loc, Problem, errors_in, format_loc, kind_of
from multi_agent_coder.userfiles import read_user_file
from multi_agent_coder.visible import describe, first_unsafe
from multi_agent_coder.yamlread import (
    Positions,
    YamlError,
    decode,
    parse_fast,
    parse_with_positions,
)

#: A check over the tasks that validated; `known_ids` holds every readable id in the file.
Check = Callable[[Sequence[Entry], Collection[str]], list[Finding]]

DEFAULT_CHECKS: tuple[Check, ...] = (check_rules,)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What loading found. `backlog` is None unless every task and top-level field validated."""

    path: str
    backlog: Backlog | None
    problems: list[Problem]
    text: str | None = None
    positions: Positions | None = None

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return self.backlog is not None and not errors_in(self.problems)


def read_bytes(path: Path, display: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes, or `UnreadableFileError` naming it (exit 2, like a wrong path on the
    command line): a regular file inside the repository, at most `max_bytes` (`userfiles`)."""
    return read_user_file(path, max_bytes=max_bytes, shown=display)


def load_file(
    path: Path,
    display: str | None = None,
    checks: Sequence[Check] = DEFAULT_CHECKS,
    *,
    max_bytes: int = MAX_FILE_BYTES,
) -> LoadResult:
    """Load and check the backlog at `path`; problems name `display` (default: `path`)."""
    shown = display or str(path)
    return load_bytes(read_bytes(path, shown, max_bytes), shown, checks)


def require_valid(result: LoadResult) -> Backlog:
    """The backlog, or `BacklogInvalidError` carrying its errors."""
    if result.backlog is None or errors_in(result.problems):
        raise BacklogInvalidError(errors_in(result.problems) or result.problems)
    return result.backlog


def load_bytes(raw: bytes, display: str, checks: Sequence[Check] = DEFAULT_CHECKS) -> LoadResult:
    """Load and check backlog bytes; never raises for anything the file's author can cause."""
    try:
        text = decode(raw)
    except YamlError as exc:
        return LoadResult(display, None, [_yaml_problem(display, exc)])
    fast = _fast(text, checks)
    if fast is not None:
        return LoadResult(display, fast, [], text)
    return _slow(text, display, checks)


def _fast(text: str, checks: Sequence[Check]) -> Backlog | None:
    """The backlog when it parses, validates and passes every check; None to go slow."""
    data = parse_fast(text)
    if not isinstance(data, dict):
        return None
    try:
        backlog = Backlog.model_validate(data)
    except ValidationError:
        return None
    entries = list(enumerate(backlog.tasks))
    ids = {task.id for task in backlog.tasks}
    if any(check(entries, ids) for check in checks):
        return None
    return backlog


def _slow(text: str, display: str, checks: Sequence[Check]) -> LoadResult:
    try:
        data, positions = parse_with_positions(text)
    except YamlError as exc:
        return LoadResult(display, None, [_yaml_problem(display, exc)], text)
    if not isinstance(data, dict):
        kind = kind_of(data)
        finding = Finding(
            (), "not-a-mapping", f"the top level must be a mapping with a 'tasks' list, not {kind}"
        )
        return LoadResult(display, None, [_pin(display, finding, positions)], text, positions)
    backlog, entries, known_ids, findings = _validate(data)
    for check in checks:
        findings.extend(check(entries, known_ids))
    problems = sorted((_pin(display, f, positions) for f in findings), key=Problem.sort_key)
    return LoadResult(display, backlog, problems, text, positions)


def _validate(data: dict[Any, Any]) -> tuple[Backlog | None, list[Entry], set[str], list[Finding]]:
    """Validate the header and each task separately so one bad task hides nothing else."""
    findings: list[Finding] = []
    header = {k: v for k, v in data.items() if k != "tasks"}
    findings.extend(_schema_findings(Backlog, {**header, "tasks": []}, ()))
    raw_tasks = data.get("tasks")
    entries: list[Entry] = []
    known_ids: set[str] = set()
    if "tasks" not in data:
        findings.append(Finding(("tasks",), "missing-field", "required field 'tasks' is missing"))
    elif not isinstance(raw_tasks, list):
        findings.append(
            Finding(
                ("tasks",),
                "wrong-type",
                f"'tasks' must be a list of tasks, not {kind_of(raw_tasks)}",
            )
        )
    else:
        for index, raw in enumerate(raw_tasks):
            if isinstance(raw, dict) and is_task_id(raw.get("id")):
                known_ids.add(raw["id"])
            task_findings = _schema_findings(Task, raw, ("tasks", index))
            if task_findings:
                findings.extend(task_findings)
            else:
                entries.append((index, Task.model_validate(raw)))
    backlog = None
    if not findings:
        backlog = Backlog.model_validate(data)
    return backlog, entries, known_ids, findings


# --- pydantic errors -> findings ----------------------------------------------------------


def _schema_findings(model: type[BaseModel], value: Any, prefix: Loc) -> list[Finding]:
    try:
        model.model_validate(value)
    except ValidationError as exc:
        return [_from_pydantic(model, err, prefix) for err in exc.errors(include_url=False)]
    return []


_EXPECTED: dict[str, str] = {
    "string_type": "a string",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _from_pydantic(model: type[BaseModel], err: Any, prefix: Loc) -> Finding:
    loc: Loc = prefix + tuple(err["loc"])
    field = str(err["loc"][-1]) if err["loc"] else ""
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return Finding(loc, "missing-field", f"required field {field!r} is missing")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, tuple(err["loc"][:-1]))
        hint = difflib.get_close_matches(field, allowed, n=1, cutoff=0.6)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; allowed: {', '.join(allowed)}"
        return Finding(loc, "unknown-key", f"unknown key {field!r}{suggestion}", at_key=True)
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {kind_of(value)}"
        if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
            message += f"; quote it to keep it as written: '{value}'"
        return Finding(loc, "wrong-type", message)
    if kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == TASK_ID_PATTERN:
        return Finding(
            loc,
            "invalid-task-id",
            f"{value!r} is not a task id: an uppercase letter, then uppercase letters or "
            "digits, an optional '-', and 2 to 5 digits (e.g. T001, AUTH-012)",
        )
    if kind == "string_pattern_mismatch":
        unsafe = _unsafe_character(value, err.get("ctx", {}).get("pattern"))
        if unsafe is not None:
            return Finding(loc, "control-character", unsafe)
    if kind in ("string_pattern_mismatch", "string_too_short"):
        return Finding(loc, "invalid-value", "must not be empty or only spaces")
    if kind == "enum":
        choices = [s.value for s in TaskStatus]
        hint = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        return Finding(
            loc,
            "invalid-value",
            f"{value!r} is not a status{suggestion}; use one of {', '.join(choices)}",
        )
    if kind == "too_short":
        return Finding(loc, "invalid-value", f"{field!r} needs at least one item")
    if kind == "finite_number":
        infinite = isinstance(value, float) and math.isinf(value)
        why = " (a number past about 1.8e308, such as 1e400, is one)" if infinite else ""
        return Finding(loc, "number-out-of-range", f"must be a finite number, got {value!r}{why}")
    if kind in ("less_than", "less_than_equal"):
        bound = err.get("ctx", {}).get("lt", err.get("ctx", {}).get("le"))
        advice = "; split bigger work into several tasks" if field == "estimated_hours" else ""
        return Finding(
            loc,
            "number-out-of-range",
            f"must be at most {bound:g}, got {_shown_number(value)}{advice}",
        )
    if kind in ("greater_than", "greater_than_equal"):
        bound = err.get("ctx", {}).get("gt", err.get("ctx", {}).get("ge"))
        relation = "greater than" if kind == "greater_than" else "at least"
        return Finding(loc, "invalid-value", f"must be {relation} {bound}, got {value!r}")
    if kind == "value_error":
        message = str(err.get("ctx", {}).get("error", err["msg"]))
        code = "invalid-path" if "files_hint" in err["loc"] else "invalid-value"
        return Finding(loc, code, message)
    return Finding(loc, "invalid-value", str(err["msg"]))


def _unsafe_character(value: object, pattern: object) -> str | None:
    """Why a string failed a text pattern because of a control character, or None when it
    failed for being blank. Text may hold tab and line feed; a path holds neither."""
    if not isinstance(value, str):
        return None
    lines = pattern == TEXT_PATTERN
    at = first_unsafe(value, lines=lines)
    if at is None:
        return None
    where = "" if len(value) == 1 else f" at character {at + 1} of {len(value)}"
    allowed = "text may hold tab and line feed, no other" if lines else "a path may hold none"
    return (
        f"holds the control character {describe(value[at])}{where}, which can rewrite a "
        f"terminal or hide text from a reviewer; {allowed}"
    )


def _shown_number(value: object) -> str:
    """A number as a message shows it; a huge integer by its size, never through `str()`
    (which raises ValueError past Python's 4,300-digit limit)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"a number of about {value.bit_length() * 3 // 10:,} digits"
    return repr(value)


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the model that `loc` (relative to `model`) points into."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(part)
        if info is None:
            return []
        current = _unwrap(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """`list[X]` / `X | None` / `Annotated[X, ...]` -> X, for walking nested models."""
    while True:
        origin = typing.get_origin(annotation)
        if origin in (list, typing.Annotated):
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


# --- pinning ----------------------------------------------------------------------------


def _pin(display: str, finding: Finding, positions: Positions) -> Problem:
    inside = positions.locate_within(finding.loc, finding.needle) if finding.needle else None
    line, col = inside or positions.locate(finding.loc, at_key=finding.at_key)
    message = finding.message
    for i, ref in enumerate(finding.refs):
        message = message.replace(f"{{ref{i}}}", f"line {positions.locate(ref)[0]}")
    return Problem(
        display, line, col, finding.code, message, format_loc(finding.loc), finding.severity
    )


def _yaml_problem(display: str, exc: YamlError) -> Problem:
    return Problem(display, exc.line, exc.col, exc.code, exc.message)
