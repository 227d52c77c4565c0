"""The backlog as typed data: the seed plan's `Backlog` and `BacklogTask`, field for field.

Validation here is structural (types, required fields, formats). Relations between tasks
(duplicate ids, unknown dependencies, cycles) are `rules.py`; prompt hygiene is `context/`.
Models are strict: a number where a string belongs is refused rather than coerced, because
`version: 1.10` silently becoming `1.1` is exactly the kind of quiet loss we promise not to cause.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from multi_agent_coder.ids import TASK_ID_PATTERN
from multi_agent_coder.limits import MAX_ATTEMPTS_COUNT, MAX_ESTIMATED_HOURS
from multi_agent_coder.visible import UNSAFE_CLASS, UNSAFE_IN_BLOCK_CLASS


class TaskStatus(StrEnum):
    """The status enum, defined once."""

    PENDING = "pending"
    READY = "ready"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    COMPLETED = "completed"
    FAILED = "failed"


#: Statuses from which a task may be scheduled.
SCHEDULABLE = frozenset({TaskStatus.PENDING, TaskStatus.READY})


_PARENT_SEGMENT = re.compile(r"(?:^|[/\\])\.\.(?:[/\\]|$)")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")

#: Version-control metadata directories: a hint into one points the agent at hooks and config
#: that run code (`.git/hooks/post-commit`), never at the project's own files.
VCS_DIRECTORIES = frozenset({".git", ".hg", ".svn", ".jj", ".bzr"})
#: A cheap first test, true for every path that may hold one of them (or its 8.3 short name).
_VCS_HINT = re.compile(r"\.(?:git|hg|svn|jj|bzr)|git~", re.IGNORECASE)
#: Characters that print as nothing: a path holding one looks like a different path (git
#: refuses `.g\u200cit` for the same reason). Soft hyphen, zero-width space/joiners, LRM/RLM,
#: ALM, word joiner and invisible operators, BOM.
_INVISIBLE = re.compile("[\u00ad\u061c\u200b-\u200f\u2060-\u2064\ufeff]")

#: Free text: something that is not a space, and no control character or bidi override
#: anywhere except tab and line feed (see `visible.py` for the set and why). Line breaks are
#: text here, even in a title: `title: >` ends with one, and every one-line display (the
#: prompt's heading, `ready`, a PR title) joins the lines itself.
TEXT_PATTERN = (
    f"^[^{UNSAFE_IN_BLOCK_CLASS}]*[^\\s{UNSAFE_IN_BLOCK_CLASS}][^{UNSAFE_IN_BLOCK_CLASS}]*$"
)
#: A path: no control character at all (emptiness is `_relative_repo_path`'s to report).
PATH_PATTERN = f"^[^{UNSAFE_CLASS}]*$"


def _vcs_segment(value: str) -> str | None:
    """The segment of `value` that names VCS metadata, case-insensitively, as Windows and
    macOS file systems compare names: trailing dots and spaces dropped (`.git.` is `.git`),
    and git's own 8.3 short name `GIT~1`. None for an ordinary path."""
    if not _VCS_HINT.search(value):
        return None
    for segment in re.split(r"[/\\]", value):
        name = segment.rstrip(". ").lower()
        if name in VCS_DIRECTORIES or re.fullmatch(r"git~[0-9]+", name):
            return segment
    return None


def _relative_repo_path(value: str) -> str:
    """A files_hint entry must stay inside the repository: relative, no `..`, not empty, not
    into `.git` or another VCS's metadata, nothing invisible in it.

    Plain string tests rather than `PurePath` objects: this runs for every path of every task,
    and a 10,000-task backlog has tens of thousands of them.
    """
    if not value.strip():
        raise ValueError("path is empty")
    if value.startswith(("/", "\\", "~")) or _WINDOWS_DRIVE.match(value):
        raise ValueError(f"path {value!r} is absolute; use a path relative to the repository root")
    if ".." in value and _PARENT_SEGMENT.search(value):
        raise ValueError(f"path {value!r} leaves the repository ('..')")
    segment = _vcs_segment(value)
    if segment is not None:
        raise ValueError(
            f"path {value!r} points into version-control metadata ({segment!r}); "
            "name the project's own files"
        )
    invisible = _INVISIBLE.search(value)
    if invisible is not None:
        raise ValueError(
            f"path {value!r} holds an invisible character U+{ord(invisible.group()):04X}; "
            "it would look like a different path"
        )
    return value


def _iso_timestamp(value: str) -> str:
    """Timestamps stay strings (no silent re-formatting) but must parse as ISO 8601."""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date or timestamp (e.g. 2026-01-31T12:00:00Z)"
        ) from None
    return value


TaskId = Annotated[str, StringConstraints(pattern=TASK_ID_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1, pattern=TEXT_PATTERN)]
RepoPath = Annotated[
    str, StringConstraints(pattern=PATH_PATTERN), AfterValidator(_relative_repo_path)
]
Timestamp = Annotated[str, AfterValidator(_iso_timestamp)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TaskScope(_Strict):
    """Where the work happens and how big it is."""

    files_hint: list[RepoPath] = Field(
        default_factory=list, description="Paths relative to the repository root."
    )
    estimated_hours: float = Field(
        gt=0,
        le=MAX_ESTIMATED_HOURS,
        allow_inf_nan=False,
        description=f"Estimated effort in hours, above zero, at most {MAX_ESTIMATED_HOURS}.",
    )


class TaskContext(_Strict):
    """Extra guidance for the agent; each list is budgeted by the context compressor."""

    constraints: list[Text] = Field(default_factory=list)
    patterns: list[Text] = Field(
        default_factory=list, description="Each 'path:45-78 - description'."
    )
    gotchas: list[Text] = Field(default_factory=list)


class Task(_Strict):
    """One unit of work: one branch, one agent session, one pull request."""

    id: TaskId = Field(description="Matches " + TASK_ID_PATTERN)
    title: Text
    description: Text
    status: TaskStatus = Field(strict=False)  # a YAML string names the enum member
    depends_on: list[TaskId] = Field(default_factory=list)
    acceptance: list[Text] = Field(min_length=1)
    attempts: int = Field(default=0, ge=0, le=MAX_ATTEMPTS_COUNT)
    scope: TaskScope
    context: TaskContext | None = None


class Backlog(_Strict):
    """The whole BACKLOG.yaml."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "BACKLOG.yaml (multi-agent-coder)",
        },
    )

    version: Text
    track_id: Text
    created_at: Timestamp
    updated_at: Timestamp
    tasks: list[Task]

    def task_index(self) -> dict[str, int]:
        """Id -> position of its first occurrence (duplicates are a rule problem, not here)."""
        index: dict[str, int] = {}
        for position, task in enumerate(self.tasks):
            index.setdefault(task.id, position)
        return index
