"""The embedded default forge: pull requests as records next to the repository's refs.

A local pull request is the branch `macoder/<id>` plus a record (title, body, state, head) in
`<git dir>/macoder/forge.json`. The records live in the git directory, not the working tree,
so they never show up in `git status`, and every change goes through a lock and an atomic
replace, like backlog writes. `merge` merges the branch into the default branch in memory
(see `Repo.merge_into`), so the task's own commit that marks it completed lands on the default
branch: "merged" and "completed" are one event, as on GitHub.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import Any

from multi_agent_coder.backlog.write import atomic_write, directory_lock
from multi_agent_coder.errors import ForgeError, UsageError
from multi_agent_coder.forge.base import PrResult, PrState, PullRequest, WantedPr
from multi_agent_coder.forge.pr_policy import plan_update
from multi_agent_coder.git.ledger import LEDGER_IDENTITY, Ledger
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.ids import PrKind, validate_task_id
from multi_agent_coder.visible import visible

STORE_DIR = "macoder"
STORE_FILE = "forge.json"


class LocalForge:
    """Pull requests for a repository with no hosting service at all."""

    name = "local"

    def __init__(
        self,
        repo: Repo,
        clock: Callable[[], float] = time.time,
        *,
        macoder_emails: Collection[str] = (LEDGER_IDENTITY[1],),
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.macoder_emails = frozenset(email.lower() for email in macoder_emails)
        self.store = repo.git_dir / STORE_DIR / STORE_FILE

    # ----------------------------------------------------------------- storage

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write of the store under the directory lock; written only if changed."""
        self.store.parent.mkdir(parents=True, exist_ok=True)
        with directory_lock(self.store.parent):
            raw = self.store.read_bytes() if self.store.exists() else b""
            data = self._parse(raw)
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                atomic_write(self.store, (json.dumps(data, indent=2) + "\n").encode())

    def _parse(self, raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            return {"next_number": 1, "pulls": []}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ForgeError(
                f"{self.store}: the local forge's records are damaged: {exc}"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("pulls"), list):
            raise ForgeError(f"{self.store}: the local forge's records are damaged")
        return data

    def _read(self) -> list[PullRequest]:
        raw = self.store.read_bytes() if self.store.exists() else b""
        return [_from_json(p) for p in self._parse(raw)["pulls"]]

    def url_of(self, number: int) -> str:
        return f"local:{self.repo.root}#pr-{number}"

    # ----------------------------------------------------------------- Forge

    def ledger(self, clock: Callable[[], float] = time.time) -> Ledger:
        """The repository's own `refs/macoder/ledger`: every local run sees the same ref."""
        return Ledger(self.repo, clock=clock)

    def close(self) -> None:
        """Nothing is held open between calls (each reads and writes the store under a lock)."""

    def publish_branch(self, branch: str, head_sha: str, *, fast_forward: bool = False) -> str:
        """The branch is already in this repository; check it is where the caller thinks."""
        del fast_forward  # nothing is pushed
        actual = self.repo.branch_head(branch.removeprefix("refs/heads/"))
        if actual != head_sha:
            raise ForgeError(f"branch {branch} is at {actual}, expected {head_sha}")
        return head_sha

    def fetch_branch(self, branch: str) -> str | None:
        """The local branch is the forge's branch: nothing to fetch."""
        return self.repo.branch_head(branch.removeprefix("refs/heads/"))

    def foreign_commits(self, branch: str, base_sha: str) -> tuple[str, ...]:
        """Short shas of commits on the local `branch`, beyond `base_sha`, that a person
        authored or committed (none when the branch does not exist). The committer counts
        too: a person who amends or rebases macoder's commit keeps macoder as its author."""
        head = self.repo.branch_head(branch.removeprefix("refs/heads/"))
        if head is None:
            return ()
        return tuple(
            commit.sha[:10]
            for commit in self.repo.lineage(base_sha, head)
            if {commit.author_email.lower(), commit.committer_email.lower()} - self.macoder_emails
        )

    def list_prs(self, *, include_closed: bool = False) -> list[PullRequest]:
        prs = [self._with_conflicts(pr) for pr in self._read()]
        return prs if include_closed else [pr for pr in prs if pr.state is PrState.OPEN]

    def find_open_pr(
        self, task_id: str, kind: PrKind = "task", *, with_conflicts: bool = False
    ) -> PullRequest | None:
        validate_task_id(task_id)
        pulls = self._read()
        position = _open_position(pulls, task_id, kind)
        if position is None:
            return None
        return self._with_conflicts(pulls[position]) if with_conflicts else pulls[position]

    def _with_conflicts(self, pr: PullRequest) -> PullRequest:
        """`pr` with whether its head still merges into its base, as of now (computed from
        the repository, never stored: the base moves without the forge hearing of it)."""
        if pr.state is not PrState.OPEN:
            return pr
        base = self.repo.branch_head(pr.base)
        if base is None or self.repo.merges_cleanly(pr.head_sha, base):
            return pr
        return replace(pr, conflicts=True)

    def create_or_update_pr(self, wanted: WantedPr) -> PrResult:
        now = self.clock()
        with self._locked() as data:
            pulls = [_from_json(p) for p in data["pulls"]]
            position = _open_position(pulls, wanted.task_id, wanted.kind)
            if position is not None:
                # A local PR's draft state changes in place: never a create or a supersede.
                plan = plan_update(pulls[position], wanted)
                updated = replace(
                    plan.pr,
                    title=wanted.title,
                    body=wanted.body,
                    base=wanted.base,
                    head_sha=wanted.head_sha,
                    draft=wanted.draft,
                    labels=tuple(
                        label
                        for label in (*plan.pr.labels, *plan.add_labels)
                        if label not in plan.remove_labels
                    ),
                )
                if plan.operation == "updated":
                    data["pulls"][position] = _to_json(replace(updated, updated_at=now))
                return PrResult(
                    updated.number, updated.url, plan.operation, wanted.head_sha, updated.labels
                )
            number = int(data["next_number"])
            pr = PullRequest(
                number=number,
                task_id=wanted.task_id,
                branch=wanted.branch,
                base=wanted.base,
                title=wanted.title,
                body=wanted.body,
                state=PrState.OPEN,
                draft=wanted.draft,
                head_sha=wanted.head_sha,
                url=self.url_of(number),
                labels=tuple(dict.fromkeys(wanted.labels)),
                created_at=now,
                updated_at=now,
                kind=wanted.kind,
            )
            data["pulls"].append(_to_json(pr))
            data["next_number"] = number + 1
            return PrResult(number, pr.url, "created", wanted.head_sha, pr.labels)

    # ----------------------------------------------------------------- local only

    def merge(self, task_id: str, author: tuple[str, str], kind: PrKind = "task") -> PullRequest:
        """Merge the task's open PR (of `kind`) into its base branch and mark it merged."""
        validate_task_id(task_id)
        with self._locked() as data:
            pulls = [_from_json(p) for p in data["pulls"]]
            position = _open_position_or_refuse(pulls, task_id, kind)
            pr = pulls[position]
            if pr.draft:
                raise UsageError(
                    f"PR #{pr.number} for {task_id} is a draft (its task failed); "
                    f"re-run it with `macoder run --retry {task_id}`"
                )
            branch_head = self.repo.branch_head(pr.branch.removeprefix("refs/heads/"))
            if branch_head != pr.head_sha:
                raise ForgeError(
                    f"branch {pr.branch} moved since PR #{pr.number} was updated "
                    f"({pr.head_sha[:10]} -> {str(branch_head)[:10]}); re-run the task first"
                )
            merged = self.repo.merge_into(
                pr.base,
                pr.branch.removeprefix("refs/heads/"),
                f"Merge pull request #{pr.number} from {pr.branch}\n\n{pr.title}",
                author,
            )
            now = self.clock()
            done = replace(
                pr, state=PrState.MERGED, merged_sha=merged, updated_at=now, merged_at=now
            )
            data["pulls"][position] = _to_json(done)
            return done

    def close_pr(self, task_id: str, kind: PrKind = "task") -> PullRequest:
        """Close the task's open PR without merging it: a person's "no" (the task is then
        rejected until its entry changes or a person asks again; a closed rewrite leaves the
        task as it was). The branch stays."""
        validate_task_id(task_id)
        with self._locked() as data:
            pulls = [_from_json(p) for p in data["pulls"]]
            position = _open_position_or_refuse(pulls, task_id, kind)
            done = replace(pulls[position], state=PrState.CLOSED, updated_at=self.clock())
            data["pulls"][position] = _to_json(done)
            return done

    def put_comment(self, number: int, comment_id: int | None, body: str) -> int:
        """Comments kept next to the pull requests (`comments`: id -> PR and text)."""
        with self._locked() as data:
            if not any(p["number"] == number for p in data["pulls"]):
                raise ForgeError(f"the local forge has no pull request #{number}")
            comments: dict[str, Any] = data.setdefault("comments", {})
            if comment_id is None or str(comment_id) not in comments:
                comment_id = 1 + max((int(key) for key in comments), default=0)
            comments[str(comment_id)] = {"pr": number, "body": visible(body, lines=True)}
            return comment_id

    def comments(self, number: int) -> list[str]:
        """The texts of the comments on pull request `number`, oldest first."""
        raw = self.store.read_bytes() if self.store.exists() else b""
        kept = self._parse(raw).get("comments", {})
        return [
            c["body"]
            for _, c in sorted(kept.items(), key=lambda kv: int(kv[0]))
            if c["pr"] == number
        ]

    def remove_label(self, number: int, label: str) -> None:
        with self._locked() as data:
            for position, raw in enumerate(data["pulls"]):
                pr = _from_json(raw)
                if pr.number == number and label in pr.labels:
                    kept = tuple(name for name in pr.labels if name != label)
                    data["pulls"][position] = _to_json(replace(pr, labels=kept))


def _open_position_or_refuse(pulls: list[PullRequest], task_id: str, kind: PrKind) -> int:
    """Where the task's open PR of `kind` is, for a person's merge or close: none is their
    mistake, said with where to look."""
    position = _open_position(pulls, task_id, kind)
    if position is None:
        what = "pull request" if kind == "task" else "proposed rewrite"
        raise UsageError(f"task {task_id} has no open {what} (see `macoder prs`)")
    return position


def _open_position(pulls: list[PullRequest], task_id: str, kind: PrKind = "task") -> int | None:
    """Where the task's open pull request of `kind` is in `pulls` (at most one is ever open)."""
    return next(
        (
            i
            for i, pr in enumerate(pulls)
            if pr.task_id == task_id and pr.kind == kind and pr.state is PrState.OPEN
        ),
        None,
    )


def _to_json(pr: PullRequest) -> dict[str, Any]:
    data = asdict(pr)
    del data["conflicts"]  # a fact of the moment, computed on every read
    data["state"] = pr.state.value
    data["labels"] = list(pr.labels)
    return data


def _from_json(data: dict[str, Any]) -> PullRequest:
    data = {k: v for k, v in data.items() if k != "conflicts"}
    return PullRequest(**{**data, "state": PrState(data["state"]), "labels": tuple(data["labels"])})
