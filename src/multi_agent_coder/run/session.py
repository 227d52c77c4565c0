"""The objects a command works with, built in one place: repository, forge, ledger, agent.

`cli/` and `action/` parse their input, open a `Session` (`open_local` for a laptop with no
hosting service, `open_github` for the Action) and call it; they never build a repository,
forge, ledger or agent themselves. Whatever differs between the two worlds — where pull
requests live, where the ledger is shared, which interpreter runs the repository's tests — is
decided here, so the run engine above it has a single shape.

`snapshot` is the one way every command reads "where things stand": the backlog as the
default branch has it (`backlog_at`, the one reader of a backlog at a commit), the ledger's
records, the forge's pull requests (closed and merged ones too: a person's answer), handed
to the pure `state.decide`.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from multi_agent_coder.agents.base import Agent
from multi_agent_coder.agents.router import RoutedModel, model_for
from multi_agent_coder.backlog.load import load_bytes, require_valid
from multi_agent_coder.backlog.model import Backlog, Task
from multi_agent_coder.backlog.rules import check_rules
from multi_agent_coder.config import Settings
from multi_agent_coder.errors import (
    FeedbackRefusedError,
    MacoderError,
    NoBacklogError,
    UnknownTaskError,
    UsageError,
)
from multi_agent_coder.forge.base import LABEL_RETRY, Forge, PrState, PullRequest
from multi_agent_coder.forge.handoff import HandoffStore as HandoffStore  # noqa: PLC0414 - for action/
from multi_agent_coder.git.ledger import (
    LEDGER_IDENTITY,
    Comment,
    Ledger,
    Record,
    Reset,
    Skipped,
)
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.ids import PrKind
from multi_agent_coder.limits import MAX_FILE_BYTES
from multi_agent_coder.run import pr_comment
from multi_agent_coder.run.budget import (
    health_job_seconds,
    task_job_seconds,
    task_lease_seconds,
)
from multi_agent_coder.run.state import RunState, decide, retry_requests
from multi_agent_coder.sandbox import Jail, jail_for

if TYPE_CHECKING:
    from multi_agent_coder.forge.github import GitHubForge
    from multi_agent_coder.forge.local import LocalForge
    from multi_agent_coder.run.health import HealthReport

log = logging.getLogger(__name__)

#: Builds the agent runtime for one run (e.g. starts one `opencode serve`) and stops it after.
AgentFactory = Callable[[Settings, Repo, threading.Event], AbstractContextManager[Agent]]
#: Checks that the models a run will use answer, before anything starts (`ProviderCheckError`).
Preflight = Callable[[Settings, Repo, Collection[str]], None]
#: Builds a forge on a repository handle (one per worker thread: pygit2 is not thread-safe).
ForgeFactory = Callable[[Repo], Forge]


@dataclass(frozen=True, slots=True)
class Head:
    """The default branch, the commit it points at, and the backlog in that commit."""

    branch: str
    sha: str
    backlog: Backlog
    #: The backlog file's bytes as read: what a rewrite of a task is spliced into, so a
    #: rebase prepared from this head need not read the file again (`run/rebase.py`).
    raw: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The default branch, its backlog, and where every task stands, read at one moment."""

    branch: str
    sha: str
    backlog: Backlog
    state: RunState
    records: Sequence[Record]
    prs: Sequence[PullRequest]
    #: The backlog file's bytes (`Head.raw`).
    raw: bytes

    @property
    def head(self) -> Head:
        """The head this snapshot was read from: a later snapshot or a rewrite of the same
        moment starts from it instead of reading the branch and the backlog again."""
        return Head(self.branch, self.sha, self.backlog, self.raw)


@dataclass
class Session:
    """One repository with its forge, ledger and agent runtime; close it when done."""

    repo: Repo
    settings: Settings
    forge_factory: ForgeFactory
    agent_factory: AgentFactory
    #: The interpreter the repository's pytest / unittest run with when they are detected.
    python: str = sys.executable
    clock: Callable[[], float] = time.time
    #: The Action's task job: where every write is handed off to the publish job.
    handoff: HandoffStore | None = None
    #: The provider check of the agent runtime (None: an injected agent that needs none).
    preflight: Preflight | None = None
    forge: Forge = field(init=False)

    def __post_init__(self) -> None:
        self.forge = self.forge_factory(self.repo)

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self.forge.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def author(self) -> tuple[str, str]:
        """Who macoder's commits are by (and whose commits are macoder's)."""
        return (self.settings.git_author_name, self.settings.git_author_email)

    def ledger(self) -> Ledger:
        return self.forge.ledger(self.clock)

    # ----------------------------------------------------------------- reading state

    def ledger_records(self) -> tuple[list[Record], int]:
        """Every record of the ledger and how many of its lines were not records (torn or
        hand-edited; logged): what `macoder report` counts from, with what it could not."""
        skipped: list[Skipped] = []
        records = self.ledger().read(skipped)
        return records, len(skipped)

    def head(self) -> Head:
        """The default branch, its head commit and the backlog it holds."""
        branch = self.repo.default_branch()
        sha = self.repo.branch_head(branch)
        if sha is None:
            raise UsageError(
                f"branch {branch} has no commits yet: tasks start from the default branch's"
                " last commit; commit your files first (git add . && git commit)"
            )
        settings = self.settings
        raw, backlog = backlog_file_at(self.repo, sha, settings.backlog, settings.max_file_bytes)
        return Head(branch, sha, backlog, raw)

    def snapshot(
        self,
        *,
        head: Head | None = None,
        records: Sequence[Record] | None = None,
        prs: Sequence[PullRequest] | None = None,
        retry: Collection[str] = frozenset(),
        only: Collection[str] | None = None,
        own_run: str | None = None,
    ) -> Snapshot:
        """Where things stand now. `head`, `records` and `prs` may be passed when just read
        (the run reads them first to validate its options and reconcile leases)."""
        head = self.head() if head is None else head
        records = self.ledger().read() if records is None else records
        prs = self.forge.list_prs(include_closed=True) if prs is None else prs
        state = decide(
            head.backlog,
            records,
            prs,
            self.clock(),
            max_attempts=self.settings.max_attempts,
            retry=retry,
            only=only,
            own_run=own_run,
        )
        return Snapshot(head.branch, head.sha, head.backlog, state, records, prs, head.raw)

    def lease(self, task_ids: Sequence[str], *, run_id: str, holder: str) -> list[str]:
        """Lease `task_ids` for jobs that run them later (the Action's plan job, which runs no
        agent); the ids leased, in order — a task another run holds is left out. Each lease is
        written with its attempt's start: a job that never reports back still used one."""
        ledger = self.ledger()
        ttl = job_lease_ttl(self.settings, queued=True)
        return [
            t for t in task_ids if ledger.acquire(t, run_id, holder, ttl, start=True) is not None
        ]

    def record_answers(self, snapshot: Snapshot) -> list[Record]:
        """Keep in the ledger the answers to PRs that `snapshot` saw first (a PR closed or
        merged, with the hash of the task's entry then); the records as they are after."""
        answers = snapshot.state.new_answers
        if answers:
            self.ledger().append(*answers)
        return [*snapshot.records, *answers]

    def take_retry_labels(self, snapshot: Snapshot, *, run_id: str) -> list[Record]:
        """Act on the label `macoder:retry` people put on a task's closed or merged PR: keep
        the request in the ledger (a reset, after the PR's answer) and take the label off, so
        one label is one fresh start; the records as they are after."""
        asked, kept = retry_requests(
            snapshot.backlog, snapshot.records, snapshot.prs, self.clock(), run_id
        )
        if not kept:
            return list(snapshot.records)
        self.ledger().append(*kept)
        for pr in asked.values():
            self.forge.remove_label(pr.number, LABEL_RETRY)
        return [*snapshot.records, *kept]

    def show_running(
        self, task_ids: Sequence[str], snapshot: Snapshot, *, run_id: str, where: str
    ) -> None:
        """Say on each task's open PR (its progress comment) that a new attempt runs `where`:
        a person watching the PR sees it before the attempt ends."""
        open_prs = {
            pr.task_id: pr for pr in snapshot.prs if pr.state is PrState.OPEN and pr.kind == "task"
        }
        ledger = self.ledger()
        for task_id in task_ids:
            if task_id in open_prs:
                keep_progress_comment(
                    self.forge,
                    ledger,
                    task_id,
                    open_prs[task_id].number,
                    run_id=run_id,
                    now=self.clock(),
                    running=where,
                )

    def route(self, task: Task) -> RoutedModel:
        """The model `task` runs on and why (its kind and role): the router's rule."""
        return model_for(task, self.settings.models)

    def ask_again(self, task_ids: Sequence[str], *, run_id: str) -> None:
        """A person asks for these tasks again (`/macoder retry`): a reset each, so they are
        free of an earlier answer and start a fresh attempt budget. Answers no run has kept
        yet are kept first: a reset lifts only the answers recorded before it."""
        self.record_answers(self.snapshot())
        now = self.clock()
        self.ledger().append(*(Reset(task_id, run_id, now) for task_id in task_ids))

    # ----------------------------------------------------------------- GitHub only

    def react(self, comment_id: int, content: str) -> None:
        """Put a reaction (`eyes`, `rocket`, `confused`) on a person's comment; best effort."""
        try:
            self._github("reacting to a comment").react(comment_id, content)
        except MacoderError as exc:
            log.warning("no reaction on comment %d: %s", comment_id, exc)

    def reply(self, number: int, body: str) -> None:
        """A comment on issue or pull request `number`."""
        self._github("replying").add_comment(number, body)

    def github_reader(self) -> GitHubForge:
        """The GitHub forge to read from — in a task job, the one its hand-off forge reads
        through (with the job's read-only token), e.g. a review that asks for changes."""
        from multi_agent_coder.forge.handoff import HandoffForge

        if isinstance(self.forge, HandoffForge):
            return Session._github_of(self.forge.upstream, "reading a review")
        return self._github("reading a review")

    def task_pr_to_revise(self, number: int) -> str:
        """The task whose open pull request `number` is, to be revised; `FeedbackRefusedError`
        saying why not when it is no task's PR, not open work (closed, a failed attempt's
        draft), or its task is not in the backlog."""
        from multi_agent_coder.forge.base import LABEL_FAILED

        pr = self.github_reader().get_pull(number)
        if pr is None or pr.kind != "task":
            raise FeedbackRefusedError(
                "changes are asked of macoder on a task's pull request (branch macoder/<id>) only"
            )
        if pr.state is not PrState.OPEN or LABEL_FAILED in pr.labels:
            raise FeedbackRefusedError(f"PR #{number} is not open work of {pr.task_id} to revise")
        if pr.task_id not in {t.id for t in self.head().backlog.tasks}:
            raise FeedbackRefusedError(f"{pr.task_id} is not a task of {self.settings.backlog}")
        return pr.task_id

    def read_review(self, number: int, review_id: int) -> tuple[object, object]:
        """GitHub's answers for review `review_id` of PR `number`: the review, its line
        comments (checked by `action/feedback.py`, which turns them into feedback)."""
        from multi_agent_coder.forge import github_sansio as sansio

        github = self.github_reader()
        review = github.read(sansio.get_review(github.slug, number, review_id))
        comments = github.read(sansio.list_review_comments(github.slug, number, review_id))
        return review, comments

    def read_issue_comment(self, comment_id: int) -> object:
        """GitHub's answer for issue comment `comment_id` (a `/macoder fix`)."""
        from multi_agent_coder.forge import github_sansio as sansio

        github = self.github_reader()
        return github.read(sansio.get_issue_comment(github.slug, comment_id))

    @staticmethod
    def _github_of(forge: Forge, doing: str) -> GitHubForge:
        from multi_agent_coder.forge.github import GitHubForge

        if not isinstance(forge, GitHubForge):
            raise UsageError(f"{doing} is done on GitHub, not on {forge.name}")
        return forge

    def _github(self, doing: str) -> GitHubForge:
        from multi_agent_coder.forge.github import GitHubForge

        if not isinstance(self.forge, GitHubForge):
            raise UsageError(f"{doing} is done on GitHub, not on {self.forge.name}")
        return self.forge

    def auto_merge(self, number: int, head_sha: str) -> str | None:
        """With `pull_request.auto_merge`, merge verified PR `number` at exactly `head_sha`
        (what was verified is what is merged) and return the merge's sha; None when the
        setting is off. GitHub's refusal (reviews or checks required, not mergeable, the
        branch moved) is raised as a `MacoderError` saying why."""
        method = self.settings.pull_request.auto_merge
        if method == "off":
            return None
        return self._github("merging a pull request").merge_pull(number, head_sha, method)

    def start_next_wave(self, workflow: str) -> str:
        """Start `workflow` on the default branch: a merge made with the workflow's own
        GITHUB_TOKEN starts no `push` workflow, so the next wave would wait for the schedule.
        Returns the branch it was started on."""
        branch = self.repo.default_branch()
        self._github("starting the next wave").dispatch_workflow(workflow, branch)
        return branch

    def start_rewrites(
        self, workflow: str, task_ids: Sequence[str], *, run_id: str, holder: str
    ) -> list[str]:
        """`rebase.automatic` in the Action: each task's rewrite started as a workflow run of
        its own (`workflow` dispatched with `rebase: <id>`, the manual path: the rebase job
        holds no write token, publish-rebase opens the PR). The task is leased first, for the
        rewrite's run to queue, run and publish — so neither this wave nor the next starts
        the task or a second rewrite meanwhile; the lease writes no attempt's start (a
        rewrite is no attempt). The ids started."""
        from multi_agent_coder.run.budget import rebase_job_seconds

        github = self._github("starting a rewrite")
        ledger = self.ledger()
        branch = self.repo.default_branch()
        ttl = JOB_QUEUE_S + rebase_job_seconds(self.settings) + PUBLISH_JOB_S
        started: list[str] = []
        for task_id in task_ids:
            if ledger.acquire(task_id, run_id, holder, ttl) is None:
                continue
            github.dispatch_workflow(workflow, branch, {"rebase": task_id})
            started.append(task_id)
        return started

    def delete_merged_branches(self) -> list[str]:
        """With the `pull_request.delete_branch` setting, the branches of merged task PRs
        deleted (see `GitHubForge.delete_merged_branches`). Nothing elsewhere: a local task
        branch is the user's to keep, and a job handing off its writes deletes nothing."""
        from multi_agent_coder.forge.github import GitHubForge

        if not self.settings.pull_request.delete_branch or not isinstance(self.forge, GitHubForge):
            return []
        return list(self.forge.delete_merged_branches())

    # ----------------------------------------------------------------- local forge only

    def merge(self, task_id: str, kind: PrKind = "task") -> PullRequest:
        """Merge the task's PR (its work, or its proposed rewrite) on the local forge (on
        GitHub a person merges it)."""
        return self._local_forge("merging", task_id).merge(task_id, self.author, kind)

    def _local_forge(self, doing: str, task_id: str, elsewhere: str = "") -> LocalForge:
        """The local forge, for what a person does to a known task's PR by hand. `elsewhere`
        says who does it on another forge (default: a person, on that forge)."""
        from multi_agent_coder.forge.local import LocalForge

        if not isinstance(self.forge, LocalForge):
            raise UsageError(elsewhere or f"{doing} is done on {self.forge.name}, not by macoder")
        backlog = self.head().backlog
        if task_id not in backlog.task_index():
            raise UnknownTaskError(task_id, self.settings.backlog, [t.id for t in backlog.tasks])
        return self.forge

    def revisable(self, task_id: str) -> PullRequest:
        """The local PR `macoder revise` would add commits to (a `UsageError` when there is
        none, or when the forge is not local: on GitHub the Action revises a PR when a
        review asks for changes or a `/macoder fix` comment says so)."""
        from multi_agent_coder.run.task import revisable_pr

        forge = self._local_forge(
            "revising",
            task_id,
            f"on {self.forge.name}, revising {task_id}'s PR is the Action's job: a review that "
            "requests changes, or a comment `/macoder fix ...` on the PR; not `macoder revise`",
        )
        return revisable_pr(forge, task_id)

    def close_pr(self, task_id: str) -> PullRequest:
        """Close the task's PR unmerged on the local forge (on GitHub a person closes it)."""
        return self._local_forge("closing", task_id).close_pr(task_id)

    def jail(self) -> Jail:
        """The run's sandbox, checked to start here (`SandboxUnavailableError` with the cause
        and the fix when it cannot), or an open jail when the user opted out."""
        return _jail(self.settings, self.repo)

    def reap_orphans(self) -> list[int]:
        """Stop agent servers that a killed macoder run left behind; the pids stopped."""
        from multi_agent_coder.agents.opencode.runtime import reap_orphans

        return reap_orphans(self.repo.git_dir)


# --------------------------------------------------------------------------- opening


#: Between the plan job's lease and the task job's start: runners queue, installs run.
JOB_QUEUE_S = 1800.0
#: A publish job's `timeout-minutes` (publish, publish-rebase): no agent, no install.
PUBLISH_JOB_S = 15 * 60.0


def keep_progress_comment(
    forge: Forge,
    ledger: Ledger,
    task_id: str,
    pr: int,
    *,
    run_id: str,
    now: float,
    running: str | None = None,
) -> None:
    """Bring the progress comment on `task_id`'s PR `pr` up to date with the ledger (see
    `pr_comment`), and keep a new comment's id there. Best effort: a comment GitHub refuses is
    logged and the run goes on — the attempt is recorded, and the PR body says the same."""
    records = ledger.read()
    known = pr_comment.comment_id(records, task_id, pr)
    body = pr_comment.render(task_id, records, now, running=running)
    try:
        written = forge.put_comment(pr, known, body)
        if written and written != known:
            ledger.append(Comment(task_id, run_id, pr, written, now))
    except MacoderError as exc:
        log.warning("the progress comment on PR #%d was not updated: %s", pr, exc)


def holder_id() -> str:
    """`host:pid` — lets a later run on this host tell that the holder is dead."""
    return f"{socket.gethostname()}:{os.getpid()}"


def new_run_id(clock: Callable[[], float] = time.time) -> str:
    """A run's id: when it began (UTC) and a random part, sortable and unique."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(clock()))
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def job_lease_ttl(settings: Settings, *, queued: bool = False) -> float:
    """How long a task's lease lasts: in a run under way, the task's own bound (the session,
    the verification, the bookkeeping: `task_lease_seconds`); taken for a job that starts
    later (the plan's), the health job's bound and the task job's (`health_job_seconds`,
    `task_job_seconds`: the task job waits for the wave's health job) and `JOB_QUEUE_S` for
    runners to pick them up — so an attempt's start is not taken for an interrupted attempt
    while its job may still be running."""
    if queued:
        return JOB_QUEUE_S + health_job_seconds(settings) + task_job_seconds(settings)
    return task_lease_seconds(settings)


def macoder_emails(settings: Settings) -> tuple[str, ...]:
    """Whose commits on a task branch are macoder's: its configured author, and the ledger's."""
    return tuple(dict.fromkeys((settings.git_author_email, LEDGER_IDENTITY[1])))


def _default_agent() -> AgentFactory:
    from multi_agent_coder.agents.opencode.runtime import opencode_agent

    return opencode_agent


def _default_preflight(agent_factory: AgentFactory | None) -> Preflight | None:
    """OpenCode's provider check, when the agent is OpenCode (an injected agent is a test's
    or another runtime's, with no provider to check)."""
    if agent_factory is not None:
        return None
    from multi_agent_coder.agents.opencode.runtime import preflight

    return preflight


def open_local(
    root: Path, settings: Settings, *, agent_factory: AgentFactory | None = None
) -> Session:
    """The embedded default: pull requests and the ledger live in the repository itself."""
    from multi_agent_coder.forge.local import LocalForge

    emails = macoder_emails(settings)

    def forge(repo: Repo) -> Forge:
        return LocalForge(repo, macoder_emails=emails)

    return Session(
        Repo.open(root),
        settings,
        forge,
        agent_factory or _default_agent(),
        preflight=_default_preflight(agent_factory),
    )


def open_github(
    root: Path,
    settings: Settings,
    *,
    slug: str,
    token: str,
    api_url: str,
    git_remote_url: str,
    python: str = sys.executable,
    agent_factory: AgentFactory | None = None,
    handoff: HandoffStore | None = None,
) -> Session:
    """A GitHub repository: PRs over its REST API, branches and the ledger through its remote.

    With `handoff` (the Action's task job, whose token can only read), every write — the
    branch, the pull request, the ledger's records — is handed off to the publish job
    instead (`forge/handoff.py`)."""
    from multi_agent_coder.forge.github import GitHubForge
    from multi_agent_coder.forge.handoff import HandoffForge

    emails = macoder_emails(settings)

    def forge(repo: Repo) -> Forge:
        github = GitHubForge(
            slug,
            token,
            repo=repo,
            api_url=api_url,
            git_remote_url=git_remote_url,
            macoder_emails=emails,
            retry=settings.retry,
            pull_request=settings.pull_request,
        )
        return github if handoff is None else HandoffForge(github, repo, handoff)

    return Session(
        Repo.open(root),
        settings,
        forge,
        agent_factory or _default_agent(),
        python,
        handoff=handoff,
        preflight=_default_preflight(agent_factory),
    )


def open_offline(
    root: Path, settings: Settings, *, why: str, agent_factory: AgentFactory | None = None
) -> Session:
    """A repository and an agent runtime with no forge at all (`forge/offline.py`): the
    Action's `plan-feature` job, which holds no token, plans and hands off. Any call that
    would reach a forge fails, saying `why` there is none."""
    from multi_agent_coder.forge.offline import OfflineForge

    def forge(repo: Repo) -> Forge:
        del repo
        return OfflineForge(why)

    return Session(
        Repo.open(root),
        settings,
        forge,
        agent_factory or _default_agent(),
        preflight=_default_preflight(agent_factory),
    )


def check_commit(
    root: Path, settings: Settings, sha: str, *, python: str, environ: Mapping[str, str]
) -> HealthReport:
    """The health check of commit `sha` of the repository at `root`, exactly as a run makes
    it before its tasks start (an export of the commit, the repository's checks in the checks
    sandbox): the Action's health job, which checks the wave's planned base once so that its
    task jobs need not (`health.vouched`). Needs no forge, no ledger and no token."""
    from multi_agent_coder.run.checks import CheckRunner
    from multi_agent_coder.run.health import check_health
    from multi_agent_coder.run.verify import exported

    repo = Repo.open(root)
    runner = CheckRunner(_jail(settings, repo), dict(environ))
    with exported(repo, sha) as tree:
        return check_health(tree, settings, runner=runner, python=python)


def _jail(settings: Settings, repo: Repo) -> Jail:
    """The sandbox the settings ask for around the agent and the checks, or an open jail."""
    return jail_for(
        enabled=settings.sandbox,
        extra_read=settings.sandbox_read,
        repo_root=repo.root,
        git_dir=repo.git_dir,
    )


def handoff_store(directory: Path, *, run_id: str, base_sha: str) -> HandoffStore:
    """Where a task job writes what its publish job will push, open and record."""
    return HandoffStore(directory, run_id=run_id, base_sha=base_sha)


# --------------------------------------------------------------------------- the backlog


def backlog_at(repo: Repo, sha: str, path: str, max_bytes: int = MAX_FILE_BYTES) -> Backlog:
    """The backlog as commit `sha` has it (never a working copy): what a run works from.

    `NoBacklogError` when the commit has no such file; `UnreadableFileError` when it is over
    `max_bytes` (as on disk); `BacklogInvalidError` when it does not validate (a run never
    starts from a backlog the checks would refuse).
    """
    return backlog_file_at(repo, sha, path, max_bytes)[1]


def backlog_file_at(
    repo: Repo, sha: str, path: str, max_bytes: int = MAX_FILE_BYTES
) -> tuple[bytes, Backlog]:
    """`backlog_at`, with the file's bytes as read (a `Head` keeps them)."""
    raw = repo.file_at(sha, path, max_bytes=max_bytes)
    if raw is None:
        raise NoBacklogError(f"{path}: not found in commit {sha[:10]}; commit a backlog first")
    return raw, require_valid(load_bytes(raw, path, (check_rules,)))


def default_branch_of(path: Path) -> str:
    """The default branch of the repository containing `path` (see `Repo.default_branch`)."""
    return Repo.open(path).default_branch()


def repository_root(path: Path) -> Path:
    """The working tree's root of the repository containing `path` (a usage error naming
    `path` when there is none)."""
    return Repo.open(path).root
