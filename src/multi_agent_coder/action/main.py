"""The entry `action.yml` calls: `python -m multi_agent_coder.action [install-opencode | run]`.

It reads the inputs into an `ActionInputs` (`inputs.py`), then calls the same core the CLI
calls; it decides nothing about tasks on its own:

- `check`: the backlog checks of `macoder check`, printed as workflow annotations (GitHub
  shows them on the file's lines) and as a markdown table in the job summary;
- `plan`: the ready set as a JSON list in the `ready` output, for a matrix of `task` jobs —
  read-only: backlog on the default branch, the run ledger, the open pull requests;
- `task` / `run`: the orchestrator with the GitHub forge and the OpenCode agent, restricted
  to one task (`task`) or over every ready task (`run`), then the PR outputs and a job summary.

Before anything that reads runtime state, `refs/macoder/ledger` is fetched explicitly:
`actions/checkout` fetches branches and tags only (DESIGN §4).

Secrets: the token and the OpenCode config are removed from this process's environment as
soon as they are read. Why that matters even though the OpenCode server gets an allowlisted
environment: the target repository's own tests run in the task's worktree with this
process's environment, and by then they include code the agent wrote.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
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
    render_plan_summary,
    render_run_summary,
    run_outputs,
    workflow_command,
    write_outputs,
)
from multi_agent_coder.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    GitError,
    MacoderError,
    UsageError,
)
from multi_agent_coder.git.env import run_git

if TYPE_CHECKING:
    from multi_agent_coder.backlog.model import Backlog, Task
    from multi_agent_coder.config import Settings
    from multi_agent_coder.forge.base import Forge
    from multi_agent_coder.git.repo import Repo
    from multi_agent_coder.run.orchestrator import AgentFactory
    from multi_agent_coder.run.task import Phase

STEPS: Final = ("run", "install-opencode")

LEDGER_REFSPEC: Final = "+refs/macoder/ledger:refs/macoder/ledger"

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

#: Where `install-opencode` puts OpenCode: `<RUNNER_TEMP>/macoder/.tools/opencode`, the same
#: layout as scripts/opencode.sh, so `find_binary` picks the platform build the same way.
OPENCODE_HOME: Final = "macoder"

ForgeFactory = Callable[["Repo"], "Forge"]


@dataclass(frozen=True, slots=True)
class Job:
    """One invocation of the entry: what was asked, where, and where to write."""

    inputs: ActionInputs
    runner: RunnerContext
    environ: Mapping[str, str]
    root: Path
    out: TextIO


class NoBacklogError(UsageError):
    """The backlog file is not there: for check and plan a no-op with a warning, as for
    `macoder check` (a repository may carry the workflow before it has a backlog)."""


class ForgeFactoryMaker(Protocol):
    """Builds the forge factory for a run from the runner's context and the token."""

    def __call__(self, runner: RunnerContext, token: str) -> ForgeFactory: ...


# --------------------------------------------------------------------------- the entry


def main(
    argv: Sequence[str] | None = None,
    environ: MutableMapping[str, str] | None = None,
    *,
    root: Path | None = None,
    make_forge: ForgeFactoryMaker | None = None,
    agent_factory: AgentFactory | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run one step of the action; map every outcome to an exit code (DESIGN §8).

    `environ` defaults to `os.environ` and is where secrets are removed from (so child
    processes do not inherit them); tests pass a dict. `make_forge` and `agent_factory` are
    injectable so the flows run against the local forge and a scripted agent in tests.
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
        job = Job(inputs, runner, env, Path.cwd() if root is None else root, out)
        if step == "install-opencode":
            return install_opencode(job)
        return run_mode(job, make_forge or github_forge_factory, agent_factory)
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
        print(f"macoder: error: {message}", file=sys.stderr)


def scrub_secrets(environ: MutableMapping[str, str]) -> None:
    """Drop every action input (the token and the OpenCode config among them) and every
    token-bearing variable: the values live on in `ActionInputs`, not in the environment."""
    for name in list(environ):
        if name.startswith(ENV_PREFIX) or name in SECRET_VARIABLES:
            del environ[name]


# --------------------------------------------------------------------------- modes


def run_mode(
    job: Job, make_forge: ForgeFactoryMaker, agent_factory: AgentFactory | None = None
) -> int:
    """The `run` step: settings from the checkout plus the inputs, then the mode."""
    from multi_agent_coder.config import load_settings

    inputs, runner = job.inputs, job.runner
    settings = load_settings(job.root, job.environ)
    if inputs.mode == "check":
        return check(job, with_inputs(settings, inputs))
    token = inputs.require_token()
    forge_factory = make_forge(runner, token)
    fetch_ledger(job.root, runner.git_remote_url, github_git_env(runner, token))
    if inputs.mode == "plan":
        return plan(job, with_inputs(settings, inputs), forge_factory)
    with _opencode_config_file(inputs, runner) as config_path:
        settings = with_inputs(
            settings, inputs, opencode_config=config_path, opencode_bin=runner.opencode_bin
        )
        settings = with_test_command(settings, job.root, runner_python(inputs, job.environ))
        return run_tasks(job, settings, forge_factory, agent_factory)


def check(job: Job, settings: Settings) -> int:
    """`macoder check --format github` on the checked-out backlog, plus the markdown summary.
    No backlog: a warning and nothing to check, as `macoder check` says too."""
    from multi_agent_coder.backlog.load import load_file
    from multi_agent_coder.backlog.rules import check_rules
    from multi_agent_coder.context.hygiene import hygiene_check
    from multi_agent_coder.report import FileReport, render_github, render_markdown

    path = job.root / settings.backlog
    if not path.is_file():
        return _no_backlog(job, f"{settings.backlog}: no such file in the checkout")
    result = load_file(
        path, settings.backlog, (check_rules, hygiene_check(settings.context_settings()))
    )
    tasks = len(result.backlog.tasks) if result.backlog is not None else None
    reports = [FileReport(result.path, result.problems, tasks)]
    job.out.write(render_github(reports))
    job.out.flush()
    append_summary(job.runner.summary_file, render_markdown(reports))
    failed = any(report.errors for report in reports)
    write_outputs(job.runner.output_file, {"result": "problems" if failed else "ok"})
    return EXIT_PROBLEMS if failed else EXIT_OK


def plan(job: Job, settings: Settings, forge_factory: ForgeFactory) -> int:
    """The ready set for a matrix. With `task-id`, only that task, if it is ready."""
    from multi_agent_coder.git.repo import Repo

    inputs, runner = job.inputs, job.runner
    repo = Repo.open(job.root)
    forge = forge_factory(repo)
    try:
        ready, note = ready_now(repo, settings, forge, time.time())
    except NoBacklogError as exc:
        return _no_backlog(job, str(exc), ready="[]")
    finally:
        close = getattr(forge, "close", None)  # the GitHub forge holds an HTTP client
        if callable(close):
            close()
    if inputs.task_id is not None:
        chosen = [t for t in ready if t.id == inputs.task_id]
        if not chosen:
            note = f"{inputs.task_id} is not ready now. " + note
        ready = chosen
    held_back = max(0, len(ready) - MATRIX_LIMIT)
    ready = ready[:MATRIX_LIMIT]
    write_outputs(
        runner.output_file,
        {
            "ready": ready_json(t.id for t in ready),
            "result": "ready" if ready else "nothing-ready",
        },
    )
    append_summary(runner.summary_file, render_plan_summary(ready, note=note, held_back=held_back))
    print("ready: " + (", ".join(t.id for t in ready) or "none"), file=job.out)
    if note:
        print(note, file=job.out)
    return EXIT_OK


def _no_backlog(job: Job, message: str, **outputs: str) -> int:
    text = f"{message}; nothing to do (set the input 'backlog' or the 'backlog' setting)"
    print(workflow_command("warning", text, title="macoder"), file=job.out, flush=True)
    append_summary(job.runner.summary_file, f"### macoder: no backlog\n\n{text}\n")
    write_outputs(job.runner.output_file, {**outputs, "result": "no-backlog"})
    return EXIT_OK


def run_tasks(
    job: Job,
    settings: Settings,
    forge_factory: ForgeFactory,
    agent_factory: AgentFactory | None = None,
) -> int:
    """The orchestrator, exactly as `macoder run` drives it, with the GitHub forge."""
    from multi_agent_coder.git.repo import Repo
    from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions

    if agent_factory is None:
        from multi_agent_coder.agents.opencode.runtime import opencode_agent

        agent_factory = opencode_agent
    inputs, runner, out = job.inputs, job.runner, job.out
    repo = Repo.open(job.root)

    def on_phase(task_id: str, phase: Phase) -> None:
        print(f"{task_id}: {phase.value}", file=out, flush=True)

    orchestrator = Orchestrator(repo, settings, forge_factory, agent_factory, on_phase=on_phase)
    only = frozenset({inputs.task_id}) if inputs.task_id is not None else None
    report = orchestrator.run(RunOptions(only=only, dry_run=inputs.dry_run))
    for outcome in report.outcomes:
        if outcome.status in ("failed", "needs-review"):
            print(
                workflow_command("error", outcome.reason, title=f"macoder {outcome.task_id}"),
                file=out,
            )
    if report.note:
        print(report.note, file=out)
    out.flush()
    write_outputs(runner.output_file, run_outputs(report, dry_run=inputs.dry_run))
    append_summary(runner.summary_file, render_run_summary(report, dry_run=inputs.dry_run))
    return report.exit_code


def install_opencode(job: Job) -> int:
    """Install the pinned OpenCode from npm into the runner's temp dir and output its path
    (`opencode-bin`). Skipped when no agent will run (check, plan, dry run) and when the
    repository or the environment names a binary already (setting `opencode_bin`, e.g.
    `MACODER_OPENCODE_BIN` for an offline runner)."""
    from multi_agent_coder.agents.opencode.server import find_binary
    from multi_agent_coder.config import load_settings

    inputs, runner, out = job.inputs, job.runner, job.out
    if not inputs.needs_agent:
        why = "a dry run" if inputs.dry_run else f"mode '{inputs.mode}'"
        print(f"OpenCode is not needed for {why}; not installed", file=out)
        write_outputs(runner.output_file, {"opencode-bin": ""})
        return EXIT_OK
    settings = with_inputs(load_settings(job.root, job.environ), inputs)
    if settings.opencode_bin is not None:
        binary = find_binary(settings.opencode_bin)
        print(f"using the configured OpenCode binary {binary}", file=out)
        write_outputs(runner.output_file, {"opencode-bin": str(binary)})
        return EXIT_OK
    version = settings.opencode_version
    npm = shutil.which("npm")
    if npm is None:
        raise UsageError(
            "npm is needed to install OpenCode (opencode-ai from npm); GitHub's hosted "
            "runners have it, a self-hosted runner needs Node.js >= 18"
        )
    home = runner.temp / OPENCODE_HOME
    prefix = home / ".tools" / "opencode"
    prefix.mkdir(parents=True, exist_ok=True)
    print(f"installing opencode-ai@{version} into {prefix}", file=out, flush=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    installed = subprocess.run(
        [*command, "--loglevel=error", f"opencode-ai@{version}"], check=False, timeout=900
    )
    if installed.returncode != 0:
        raise MacoderError(f"npm install opencode-ai@{version} failed ({installed.returncode})")
    binary = find_binary(project_root=home)
    reported = _binary_version(binary)
    if reported != version:
        raise MacoderError(
            f"installed opencode-ai@{version}, but {binary} reports version {reported!r}"
        )
    write_outputs(runner.output_file, {"opencode-bin": str(binary)})
    return EXIT_OK


def _binary_version(binary: Path) -> str:
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    return result.stdout.strip()


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


def with_test_command(settings: Settings, root: Path, python: str) -> Settings:
    """Settings whose test command is the repository's, detected with the runner's Python.

    Why: the orchestrator detects pytest / unittest with the interpreter macoder runs on.
    On a laptop that is the project's own environment; in the action it is a virtualenv
    holding only macoder, where the repository's tests cannot import anything. The job
    sets up the repository's toolchain on the runner's Python (the `python` input), so that
    is the interpreter to run the tests with. A configured `checks.test` always wins.
    """
    from multi_agent_coder.run.health import detect_commands, scan_repo

    if settings.checks.test is not None:
        return settings
    facts = scan_repo(root)
    detected = detect_commands(facts.files, facts.package_json, python, configs=facts.configs)
    if detected.test is None:
        return settings
    checks = settings.checks.model_copy(update={"test": detected.test})
    return settings.model_copy(update={"checks": checks})


def ready_now(repo: Repo, settings: Settings, forge: Forge, now: float) -> tuple[list[Task], str]:
    """The tasks a run would start now, and a note when there are none — read-only.

    The same rule as the orchestrator's (a test holds them equal): the backlog on the default
    branch; busy = live lease in the ledger or an open, non-draft pull request (a draft PR is
    a failed attempt, which may be retried); attempts from the backlog and the ledger.
    """
    from multi_agent_coder.backlog.ready import ready_tasks
    from multi_agent_coder.forge.base import PrState
    from multi_agent_coder.git.ledger import Ledger, attempts, live_leases

    branch = repo.default_branch()
    sha = repo.branch_head(branch)
    if sha is None:
        raise UsageError(f"branch {branch} has no commits yet")
    backlog = backlog_on(repo, settings.backlog, branch, sha)
    records = Ledger(repo).read()
    live = set(live_leases(records, now))
    open_prs = {pr.task_id for pr in forge.list_prs() if pr.state is PrState.OPEN and not pr.draft}
    ready = ready_tasks(
        backlog.tasks,
        max_attempts=settings.max_attempts,
        leased=live | open_prs,
        ledger_attempts=attempts(records),
    )
    if ready:
        return ready, ""
    done = sum(1 for t in backlog.tasks if t.status.value == "completed")
    busy = sorted((live | open_prs) & {t.id for t in backlog.tasks})
    parts = [f"{done}/{len(backlog.tasks)} completed"]
    if busy:
        parts.append(f"running or in review: {', '.join(busy)}")
    parts.append("the rest wait on dependencies or are out of attempts")
    return [], f"Nothing is ready ({'; '.join(parts)})."


def backlog_on(repo: Repo, path: str, branch: str, sha: str) -> Backlog:
    """The backlog as the default branch has it (never a working copy): what a run uses."""
    from multi_agent_coder.backlog.load import load_bytes, require_valid
    from multi_agent_coder.backlog.rules import check_rules

    try:
        blob = repo.raw[repo.commit(sha).tree[path].id]
    except KeyError:
        raise NoBacklogError(f"{path}: not found on branch {branch} ({sha[:10]})") from None
    raw: bytes = blob.data  # type: ignore[attr-defined]
    return require_valid(load_bytes(raw, path, (check_rules,)))


def fetch_ledger(root: Path, remote: str, auth_env: Mapping[str, str]) -> bool:
    """Fetch `refs/macoder/ledger` from `remote`; False when the remote has none yet (a
    repository macoder never ran on). Any other failure is an error: running without the
    ledger would ignore live leases and attempt counts.

    `remote` is the URL the GitHub forge pushes task branches and the ledger to (not the
    name `origin`): the ledger is read from where it is written, and the token header is
    scoped to that URL's host."""
    result = run_git(
        ["fetch", "--quiet", "--no-tags", remote, LEDGER_REFSPEC],
        root,
        check=False,
        timeout=300,
        extra_env={"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", **auth_env},
    )
    if result.returncode == 0:
        return True
    stderr = result.stderr.decode("utf-8", "replace")
    if "couldn't find remote ref" in stderr.lower():
        return False
    raise GitError(
        f"cannot fetch the run ledger from {remote}",
        command=["git", "fetch", remote, LEDGER_REFSPEC],
        stderr=stderr,
        returncode=result.returncode,
    )


def github_forge_factory(runner: RunnerContext, token: str) -> ForgeFactory:
    """`GitHubForge` for this repository. Imported here, not at the top: the check mode
    needs no forge (nor httpx), and it keeps `check` as fast as `macoder check`."""
    from multi_agent_coder.forge.github import GitHubForge

    slug = runner.require_repository()
    remote = runner.git_remote_url

    def make(repo: Repo) -> Forge:
        return GitHubForge(slug, token, api_url=runner.api_url, git_remote_url=remote, repo=repo)

    return make


def github_git_env(runner: RunnerContext, token: str) -> dict[str, str]:
    """The git environment that authenticates to the forge's remote, the forge's own way."""
    from multi_agent_coder.forge.github import git_auth_env

    return git_auth_env(runner.git_remote_url, token)


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
