"""The action's inputs, read from the environment into one typed, validated object.

The composite action hands every input to Python through `env:` as `ACTION_INPUT_<NAME>`
(`github-token` -> `ACTION_INPUT_GITHUB_TOKEN`), never by pasting `${{ inputs.x }}` into a
script, so no input can become shell code. Why not GitHub's own `INPUT_*` names: a composite
action does not set them, and spelling the mapping out in `action.yml` keeps each value in
exactly the steps that need it (the token reaches one step only). Why not `MACODER_*`: that
prefix belongs to settings, and `load_settings` refuses any `MACODER_*` name that is no setting.

Every problem is reported at once, one line per input, named as the user wrote it in the
workflow (`input 'task-timeout': ...`), and is a `UsageError`: exit 2, as for a bad command
line. Values that are secrets (the token, the OpenCode config) never appear in a message or a
`repr`.

An input left empty means "not given": GitHub passes an unset input as "". For the inputs
that mirror a setting (backlog, max-parallel, timeouts, models, opencode-version, and the pull
request options reviewers, team-reviewers, assignees, labels, milestone, delete-branch,
sign-commits, named as create-pull-request names them) "not given" means "keep the repository's
setting" (`.macoder.yaml` / `[tool.macoder]`), so `action.yml` gives them no default of its own
that would silently override the repository's choice.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal, TypeVar, get_args

import yaml
from pydantic import ValidationError

from multi_agent_coder.action.feedback import Source
from multi_agent_coder.config import ModelSettings, PullRequestSettings, Settings
from multi_agent_coder.errors import InvalidTaskIdError, InvalidTrackError, UsageError
from multi_agent_coder.ids import GITHUB_SLUG_PATTERN, validate_task_id, validate_track
from multi_agent_coder.problems import kind_of

ENV_PREFIX: Final = "ACTION_INPUT_"

Mode = Literal[
    "check",
    "plan",
    "health",
    "task",
    "publish",
    "run",
    "plan-feature",
    "publish-feature",
    "rebase",
    "publish-rebase",
]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
#: The two jobs of a feature's plan: the agents with no token, then the PR with it.
FEATURE_MODES: Final = ("plan-feature", "publish-feature")
#: The two jobs of a task's rewrite: the rebase model with a read-only token, then the PR.
REBASE_MODES: Final = ("rebase", "publish-rebase")

#: Input name (as in action.yml) -> what an empty value means. Tests hold action.yml to these.
DEFAULTS: Final[Mapping[str, str]] = {
    "github-token": "",
    "backlog": "",
    "mode": "run",
    "task-id": "",
    "base-sha": "",
    "context": "",
    "track": "",
    "revise": "",
    "healthy-sha": "",
    "unhealthy-sha": "",
    "max-parallel": "",
    "task-timeout": "",
    "run-timeout": "",
    "models": "",
    "opencode-version": "",
    "opencode-config": "",
    "dry-run": "false",
    "python": "python3",
    "reviewers": "",
    "team-reviewers": "",
    "assignees": "",
    "labels": "",
    "milestone": "",
    "delete-branch": "",
    "sign-commits": "",
}

#: The pull-request inputs (create-pull-request's names) -> their `pull_request` setting.
PULL_REQUEST_INPUTS: Final[Mapping[str, str]] = {
    "reviewers": "reviewers",
    "team-reviewers": "team_reviewers",
    "assignees": "assignees",
    "labels": "labels",
    "milestone": "milestone",
    "delete-branch": "delete_branch",
    "sign-commits": "sign_commits",
}

#: Where the orchestrator's `workers` setting tops out (config.Settings.workers).
MAX_PARALLEL: Final = 64

_TRUE: Final = frozenset({"true", "True", "TRUE"})
_FALSE: Final = frozenset({"false", "False", "FALSE"})
_REPOSITORY: Final = re.compile(GITHUB_SLUG_PATTERN, re.ASCII)


class InputError(UsageError):
    """One or more inputs are invalid; the message has one line per problem."""


def env_name(name: str) -> str:
    """`task-id` -> `ACTION_INPUT_TASK_ID`: the variable action.yml sets for an input."""
    return ENV_PREFIX + name.upper().replace("-", "_")


def input_name(variable: str) -> str:
    """`ACTION_INPUT_TASK_ID` -> `task-id`."""
    return variable[len(ENV_PREFIX) :].lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class ActionInputs:
    """What the workflow asked for, validated. None means "keep the repository's setting"."""

    mode: Mode = "run"
    github_token: str = field(default="", repr=False)
    backlog: str | None = None
    task_id: str | None = None
    #: The default branch's commit the plan job planned on (task and publish jobs), or the
    #: plan-feature job planned the feature on (publish-feature).
    base_sha: str | None = None
    #: plan-feature / publish-feature: the feature's context file, a path in the repository.
    context: str | None = None
    #: plan-feature / publish-feature: the track, `specs/<track>/` (validated like a task id).
    track: str | None = None
    #: A revision of the task's open PR: where the reviewer's feedback is (the plan job's
    #: `revise` output) — ids only; the task job reads the text from GitHub itself.
    revise: Source | None = None
    #: The commit the wave's health job checked and found healthy (its output `healthy-sha`;
    #: task jobs): a task starting from exactly it does not run the checks again.
    healthy_sha: str | None = None
    #: The commit the wave's health job found unhealthy (its output `unhealthy-sha`; publish
    #: jobs): a task job that left nothing then did not run because of it.
    unhealthy_sha: str | None = None
    max_parallel: int | None = None
    task_timeout: float | None = None
    run_timeout: float | None = None
    models: Mapping[str, str] = field(default_factory=dict)
    opencode_version: str | None = None
    opencode_config: str | None = field(default=None, repr=False)
    dry_run: bool = False
    python: str = "python3"
    #: The pull-request inputs given, as `pull_request` setting values (merged key by key).
    pull_request: Mapping[str, Any] = field(default_factory=dict)

    @property
    def needs_forge(self) -> bool:
        """Every mode but `check`, `health` and `plan-feature` reads pull requests (in-progress
        = live lease or open PR); those read only the checkout."""
        return self.mode not in ("check", "health", "plan-feature")

    @property
    def needs_agent(self) -> bool:
        """Only a real task or run, and a feature's planning, start OpenCode; a dry run and
        the read-only modes do not."""
        return self.mode in ("task", "run", "plan-feature", "rebase") and not self.dry_run

    def planned(self) -> tuple[str, str]:
        """The task and the base the plan job gave a task or publish job."""
        if self.task_id is None or self.base_sha is None:
            raise InputError(f"inputs 'task-id' and 'base-sha': required with mode '{self.mode}'")
        return self.task_id, self.base_sha

    def feature(self) -> tuple[str, str]:
        """The track and the feature context of a plan-feature or publish-feature job."""
        if self.track is None or self.context is None:
            raise InputError(f"inputs 'track' and 'context': required with mode '{self.mode}'")
        return self.track, self.context

    def require_token(self) -> str:
        """The token, or an `InputError` saying why this mode needs one."""
        if not self.github_token:
            if self.dry_run:
                why = "it lists the open pull requests"
            elif self.mode == "plan":
                why = "it lists the open pull requests and leases the ready tasks"
            elif self.mode in ("task", "rebase"):
                why = "it reads the pull requests and the ledger; read access is enough"
            elif self.mode == "publish-feature":
                why = "it pushes the plan's branch and opens its pull request"
            elif self.mode == "publish-rebase":
                why = "it pushes the rewrite's branch, opens its pull request, records the try"
            else:
                why = "it pushes the task branch and opens the pull request"
            raise InputError(f"input 'github-token': required with mode '{self.mode}' ({why})")
        return self.github_token

    def settings_overrides(self) -> dict[str, Any]:
        """The settings these inputs change, as `Settings` field values; the rest stays as
        the repository configured it. `models` is a partial mapping merged role by role by
        the caller, and `opencode_config` (a file path) is added once the file is written."""
        overrides: dict[str, Any] = {}
        if self.backlog is not None:
            overrides["backlog"] = self.backlog
        if self.max_parallel is not None:
            overrides["workers"] = self.max_parallel
        if self.task_timeout is not None:
            overrides["task_timeout"] = self.task_timeout
        if self.run_timeout is not None:
            overrides["run_timeout"] = self.run_timeout
        if self.opencode_version is not None:
            overrides["opencode_version"] = self.opencode_version
        return overrides


#: A workflow file's name as GitHub accepts it in `/actions/workflows/{id}`.
_WORKFLOW_FILE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.ya?ml", re.ASCII)


@dataclass(frozen=True, slots=True)
class RunnerContext:
    """What the runner itself provides (GitHub's default environment variables)."""

    repository: str | None
    api_url: str
    server_url: str
    temp: Path
    output_file: Path | None
    summary_file: Path | None
    opencode_bin: str | None
    debug: bool
    #: `GITHUB_RUN_ID`: the same in every job of one workflow run (and its re-runs).
    run_id: str | None = None
    #: `GITHUB_EVENT_NAME` and `GITHUB_EVENT_PATH`: what started the workflow run.
    event_name: str | None = None
    event_path: Path | None = None
    #: `GITHUB_WORKFLOW_REF`: `owner/repo/.github/workflows/<file>@<ref>` of this run.
    workflow_ref: str | None = None

    @property
    def workflow_file(self) -> str | None:
        """The file name of this run's workflow (what `workflow_dispatch` takes as its id),
        or None when the runner did not say or says something that is no workflow file."""
        if not self.workflow_ref:
            return None
        name = self.workflow_ref.split("@", 1)[0].rsplit("/", 1)[-1]
        return name if _WORKFLOW_FILE.fullmatch(name) else None

    @property
    def lease_run_id(self) -> str:
        """The run id under which the plan job leases tasks for this workflow run's jobs."""
        if self.run_id is None or not self.run_id.isdigit() or not self.run_id.isascii():
            raise InputError(
                f"GITHUB_RUN_ID must be the workflow run's number, got {self.run_id!r} "
                "(GitHub sets it on every runner)"
            )
        return f"gha-{self.run_id}"

    @property
    def run_url(self) -> str:
        """The workflow run's page, where a person follows the jobs of this run."""
        return f"{self.server_url}/{self.require_repository()}/actions/runs/{self.run_id}"

    @property
    def git_remote_url(self) -> str:
        """The https URL git pushes to; `url.<x>.insteadOf` may reroute it (tests do)."""
        return f"{self.server_url}/{self.require_repository()}.git"

    def require_repository(self) -> str:
        if self.repository is None:
            raise InputError(
                "GITHUB_REPOSITORY is not set: the action needs to know the repository "
                "(owner/name); GitHub sets it on every runner"
            )
        return self.repository


# --------------------------------------------------------------------------- reading


_T = TypeVar("_T")


def read_inputs(environ: Mapping[str, str]) -> ActionInputs:
    """The validated inputs in `environ`; an `InputError` listing every bad one otherwise."""
    problems: list[str] = []
    problems += _unknown_variables(environ)

    def get(name: str) -> str:
        value = environ.get(env_name(name), "")
        return value if value.strip() else DEFAULTS[name]

    def parse(name: str, parser: Callable[[str], _T], fallback: _T) -> _T:
        raw = get(name)
        if raw == "":
            return fallback
        try:
            return parser(raw)
        except ValueError as exc:
            problems.append(f"input '{name}': {exc}")
            return fallback

    mode: Mode = parse("mode", _mode, "run")
    token = parse("github-token", _token, "")
    backlog = parse("backlog", _relative_path, None)
    task_id = parse("task-id", _task_id, None)
    base_sha = parse("base-sha", _sha, None)
    context = parse("context", _relative_path, None)
    track = parse("track", _track, None)
    revise = parse("revise", Source.parse, None)
    healthy_sha = parse("healthy-sha", _sha, None)
    unhealthy_sha = parse("unhealthy-sha", _sha, None)
    max_parallel = parse("max-parallel", _max_parallel, None)
    task_timeout = parse("task-timeout", _seconds, None)
    run_timeout = parse("run-timeout", _seconds, None)
    models: dict[str, str] = parse("models", _models, {})
    version = parse("opencode-version", _version, None)
    config = parse("opencode-config", _opencode_config, None)
    dry_run = parse("dry-run", _boolean, False)
    python = parse("python", _command_name, "python3")
    pull_request: dict[str, Any] = {}
    for name, key in PULL_REQUEST_INPUTS.items():
        value = parse(name, _pull_request_value(key), None)
        if value is not None:
            pull_request[key] = value

    problems += _feature_problems(mode, get)
    if mode in ("task", "publish", *REBASE_MODES) and not get("task-id"):
        problems.append(f"input 'task-id': required with mode '{mode}' (the task this job runs)")
    if (
        mode in ("publish", "health", "publish-rebase") or (mode == "task" and not dry_run)
    ) and not get("base-sha"):
        problems.append(
            f"input 'base-sha': required with mode '{mode}' (the plan job's output base-sha)"
        )
    if get("revise") and mode not in ("task", "publish"):
        problems.append(f"input 'revise': only for modes task and publish, not '{mode}'")
    for name, only in (("healthy-sha", "task"), ("unhealthy-sha", "publish")):
        if get(name) and mode != only:
            problems.append(f"input '{name}': only for mode {only}, not '{mode}'")
    if mode == "rebase" and get("base-sha"):
        problems.append(
            "input 'base-sha': not used with mode 'rebase' (it rewrites on the default "
            "branch's head as checked out, and outputs that commit as base-sha)"
        )
    if mode in REBASE_MODES and get("dry-run") and get("dry-run").strip() not in _FALSE:
        problems.append(f"input 'dry-run': not for mode '{mode}' (`macoder rebase --dry-run`)")
    if mode in ("check", *FEATURE_MODES) and get("task-id"):
        problems.append(f"input 'task-id': not used with mode '{mode}'; remove it")
    if problems:
        raise InputError("\n".join(problems))
    return ActionInputs(
        mode=mode,
        github_token=token,
        backlog=backlog,
        task_id=task_id,
        base_sha=base_sha,
        context=context,
        track=track,
        revise=revise,
        healthy_sha=healthy_sha,
        unhealthy_sha=unhealthy_sha,
        max_parallel=max_parallel,
        task_timeout=task_timeout,
        run_timeout=run_timeout,
        models=models,
        opencode_version=version,
        opencode_config=config,
        dry_run=dry_run,
        python=python,
        pull_request=pull_request,
    )


def read_runner(environ: Mapping[str, str]) -> RunnerContext:
    """GitHub's variables (`GITHUB_REPOSITORY`, `GITHUB_API_URL`, ...), with the public
    GitHub's values where a variable is missing (a local run of the entry)."""
    repository = environ.get("GITHUB_REPOSITORY", "").strip() or None
    if repository is not None and not _REPOSITORY.fullmatch(repository):
        raise InputError(f"GITHUB_REPOSITORY must be 'owner/name', got {repository!r}")

    def path(name: str) -> Path | None:
        value = environ.get(name, "")
        return Path(value) if value else None

    return RunnerContext(
        repository=repository,
        api_url=(environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
        server_url=(environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
        temp=path("RUNNER_TEMP") or Path(tempfile.gettempdir()),
        output_file=path("GITHUB_OUTPUT"),
        summary_file=path("GITHUB_STEP_SUMMARY"),
        opencode_bin=environ.get("ACTION_OPENCODE_BIN") or None,
        debug=environ.get("RUNNER_DEBUG") == "1",
        run_id=environ.get("GITHUB_RUN_ID", "").strip() or None,
        event_name=environ.get("GITHUB_EVENT_NAME", "").strip() or None,
        event_path=path("GITHUB_EVENT_PATH"),
        workflow_ref=environ.get("GITHUB_WORKFLOW_REF", "").strip() or None,
    )


def _feature_problems(mode: Mode, get: Callable[[str], str]) -> list[str]:
    """A feature's two jobs: each needs the track and the context (the same in both, from
    the dispatch); publish-feature needs the planned base too. The planning job holds no
    token at all — it runs agents, and only publish-feature writes. The feature inputs mean
    nothing to the other modes, and a dry run of a feature's plan is none (refused, not
    ignored)."""
    problems: list[str] = []
    if mode not in FEATURE_MODES:
        problems += [
            f"input '{name}': only for modes plan-feature and publish-feature, not '{mode}'"
            for name in ("context", "track")
            if get(name)
        ]
        return problems
    problems += [
        f"input '{name}': required with mode '{mode}' ({why})"
        for name, why in (
            ("track", "the feature's folder under specs/ and its branch macoder/plan-<track>"),
            ("context", "the feature's context file, a path in the repository"),
        )
        if not get(name)
    ]
    if mode == "plan-feature" and get("github-token"):
        problems.append(
            "input 'github-token': must be empty with mode 'plan-feature': that job runs the "
            "planning agents and holds no token; the publish-feature job opens the PR with it"
        )
    if mode == "plan-feature" and get("base-sha"):
        problems.append(
            "input 'base-sha': not used with mode 'plan-feature' (it plans on the default "
            "branch's head as checked out, and outputs that commit as base-sha)"
        )
    if mode == "publish-feature" and not get("base-sha"):
        problems.append(
            "input 'base-sha': required with mode 'publish-feature' (the plan-feature job's "
            "output base-sha)"
        )
    if get("dry-run") and get("dry-run").strip() not in _FALSE:
        problems.append(f"input 'dry-run': not for mode '{mode}' (a plan is made or not at all)")
    return problems


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """An `ACTION_INPUT_*` name the entry does not know means action.yml and this module
    disagree (or a hand-written step has a typo): refused, with the closest known name."""
    known = {env_name(name) for name in DEFAULTS}
    problems: list[str] = []
    for variable in sorted(environ):
        if variable.startswith(ENV_PREFIX) and variable not in known:
            match = difflib.get_close_matches(variable, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {match[0]}?" if match else ""
            problems.append(f"environment {variable}: no such action input{hint}")
    return problems


# --------------------------------------------------------------------------- one input each


def _mode(value: str) -> Mode:
    text = value.strip()
    if text not in MODES:
        raise ValueError(f"must be one of {', '.join(MODES)}; got {_show(text)}")
    return text


def _sha(value: str) -> str:
    """A full commit id, as the plan job's `base-sha` output gives it."""
    text = value.strip()
    if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", text):
        raise ValueError(f"must be a full commit id (40 hex digits), got {_show(text)}")
    return text


def _token(value: str) -> str:
    """Trailing newlines come from `echo`-made secrets and are harmless; anything else that
    is whitespace would break the Authorization header, so it is refused (never shown)."""
    text = value.strip()
    if any(ch.isspace() for ch in text):
        raise ValueError("contains whitespace; paste the token alone (it is not shown here)")
    return text


def _relative_path(value: str) -> str:
    """A path inside the repository, as git names it (`plans/BACKLOG.yaml`): the backlog is
    read from the default branch's tree, so an absolute path or `..` cannot work."""
    text = value.strip()
    if "\\" in text or "\x00" in text:
        raise ValueError(f"must be a path with '/' separators, got {_show(text)}")
    path = PurePosixPath(text)
    if path.is_absolute():
        raise ValueError(f"must be relative to the repository root, got {_show(text)}")
    parts = [part for part in path.parts if part != "."]
    if not parts or ".." in parts:
        raise ValueError(f"must name a file inside the repository, got {_show(text)}")
    return "/".join(parts)


def _command_name(value: str) -> str:
    """A program name or path, looked up on PATH later; one word, no options."""
    text = value.strip()
    if any(ch.isspace() for ch in text) or "\x00" in text:
        raise ValueError(f"must be one program name or path, got {_show(text)}")
    return text


def _track(value: str) -> str:
    """A track's name, refused before it reaches a path, a ref or a branch name."""
    try:
        return validate_track(value.strip())
    except InvalidTrackError as exc:
        raise ValueError(str(exc)) from None


def _task_id(value: str) -> str:
    try:
        return validate_task_id(value.strip())
    except InvalidTaskIdError as exc:
        raise ValueError(str(exc)) from None


def _max_parallel(value: str) -> int:
    text = value.strip()
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"must be a whole number, got {_show(text)}") from None
    if not 1 <= number <= MAX_PARALLEL:
        raise ValueError(f"must be between 1 and {MAX_PARALLEL}, got {number}")
    return number


def _seconds(value: str) -> float:
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"must be a number of seconds, got {_show(text)}") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"must be a positive number of seconds, got {_show(text)}")
    return number


def _boolean(value: str) -> bool:
    """The spellings GitHub itself accepts for a boolean input (YAML 1.2 core schema)."""
    text = value.strip()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"must be true or false, got {_show(text)}")


def _models(value: str) -> dict[str, str]:
    """Role -> `provider/model`, as YAML or JSON (JSON is YAML); each role a setting under
    `models` (planning, implementation, review, documentation, rebase)."""
    try:
        data = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ValueError(f"is not valid YAML or JSON{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            "must be a mapping of role to provider/model, e.g. "
            f"'implementation: anthropic/claude-sonnet-4', got {kind_of(data)}"
        )
    roles = list(ModelSettings.model_fields)
    problems: list[str] = []
    for key in data:
        if not isinstance(key, str) or key not in roles:
            match = difflib.get_close_matches(str(key), roles, n=1, cutoff=0.6)
            hint = f"; did you mean {match[0]!r}?" if match else ""
            problems.append(f"unknown role {str(key)!r}{hint} (roles: {', '.join(roles)})")
    if not problems:
        try:
            ModelSettings(**data)
        except ValidationError as exc:
            for error in exc.errors():
                role = ".".join(str(part) for part in error["loc"])
                problems.append(f"{role}: {_pydantic_reason(error)}, got {_show(error['input'])}")
    if problems:
        raise ValueError("; ".join(problems))
    return {str(key): str(ref) for key, ref in data.items()}


def _version(value: str) -> str:
    """Exactly one OpenCode version (DESIGN §6 pins it); the rule is the setting's own."""
    text = value.strip()
    try:
        Settings(opencode_version=text)
    except ValidationError as exc:
        raise ValueError(f"{_pydantic_reason(exc.errors()[0])}, got {_show(text)}") from None
    return text


def _opencode_config(value: str) -> str:
    """OpenCode's JSON config, usually from a secret: checked to be a JSON object before a
    run starts, and no error ever quotes it (it may hold API keys)."""
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the content is not shown because it may hold secrets"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"must be a JSON object (OpenCode's opencode.json), got {kind_of(data)}")
    provider = data.get("provider", {})
    if not isinstance(provider, dict):
        raise ValueError("'provider' must be a JSON object")
    return value


def _pull_request_value(key: str) -> Callable[[str], Any]:
    """The parser of one pull-request input: a list as create-pull-request takes it (comma-
    or newline-separated), a milestone number, or a boolean; each value checked by the
    setting's own rule (`PullRequestSettings`)."""

    def parse(value: str) -> Any:
        kind = PullRequestSettings.model_fields[key].annotation
        parsed: Any
        if kind is bool:
            parsed = _boolean(value)
        elif key == "milestone":
            text = value.strip()
            if not text.isdigit() or int(text) < 1:
                raise ValueError(f"must be a milestone's number, got {_show(text)}")
            parsed = int(text)
        else:
            parsed = [item.strip() for item in re.split(r"[,\n]", value) if item.strip()]
        try:
            PullRequestSettings(**{key: parsed})
        except ValidationError as exc:
            error = exc.errors()[0]
            where = error["loc"][1] if len(error["loc"]) > 1 else None
            shown = f" ({_show(parsed[where])})" if isinstance(where, int) else ""
            raise ValueError(f"{_pydantic_reason(error)}{shown}") from None
        return parsed

    return parse


# --------------------------------------------------------------------------- words


def _pydantic_reason(error: Any) -> str:
    if error.get("type") == "value_error":
        return str(error["ctx"]["error"])
    if error.get("type") == "string_type":
        return "must be a string"
    message = str(error.get("msg", "is invalid"))
    return message[:1].lower() + message[1:]


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
