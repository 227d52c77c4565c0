"""The Forge protocol: one pull request per task, found before it is ever created.

Both forges keep the same promise (DESIGN §7): a task has one branch, `macoder/<id>`, and at
most one open pull request for it; `create_or_update_pr` looks for that PR first and updates
it, so running the same task twice never opens a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol

from multi_agent_coder.errors import ForgeError
from multi_agent_coder.ids import PrKind, branch_of
from multi_agent_coder.visible import visible

if TYPE_CHECKING:
    from multi_agent_coder.git.ledger import Ledger

#: `handed-off`: the Action's task job wrote the PR down for its publish job to open.
Operation = Literal["created", "updated", "none", "handed-off"]

LABEL = "macoder"
LABEL_FAILED = "macoder:failed"
LABEL_NEEDS_REVIEW = "macoder:needs-review"
#: On a task's closed (or merged) pull request: a person asks macoder to run the task again.
LABEL_RETRY = "macoder:retry"
#: On a pull request macoder closed itself to open its successor (where GitHub refuses the
#: token a change of draft state): no person's answer, so it never holds the task.
LABEL_SUPERSEDED = "macoder:superseded"


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
    #: The forge's global id of the PR (GitHub's `node_id`: what GraphQL mutations take).
    node_id: str = ""
    #: An open PR whose head no longer merges into its base (the base moved on and conflicts
    #: with it); False when it merges or the forge does not know yet (GitHub computes it).
    conflicts: bool = False
    #: The task's work, or a proposed rewrite of its backlog entry (`macoder rebase`).
    kind: PrKind = "task"
    #: When it was merged (None: not merged, or the forge did not say).
    merged_at: float | None = None


@dataclass(frozen=True, slots=True)
class PrResult:
    """What the Action reports as outputs: number, url, operation, head-sha."""

    number: int
    url: str
    operation: Operation
    head_sha: str
    labels: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True, kw_only=True)
class WantedPr:
    """The pull request a run wants for a task.

    Its title and body are shown through `visible` here, the one door every pull request
    passes on either forge (the run's own and the publish job's from a hand-off file): a
    title from the backlog, or a body quoting agent output, must not carry a terminal escape
    sequence or a bidi override to the people and tools that read pull requests."""

    task_id: str
    branch: str
    base: str
    head_sha: str
    title: str
    body: str
    draft: bool
    labels: tuple[str, ...]
    kind: PrKind = "task"

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", visible(self.title))
        object.__setattr__(self, "body", visible(self.body, lines=True))
        wanted = branch_of(self.kind, self.task_id)
        if self.branch != wanted:
            raise ForgeError(f"task {self.task_id} must use branch {wanted}, not {self.branch}")


class Forge(Protocol):
    """Everything the run engine needs from wherever pull requests live.

    A forge also says where the run ledger is (a GitHub repository shares it through its
    remote, so parallel jobs see each other's leases) and who else wrote on a task branch.
    """

    name: str

    def ledger(self, clock: Callable[[], float]) -> Ledger:
        """The run ledger the runs against this forge share."""
        ...

    def publish_branch(self, branch: str, head_sha: str, *, fast_forward: bool = False) -> str:
        """Make `branch` at `head_sha` visible to the forge (push); local: nothing to do.
        `fast_forward`: a revision's new commits on top of what the reviewer saw — a plain
        push the remote refuses unless it only adds commits (never a forced one). Returns
        the commit the forge's branch is at now: `head_sha`, or the forge's own copy of it
        (GitHub's signed commits, `pull_request.sign_commits`), which the PR is opened at."""
        ...

    def foreign_commits(self, branch: str, base_sha: str) -> tuple[str, ...]:
        """Short shas of commits on the task `branch` (beyond `base_sha`, the default branch)
        that macoder did not write: a person worked there, so it must not be overwritten."""
        ...

    def fetch_branch(self, branch: str) -> str | None:
        """The commit at the tip of the forge's `branch`, made present in the local repository
        (fetched when the forge is remote), or None when the forge has no such branch."""
        ...

    def find_open_pr(
        self, task_id: str, kind: PrKind = "task", *, with_conflicts: bool = False
    ) -> PullRequest | None:
        """The task's open pull request of `kind` (its work, or a proposed rewrite).
        `with_conflicts`: with `conflicts` known (whether it still merges into its base) — on
        GitHub one more request, so asked only where a run decides on bringing it up to date."""
        ...

    def list_prs(self, *, include_closed: bool = False) -> list[PullRequest]:
        """macoder's pull requests: the open ones, or all of them with `include_closed`."""
        ...

    def create_or_update_pr(self, wanted: WantedPr) -> PrResult:
        """Open the task's pull request of `wanted.kind`, or bring its open one to `wanted`
        (in place: never a second PR for the same task and kind)."""
        ...

    def put_comment(self, number: int, comment_id: int | None, body: str) -> int:
        """Write macoder's comment on pull request `number`: edit comment `comment_id` in place,
        or add a new one when there is none (or it was deleted); the comment's id."""
        ...

    def remove_label(self, number: int, label: str) -> None:
        """Take `label` off pull request `number` (nothing when it does not carry it): the
        label `macoder:retry` is one request, used up when a run acts on it."""
        ...

    def close(self) -> None:
        """Let go of what the forge holds open (an HTTP connection pool)."""
        ...
