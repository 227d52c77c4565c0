"""`macoder run`: reconcile, pick the ready tasks, check the repository, run them, report.

Order matters and is chosen so that a run that should not happen changes nothing:
1. read the default branch and its backlog, and refuse unknown `--retry` / `--only` ids
   before anything is touched;
2. reconcile what a crashed run left (agent servers of dead runs, leases of dead local
   processes — their attempts recorded as interrupted —, worktrees without a live lease);
3. decide where every task stands (`state.decide`, through the session's snapshot), keeping
   in the ledger the answers people gave to PRs (closed, merged) that no run saw before, and
   a reset for each task `--retry` asks for again — nothing ready: stop here;
4. health-check the target repository on an export of the default head — unhealthy:
   stop, report, nothing was leased or written (unless the wave's health job already
   checked exactly that commit: the Action's task jobs trust its verdict, `RunOptions.
   healthy_sha`, and only find the test command verification will use);
5. start one agent runtime for the run and run up to `workers` tasks at once, each under its
   own hard timeout, the whole run under `run_timeout`;
6. SIGINT / SIGTERM: every task aborts its session, removes its worktree and releases its
   lease, the runtime stops, exit 130.
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
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Final

from multi_agent_coder.agents.router import model_for
from multi_agent_coder.backlog.model import Task
from multi_agent_coder.context.review import Feedback
from multi_agent_coder.errors import UnhealthyRepositoryError, UsageError
from multi_agent_coder.git.ledger import (
    Attempt,
    Lease,
    Ledger,
    Record,
    Release,
    Reset,
    attempts,
    interrupted_attempt,
    live_leases,
    settled,
    unfinished,
)
from multi_agent_coder.git.worktree import WorktreeManager
from multi_agent_coder.processes import pid_alive
from multi_agent_coder.run.checks import TEST, CheckRunner, detect_for
from multi_agent_coder.run.health import HealthReport, check_health, vouched
from multi_agent_coder.run.session import (
    Session,
    Snapshot,
    backlog_at,
    holder_id,
    new_run_id,
)
from multi_agent_coder.run.state import (
    PERSON_HOLDS,
    Standing,
    needs_bringing_up_to_date,
    waits_for_a_person,
)
from multi_agent_coder.run.task import (
    Phase,
    RunEnv,
    TaskOutcome,
    partial_draft,
    revisable_pr,
    run_task,
)
from multi_agent_coder.run.verify import exported, sweep_stale_exports

#: What every run with the sandbox switched off says (and every PR it opens).
SANDBOX_OFF: Final = (
    "the sandbox is off (setting `sandbox: off`): the agent and the code it writes are not "
    "contained — they can reach the network, your files and other processes"
)


@dataclass(frozen=True, slots=True)
class RunOptions:
    retry: frozenset[str] = frozenset()
    only: frozenset[str] | None = None
    dry_run: bool = False
    #: `--continue`: start these tasks from their draft's partial work (implies `--retry`).
    resume: frozenset[str] = frozenset()
    #: `macoder revise`: run these tasks again on their open PR's branch with a reviewer's
    #: feedback (implies `--retry`: a person asked again, so the attempt budget restarts).
    revise: Mapping[str, Feedback] = field(default_factory=dict)
    #: The commit the wave's health job checked and found healthy (the Action's task job):
    #: a run that starts from exactly it does not run the checks again (`health.vouched`).
    healthy_sha: str | None = None


@dataclass(frozen=True, slots=True)
class Planned:
    """A task the run starts (or, dry, would start): which model, which attempt."""

    task_id: str
    title: str
    model: str
    kind: str
    attempt: int


@dataclass
class RunReport:
    """Everything `macoder run` prints (as a table or as JSON)."""

    run_id: str
    base_branch: str
    base_sha: str
    ready: list[str] = field(default_factory=list)
    planned: list[Planned] = field(default_factory=list)
    outcomes: list[TaskOutcome] = field(default_factory=list)
    reconciled_worktrees: list[str] = field(default_factory=list)
    freed_leases: list[str] = field(default_factory=list)
    #: Every task that will not start and why (`T003`, `waiting`, `on T001, T002`).
    not_starting: list[tuple[str, str, str]] = field(default_factory=list)
    #: `--retry`: task -> attempts it had used before its budget was reset.
    reset_attempts: dict[str, int] = field(default_factory=dict)
    #: `rebase.automatic`: each rewrite tried before the tasks started (task, status, why,
    #: its PR's number or None).
    rewrites: list[tuple[str, str, str, int | None]] = field(default_factory=list)
    stopped_processes: list[int] = field(default_factory=list)
    health: HealthReport | None = None
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    timed_out: bool = False
    note: str = ""

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if any(o.status in ("failed", "needs-review") for o in self.outcomes) else 0


def _gone(lease: Lease, now: float) -> Attempt:
    """The attempt of a local run whose process ended before it said how the task went."""
    return interrupted_attempt(
        lease.task,
        lease.run_id,
        f"interrupted: its run's process ({lease.holder}) ended before the task did",
        now,
    )


def _dead_local_holder(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


class Orchestrator:
    """One `macoder run` over one session's repository."""

    def __init__(
        self,
        session: Session,
        *,
        on_phase: Callable[[str, Phase], None] = lambda task_id, phase: None,
        on_note: Callable[[str], None] = lambda text: None,
        clock: Callable[[], float] = time.time,
        run_id: str | None = None,
    ) -> None:
        self.session = session
        self.settings = session.settings
        self.on_phase = on_phase
        #: One line for the log, as things happen (where the health verdict came from).
        self.on_note = on_note
        self.clock = clock
        self.cancel = threading.Event()
        #: Given when the run works under leases taken for it (the Action's plan job).
        self.run_id = run_id or new_run_id(clock)
        self.worktrees = WorktreeManager(session.repo, self.settings.worktree_dir)

    # ----------------------------------------------------------------- state

    def _reconcile(self, ledger: Ledger, report: RunReport) -> list[Record]:
        """Free the leases of local runs that are gone — the attempt each had begun recorded
        as interrupted, for it counts — and remove the worktrees (a task's, a health
        check's) no live lease keeps; the ledger's records as they are afterwards."""
        report.stopped_processes = self.session.reap_orphans()
        sweep_stale_exports()  # the checks' exports of a run killed before it cleaned up
        records = ledger.read()
        now = self.clock()
        live = live_leases(records, now)
        dead = [t for t, lease in live.items() if _dead_local_holder(lease.holder)]
        begun = unfinished(records)
        for task_id in dead:
            lease = live[task_id]
            release = Release(task_id, lease.run_id, now)
            if (task_id, lease.run_id) in begun:
                ledger.append(_gone(lease, now), release)
            else:
                ledger.append(release)
        report.freed_leases = dead
        if dead:
            records = ledger.read()
        keep = set(live) - set(dead)
        runs = {live[task_id].run_id for task_id in keep}
        report.reconciled_worktrees = self.worktrees.reconcile(keep=keep, live_runs=runs)
        return records

    def _reset_attempts(
        self,
        ledger: Ledger,
        snapshot: Snapshot,
        tasks: Collection[str],
        report: RunReport,
        dry_run: bool,
    ) -> list[Record]:
        """`--retry`: a person asks for these tasks again, so each starts a fresh attempt
        budget and is free of their earlier answer (a reset record; a dry run only shows it)."""
        records = list(snapshot.records)
        used = attempts(settled(records, self.clock()))
        held = {v.task_id for v in snapshot.state.views if v.standing in PERSON_HOLDS}
        resets = [
            Reset(t, self.run_id, self.clock()) for t in sorted(tasks) if used.get(t) or t in held
        ]
        if resets and not dry_run:
            ledger.append(*resets)
        report.reset_attempts = {r.task: used.get(r.task, 0) for r in resets}
        return [*records, *resets]

    def _plan(self, snapshot: Snapshot, *, revised: frozenset[str]) -> list[Planned]:
        out: list[Planned] = []
        for task in snapshot.state.ready:
            routed = model_for(task, self.settings.models, revision=task.id in revised)
            attempt = snapshot.state.view(task.id).attempts + 1
            out.append(Planned(task.id, task.title, routed.model, routed.kind.value, attempt))
        return out

    def _rewrite_failing(
        self, snapshot: Snapshot, options: RunOptions, report: RunReport
    ) -> Snapshot:
        """`rebase.automatic`: before any task starts, each task whose attempts call for a
        rewrite of its entry (and has none tried for it) gets one, proposed as its own PR; the
        task then waits for a person to merge or close it. A task the person asked for again
        (`--retry`) runs as asked. The snapshot as things stand afterwards."""
        from multi_agent_coder.backlog.load import DEFAULT_CHECKS
        from multi_agent_coder.context.hygiene import hygiene_check
        from multi_agent_coder.run.rebase import candidates, rebase

        eligible = [
            v.task_id
            for v in snapshot.state.views
            if v.standing in (Standing.READY, Standing.EXHAUSTED)
            and v.task_id not in options.retry
            and (options.only is None or v.task_id in options.only)
        ]
        found = candidates(self.session, snapshot, eligible)
        checks = (*DEFAULT_CHECKS, hygiene_check(self.settings.context_settings()))
        proposed = False
        for candidate in found:
            if self.cancel.is_set():
                break
            self.on_note(f"{candidate.task_id}: {candidate.why}; asking for a rewrite")

            def note(message: str, task_id: str = candidate.task_id) -> None:
                self.on_note(f"{task_id}: {message}")

            done = rebase(
                self.session,
                candidate.task_id,
                checks,
                run_id=self.run_id,
                holder=holder_id(),
                snapshot=snapshot,
                cancel=self.cancel,
                on_event=note,
            )
            number = done.pr.number if done.pr is not None else None
            report.rewrites.append((candidate.task_id, done.status, candidate.why, number))
            proposed = proposed or done.status == "proposed"
        if not proposed:
            return snapshot
        return self.session.snapshot(
            head=snapshot.head,
            records=self.session.ledger().read(),
            retry=options.retry,
            only=options.only,
            own_run=self.run_id,
        )

    # ----------------------------------------------------------------- health

    def _health(self, sha: str, runner: CheckRunner) -> HealthReport:
        """The checks on an export of `sha` (no worktree, no `.git`: nothing to reconcile
        after a crash, and the user's checkout is never touched)."""
        with exported(self.session.repo, sha) as tree:
            return check_health(tree, self.settings, runner=runner, python=self.session.python)

    def _trusted_test_command(self, sha: str, healthy_sha: str | None) -> list[str] | None:
        """The test command verification will use, when the wave's health job found `sha`
        healthy (`vouched`): found on an export as the check finds it, nothing run. None when
        this run must check `sha` itself: no verdict about `sha`, or no test command found
        here (this job's runner is not set up like the health job's: the check says so)."""
        note = vouched(sha, healthy_sha)
        if note is None:
            if healthy_sha is not None:
                self.on_note(
                    f"the wave's health job checked {healthy_sha[:10]}, this run starts from "
                    f"{sha[:10]}: checking it here"
                )
            return None
        with exported(self.session.repo, sha) as tree:
            test = detect_for(tree, self.settings.checks, self.session.python).get(TEST)
        if test is None:
            self.on_note(f"{note}, but no test command is found here: checking it here")
            return None
        self.on_note(note)
        return list(test)

    # ----------------------------------------------------------------- the run

    def run(self, options: RunOptions) -> RunReport:
        session = self.session
        head = session.head()
        known = {t.id for t in head.backlog.tasks}
        revised = frozenset(options.revise)
        for flag, ids in (
            ("--retry", options.retry),
            ("--continue", options.resume),
            ("--only", options.only or frozenset()),
            ("revise", revised),
        ):
            if ids - known:
                unknown = ", ".join(sorted(ids - known))
                raise UsageError(f"{flag} names unknown task(s): {unknown}")
        if revised & options.resume:
            both = ", ".join(sorted(revised & options.resume))
            raise UsageError(f"{both}: revise a PR or --continue a draft, not both at once")
        # Refused before anything starts: nothing to continue from, nothing to revise.
        for task_id in sorted(options.resume):
            partial_draft(session.forge, task_id)
        for task_id in sorted(revised):
            revisable_pr(session.forge, task_id)
            if options.revise[task_id].empty:
                raise UsageError(f"revise {task_id}: the feedback is empty; say what to change")
        asked_again = options.retry | revised
        options = replace(options, retry=options.retry | options.resume | revised)
        report = RunReport(self.run_id, head.branch, head.sha)
        ledger = session.ledger()
        records = self._reconcile(ledger, report)
        # First as things stand (answers to PRs no run saw yet are kept before a reset
        # follows them), then as the person's `--retry` leaves them.
        first = session.snapshot(head=head, records=records, own_run=self.run_id)
        if not options.dry_run:
            first = replace(first, records=session.record_answers(first))
            first = replace(first, records=session.take_retry_labels(first, run_id=self.run_id))
        records = self._reset_attempts(ledger, first, asked_again, report, options.dry_run)
        snapshot = session.snapshot(
            head=head,
            records=records,
            prs=first.prs,
            retry=options.retry,
            only=options.only,
            own_run=self.run_id,
        )
        # Not in the Action's task job (a hand-off session: it may not write the ledger or
        # open a PR); there the `rebase` mode proposes a rewrite, dispatched with its task.
        if self.settings.rebase.automatic and not options.dry_run and session.handoff is None:
            snapshot = self._rewrite_failing(snapshot, options, report)
        report.ready = snapshot.state.ready_ids
        report.planned = self._plan(snapshot, revised=frozenset(options.revise))
        report.note = snapshot.state.note
        state = snapshot.state
        report.not_starting = [
            (v.task_id, v.label, v.detail(state.max_attempts))
            for v in state.views
            if v.task_id not in state.ready_ids and v.standing is not Standing.COMPLETED
        ]
        if not snapshot.state.ready:
            return report
        if options.dry_run:
            report.note = "; ".join(filter(None, ["dry run: nothing was started", report.note]))
            return report
        # Every model the planned tasks use answers first: a wrong endpoint, key or model
        # stops the run here, before a lease, an attempt or a branch.
        if session.preflight is not None:
            session.preflight(
                self.settings, session.repo, sorted({p.model for p in report.planned})
            )
        # Fail closed: no sandbox, no run (unless the user opted out, which is said aloud).
        jail = session.jail()
        if not jail.enabled:
            report.warnings.append(SANDBOX_OFF)
        runner = CheckRunner(jail, dict(os.environ))
        test_command = self._trusted_test_command(head.sha, options.healthy_sha)
        if test_command is None:
            report.health = self._health(head.sha, runner)
            if not report.health.healthy:
                raise UnhealthyRepositoryError(
                    "the repository's own checks fail on "
                    f"{head.branch} ({head.sha[:10]}); no task was started:\n"
                    + report.health.describe()
                )
            test_command = next(
                (list(r.argv) for r in report.health.checks if r.name == TEST), None
            )
        with self._signals_cancel():
            self._run_tasks(
                snapshot,
                ledger=ledger,
                options=options,
                report=report,
                test_command=test_command,
                runner=runner,
            )
        report.interrupted = self.cancel.is_set() and not report.timed_out
        return report

    def _run_tasks(
        self,
        snapshot: Snapshot,
        *,
        ledger: Ledger,
        options: RunOptions,
        report: RunReport,
        test_command: list[str] | None,
        runner: CheckRunner,
    ) -> None:
        ready: tuple[Task, ...] = snapshot.state.ready
        deadline = time.monotonic() + self.settings.run_timeout
        session = self.session
        with session.agent_factory(self.settings, session.repo, self.cancel) as agent:
            env = RunEnv(
                session=session,
                agent=agent,
                run_id=self.run_id,
                holder=holder_id(),
                base_branch=snapshot.branch,
                base_sha=snapshot.sha,
                all_ids={t.id for t in snapshot.backlog.tasks},
                test_command=test_command,
                repo=session.repo,
                forge=session.forge,
                ledger=ledger,
                worktrees=self.worktrees,
                checks=runner,
                cancel=self.cancel,
                recheck=functools.partial(still_to_do, retry=options.retry),
                resume=options.resume,
                revise=options.revise,
                update=snapshot.state.updates,
                on_phase=self.on_phase,
                clock=self.clock,
            )
            with ThreadPoolExecutor(
                max_workers=self.settings.workers, thread_name_prefix="macoder-task"
            ) as pool:
                pending: dict[Future[TaskOutcome], str] = {
                    pool.submit(
                        run_task, task, env, baseline_bytes=snapshot.state.baseline.get(task.id)
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


def still_to_do(env: RunEnv, task_id: str, *, retry: Collection[str]) -> str | None:
    """Asked right after a task's lease is taken: the ready set was computed at the start of
    the run, and meanwhile another run may have opened the task's PR or had it merged.
    Returns why the task is no longer to be done, or None."""
    pr = env.forge.find_open_pr(task_id, with_conflicts=task_id in env.update)
    if pr is not None and waits_for_a_person(pr) and task_id not in retry:
        if task_id not in env.update:
            return f"PR #{pr.number} was opened meanwhile by another run"
        if not needs_bringing_up_to_date(pr):
            return f"PR #{pr.number} merges again (brought up to date meanwhile)"
    head = env.repo.branch_head(env.base_branch)
    if head is not None and head != env.base_sha:
        current = backlog_at(env.repo, head, env.backlog_path, env.settings.max_file_bytes)
        index = current.task_index().get(task_id)
        if index is not None and current.tasks[index].status.value == "completed":
            return f"completed on {env.base_branch} meanwhile"
    return None


def run_totals(outcomes: Sequence[TaskOutcome]) -> dict[str, float | int | None]:
    """The run's tokens and cost, summed over its tasks (None where nothing was counted)."""

    def total(values: list[int | float | None]) -> float | int | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    return {
        "tokens_in": total([o.tokens_in for o in outcomes]),
        "tokens_out": total([o.tokens_out for o in outcomes]),
        "tokens_cached": total([o.tokens_cached for o in outcomes]),
        "requests": total([o.requests for o in outcomes]),
        "cost": total([o.cost for o in outcomes]),
    }


def report_json(report: RunReport) -> str:
    """The run as a JSON document (`macoder run --json`)."""
    return json.dumps(
        {
            "run_id": report.run_id,
            "base": {"branch": report.base_branch, "sha": report.base_sha},
            "ready": report.ready,
            "planned": [
                {
                    "id": p.task_id,
                    "title": p.title,
                    "model": p.model,
                    "kind": p.kind,
                    "attempt": p.attempt,
                }
                for p in report.planned
            ],
            "note": report.note,
            "interrupted": report.interrupted,
            "timed_out": report.timed_out,
            "reconciled_worktrees": report.reconciled_worktrees,
            "freed_leases": report.freed_leases,
            "reset_attempts": report.reset_attempts,
            "rewrites": [
                {"id": task_id, "status": status, "why": why, "pr": number}
                for task_id, status, why, number in report.rewrites
            ],
            "not_starting": [
                {"id": task_id, "state": label, "why": why}
                for task_id, label, why in report.not_starting
            ],
            "warnings": report.warnings,
            "stopped_processes": report.stopped_processes,
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
                    "tokens_cached": o.tokens_cached,
                    "tokens_reasoning": o.tokens_reasoning,
                    "requests": o.requests,
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
            "totals": run_totals(report.outcomes),
            "exit_code": report.exit_code,
        },
        indent=2,
    )
