"""The skeleton both publish jobs of one commit share: a plan's (`run/feature_publish.py`)
and a task's rewrite (`run/rebase_publish.py`).

Each reads what a job without a write token handed off, checks it, pushes one branch and
opens (or updates) one pull request, and lets no error out: every way a hand-off fails is a
refusal in the job's result. The order of those steps, the ladder from exception to refusal
and its words, the courtesy label when a person pushed to the branch, the result file's
names and base, the bundle and the backlog read at both ends of its commit — these live here
once, so the two jobs cannot drift apart in how they check and refuse. What each accepts and
opens (its rules, its branch and PR, whether a try is recorded) is the job's own: a
`OneCommitJob`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from multi_agent_coder.backlog.load import Check
from multi_agent_coder.backlog.rules import check_rules
from multi_agent_coder.context.hygiene import hygiene_check
from multi_agent_coder.errors import MacoderError, NeedsReviewError, UnreadableFileError
from multi_agent_coder.forge.base import LABEL_NEEDS_REVIEW, PullRequest
from multi_agent_coder.forge.github import GitHubForge
from multi_agent_coder.git.repo import Change
from multi_agent_coder.run.feature_rules import OneCommit
from multi_agent_coder.run.handoff_files import (
    Refused,
    fetch_one_commit,
    name_problems,
    require_base_on_default,
)
from multi_agent_coder.run.session import Session

H = TypeVar("H")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class BacklogCommit(OneCommit, Protocol):
    """A hand-off of one commit that changes the backlog (a plan's, a rewrite's)."""

    @property
    def backlog_path(self) -> str: ...


E = TypeVar("E", bound=BacklogCommit)


class OneCommitJob(Protocol[H, R_co]):
    """What a publish job does its own way; `publish_one` calls `read`, then `publish` with
    the hand-off read, or `result` / `refused` with the reason the job stops."""

    @property
    def job(self) -> str:
        """The job that leaves the hand-off, as the result names it: "plan-feature"."""
        ...

    @property
    def branch_of(self) -> str:
        """Whose branch the job pushes, as a refusal names it: "plan", "rewrite"."""
        ...

    def read(self) -> H | None:
        """The hand-off, strictly read; None when the job left none."""
        ...

    def publish(self, handoff: H) -> R_co:
        """The hand-off checked, the branch pushed, the PR opened: the job's result
        (`Refused`, or an error of the forge or git, when it cannot be)."""
        ...

    def result(self, status: Literal["nothing", "refused"], reason: str) -> R_co:
        """A result with no pull request: nothing handed off, or the publish failed."""
        ...

    def refused(self, why: str) -> R_co:
        """The hand-off refused (a rule broken, a person's push on the branch): the result,
        after whatever the job keeps of a refused try."""
        ...

    def open_pr(self, github: GitHubForge) -> PullRequest | None:
        """The branch's open pull request, if any, to label for review."""
        ...


def publish_one(session: Session, job: OneCommitJob[H, R]) -> R:
    """`job`'s hand-off published, or why not: see the module's docstring."""
    try:
        handoff = job.read()
        if handoff is None:
            return job.result("nothing", f"the {job.job} job left no hand-off; nothing to publish")
        return job.publish(handoff)
    except Refused as refused:
        return job.refused("publish refused: " + "; ".join(refused.problems))
    except NeedsReviewError as exc:
        return job.refused(_held_for_review(session, job, exc))
    except (OSError, subprocess.SubprocessError) as exc:
        return job.result("refused", f"publish failed: {type(exc).__name__}: {exc}")
    except MacoderError as exc:  # HandoffError, GitError, a GitHub refusal
        return job.result("refused", f"publish failed: {exc}")


def _held_for_review(session: Session, job: OneCommitJob[H, R], exc: NeedsReviewError) -> str:
    """A person pushed to the job's branch: their commits stay, and its open PR (if any, on
    GitHub: labels are GitHub's) is labelled for review; the refusal's reason."""
    why = f"{exc}; nothing was pushed: the {job.branch_of}'s branch stays as the person left it"
    github = session.forge
    if not isinstance(github, GitHubForge):
        return why
    try:
        pr = job.open_pr(github)
        if pr is not None:
            github.add_labels(pr.number, (LABEL_NEEDS_REVIEW,))
            why += f" (PR #{pr.number} labelled {LABEL_NEEDS_REVIEW})"
    except MacoderError:  # the refusal stands; the label is a courtesy
        pass
    return why


def check_result(
    session: Session, file: str, named: Iterable[tuple[str, str, str]], base_sha: str
) -> None:
    """The result `file` names what this workflow run planned (`named`: what, as named, as
    planned), and the planned base is a commit of the default branch; `Refused` unless."""
    problems = name_problems(file, named)
    if problems:
        raise Refused(problems)
    require_base_on_default(session.repo, base_sha)


@dataclass(frozen=True, slots=True)
class BacklogChange:
    """The backlog at the planned base and at the hand-off's head (None where there is
    none), and the checks `macoder check` runs on it with the repository's own settings."""

    before: bytes | None
    after: bytes | None
    checks: tuple[Check, ...]


def fetch_backlog_change(
    session: Session,
    path: Path,
    expected: E,
    head: str,
    *,
    max_bytes: int,
    path_problems: Callable[[Sequence[Change], E], list[str]],
) -> BacklogChange:
    """The bundle at `path` (at most `max_bytes`) checked and fetched and its one commit
    checked (`fetch_one_commit`), the paths it changes held to the job's `path_problems`,
    then the backlog read at both ends — in that order (git sees the bundle only after its
    header holds); `Refused` naming what does not hold."""
    repo, settings = session.repo, session.settings
    fetch_one_commit(repo, path, expected, head, max_bytes=max_bytes)
    problems = path_problems(repo.changes(expected.base_sha, head), expected)
    if problems:
        raise Refused(problems)
    limit = settings.max_file_bytes
    try:
        before = repo.file_at(expected.base_sha, expected.backlog_path, max_bytes=limit)
        after = repo.file_at(head, expected.backlog_path, max_bytes=limit)
    except UnreadableFileError as exc:
        raise Refused([str(exc)]) from None
    return BacklogChange(before, after, (check_rules, hygiene_check(settings.context_settings())))
