"""One task, start to pull request (DESIGN §5), with every exit path cleaned up.

lease, and the attempt's start recorded -> worktree on `macoder/<id>` from the default head ->
prompt built and checked (fail closed) -> agent session with a hard timeout -> verification
(changes exist, the backlog was left alone, the target's tests pass) -> macoder commits the
agent's work and, separately, the status flip -> branch published, one PR created or updated
-> attempt recorded, however it ended (interrupted and stopped-for-a-person too: every attempt
that began counts) -> worktree removed and lease released, always (also on errors and on
Ctrl-C).

The decisions (what the PR says, whether a branch holds someone else's commits) are small pure
functions at the bottom; `run_task` strings the I/O together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Final, Literal, NoReturn

from multi_agent_coder.agents.base import Agent, AgentOutcome, AgentResult
from multi_agent_coder.agents.router import model_for
from multi_agent_coder.backlog.model import Task, TaskStatus
from multi_agent_coder.backlog.write import set_task_status, with_task_status
from multi_agent_coder.config import Settings
from multi_agent_coder.context.build import BuiltPrompt, ContextSettings, build_prompt
from multi_agent_coder.context.hygiene import check_task
from multi_agent_coder.context.review import Feedback, build_revision_prompt
from multi_agent_coder.context.update import build_update_prompt
from multi_agent_coder.errors import MacoderError, MergeConflictError, NeedsReviewError, UsageError
from multi_agent_coder.forge.base import (
    LABEL,
    LABEL_FAILED,
    LABEL_NEEDS_REVIEW,
    Forge,
    PrResult,
    PullRequest,
    WantedPr,
)
from multi_agent_coder.git.ledger import INFRASTRUCTURE, INTERRUPTED, Attempt, Ledger, Start
from multi_agent_coder.git.repo import DiffStat, MergeState, Repo
from multi_agent_coder.git.worktree import WorktreeManager
from multi_agent_coder.ids import BRANCH_PREFIX, branch_for
from multi_agent_coder.run.checks import CheckRunner, CommandResult
from multi_agent_coder.run.drift import check_drift, check_session_input
from multi_agent_coder.run.session import Session, job_lease_ttl, keep_progress_comment
from multi_agent_coder.run.verify import (
    Facts,
    Rules,
    VerificationFailed,
    check_worktree,
    conflict_markers_left,
    refusal,
    verify_commit,
)
from multi_agent_coder.visible import one_line, visible

Status = Literal["succeeded", "failed", "skipped", "needs-review", "interrupted"]


class Phase(StrEnum):
    """Where a task is; shown live, one line per task."""

    QUEUED = "queued"
    LEASE = "lease"
    WORKTREE = "worktree"
    CONTEXT = "context"
    AGENT = "agent"
    VERIFY = "verify"
    COMMIT = "commit"
    PUBLISH = "publish"
    CLEANUP = "cleanup"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """What happened to one task in one run."""

    task_id: str
    status: Status
    reason: str
    phase: Phase
    duration_s: float = 0.0
    agent_s: float = 0.0
    context_bytes: int = 0
    model: str = ""
    pr: PrResult | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_cached: int | None = None
    tokens_reasoning: int | None = None
    requests: int | None = None
    cost: float | None = None
    session_deleted: bool = True
    #: Failed for a reason outside the task (the model provider): recorded, not counted.
    infrastructure: bool = False
    #: An agent session was created (`session_deleted` says whether it was verified gone).
    session_created: bool = False
    #: The model role the router chose `model` for; None when no model was chosen.
    role: str | None = None
    #: Refused for context drift (`run/drift.py`): the prompt grew too much, or the session
    #: received another task's ids or planning debris.
    drift: bool = False


@dataclass
class RunEnv:
    """Everything the tasks of one run share, plus this thread's own git and forge handles."""

    session: Session
    agent: Agent
    run_id: str
    holder: str
    base_branch: str
    base_sha: str
    all_ids: Collection[str]
    test_command: Sequence[str] | None
    #: This thread's handles (pygit2 objects must not be used by two threads at once).
    repo: Repo
    forge: Forge
    ledger: Ledger
    worktrees: WorktreeManager
    #: Where the repository's checks run (the checks sandbox).
    checks: CheckRunner
    cancel: threading.Event = field(default_factory=threading.Event)
    #: After the lease is taken: a reason the task is no longer to be done, or None.
    recheck: Callable[[RunEnv, str], str | None] | None = None
    on_phase: Callable[[str, Phase], None] = lambda task_id, phase: None
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    #: `--continue`: tasks that start from their draft's partial work.
    resume: Collection[str] = frozenset()
    #: `macoder revise` (on GitHub, a review asking for changes): tasks that run again on
    #: their PR's branch, with what the reviewer said.
    revise: Mapping[str, Feedback] = field(default_factory=dict)
    #: Tasks whose verified PR no longer merges into the default branch: the default branch
    #: is merged into the PR's branch (macoder resolves the backlog, the agent the rest),
    #: verified again and pushed as a fast-forward of the same PR (`RunState.updates`).
    update: Collection[str] = frozenset()

    def for_this_thread(self) -> RunEnv:
        """A copy with its own repository handle and what hangs off it: the forge (and its
        HTTP client), the ledger and the worktree manager."""
        repo = Repo.open(self.repo.root)
        forge = self.session.forge_factory(repo)
        return replace(
            self,
            repo=repo,
            forge=forge,
            ledger=forge.ledger(self.clock),
            worktrees=WorktreeManager(repo, self.settings.worktree_dir),
        )

    @property
    def settings(self) -> Settings:
        return self.session.settings

    @property
    def backlog_path(self) -> str:
        """The backlog's path as git names it (`./B.yaml` -> `B.yaml`)."""
        return PurePosixPath(self.settings.backlog).as_posix()

    @property
    def author(self) -> tuple[str, str]:
        return self.session.author

    @property
    def lease_ttl(self) -> float:
        return job_lease_ttl(self.settings)


class TaskFailed(Exception):
    """A task ends here; `reason` is what the user reads, `phase` where it happened.
    `infrastructure`: macoder's own machinery failed, not the task (recorded, not counted)."""

    def __init__(
        self,
        reason: str,
        phase: Phase,
        status: Status = "failed",
        *,
        infrastructure: bool = False,
        drift: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.phase = phase
        self.status: Status = status
        self.infrastructure = infrastructure
        #: Refused for context drift (the ledger keeps it apart for the metrics report).
        self.drift = drift


@dataclass
class _Progress:
    """Mutable notes a task takes while it runs, for the outcome and the ledger."""

    phase: Phase = Phase.QUEUED
    prompt: BuiltPrompt | None = None
    model: str = ""
    role: str | None = None
    agent: AgentResult | None = None
    tests: list[CommandResult] = field(default_factory=list)
    diffstat: DiffStat | None = None
    head_sha: str | None = None
    #: Rules the result breaks that a person must look at (a draft PR, never a verified one).
    review: list[str] = field(default_factory=list)
    #: A revision: the PR it revises and the head its new commits go on top of.
    revising: PullRequest | None = None
    onto: str | None = None
    #: A revision: what its new commits change (the PR body says it).
    revision: DiffStat | None = None
    #: An update: the default branch's head merged into the PR's branch, and the merge as
    #: written into the worktree (its conflicted files are the agent's to resolve).
    merging: str | None = None
    merge: MergeState | None = None
    #: The branch was published with this attempt's commits.
    published: bool = False
    #: The attempt was refused for context drift.
    drift: bool = False


def run_task(task: Task, env: RunEnv, *, baseline_bytes: int | None) -> TaskOutcome:
    """Run `task` to a PR or a recorded failure; never raises for a task-level problem."""
    env = env.for_this_thread()
    try:
        return _run_task(task, env, baseline_bytes=baseline_bytes)
    finally:
        env.forge.close()  # this thread's own forge client (e.g. GitHub's HTTP connection pool)


def _run_task(task: Task, env: RunEnv, *, baseline_bytes: int | None) -> TaskOutcome:
    started = env.monotonic()
    notes = _Progress()

    def enter(phase: Phase) -> None:
        notes.phase = phase
        env.on_phase(task.id, phase)
        if env.cancel.is_set() and phase not in (Phase.CLEANUP, Phase.DONE):
            raise TaskFailed("interrupted", phase, "interrupted")

    try:
        enter(Phase.LEASE)
    except TaskFailed:  # cancelled (Ctrl-C, run timeout) before this task began: nothing to undo
        env.on_phase(task.id, Phase.DONE)
        return TaskOutcome(task.id, "interrupted", "interrupted before it started", Phase.LEASE)
    if env.ledger.acquire(task.id, env.run_id, env.holder, env.lease_ttl) is None:
        return TaskOutcome(task.id, "skipped", "another run holds its lease", Phase.LEASE)
    gone = env.recheck(env, task.id) if env.recheck is not None else None
    if gone is not None:
        env.ledger.release(task.id, env.run_id)
        env.on_phase(task.id, Phase.DONE)
        return TaskOutcome(task.id, "skipped", gone, Phase.LEASE)
    return _run_leased(task, env, notes, enter, baseline_bytes=baseline_bytes, started=started)


def _run_leased(
    task: Task,
    env: RunEnv,
    notes: _Progress,
    enter: Callable[[Phase], None],
    *,
    baseline_bytes: int | None,
    started: float,
) -> TaskOutcome:
    """The attempt proper, from the held lease to its release (on every way out)."""
    pr: PrResult | None = None
    infrastructure = False
    settled = False
    try:
        # From here on the attempt counts, however it ends: recorded before anything runs.
        env.ledger.append(Start(task.id, env.run_id, env.holder, env.clock()))
        pr = _attempt(task, env, notes, enter, baseline_bytes)
        if notes.review:
            status: Status = "needs-review"
            reason = f"{_pr_words(pr, draft=True)}: " + "; ".join(notes.review)
        else:
            status, reason = "succeeded", _pr_words(pr, draft=False)
        settled = True
    except TaskFailed as failure:
        status, reason, infrastructure = failure.status, failure.reason, failure.infrastructure
        notes.drift = failure.drift
        if status == "failed" and task.id not in env.revise and task.id not in env.update:
            pr = _report_failure(task, env, notes, reason)
        settled = True
    except MacoderError as error:  # git, forge, ledger: a clear message, the task fails
        status, reason = "failed", str(error)
        settled = True
    finally:
        env.on_phase(task.id, Phase.CLEANUP)
        left = _remove_worktree(task, env)
        if not settled:
            _abandon(task, env, published=pr is not None)
    reason = _revision_words(env, notes, reason + left)
    if status == "failed" and pr is None:
        _drop_unpublished_branch(task, env)
    outcome = _outcome(
        task.id,
        notes,
        status,
        reason,
        pr,
        duration_s=env.monotonic() - started,
        infrastructure=infrastructure,
    )
    try:
        env.ledger.record_attempt(_attempt_record(outcome, env))
        if pr is not None and pr.number:
            keep_progress_comment(
                env.forge, env.ledger, task.id, pr.number, run_id=env.run_id, now=env.clock()
            )
    finally:
        env.ledger.release(task.id, env.run_id)
        env.on_phase(task.id, Phase.DONE)
    return outcome


def _abandon(task: Task, env: RunEnv, *, published: bool) -> None:
    """An internal error (a bug of ours) is on its way out of the task: it ends the run with
    its traceback, but leaves nothing behind that the next run would trip over — the
    worktree is gone already, an unpublished branch goes too, and the lease is freed now
    rather than held until its bound."""
    try:
        if not published:
            _drop_unpublished_branch(task, env)
    finally:
        env.ledger.release(task.id, env.run_id)
        env.on_phase(task.id, Phase.DONE)


def _outcome(
    task_id: str,
    notes: _Progress,
    status: Status,
    reason: str,
    pr: PrResult | None,
    *,
    duration_s: float,
    infrastructure: bool,
) -> TaskOutcome:
    """How the task ended, with what its notes say of the agent's session."""
    agent = notes.agent
    return TaskOutcome(
        task_id=task_id,
        status=status,
        reason=reason,
        phase=notes.phase,
        duration_s=duration_s,
        agent_s=agent.duration_s if agent else 0.0,
        context_bytes=notes.prompt.size if notes.prompt else 0,
        model=notes.model,
        pr=pr,
        tokens_in=agent.tokens_in if agent else None,
        tokens_out=agent.tokens_out if agent else None,
        tokens_cached=agent.tokens_cached if agent else None,
        tokens_reasoning=agent.tokens_reasoning if agent else None,
        requests=agent.requests if agent else None,
        cost=agent.cost if agent else None,
        session_deleted=agent.session_deleted if agent else True,
        infrastructure=status == "failed"
        and (infrastructure or (agent is not None and agent.infrastructure)),
        session_created=agent is not None and agent.session_id is not None,
        role=notes.role,
        drift=notes.drift,
    )


def _prepare_worktree(task: Task, env: RunEnv, branch: str, notes: _Progress) -> tuple[Path, bool]:
    """The task's fresh worktree on the base commit (with its draft's partial work when the
    person asked to `--continue`; on its PR's head for a revision), and whether it continues
    an earlier attempt. A branch a person wrote on is not touched: the task stops as
    needs-review. A worktree git cannot set up (a registration another git left
    half-written, a disk error) is macoder's failure, not the task's: it never costs an
    attempt."""
    foreign = env.forge.foreign_commits(branch, env.base_sha)
    if foreign:
        _refuse_foreign(
            env, task.id, f"branch {branch} has commits by someone else ({', '.join(foreign)})"
        )
    partial = _partial_work(task, env) if task.id in env.resume else None
    start = env.base_sha
    if task.id in env.revise or task.id in env.update:
        notes.revising = revisable_pr(env.forge, task.id)
        notes.onto = start = _revision_head(env, notes.revising)
    try:
        worktree = env.worktrees.create(task.id, start, reset_branch=True)
    except (MacoderError, OSError) as exc:
        raise TaskFailed(
            f"setting up the worktree failed (infrastructure, not counted): {exc}",
            Phase.WORKTREE,
            infrastructure=True,
        ) from None
    if task.id in env.update and task.id not in env.revise:
        notes.merging = env.base_sha
        notes.merge = _merge_base_in(task, env, worktree)
    if partial is not None:
        try:
            env.repo.carry_over(partial, worktree, env.author)
        except MergeConflictError as exc:
            raise TaskFailed(
                f"--continue: the partial work no longer fits {env.base_branch}: {exc}; "
                "--retry starts the task over",
                Phase.WORKTREE,
            ) from None
    return worktree, partial is not None


def _attempt(
    task: Task,
    env: RunEnv,
    notes: _Progress,
    enter: Callable[[Phase], None],
    baseline_bytes: int | None,
) -> PrResult:
    branch = branch_for(task.id)
    enter(Phase.WORKTREE)
    worktree, continued = _prepare_worktree(task, env, branch, notes)
    # What the result is judged against: the default branch's head, or for a revision the
    # point its PR branch left the default branch (the PR's whole change is verified again,
    # as on its first run; a default branch that moved on is not the agent's change).
    base = env.base_sha if notes.onto is None else env.repo.merge_base(env.base_sha, notes.onto)
    if notes.merging is not None:  # the merge brings the default branch's head in whole
        base = notes.merging

    context_settings = env.settings.context_settings()
    if notes.merge is None or notes.merge.conflicted:
        enter(Phase.CONTEXT)
        prompt = _build_prompt(task, env, notes, continued=continued, baseline_bytes=baseline_bytes)
        routed = model_for(task, env.settings.models, revision=task.id in env.revise)
        notes.model, notes.role = routed.model, routed.role

        enter(Phase.AGENT)
        notes.agent = env.agent.run(
            prompt=prompt.text,
            worktree=worktree,
            model=routed.model,
            timeout_s=env.settings.task_timeout,
            title=f"macoder {task.id}: {one_line(task.title)}",
        )
        if env.cancel.is_set():
            raise TaskFailed("interrupted", Phase.AGENT, "interrupted")
        if notes.agent.cap is not None:
            raise TaskFailed(
                f"cap:{notes.agent.cap}: the gateway refused the next model request", Phase.AGENT
            )
        if notes.agent.outcome is not AgentOutcome.SUCCESS:
            raise TaskFailed(
                f"agent {notes.agent.outcome.value}: {notes.agent.reason}", Phase.AGENT
            )

    enter(Phase.VERIFY)
    try:
        if notes.merge is not None and notes.onto is not None:
            agent_commit = _commit_update(
                task, env, notes, worktree, context_settings, merge=notes.merge, onto=notes.onto
            )
        else:
            agent_commit = _commit_agent_work(task, env, notes, worktree, context_settings)
        verdict = verify_commit(
            env.repo,
            base_sha=base,
            commit=agent_commit,
            rules=Rules(
                test_command=env.test_command,
                timeout_s=env.settings.checks_timeout,
                protected=env.settings.protected_paths,
                test_globs=env.settings.test_globs,
                # A revision's base has macoder's own status flip; the agent cannot have
                # touched the backlog (`check_worktree` refuses it, on every attempt).
                macoder_paths=(env.backlog_path,) if notes.onto is not None else (),
            ),
            runner=env.checks,
        )
    except VerificationFailed as failure:
        notes.tests = failure.tests
        raise TaskFailed(failure.reason, Phase.VERIFY, drift=failure.drift) from None
    notes.tests = verdict.tests
    notes.review = verdict.review

    enter(Phase.COMMIT)
    set_task_status(
        worktree / env.backlog_path,
        task.id,
        TaskStatus.COMPLETED,
        max_bytes=env.settings.max_file_bytes,
    )
    head = env.repo.commit_all(
        worktree, f"{task.id}: mark completed\n\n{_verified_trailer(notes)}", env.author
    )
    notes.head_sha = head or agent_commit
    notes.diffstat = env.repo.diffstat(base, notes.head_sha)
    if notes.onto is not None:
        notes.revision = env.repo.diffstat(notes.onto, notes.head_sha)

    enter(Phase.PUBLISH)
    if notes.onto is not None:
        _check_fast_forward(env, branch, notes.onto, notes.head_sha, merged=notes.merging)
    try:
        published = env.forge.publish_branch(
            branch, notes.head_sha, fast_forward=notes.onto is not None
        )
    except NeedsReviewError as exc:  # a person pushed to the branch while the agent worked
        _refuse_foreign(env, task.id, str(exc), Phase.PUBLISH)
    notes.published = True
    review = bool(notes.review)
    return env.forge.create_or_update_pr(
        WantedPr(
            task_id=task.id,
            branch=branch,
            base=env.base_branch,
            head_sha=published,  # the forge's copy when it signs commits itself
            title=f"{task.id}: {one_line(task.title)}" + (" (needs review)" if review else ""),
            body=pr_body(task, notes, ok=True, reason="", contained=env.settings.sandbox),
            draft=review,
            labels=(LABEL, LABEL_NEEDS_REVIEW) if review else (LABEL,),
        )
    )


def _commit_agent_work(
    task: Task, env: RunEnv, notes: _Progress, worktree: Path, context: ContextSettings
) -> str:
    """The first checks of what the agent left (`check_worktree`), then macoder's commit of
    it: the tree that is verified is the tree that is committed (commit first, then check an
    export of that commit, so the checks cannot change what goes into the PR)."""
    agent = notes.agent
    check_worktree(
        task,
        repo=env.repo,
        worktree=worktree,
        base_sha=notes.onto or env.base_sha,  # the agent's own commits: none allowed
        backlog_path=env.backlog_path,
        received=agent.received if agent else (),
        all_ids=env.all_ids,
        context=context,
    )
    commit = env.repo.commit_all(
        # `git log` prints the subject to a terminal: shown through `visible`, like a PR's.
        worktree,
        f"{task.id}: {one_line(task.title)}\n\n{_agent_trailer(notes)}",
        env.author,
    )
    if commit is None:  # pragma: no cover - check_worktree saw changes just now
        raise VerificationFailed("the agent's changes vanished before they were committed")
    return commit


def _merge_base_in(task: Task, env: RunEnv, worktree: Path) -> MergeState:
    """Merge the default branch's head into the PR branch checked out in `worktree`. The
    backlog is macoder's to resolve: the default branch's, with this task marked completed
    (exactly the flip a PR carries); any other conflict is left, with markers, to the agent."""
    path, limit = env.backlog_path, env.settings.max_file_bytes
    try:
        theirs = env.repo.file_at(env.base_sha, path, max_bytes=limit)
        resolved: dict[str, bytes] = {}
        if theirs is not None:
            flipped = with_task_status(theirs, task.id, TaskStatus.COMPLETED, path)
            resolved[path] = theirs if flipped is None else flipped
        return env.repo.merge_into_worktree(worktree, env.base_sha, resolved)
    except MacoderError as exc:
        raise TaskFailed(
            f"merging {env.base_branch} into the PR failed: {exc}", Phase.WORKTREE
        ) from None


def _commit_update(
    task: Task,
    env: RunEnv,
    notes: _Progress,
    worktree: Path,
    context: ContextSettings,
    *,
    merge: MergeState,
    onto: str,
) -> str:
    """The merge commit of an update: the PR's head and the default branch's head as its
    parents, the worktree as the agent left it. Judged like any agent's work, measured from
    the merge as macoder wrote it (the default branch's changes are not the agent's): no
    commits of its own, the backlog untouched, and no conflict marker left in a file that
    had a conflict. Without conflicts there is no agent: the merge is committed as written."""
    agent = notes.agent
    own_commits = len(env.repo.commits_between(onto, env.repo.head_of(worktree)))
    commit = env.repo.commit_all(
        worktree,
        f"{task.id}: bring up to date with {env.base_branch}\n\n"
        + (_agent_trailer(notes) if agent else "Merged by macoder; no conflict to resolve."),
        env.author,
        merging=env.base_sha,
    )
    if commit is None:  # pragma: no cover - a merge commit is always made
        raise VerificationFailed("the merge was not committed")
    if agent is None:
        return commit
    facts = Facts(
        own_commits=own_commits,
        changed=[c.path for c in env.repo.changes(merge.staged, commit)],
        backlog_path=env.backlog_path,
        session_findings=check_session_input(task, agent.received, env.all_ids, context),
    )
    refused = refusal(facts)
    if refused is not None:
        raise refused
    left = conflict_markers_left(
        {
            path: env.repo.file_at(commit, path, max_bytes=env.settings.max_file_bytes) or b""
            for path in merge.conflicted
        }
    )
    if left:
        raise VerificationFailed("conflict markers left in " + ", ".join(left))
    return commit


def _build_prompt(
    task: Task, env: RunEnv, notes: _Progress, *, continued: bool, baseline_bytes: int | None
) -> BuiltPrompt:
    """The prompt (kept in `notes.prompt` too), refused (fail closed) on hygiene or drift.

    The same hygiene rules as the hooks apply to the task (only the messages matter here);
    a revision's Review section is checked by the same free-text rules, and drift is
    measured without it: a reviewer's words are not the task's spec growing."""
    context_settings = env.settings.context_settings()
    errors = [
        f.message
        for f in check_task(task, ("tasks", 0), env.all_ids, context_settings)
        if f.severity == "error"
    ]
    if notes.merge is not None:
        notes.prompt, error = build_update_prompt(
            task, env.base_branch, notes.merge.conflicted, context_settings
        )
        errors += [error] if error else []
        task_bytes = build_prompt(task, context_settings).size
    elif notes.onto is None:
        notes.prompt = build_prompt(task, context_settings, continued=continued)
        task_bytes = notes.prompt.size
    else:
        revision = build_revision_prompt(task, env.revise[task.id], env.all_ids, context_settings)
        notes.prompt = revision.prompt
        errors += revision.errors
        task_bytes = revision.task_bytes
    if errors:
        raise TaskFailed("context refused: " + "; ".join(errors), Phase.CONTEXT)
    drift = check_drift(task.id, baseline_bytes, task_bytes, env.settings.drift_max_growth)
    if not drift.ok:
        raise TaskFailed(drift.reason or "context drift", Phase.CONTEXT, drift=True)
    return notes.prompt


def _pr_words(pr: PrResult, *, draft: bool) -> str:
    """`PR #3 created`, or what a task job of the split Action did instead."""
    kind = "draft PR" if draft else "PR"
    if pr.operation == "handed-off":
        return f"{kind} handed off to the publish job"
    return f"{kind} #{pr.number} {pr.operation}"


def partial_draft(forge: Forge, task_id: str) -> PullRequest:
    """The open draft that holds `task_id`'s partial work (labelled `macoder:failed`), or a
    `UsageError` that says there is none to continue from."""
    pr = forge.find_open_pr(task_id)
    if pr is None or LABEL_FAILED not in pr.labels:
        raise UsageError(
            f"--continue {task_id}: no open draft with partial work (label {LABEL_FAILED}) to "
            "continue from; --retry starts the task over"
        )
    return pr


def _partial_work(task: Task, env: RunEnv) -> str:
    """The commit of `task`'s partial work, present locally."""
    return _pr_head(env, partial_draft(env.forge, task.id), "--continue")


def _pr_head(env: RunEnv, pr: PullRequest, doing: str) -> str:
    """The tip of `pr`'s branch, present locally (what `--continue` and a revision start
    from); the task fails when the branch is gone."""
    head = env.forge.fetch_branch(pr.branch)
    if head is None:
        raise TaskFailed(
            f"{doing}: the branch {pr.branch} of PR #{pr.number} is gone", Phase.WORKTREE
        )
    return head


def revisable_pr(forge: Forge, task_id: str) -> PullRequest:
    """The open PR a revision of `task_id` goes to, or a `UsageError` that says why there is
    none: no open PR, or only a failed attempt's draft (`--continue` is for that)."""
    pr = forge.find_open_pr(task_id)
    if pr is None:
        raise UsageError(
            f"task {task_id} has no open pull request to revise (see `macoder prs`); "
            "`macoder run` opens one"
        )
    if LABEL_FAILED in pr.labels:
        raise UsageError(
            f"PR #{pr.number} of {task_id} is a failed attempt's draft, not work to revise; "
            f"`macoder run --continue {task_id}` continues it, `--retry {task_id}` starts over"
        )
    return pr


def _revision_head(env: RunEnv, pr: PullRequest) -> str:
    """Where a revision of `pr` starts: its branch's tip, which must be the head the PR was
    last published at — a branch moved since (by a person, by hand) is not built on."""
    head = _pr_head(env, pr, "revision")
    if head != pr.head_sha:
        _refuse_foreign(
            env,
            pr.task_id,
            f"branch {pr.branch} moved since PR #{pr.number} was updated "
            f"({pr.head_sha[:10]} -> {head[:10]})",
        )
    return head


def _check_fast_forward(
    env: RunEnv, branch: str, onto: str, head: str, *, merged: str | None = None
) -> None:
    """A revision adds commits to its PR branch and never rewrites it: the new head must
    descend from the head it started on, and the branch must hold only that head or this
    attempt's own commits on it (locally the worktree moved it; remotely nothing has yet).
    Anything else — a person's push meanwhile — stops the task for a person, as a person's
    commits always do; nothing is overwritten. An update (`merged`: the default branch's
    head it merged in) brings the default branch's commits along: those are not the
    branch's own, so only what neither side had is looked at."""
    if not env.repo.descends_from(head, onto):  # pragma: no cover - built on top of `onto`
        raise TaskFailed(
            f"the revision's head {head[:10]} is not on top of {onto[:10]}", Phase.PUBLISH
        )
    now = env.forge.fetch_branch(branch)
    if now not in (onto, head):
        _refuse_foreign(
            env,
            task_id_of(branch),
            f"branch {branch} moved while the revision ran ({onto[:10]} -> {str(now)[:10]})",
            Phase.PUBLISH,
        )
    foreign = env.forge.foreign_commits(branch, merged or onto)
    if foreign:
        _refuse_foreign(
            env,
            task_id_of(branch),
            f"branch {branch} has commits by someone else ({', '.join(foreign)})",
            Phase.PUBLISH,
        )


def task_id_of(branch: str) -> str:
    """The task id in a task branch's name (`macoder/T003` -> `T003`)."""
    return branch.removeprefix("refs/heads/").removeprefix(BRANCH_PREFIX)


def _refuse_foreign(env: RunEnv, task_id: str, why: str, phase: Phase = Phase.WORKTREE) -> NoReturn:
    """Stop the task for a person: its PR is labelled for review, nothing of theirs is
    overwritten (raises `TaskFailed` as needs-review)."""
    label_for_review(env.forge, task_id)
    raise TaskFailed(
        f"{why}; labelled {LABEL_NEEDS_REVIEW}, not overwritten", phase, "needs-review"
    )


def _revision_words(env: RunEnv, notes: _Progress, reason: str) -> str:
    """`reason` as a revision says it (unchanged for any other run); a revision that was
    not published also puts its branch back (`_unrevised`)."""
    if notes.revising is None:
        return reason
    kind = "update: " if notes.merging else "revision: "
    return kind + reason + ("" if notes.published else _unrevised(env, notes))


def _unrevised(env: RunEnv, notes: _Progress) -> str:
    """A revision that was not published leaves its PR as it was: the branch is put back
    where the revision found it when only this attempt's commits moved it (locally the
    worktree committed on it). What to add to the reason."""
    pr = notes.revising
    if pr is None:  # pragma: no cover - called for revisions only
        return ""
    onto = notes.onto
    name = pr.branch.removeprefix("refs/heads/")
    try:
        now = env.repo.branch_head(name)
        if (
            onto is not None
            and now is not None
            and now != onto
            and all(
                c.author_email == env.author[1] and c.committer_email == env.author[1]
                for c in env.repo.lineage(notes.merging or onto, now)
            )
        ):
            env.repo.update_ref(f"refs/heads/{name}", onto, now, "macoder: revision not published")
    except MacoderError as exc:
        return f"; PR #{pr.number} was not updated, but its branch could not be put back ({exc})"
    return f"; PR #{pr.number} left as it was"


def _stopped_midway(notes: _Progress) -> bool:
    """The agent was stopped, not wrong: by its time limit or by a cap. Its partial work is
    worth keeping whatever `failure_mode` says."""
    agent = notes.agent
    return agent is not None and (agent.cap is not None or agent.outcome is AgentOutcome.TIMEOUT)


def _report_failure(task: Task, env: RunEnv, notes: _Progress, reason: str) -> PrResult | None:
    """`failure_mode: draft-pr` publishes what the agent left as a draft PR with the report;
    the default (`no-pr`) leaves no PR — except for a task stopped by its time limit or a cap,
    whose partial work is always kept as a draft (never a verified PR, never thrown away).
    Reporting must never mask the original failure."""
    if notes.agent is None:
        return None
    if env.settings.failure_mode != "draft-pr" and not _stopped_midway(notes):
        return None
    try:
        worktree = env.worktrees.path_for(task.id)
        # What the agent left: committed now, or already (verification commits first).
        head = env.repo.commit_all(
            worktree,
            f"{task.id}: failed attempt (draft)\n\n{visible(reason, lines=True)}",
            env.author,
        ) or env.repo.head_of(worktree)
        if head == env.base_sha:
            return None
        branch = branch_for(task.id)
        published = env.forge.publish_branch(branch, head)
        return env.forge.create_or_update_pr(
            WantedPr(
                task_id=task.id,
                branch=branch,
                base=env.base_branch,
                head_sha=published,
                title=f"{task.id}: {one_line(task.title)} (failed)",
                body=pr_body(task, notes, ok=False, reason=reason, contained=env.settings.sandbox),
                draft=True,
                labels=(LABEL, LABEL_FAILED),
            )
        )
    except MacoderError:
        return None


def _remove_worktree(task: Task, env: RunEnv) -> str:
    """Remove the task's worktree; what to add to the reason when that failed (git timed out
    on a loaded machine, a disk error). The task's outcome still stands and is recorded, and
    its lease is released: the next run's reconcile removes what is left."""
    try:
        env.worktrees.remove(task.id)
    except (MacoderError, OSError) as exc:
        return f"; its worktree was left for the next run to remove ({exc})"
    return ""


def _drop_unpublished_branch(task: Task, env: RunEnv) -> None:
    """A failed attempt with no PR leaves no branch behind: the branch would hold an agent's
    unverified commit that nothing refers to. A branch an open PR uses stays."""
    try:
        if env.forge.find_open_pr(task.id) is None:
            env.repo.delete_branch(branch_for(task.id))
    except MacoderError:
        pass  # reporting the failure matters more than tidying up after it


def label_for_review(forge: Forge, task_id: str) -> PrResult | None:
    """A person pushed to the task branch: their open PR is labelled for review, nothing of
    it overwritten (the run here, the Action's publish job in run/publish.py)."""
    existing = forge.find_open_pr(task_id)
    if existing is None:
        return None
    return forge.create_or_update_pr(
        WantedPr(
            task_id=task_id,
            branch=existing.branch,
            base=existing.base,
            head_sha=existing.head_sha,
            title=existing.title,
            body=existing.body,
            draft=existing.draft,
            labels=(*existing.labels, LABEL_NEEDS_REVIEW),
        )
    )


#: A task's status in a run -> the outcome its attempt record keeps.
_OUTCOMES: Final = {
    "succeeded": "success",
    "needs-review": "needs-review",
    "interrupted": INTERRUPTED,
}


def _attempt_record(outcome: TaskOutcome, env: RunEnv) -> Attempt:
    """The ledger's record of `outcome`: what the metrics report (`run/metrics.py`) and the
    next run's decisions are made from."""
    return Attempt(
        task=outcome.task_id,
        run_id=env.run_id,
        outcome=INFRASTRUCTURE
        if outcome.infrastructure
        else _OUTCOMES.get(outcome.status, "failure"),
        reason=outcome.reason,
        duration_s=round(outcome.duration_s, 3),
        context_bytes=outcome.context_bytes,
        model=outcome.model,
        tokens_in=outcome.tokens_in,
        tokens_out=outcome.tokens_out,
        tokens_cached=outcome.tokens_cached,
        tokens_reasoning=outcome.tokens_reasoning,
        requests=outcome.requests,
        cost=outcome.cost,
        at=env.clock(),
        base_sha=env.base_sha,
        role=outcome.role,
        session_created=outcome.session_created,
        session_deleted=outcome.session_deleted if outcome.session_created else None,
        drift=outcome.drift,
        agent_s=round(outcome.agent_s, 3),
    )


# ===================================================================== pure decisions


def _agent_trailer(notes: _Progress) -> str:
    return f"Written by an OpenCode agent ({notes.model}); committed by macoder before its checks."


def _verified_trailer(notes: _Progress) -> str:
    tests = ", ".join(f"`{r.command}` passed" for r in notes.tests) or "no tests"
    if notes.review:
        return f"Checked by macoder: {tests}; needs review: " + "; ".join(notes.review) + "."
    return f"Verified by macoder on the committed tree: {tests}."


#: Every PR of a run with the sandbox off says so (the reviewer must know what ran unconfined).
SANDBOX_OFF_NOTE: Final = (
    "this run had the sandbox switched off (`sandbox: off`): the agent and the tests it wrote "
    "ran with the full rights of the person or job running macoder."
)


def pr_body(task: Task, notes: _Progress, *, ok: bool, reason: str, contained: bool = True) -> str:
    """The PR description: what the agent was asked, what was checked, what changed, cost."""
    lines = [f"Task **{task.id}**: {one_line(task.title)}", ""]
    if not contained:
        lines += [f"⚠️ **Not contained:** {SANDBOX_OFF_NOTE}", ""]
    if ok and notes.review:
        lines += [
            "⚠️ **Not verified: a person must review this.** The project's tests pass on the "
            "committed tree, but the result breaks these rules:",
            "",
            *(f"- {why}" for why in notes.review),
            "",
            "Draft, labelled `macoder:needs-review`: merge it only after reading the diff.",
        ]
    elif ok:
        lines.append(
            "✅ Verified by macoder: the project's tests pass on exactly the committed tree, "
            "the tests the agent touched pass in their base version, no protected path changed."
        )
    else:
        lines += [f"❌ **This attempt failed:** {reason}", ""]
        lines.append("Draft: kept for inspection; it will not be merged as is.")
    lines += ["", "### Verification"]
    for result in notes.tests:
        verdict = "passed" if result.passed else (result.failure or f"exit {result.exit_code}")
        lines.append(f"- `{result.command}`: {verdict} in {result.duration_s:.1f} s")
    if not notes.tests:
        lines.append("- tests not run")
    agent = notes.agent
    if agent is not None:
        lines += [
            "",
            "### Agent",
            f"- model: `{notes.model}`, outcome: {agent.outcome.value}, "
            f"time: {agent.duration_s:.1f} s",
            f"- tokens in/out: {_known(agent.tokens_in)}/{_known(agent.tokens_out)}"
            + (
                f" (cached {agent.tokens_cached}, reasoning {agent.tokens_reasoning}; "
                f"{agent.requests} model requests, counted by macoder's gateway)"
                if agent.requests is not None
                else ""
            )
            + f", cost: {_known(agent.cost)}",
        ]
    if notes.onto is not None and notes.merging is not None:
        lines += ["", *update_summary(notes.onto, notes.merging, notes.merge)]
    elif notes.onto is not None and notes.revision is not None:
        lines += ["", *revision_summary(notes.onto, notes.revision)]
    if notes.diffstat is not None:
        lines += ["", "### Changes", "```", notes.diffstat.text.rstrip(), "```"]
    if notes.prompt is not None:
        lines += [
            "",
            f"<details><summary>Context sent to the agent ({notes.prompt.size} bytes)</summary>",
            "",
            "```markdown",
            notes.prompt.text.rstrip(),
            "```",
            "</details>",
        ]
    lines += ["", "<!-- macoder:task=" + task.id + " -->"]
    return "\n".join(lines) + "\n"


def revision_summary(onto: str, revision: DiffStat) -> list[str]:
    """What a revision changed, for the PR body (and, on GitHub, its sticky comment): new
    commits on top of the head the reviewer saw, never a rewrite of it."""
    return [
        "### Revision",
        f"Revised after a review: new commits on top of `{onto[:10]}` (what the reviewer saw;"
        " nothing rewritten). The reviewer's words are the Review section of the context below.",
        "```",
        revision.text.rstrip() or "no file changes",
        "```",
    ]


def update_summary(onto: str, merged: str, merge: MergeState | None) -> list[str]:
    """What bringing the PR up to date did, for the PR body: one merge commit on top of the
    head the reviewer saw (nothing rewritten), who resolved what."""
    conflicted = merge.conflicted if merge is not None else ()
    how = (
        "the agent resolved the conflicts in " + ", ".join(f"`{visible(p)}`" for p in conflicted)
        if conflicted
        else "no conflict was left for the agent (macoder resolved the backlog itself)"
    )
    return [
        "### Brought up to date",
        f"The default branch moved on and this PR no longer merged: `{merged[:10]}` was merged "
        f"into it, on top of `{onto[:10]}` (nothing rewritten); {how}. The whole change was "
        "verified again.",
    ]


def _known(value: object) -> str:
    return "unknown" if value is None else str(value)
