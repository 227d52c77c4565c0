"""The prompt of a task whose pull request is brought up to date with its base (pure).

The default branch moved on and the PR no longer merges into it; macoder has merged the
default branch into the PR's branch in the agent's worktree and resolved what is its own (the
backlog). What is left are files with git's conflict markers. The agent gets the task's usual
context and an "Update" section before the instructions: which files, what to keep. The
section lists as many paths as fit in its own budget — and never more than the room the
task's own prompt leaves under the limit — and counts the rest. Paths come from git (a
person may have named a file anything): shown escaped, one per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from multi_agent_coder.backlog.model import Task
from multi_agent_coder.context.build import (
    DEFAULT_SETTINGS,
    SECTION_GAP,
    BuiltPrompt,
    ContextSettings,
    Section,
    assemble,
    before_instructions,
    build_sections,
    utf8_size,
)
from multi_agent_coder.limits import UPDATE_BUDGET
from multi_agent_coder.visible import visible

HEADING: Final = "## Update"
#: What the agent is to do, after the list of files.
ASK: Final = (
    "Resolve every conflict: keep this task's change and what the default branch brought, and "
    "remove every marker. Change nothing else."
)


def intro(base_branch: str) -> str:
    return (
        f"{HEADING}\n"
        f"The default branch ({visible(base_branch)}) moved on since this task's pull request "
        "was made, and the two no longer merge. It has been merged into your working "
        "directory; these files hold git's conflict markers (<<<<<<<, =======, >>>>>>>):"
    )


def render_update(base_branch: str, conflicted: Sequence[str], budget: int) -> str | None:
    """The Update section within `budget` bytes: every path that fits, then how many were
    left out; None when not even the section's fixed words fit."""
    head, tail = intro(base_branch), ASK
    # Room for the count of what is left out is kept from the start (its widest form).
    reserve = utf8_size(f"\n- and {len(conflicted)} more") if conflicted else 0
    used = utf8_size(head) + 1 + utf8_size(tail)
    if used + reserve > budget:
        return None
    shown: list[str] = []
    for count, path in enumerate(conflicted):
        line = f"- {visible(path)}"
        last = count == len(conflicted) - 1
        if used + utf8_size(line) + 1 + (0 if last else reserve) > budget:
            shown.append(f"- and {len(conflicted) - count} more")
            break
        shown.append(line)
        used += utf8_size(line) + 1
    return "\n".join([head, *shown, tail])


def build_update_prompt(
    task: Task,
    base_branch: str,
    conflicted: Sequence[str],
    settings: ContextSettings = DEFAULT_SETTINGS,
) -> tuple[BuiltPrompt, str | None]:
    """The prompt for bringing `task`'s PR up to date, never over `settings.max_bytes`, and
    an error in words when the task's own prompt leaves no room for the Update section."""
    sections, notes = build_sections(task, settings)
    plain = assemble(sections, notes)
    room = settings.max_bytes - plain.size - len(SECTION_GAP)
    text = render_update(base_branch, conflicted, min(UPDATE_BUDGET, room))
    if text is None:
        return plain, (
            f"no room for the update: the task's own prompt is {plain.size} bytes of the "
            f"{settings.max_bytes}-byte limit; shorten the task"
        )
    return assemble(before_instructions(sections, Section("update", text)), notes), None
