"""The publish job: what a task job handed off becomes a branch, a pull request and ledger
records — after it is checked, because the task job ran an agent.

This job holds the write token and runs no agent, no repository code and no npm. Per task:

1. read `result.json` (bounded, strictly typed) and check it names this task, this workflow
   run and the planned base;
2. read the bundle's header without git and check it carries exactly `refs/macoder/handoff/<id>`
   at the announced head on exactly the planned base; then git verifies and fetches it;
3. check the commits (a straight line of macoder's own, a handful) and the change (no
   workflow or action ever; a protected path only in a draft labelled for review; the
   backlog only by the task's own status flip, byte for byte what macoder writes);
4. push with the lease on the inspected remote commit (never over a person's commits) and
   open or update the one PR; then append the attempt and release the plan's lease.

A revision (a review asked for changes; the plan said so) is held to the same rules, with the
PR's head in place of the planned base: the hand-off must build on exactly the head the open
PR and its branch are at now (a person's push since stops it for review), the bundle carries
only the new commits, they are macoder's in a straight line and change nothing the rules
refuse (the backlog not at all: the PR flipped the status already), and the push is a plain
fast-forward — what the reviewer saw is never rewritten.

A refused hand-off pushes nothing and opens nothing; its attempt is recorded as failed with
the reason (so attempts stay counted), and the lease is released. A task job that left no
hand-off at all (cancelled, timed out, runner lost), or one that began the task (its hand-off
holds the attempt's start) and recorded no end, is recorded as an interrupted attempt —
unless the wave's health job found the planned base unhealthy (`unhealthy_sha`): then no
task job ran, by design, and the attempt is recorded with that reason as one that failed for
a cause outside the task (the ledger's `infrastructure`: kept, never counted — the task is
not at fault, and it runs again once the base's checks pass).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from multi_agent_coder.backlog.model import TaskStatus
from multi_agent_coder.backlog.write import with_task_status
from multi_agent_coder.errors import MacoderError, NeedsReviewError
from multi_agent_coder.forge.base import LABEL_FAILED, LABEL_NEEDS_REVIEW, PrResult, WantedPr
from multi_agent_coder.forge.handoff import (
    BUNDLE_FILE,
    Handoff,
    WantedPull,
    read_handoff,
    ref_for,
)
from multi_agent_coder.git.ledger import (
    INFRASTRUCTURE,
    INTERRUPTED,
    Attempt,
    Ledger,
    Release,
    Start,
    attempt_without_facts,
    parse,
)
from multi_agent_coder.ids import branch_for, validate_task_id
from multi_agent_coder.run.handoff_files import (
    Refused,
    fetch_bundle,
    name_problems,
    read_bundle_header,
)
from multi_agent_coder.run.handoff_rules import (
    MAX_BUNDLE_BYTES,
    Expected,
    change_problems,
    header_problems,
    is_review_draft,
    lineage_problems,
    merge_problems,
)
from multi_agent_coder.run.session import Session, keep_progress_comment, macoder_emails
from multi_agent_coder.run.state import needs_bringing_up_to_date
from multi_agent_coder.run.task import label_for_review

PublishStatus = Literal["published", "refused", "interrupted", "unhealthy", "nothing"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Published:
    """What became of one task's hand-off."""

    task_id: str
    status: PublishStatus
    reason: str
    pr: PrResult | None = None
    #: The task job's own outcome, as its attempt record says ("" when there is none).
    outcome: str = ""

    @property
    def result(self) -> str:
        """The `result` output: the task's outcome as a task job names it, or this job's
        verdict when it refused or found nothing to publish."""
        if self.status in ("refused", "interrupted", "unhealthy"):
            return self.status
        return _RESULTS.get(self.outcome, self.status)


#: Ledger outcomes -> the words the task job's `result` output uses.
_RESULTS = {"success": "succeeded", "failure": "failed", "needs-review": "needs-review"}


def publish_handoff(
    session: Session,
    task_id: str,
    *,
    run_id: str,
    base_sha: str,
    directory: Path,
    revision: bool = False,
    unhealthy_sha: str | None = None,
) -> Published:
    """Check and carry out the hand-off of `task_id` in `directory/<task_id>`; always record
    the attempt and release the lease `run_id` holds. `revision`: the plan leased the task
    to revise its open PR (new commits on the PR's head, see the module's docstring).
    `unhealthy_sha`: the commit the wave's health job found unhealthy, if it did."""
    validate_task_id(task_id)
    settings = session.settings
    expected = Expected(
        task_id=task_id,
        run_id=run_id,
        base_sha=base_sha,
        ref=ref_for(task_id),
        emails=macoder_emails(settings),
        protected=settings.protected_paths,
        backlog_path=Path(settings.backlog).as_posix(),
    )
    ledger = session.ledger()
    now = session.clock()
    try:
        handoff = read_handoff(directory / task_id)
    except MacoderError as exc:  # HandoffError, or a file that is no regular file
        handoff, result = None, Published(task_id, "refused", str(exc))
    else:
        unhealthy = unhealthy_sha is not None and unhealthy_sha == base_sha
        try:
            result = _carry_out(
                session, handoff, expected, directory / task_id, revision, unhealthy=unhealthy
            )
        except (OSError, subprocess.SubprocessError) as exc:  # the attempt is recorded anyway
            result = Published(task_id, "refused", f"publish failed: {type(exc).__name__}: {exc}")
    attempts = _attempts(handoff, expected)
    if result.status == "refused":
        attempts = [_failed(a, result.reason) for a in attempts] or [
            _ended(expected, "failure", result.reason, now)
        ]
    elif result.status == "interrupted":
        attempts = [_ended(expected, INTERRUPTED, result.reason, now)]
    elif result.status == "unhealthy":
        attempts = [_ended(expected, INFRASTRUCTURE, result.reason, now)]
    ledger.append(*attempts, Release(task_id, run_id, now))
    _show_progress(session, ledger, result, run_id=run_id, now=now)
    outcome = attempts[-1].outcome if attempts else ""
    return replace(result, outcome=outcome)


def not_started(base_sha: str) -> str:
    """The reason recorded for each task of a wave whose planned base the health job found
    unhealthy (so no task job ran an agent)."""
    return (
        f"not started: the repository's own checks failed at {base_sha} (the planned base) in "
        "the wave's health job; no agent ran. Make them pass on the default branch: the next "
        "run plans the task again (this attempt is not counted)"
    )


def _show_progress(
    session: Session, ledger: Ledger, result: Published, *, run_id: str, now: float
) -> None:
    """The progress comment on the task's PR — the one just published, or (refused,
    interrupted) the one an earlier attempt left open — brought up to date with the attempt."""
    number = result.pr.number if result.pr is not None and result.pr.number else None
    try:
        if number is None:
            open_pr = session.forge.find_open_pr(result.task_id)
            number = open_pr.number if open_pr is not None else None
        if number is not None:
            keep_progress_comment(
                session.forge, ledger, result.task_id, number, run_id=run_id, now=now
            )
    except MacoderError as exc:  # the attempt is recorded; the comment is a view of it
        log.warning("%s: the progress comment was not updated: %s", result.task_id, exc)


def _carry_out(
    session: Session,
    handoff: Handoff | None,
    expected: Expected,
    folder: Path,
    revision: bool,
    *,
    unhealthy: bool = False,
) -> Published:
    task_id = expected.task_id
    if handoff is None and unhealthy:  # no task job ran: the health job stopped the wave
        return Published(task_id, "unhealthy", not_started(expected.base_sha))
    if handoff is None:
        return Published(
            task_id,
            "interrupted",
            "interrupted: the task job left no result (cancelled, timed out or its runner lost)",
        )
    try:
        _check_result(handoff, expected)
        if _began_and_never_ended(handoff, expected):
            return Published(
                task_id,
                "interrupted",
                "interrupted: the task job began the task and stopped before it ended "
                "(cancelled, timed out or its runner lost)",
            )
        if handoff.pull is None:
            return Published(task_id, "nothing", "nothing to publish")
        if handoff.head_sha is not None:
            # A fast-forward of the PR's branch: a revision (planned), or an update (the
            # PR no longer merges, as GitHub says now: the plan's reason, read again here).
            update = not revision and handoff.onto is not None
            on = (
                _pr_head_base(session, handoff, expected, update=update)
                if revision or update
                else expected
            )
            merged = expected.base_sha if update else None
            _check_branch(
                session, handoff.head_sha, handoff.pull, on, folder / BUNDLE_FILE, merged=merged
            )
            # With `sign_commits`, GitHub's signed copies of exactly the checked commits
            # (same trees, `GitHubForge.publish_branch`): the PR is opened at their head.
            published = session.forge.publish_branch(
                branch_for(task_id), handoff.head_sha, fast_forward=revision or update
            )
            pull = handoff.pull.model_copy(update={"head_sha": published})
        else:
            _check_relabel(session, handoff.pull, task_id)
            pull = handoff.pull
        pr = _open_or_update(session, task_id, pull)
    except Refused as refused:
        return Published(task_id, "refused", "publish refused: " + "; ".join(refused.problems))
    except NeedsReviewError as exc:
        labelled = label_for_review(session.forge, task_id)
        return Published(task_id, "refused", f"{exc}; labelled {LABEL_NEEDS_REVIEW}", labelled)
    except MacoderError as exc:
        return Published(task_id, "refused", f"publish failed: {exc}")
    return Published(task_id, "published", "", pr)


def _pr_head_base(
    session: Session, handoff: Handoff, expected: Expected, *, update: bool
) -> Expected:
    """What a revision's or an update's branch is checked against: `expected` with the open
    PR's head as the base — the head the hand-off says it builds on, which must be where
    GitHub has the PR and its branch now (read here, with this job's token, not taken from
    the hand-off). An update also needs the PR to no longer merge, as GitHub says now."""
    task_id = expected.task_id
    onto = handoff.onto
    if onto is None:
        raise Refused(["a revision's hand-off does not say which PR head it builds on"])
    pr = session.forge.find_open_pr(task_id, with_conflicts=update)
    if pr is None or LABEL_FAILED in pr.labels:
        raise Refused([f"{task_id} has no open pull request to revise"])
    if update and not needs_bringing_up_to_date(pr):
        raise Refused(
            [
                "the hand-off builds on a PR's head, but no revision was planned and the PR "
                "does not need bringing up to date"
            ]
        )
    branch = branch_for(task_id)
    tip = session.forge.fetch_branch(branch)
    if pr.head_sha != onto or tip != onto:
        moved = tip if tip is not None and tip != onto else pr.head_sha
        raise NeedsReviewError(branch, [f"{onto[:10]} -> {moved[:10]}"])
    return replace(expected, base_sha=onto)


def _check_result(handoff: Handoff, expected: Expected) -> None:
    problems = name_problems(
        "result.json",
        (
            ("task", handoff.task, expected.task_id),
            ("run", handoff.run_id, expected.run_id),
            ("base", handoff.base_sha, expected.base_sha),
        ),
    )
    pull = handoff.pull
    if pull is not None and handoff.head_sha is not None and pull.head_sha != handoff.head_sha:
        problems.append("result.json: the pull request's head is not the bundle's head")
    if problems:
        raise Refused(problems)


def _check_branch(
    session: Session,
    head: str,
    pull: WantedPull,
    expected: Expected,
    path: Path,
    *,
    merged: str | None = None,
) -> None:
    """The bundle, its commits and its change, in that order (git sees the bundle only
    after its header holds). An update (`merged`: the planned base it merged into the PR's
    head, `expected.base_sha`) adds exactly macoder's merge commit, and its change is judged
    against the planned base as a first run's is: the PR's whole change."""
    try:
        header = read_bundle_header(path, max_bytes=MAX_BUNDLE_BYTES)
    except OSError as exc:
        raise Refused([f"{BUNDLE_FILE}: cannot be read: {exc.strerror}"]) from None
    problems = header_problems(header, expected, head, merged)
    if problems:
        raise Refused(problems)
    repo = session.repo
    fetch_bundle(repo, path, expected.ref)
    if merged is None:
        problems = lineage_problems(repo.lineage(expected.base_sha, head), expected)
    else:
        earlier = {c.sha for c in repo.lineage(merged, expected.base_sha)}
        new = [c for c in repo.lineage(merged, head) if c.sha not in earlier]
        problems = merge_problems(new, expected.base_sha, merged, expected)
        expected = replace(expected, base_sha=merged)
    if problems:
        raise Refused(problems)
    changes = repo.changes(expected.base_sha, head)
    problems = change_problems(
        changes,
        expected,
        review_draft=is_review_draft(pull.draft, pull.labels),
        backlog_is_the_status_flip=_status_flip_only(session, expected, head),
    )
    if problems:
        raise Refused(problems)


def _status_flip_only(session: Session, expected: Expected, head: str) -> bool:
    """The backlog at `head` is the base's with exactly this task marked completed."""
    repo, path, limit = session.repo, expected.backlog_path, session.settings.max_file_bytes
    try:
        before = repo.file_at(expected.base_sha, path, max_bytes=limit)
        after = repo.file_at(head, path, max_bytes=limit)
        if before is None or after is None:
            return before == after
        flipped = with_task_status(before, expected.task_id, TaskStatus.COMPLETED, path)
    except MacoderError:  # over the size limit, or not a backlog macoder could have written
        return False
    return after == (before if flipped is None else flipped)


def _check_relabel(session: Session, pull: WantedPull, task_id: str) -> None:
    """No branch handed off: only the labels of the PR already open at that head change."""
    open_pr = session.forge.find_open_pr(task_id)
    if open_pr is None or open_pr.head_sha != pull.head_sha:
        raise Refused(["a pull request without a branch must be the open one, at its head"])


def _open_or_update(session: Session, task_id: str, pull: WantedPull) -> PrResult:
    return session.forge.create_or_update_pr(
        WantedPr(
            task_id=task_id,
            branch=branch_for(task_id),
            base=session.repo.default_branch(),
            head_sha=pull.head_sha,
            title=pull.title,
            body=pull.body,
            draft=pull.draft,
            labels=pull.labels,
        )
    )


def _attempts(handoff: Handoff | None, expected: Expected) -> list[Attempt]:
    """The attempt records the task job handed off for this task and run (nothing else: a
    hand-off cannot write another task's records, nor leases)."""
    if handoff is None:
        return []
    return [
        record
        for record in parse("\n".join(handoff.records))
        if isinstance(record, Attempt)
        and record.task == expected.task_id
        and record.run_id == expected.run_id
    ]


def _began_and_never_ended(handoff: Handoff, expected: Expected) -> bool:
    """The task job recorded the attempt's start and no attempt: it was stopped midway."""
    mine = [
        record
        for record in parse("\n".join(handoff.records))
        if record.task == expected.task_id and record.run_id == expected.run_id
    ]
    return any(isinstance(r, Start) for r in mine) and not any(isinstance(r, Attempt) for r in mine)


def _ended(expected: Expected, outcome: str, reason: str, now: float) -> Attempt:
    """The attempt record of a task job whose own record is missing or refused: it ran
    against the planned base; nothing else of it is known (its session, drift, time)."""
    return attempt_without_facts(
        expected.task_id, expected.run_id, outcome, reason, now, base_sha=expected.base_sha
    )


def _failed(attempt: Attempt, reason: str) -> Attempt:
    return replace(attempt, outcome="failure", reason=reason)
