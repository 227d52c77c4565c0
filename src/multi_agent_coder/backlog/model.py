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


def _relative_repo_path(value: str) -> str:
    """A files_hint entry must stay inside the repository: relative, no `..`, not empty.

    Plain string tests rather than `PurePath` objects: this runs for every path of every task,
    and a 10,000-task backlog has tens of thousands of them.
    """
    if not value.strip():
        raise ValueError("path is empty")
    if "\x00" in value:
        raise ValueError("path contains a NUL byte")
    if value.startswith(("/", "\\", "~")) or _WINDOWS_DRIVE.match(value):
        raise ValueError(f"path {value!r} is absolute; use a path relative to the repository root")
    if ".." in value and _PARENT_SEGMENT.search(value):
        raise ValueError(f"path {value!r} leaves the repository ('..')")
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
NonEmptyText = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
RepoPath = Annotated[str, AfterValidator(_relative_repo_path)]
Timestamp = Annotated[str, AfterValidator(_iso_timestamp)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TaskScope(_Strict):
    """Where the work happens and how big it is."""

    files_hint: list[RepoPath] = Field(
        default_factory=list, description="Paths relative to the repository root."
    )
    estimated_hours: float = Field(gt=0, description="Estimated effort in hours, above zero.")


class TaskContext(_Strict):
    """Extra guidance for the agent; each list is budgeted by the context compressor."""

    constraints: list[NonEmptyText] = Field(default_factory=list)
    patterns: list[NonEmptyText] = Field(
        default_factory=list, description="Each 'path:45-78 - description'."
    )
    gotchas: list[NonEmptyText] = Field(default_factory=list)


class Task(_Strict):
    """One unit of work: one branch, one agent session, one pull request."""

    id: TaskId = Field(description="Matches " + TASK_ID_PATTERN)
    title: NonEmptyText
    description: NonEmptyText
    status: TaskStatus = Field(strict=False)  # a YAML string names the enum member
    depends_on: list[TaskId] = Field(default_factory=list)
    acceptance: list[NonEmptyText] = Field(min_length=1)
    attempts: int = Field(default=0, ge=0)
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

    version: NonEmptyText
    track_id: NonEmptyText
    created_at: Timestamp
    updated_at: Timestamp
    tasks: list[Task]

    def task_index(self) -> dict[str, int]:
        """Id -> position of its first occurrence (duplicates are a rule problem, not here)."""
        index: dict[str, int] = {}
        for position, task in enumerate(self.tasks):
            index.setdefault(task.id, position)
        return index
