"""One exception tree for everything a user can cause.

Each class carries its exit code (DESIGN §8) so the CLI maps errors to exit codes in one place:
0 ok, 1 problems found / task failed, 2 usage or config error, 3 internal error, 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from multi_agent_coder.problems import Problem

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class MacoderError(Exception):
    """Base of every error macoder raises on purpose. Its message is meant for the user."""

    exit_code: ClassVar[int] = EXIT_PROBLEMS


class UsageError(MacoderError):
    """The command line or the configuration asks for something that cannot be done."""

    exit_code: ClassVar[int] = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration value is invalid. The message names the file (or variable) and the key."""


class InvalidTaskIdError(UsageError):
    """A string that should be a task id is not one; refused before it reaches a path or shell."""

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(
            f"invalid task id {value!r}: a task id is an uppercase letter, then uppercase letters "
            "or digits, an optional '-', and 2 to 5 digits (e.g. T001, AUTH-012)"
        )


class UnknownTaskError(UsageError):
    """A command named a well-formed task id that the backlog does not have."""

    def __init__(self, task_id: str, path: str) -> None:
        self.task_id = task_id
        super().__init__(f"{path}: no task with id {task_id!r}")


class ProblemsFound(MacoderError):
    """Input was read but is not acceptable; `problems` say where and why."""

    exit_code: ClassVar[int] = EXIT_PROBLEMS

    def __init__(self, problems: Sequence[Problem], summary: str = "") -> None:
        self.problems = list(problems)
        first = self.problems[0].render() if self.problems else "no details"
        super().__init__(summary or first)


class BacklogInvalidError(ProblemsFound):
    """The backlog file does not load or does not validate."""


class WriteRefusedError(ProblemsFound):
    """A backlog edit would produce an invalid file, so nothing was written."""
