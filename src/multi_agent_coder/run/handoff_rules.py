"""What the publish job accepts from a task job: the rules, as pure functions.

The task job ran an agent, so whatever it handed over may have been written by that agent: a
bundle with a person's name on a commit, a branch based on some other commit, a change to a
workflow that would run with the repository's secrets, a backlog where every task is marked
completed. The publish job holds the token; before it pushes, these rules must all hold, and
each broken one is a sentence naming what and where. The I/O (reading the bundle, walking
the commits, diffing) is `run/publish.py`'s.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from multi_agent_coder.forge.base import LABEL_NEEDS_REVIEW
from multi_agent_coder.git.bundle import BundleHeader
from multi_agent_coder.git.repo import Change, CommitFacts
from multi_agent_coder.globs import matching

#: Never on a task branch, whatever else is allowed: a workflow (or an action it uses) on a
#: pushed branch can run with the repository's secrets before any person looks at it.
NEVER: Final = (".github/workflows/**", ".github/actions/**")
#: A task is a few commits (the agent's work, the status flip); more is not macoder's branch.
MAX_COMMITS: Final = 10
#: The largest bundle accepted, in bytes.
MAX_BUNDLE_BYTES: Final = 100 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Expected:
    """What the plan and the repository's settings (on the default branch) say."""

    task_id: str
    run_id: str
    base_sha: str
    ref: str
    emails: Collection[str]
    protected: Sequence[str]
    backlog_path: str


def header_problems(
    header: BundleHeader, expected: Expected, head_sha: str, merged: str | None = None
) -> list[str]:
    """The bundle carries exactly the task's ref at the announced head, on the planned base
    (an update: on the PR's head and the default branch's head it merged in, `merged`)."""
    problems: list[str] = []
    wanted = sorted({expected.base_sha, merged} if merged else {expected.base_sha})
    if sorted(header.prerequisites) != wanted:
        shown = ", ".join(p[:10] for p in header.prerequisites) or "none (a whole history)"
        problems.append(
            f"the bundle is based on {shown}, not on the planned base "
            + " and ".join(sha[:10] for sha in wanted)
        )
    if header.refs != ((head_sha, expected.ref),):
        shown = ", ".join(f"{name} at {oid[:10]}" for oid, name in header.refs) or "nothing"
        problems.append(f"the bundle carries {shown}, not {expected.ref} at {head_sha[:10]}")
    return problems


def lineage_problems(commits: Sequence[CommitFacts], expected: Expected) -> list[str]:
    """A straight line of macoder's own commits from the base."""
    if not commits:
        return ["the bundle adds no commit to the base"]
    problems: list[str] = []
    if len(commits) > MAX_COMMITS:
        problems.append(f"{len(commits)} commits; a task branch has at most {MAX_COMMITS}")
    emails = {e.lower() for e in expected.emails}
    parent = expected.base_sha
    for commit in commits:
        short = commit.sha[:10]
        if commit.parents != (parent,):
            problems.append(f"commit {short} does not follow {parent[:10]} in one straight line")
        for role, email in (("author", commit.author_email), ("committer", commit.committer_email)):
            if email.lower() not in emails:
                problems.append(f"commit {short}: {role} {email!r} is not macoder")
        parent = commit.sha
    return problems


def merge_problems(
    commits: Sequence[CommitFacts], onto: str, merged: str, expected: Expected
) -> list[str]:
    """An update adds exactly one commit: macoder's merge of the default branch's head
    `merged` into the PR's head `onto`, in that order."""
    if len(commits) != 1:
        return [f"an update adds one merge commit, not {len(commits)} commits"]
    (commit,) = commits
    problems: list[str] = []
    if commit.parents != (onto, merged):
        problems.append(
            f"commit {commit.sha[:10]} is not a merge of {merged[:10]} into {onto[:10]}"
        )
    emails = {e.lower() for e in expected.emails}
    for role, email in (("author", commit.author_email), ("committer", commit.committer_email)):
        if email.lower() not in emails:
            problems.append(f"commit {commit.sha[:10]}: {role} {email!r} is not macoder")
    return problems


def change_problems(
    changes: Sequence[Change],
    expected: Expected,
    *,
    review_draft: bool,
    backlog_is_the_status_flip: bool,
) -> list[str]:
    """What the branch changes: never a workflow; a protected path only in a draft labelled
    for review; the backlog only by the task's own status."""
    paths = [c.path for c in changes]
    problems = [
        f"changes {path}: workflows and actions are never pushed by macoder"
        for path in matching(paths, NEVER)
    ]
    backlog = expected.backlog_path
    if backlog in paths and not backlog_is_the_status_flip:
        problems.append(f"changes {backlog} beyond marking {expected.task_id} completed")
    others = [p for p in matching(paths, expected.protected) if p != backlog]
    others = [p for p in others if p not in matching(others, NEVER)]
    if others and not review_draft:
        problems.append(
            "changes protected path(s) "
            + ", ".join(others)
            + f" in a result not marked for review (a draft labelled {LABEL_NEEDS_REVIEW})"
        )
    return problems


def is_review_draft(draft: bool, labels: Collection[str]) -> bool:
    return draft and LABEL_NEEDS_REVIEW in labels
