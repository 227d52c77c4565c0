"""Which tasks can start now, and why the others cannot. Pure scheduling, linear in tasks + edges.

Leases and ledger attempts are runtime state that lives elsewhere (the run ledger); they come
in as plain collections so this stays a function of its inputs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from multi_agent_coder.backlog.model import SCHEDULABLE, Backlog, Task, TaskStatus


@dataclass(frozen=True, slots=True)
class Blocked:
    """A schedulable task that cannot start, and every reason why."""

    task_id: str
    waiting_on: tuple[tuple[str, str], ...] = ()  # (dependency id, its status or "unknown")
    attempts_exhausted: bool = False
    leased: bool = False


@dataclass(frozen=True, slots=True)
class Stats:
    total: int
    by_status: dict[str, int]
    ready: list[str]
    blocked: list[Blocked]
    longest_chain: list[str] = field(default_factory=list)


def attempts_of(task: Task, ledger_attempts: Mapping[str, int]) -> int:
    """Attempts so far: the larger of the backlog's count and the ledger's."""
    return max(task.attempts, ledger_attempts.get(task.id, 0))


def _completed_ids(tasks: Sequence[Task]) -> set[str]:
    return {t.id for t in tasks if t.status is TaskStatus.COMPLETED}


def blocked_reason(
    task: Task,
    completed: Collection[str],
    status_of: Mapping[str, TaskStatus],
    *,
    max_attempts: int,
    leased: Collection[str],
    ledger_attempts: Mapping[str, int],
) -> Blocked | None:
    """None when a schedulable `task` can start now; otherwise what holds it back."""
    waiting = tuple(
        (dep, status_of[dep].value if dep in status_of else "unknown")
        for dep in task.depends_on
        if dep not in completed
    )
    exhausted = attempts_of(task, ledger_attempts) >= max_attempts
    held = task.id in leased
    if not (waiting or exhausted or held):
        return None
    return Blocked(task.id, waiting, exhausted, held)


def ready_tasks(
    tasks: Sequence[Task],
    *,
    max_attempts: int,
    leased: Collection[str] = frozenset(),
    ledger_attempts: Mapping[str, int] | None = None,
) -> list[Task]:
    """Tasks that may start now, in file order: status pending or ready, every dependency
    completed, attempts below `max_attempts`, not held by a live lease."""
    # The same rule as `blocked_reason` (a test holds them equal), short-circuited: this runs
    # over every task of the backlog on every run and hook, `blocked_reason` only for stats.
    completed = _completed_ids(tasks)
    attempts = ledger_attempts or {}
    return [
        t
        for t in tasks
        if t.status in SCHEDULABLE
        and t.id not in leased
        and attempts_of(t, attempts) < max_attempts
        and all(dep in completed for dep in t.depends_on)
    ]


def longest_chain(tasks: Sequence[Task]) -> list[str]:
    """The longest dependency chain (first task first), by dynamic programming over a
    topological order. Edges to unknown tasks are ignored; a valid backlog has no cycles, and
    tasks on a cycle (an invalid backlog) are left out rather than looping."""
    first: dict[str, Task] = {}
    for t in tasks:
        first.setdefault(t.id, t)
    dependents: dict[str, list[str]] = {task_id: [] for task_id in first}
    indegree = dict.fromkeys(first, 0)
    for task_id, t in first.items():
        for dep in set(t.depends_on):
            if dep in first and dep != task_id:
                dependents[dep].append(task_id)
                indegree[task_id] += 1
    order = [task_id for task_id, degree in indegree.items() if degree == 0]
    depth = dict.fromkeys(first, 1)
    best_parent: dict[str, str] = {}
    for task_id in order:  # `order` grows while we walk it (Kahn's algorithm)
        for child in dependents[task_id]:
            if depth[task_id] + 1 > depth[child]:
                depth[child] = depth[task_id] + 1
                best_parent[child] = task_id
            indegree[child] -= 1
            if indegree[child] == 0:
                order.append(child)
    if not order:
        return []
    end = max(order, key=lambda task_id: depth[task_id])
    chain = [end]
    while chain[-1] in best_parent:
        chain.append(best_parent[chain[-1]])
    return chain[::-1]


def stats(
    backlog: Backlog,
    *,
    max_attempts: int,
    leased: Collection[str] = frozenset(),
    ledger_attempts: Mapping[str, int] | None = None,
) -> Stats:
    """Counts per status, the ready set, what blocks the rest, and the longest chain."""
    tasks = backlog.tasks
    attempts = ledger_attempts or {}
    by_status = {s.value: 0 for s in TaskStatus}
    for t in tasks:
        by_status[t.status.value] += 1
    completed = _completed_ids(tasks)
    status_of = {t.id: t.status for t in tasks}
    ready: list[str] = []
    blocked: list[Blocked] = []
    for t in tasks:
        if t.status not in SCHEDULABLE:
            continue
        reason = blocked_reason(
            t,
            completed,
            status_of,
            max_attempts=max_attempts,
            leased=leased,
            ledger_attempts=attempts,
        )
        if reason is None:
            ready.append(t.id)
        else:
            blocked.append(reason)
    return Stats(len(tasks), by_status, ready, blocked, longest_chain(tasks))
