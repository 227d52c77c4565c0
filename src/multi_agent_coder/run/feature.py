"""The Action's `plan-feature` job: a feature's context becomes a plan and tasks, handed off.

`macoder plan` and `macoder generate` in one job, with no GitHub token of any kind (DESIGN
§9: the job runs agents, so it may hold only the model key, and that outside the agents'
sandbox): the three planning agents write the track's SPEC.md, ARCH.md and QA.md and the
structured merge makes PLAN.md; the generator turns PLAN.md into tasks checked as `macoder
check` checks them (repair rounds included). Everything happens on the planned base — the
default branch's head as checked out — in a scratch directory, never in the checkout:

- the feature context is read from the base commit (the file the dispatch named, as it is on
  the default branch), bounded like `macoder plan` bounds it;
- a track whose PLAN.md the base already has is refused before any model is asked: planning
  it again would append a second set of tasks for the same feature (a re-run before the plan's
  PR is merged is fine: the base does not have it yet, and the one PR is replaced);
- the result is one commit of macoder's on the base holding exactly the track's four files and
  the backlog with the new tasks appended, built from objects (no working tree, no hook);
- that commit goes into a git bundle and `feature.json` under `<directory>/plan-<track>/`,
  which the workflow uploads for the `publish-feature` job (`run/feature_publish.py`), which
  checks it by `run/feature_rules.py` before it pushes or opens anything.

Nothing is handed off when planning or generation fails: the job fails, naming why.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from multi_agent_coder.atomicfile import write_atomically
from multi_agent_coder.backlog.rules import check_rules
from multi_agent_coder.context.hygiene import hygiene_check
from multi_agent_coder.errors import PlanningError, ProblemsFound, UnreadableFileError, UsageError
from multi_agent_coder.forge.handoff import REF_PREFIX, read_result
from multi_agent_coder.git import bundle
from multi_agent_coder.ids import TRACK_PATTERN, validate_track
from multi_agent_coder.limits import MAX_FEATURE_CONTEXT_BYTES
from multi_agent_coder.planning.merge import PLAN_FILE
from multi_agent_coder.run.generate import GenerateReport, GenerateRequest, generate
from multi_agent_coder.run.planning import Plan, plan_feature
from multi_agent_coder.run.session import Session

RESULT_FILE: Final = "feature.json"
BUNDLE_FILE: Final = "feature.bundle"
#: A result file larger than this is not one macoder wrote.
MAX_RESULT_BYTES: Final = 64 * 1024
_SHA: Final = r"^[0-9a-f]{40}([0-9a-f]{24})?$"


class FeatureHandoff(BaseModel):
    """`feature.json`: the one commit the publish-feature job is asked to open a PR for."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: Literal[1] = 1
    track: str = Field(pattern=TRACK_PATTERN)
    run_id: str = Field(max_length=200)
    base_sha: str = Field(pattern=_SHA)
    head_sha: str = Field(pattern=_SHA)
    #: The feature context's path in the repository, as the dispatch named it.
    context: str = Field(max_length=1024)


@dataclass(frozen=True, slots=True)
class FeatureRequest:
    """What the dispatch asked for, and where the hand-off goes."""

    #: The feature context: a path in the repository (read at the base commit).
    context: str
    track: str
    run_id: str
    #: The hand-off directory (the workflow uploads it); the plan's lies in `plan-<track>/`.
    directory: Path


@dataclass(frozen=True, slots=True)
class FeaturePlanned:
    """What the job planned and handed off."""

    track: str
    base_sha: str
    head_sha: str
    added: tuple[str, ...]
    files: tuple[str, ...]
    plan: Plan
    generated: GenerateReport


def folder_name(track: str) -> str:
    """The hand-off's folder (and the artifact's part of the name): `plan-<track>`."""
    return "plan-" + validate_track(track)


def ref_for_track(track: str) -> str:
    """The one ref a plan's bundle carries: `refs/macoder/handoff/plan-<track>`, never a
    branch (a task's is `refs/macoder/handoff/<id>`; an id never starts lowercase)."""
    return REF_PREFIX + folder_name(track)


def plan_and_hand_off(
    session: Session,
    request: FeatureRequest,
    *,
    on_event: Callable[[str], None] = lambda message: None,
) -> FeaturePlanned:
    """Plan the feature, generate its tasks, commit both on the base and hand them off (see
    the module's docstring). Raises `UsageError` for what stops it before a model is asked,
    `PlanningError` when the planning agents fail, `ProblemsFound` when the generated tasks
    still break a rule after the repair rounds."""
    settings = session.settings
    repo = session.repo
    track = validate_track(request.track)
    branch = repo.default_branch()
    base = repo.branch_head(branch)
    if base is None:
        raise UsageError(f"branch {branch} has no commits yet: nothing to plan on")
    track_dir = PurePosixPath(settings.specs_dir) / track
    plan_path = (track_dir / PLAN_FILE).as_posix()
    if repo.file_at(base, plan_path) is not None:
        raise UsageError(
            f"track {track!r} is planned already: {plan_path} is on {branch} at {base[:10]}. "
            "Planning it again would add a second set of tasks for the same feature; pick a "
            "new track name, or remove the track's files from the default branch first"
        )
    context = read_context(session, base, request.context)
    backlog = settings.backlog
    before = repo.file_at(base, backlog, max_bytes=settings.max_file_bytes)
    if before is None:
        raise UsageError(
            f"{backlog}: not in commit {base[:10]}; commit a backlog first "
            "(`macoder init` writes one), the plan's tasks are appended to it"
        )
    checks = (check_rules, hygiene_check(settings.context_settings()))
    with tempfile.TemporaryDirectory(prefix="macoder-plan-feature-") as scratch:
        work = Path(scratch)
        specs = work / track_dir
        on_event(f"planning {track} from {request.context} at {base[:10]}")
        plan = plan_feature(
            session,
            context,
            track,
            directory=specs,
            shown=track_dir.as_posix(),
            on_role=lambda role, what: on_event(f"planning agent {role}: {what}"),
        )
        if plan.problems:
            # Debris in the specs would reach every agent that reads them: nothing is handed
            # off (locally the files stay for a person to clean; a CI job has no person).
            raise ProblemsFound(
                list(plan.problems),
                f"the planning agents wrote planning debris into {track_dir.as_posix()}/ "
                f"({len(plan.problems)} problem(s) above); nothing was handed off",
            )
        scratch_backlog = work / "backlog" / PurePosixPath(backlog).name
        scratch_backlog.parent.mkdir()
        scratch_backlog.write_bytes(before)
        generated = generate(
            session,
            GenerateRequest(
                plan=specs / PLAN_FILE,
                plan_display=plan_path,
                backlog=scratch_backlog,
                backlog_display=backlog,
                checks=checks,
                dry_run=True,  # the new backlog goes into the commit, not onto a disk
            ),
            on_event=on_event,
        )
        after = _generated_backlog(generated)
        files = {(track_dir / name).as_posix(): (specs / name).read_bytes() for name in plan.files}
    files[backlog] = after
    ref = ref_for_track(track)
    head = repo.commit_files(
        base,
        files,
        f"Plan {track}: {len(generated.added)} new tasks\n\n"
        f"From {request.context}; specs in {track_dir.as_posix()}/, tasks "
        f"{', '.join(generated.added)} appended to {backlog}.",
        session.author,
        ref=ref,
    )
    folder = request.directory / folder_name(track)
    folder.mkdir(parents=True, exist_ok=True)
    bundle.create(repo.root, folder / BUNDLE_FILE, ref, base)
    handoff = FeatureHandoff(
        track=track, run_id=request.run_id, base_sha=base, head_sha=head, context=request.context
    )
    write_atomically(folder / RESULT_FILE, handoff.model_dump_json(indent=1))
    return FeaturePlanned(
        track, base, head, tuple(generated.added), tuple(sorted(files)), plan, generated
    )


def read_context(session: Session, base: str, path: str) -> str:
    """The feature context at `path` in commit `base`: a regular file (no link), at most
    `MAX_FEATURE_CONTEXT_BYTES`, UTF-8, not empty — as `macoder plan` reads its file."""
    try:
        raw = session.repo.file_at(base, path, max_bytes=MAX_FEATURE_CONTEXT_BYTES)
    except UnreadableFileError as exc:
        raise UsageError(f"input 'context': {exc}") from None
    if raw is None:
        raise UsageError(
            f"input 'context': {path} is not a file in commit {base[:10]} of the default "
            "branch; commit the feature's context there first"
        )
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise UsageError(f"input 'context': {path}: not UTF-8 text ({exc.reason})") from None
    if not text:
        raise UsageError(f"input 'context': {path}: the feature context is empty")
    return text


def read_feature_handoff(directory: Path, track: str) -> FeatureHandoff | None:
    """The plan's hand-off in `directory/plan-<track>/` (None when there is none);
    `HandoffError` when it is too large or not macoder's."""
    folder = directory / folder_name(track)
    return read_result(folder, RESULT_FILE, FeatureHandoff, max_bytes=MAX_RESULT_BYTES)


def _generated_backlog(report: GenerateReport) -> bytes:
    """The backlog with the generated tasks appended, or why there is none."""
    if report.failure:
        raise PlanningError([f"generating the tasks: {report.failure}", "nothing was handed off"])
    verdict = report.verdict
    if not report.ok or verdict is None or verdict.appended is None:
        raise ProblemsFound(
            report.problems,
            f"the generated tasks still have problems after {len(report.rounds)} round(s); "
            "nothing was handed off",
        )
    return verdict.appended.raw
