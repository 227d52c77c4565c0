"""`macoder rebase T001`: a failing task's entry rewritten by the rebase model, proposed as a PR.

The I/O around `planning/rebase.py`. The task is read from the default branch (never a working
copy), its attempts since it was last asked again from the ledger, and it is leased for the
rewrite, so no run starts it and no second rebase writes it meanwhile. One agent session per
round on the rebase model, in a fresh export of the default branch (it may read the code;
nothing it writes is kept), each verified deleted; an answer that breaks a rule goes back with
the problems, at most `MAX_REPAIR_ROUNDS` times. An accepted rewrite becomes one commit on
`macoder/rebase-<id>` (the default branch's head with only the backlog changed: the entry
rewritten, its status pending, its attempts zero) and one pull request for a person to judge:
merged, the task is a new question with a fresh attempt budget (`run/state.py`); closed, it
stays as it was. Each try is kept in the ledger (`Rewrite`), so `macoder run` does not pay for
the same entry's rewrite twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from multi_agent_coder.backlog.load import Check
from multi_agent_coder.errors import UnknownTaskError, UsageError
from multi_agent_coder.forge.base import LABEL, PrResult, PrState, PullRequest, WantedPr
from multi_agent_coder.git.ledger import Record, Rewrite, settled
from multi_agent_coder.git.repo import HEADS
from multi_agent_coder.ids import rebase_branch_for, validate_task_id
from multi_agent_coder.limits import MAX_REPAIR_ROUNDS
from multi_agent_coder.planning.generate import read_base
from multi_agent_coder.planning.rebase import (
    FAILURE,
    RebaseInput,
    Verdict,
    attempts_since_reset,
    judge,
    rebase_prompt,
    repair_prompt,
    tried_for,
    why_rewrite,
)
from multi_agent_coder.run.generate import backlog_diff
from multi_agent_coder.run.rounds import Asking, Rounds, ask_in_rounds
from multi_agent_coder.run.session import Head, Session, Snapshot, holder_id, new_run_id
from multi_agent_coder.run.state import entry_hash, with_merged_rewrites
from multi_agent_coder.visible import one_line

#: The label of a proposed rewrite (besides `macoder`): people filter their PR list by it.
LABEL_REBASE: Final = "macoder:rebase"
ROLE: Final = "rebase"

Status = Literal["proposed", "would-propose", "invalid", "agent-failed"]


@dataclass
class RebaseReport(Rounds[Verdict]):
    """What one rebase did."""

    task_id: str
    model: str
    why: str
    backlog: str
    dry_run: bool = False
    branch: str = ""
    pr: PrResult | None = None
    diff: str = ""

    @property
    def status(self) -> Status:
        return self.stopped or ("would-propose" if self.dry_run else "proposed")

    def as_json(self) -> dict[str, Any]:
        return {
            "task": self.task_id,
            "status": self.status,
            "why": self.why,
            "model": self.model,
            "backlog": self.backlog,
            "branch": self.branch or None,
            "pr": None if self.pr is None else {"number": self.pr.number, "url": self.pr.url},
            "operation": None if self.pr is None else self.pr.operation,
            **self.rounds_json(),
            "diff": self.diff or None,
        }


@dataclass(frozen=True)
class Candidate:
    """A task whose attempts call for a rewrite (`why`), with the entry's hash."""

    task_id: str
    why: str
    entry: str


def candidates(
    session: Session, snapshot: Snapshot, ready_or_spent: Sequence[str]
) -> list[Candidate]:
    """The tasks among `ready_or_spent` that `macoder run` rewrites itself (`rebase.automatic`):
    their attempts since they were last asked again qualify (`why_rewrite`), and no rewrite was
    tried for their entry as it is now, nor waits in a PR. Decided on what `snapshot` read
    (the backlog, the ledger's records, every pull request): the caller just read them, and
    reading them again would list every pull request a second time for nothing."""
    backlog, records, prs = snapshot.backlog, snapshot.records, snapshot.prs
    index = backlog.task_index()
    history = settled(with_merged_rewrites(records, prs), session.clock())
    proposed = {pr.task_id for pr in prs if pr.kind == "rebase" and pr.state is PrState.OPEN}
    out: list[Candidate] = []
    for task_id in ready_or_spent:
        if task_id not in index or task_id in proposed:
            continue
        task = backlog.tasks[index[task_id]]
        why = why_rewrite(
            attempts_since_reset(history, task_id), session.settings.rebase.after_failures
        )
        entry = entry_hash(task)
        if why is not None and tried_for(records, task_id, entry) is None:
            out.append(Candidate(task_id, why, entry))
    return out


@dataclass(frozen=True)
class Prepared:
    """What a rebase asks the model from: the default branch's head and backlog, the task
    there, its attempts since it was last asked again and why they call for a rewrite."""

    head: Head
    raw: bytes
    source: RebaseInput
    model: str

    @property
    def why(self) -> str:
        return self.source.why

    @property
    def entry(self) -> str:
        """The hash of the entry rewritten (what the ledger's `Rewrite` names)."""
        return entry_hash(self.source.task)


def prepare(
    session: Session, task_id: str, checks: Sequence[Check], snapshot: Snapshot | None = None
) -> Prepared:
    """What a rebase of `task_id` needs (the backlog at the default branch's head, the ledger,
    the pull requests) and whether it qualifies; reads only. From `snapshot` when the caller
    holds one (`macoder run`, which found the task among its `candidates`), else read afresh
    (`macoder rebase T001`, the Action's rebase job). `UnknownTaskError` for a task the
    backlog lacks, `UsageError` for one with nothing to rewrite (completed, or no failed
    attempt since it was last asked again)."""
    validate_task_id(task_id)
    settings = session.settings
    head = session.head() if snapshot is None else snapshot.head
    raw = head.raw
    base = read_base(raw, settings.backlog, checks)
    index = base.backlog.task_index().get(task_id)
    if index is None:
        raise UnknownTaskError(task_id, settings.backlog, base.ids)
    task = base.backlog.tasks[index]
    if task.status.value == "completed":
        raise UsageError(f"{task_id} is completed on {head.branch}: there is nothing to rewrite")
    records: Sequence[Record]
    prs: Sequence[PullRequest]
    if snapshot is None:
        records, prs = session.ledger().read(), session.forge.list_prs(include_closed=True)
    else:
        records, prs = snapshot.records, snapshot.prs
    history = settled(with_merged_rewrites(records, prs), session.clock())
    attempts = attempts_since_reset(history, task_id)
    why = why_rewrite(attempts, settings.rebase.after_failures)
    if why is None:
        failed = [a for a in attempts if a.outcome == FAILURE]
        if not failed:
            raise UsageError(
                f"{task_id} has no failed attempt since it was last asked for: the rebase model "
                "learns from the reasons attempts failed; edit the entry by hand instead"
            )
        why = f"it failed {len(failed)} time{'s' if len(failed) != 1 else ''}"
    source = RebaseInput(task, index, base, tuple(attempts), why, settings.context_settings())
    return Prepared(head, raw, source, settings.models.for_role(ROLE))


def rebase(
    session: Session,
    task_id: str,
    checks: Sequence[Check],
    *,
    run_id: str | None = None,
    holder: str | None = None,
    dry_run: bool = False,
    snapshot: Snapshot | None = None,
    cancel: threading.Event | None = None,
    on_event: Callable[[str], None] = lambda message: None,
) -> RebaseReport:
    """Rewrite `task_id`'s entry and propose it; see the module docstring. `snapshot`: what
    the caller just read (see `prepare`). Raises for what stops it before a model is asked
    (`UsageError`, `UnknownTaskError`), and for a session that could not be verified deleted
    (`SessionLeakError`); every other outcome is in the report (and, unless `dry_run`, in
    the ledger)."""
    run_id = run_id or new_run_id(session.clock)
    holder = holder or holder_id()
    prepared = prepare(session, task_id, checks, snapshot)
    settings, head, task = session.settings, prepared.head, prepared.source.task
    ledger = session.ledger()
    report = RebaseReport(task_id, prepared.model, prepared.why, settings.backlog, dry_run=dry_run)
    source, raw = prepared.source, prepared.raw
    if session.preflight is not None:
        session.preflight(settings, session.repo, [prepared.model])
    ttl = settings.planning_timeout * (MAX_REPAIR_ROUNDS + 1) + 300
    if not dry_run and ledger.acquire(task_id, run_id, holder, ttl) is None:
        raise UsageError(f"{task_id} is leased by another run; rebase it when that run is done")
    try:
        ask(
            session,
            report,
            source,
            head.sha,
            cancel=cancel or threading.Event(),
            on_event=on_event,
        )
        if report.ok and report.verdict is not None and report.verdict.raw is not None:
            report.diff = backlog_diff(raw, report.verdict.raw, settings.backlog)
            if not dry_run:
                _propose(session, report, task.title, head, report.verdict.raw)
        if not dry_run:
            ledger.append(record_of(report, run_id, prepared.entry, session.clock()))
    finally:
        if not dry_run:
            ledger.release(task_id, run_id)
    return report


def ask(
    session: Session,
    report: RebaseReport,
    source: RebaseInput,
    sha: str,
    *,
    cancel: threading.Event,
    on_event: Callable[[str], None],
) -> None:
    """The rounds (`run/rounds.py`): ask, judge, and ask again with the problems, until an
    answer passes; what they came to goes into `report`."""
    asking: Asking[Verdict] = Asking(
        first=lambda: rebase_prompt(source),
        repair=lambda verdict, repair: repair_prompt(source, verdict, repair, MAX_REPAIR_ROUNDS),
        judge=lambda answer: judge(answer, source),
        title=f"macoder rebase {report.task_id}",
        doing=f"rewrites {report.task_id}",
        unchanged=f"nothing was proposed for {report.task_id}",
    )
    ask_in_rounds(session, sha, report.model, asking, into=report, cancel=cancel, on_event=on_event)


def _propose(session: Session, report: RebaseReport, title: str, head: Head, raw: bytes) -> None:
    """One commit with the rewritten backlog on `macoder/rebase-<id>` and its pull request.

    The branch is macoder's own: it is set to the new commit whatever it held (an earlier
    proposal), unless a person committed there — their work is never overwritten."""
    settings, repo, forge = session.settings, session.repo, session.forge
    task_id, base, sha = report.task_id, head.branch, head.sha
    branch = rebase_branch_for(task_id)
    current = forge.fetch_branch(branch)
    if current is not None:
        foreign = forge.foreign_commits(branch, sha)
        if foreign:
            report.failure = (
                f"{branch} has commits a person made ({', '.join(foreign)}): nothing was "
                "proposed over them; merge or close that PR first"
            )
            return
    commit = repo.commit_files(sha, {settings.backlog: raw}, commit_message(report), session.author)
    local = repo.branch_head(branch)
    repo.update_ref(HEADS + branch, commit, local, f"macoder rebase {task_id}")
    # With `pull_request.sign_commits` the forge publishes GitHub's signed copy of the commit.
    commit = forge.publish_branch(branch, commit, fast_forward=False)
    report.branch = branch
    report.pr = forge.create_or_update_pr(
        WantedPr(
            task_id=task_id,
            branch=branch,
            base=base,
            head_sha=commit,
            title=pr_title(task_id, title),
            body=pr_body(task_id, report.why, report.diff, report.model, len(report.rounds)),
            draft=False,
            labels=(LABEL, LABEL_REBASE),
            kind="rebase",
        )
    )


def commit_message(report: RebaseReport) -> str:
    """The rewrite's one commit: which task, why."""
    return (
        f"Rewrite {report.task_id}'s entry: {one_line(report.why)}\n\n"
        f"Proposed by `macoder rebase` ({report.model}). Merging it resets the task's "
        "attempts; closing it leaves the task as it was."
    )


def pr_title(task_id: str, title: str) -> str:
    return f"Rewrite {task_id}: {one_line(title)}"


def pr_body(task_id: str, why: str, diff: str, model: str, rounds: int) -> str:
    """The rewrite's pull request: why, what merging and closing do, the backlog's diff."""
    return "\n\n".join(
        [
            f"`macoder rebase` proposes a rewrite of {task_id}'s backlog entry: {why}.",
            "Merge it to run the task again from its new entry with its attempts reset; "
            "close it to leave the task as it was.",
            "```diff\n" + diff.rstrip("\n") + "\n```",
            f"Written by {model} in {rounds} round(s), checked as "
            "`macoder check` checks the backlog.",
        ]
    )


def record_of(report: RebaseReport, run_id: str, entry: str, now: float) -> Rewrite:
    if report.status == "proposed":
        reason = report.why
    elif report.failure:
        reason = report.failure
    else:
        reason = f"{len(report.problems)} problem(s) left after {len(report.rounds)} round(s)"
    outcome = (
        "proposed" if report.status == "proposed" else ("failed" if report.failure else "invalid")
    )
    number = report.pr.number if report.pr is not None else None
    return Rewrite(report.task_id, run_id, outcome, reason, entry, number, report.model, now)
