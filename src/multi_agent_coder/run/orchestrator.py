"""`macoder run`: reconcile, pick the ready tasks, check the repository, run them, report.

Order matters and is chosen so that a run that should not happen changes nothing:
1. read state (default branch head, its BACKLOG.yaml, the ledger, open PRs);
2. reconcile what a crashed run left (worktrees without a live lease, agent servers of dead
   runs, leases of dead local processes);
3. compute the ready set — nothing ready: stop here, nothing was started or written;
4. health-check the target repository on the default head in a scratch worktree — unhealthy:
   stop, report, nothing was leased or written;
5. start one agent server for the run and run up to `workers` tasks at once, each under its
   own hard timeout, the whole run under `run_timeout`;
6. SIGINT / SIGTERM: every task aborts its session, removes its worktree and releases its
   lease, the server stops, exit 130.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from multi_agent_coder.agents.base import Agent
from multi_agent_coder.backlog.load import load_bytes, require_valid
from multi_agent_coder.backlog.model import Backlog, Task
from multi_agent_coder.backlog.ready import ready_tasks
from multi_agent_coder.config import Settings
from multi_agent_coder.errors import UnhealthyRepositoryError, UsageError
from multi_agent_coder.forge.base import Forge, PrState
from multi_agent_coder.git.env import run_git
from multi_agent_coder.git.ledger import Attempt, Ledger, attempts, live_leases
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.git.worktree import WorktreeManager
from multi_agent_coder.processes import pid_alive
from multi_agent_coder.run.health import HealthReport, check_health
from multi_agent_coder.run.task import Phase, RunEnv, TaskOutcome, ledger_for, run_task

#: Builds the agent runtime for one run (e.g. starts one `opencode serve`) and stops it after.
AgentFactory = Callable[[Settings, Repo, threading.Event], AbstractContextManager[Agent]]


@dataclass(frozen=True, slots=True)
class RunOptions:
    retry: frozenset[str] = frozenset()
    only: frozenset[str] | None = None
    dry_run: bool = False


@dataclass
class RunReport:
    """Everything `macoder run` prints (as a table or as JSON)."""

    run_id: str
    base_branch: str
    base_sha: str
    ready: list[str] = field(default_factory=list)
    outcomes: list[TaskOutcome] = field(default_factory=list)
    reconciled_worktrees: list[str] = field(default_factory=list)
    freed_leases: list[str] = field(default_factory=list)
    health: HealthReport | None = None
    interrupted: bool = False
    timed_out: bool = False
    note: str = ""

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if any(o.status in ("failed", "needs-review") for o in self.outcomes) else 0


@dataclass
class _State:
    backlog: Backlog
    ledger: Ledger
    attempts: dict[str, int]
    busy: set[str]  # live lease or open PR
    baseline: dict[str, int]


def holder_id() -> str:
    """`host:pid` — lets a later run on this host tell that the holder is dead."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_local_holder(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


class Orchestrator:
    """One `macoder run` over one repository."""

    def __init__(
        self,
        repo: Repo,
        settings: Settings,
        forge_factory: Callable[[Repo], Forge],
        agent_factory: AgentFactory,
        *,
        on_phase: Callable[[str, Phase], None] = lambda task_id, phase: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.forge_factory = forge_factory
        self.forge = forge_factory(repo)
        self.agent_factory = agent_factory
        self.on_phase = on_phase
        self.clock = clock
        self.cancel = threading.Event()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(clock()))
        self.run_id = f"{stamp}-{uuid.uuid4().hex[:8]}"
        self.worktrees = WorktreeManager(repo, settings.worktree_dir)

    # ----------------------------------------------------------------- state

    def _backlog_at(self, sha: str) -> Backlog:
        return backlog_at(self.repo, sha, self.settings.backlog)

    def _state(self, backlog: Backlog, retry: Collection[str], report: RunReport) -> _State:
        ledger = ledger_for(self.forge, self.repo, self.clock)
        records = ledger.read()
        live = live_leases(records, self.clock())
        for task_id, lease in list(live.items()):
            if _dead_local_holder(lease.holder):
                ledger.release(task_id, lease.run_id)
                report.freed_leases.append(task_id)
                del live[task_id]
        report.reconciled_worktrees = self.worktrees.reconcile(keep=set(live))
        open_prs = {
            pr.task_id for pr in self.forge.list_prs() if pr.state is PrState.OPEN and not pr.draft
        }
        baseline: dict[str, int] = {}
        for record in records:
            if isinstance(record, Attempt) and record.context_bytes:
                baseline.setdefault(record.task, record.context_bytes)
        return _State(
            backlog=backlog,
            ledger=ledger,
            attempts=attempts(records),
            busy=set(live) | (open_prs - set(retry)),
            baseline=baseline,
        )

    def ready(self, state: _State, options: RunOptions) -> list[Task]:
        tasks = ready_tasks(
            state.backlog.tasks,
            max_attempts=self.settings.max_attempts,
            leased=state.busy,
            ledger_attempts=state.attempts,
        )
        if options.only is not None:
            tasks = [t for t in tasks if t.id in options.only]
        return tasks

    # ----------------------------------------------------------------- health

    @contextlib.contextmanager
    def _scratch_checkout(self, sha: str) -> Iterator[Path]:
        """A detached worktree of `sha` for the health check; the user's checkout is untouched."""
        base = self.repo.root / self.settings.worktree_dir
        base.mkdir(parents=True, exist_ok=True)
        path = base / f".health-{self.run_id}"
        run_git(["worktree", "add", "--detach", "--quiet", str(path), sha], self.repo.root)
        try:
            yield path
        finally:
            run_git(["worktree", "remove", "--force", str(path)], self.repo.root, check=False)
            run_git(["worktree", "prune"], self.repo.root, check=False)

    def _health(self, sha: str) -> HealthReport:
        with self._scratch_checkout(sha) as path:
            return check_health(path, self.settings)

    # ----------------------------------------------------------------- the run

    def run(self, options: RunOptions) -> RunReport:
        base_branch = self.repo.default_branch()
        base_sha = self.repo.branch_head(base_branch)
        if base_sha is None:
            raise UsageError(f"branch {base_branch} has no commits yet")
        report = RunReport(self.run_id, base_branch, base_sha)
        backlog = self._backlog_at(base_sha)
        known = {t.id for t in backlog.tasks}
        for flag, ids in (("--retry", options.retry), ("--only", options.only or frozenset())):
            if ids - known:
                unknown = ", ".join(sorted(ids - known))
                raise UsageError(f"{flag} names unknown task(s): {unknown}")
        state = self._state(backlog, options.retry, report)
        ready = self.ready(state, options)
        report.ready = [t.id for t in ready]
        if not ready:
            report.note = _nothing_ready(state)
            return report
        if options.dry_run:
            report.note = "dry run: nothing was started"
            return report
        report.health = self._health(base_sha)
        if not report.health.healthy:
            raise UnhealthyRepositoryError(
                "the repository's own checks fail on "
                f"{base_branch} ({base_sha[:10]}); no task was started:\n"
                + report.health.describe()
            )
        test_command = next((list(r.argv) for r in report.health.checks if r.name == "test"), None)
        with self._signals_cancel():
            self._run_tasks(
                ready,
                options=options,
                state=state,
                report=report,
                base_branch=base_branch,
                base_sha=base_sha,
                test_command=test_command,
            )
        report.interrupted = self.cancel.is_set() and not report.timed_out
        return report

    def _run_tasks(
        self,
        ready: list[Task],
        *,
        options: RunOptions,
        state: _State,
        report: RunReport,
        base_branch: str,
        base_sha: str,
        test_command: list[str] | None,
    ) -> None:
        deadline = time.monotonic() + self.settings.run_timeout
        with self.agent_factory(self.settings, self.repo, self.cancel) as agent:
            env = RunEnv(
                repo=self.repo,
                settings=self.settings,
                ledger=state.ledger,
                forge=self.forge,
                forge_factory=self.forge_factory,
                worktrees=self.worktrees,
                agent=agent,
                run_id=self.run_id,
                holder=holder_id(),
                base_branch=base_branch,
                base_sha=base_sha,
                backlog_path=Path(self.settings.backlog).as_posix(),  # "./B.yaml" -> "B.yaml"
                all_ids={t.id for t in state.backlog.tasks},
                test_command=test_command,
                cancel=self.cancel,
                recheck=functools.partial(still_to_do, retry=options.retry),
                on_phase=self.on_phase,
                clock=self.clock,
            )
            with ThreadPoolExecutor(
                max_workers=self.settings.workers, thread_name_prefix="macoder-task"
            ) as pool:
                pending: dict[Future[TaskOutcome], str] = {
                    pool.submit(
                        run_task, task, env, baseline_bytes=state.baseline.get(task.id)
                    ): task.id
                    for task in ready
                }
                while pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 and not self.cancel.is_set():
                        report.timed_out = True
                        self.cancel.set()
                    done, _ = wait(
                        pending, timeout=max(0.1, min(remaining, 0.5)), return_when=FIRST_COMPLETED
                    )
                    for future in done:
                        pending.pop(future)
                        report.outcomes.append(future.result())
        order = {task.id: i for i, task in enumerate(ready)}
        report.outcomes.sort(key=lambda o: order[o.task_id])

    @contextlib.contextmanager
    def _signals_cancel(self) -> Iterator[None]:
        """SIGINT / SIGTERM set the cancel flag: tasks wind down and clean up after themselves.
        A second Ctrl-C still cancels (it does not kill the cleanup half-way)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            del frame
            self.cancel.set()
            self.on_phase("*", Phase.CLEANUP)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def backlog_at(repo: Repo, sha: str, path: str) -> Backlog:
    """The backlog as commit `sha` has it (never the user's working copy)."""
    from multi_agent_coder.backlog.rules import check_rules

    commit = repo.commit(sha)
    try:
        blob = repo.raw[commit.tree[path].id]
    except KeyError:
        raise UsageError(
            f"{path}: not found in commit {sha[:10]}; commit a backlog first"
        ) from None
    raw: bytes = blob.data  # type: ignore[attr-defined]
    return require_valid(load_bytes(raw, path, (check_rules,)))


def still_to_do(env: RunEnv, task_id: str, *, retry: Collection[str]) -> str | None:
    """Asked right after a task's lease is taken: the ready set was computed at the start of
    the run, and meanwhile another run may have opened the task's PR or had it merged.
    Returns why the task is no longer to be done, or None."""
    pr = env.forge.find_open_pr(task_id)
    if pr is not None and not pr.draft and task_id not in retry:
        return f"PR #{pr.number} was opened meanwhile by another run"
    head = env.repo.branch_head(env.base_branch)
    if head is not None and head != env.base_sha:
        current = backlog_at(env.repo, head, env.backlog_path)
        index = current.task_index().get(task_id)
        if index is not None and current.tasks[index].status.value == "completed":
            return f"completed on {env.base_branch} meanwhile"
    return None


def _nothing_ready(state: _State) -> str:
    tasks = state.backlog.tasks
    done = sum(1 for t in tasks if t.status.value == "completed")
    if done == len(tasks):
        return f"nothing to do: all {len(tasks)} tasks are completed"
    busy = sorted(state.busy & {t.id for t in tasks})
    parts = [f"{done}/{len(tasks)} completed"]
    if busy:
        parts.append(f"running or in review: {', '.join(busy)}")
    return (
        "nothing is ready ("
        + "; ".join(parts)
        + "; the rest wait on dependencies or are out of attempts)"
    )


def report_json(report: RunReport) -> str:
    """The run as a JSON document (`macoder run --json`)."""
    return json.dumps(
        {
            "run_id": report.run_id,
            "base": {"branch": report.base_branch, "sha": report.base_sha},
            "ready": report.ready,
            "note": report.note,
            "interrupted": report.interrupted,
            "timed_out": report.timed_out,
            "reconciled_worktrees": report.reconciled_worktrees,
            "freed_leases": report.freed_leases,
            "tasks": [
                {
                    "id": o.task_id,
                    "status": o.status,
                    "reason": o.reason,
                    "phase": o.phase.value,
                    "duration_s": round(o.duration_s, 3),
                    "agent_s": round(o.agent_s, 3),
                    "context_bytes": o.context_bytes,
                    "model": o.model,
                    "tokens_in": o.tokens_in,
                    "tokens_out": o.tokens_out,
                    "cost": o.cost,
                    "session_deleted": o.session_deleted,
                    "pr": None
                    if o.pr is None
                    else {
                        "number": o.pr.number,
                        "url": o.pr.url,
                        "operation": o.pr.operation,
                        "head_sha": o.pr.head_sha,
                    },
                }
                for o in report.outcomes
            ],
            "exit_code": report.exit_code,
        },
        indent=2,
    )
