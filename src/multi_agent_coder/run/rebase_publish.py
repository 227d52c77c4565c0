"""The Action's `publish-rebase` job: a rebase job's hand-off becomes the task's rewrite PR.

This job holds the write token and runs no agent, no repository code and no npm. It:

1. reads `rebase.json` (bounded, strictly typed) and checks it names this task, this
   workflow run and the planned base — a commit of the default branch;
2. records a try that proposed nothing (`failed`, `invalid`) as the ledger's `Rewrite`, so
   the same entry is not paid for again, and stops there;
3. otherwise checks the bundle and its one commit as a plan's are checked
   (`run/handoff_publish.py`), then the change by `run/rebase_rules.py`: only the backlog,
   and in it only that task's description, acceptance and context, the task back to pending
   with no attempts, the file passing `macoder check` with the repository's own settings;
4. pushes `macoder/rebase-<id>` with a lease on the inspected remote commit — never over a
   person's commits (nothing is pushed, the open PR is labelled `macoder:needs-review`) —
   opens the task's one rewrite pull request (`kind="rebase"`, labels `macoder` and
   `macoder:rebase`) or updates the one open already, and records the `Rewrite`.

A refused hand-off is recorded too (`invalid`, with why): the rewrite of that entry was
tried. The PR's words are this job's own, from what it verified (the diff of the backlog it
fetched); the hand-off's `why` is shown on one line. The steps, and how an error becomes a
refusal, are the skeleton a plan's publish job shares (`run/handoff_publish.py`); this
module is a rewrite's part of it (`_Rewrite`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar, Final, Literal

from multi_agent_coder.errors import MacoderError
from multi_agent_coder.forge.base import LABEL, PrResult, PullRequest, WantedPr
from multi_agent_coder.forge.github import GitHubForge
from multi_agent_coder.git.ledger import Rewrite
from multi_agent_coder.ids import rebase_branch_for, validate_task_id
from multi_agent_coder.run.generate import backlog_diff
from multi_agent_coder.run.handoff_files import Refused
from multi_agent_coder.run.handoff_publish import check_result, fetch_backlog_change, publish_one
from multi_agent_coder.run.rebase import LABEL_REBASE, pr_body, pr_title
from multi_agent_coder.run.rebase_handoff import (
    BUNDLE_FILE,
    RESULT_FILE,
    RebaseHandoff,
    folder_name,
    read_rebase_handoff,
    ref_for_rebase,
)
from multi_agent_coder.run.rebase_rules import (
    MAX_REBASE_BUNDLE_BYTES,
    RebaseExpected,
    path_problems,
    rewrite_problems,
)
from multi_agent_coder.run.session import Session, backlog_at, macoder_emails
from multi_agent_coder.run.state import entry_hash
from multi_agent_coder.visible import one_line

RebaseStatus = Literal["published", "recorded", "refused", "nothing"]
#: How much of the hand-off's `why` the PR shows.
SHOWN_WHY: Final = 300


@dataclass(frozen=True, slots=True)
class RebasePublished:
    """What became of a rewrite's hand-off."""

    task_id: str
    status: RebaseStatus
    reason: str
    pr: PrResult | None = None


def publish_rebase(
    session: Session,
    task_id: str,
    *,
    run_id: str,
    base_sha: str,
    directory: Path,
) -> RebasePublished:
    """Check `task_id`'s rewrite hand-off in `directory/rebase-<id>/`, open (or update) its
    one rewrite PR and record the try; see the module's docstring."""
    task_id = validate_task_id(task_id)
    settings = session.settings
    expected = RebaseExpected(
        task_id=task_id,
        run_id=run_id,
        base_sha=base_sha,
        ref=ref_for_rebase(task_id),
        emails=macoder_emails(settings),
        backlog_path=PurePosixPath(settings.backlog).as_posix(),
    )
    return publish_one(session, _Rewrite(session, expected, directory))


@dataclass(slots=True)
class _Rewrite:
    """A rewrite's part of the publish skeleton (`run/handoff_publish.py`): its rules, its
    branch and PR, and the ledger's `Rewrite` of every try — a refused one too, once the
    hand-off is read and names this task's entry (`handoff`, `entry`: as far as it got)."""

    session: Session
    expected: RebaseExpected
    directory: Path
    handoff: RebaseHandoff | None = None
    #: The hash of the task's entry at the base, once the hand-off names this task, run, base.
    entry: str = ""

    job: ClassVar[str] = "rebase"
    branch_of: ClassVar[str] = "rewrite"

    def read(self) -> RebaseHandoff | None:
        self.handoff = read_rebase_handoff(self.directory, self.expected.task_id)
        return self.handoff

    def publish(self, handoff: RebaseHandoff) -> RebasePublished:
        session, task_id = self.session, self.expected.task_id
        self.entry = _check_result(session, handoff, self.expected)
        if handoff.head_sha is None or handoff.outcome != "proposed":
            _record(
                session,
                handoff,
                outcome=handoff.outcome,
                reason=handoff.reason,
                entry=self.entry,
                pr=None,
            )
            return RebasePublished(
                task_id, "recorded", f"no rewrite was proposed ({handoff.outcome})"
            )
        pr = _publish(session, handoff, handoff.head_sha, self.expected, self.directory)
        _record(
            session,
            handoff,
            outcome="proposed",
            reason=one_line(handoff.why),
            entry=self.entry,
            pr=pr.number,
        )
        return RebasePublished(task_id, "published", "", pr)

    def result(self, status: Literal["nothing", "refused"], reason: str) -> RebasePublished:
        return RebasePublished(self.expected.task_id, status, reason)

    def refused(self, why: str) -> RebasePublished:
        """A refusal, recorded as an `invalid` try when the hand-off named this task's
        entry."""
        handoff = self.handoff
        task_id = handoff.task if handoff is not None else ""
        if handoff is not None and self.entry:
            try:
                _record(
                    self.session,
                    handoff,
                    outcome="invalid",
                    reason=why[:2000],
                    entry=self.entry,
                    pr=None,
                )
            except MacoderError as exc:  # the refusal stands; the record is a courtesy
                why += f" (not recorded: {exc})"
        return RebasePublished(task_id, "refused", why)

    def open_pr(self, github: GitHubForge) -> PullRequest | None:
        return github.find_open_pr(self.expected.task_id, kind="rebase")


def _check_result(session: Session, handoff: RebaseHandoff, expected: RebaseExpected) -> str:
    """The hand-off names this task, run and base, on the default branch; the hash of the
    task's entry at the base (what the `Rewrite` record names)."""
    check_result(
        session,
        RESULT_FILE,
        (
            ("task", handoff.task, expected.task_id),
            ("run", handoff.run_id, expected.run_id),
            ("base", handoff.base_sha, expected.base_sha),
        ),
        expected.base_sha,
    )
    settings = session.settings
    backlog = backlog_at(session.repo, expected.base_sha, settings.backlog, settings.max_file_bytes)
    index = backlog.task_index().get(expected.task_id)
    if index is None:
        raise Refused([f"{expected.task_id} is no task of {settings.backlog} at the base"])
    return entry_hash(backlog.tasks[index])


def _publish(
    session: Session,
    handoff: RebaseHandoff,
    head: str,
    expected: RebaseExpected,
    directory: Path,
) -> PrResult:
    """The bundle, its commit and its change checked (`fetch_backlog_change`); the branch
    pushed; the PR opened."""
    repo, forge = session.repo, session.forge
    path = directory / folder_name(expected.task_id) / BUNDLE_FILE
    change = fetch_backlog_change(
        session,
        path,
        expected,
        head,
        max_bytes=MAX_REBASE_BUNDLE_BYTES,
        path_problems=path_problems,
    )
    before, after = change.before, change.after
    task, problems = rewrite_problems(before, after, expected, change.checks)
    if problems or task is None or before is None or after is None:
        raise Refused(problems)
    branch = rebase_branch_for(expected.task_id)
    published = forge.publish_branch(branch, head)  # signed: GitHub's copy
    diff = backlog_diff(before, after, expected.backlog_path)
    why = one_line(handoff.why)[:SHOWN_WHY]
    return forge.create_or_update_pr(
        WantedPr(
            task_id=expected.task_id,
            branch=branch,
            base=repo.default_branch(),
            head_sha=published,
            title=pr_title(expected.task_id, task.title),
            body=pr_body(expected.task_id, why, diff, one_line(handoff.model), handoff.rounds),
            draft=False,
            labels=(LABEL, LABEL_REBASE),
            kind="rebase",
        )
    )


def _record(
    session: Session,
    handoff: RebaseHandoff,
    *,
    outcome: str,
    reason: str,
    entry: str,
    pr: int | None,
) -> None:
    """The try, in the ledger: `macoder run` does not rewrite the same entry again."""
    record = Rewrite(
        handoff.task, handoff.run_id, outcome, reason, entry, pr, handoff.model, session.clock()
    )
    session.ledger().append(record)
