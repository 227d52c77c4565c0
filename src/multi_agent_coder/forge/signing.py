"""Signed commits (`pull_request.sign_commits`): what can be made through GitHub's API, and
whose such commits are. Pure.

GitHub signs a commit it makes itself (`createCommitOnBranch`, its GraphQL mutation) and
shows it as verified; it authors it as the token's owner and commits it as `GitHub
<noreply@github.com>`, the way it makes a commit in its web editor. So the publishing job
recreates each of macoder's commits that way instead of pushing it — and only where the
recreation is exactly the commit macoder checked:

- the mutation takes file contents and deletions and nothing else: every file it writes is a
  regular, non-executable file (`100644`). A commit that adds an executable file, changes a
  file's mode, or touches a symlink or a submodule cannot be recreated; it is refused
  (`unexpressible`) rather than published as something that was not verified;
- it makes single-parent commits only: a merge (an update of a PR that no longer merges) is
  not one it can make (the caller decides; see `GitHubForge.publish_branch`);
- its author is whoever holds the token: with a person's token the commits would be that
  person's, and macoder could no longer tell its own from theirs. Only a bot's token (the
  workflow's GITHUB_TOKEN, a GitHub App's) is used (`bot_email`).

A later run must still take those commits for macoder's (`made_through_the_api`): their author
is a bot's no-reply address and their committer is GitHub. The bot is not pinned down to one:
the jobs of a workflow may hold different tokens (the task job the workflow's, the publish job
an App's), and each must recognise what the other published. A person's commit — in GitHub's
web editor too — carries the person's own address as its author, and still stops macoder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from multi_agent_coder.errors import UnsignableError

#: The committer of every commit GitHub makes itself (web editor, API, merges).
GITHUB_COMMITTER: Final = "noreply@github.com"
#: A bot's no-reply address: `41898282+github-actions[bot]@users.noreply.github.com`.
BOT_EMAIL: Final = re.compile(r"\d+\+[a-z0-9][a-z0-9-]*\[bot\]@users\.noreply\.github\.com")
#: The only git mode a file written through `createCommitOnBranch` has.
REGULAR: Final = "100644"
_KINDS: Final = {"100755": "an executable file", "120000": "a symlink", "160000": "a submodule"}


def made_through_the_api(author: str, committer: str) -> bool:
    """A commit GitHub made through its API for a bot (see the module's docstring)."""
    return (
        committer.strip().lower() == GITHUB_COMMITTER
        and BOT_EMAIL.fullmatch(author.strip().lower()) is not None
    )


def bot_email(login: str, database_id: int) -> str | None:
    """The author address of the commits GitHub makes for the token's owner `login`, or None
    when the owner is no bot (a personal token: a person's commits)."""
    if not login.endswith("[bot]"):
        return None
    return f"{database_id}+{login}@users.noreply.github.com"


@dataclass(frozen=True, slots=True)
class FileChanges:
    """One commit as `createCommitOnBranch` takes it: paths to write (with the commit's
    content) and paths to delete."""

    additions: tuple[str, ...]
    deletions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RawChange:
    """One line of `git diff-tree --raw --no-renames`: modes before and after, status, path."""

    old_mode: str
    new_mode: str
    status: str
    path: str


def parse_raw(output: bytes) -> list[RawChange]:
    """`git diff-tree -r -z --raw --no-renames --no-commit-id` output, parsed."""
    parts = output.split(b"\0")
    changes: list[RawChange] = []
    for meta, path in zip(parts[0::2], parts[1::2], strict=False):
        fields = meta.decode("ascii").lstrip(":").split()
        if len(fields) < 5:
            continue
        changes.append(
            RawChange(fields[0], fields[1], fields[4][:1], path.decode("utf-8", "surrogateescape"))
        )
    return changes


def file_changes(short: str, changes: Sequence[RawChange]) -> FileChanges:
    """Commit `short`'s changes as the mutation takes them; `Unexpressible` naming each
    change it cannot make exactly (see the module's docstring)."""
    problems: list[str] = []
    additions: list[str] = []
    deletions: list[str] = []
    for change in changes:
        if change.status == "D":  # whatever it was: the path is gone
            deletions.append(change.path)
            continue
        if change.new_mode != REGULAR:
            kind = _KINDS.get(change.new_mode, f"mode {change.new_mode}")
            verb = "adds" if change.status == "A" else "changes"
            problems.append(f"{verb} {kind} {change.path}")
        elif change.status not in ("A", "M"):
            problems.append(f"changes {change.path} in a way git calls {change.status!r}")
        elif change.status == "M" and change.old_mode != REGULAR:
            was = _KINDS.get(change.old_mode, f"mode {change.old_mode}")
            problems.append(f"turns {was} {change.path} into a regular file")
        additions.append(change.path)
    if problems:
        raise Unexpressible(short, problems)
    return FileChanges(tuple(additions), tuple(deletions))


class Unexpressible(UnsignableError):
    """A commit `createCommitOnBranch` cannot recreate exactly."""

    def __init__(self, short: str, problems: Sequence[str]) -> None:
        super().__init__(
            f"commit {short} cannot be made through GitHub's API as macoder checked it: "
            + "; ".join(problems)
            + " (sign_commits writes regular files only: turn it off for this task's PR)"
        )
        self.problems = tuple(problems)
