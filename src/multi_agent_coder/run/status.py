"""Where each task stands, derived (never stored): backlog + ledger + pull requests. Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from multi_agent_coder.backlog.model import SCHEDULABLE, Backlog, TaskStatus
from multi_agent_coder.backlog.ready import ready_tasks
from multi_agent_coder.forge.base import PrState, PullRequest
from multi_agent_coder.git.ledger import Attempt, Lease


@dataclass(frozen=True, slots=True)
class TaskState:
    task_id: str
    title: str
    state: str  # completed | pr-open | running | ready | waiting | failed | <backlog status>
    attempts: int
    pr: int | None
    detail: str


def derive(
    backlog: Backlog,
    *,
    live: Mapping[str, Lease],
    attempts: Mapping[str, int],
    last_attempts: Mapping[str, Attempt],
    prs: Sequence[PullRequest],
    max_attempts: int,
) -> list[TaskState]:
    """One line per task, in file order."""
    open_prs = {pr.task_id: pr for pr in prs if pr.state is PrState.OPEN}
    # As the orchestrator decides: a draft PR holds a failed attempt, so it does not keep the
    # task from being tried again (its attempts count does).
    busy: Collection[str] = set(live) | {t for t, pr in open_prs.items() if not pr.draft}
    ready = {
        t.id
        for t in ready_tasks(
            backlog.tasks, max_attempts=max_attempts, leased=busy, ledger_attempts=attempts
        )
    }
    completed = _completed(backlog)
    out: list[TaskState] = []
    for task in backlog.tasks:
        count = max(task.attempts, attempts.get(task.id, 0))
        pr = open_prs.get(task.id)
        last = last_attempts.get(task.id)
        if task.status is TaskStatus.COMPLETED:
            state, detail = "completed", ""
        elif task.id in live:
            state, detail = "running", f"lease held by {live[task.id].holder}"
        elif pr is not None and not pr.draft:
            state, detail = "pr-open", f"PR #{pr.number}"
        elif task.id in ready:
            state = "ready"
            detail = (
                f"last attempt failed: {last.reason}" if last and last.outcome != "success" else ""
            )
            if pr is not None:
                detail += f" (draft PR #{pr.number})"
        elif task.status in SCHEDULABLE and count >= max_attempts:
            state = "failed"
            detail = f"attempts used up ({count}/{max_attempts})" + (
                f"; last: {last.reason}" if last else ""
            )
        elif task.status in SCHEDULABLE:
            waiting = [d for d in task.depends_on if d not in completed]
            state, detail = "waiting", "on " + ", ".join(waiting)
        else:
            state, detail = task.status.value, ""
        out.append(TaskState(task.id, task.title, state, count, pr.number if pr else None, detail))
    return out


def _completed(backlog: Backlog) -> set[str]:
    return {t.id for t in backlog.tasks if t.status is TaskStatus.COMPLETED}
