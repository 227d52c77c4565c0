"""The task-id rule (and the planning track's), defined once.

A task id ends up in a branch name (`macoder/<id>`), a worktree path and command lines, so it
is refused before it reaches any of them. `[0-9]` rather than `\\d`: Python's `\\d` also matches
non-ASCII digits such as U+0663, which would pass a naive check and then reach a ref name.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from multi_agent_coder.errors import InvalidTaskIdError, InvalidTrackError

#: The pattern as published in the JSON Schema and the README (anchored, ECMA/Rust compatible).
TASK_ID_PATTERN: Final = r"^[A-Z][A-Z0-9]*-?[0-9]{2,5}$"

_TASK_ID: Final = re.compile(r"[A-Z][A-Z0-9]*-?[0-9]{2,5}", re.ASCII)

#: Finds id-shaped words inside free text (hygiene: references to other tasks).
TASK_ID_IN_TEXT: Final = re.compile(
    r"(?<![A-Za-z0-9_-])[A-Z][A-Z0-9]*-?[0-9]{2,5}(?![A-Za-z0-9_])", re.ASCII
)

BRANCH_PREFIX: Final = "macoder/"

#: What a macoder pull request is for: a task's work (`macoder/<id>`), or a rewrite of the
#: task's backlog entry that `macoder rebase` proposes (`macoder/rebase-<id>`). Lower case
#: `rebase-` can never start a task id, so the two branches of one task never meet.
PrKind = Literal["task", "rebase"]
REBASE_PREFIX: Final = BRANCH_PREFIX + "rebase-"

#: A planning track's name: the directory `specs/<track>/` and a git path. No '/', no
#: leading '.', no '..', ASCII only, so a name can neither leave the specs directory nor hide.
TRACK_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,63}$"

_TRACK: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.ASCII)

#: The one branch a planned feature's pull request gets: `macoder/plan-<track>`. A task id
#: starts with an uppercase letter, a track never does, so it is never a task's branch.
PLAN_BRANCH_PREFIX: Final = BRANCH_PREFIX + "plan-"

#: A GitHub `owner/name` (owner: GitHub's user-name rule; name: its repository-name
#: characters), unanchored: the one source of the repository rule that the forge's `Slug`,
#: the Action's `GITHUB_REPOSITORY` and `init --action OWNER/REPO@SHA` build on. It reaches
#: URLs and workflow files, so it is checked before either.
GITHUB_SLUG_PATTERN: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}"


def is_task_id(value: object) -> bool:
    """True when `value` is a string that is a whole, valid task id."""
    return isinstance(value, str) and _TASK_ID.fullmatch(value) is not None


def validate_task_id(value: str) -> str:
    """Return `value` unchanged if it is a valid task id, else raise `InvalidTaskIdError`."""
    if not is_task_id(value):
        raise InvalidTaskIdError(value)
    return value


def validate_track(value: str) -> str:
    """Return `value` unchanged if it names a track, else raise `InvalidTrackError`."""
    if _TRACK.fullmatch(value) is None or ".." in value:
        raise InvalidTrackError(value)
    return value


def plan_branch_for(track: str) -> str:
    """The one branch a track's plan ever gets (`macoder plan-feature` in the Action)."""
    return PLAN_BRANCH_PREFIX + validate_track(track)


def is_plan_branch(branch: str) -> bool:
    """True when `branch` (without `refs/heads/`) is a track's plan branch."""
    if not branch.startswith(PLAN_BRANCH_PREFIX):
        return False
    track = branch.removeprefix(PLAN_BRANCH_PREFIX)
    return _TRACK.fullmatch(track) is not None and ".." not in track


def id_key(task_id: str) -> str:
    """What a person reads in an id: its prefix and the *value* of its number, so `T001`,
    `T01` and `T0001` all give `T1`, and `AUTH-012` and `AUTH-12` both give `AUTH-12`.

    The number is the id's whole trailing run of digits (the pattern lets the prefix hold
    digits too, so `T10001` is `T` and 10001, not `T1` and 1). Two ids with one key are
    different strings, branches and worktrees that people will take for the same task.
    """
    prefix = task_id.rstrip("0123456789")
    return prefix + (task_id[len(prefix) :].lstrip("0") or "0")


def branch_for(task_id: str) -> str:
    """The one branch a task ever gets."""
    return BRANCH_PREFIX + validate_task_id(task_id)


def rebase_branch_for(task_id: str) -> str:
    """The one branch a proposed rewrite of a task's entry ever gets."""
    return REBASE_PREFIX + validate_task_id(task_id)


def branch_of(kind: PrKind, task_id: str) -> str:
    """The branch of `task_id`'s pull request of `kind`."""
    return rebase_branch_for(task_id) if kind == "rebase" else branch_for(task_id)


def pr_subject(branch: str) -> tuple[PrKind, str] | None:
    """What a branch name is macoder's pull request for, or None when it is no such branch."""
    short = branch.removeprefix("refs/heads/")
    if short.startswith(REBASE_PREFIX) and is_task_id(short.removeprefix(REBASE_PREFIX)):
        return "rebase", short.removeprefix(REBASE_PREFIX)
    if short.startswith(BRANCH_PREFIX) and is_task_id(short.removeprefix(BRANCH_PREFIX)):
        return "task", short.removeprefix(BRANCH_PREFIX)
    return None
