"""The Action's `rebase` job: a failing task's entry rewritten by the rebase model, handed off.

`macoder rebase` in a job that holds no write token (DESIGN §9: the job runs an agent, so it
holds the model key, outside the agent's sandbox, and at most the job's read-only token, as a
task job does — to read the run ledger and the pull requests, which tell whether the task
qualifies and why). It prepares and asks exactly as the local command does
(`run/rebase.py`), on the default branch's head as checked out, and then, instead of pushing,
hands off:

- an accepted rewrite as one commit of macoder's on that base changing only the backlog,
  built from objects (no working tree, no hook), in a git bundle carrying
  `refs/macoder/handoff/rebase-<id>`;
- `rebase.json` naming the task, the base, the head (none when no rewrite passed), the
  outcome (`proposed`, `failed`, `invalid`) and its reason, why the task was rewritten, the
  model and the rounds — so the publish job records even a failed try, and `macoder run`
  does not pay for the same entry's rewrite twice.

Both lie in `<directory>/rebase-<id>/`; the workflow uploads it for `publish-rebase`
(`run/rebase_publish.py`), which checks it by `run/rebase_rules.py` before it pushes or opens
anything. No lease is taken (the job cannot write the ledger): the workflow runs a task's
rebase in the task's own concurrency group, so no task job of it runs meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from multi_agent_coder.atomicfile import write_atomically
from multi_agent_coder.backlog.load import Check
from multi_agent_coder.forge.handoff import REF_PREFIX, read_result
from multi_agent_coder.git import bundle
from multi_agent_coder.ids import TASK_ID_PATTERN, validate_task_id
from multi_agent_coder.limits import MAX_REPAIR_ROUNDS
from multi_agent_coder.run.generate import backlog_diff
from multi_agent_coder.run.rebase import RebaseReport, ask, commit_message, prepare, record_of
from multi_agent_coder.run.session import Session

RESULT_FILE: Final = "rebase.json"
BUNDLE_FILE: Final = "rebase.bundle"
#: A result file larger than this is not one macoder wrote.
MAX_RESULT_BYTES: Final = 64 * 1024
_SHA: Final = r"^[0-9a-f]{40}([0-9a-f]{24})?$"

Outcome = Literal["proposed", "failed", "invalid"]


class RebaseHandoff(BaseModel):
    """`rebase.json`: one rewrite's try, for the publish-rebase job to publish and record."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: Literal[1] = 1
    task: str = Field(pattern=TASK_ID_PATTERN)
    run_id: str = Field(max_length=200)
    base_sha: str = Field(pattern=_SHA)
    #: The rewrite's commit; None when no rewrite passed (`failed`, `invalid`).
    head_sha: str | None = Field(default=None, pattern=_SHA)
    outcome: Outcome
    reason: str = Field(max_length=2000)
    why: str = Field(max_length=2000)
    model: str = Field(max_length=200)
    rounds: int = Field(ge=0, le=MAX_REPAIR_ROUNDS + 1)


@dataclass(frozen=True, slots=True)
class RebaseRequest:
    """The task to rewrite, the workflow run, and where the hand-off goes."""

    task_id: str
    run_id: str
    #: The hand-off directory (the workflow uploads it); the rewrite's lies in `rebase-<id>/`.
    directory: Path


@dataclass(frozen=True, slots=True)
class RebaseHandedOff:
    """What the job asked and handed off."""

    report: RebaseReport
    handoff: RebaseHandoff


def folder_name(task_id: str) -> str:
    """The hand-off's folder (and the artifact's part of the name): `rebase-<id>`."""
    return "rebase-" + validate_task_id(task_id)


def ref_for_rebase(task_id: str) -> str:
    """The one ref a rewrite's bundle carries: `refs/macoder/handoff/rebase-<id>`, never a
    branch."""
    return REF_PREFIX + folder_name(task_id)


def rebase_and_hand_off(
    session: Session,
    request: RebaseRequest,
    checks: Sequence[Check],
    *,
    on_event: Callable[[str], None] = lambda message: None,
) -> RebaseHandedOff:
    """Ask the rebase model for `request.task_id`'s rewrite and hand off what came of it (see
    the module's docstring). Raises `UsageError` / `UnknownTaskError` for a task that does
    not qualify, before a model is asked; `SessionLeakError` as `rebase` does."""
    task_id = validate_task_id(request.task_id)
    prepared = prepare(session, task_id, checks)
    settings, repo = session.settings, session.repo
    base = prepared.head.sha
    report = RebaseReport(task_id, prepared.model, prepared.why, settings.backlog)
    if session.preflight is not None:
        session.preflight(settings, repo, [prepared.model])
    on_event(f"rewriting {task_id} on {base[:10]}: {prepared.why}")
    ask(session, report, prepared.source, base, cancel=threading.Event(), on_event=on_event)
    folder = request.directory / folder_name(task_id)
    folder.mkdir(parents=True, exist_ok=True)
    head = None
    raw = report.verdict.raw if report.ok and report.verdict is not None else None
    if raw is not None:
        report.diff = backlog_diff(prepared.raw, raw, settings.backlog)
        ref = ref_for_rebase(task_id)
        message = commit_message(report)
        head = repo.commit_files(base, {settings.backlog: raw}, message, session.author, ref=ref)
        bundle.create(repo.root, folder / BUNDLE_FILE, ref, base)
    record = record_of(report, request.run_id, prepared.entry, session.clock())
    handoff = RebaseHandoff(
        task=task_id,
        run_id=request.run_id,
        base_sha=base,
        head_sha=head,
        outcome="proposed" if head is not None else ("failed" if report.failure else "invalid"),
        reason=record.reason[:2000],
        why=prepared.why[:2000],
        model=prepared.model,
        rounds=len(report.rounds),
    )
    write_atomically(folder / RESULT_FILE, handoff.model_dump_json(indent=1))
    return RebaseHandedOff(report, handoff)


def read_rebase_handoff(directory: Path, task_id: str) -> RebaseHandoff | None:
    """The rewrite's hand-off in `directory/rebase-<id>/` (None when there is none);
    `HandoffError` when it is too large or not macoder's."""
    folder = directory / folder_name(task_id)
    return read_result(folder, RESULT_FILE, RebaseHandoff, max_bytes=MAX_RESULT_BYTES)
