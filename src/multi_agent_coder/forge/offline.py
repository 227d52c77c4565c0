"""The forge of a job that holds no token at all: every call is refused.

The Action's `plan-feature` job runs the planning agents and the generator with no GitHub
token of any kind (DESIGN §9): its only output is a hand-off for the `publish-feature` job.
Planning and generation never need a forge; should any code path ever reach for one here,
it fails loudly instead of quietly writing somewhere (a local forge would write into the
job's throwaway clone and look like success).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from multi_agent_coder.errors import ForgeError
from multi_agent_coder.forge.base import PrResult, PullRequest, WantedPr
from multi_agent_coder.git.ledger import Ledger
from multi_agent_coder.ids import PrKind


class OfflineForge:
    """The `Forge` protocol for a job with no token (see the module's docstring)."""

    name = "no forge (this job holds no token)"

    def __init__(self, why: str) -> None:
        self.why = why

    def _refuse(self, doing: str) -> NoReturn:
        raise ForgeError(f"{doing}: {self.why}")

    def ledger(self, clock: Callable[[], float]) -> Ledger:
        del clock
        self._refuse("reading the run ledger")

    def publish_branch(self, branch: str, head_sha: str, *, fast_forward: bool = False) -> str:
        del head_sha, fast_forward
        self._refuse(f"pushing {branch}")

    def foreign_commits(self, branch: str, base_sha: str) -> tuple[str, ...]:
        del base_sha
        self._refuse(f"reading {branch}")

    def fetch_branch(self, branch: str) -> str | None:
        self._refuse(f"fetching {branch}")

    def find_open_pr(
        self, task_id: str, kind: PrKind = "task", *, with_conflicts: bool = False
    ) -> PullRequest | None:
        del kind, with_conflicts
        self._refuse(f"reading {task_id}'s pull request")

    def list_prs(self, *, include_closed: bool = False) -> list[PullRequest]:
        del include_closed
        self._refuse("listing pull requests")

    def create_or_update_pr(self, wanted: WantedPr) -> PrResult:
        self._refuse(f"opening {wanted.task_id}'s pull request")

    def put_comment(self, number: int, comment_id: int | None, body: str) -> int:
        del comment_id, body
        self._refuse(f"commenting on pull request #{number}")

    def remove_label(self, number: int, label: str) -> None:
        self._refuse(f"taking {label} off pull request #{number}")

    def close(self) -> None:
        """Nothing is held open."""
