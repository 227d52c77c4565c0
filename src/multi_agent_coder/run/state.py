"""Where every task stands, decided once: the one place readiness is decided. Pure.

Inputs are the facts (DESIGN §4): the backlog as the default branch has it, the run ledger's
records, the forge's open pull requests, the time, and what the person asked for (`--retry`,
`--only`). Out comes the whole picture — which tasks start now, in file order; which are busy
and why (a live lease and its holder, an open PR); which wait and on what; which are out of
attempts — and, when nothing can start, one sentence that says why.

`macoder run`, `macoder ready`, `macoder status` and the Action's plan job all read this one
picture, so none of them can list a task that another would not start.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from multi_agent_coder.backlog.model import SCHEDULABLE, Backlog, Task, TaskStatus
from multi_agent_coder.backlog.ready import attempts_of, ready_tasks
from multi_agent_coder.forge.base import LABEL_NEEDS_REVIEW, PrState, PullRequest
from multi_agent_coder.git.ledger import Attempt, Lease, Record, attempts, live_leases


class Standing(StrEnum):
    """Where a task stands now. Tasks the backlog marks `in_progress`, `review` or `failed`
    by hand keep that word (`HELD`): a person said so, and macoder does not schedule them."""

    COMPLETED = "completed"
    RUNNING = "running"  # a run holds its lease
    PR_OPEN = "pr-open"  # its pull request waits for a person
    READY = "ready"
    WAITING = "waiting"  # on dependencies
    EXHAUSTED = "failed"  # out of attempts
    HELD = "held"


@dataclass(frozen=True, slots=True)
class TaskView:
    """One task's standing, with everything that explains it."""

    task: Task
    standing: Standing
    attempts: int
    pr: PullRequest | None = None  # its open pull request (a draft one too)
    lease: Lease | None = None
    waiting_on: tuple[str, ...] = ()
    last: Attempt | None = None

    @property
    def task_id(self) -> str:
        return self.task.id

    @property
    def label(self) -> str:
        """The word `macoder status` shows: the standing, or the backlog's own status."""
        if self.standing is Standing.HELD:
            return self.task.status.value
        return self.standing.value

    def detail(self, max_attempts: int) -> str:
        """Why the task stands where it does, in a few words."""
        last = self.last
        match self.standing:
            case Standing.RUNNING:
                return f"lease held by {self.lease.holder}" if self.lease else ""
            case Standing.PR_OPEN:
                return f"PR #{self.pr.number}" if self.pr else ""
            case Standing.READY:
                text = (
                    f"last attempt failed: {last.reason}"
                    if last and last.outcome != "success"
                    else ""
                )
                if self.pr is not None:
                    text += f" (draft PR #{self.pr.number})"
                return text.strip()
            case Standing.WAITING:
                return "on " + ", ".join(self.waiting_on)
            case Standing.EXHAUSTED:
                used = f"attempts used up ({self.attempts}/{max_attempts})"
                return used + (f"; last: {last.reason}" if last else "")
            case _:
                return ""


@dataclass(frozen=True, slots=True)
class RunState:
    """The whole picture: every task in file order, the ones to start, and why not others."""

    views: tuple[TaskView, ...]
    ready: tuple[Task, ...]
    #: Context bytes of each task's first recorded attempt (drift is measured against it).
    baseline: Mapping[str, int]
    #: Why nothing (or not every task `--only` named) can start, in one sentence; empty when
    #: there is nothing to explain.
    note: str
    max_attempts: int

    def view(self, task_id: str) -> TaskView:
        return next(v for v in self.views if v.task_id == task_id)

    @property
    def ready_ids(self) -> list[str]:
        return [t.id for t in self.ready]

    @property
    def busy(self) -> list[str]:
        """Tasks a run or a person is on: a live lease or an open (non-draft) PR."""
        return [v.task_id for v in self.views if v.standing in (Standing.RUNNING, Standing.PR_OPEN)]


def waits_for_a_person(pr: PullRequest) -> bool:
    """An open PR holds its task while a person has to act on it: a verified PR (to merge),
    or a draft labelled needs-review (to review). A plain draft is a failed attempt, which
    a later run may try again."""
    return not pr.draft or LABEL_NEEDS_REVIEW in pr.labels


def decide(
    backlog: Backlog,
    records: Sequence[Record],
    prs: Sequence[PullRequest],
    now: float,
    *,
    max_attempts: int,
    retry: Collection[str] = frozenset(),
    only: Collection[str] | None = None,
    own_run: str | None = None,
) -> RunState:
    """Every task's standing and the tasks to start now.

    A task starts when its status is pending or ready, every dependency is completed, its
    attempts (the larger of the backlog's and the ledger's count) are below `max_attempts`,
    no live lease holds it, and it has no open pull request waiting for a person (see
    `waits_for_a_person`) — unless it is named in `retry`. `only` narrows the tasks to
    start, never the picture. A lease `own_run` holds is this run's own (the Action's plan job
    leased the task for the job deciding now): it does not make the task busy.
    """
    live = {t: lease for t, lease in live_leases(records, now).items() if lease.run_id != own_run}
    counts = attempts(records)
    last: dict[str, Attempt] = {}
    baseline: dict[str, int] = {}
    for record in records:
        if isinstance(record, Attempt):
            last[record.task] = record
            if record.context_bytes:
                baseline.setdefault(record.task, record.context_bytes)
    open_prs = {pr.task_id: pr for pr in prs if pr.state is PrState.OPEN}
    in_review = {t for t, pr in open_prs.items() if waits_for_a_person(pr) and t not in retry}
    startable = {
        t.id
        for t in ready_tasks(
            backlog.tasks,
            max_attempts=max_attempts,
            leased=set(live) | in_review,
            ledger_attempts=counts,
        )
    }
    facts = _Facts(
        live=live,
        open_prs=open_prs,
        in_review=in_review,
        startable=startable,
        completed={t.id for t in backlog.tasks if t.status is TaskStatus.COMPLETED},
        counts=counts,
        last=last,
        max_attempts=max_attempts,
    )
    views = tuple(facts.view(task) for task in backlog.tasks)
    ready = tuple(
        v.task
        for v in views
        if v.standing is Standing.READY and (only is None or v.task_id in only)
    )
    note = explain(views, only, max_attempts, any_ready=bool(ready))
    return RunState(views, ready, baseline, note, max_attempts)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What `decide` gathered from the records and PRs, to judge one task at a time."""

    live: Mapping[str, Lease]
    open_prs: Mapping[str, PullRequest]
    in_review: Collection[str]
    startable: Collection[str]
    completed: Collection[str]
    counts: Mapping[str, int]
    last: Mapping[str, Attempt]
    max_attempts: int

    def view(self, task: Task) -> TaskView:
        used = attempts_of(task, self.counts)

        def standing(
            what: Standing, lease: Lease | None = None, waiting: Sequence[str] = ()
        ) -> TaskView:
            pr, last = self.open_prs.get(task.id), self.last.get(task.id)
            return TaskView(task, what, used, pr, lease, tuple(waiting), last)

        if task.status is TaskStatus.COMPLETED:
            return standing(Standing.COMPLETED)
        if task.status not in SCHEDULABLE:
            return standing(Standing.HELD)
        if task.id in self.live:
            return standing(Standing.RUNNING, self.live[task.id])
        if task.id in self.in_review:
            return standing(Standing.PR_OPEN)
        if task.id in self.startable:
            return standing(Standing.READY)
        if used >= self.max_attempts:
            return standing(Standing.EXHAUSTED)
        waiting = [dep for dep in task.depends_on if dep not in self.completed]
        return standing(Standing.WAITING, waiting=waiting)


def explain(
    views: Sequence[TaskView], only: Collection[str] | None, max_attempts: int, *, any_ready: bool
) -> str:
    """Why no task can start — or, with `only`, why each named task that cannot start
    cannot — in one sentence (what `macoder run` and the plan job print)."""
    if only is not None:
        reasons = [
            f"{v.task_id} {_why_not(v, max_attempts)}"
            for v in views
            if v.task_id in only and v.standing is not Standing.READY
        ]
        if not reasons:
            return ""
        return ("not started: " if any_ready else "nothing is ready: ") + "; ".join(reasons)
    if any_ready:
        return ""
    total = len(views)
    done = sum(1 for v in views if v.standing is Standing.COMPLETED)
    if not total:
        return "nothing to do: the backlog has no tasks"
    if done == total:
        return f"nothing to do: all {total} tasks are completed"
    parts = [f"{done}/{total} completed"]
    groups: dict[str, list[str]] = {}
    for v in views:
        if v.standing in (Standing.RUNNING, Standing.PR_OPEN):
            groups.setdefault("running or in review", []).append(v.task_id)
        elif v.standing is Standing.WAITING:
            groups.setdefault("waiting", []).append(f"{v.task_id} on {', '.join(v.waiting_on)}")
        elif v.standing is Standing.EXHAUSTED:
            groups.setdefault("out of attempts", []).append(v.task_id)
        elif v.standing is Standing.HELD:
            groups.setdefault("marked by hand", []).append(f"{v.task_id} ({v.task.status.value})")
    parts += [f"{name}: {', '.join(ids)}" for name, ids in groups.items()]
    return "nothing is ready (" + "; ".join(parts) + ")"


def _why_not(view: TaskView, max_attempts: int) -> str:
    match view.standing:
        case Standing.COMPLETED:
            return "is completed"
        case Standing.RUNNING:
            return "is running (" + view.detail(max_attempts) + ")"
        case Standing.PR_OPEN:
            return f"is in review ({view.detail(max_attempts)}; --retry runs it again)"
        case Standing.WAITING:
            return "waits on " + ", ".join(view.waiting_on)
        case Standing.EXHAUSTED:
            return f"is out of attempts ({view.attempts}/{max_attempts})"
        case Standing.HELD:
            return f"is marked {view.task.status.value} in the backlog"
        case _:  # pragma: no cover - a ready task is never asked why not
            return "is ready"
