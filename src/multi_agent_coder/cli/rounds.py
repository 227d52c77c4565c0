"""How `macoder generate` and `macoder rebase` say what their rounds came to.

Both ask a model in rounds (`run/rounds.py`) and end the same three ways: a session failed,
the repairs were used up with problems left, or an answer was accepted (shown as a diff in a
dry run). The words for each are built here once, so the two commands cannot drift apart in
how they report a failure, count rounds or print a dry run's diff; each names only what it
left unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from multi_agent_coder.run.rounds import Rounds


class _Report(Protocol):
    """A report that says itself as JSON and as an exit code (`Rounds`' subclasses)."""

    @property
    def exit_code(self) -> int: ...

    def as_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Report)


def progress(args: argparse.Namespace) -> Callable[[str], None]:
    """Where a command's progress lines go: stderr, one visible line each — none with
    `--json`, whose stdout is the report alone."""
    from multi_agent_coder.visible import visible

    def say(message: str) -> None:
        if not args.json:
            print(visible(message), file=sys.stderr)

    return say


def answer(args: argparse.Namespace, report: R, show: Callable[[R], int]) -> int:
    """The report as JSON on stdout with `--json` (its exit code), else `show`n in words."""
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
        return report.exit_code
    return show(report)


def accepted_or_raise(report: Rounds[Any], *, failed: str, still: str, unchanged: str) -> str:
    """How many rounds an accepted answer took (`2 rounds of 3`). Otherwise `ProblemsFound`
    (exit 1): a session that failed, followed by `failed` (what it left unchanged); or the
    problems the last answer left, as `<still> N problems after R rounds; <unchanged>`."""
    from multi_agent_coder.errors import ProblemsFound
    from multi_agent_coder.limits import MAX_REPAIR_ROUNDS

    used = len(report.rounds)
    rounds = f"{used} round{'s' if used != 1 else ''} of {MAX_REPAIR_ROUNDS + 1}"
    if report.failure:
        raise ProblemsFound([], f"{report.failure}; {failed}")
    if not report.ok:
        count = len(report.problems)
        raise ProblemsFound(
            report.problems,
            f"{still} {count} problem{'s' if count != 1 else ''} after {rounds}; {unchanged}",
        )
    return rounds


def print_dry_run(diff: str, summary: str) -> None:
    """A dry run's outcome: the backlog's diff on stdout (for a pipe or a file), and on
    stderr the one line saying what would have been done."""
    from multi_agent_coder.visible import visible

    sys.stdout.write(visible(diff, lines=True))
    print(summary, file=sys.stderr)
