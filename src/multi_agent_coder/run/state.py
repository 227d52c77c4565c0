"""Where every task stands, decided once: the one place readiness is decided. Pure.

Inputs are the facts (DESIGN §4): the backlog as the default branch has it, the run ledger's
records, the forge's pull requests (open, closed and merged), the time, and what the person
asked for (`--retry`, `--only`). Out comes the whole picture — which tasks start now, in file
order; which are busy and why (a live lease and its holder, an open PR); which a person
answered (a PR closed unmerged: rejected; merged without the task completed); which wait and
on what; which are out of attempts — and, when nothing can start, one sentence that says why.

A person's answer holds its task until the person says otherwise: the task's entry in the
backlog changes (its hash, `entry_hash`, differs from the one the ledger's `Answer` keeps), or
they ask again (`--retry`, which writes a reset; the label `macoder:retry` on the PR; a
`/macoder retry` comment, when that exists, feeds `retry` the same way).

`macoder run`, `macoder ready`, `macoder status` and the Action's plan job all read this one
picture, so none of them can list a task that another would not start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from multi_agent_coder.backlog.model import SCHEDULABLE, Backlog, Task, TaskStatus
from multi_agent_coder.backlog.ready import attempts_of, ready_tasks
from multi_agent_coder.forge.base import (
    LABEL_NEEDS_REVIEW,
    LABEL_RETRY,
    LABEL_SUPERSEDED,
    PrState,
    PullRequest,
)
from multi_agent_coder.git.ledger import (
    CLOSED,
    MERGED,
    Answer,
    Attempt,
    Lease,
    Record,
    Reset,
    attempts,
    live_leases,
    record_time,
    settled,
)


class Standing(StrEnum):
    """Where a task stands now. Tasks the backlog marks `in_progress`, `review` or `failed`
    by hand keep that word (`HELD`): a person said so, and macoder does not schedule them."""

    COMPLETED = "completed"
    RUNNING = "running"  # a run holds its lease
    PR_OPEN = "pr-open"  # its pull request waits for a person
    REJECTED = "rejected"  # its PR was closed unmerged by a person
    MERGED = "merged"  # its PR was merged, but the backlog does not say completed
    NEEDS_REVIEW = "needs-review"  # its last attempt stopped for a person, with no PR open
    READY = "ready"
    WAITING = "waiting"  # on dependencies
    EXHAUSTED = "failed"  # out of attempts
    #: A rewrite of its entry (`macoder rebase`) waits in a PR: merged, it is a new question
    #: with a fresh attempt budget; closed, the task is as it was.
    REWRITE_PROPOSED = "rewrite-proposed"
    HELD = "held"


#: Standings that wait for a person to act (answered PRs, a stop for a person): `--retry`,
#: the label `macoder:retry` or a changed entry lets them go.
PERSON_HOLDS: Final = frozenset({Standing.REJECTED, Standing.MERGED, Standing.NEEDS_REVIEW})

#: The task fields whose change is a new question: everything a person writes but the status
#: and the attempt count (which macoder and its PRs change themselves).
_NOT_THE_QUESTION = frozenset({"status", "attempts"})


def entry_hash(task: Task) -> str:
    """A hash of the task's entry as a person wrote it: the canonical JSON of the task without
    its status and attempts. An answer to the task's PR holds while this stays the same."""
    data = task.model_dump(mode="json", exclude=set(_NOT_THE_QUESTION))
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


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
    #: The closed or merged pull request a person's answer is about (REJECTED, MERGED).
    answered: PullRequest | None = None

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
                if self.pr is not None and needs_bringing_up_to_date(self.pr):
                    return (
                        f"PR #{self.pr.number} no longer merges into {self.pr.base} and its "
                        "attempts are used up: a person resolves it, or --retry"
                    )
                return f"PR #{self.pr.number}" if self.pr else ""
            case Standing.REJECTED:
                number = self.answered.number if self.answered else 0
                return (
                    f"PR #{number} was closed unmerged; held until its backlog entry changes "
                    f"or a person asks again (--retry, or the label {LABEL_RETRY} on the PR)"
                )
            case Standing.MERGED:
                number = self.answered.number if self.answered else 0
                return (
                    f"PR #{number} was merged, but the default branch's backlog does not say "
                    "completed (its status flip reverted?); mark it completed, or change its "
                    f"entry or ask again (--retry, label {LABEL_RETRY}) to run it again"
                )
            case Standing.NEEDS_REVIEW:
                why = last.reason if last else ""
                return f"a person must look first: {why}; --retry runs it again"
            case Standing.READY:
                if self.pr is not None and needs_bringing_up_to_date(self.pr):
                    return (
                        f"PR #{self.pr.number} no longer merges into {self.pr.base}: its branch "
                        "is brought up to date and verified again"
                    )
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
            case Standing.REWRITE_PROPOSED:
                number = self.pr.number if self.pr else 0
                return (
                    f"a rewrite of its entry waits in PR #{number}: merged, the task starts "
                    "again with its attempts reset; closed, it stays as it is"
                )
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
    #: Answers seen in the pull requests that the ledger does not keep yet: a run appends
    #: them, so the entry they were given to is remembered (`entry_hash`).
    new_answers: tuple[Answer, ...] = ()
    #: Ready tasks whose verified PR no longer merges into its base: their run brings the PR's
    #: branch up to date (the base merged in, re-verified, pushed as a fast-forward) instead
    #: of starting over.
    updates: frozenset[str] = frozenset()

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


def needs_bringing_up_to_date(pr: PullRequest) -> bool:
    """A verified PR (ready for review, not stopped for a person) whose head no longer merges
    into its base: the next run merges the base into its branch and verifies it again."""
    return pr.conflicts and not pr.draft and LABEL_NEEDS_REVIEW not in pr.labels


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
    attempts (the larger of the backlog's and the ledger's count, every attempt that began
    counted — see `settled`) are below `max_attempts`, no live lease holds it, it has no open
    pull request waiting for a person (see `waits_for_a_person`), no answer of a person holds
    it (see `_answers`), and its last attempt did not stop for a person with no PR open —
    unless it is named in `retry`. `only` narrows the tasks to start, never the picture. A
    lease `own_run` holds is this run's own (the Action's plan job leased the task for the job
    deciding now): it does not make the task busy.
    """
    rewrites = {pr.task_id: pr for pr in prs if pr.kind == "rebase" and pr.state is PrState.OPEN}
    records = settled(with_merged_rewrites(records, prs), now)
    prs = task_prs(prs)
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
    behind = {t for t, pr in open_prs.items() if needs_bringing_up_to_date(pr) and t not in retry}
    in_review = {
        t
        for t, pr in open_prs.items()
        if waits_for_a_person(pr) and t not in retry and t not in behind
    }
    answered, new_answers = _answers(
        backlog, records, prs, retry=retry, now=now, run_id=own_run or "macoder"
    )
    stopped = {
        t
        for t, attempt in last.items()
        if attempt.outcome == "needs-review" and t not in open_prs and t not in retry
    } - _reset_since_last(records)
    startable = {
        t.id
        for t in ready_tasks(
            backlog.tasks,
            max_attempts=max_attempts,
            leased=set(live) | in_review | set(answered) | stopped | set(rewrites),
            ledger_attempts=counts,
        )
    }
    # A PR that no longer merges waits for a person again once its attempts are used up.
    in_review |= behind - startable
    facts = _Facts(
        live=live,
        open_prs=open_prs,
        in_review=in_review,
        answered=answered,
        stopped=stopped,
        startable=startable,
        completed={t.id for t in backlog.tasks if t.status is TaskStatus.COMPLETED},
        counts=counts,
        last=last,
        max_attempts=max_attempts,
        rewrites=rewrites,
    )
    views = tuple(facts.view(task) for task in backlog.tasks)
    ready = tuple(
        v.task
        for v in views
        if v.standing is Standing.READY and (only is None or v.task_id in only)
    )
    note = explain(views, only, max_attempts, any_ready=bool(ready))
    updates = frozenset(t.id for t in ready if t.id in behind)
    return RunState(views, ready, baseline, note, max_attempts, new_answers, updates)


def _reset_since_last(records: Sequence[Record]) -> set[str]:
    """Tasks a person asked for again (a reset) after their last attempt."""
    since: set[str] = set()
    for record in records:
        if isinstance(record, Reset):
            since.add(record.task)
        elif isinstance(record, Attempt):
            since.discard(record.task)
    return since


def task_prs(prs: Sequence[PullRequest]) -> list[PullRequest]:
    """The pull requests of tasks' work (not the proposed rewrites of their entries)."""
    return [pr for pr in prs if pr.kind == "task"]


def with_merged_rewrites(records: Sequence[Record], prs: Sequence[PullRequest]) -> list[Record]:
    """`records` with a reset where each proposed rewrite of a task's entry was merged.

    Merging the rewrite is the person's answer "try this instead": the task is a new question,
    so the attempts before it no longer count (as after `--retry`), and an earlier stop for a
    person or answer no longer holds it. Derived from the forge, never stored: the merged PR
    is the fact, and a rewrite PR merged by hand on GitHub counts the same."""
    resets = sorted(
        (
            Reset(pr.task_id, f"rewrite-pr-{pr.number}", pr.merged_at)
            for pr in prs
            if pr.kind == "rebase" and pr.state is PrState.MERGED and pr.merged_at is not None
        ),
        key=lambda reset: reset.at,
    )
    if not resets:
        return list(records)
    out: list[Record] = []
    for record in records:
        while resets and resets[0].at <= record_time(record):
            out.append(resets.pop(0))
        out.append(record)
    return out + resets


def latest_prs(prs: Sequence[PullRequest]) -> dict[str, PullRequest]:
    """Each task's newest pull request (the highest number), whatever its state."""
    latest: dict[str, PullRequest] = {}
    for pr in task_prs(prs):
        if pr.task_id not in latest or pr.number > latest[pr.task_id].number:
            latest[pr.task_id] = pr
    return latest


def retry_requests(
    backlog: Backlog, records: Sequence[Record], prs: Sequence[PullRequest], now: float, run_id: str
) -> tuple[dict[str, PullRequest], tuple[Answer | Reset, ...]]:
    """The tasks a person asked for again with the label `macoder:retry` on their latest
    (closed or merged) pull request, and the records that keep each request: the answer the
    PR gave (when the ledger does not keep it yet), then a reset after it — so the task is
    free of the answer and starts a fresh attempt budget, as with `--retry`. The label is one
    request: once these records are kept, the caller takes it off the PR."""
    kept = {(r.task, r.pr) for r in records if isinstance(r, Answer)}
    asked: dict[str, PullRequest] = {}
    out: list[Answer | Reset] = []
    latest = latest_prs(prs)
    for task in backlog.tasks:
        pr = latest.get(task.id)
        if pr is None or pr.state is PrState.OPEN or LABEL_RETRY not in pr.labels:
            continue
        if task.status is TaskStatus.COMPLETED:
            continue
        if (task.id, pr.number) not in kept:
            answer = MERGED if pr.state is PrState.MERGED else CLOSED
            out.append(Answer(task.id, run_id, pr.number, answer, entry_hash(task), now))
        out.append(Reset(task.id, run_id, now))
        asked[task.id] = pr
    return asked, tuple(out)


def _answers(
    backlog: Backlog,
    records: Sequence[Record],
    prs: Sequence[PullRequest],
    *,
    retry: Collection[str],
    now: float,
    run_id: str,
) -> tuple[dict[str, PullRequest], tuple[Answer, ...]]:
    """The tasks a person's answer holds (-> the PR answered), and the answers the ledger does
    not keep yet.

    The answer is the task's latest pull request when none is open: closed unmerged (by a
    person: not labelled `macoder:superseded`), or merged while the task is not completed on
    the default branch. It holds unless a person
    asked again — `retry`, the label `macoder:retry` on that PR, or a reset in the ledger
    after the answer was recorded — or the task's entry changed since (its hash differs from
    the recorded one). An answer not recorded yet holds, and is returned to be recorded with
    the entry as it is now.
    """
    latest = latest_prs(prs)
    kept: dict[tuple[str, int], Answer] = {}
    asked_again: set[tuple[str, int]] = set()
    for record in records:
        if isinstance(record, Answer):
            kept[(record.task, record.pr)] = record
            asked_again.discard((record.task, record.pr))
        elif isinstance(record, Reset):
            asked_again |= {key for key in kept if key[0] == record.task}
    held: dict[str, PullRequest] = {}
    new: list[Answer] = []
    for task in backlog.tasks:
        last_pr = latest.get(task.id)
        if last_pr is None or last_pr.state is PrState.OPEN or LABEL_SUPERSEDED in last_pr.labels:
            continue  # open, or closed by macoder itself: nobody answered
        if task.status is TaskStatus.COMPLETED:
            continue
        if task.id in retry or LABEL_RETRY in last_pr.labels:
            continue
        entry, key = entry_hash(task), (task.id, last_pr.number)
        recorded = kept.get(key)
        if recorded is None:
            answer = MERGED if last_pr.state is PrState.MERGED else CLOSED
            new.append(Answer(task.id, run_id, last_pr.number, answer, entry, now))
        elif key in asked_again or recorded.entry != entry:
            continue
        held[task.id] = last_pr
    return held, tuple(new)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What `decide` gathered from the records and PRs, to judge one task at a time."""

    live: Mapping[str, Lease]
    open_prs: Mapping[str, PullRequest]
    in_review: Collection[str]
    answered: Mapping[str, PullRequest]
    stopped: Collection[str]
    startable: Collection[str]
    completed: Collection[str]
    counts: Mapping[str, int]
    last: Mapping[str, Attempt]
    max_attempts: int
    #: Each task's open pull request that proposes a rewrite of its entry.
    rewrites: Mapping[str, PullRequest]

    def view(self, task: Task) -> TaskView:
        used = attempts_of(task, self.counts)

        def standing(
            what: Standing, lease: Lease | None = None, waiting: Sequence[str] = ()
        ) -> TaskView:
            pr, last = self.open_prs.get(task.id), self.last.get(task.id)
            answered = self.answered.get(task.id)
            return TaskView(task, what, used, pr, lease, tuple(waiting), last, answered)

        if task.status is TaskStatus.COMPLETED:
            return standing(Standing.COMPLETED)
        if task.status not in SCHEDULABLE:
            return standing(Standing.HELD)
        if task.id in self.live:
            return standing(Standing.RUNNING, self.live[task.id])
        if task.id in self.in_review:
            return standing(Standing.PR_OPEN)
        if task.id in self.rewrites:
            rewrite = self.rewrites[task.id]
            return TaskView(task, Standing.REWRITE_PROPOSED, used, rewrite, None, (), None)
        if task.id in self.answered:
            merged = self.answered[task.id].state is PrState.MERGED
            return standing(Standing.MERGED if merged else Standing.REJECTED)
        if task.id in self.stopped:
            return standing(Standing.NEEDS_REVIEW)
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
        elif v.standing in _ANSWERED:
            groups.setdefault(_ANSWERED[v.standing], []).append(
                f"{v.task_id} (PR #{v.answered.number if v.answered else 0})"
            )
        elif v.standing is Standing.NEEDS_REVIEW:
            groups.setdefault("stopped for a person", []).append(v.task_id)
        elif v.standing is Standing.REWRITE_PROPOSED:
            groups.setdefault("rewrite proposed", []).append(
                f"{v.task_id} (PR #{v.pr.number if v.pr else 0})"
            )
        elif v.standing is Standing.HELD:
            groups.setdefault("marked by hand", []).append(f"{v.task_id} ({v.task.status.value})")
    parts += [f"{name}: {', '.join(ids)}" for name, ids in groups.items()]
    return "nothing is ready (" + "; ".join(parts) + ")"


#: How `explain` groups the tasks a person's answer holds.
_ANSWERED = {
    Standing.REJECTED: "rejected (PR closed unmerged; change the entry or --retry)",
    Standing.MERGED: "merged but not completed",
}


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
        case Standing.REWRITE_PROPOSED:
            return f"is {view.standing.value} ({view.detail(max_attempts)})"
        case Standing.EXHAUSTED:
            return f"is out of attempts ({view.attempts}/{max_attempts})"
        case Standing.REJECTED | Standing.MERGED | Standing.NEEDS_REVIEW:
            return f"is {view.standing.value} ({view.detail(max_attempts)})"
        case Standing.HELD:
            return f"is marked {view.task.status.value} in the backlog"
        case _:  # pragma: no cover - a ready task is never asked why not
            return "is ready"
