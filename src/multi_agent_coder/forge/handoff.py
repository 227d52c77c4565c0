"""The hand-off forge: what the Action's task job has instead of a forge it can write to.

The job that runs the agent, and the tests the agent wrote, holds no write token of any kind
(DESIGN §9, "safe outputs"). It still runs the whole engine — lease, worktree, agent,
verification, commits — but everything that would change GitHub is written down instead:

- the task branch becomes a git bundle (`task.bundle`: the commits from the planned base to
  the head, with the base as its one prerequisite);
- the pull request it would open or update, the ledger records it would append (the
  attempt, with its tokens and reason), go into `result.json`.

Both lie in `<directory>/<task id>/`, which the workflow uploads as an artifact. The publish
job (`run/publish.py`), which holds the token and runs no agent, checks them and does the
writing. Reads (pull requests, the ledger, a task branch) go to the real forge with the
job's read-only token, so the engine decides exactly as it would with a full forge.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from multi_agent_coder.atomicfile import write_atomically
from multi_agent_coder.errors import ForgeError, UnreadableFileError
from multi_agent_coder.forge.base import Forge, PrResult, PullRequest, WantedPr
from multi_agent_coder.git import bundle
from multi_agent_coder.git.env import run_git
from multi_agent_coder.git.ledger import Ledger, Plan, Record, Skipped, dumps, parse
from multi_agent_coder.git.remote import task_branch
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.ids import BRANCH_PREFIX, PrKind, validate_task_id
from multi_agent_coder.userfiles import read_user_file

RESULT_FILE: Final = "result.json"
BUNDLE_FILE: Final = "task.bundle"
#: The one ref a task's bundle carries: `refs/macoder/handoff/<id>`, never a branch.
REF_PREFIX: Final = "refs/macoder/handoff/"
#: A result file larger than this is not one macoder wrote (a PR body is at most 64 KiB).
MAX_RESULT_BYTES: Final = 1024 * 1024

M = TypeVar("M", bound=BaseModel)


class HandoffError(ForgeError):
    """A hand-off that cannot be read, or that does not match what was planned."""


class WantedPull(BaseModel):
    """The pull request the task job would have opened or updated."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    title: str = Field(max_length=1024)
    body: str = Field(max_length=262_144)
    draft: bool
    labels: tuple[str, ...] = Field(max_length=16)
    head_sha: str = Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class Handoff(BaseModel):
    """`result.json`: everything the publish job is asked to do for one task."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: Literal[1] = 1
    task: str
    run_id: str = Field(max_length=200)
    base_sha: str = Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")
    #: Set when the branch was "published": the bundle holds `REF_PREFIX + task` at it.
    head_sha: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")
    pull: WantedPull | None = None
    #: A revision: the PR head its new commits build on (the bundle's one prerequisite then).
    onto: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")
    #: Ledger lines, exactly as a ledger would append them.
    records: tuple[str, ...] = Field(default=(), max_length=1000)


def ref_for(task_id: str) -> str:
    return REF_PREFIX + validate_task_id(task_id)


def read_handoff(directory: Path) -> Handoff | None:
    """The hand-off in `directory` (None when the task job left none); `HandoffError` when
    it is too large or not a hand-off."""
    return read_result(directory, RESULT_FILE, Handoff, max_bytes=MAX_RESULT_BYTES)


def read_result(folder: Path, name: str, model: type[M], *, max_bytes: int) -> M | None:
    """The result file `folder/name` read as `model` (None when there is none);
    `HandoffError` when it is too large, no regular file, or not macoder's. Every hand-off's
    result (a task's, a plan's in `run/feature.py`, a rewrite's in `run/rebase_handoff.py`)
    is read by this one reader, so all are held to the same bounds in the same words."""
    path = folder / name
    try:  # the job ran agents: its result is read as a user's file (`userfiles`)
        data = read_user_file(path, max_bytes=max_bytes, root=folder)
    except UnreadableFileError as exc:
        if exc.missing:
            return None
        raise HandoffError(f"{exc}; not macoder's") from None
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        raise HandoffError(f"{path}: {where}: {first['msg']}") from None


class HandoffStore:
    """The hand-offs of one task job, shared by every thread's forge (one lock)."""

    def __init__(self, directory: Path, *, run_id: str, base_sha: str) -> None:
        self.directory = directory
        self.run_id = run_id
        self.base_sha = base_sha
        self._lock = threading.Lock()

    def task_dir(self, task_id: str) -> Path:
        return self.directory / validate_task_id(task_id)

    def load(self, task_id: str) -> Handoff:
        found = read_handoff(self.task_dir(task_id))
        return found or Handoff(task=task_id, run_id=self.run_id, base_sha=self.base_sha)

    def update(self, task_id: str, change: Callable[[Handoff], Handoff]) -> None:
        """Read, change and rewrite a task's `result.json` (atomically: a job killed midway
        leaves the previous version, never half a file)."""
        with self._lock:
            new = change(self.load(task_id))
            folder = self.task_dir(task_id)
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(folder / RESULT_FILE, new.model_dump_json(indent=1))

    def records(self) -> list[Record]:
        """Every record handed off so far, of every task."""
        with self._lock:
            if not self.directory.is_dir():
                return []
            found: list[Record] = []
            for folder in sorted(self.directory.iterdir()):
                handoff = read_handoff(folder)
                if handoff is not None:
                    found += parse("\n".join(handoff.records))
            return found

    def add_records(self, records: Sequence[Record]) -> None:
        for record in records:
            self.update(record.task, functools.partial(_with_record, line=dumps(record)))


def _with_record(handoff: Handoff, line: str) -> Handoff:
    return handoff.model_copy(update={"records": (*handoff.records, line)})


class HandoffLedger(Ledger):
    """The shared ledger as read with the job's token, plus what this job handed off; every
    write goes to the hand-off (the publish job appends it)."""

    def __init__(self, upstream: Ledger, store: HandoffStore) -> None:
        super().__init__(upstream.repo, upstream.ref, upstream.clock)
        self.upstream = upstream
        self.store = store

    def read(self, skipped: list[Skipped] | None = None) -> list[Record]:
        return [*self.upstream.read(skipped), *self.store.records()]

    def _update(self, plan: Plan) -> Sequence[Record] | None:
        records = plan(self.read())
        if records:
            self.store.add_records(records)
        return records


class HandoffForge:
    """The `Forge` protocol for a job with a read-only token (see the module's docstring)."""

    def __init__(self, upstream: Forge, repo: Repo, store: HandoffStore) -> None:
        self.upstream = upstream
        self.repo = repo
        self.store = store
        self.name = upstream.name

    def ledger(self, clock: Callable[[], float]) -> Ledger:
        return HandoffLedger(self.upstream.ledger(clock), self.store)

    def publish_branch(self, branch: str, head_sha: str, *, fast_forward: bool = False) -> str:
        """The bundle of the branch's commits beyond the planned base, instead of a push; for
        a revision (`fast_forward`), beyond the PR's head it builds on (`onto`: the remote
        branch's tip, which the engine has just checked is where the revision started).
        `head_sha` is what the publish job is asked to publish (it may sign it anew)."""
        task_id = task_branch(branch).removeprefix(BRANCH_PREFIX)
        ref = ref_for(task_id)
        onto = self.upstream.fetch_branch(branch) if fast_forward else None
        if fast_forward and onto is None:
            raise HandoffError(f"{branch}: a revision's branch is gone from the remote")
        run_git(["update-ref", ref, head_sha], self.repo.root)
        base = onto or self.store.base_sha
        # A fast-forward that merged the planned base in (an update) builds on both.
        also = (self.store.base_sha,) if onto is not None else ()
        bundle.create(self.repo.root, self.store.task_dir(task_id) / BUNDLE_FILE, ref, base, *also)
        self.store.update(
            task_id, lambda h: h.model_copy(update={"head_sha": head_sha, "onto": onto})
        )
        return head_sha

    def foreign_commits(self, branch: str, base_sha: str) -> tuple[str, ...]:
        return self.upstream.foreign_commits(branch, base_sha)

    def fetch_branch(self, branch: str) -> str | None:
        return self.upstream.fetch_branch(branch)

    def find_open_pr(
        self, task_id: str, kind: PrKind = "task", *, with_conflicts: bool = False
    ) -> PullRequest | None:
        return self.upstream.find_open_pr(task_id, kind, with_conflicts=with_conflicts)

    def list_prs(self, *, include_closed: bool = False) -> list[PullRequest]:
        return self.upstream.list_prs(include_closed=include_closed)

    def create_or_update_pr(self, wanted: WantedPr) -> PrResult:
        """Written down for the publish job; the PR it will update, if one is open now."""
        if wanted.kind != "task":
            raise ForgeError(
                f"a task job hands off a task's work only, not a {wanted.kind} proposal"
            )
        # The publish job derives the branch and the base (the task's, the default one).
        pull = WantedPull(
            title=wanted.title,
            body=wanted.body,
            draft=wanted.draft,
            labels=wanted.labels,
            head_sha=wanted.head_sha,
        )
        self.store.update(wanted.task_id, lambda h: h.model_copy(update={"pull": pull}))
        open_pr = self.upstream.find_open_pr(wanted.task_id)
        number, url = (open_pr.number, open_pr.url) if open_pr is not None else (0, "")
        return PrResult(number, url, "handed-off", wanted.head_sha, wanted.labels)

    def put_comment(self, number: int, comment_id: int | None, body: str) -> int:
        """Nothing: this job's token cannot comment. The publish job brings the progress
        comment up to date from the ledger once it has recorded the attempt."""
        del number, body
        return comment_id or 0

    def remove_label(self, number: int, label: str) -> None:
        """Nothing: a job with a read-only token changes no pull request. The plan job, which
        holds the write token, has used up the `macoder:retry` labels before this job ran."""
        del number, label

    def close(self) -> None:
        self.upstream.close()
