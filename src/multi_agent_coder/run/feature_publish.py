"""The Action's `publish-feature` job: a plan-feature job's hand-off becomes one pull request.

This job holds the write token and runs no agent, no repository code and no npm. It:

1. reads `feature.json` (bounded, strictly typed) and checks it names this track, this
   workflow run, this feature context and the planned base — a commit of the default branch;
2. reads the bundle's header without git and checks it carries exactly
   `refs/macoder/handoff/plan-<track>` at the announced head on exactly the planned base;
   then git verifies and fetches it;
3. checks the commit and its change by `run/feature_rules.py` (one commit of macoder's; only
   `<specs_dir>/<track>/**` and the backlog; the backlog only by new pending tasks appended,
   the whole file passing `macoder check` with the repository's own settings as the default
   branch has them);
4. pushes `macoder/plan-<track>` with a lease on the inspected remote commit — never over a
   person's commits (they edited the plan on its PR: nothing is pushed, the PR is labelled
   `macoder:needs-review`, and the refusal says so) — and opens the branch's one pull request,
   or updates the one open already (a re-run replaces the plan: never a second PR).

The pull request's title and body are this job's own words, built from what it verified (the
files, the new tasks' ids and titles as the backlog now reads), not taken from the hand-off.
There is no ledger record: a plan is no task, and its PR, once merged, is the backlog change
that starts the next wave. The steps, and how an error becomes a refusal, are the skeleton a
rewrite's publish job shares (`run/handoff_publish.py`); this module is a plan's part of it
(`_Plan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar, Final, Literal

from multi_agent_coder.backlog.model import Task
from multi_agent_coder.forge.base import LABEL, PrResult, PullRequest
from multi_agent_coder.forge.github import GitHubForge
from multi_agent_coder.ids import plan_branch_for, validate_track
from multi_agent_coder.run.feature import (
    BUNDLE_FILE,
    RESULT_FILE,
    FeatureHandoff,
    folder_name,
    read_feature_handoff,
    ref_for_track,
)
from multi_agent_coder.run.feature_rules import (
    MAX_FEATURE_BUNDLE_BYTES,
    FeatureExpected,
    appended_tasks,
    path_problems,
)
from multi_agent_coder.run.handoff_files import Refused
from multi_agent_coder.run.handoff_publish import check_result, fetch_backlog_change, publish_one
from multi_agent_coder.run.session import Session, macoder_emails

#: On a plan's pull request, beside `macoder`: a feature's specs and tasks for a person to
#: review and merge (no task runs until it is merged).
LABEL_PLAN: Final = "macoder:plan"

FeatureStatus = Literal["published", "refused", "nothing"]


@dataclass(frozen=True, slots=True)
class FeaturePublished:
    """What became of a plan's hand-off."""

    track: str
    status: FeatureStatus
    reason: str
    pr: PrResult | None = None
    added: tuple[str, ...] = ()


def publish_feature(
    session: Session,
    track: str,
    *,
    run_id: str,
    base_sha: str,
    context: str,
    directory: Path,
    run_url: str = "",
) -> FeaturePublished:
    """Check the hand-off of `track` in `directory/plan-<track>/` and open (or update) its one
    pull request; see the module's docstring. `run_url`: the workflow run, named in the PR."""
    track = validate_track(track)
    settings = session.settings
    expected = FeatureExpected(
        track=track,
        run_id=run_id,
        base_sha=base_sha,
        ref=ref_for_track(track),
        emails=macoder_emails(settings),
        specs_dir=PurePosixPath(settings.specs_dir).as_posix(),
        backlog_path=PurePosixPath(settings.backlog).as_posix(),
    )
    return publish_one(session, _Plan(session, expected, context, directory, run_url))


@dataclass(frozen=True, slots=True)
class _Plan:
    """A plan's part of the publish skeleton (`run/handoff_publish.py`): its rules, its
    branch and its pull request; a refused plan is only said (a plan is no task: no record)."""

    session: Session
    expected: FeatureExpected
    context: str
    directory: Path
    run_url: str

    job: ClassVar[str] = "plan-feature"
    branch_of: ClassVar[str] = "plan"

    def read(self) -> FeatureHandoff | None:
        return read_feature_handoff(self.directory, self.expected.track)

    def publish(self, handoff: FeatureHandoff) -> FeaturePublished:
        session, expected, track = self.session, self.expected, self.expected.track
        check_result(
            session,
            RESULT_FILE,
            (
                ("track", handoff.track, expected.track),
                ("run", handoff.run_id, expected.run_id),
                ("base", handoff.base_sha, expected.base_sha),
                ("context", handoff.context, self.context),
            ),
            expected.base_sha,
        )
        added = _check_commit(session, handoff.head_sha, expected, self.directory)
        branch = plan_branch_for(track)
        github = _github(session)
        published = github.publish_branch(branch, handoff.head_sha)  # signed: GitHub's copy
        pr = github.create_or_update_branch_pr(
            branch=branch,
            base=session.repo.default_branch(),
            head_sha=published,
            title=f"macoder plan: {track} ({len(added)} new task{'s' if len(added) != 1 else ''})",
            body=pr_body(expected, self.context, added, run_url=self.run_url),
            labels=(LABEL, LABEL_PLAN),
        )
        return FeaturePublished(track, "published", "", pr, tuple(t.id for t in added))

    def result(self, status: Literal["nothing", "refused"], reason: str) -> FeaturePublished:
        return FeaturePublished(self.expected.track, status, reason)

    def refused(self, why: str) -> FeaturePublished:
        return self.result("refused", why)

    def open_pr(self, github: GitHubForge) -> PullRequest | None:
        return github.find_open_branch_pr(plan_branch_for(self.expected.track))


def pr_body(
    expected: FeatureExpected, context: str, added: list[Task], *, run_url: str = ""
) -> str:
    """The plan's PR, in the publish job's own words: what it is, what merging it does."""
    track_dir = expected.track_dir
    started = f" ([workflow run]({run_url}))" if run_url else ""
    tasks = "\n".join(f"- **{t.id}** {t.title}" for t in added)
    return (
        f"## macoder plan: {expected.track}\n\n"
        f"macoder's `plan-feature`{started} planned this feature from `{context}` at "
        f"{expected.base_sha[:10]}: three planning agents (spec, architecture, QA) wrote "
        f"`{track_dir}/`, the structured merge made `{track_dir}/PLAN.md`, and the generator "
        f"appended {len(added)} task{'s' if len(added) != 1 else ''} to "
        f"`{expected.backlog_path}`, checked as `macoder check` checks it.\n\n"
        f"### New tasks\n\n{tasks}\n\n"
        "### What to do\n\n"
        "This is a plan for a person to review and merge; nothing runs before it is merged.\n\n"
        f"- **Merge** it and the new tasks are on the default branch: the next wave starts "
        "as usual, one pull request per ready task.\n"
        "- **Edit** the specs or the tasks on this branch first if you like: macoder never "
        "pushes over your commits (a new plan for this track then stops and says so).\n"
        "- **Plan again** by starting the workflow again with the same track: this pull "
        "request is updated in place, never a second one.\n"
        "- **Close** it to drop the plan.\n"
    )


def _github(session: Session) -> GitHubForge:
    forge = session.forge
    if not isinstance(forge, GitHubForge):
        raise Refused([f"a plan's pull request is opened on GitHub, not on {forge.name}"])
    return forge


def _check_commit(
    session: Session, head: str, expected: FeatureExpected, directory: Path
) -> list[Task]:
    """The bundle, its commit and its change (`fetch_backlog_change`); the tasks the plan
    appends."""
    path = directory / folder_name(expected.track) / BUNDLE_FILE
    change = fetch_backlog_change(
        session,
        path,
        expected,
        head,
        max_bytes=MAX_FEATURE_BUNDLE_BYTES,
        path_problems=path_problems,
    )
    added, problems = appended_tasks(
        change.before, change.after, expected.backlog_path, change.checks
    )
    if problems:
        raise Refused(problems)
    return added
