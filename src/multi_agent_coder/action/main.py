"""The entry `action.yml` calls: `python -m multi_agent_coder.action [opencode-cache |
install-opencode | run]`.

It reads the inputs into an `ActionInputs` (`inputs.py`), then calls the same core the CLI
calls; it decides nothing about tasks on its own:

- `check`: the backlog checks of `macoder check`, printed as workflow annotations (GitHub
  shows them on the file's lines) and as a markdown table in the job summary;
- `plan`: the ready set as a JSON list in the `ready` output, for a matrix of `task` jobs —
  read-only: backlog on the default branch, the run ledger, the open pull requests;
- `health`: the repository's checks on the planned base, once for the wave, in a job that
  holds no write token (they run the repository's code); the task jobs trust its verdict;
- `task` / `run`: the orchestrator with the GitHub forge and the OpenCode agent, restricted
  to one task (`task`) or over every ready task (`run`), then the PR outputs and a job summary;
- `plan-feature`: `macoder plan` and `macoder generate` for one feature, in a job with no
  token at all, handed off as one commit (`run/feature.py`);
- `publish-feature`: that hand-off checked, then the plan's one pull request opened or
  updated (`run/feature_publish.py`);
- `rebase`: `macoder rebase` for one task in a job with a read-only token, its rewrite
  handed off as one commit (`run/rebase_handoff.py`);
- `publish-rebase`: that hand-off checked, then the task's one rewrite pull request opened
  or updated and the try recorded (`run/rebase_publish.py`).

Everything that touches git, GitHub or the agent is the session's (`run/session.py`, the
same one the CLI opens, with the GitHub forge and the ledger shared through the remote); this
module turns inputs into a call and the result into outputs, annotations and a job summary.

Secrets: the token and the OpenCode config are removed from this process's environment as
soon as they are read. Why that matters even though the OpenCode server gets an allowlisted
environment: the target repository's own tests run in the task's worktree with this
process's environment, and by then they include code the agent wrote.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol, TextIO

from multi_agent_coder.action.inputs import (
    ENV_PREFIX,
    ActionInputs,
    InputError,
    RunnerContext,
    read_inputs,
    read_runner,
)
from multi_agent_coder.action.outputs import (
    MATRIX_LIMIT,
    append_summary,
    ready_json,
    render_feature_publish_summary,
    render_feature_summary,
    render_health_summary,
    render_plan_summary,
    render_publish_summary,
    render_run_summary,
    run_outputs,
    write_outputs,
)
from multi_agent_coder.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    ForgeError,
    MacoderError,
    NoBacklogError,
    UnreadableFileError,
)
from multi_agent_coder.report import workflow_command
from multi_agent_coder.visible import visible

if TYPE_CHECKING:
    from multi_agent_coder.action.commands import Command, CommentEvent, Refusal
    from multi_agent_coder.action.feedback import Source
    from multi_agent_coder.backlog.model import Task
    from multi_agent_coder.config import Settings
    from multi_agent_coder.context.review import Feedback
    from multi_agent_coder.run.orchestrator import Orchestrator, RunReport
    from multi_agent_coder.run.session import AgentFactory, HandoffStore, Session, Snapshot
    from multi_agent_coder.run.state import RunState
    from multi_agent_coder.run.task import Phase

STEPS: Final = ("run", "opencode-cache", "install-opencode")

#: Variables that grant access to something; none may reach code the agent wrote.
SECRET_VARIABLES: Final = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
)

#: Under RUNNER_TEMP: the task job's hand-off (see `handoff_dir`).
HANDOFF_DIR: Final = "macoder-handoff"

#: Where `install-opencode` puts OpenCode: `<RUNNER_TEMP>/macoder/.tools/opencode`, the same
#: layout as scripts/opencode.sh, so `find_binary` picks the platform build the same way.
OPENCODE_HOME: Final = "macoder"

#: Under RUNNER_TEMP: npm's cache for the OpenCode install, which action.yml restores and
#: saves with actions/cache (`opencode-cache` names the path and the key).
NPM_CACHE_DIR: Final = "macoder-cache/npm"


@dataclass(frozen=True, slots=True)
class Job:
    """One invocation of the entry: what was asked, where, and where to write."""

    inputs: ActionInputs
    runner: RunnerContext
    environ: Mapping[str, str]
    root: Path
    out: TextIO


# --------------------------------------------------------------------------- the entry


def main(
    argv: Sequence[str] | None = None,
    environ: MutableMapping[str, str] | None = None,
    *,
    root: Path | None = None,
    agent_factory: AgentFactory | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run one step of the action; map every outcome to an exit code (DESIGN §8).

    `environ` defaults to `os.environ` and is where secrets are removed from (so child
    processes do not inherit them); tests pass a dict, with `GITHUB_API_URL` pointing at a
    fake GitHub. `agent_factory` is injectable so the flows run with a scripted agent.
    """
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    out = stdout if stdout is not None else sys.stdout
    args = list(sys.argv[1:] if argv is None else argv)
    step = args[0] if args else "run"
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    if len(args) > 1 or step not in STEPS:
        print(f"usage: python -m multi_agent_coder.action [{' | '.join(STEPS)}]", file=sys.stderr)
        return EXIT_USAGE
    runner: RunnerContext | None = None
    try:
        runner = read_runner(env)
        inputs = read_inputs(env)
        scrub_secrets(env)
        if in_actions and inputs.github_token:
            mask_token(inputs.github_token, out)
        job = Job(inputs, runner, env, Path.cwd() if root is None else root, out)
        if step == "install-opencode":
            return install_opencode(job)
        if step == "opencode-cache":
            return opencode_cache(job)
        return run_mode(job, agent_factory)
    except MacoderError as exc:
        _report_error(str(exc), out, in_actions=in_actions)
        if runner is not None and step == "run":
            write_outputs(runner.output_file, {"result": "error"})
        return exc.exit_code
    except KeyboardInterrupt:
        print("macoder: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if runner is not None and runner.debug:
            traceback.print_exc()
        _report_error(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "re-run the job with debug logging for a traceback, and please report it",
            out,
            in_actions=in_actions,
        )
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())


def _report_error(message: str, out: TextIO, *, in_actions: bool) -> None:
    """An annotation in Actions (shown on the run page); a plain line anywhere else."""
    if in_actions:
        print(workflow_command("error", message, title="macoder"), file=out, flush=True)
    else:
        print(visible(f"macoder: error: {message}"), file=sys.stderr)


def mask_token(token: str, out: TextIO) -> None:
    """Ask the runner to mask the token in every form git may print it in: as it is, and as
    the base64 of `x-access-token:<token>` that goes into git's Authorization header (the
    runner masks the secret's own value only)."""
    from multi_agent_coder.run.setup import token_forms

    for form in token_forms(token):
        print(f"::add-mask::{form}", file=out, flush=True)


def scrub_secrets(environ: MutableMapping[str, str]) -> None:
    """Drop every action input (the token and the OpenCode config among them) and every
    token-bearing variable: the values live on in `ActionInputs`, not in the environment."""
    for name in list(environ):
        if name.startswith(ENV_PREFIX) or name in SECRET_VARIABLES:
            del environ[name]


# --------------------------------------------------------------------------- modes


def run_mode(job: Job, agent_factory: AgentFactory | None = None) -> int:
    """The `run` step: settings from the checkout plus the inputs, then the mode."""
    from multi_agent_coder.config import load_settings
    from multi_agent_coder.run.session import open_github

    inputs, runner = job.inputs, job.runner
    settings = with_inputs(load_settings(job.root, job.environ), inputs)
    if inputs.mode == "check":
        return check(job, settings)
    if inputs.mode == "health":
        return health(job, settings)
    if inputs.mode == "plan-feature":
        return plan_feature(job, settings, agent_factory)
    handoff = _handoff_store(job) if inputs.mode == "task" and not inputs.dry_run else None
    session = open_github(
        job.root,
        settings,
        slug=runner.require_repository(),
        token=inputs.require_token(),
        api_url=runner.api_url,
        git_remote_url=runner.git_remote_url,
        python=runner_python(inputs, job.environ),
        agent_factory=agent_factory,
        handoff=handoff,
    )
    with session:
        if inputs.mode == "plan":
            return plan(job, session)
        if inputs.mode == "publish":
            return publish(job, session)
        if inputs.mode == "publish-feature":
            return publish_feature(job, session)
        if inputs.mode == "publish-rebase":
            return publish_rebase(job, session)
        with _opencode_config_file(inputs, runner) as config_path:
            session.settings = with_inputs(
                settings, inputs, opencode_config=config_path, opencode_bin=runner.opencode_bin
            )
            if inputs.mode == "rebase":
                return rebase_task(job, session)
            if handoff is not None:
                return hand_off_task(job, session)
            return run_tasks(job, session)


def check(job: Job, settings: Settings) -> int:
    """`macoder check --format github` on the checked-out backlog, plus the markdown summary.
    No backlog: a warning and nothing to check, as `macoder check` says too."""
    from multi_agent_coder.backlog.load import load_file
    from multi_agent_coder.backlog.rules import check_rules
    from multi_agent_coder.context.hygiene import hygiene_check
    from multi_agent_coder.report import FileReport, render_github, render_markdown

    path = job.root / settings.backlog
    checks = (check_rules, hygiene_check(settings.context_settings()))
    try:
        result = load_file(path, settings.backlog, checks, max_bytes=settings.max_file_bytes)
    except UnreadableFileError as exc:
        if not exc.missing:  # a FIFO, a device, a symlink out of the checkout: an error
            raise
        return _no_backlog(job, f"{settings.backlog}: no such file in the checkout")
    tasks = len(result.backlog.tasks) if result.backlog is not None else None
    reports = [FileReport(result.path, result.problems, tasks)]
    job.out.write(render_github(reports))
    job.out.flush()
    append_summary(job.runner.summary_file, render_markdown(reports))
    failed = any(report.errors for report in reports)
    write_outputs(job.runner.output_file, {"result": "problems" if failed else "ok"})
    return EXIT_PROBLEMS if failed else EXIT_OK


def health(job: Job, settings: Settings) -> int:
    """The wave's health job: the repository's checks on the planned base (`base-sha`), as
    a run makes them before its tasks start, once for every task job of the wave. Outputs
    `healthy-sha` (the task jobs' input: they skip their own check for that commit) or
    `unhealthy-sha` (the publish jobs' input: each records why its task did not run); exit 1
    when the checks fail, so the task jobs, which need this job, do not start. No token, no
    forge: this job runs the repository's code, so it holds nothing that could write."""
    from multi_agent_coder.run.session import check_commit
    from multi_agent_coder.run.setup import allow_sandbox

    inputs, runner, out = job.inputs, job.runner, job.out
    sha = inputs.base_sha
    if sha is None:  # read_inputs requires it with this mode
        raise InputError("input 'base-sha': required with mode 'health'")
    if settings.sandbox:
        print(allow_sandbox(), file=out, flush=True)
    report = check_commit(
        job.root, settings, sha, python=runner_python(inputs, job.environ), environ=job.environ
    )
    described = report.describe(where=f"at {sha} (the planned base)")
    print(visible(described, lines=True), file=out)
    healthy = report.healthy
    write_outputs(
        runner.output_file,
        {
            "healthy-sha": sha if healthy else "",
            "unhealthy-sha": "" if healthy else sha,
            "result": "healthy" if healthy else "unhealthy",
        },
    )
    append_summary(runner.summary_file, render_health_summary(sha, described, healthy=healthy))
    if healthy:
        print(f"health check passed for {sha}: the wave's task jobs trust it", file=out)
    else:
        text = (
            f"the repository's own checks fail at {sha} (the planned base): no task of this "
            "wave starts; each is recorded as not started, and runs once they pass"
        )
        print(workflow_command("error", text, title="macoder health"), file=out)
    out.flush()
    return EXIT_OK if healthy else EXIT_PROBLEMS


def plan_feature(job: Job, settings: Settings, agent_factory: AgentFactory | None) -> int:
    """The plan-feature job: the planning agents and the generator on the checked-out default
    branch, handed off for publish-feature (`run/feature.py`). No token, no forge: the session
    has none to reach (`open_offline`), and the model key reaches the agents only through the
    gateway, as in a task job. Outputs `base-sha` (publish-feature's input), `head-sha`,
    `tasks` (the new ids as JSON) and `result` planned; a failure fails the job, naming why,
    and hands nothing off."""
    from multi_agent_coder.errors import ProblemsFound
    from multi_agent_coder.run.feature import FeatureRequest, plan_and_hand_off
    from multi_agent_coder.run.session import open_offline

    inputs, runner, out = job.inputs, job.runner, job.out
    track, context = inputs.feature()
    request = FeatureRequest(context, track, runner.lease_run_id, handoff_dir(runner))
    why = "the plan-feature job holds no GitHub token; publish-feature does the writing"
    with _opencode_config_file(inputs, runner) as config_path:
        settings = with_inputs(
            settings, inputs, opencode_config=config_path, opencode_bin=runner.opencode_bin
        )
        with open_offline(job.root, settings, why=why, agent_factory=agent_factory) as session:
            try:
                planned = plan_and_hand_off(
                    session,
                    request,
                    on_event=lambda text: print(visible(text), file=out, flush=True),
                )
            except ProblemsFound as exc:
                for problem in exc.problems:
                    print(workflow_command("error", problem.render(), title="macoder"), file=out)
                raise
    write_outputs(
        runner.output_file,
        {
            "base-sha": planned.base_sha,
            "head-sha": planned.head_sha,
            "tasks": ready_json(planned.added),
            "result": "planned",
        },
    )
    append_summary(runner.summary_file, render_feature_summary(planned, context))
    print(
        visible(
            f"planned {track}: {', '.join(planned.added)} on {planned.base_sha[:10]}; "
            "handed off for publish-feature"
        ),
        file=out,
        flush=True,
    )
    return EXIT_OK


def publish_feature(job: Job, session: Session) -> int:
    """The publish-feature job: the plan's hand-off checked, then its branch pushed and its
    one pull request opened or updated (`run/feature_publish.py`). Exit 1 when refused."""
    from multi_agent_coder.run.feature_publish import publish_feature as publish_plan

    inputs, runner, out = job.inputs, job.runner, job.out
    track, context = inputs.feature()
    base_sha = inputs.base_sha
    if base_sha is None:  # read_inputs requires it with this mode
        raise InputError("input 'base-sha': required with mode 'publish-feature'")
    done = publish_plan(
        session,
        track,
        run_id=runner.lease_run_id,
        base_sha=base_sha,
        context=context,
        directory=handoff_dir(runner),
        run_url=runner.run_url,
    )
    pr = done.pr
    write_outputs(
        runner.output_file,
        {
            **pr_outputs(pr),
            "tasks": ready_json(done.added),
            "result": done.status,
        },
    )
    append_summary(runner.summary_file, render_feature_publish_summary(done))
    if done.status == "published" and pr is not None:
        print(visible(f"plan {track}: PR #{pr.number} ({pr.operation})"), file=out)
    else:
        level = "error" if done.status == "refused" else "warning"
        print(workflow_command(level, done.reason, title=f"macoder plan {track}"), file=out)
    out.flush()
    return EXIT_PROBLEMS if done.status == "refused" else EXIT_OK


def rebase_task(job: Job, session: Session) -> int:
    """The rebase job: the rebase model rewrites the task's entry on the checked-out default
    branch, handed off for publish-rebase (`run/rebase_handoff.py`). It reads the ledger and
    the pull requests with the job's read-only token and writes nothing anywhere but the
    hand-off. A task that does not qualify is a notice and `result: nothing`, not a failure:
    nothing is handed off. Outputs `base-sha` (publish-rebase's input), `head-sha` and
    `result` (proposed, failed, invalid, nothing)."""
    from multi_agent_coder.backlog.rules import check_rules
    from multi_agent_coder.context.hygiene import hygiene_check
    from multi_agent_coder.errors import UnknownTaskError, UsageError
    from multi_agent_coder.run.rebase_handoff import RebaseRequest, rebase_and_hand_off

    inputs, runner, out = job.inputs, job.runner, job.out
    task_id = inputs.task_id
    if task_id is None:  # read_inputs requires it with this mode
        raise InputError("input 'task-id': required with mode 'rebase'")
    request = RebaseRequest(task_id, runner.lease_run_id, handoff_dir(runner))
    checks = (check_rules, hygiene_check(session.settings.context_settings()))
    try:
        done = rebase_and_hand_off(
            session,
            request,
            checks,
            on_event=lambda text: print(visible(text), file=out, flush=True),
        )
    except (UsageError, UnknownTaskError) as exc:
        text = f"{task_id} is not rewritten: {exc}"
        print(workflow_command("notice", text, title=f"macoder rebase {task_id}"), file=out)
        write_outputs(runner.output_file, {"base-sha": "", "head-sha": "", "result": "nothing"})
        append_summary(runner.summary_file, f"### macoder rebase {task_id}: nothing\n\n{text}\n")
        return EXIT_OK
    handed = done.handoff
    write_outputs(
        runner.output_file,
        {"base-sha": handed.base_sha, "head-sha": handed.head_sha or "", "result": handed.outcome},
    )
    said = f"{task_id}: {handed.outcome} ({handed.reason})"
    append_summary(runner.summary_file, f"### macoder rebase {task_id}\n\n{said}\n")
    print(visible(f"{said}; handed off for publish-rebase"), file=out, flush=True)
    return EXIT_OK


def publish_rebase(job: Job, session: Session) -> int:
    """The publish-rebase job: the rewrite's hand-off checked, then its branch pushed, its
    one pull request opened or updated, and the try recorded (`run/rebase_publish.py`).
    Exit 1 when refused."""
    from multi_agent_coder.run.rebase_publish import publish_rebase as publish_rewrite

    inputs, runner, out = job.inputs, job.runner, job.out
    task_id, base_sha = inputs.planned()
    done = publish_rewrite(
        session,
        task_id,
        run_id=runner.lease_run_id,
        base_sha=base_sha,
        directory=handoff_dir(runner),
    )
    pr = done.pr
    write_outputs(
        runner.output_file,
        {
            **pr_outputs(pr),
            "result": done.status,
        },
    )
    if done.status == "published" and pr is not None:
        said = f"rewrite of {task_id}: PR #{pr.number} ({pr.operation})"
        print(visible(said), file=out)
    else:
        said = done.reason
        level = "error" if done.status == "refused" else "notice"
        print(workflow_command(level, said, title=f"macoder rebase {task_id}"), file=out)
    append_summary(runner.summary_file, f"### macoder publish-rebase {task_id}\n\n{said}\n")
    out.flush()
    return EXIT_PROBLEMS if done.status == "refused" else EXIT_OK


def plan(job: Job, session: Session) -> int:
    """The ready set for a matrix, each task leased for this workflow run's jobs (the plan
    job runs no agent, so the leases are taken where no agent can touch the token). With
    `task-id`, only that task, if it is ready; with `dry-run`, nothing is leased. Started by
    a comment, the plan answers its `/macoder` command instead (`answer_command`)."""
    if job.runner.event_name == "issue_comment":
        return answer_command(job, session)
    if job.runner.event_name == "pull_request_review":
        return answer_review(job, session)
    inputs = job.inputs
    only = frozenset({inputs.task_id}) if inputs.task_id is not None else None
    try:
        snapshot, _ = lease_ready(job, session, only, rewrite=True)
    except NoBacklogError as exc:
        return _no_backlog(job, str(exc), ready="[]")
    append_summary(job.runner.summary_file, metrics_summary(snapshot, session.clock()))
    return EXIT_OK


def metrics_summary(snapshot: Snapshot, now: float) -> str:
    """`macoder report --format markdown` of the ledger as the plan read it, before this
    wave's leases: every attempt of every earlier run, whatever `task-id` the plan was
    given. Once per wave, in the one job that reads the whole ledger anyway."""
    from multi_agent_coder.run.metrics import build_report
    from multi_agent_coder.run.metrics_render import render_markdown

    return render_markdown(
        build_report(snapshot.records, now),
        heading="### macoder metrics (the ledger before this wave)",
    )


def lease_ready(
    job: Job,
    session: Session,
    only: frozenset[str] | None,
    retry: frozenset[str] = frozenset(),
    *,
    rewrite: bool = False,
) -> tuple[Snapshot, list[Task]]:
    """Plan (see `plan`): the snapshot planned on and the tasks leased, with the outputs,
    the job summary and the log written. `retry`: tasks a person asked for again (a
    revision of an open PR), ready despite their open PR. `rewrite`: the wave's plan, where
    `rebase.automatic` starts the rewrites of failing tasks (`start_rewrites`) instead of
    their next attempts."""
    inputs, runner = job.inputs, job.runner
    if not inputs.dry_run:
        delete_merged_branches(job, session)
    snapshot = session.snapshot(only=only, retry=retry)
    if not inputs.dry_run:  # the answers people gave to PRs, kept with the entry's hash
        snapshot = replace(snapshot, records=session.record_answers(snapshot))
        records = session.take_retry_labels(snapshot, run_id=runner.lease_run_id)
        if len(records) > len(snapshot.records):  # a label asked again: a fresh budget
            snapshot = session.snapshot(records=records, prs=snapshot.prs, only=only, retry=retry)
    rewrites: list[str] = []
    if rewrite and session.settings.rebase.automatic and not inputs.dry_run:
        rewrites = start_rewrites(job, session, snapshot)
        if rewrites:
            # Leased for their rewrites now: not started as tasks. Only the ledger changed:
            # the branch and the pull requests are those just read.
            snapshot = session.snapshot(
                head=snapshot.head, prs=snapshot.prs, only=only, retry=retry
            )
    state = snapshot.state
    answered = held_for_a_person(state)
    ready = list(state.ready)
    held_back = max(0, len(ready) - MATRIX_LIMIT)
    ready = ready[:MATRIX_LIMIT]
    if ready and not inputs.dry_run:
        leased = set(
            session.lease(
                [t.id for t in ready],
                run_id=runner.lease_run_id,
                holder=f"github-actions:{runner.run_id}",
            )
        )
        ready = [t for t in ready if t.id in leased]
        session.show_running(
            [t.id for t in ready], snapshot, run_id=runner.lease_run_id, where=runner.run_url
        )
    write_outputs(
        runner.output_file,
        {
            "ready": ready_json(t.id for t in ready),
            "base-sha": snapshot.sha,
            "result": "ready" if ready else "nothing-ready",
            "rewrites": ready_json(rewrites),
        },
    )
    note = state.note
    append_summary(
        runner.summary_file,
        render_plan_summary(ready, note=note, held_back=held_back, answered=answered),
    )
    print("ready: " + (", ".join(t.id for t in ready) or "none"), file=job.out)
    for task_id, label, why in answered:
        print(visible(f"{task_id}: {label}: {why}"), file=job.out)
    if note:  # one line (`visible`): a line break could start a workflow command
        print(visible(note), file=job.out)
    return snapshot, ready


def start_rewrites(job: Job, session: Session, snapshot: Snapshot) -> list[str]:
    """`rebase.automatic`: the tasks whose attempts call for a rewrite of their entry (and
    have none tried for it) get one, each as a workflow run of its own (`rebase: <id>`, the
    manual path: this job runs no agent); the ids started. A task that is not started (no
    workflow file known, GitHub refused) runs as usual, with a warning."""
    from multi_agent_coder.run.rebase import candidates
    from multi_agent_coder.run.state import Standing

    runner, out = job.runner, job.out
    eligible = [
        v.task_id
        for v in snapshot.state.views
        if v.standing in (Standing.READY, Standing.EXHAUSTED)
    ]
    found = candidates(session, snapshot, eligible)
    if not found:
        return []
    workflow = runner.workflow_file
    if workflow is None:
        note = "GITHUB_WORKFLOW_REF names no workflow file: no rewrite was started"
        print(workflow_command("warning", note, title="macoder rebase"), file=out)
        return []
    try:
        started = session.start_rewrites(
            workflow,
            [c.task_id for c in found],
            run_id=runner.lease_run_id,
            holder=f"github-actions:{runner.run_id}",
        )
    except MacoderError as exc:
        note = f"no rewrite was started: {exc}"
        print(workflow_command("warning", note, title="macoder rebase"), file=out)
        return []
    for candidate in found:
        if candidate.task_id in started:
            print(
                visible(
                    f"{candidate.task_id}: {candidate.why}; its rewrite is started "
                    f"({workflow}, rebase: {candidate.task_id})"
                ),
                file=out,
            )
    return started


def answer_command(job: Job, session: Session) -> int:
    """A comment started the workflow: carry out its `/macoder` command (see `commands`) —
    👀 on receipt, then 🚀 and a reply saying what was done, or 😕 and a reply saying why
    not. A comment that is no command does nothing. The reply is built from macoder's own
    sentences and validated task ids: no word of the comment is echoed, run or stored."""
    from multi_agent_coder.action.commands import comment_event, parse

    idle = "not a /macoder command"
    event = comment_event(_read_event(job.runner))
    if event is None:
        return _answer(job, session, None, None, idle=idle)
    return _answer(
        job,
        session,
        event.number,
        parse(event),
        idle=idle,
        carry_out=lambda asked: _carry_out_command(job, session, asked, event),
        comment_id=event.comment_id,
    )


def _carry_out_command(
    job: Job, session: Session, asked: Command, event: CommentEvent
) -> tuple[bool, str]:
    """(done, the reply) for a permitted command in the comment of `event`."""
    number, comment_id = event.number, event.comment_id
    from multi_agent_coder.action.feedback import Source
    from multi_agent_coder.action.outputs import render_status

    if asked.verb == "status":
        _nothing_planned(job)
        return True, "macoder status:\n\n" + render_status(session.snapshot().state)
    if asked.verb == "fix":
        return start_revision(job, session, number, Source("comment", comment_id))
    task_id = asked.task_id or ""
    known = {t.id for t in session.head().backlog.tasks}
    if task_id not in known:
        _nothing_planned(job)
        return False, f"macoder: {task_id} is not a task of {session.settings.backlog}."
    if asked.verb == "retry" and not job.inputs.dry_run:
        session.ask_again([task_id], run_id=job.runner.lease_run_id)
    snapshot, ready = lease_ready(job, session, frozenset({task_id}))
    if ready:
        attempt = snapshot.state.view(task_id).attempts + 1
        return True, f"macoder: {task_id} starts, attempt {attempt}: {job.runner.run_url}"
    view = snapshot.state.view(task_id)
    why = view.detail(snapshot.state.max_attempts)
    return False, f"macoder: {task_id} does not start: {view.label}, {why}."


def answer_review(job: Job, session: Session) -> int:
    """A review was submitted: one asking for changes on a task's PR, by a person who may
    command macoder, starts a revision (`start_revision`); anyone else's gets a reply saying
    why not; any other review (an approval, a comment, another PR) does nothing."""
    from multi_agent_coder.action.commands import parse_review, review_event
    from multi_agent_coder.action.feedback import Source

    idle = "not a review asking for changes on a task's PR"
    event = review_event(_read_event(job.runner))
    if event is None:
        return _answer(job, session, None, None, idle=idle)
    source = Source("review", event.review_id)
    return _answer(
        job,
        session,
        event.number,
        parse_review(event),
        idle=idle,
        carry_out=lambda _: start_revision(job, session, event.number, source),
    )


def _answer(
    job: Job,
    session: Session,
    number: int | None,
    asked: Command | Refusal | None,
    *,
    idle: str,
    carry_out: Callable[[Command], tuple[bool, str]] | None = None,
    comment_id: int | None = None,
) -> int:
    """What a comment or a review asked, answered on issue or PR `number`: nothing when it
    asked nothing (`idle` says so in the log); a permitted ask carried out (`carry_out`:
    done, the reply); a refusal's reason as the reply. A comment (`comment_id`) also gets 👀
    on receipt and 🚀 or 😕 on the outcome (a review can carry no reaction)."""
    from multi_agent_coder.action.commands import Command

    if number is None or asked is None or carry_out is None:
        _nothing_planned(job)
        print(f"{idle}: nothing to do", file=job.out)
        return EXIT_OK
    if comment_id is not None:
        session.react(comment_id, "eyes")
    if isinstance(asked, Command):
        done, reply = carry_out(asked)
    else:
        _nothing_planned(job)
        done, reply = False, f"macoder: {asked.reason}."
    session.reply(number, reply)
    if comment_id is not None:
        session.react(comment_id, "rocket" if done else "confused")
    print(visible(reply, lines=True), file=job.out)
    return EXIT_OK


def _nothing_planned(job: Job) -> None:
    """The plan's outputs when no task job is to run: an empty matrix."""
    write_outputs(job.runner.output_file, {"ready": "[]", "result": "nothing-ready"})


def start_revision(job: Job, session: Session, number: int, source: Source) -> tuple[bool, str]:
    """Lease the task of PR `number` for a revision by the feedback at `source`, and pass
    `source` (ids, never the text) on as the `revise` output; (done, the reply). Refused —
    nothing leased — unless `number` is a task's open PR and the feedback is a permitted
    person's ask for changes with something in it (read and checked here as the task job
    will read it again)."""
    from multi_agent_coder.errors import FeedbackRefusedError

    try:
        task_id = session.task_pr_to_revise(number)
        read_feedback(session, number, source)
    except FeedbackRefusedError as exc:
        _nothing_planned(job)
        return False, f"macoder: {exc}."
    if not job.inputs.dry_run:  # a fresh attempt budget, as `macoder revise` has
        session.ask_again([task_id], run_id=job.runner.lease_run_id)
    only = frozenset({task_id})
    snapshot, ready = lease_ready(job, session, only, retry=only)
    if not ready:
        view = snapshot.state.view(task_id)
        return False, (
            f"macoder: {task_id} is not revised: {view.label}, "
            f"{view.detail(snapshot.state.max_attempts)}."
        )
    write_outputs(job.runner.output_file, {"revise": str(source)})
    attempt = snapshot.state.view(task_id).attempts + 1
    return True, (
        f"macoder: {task_id} is revised on PR #{number} (new commits, nothing rewritten), "
        f"attempt {attempt}: {job.runner.run_url}"
    )


def read_feedback(session: Session, number: int, source: Source) -> Feedback:
    """The feedback at `source` on PR `number`, read from GitHub and checked
    (`action/feedback.py`); `FeedbackRefusedError` when it is not one to act on."""
    from multi_agent_coder.action import feedback as fb
    from multi_agent_coder.errors import FeedbackRefusedError, GitHubNotFoundError

    try:
        if source.kind == "review":
            review, comments = session.read_review(number, source.id)
            return fb.review_feedback(review, comments, number)
        return fb.comment_feedback(session.read_issue_comment(source.id), number)
    except GitHubNotFoundError:
        raise FeedbackRefusedError(
            f"the {source.kind} is gone from pull request #{number}"
        ) from None


def _read_event(runner: RunnerContext) -> object:
    """The event payload GitHub wrote for this workflow run (None when there is none)."""
    import json

    if runner.event_path is None:
        return None
    try:
        return json.loads(runner.event_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"GITHUB_EVENT_PATH: the event payload cannot be read: {exc}") from None


def held_for_a_person(state: RunState) -> list[tuple[str, str, str]]:
    """(id, standing, why) of each task a person's answer or a stop for a person holds."""
    from multi_agent_coder.run.state import PERSON_HOLDS

    return [
        (v.task_id, v.label, v.detail(state.max_attempts))
        for v in state.views
        if v.standing in PERSON_HOLDS
    ]


def _no_backlog(job: Job, message: str, **outputs: str) -> int:
    text = f"{message}; nothing to do (set the input 'backlog' or the 'backlog' setting)"
    print(workflow_command("warning", text, title="macoder"), file=job.out, flush=True)
    append_summary(job.runner.summary_file, f"### macoder: no backlog\n\n{text}\n")
    write_outputs(job.runner.output_file, {**outputs, "result": "no-backlog"})
    return EXIT_OK


def run_tasks(job: Job, session: Session) -> int:
    """The orchestrator, exactly as `macoder run` drives it, on the GitHub session."""
    from multi_agent_coder.run.orchestrator import RunOptions

    inputs = job.inputs
    only = frozenset({inputs.task_id}) if inputs.task_id is not None else None
    if not inputs.dry_run:
        delete_merged_branches(job, session)
    report = _orchestrator(job, session).run(RunOptions(only=only, dry_run=inputs.dry_run))
    return _report(job, report)


def delete_merged_branches(job: Job, session: Session) -> None:
    """The `delete-branch` input / `pull_request.delete_branch` setting, in the jobs that
    hold the write token and see every merge (plan, run). Tidying is never worth failing a
    wave over: a refusal becomes a warning and the job goes on."""
    try:
        deleted = session.delete_merged_branches()
    except ForgeError as exc:
        text = f"could not delete the branches of merged pull requests: {exc}"
        print(workflow_command("warning", text, title="macoder"), file=job.out, flush=True)
        return
    if deleted:
        print("deleted merged branches: " + ", ".join(deleted), file=job.out)


def _orchestrator(job: Job, session: Session, run_id: str | None = None) -> Orchestrator:
    """The orchestrator with each task's phases printed to the log as they change."""
    from multi_agent_coder.run.orchestrator import Orchestrator

    def on_phase(task_id: str, phase: Phase) -> None:
        print(visible(f"{task_id}: {phase.value}"), file=job.out, flush=True)

    def on_note(text: str) -> None:
        print(visible(text), file=job.out, flush=True)

    return Orchestrator(session, on_phase=on_phase, on_note=on_note, run_id=run_id)


def _report(job: Job, report: RunReport) -> int:
    """A run's outcome as annotations, outputs and the job summary; its exit code."""
    inputs, runner, out = job.inputs, job.runner, job.out
    for outcome in report.outcomes:
        if outcome.status in ("failed", "needs-review"):
            print(
                workflow_command("error", outcome.reason, title=f"macoder {outcome.task_id}"),
                file=out,
            )
    if report.note:
        print(visible(report.note), file=out)
    out.flush()
    write_outputs(runner.output_file, run_outputs(report, dry_run=inputs.dry_run))
    append_summary(runner.summary_file, render_run_summary(report, dry_run=inputs.dry_run))
    return report.exit_code


def hand_off_task(job: Job, session: Session) -> int:
    """The task job of the split workflow: the orchestrator on the one task the plan leased,
    under the plan's run id, with every write handed off to the publish job."""
    from multi_agent_coder.run.orchestrator import RunOptions

    inputs, runner, out = job.inputs, job.runner, job.out
    task_id, base_sha = inputs.planned()
    if session.handoff is not None:  # "the job started": publish tells it from a lost job
        session.handoff.update(task_id, lambda handoff: handoff)
    head = session.head()
    if head.sha != base_sha:
        note = (
            f"{head.branch} is at {head.sha[:10]}, not at the planned base "
            f"{base_sha[:10]}; nothing started (the next run plans again)"
        )
        print(workflow_command("warning", note, title=f"macoder {task_id}"), file=out)
        write_outputs(runner.output_file, {"result": "skipped"})
        return EXIT_OK
    revise: dict[str, Feedback] = {}
    if inputs.revise is not None:
        pr = session.forge.find_open_pr(task_id)
        if pr is None:
            note = f"{task_id} has no open pull request to revise; nothing started"
            print(workflow_command("warning", note, title=f"macoder {task_id}"), file=out)
            write_outputs(runner.output_file, {"result": "skipped"})
            return EXIT_OK
        revise = {task_id: read_feedback(session, pr.number, inputs.revise)}
    orchestrator = _orchestrator(job, session, run_id=runner.lease_run_id)
    options = RunOptions(only=frozenset({task_id}), revise=revise, healthy_sha=inputs.healthy_sha)
    return _report(job, orchestrator.run(options))


def publish(job: Job, session: Session) -> int:
    """The publish job: the task job's hand-off checked, then pushed, opened, recorded."""
    from multi_agent_coder.run.publish import publish_handoff

    inputs, runner, out = job.inputs, job.runner, job.out
    task_id, base_sha = inputs.planned()
    done = publish_handoff(
        session,
        task_id,
        run_id=runner.lease_run_id,
        base_sha=base_sha,
        directory=handoff_dir(runner),
        revision=inputs.revise is not None,
        unhealthy_sha=inputs.unhealthy_sha,
    )
    pr = done.pr
    write_outputs(
        runner.output_file,
        {
            **pr_outputs(pr),
            "result": done.result,
        },
    )
    append_summary(runner.summary_file, render_publish_summary(done))
    if done.status in ("refused", "interrupted", "unhealthy"):
        level = "error" if done.status == "refused" else "warning"
        print(workflow_command(level, done.reason, title=f"macoder {done.task_id}"), file=out)
    else:
        shown = f"#{pr.number} ({pr.operation})" if pr is not None else done.reason
        print(visible(f"{done.task_id}: {shown}"), file=out)
        if pr is not None and done.result == "succeeded":
            _merge_and_start_next_wave(job, session, pr.number, pr.head_sha)
    out.flush()
    return EXIT_PROBLEMS if done.status == "refused" else EXIT_OK


def _merge_and_start_next_wave(job: Job, session: Session, number: int, head_sha: str) -> None:
    """`pull_request.auto_merge`: the verified PR just published is merged; then the next
    wave is started (the merge, made with this job's token, may start no `push` workflow).
    A merge GitHub refuses leaves the PR open for a person, with a warning that says why."""
    out = job.out
    try:
        merged = session.auto_merge(number, head_sha)
    except MacoderError as exc:
        note = f"PR #{number} is left open for a person: not merged: {exc}"
        print(workflow_command("warning", note, title="macoder auto_merge"), file=out)
        return
    if merged is None:
        return
    print(f"merged PR #{number} at {merged[:10]}", file=out)
    workflow = job.runner.workflow_file
    if workflow is None:
        note = "GITHUB_WORKFLOW_REF names no workflow file: the next wave waits for a push"
        print(workflow_command("warning", note, title="macoder auto_merge"), file=out)
        return
    try:
        branch = session.start_next_wave(workflow)
    except MacoderError as exc:
        note = f"the next wave was not started ({exc}); it starts on the next push or schedule"
        print(workflow_command("warning", note, title="macoder auto_merge"), file=out)
        return
    print(visible(f"the next wave is started: {workflow} on {branch}"), file=out)


class OpenedPr(Protocol):
    """What a publishing job's outputs say of the pull request it opened or updated."""

    @property
    def number(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def head_sha(self) -> str: ...


def pr_outputs(pr: OpenedPr | None) -> dict[str, str]:
    """A publishing job's outputs about the pull request it opened or updated (if any)."""
    return {
        "pr-number": str(pr.number) if pr is not None else "",
        "pr-url": pr.url if pr is not None else "",
        "operation": pr.operation if pr is not None else "none",
        "head-sha": pr.head_sha if pr is not None else "",
    }


def handoff_dir(runner: RunnerContext) -> Path:
    """Where the task job writes its hand-off and the publish job finds it again (the
    workflow uploads and downloads `${{ runner.temp }}/macoder-handoff`)."""
    return runner.temp / HANDOFF_DIR


def _handoff_store(job: Job) -> HandoffStore:
    from multi_agent_coder.run.session import handoff_store

    _, base_sha = job.inputs.planned()
    return handoff_store(handoff_dir(job.runner), run_id=job.runner.lease_run_id, base_sha=base_sha)


def install_opencode(job: Job) -> int:
    """Install the pinned OpenCode from npm into the runner's temp dir and output its path
    (`opencode-bin`). Skipped when no agent will run (check, plan, dry run) and when the
    repository or the environment names a binary already (setting `opencode_bin`, e.g.
    `MACODER_OPENCODE_BIN` for an offline runner)."""
    from multi_agent_coder.config import load_settings
    from multi_agent_coder.run.setup import allow_sandbox, ensure_opencode

    inputs, runner, out = job.inputs, job.runner, job.out
    if not inputs.needs_agent:
        why = "a dry run" if inputs.dry_run else f"mode '{inputs.mode}'"
        print(f"OpenCode is not needed for {why}; not installed", file=out)
        write_outputs(runner.output_file, {"opencode-bin": ""})
        return EXIT_OK
    settings = with_inputs(load_settings(job.root, job.environ), inputs)
    if settings.sandbox:
        print(allow_sandbox(), file=out)
    binary = ensure_opencode(
        settings, runner.temp / OPENCODE_HOME, out, npm_cache=runner.temp / NPM_CACHE_DIR
    )
    write_outputs(runner.output_file, {"opencode-bin": str(binary)})
    return EXIT_OK


def opencode_cache(job: Job) -> int:
    """The step before `install-opencode`: where npm's cache of the install is (`path`) and
    the key actions/cache keeps it under (`key`, see `opencode_cache_key`), so a job after
    the first downloads nothing from npm. An empty key — action.yml then restores and saves
    nothing — when no install will run, or for a version the action's lockfile does not pin."""
    import platform

    from multi_agent_coder.config import load_settings
    from multi_agent_coder.run.setup import opencode_cache_key

    inputs, runner = job.inputs, job.runner
    key = None
    if inputs.needs_agent:
        settings = with_inputs(load_settings(job.root, job.environ), inputs)
        key = opencode_cache_key(settings, platform.system(), platform.machine())
    path = runner.temp / NPM_CACHE_DIR
    write_outputs(runner.output_file, {"path": str(path), "key": key or ""})
    if key:
        print(f"npm's downloads are cached as {key}", file=job.out)
    return EXIT_OK


# --------------------------------------------------------------------------- the pieces


def with_inputs(
    settings: Settings,
    inputs: ActionInputs,
    *,
    opencode_config: Path | None = None,
    opencode_bin: str | None = None,
) -> Settings:
    """The repository's settings with what the inputs override, validated as a whole."""
    from pydantic import ValidationError

    from multi_agent_coder.config import Settings

    data = settings.model_dump()
    data.update(inputs.settings_overrides())
    if inputs.models:
        data["models"] = {**data["models"], **inputs.models}
    if inputs.pull_request:
        data["pull_request"] = {**data["pull_request"], **inputs.pull_request}
    if opencode_config is not None:
        data["opencode_config"] = str(opencode_config)
    if opencode_bin:
        data["opencode_bin"] = opencode_bin
    try:
        return Settings(**data)
    except ValidationError as exc:  # inputs are validated one by one; this is a backstop
        raise InputError(f"the inputs do not combine with the settings: {exc}") from None


def runner_python(inputs: ActionInputs, environ: Mapping[str, str]) -> str:
    """The absolute path of the `python` input on the runner's PATH (not this virtualenv's
    interpreter, which holds macoder and nothing of the repository's)."""
    found = shutil.which(inputs.python, path=environ.get("PATH", os.defpath))
    if found is None:
        raise InputError(f"input 'python': {inputs.python!r} is not found on PATH")
    return found


@contextlib.contextmanager
def _opencode_config_file(inputs: ActionInputs, runner: RunnerContext) -> Iterator[Path | None]:
    """The `opencode-config` input as a private file (mode 0600) for the run, removed after.
    Its content is never printed."""
    if inputs.opencode_config is None or not inputs.needs_agent:
        yield None
        return
    import tempfile

    runner.temp.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="macoder-opencode-", suffix=".json", dir=runner.temp)
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(inputs.opencode_config)
        yield path
    finally:
        path.unlink(missing_ok=True)
