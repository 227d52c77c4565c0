"""The Forge protocol: one pull request per task, found before it is ever created.

Both forges keep the same promise (DESIGN §7): a task has one branch, `macoder/<id>`, and at
most one open pull request for it; `create_or_update_pr` looks for that PR first and updates
it, so running the same task twice never opens a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

Operation = Literal["created", "updated", "none"]

LABEL = "macoder"
LABEL_FAILED = "macoder:failed"
LABEL_NEEDS_REVIEW = "macoder:needs-review"


class PrState(StrEnum):
    OPEN = "open"
    MERGED = "merged"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class PullRequest:
    number: int
    task_id: str
    branch: str
    base: str
    title: str
    body: str
    state: PrState
    draft: bool
    head_sha: str
    url: str
    labels: tuple[str, ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0
    merged_sha: str | None = None


@dataclass(frozen=True, slots=True)
class PrResult:
    """What the Action reports as outputs: number, url, operation, head-sha."""

    number: int
    url: str
    operation: Operation
    head_sha: str
    labels: tuple[str, ...] = field(default_factory=tuple)


class Forge(Protocol):
    """What the run engine needs from wherever pull requests live."""

    name: str

    def publish_branch(self, branch: str, head_sha: str) -> None:
        """Make `branch` at `head_sha` visible to the forge (push); local: nothing to do."""
        ...

    def find_open_pr(self, task_id: str) -> PullRequest | None: ...

    def list_prs(self) -> list[PullRequest]: ...

    def create_or_update_pr(
        self,
        *,
        task_id: str,
        branch: str,
        base: str,
        head_sha: str,
        title: str,
        body: str,
        draft: bool,
        labels: tuple[str, ...],
    ) -> PrResult: ...
