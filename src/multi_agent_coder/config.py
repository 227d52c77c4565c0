"""Settings: the seed plan's constants as defaults, overridable per repository and per run.

Sources, lowest to highest precedence: the defaults below < `[tool.macoder]` in
`<root>/pyproject.toml` < `<root>/.macoder.yaml` (or `.macoder.yml`) < `MACODER_*` environment
variables (nested with `__`, lists and mappings as JSON). A repository keeps its choices in a
file; a CI job or a shell overrides one value for one run without editing anything.

Why each source is validated on its own before they are merged: an error must name the place
that holds the bad value (`.macoder.yaml:4:10: workers: must be at least 1, got 0`), and after a
merge nobody knows any more who said what. Every value that passed in its own layer is still
valid after the merge, because no rule here relates two settings to each other.

`Settings` itself reads nothing: its only pydantic-settings source is its keyword arguments, so
a `Settings(...)` built in a test never picks up a developer's `MACODER_*` variables.
`load_settings` is the one place that decides where configuration comes from; it uses
pydantic-settings' own `EnvSettingsSource` to turn variables into values (nesting, JSON) and
adds what pydantic-settings lacks: positions in the files, an error for a `MACODER_*` name that
is no setting, and a did-you-mean for every unknown key.

Secrets are not settings: the GitHub token and provider API keys are never read here, so they
cannot end up in anything handed to an agent.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from multi_agent_coder import limits
from multi_agent_coder.errors import ConfigError, UnreadableFileError
from multi_agent_coder.problems import Loc, kind_of
from multi_agent_coder.userfiles import read_user_file
from multi_agent_coder.yamlread import Positions, YamlError, decode, parse_with_positions

if TYPE_CHECKING:
    from multi_agent_coder.context.build import ContextSettings

ENV_PREFIX: Final = "MACODER_"
ENV_NESTED_DELIMITER: Final = "__"
PYPROJECT: Final = "pyproject.toml"
PYPROJECT_TABLE: Final = ("tool", "macoder")
#: Either name is accepted; both at once is refused (which one would win is not obvious).
CONFIG_FILES: Final = (".macoder.yaml", ".macoder.yml")


# --- value types ----------------------------------------------------------------------------


def _not_blank(value: str) -> str:
    """An empty name, path or phrase is always a mistake (an empty debris phrase matches all)."""
    if not value.strip():
        raise ValueError("must not be empty")
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


_MODEL_REF: Final = re.compile(r"[^/\s]+/[^\s]*[^/\s]")


def _model_ref(value: str) -> str:
    """OpenCode addresses a model as `providerID/modelID`; catch typos before a run starts.
    The provider is everything before the first '/'; model ids may hold more slashes
    (`openrouter/anthropic/claude-sonnet-4`)."""
    if not _MODEL_REF.fullmatch(value):
        raise ValueError(
            "must be 'provider/model' with no spaces (e.g. 'openai/gpt-4', "
            "'openrouter/anthropic/claude-sonnet-4')"
        )
    return value


_VERSION: Final = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?")


def _pinned_version(value: str) -> str:
    """The OpenCode version is pinned (DESIGN §6), so a range or a tag like 'latest' is refused."""
    if not _VERSION.fullmatch(value):
        raise ValueError("must be an exact version such as '1.18.33'")
    return value


def _split_command(value: object) -> object:
    """A command may be written as one string; it is split like a shell would, never run by one."""
    if not isinstance(value, str):
        return value
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"is not a valid command line ({exc})") from None


def _inside_project(value: str) -> str:
    """A directory named from the project's root: relative, with no `..` (it becomes git
    paths and is joined to the root, so it may not lead out of either)."""
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or str(path) == "." or "\\" in value:
        raise ValueError(
            "must be a directory inside the project: relative, '/' between names, no '..'"
        )
    return path.as_posix()


NonBlank = Annotated[str, AfterValidator(_not_blank)]
ProjectDirectory = Annotated[str, AfterValidator(_not_blank), AfterValidator(_inside_project)]
ModelRef = Annotated[str, AfterValidator(_model_ref)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Command = Annotated[
    Annotated[list[NonBlank], Field(min_length=1)] | None, BeforeValidator(_split_command)
]
FailureMode = Literal["no-pr", "draft-pr"]

_CLOSED_MODEL: Final = ConfigDict(extra="forbid", frozen=True)


class RetrySettings(BaseModel):
    """Retries of transient failures (seed: 3 retries, 1 s, doubling; capped so waits stay sane)."""

    model_config = _CLOSED_MODEL

    max_retries: int = Field(3, ge=0)
    delay: float = Field(1.0, ge=0, allow_inf_nan=False)
    backoff: float = Field(2.0, ge=1, allow_inf_nan=False)
    max_delay: float = Field(30.0, ge=0, allow_inf_nan=False)


class ModelSettings(BaseModel):
    """Which model each kind of task runs on, as OpenCode's `provider/model` (the router in
    `agents/router.py` decides the kind). The planning, review and rebase roles of the seed
    come back with the work that uses them: a role nothing runs would be a setting that lies."""

    model_config = _CLOSED_MODEL

    implementation: ModelRef = "openai/gpt-4"
    #: Documentation and small tasks; unset: the implementation model (a user who names one
    #: model gets that model everywhere — no second default a provider may not have).
    documentation: ModelRef | None = None
    #: The three planning agents of `macoder plan` (the seed ran them on a cheap model);
    #: unset: the implementation model.
    planning: ModelRef | None = None
    #: A task run again after a review asked for changes (`macoder revise`, a review or
    #: `/macoder fix` on GitHub); unset: the model the task is routed to anyway.
    review: ModelRef | None = None
    #: The rewrite of a failing task's entry (`macoder rebase`); unset: the implementation
    #: model.
    rebase: ModelRef | None = None

    def for_role(self, role: str) -> str:
        """The model a role runs on (`documentation`, `planning` and `rebase` fall back to
        `implementation`)."""
        chosen = {
            "documentation": self.documentation,
            "planning": self.planning,
            "review": self.review,
            "rebase": self.rebase,
        }.get(role)
        return chosen if chosen is not None else self.implementation

    def refs(self) -> set[str]:
        """Every model a run on these settings may use."""
        roles = ("implementation", "documentation", "planning", "review", "rebase")
        return {self.for_role(role) for role in roles}


_LOGIN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", re.ASCII)
_TEAM: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", re.ASCII)


def _login(value: str) -> str:
    """A GitHub user name, as GitHub allows them (no `@`: the API takes the bare login)."""
    if not _LOGIN.fullmatch(value):
        raise ValueError("must be a GitHub user name (letters, digits, '-'; no '@')")
    return value


def _team(value: str) -> str:
    """A team's slug in the repository's organization (`org/` is left out, as GitHub's API
    and create-pull-request's `team-reviewers` take it)."""
    if not _TEAM.fullmatch(value):
        raise ValueError("must be a team's slug, e.g. 'web-reviewers' (no 'org/')")
    return value


def _label(value: str) -> str:
    """GitHub refuses label names over 50 characters; a comma would split an Action input."""
    if not value.strip() or len(value) > 50 or "," in value:
        raise ValueError("must be a label name of 1 to 50 characters without ','")
    return value


Login = Annotated[str, AfterValidator(_login)]
Team = Annotated[str, AfterValidator(_team)]
Label = Annotated[str, AfterValidator(_label)]


class RebaseSettings(BaseModel):
    """When a failing task's entry is rewritten (`macoder rebase`, DESIGN's rebase engine)."""

    model_config = _CLOSED_MODEL

    #: Failed attempts (since the task was last asked again) after which a task is rewritten;
    #: a last attempt refused for context drift or hygiene qualifies at once.
    after_failures: int = Field(2, ge=1)
    #: `macoder run` proposes the rewrite itself, before it starts the tasks, for each task
    #: that qualifies and has no rewrite tried for its entry yet (off: only `macoder rebase`).
    automatic: bool = False


class PullRequestSettings(BaseModel):
    """What macoder asks of every pull request it opens on GitHub, with the names of
    create-pull-request's inputs. Applied once, when the PR is opened: what people change on
    it afterwards (a reviewer removed, a milestone moved) is their answer and stays."""

    model_config = _CLOSED_MODEL

    reviewers: list[Login] = Field(default_factory=list)
    team_reviewers: list[Team] = Field(default_factory=list)
    assignees: list[Login] = Field(default_factory=list)
    #: Added beside macoder's own `macoder` label.
    labels: list[Label] = Field(default_factory=list)
    #: The milestone's number (as in its URL, `/milestone/3`).
    milestone: int | None = Field(None, ge=1)
    #: Delete a task's branch once macoder sees its pull request merged (GitHub's own
    #: "Automatically delete head branches" does it for every branch; this only for macoder's,
    #: and only when nobody pushed to it after the merge).
    delete_branch: bool = False
    #: Merge a verified task PR as soon as macoder has published it (`merge` or `squash`;
    #: `off`: a person merges). GitHub only: its branch protection still applies (a PR that
    #: needs reviews or checks first is left open, and the job says why). A merge made with the
    #: workflow's GITHUB_TOKEN starts no `push` workflow, so the publish job then starts the
    #: next wave itself (`workflow_dispatch`).
    auto_merge: Literal["off", "merge", "squash"] = "off"
    #: create-pull-request's `sign-commits`: the job holding the token does not push the task's
    #: commits; GitHub makes each again through its API (`createCommitOnBranch`) and signs it
    #: (verified), as the token's bot — the workflow's GITHUB_TOKEN or an App's, never a
    #: person's. Regular files only; an update's merge commit is pushed unsigned (see
    #: `forge/signing.py`). Every job must have it (a later run must know those commits).
    sign_commits: bool = False


class ModelPrice(BaseModel):
    """What a model costs, per million tokens (`cached`: cached input; default: `input`)."""

    model_config = _CLOSED_MODEL

    input: float = Field(ge=0, allow_inf_nan=False)
    output: float = Field(ge=0, allow_inf_nan=False)
    cached: float | None = Field(None, ge=0, allow_inf_nan=False)


class CheckCommands(BaseModel):
    """The target repository's own checks, each an argv list; None means detect it later."""

    model_config = _CLOSED_MODEL

    test: Command = None
    lint: Command = None
    types: Command = None


class Settings(BaseSettings):
    """Everything a run may be told; defaults are the seed plan's CONFIG in seconds and bytes."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False,
        env_ignore_empty=True,  # an Action input left empty arrives as "", which means "unset"
        extra="forbid",
        frozen=True,
    )

    backlog: NonBlank = "BACKLOG.yaml"
    worktree_dir: NonBlank = ".macoder/worktrees"
    #: Where the planning tracks live: `<specs_dir>/<track>/` holds SPEC.md, ARCH.md, QA.md
    #: and the PLAN.md merged from them (`macoder spec`).
    specs_dir: ProjectDirectory = "specs"
    #: The largest file macoder reads for the user (the backlog, also at a commit; the
    #: opencode.json of `opencode_config`), in bytes. The settings files, read before any
    #: setting is known, keep the default.
    max_file_bytes: int = Field(limits.MAX_FILE_BYTES, ge=1)

    max_context_bytes: int = Field(limits.MAX_CONTEXT_BYTES, ge=256)
    planning_debris: list[NonBlank] = Field(
        default_factory=lambda: list(limits.PLANNING_DEBRIS_PHRASES)
    )

    max_attempts: int = Field(limits.MAX_ATTEMPTS, ge=1)
    workers: int = Field(3, ge=1, le=64)

    task_timeout: Seconds = 1800.0
    run_timeout: Seconds = 4 * 3600.0
    #: Each of the repository's own checks (the tests on the default branch, then on every
    #: result): its own bound, not the agent's, since a slow suite is no slower for a short
    #: agent session (and a loaded CI runner needs room for it).
    checks_timeout: Seconds = 900.0
    #: Each planning agent's session (`macoder plan`; the seed's 10 minutes).
    planning_timeout: Seconds = 600.0

    retry: RetrySettings = Field(default_factory=RetrySettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    rebase: RebaseSettings = Field(default_factory=RebaseSettings)

    opencode_bin: NonBlank | None = None
    opencode_config: NonBlank | None = None
    opencode_version: Annotated[str, AfterValidator(_pinned_version)] = "1.18.33"
    #: `lean`: macoder's own agent (short system prompt, only the tools a task needs);
    #: `opencode`: OpenCode's `build` agent as it comes. See docs/benchmarks.md for the numbers.
    agent_profile: Literal["lean", "opencode"] = "lean"

    checks: CheckCommands = Field(default_factory=CheckCommands)
    drift_max_growth: float = Field(limits.MAX_DRIFT_GROWTH, gt=0, allow_inf_nan=False)

    git_author_name: NonBlank = "macoder"
    git_author_email: NonBlank = "macoder@localhost"

    failure_mode: FailureMode = "no-pr"
    #: Reviewers, assignees, labels, milestone and branch deletion of macoder's GitHub PRs.
    pull_request: PullRequestSettings = Field(default_factory=PullRequestSettings)

    #: The OS sandbox around the agent and the checks (bubblewrap). `sandbox: off` is an
    #: explicit opt-out: warned on every run and written into every PR body.
    sandbox: bool = True
    #: Extra paths the sandboxed agent and checks may read (e.g. a toolchain in your home).
    sandbox_read: list[NonBlank] = Field(default_factory=list)
    #: Paths an agent may not change in a verified result (see `globs.py` for the patterns).
    protected_paths: list[NonBlank] = Field(default_factory=lambda: list(limits.PROTECTED_PATHS))
    #: Test files: changed or deleted by the agent, they must still pass in their base version.
    test_globs: list[NonBlank] = Field(default_factory=lambda: list(limits.TEST_GLOBS))

    #: Hard caps, enforced by the gateway before each model request (None: no cap).
    max_tokens_per_task: int | None = Field(None, ge=1)
    max_tokens_per_run: int | None = Field(None, ge=1)
    max_cost_per_task: float | None = Field(None, gt=0, allow_inf_nan=False)
    max_cost_per_run: float | None = Field(None, gt=0, allow_inf_nan=False)
    #: `provider/model` -> its price per million tokens (for cost figures and cost caps).
    prices: dict[ModelRef, ModelPrice] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only explicit values: reading files and the environment is `load_settings`' job."""
        return (init_settings,)

    def context_settings(self) -> ContextSettings:
        """The compressor's and hygiene checks' settings; budgets not configurable here keep
        the seed's defaults."""
        from multi_agent_coder.context.build import ContextSettings

        return ContextSettings(
            max_bytes=self.max_context_bytes, debris_phrases=tuple(self.planning_debris)
        )


# --- public entry ---------------------------------------------------------------------------


def load_settings(root: Path, env: Mapping[str, str] | None = None) -> Settings:
    """The settings for the repository at `root`: defaults, then its files, then `env`.

    `env` defaults to `os.environ`; tests pass their own. Every problem in every source is
    reported at once (one line each), as a `ConfigError` naming the file and line or the
    variable.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    readers: tuple[Callable[[], list[_Layer]], ...] = (
        lambda: _pyproject_layers(root),
        lambda: _yaml_layers(root),
        lambda: _env_layers(environ),
    )
    messages: list[str] = []
    merged: dict[str, Any] = {}
    setter: dict[str, Place] = {}  # top-level key -> the place of the layer that set it last
    for read in readers:
        try:
            layers = read()
        except ConfigError as exc:
            messages.append(str(exc))
            continue
        for layer in layers:
            problems = _check_layer(layer)
            messages.extend(problems)
            if not problems:
                merged = _deep_merge(merged, layer.data)
                setter.update(dict.fromkeys(layer.data, layer.place))
    if messages:
        raise ConfigError("\n".join(messages))
    settings = _build(merged)
    unpriced = unpriced_models(settings)
    if unpriced:
        key = "max_cost_per_task" if "max_cost_per_task" in setter else "max_cost_per_run"
        raise ConfigError(f"{setter[key]((key,), True)}: {unpriced}")
    return settings


def unpriced_models(settings: Settings) -> str | None:
    """The one rule that relates settings of different sources: a cost cap needs a price for
    every model the run may use (the cap in .macoder.yaml, the prices in pyproject.toml is
    fine). The problem as a sentence, or None."""
    if settings.max_cost_per_task is None and settings.max_cost_per_run is None:
        return None
    missing = sorted(str(ref) for ref in settings.models.refs() if ref not in settings.prices)
    if not missing:
        return None
    return (
        f"a cost cap needs a price for every model: set prices for {', '.join(missing)}"
        " (per million tokens: input, output), or cap tokens instead (max_tokens_per_task)"
    )


# --- layers ---------------------------------------------------------------------------------

#: (location path, whether the key rather than the value is meant) -> "where: key path" text.
Place = Callable[[Loc, bool], str]


@dataclass(frozen=True, slots=True)
class _Layer:
    """The raw values of one source and how to name the place of each of them."""

    data: Mapping[Any, Any]
    place: Place
    #: Problems found while reading, before validation (an unknown variable name).
    problems: tuple[str, ...] = ()


def _check_layer(layer: _Layer) -> list[str]:
    """One line per problem of this layer taken alone (defaults fill in the rest), in the
    order the keys appear in the source."""
    order = {key: index for index, key in enumerate(layer.data)}
    found: list[tuple[int, str]] = [
        (order[key], f"{layer.place((key,), True)}: {_unknown_key(key, Settings)}")
        for key in layer.data
        if key not in Settings.model_fields
    ]
    known = {key: value for key, value in layer.data.items() if key in Settings.model_fields}
    try:
        Settings(**known)
    except ValidationError as exc:
        found += [(_rank(order, e), _describe_error(e, layer.place)) for e in exc.errors()]
    found.sort(key=lambda item: item[0])
    return [*layer.problems, *(message for _, message in found)]


def _rank(order: Mapping[Any, int], error: ErrorDetails) -> int:
    loc = error["loc"]
    return order.get(loc[0], len(order)) if loc else -1


def _build(merged: dict[str, Any]) -> Settings:
    """The final settings. Every layer passed on its own, so this fails only on a bug here."""
    try:
        return Settings(**merged)
    except ValidationError as exc:  # pragma: no cover - no rule relates two settings
        raise ConfigError(
            "\n".join(_describe_error(e, _merged_place) for e in exc.errors())
        ) from None


def _merged_place(loc: Loc, at_key: bool) -> str:  # pragma: no cover - see _build
    return f"configuration: {_dotted(loc)}"


def _deep_merge(base: Mapping[Any, Any], top: Mapping[Any, Any]) -> dict[str, Any]:
    """`top` over `base`; mappings merge key by key, anything else (lists too) is replaced."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = _deep_merge(below, value)
        else:
            out[key] = value
    return out


# --- reading files ------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes | None:
    """The file's bytes, None when it does not exist (defaults apply), ConfigError otherwise
    (a settings file is read as any user file is: `userfiles`, with the default limit)."""
    try:
        return read_user_file(path, max_bytes=limits.MAX_FILE_BYTES, shown=path.name)
    except UnreadableFileError as exc:
        if exc.missing:
            return None
        raise ConfigError(str(exc)) from None


def _decode(raw: bytes, name: str) -> str:
    try:
        return decode(raw)
    except YamlError as exc:
        raise ConfigError(f"{name}:{exc.line}:{exc.col}: {exc.message}") from None


# --- pyproject.toml -------------------------------------------------------------------------


_TOML_AT: Final = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _pyproject_layers(root: Path) -> list[_Layer]:
    raw = _read_bytes(root / PYPROJECT)
    if raw is None:
        return []
    text = _decode(raw, PYPROJECT)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_syntax_message(str(exc))) from None
    table: Any = document
    for key in PYPROJECT_TABLE:
        table = table.get(key, {}) if isinstance(table, dict) else table
    if not isinstance(table, dict):
        raise ConfigError(f"{PYPROJECT}: [tool.macoder] must be a table, got {kind_of(table)}")
    return [_Layer(table, lambda loc, _at_key: _pyproject_place(text, loc))] if table else []


def _toml_syntax_message(error: str) -> str:
    """tomllib has no position attributes before Python 3.14; it puts them in the message."""
    found = _TOML_AT.search(error)
    reason = _lower_first(_TOML_AT.sub("", error))
    if found is None:
        return f"{PYPROJECT}: invalid TOML: {reason}"
    return f"{PYPROJECT}:{found[1]}:{found[2]}: invalid TOML: {reason}"


def _pyproject_place(text: str, loc: Loc) -> str:
    found = _toml_key_position(text, tuple(str(part) for part in loc))
    where = f"{PYPROJECT}:{found[0]}:{found[1]}" if found else PYPROJECT
    return f"{where}: [tool.macoder] {_dotted(loc)}"


#: A table header line; the name is stripped afterwards. Each part has one way to match (no
#: lazy repeat next to a `\s*`), so a hostile line costs linear time: these run on every
#: line of a user's pyproject.toml.
_TOML_HEADER: Final = re.compile(r"[ \t]*\[([^\[\]]*)\][ \t]*(?:#.*)?")
#: A `key =` line: the indent (possessive, so the key's class cannot share its spaces) and the
#: raw key, stripped afterwards.
_TOML_KEY: Final = re.compile(r"([ \t]*+)([A-Za-z0-9_\-. \t\"']*)=")


def _toml_key_position(text: str, loc: tuple[str, ...]) -> tuple[int, int] | None:
    """Line and column of the key that sets `loc` under [tool.macoder], found by reading lines.

    tomllib keeps no positions, so this looks for the line whose table header plus dotted key
    is the longest prefix of `loc` (`[tool.macoder.models]` + `review =`, or `models = {...}`).
    Good enough for an error message; None when nothing matches.
    """
    best: tuple[int, int, int] | None = None  # (matched length, line, column)
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TOML_HEADER.fullmatch(line)
        if header is not None and header[1].strip():
            table = _toml_dotted(header[1])
            continue
        key = _TOML_KEY.match(line)
        if key is None or not key[2].strip():
            continue
        path = (*table, *_toml_dotted(key[2]))
        if path[: len(PYPROJECT_TABLE)] != PYPROJECT_TABLE:
            continue
        inner = path[len(PYPROJECT_TABLE) :]
        if inner and loc[: len(inner)] == inner and (best is None or len(inner) > best[0]):
            best = (len(inner), number, len(key[1]) + 1)
    return (best[1], best[2]) if best else None


def _toml_dotted(key: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in key.split("."))


# --- .macoder.yaml --------------------------------------------------------------------------


def _yaml_layers(root: Path) -> list[_Layer]:
    present = [name for name in CONFIG_FILES if os.path.lexists(root / name)]
    if len(present) > 1:
        raise ConfigError(f"{' and '.join(present)}: both exist; keep one of them")
    if not present:
        return []
    name = present[0]
    raw = _read_bytes(root / name)
    if raw is None:
        return []
    data, positions = _parse_yaml(_decode(raw, name), name)
    if data is None:
        return []
    return [_Layer(data, _yaml_place(name, positions))]


def _parse_yaml(text: str, name: str) -> tuple[Mapping[Any, Any] | None, Positions]:
    """The top-level mapping with positions; None for a file with no document (only comments)."""
    try:
        data, positions = parse_with_positions(text)
    except YamlError as exc:
        if exc.code == "empty-file":
            return None, Positions()
        message = exc.message
        if exc.code == "yaml-multiple-documents":
            message = "a second YAML document starts here; the config file is one document"
        raise ConfigError(f"{name}:{exc.line}:{exc.col}: {message}") from None
    if not isinstance(data, dict):
        line, col = positions.locate(())
        raise ConfigError(
            f"{name}:{line}:{col}: the file must be a mapping of settings, got {kind_of(data)}"
        )
    return data, positions


def _yaml_place(name: str, positions: Positions) -> Place:
    def place(loc: Loc, at_key: bool) -> str:
        line, col = positions.locate(loc, at_key=at_key)
        return f"{name}:{line}:{col}: {_dotted(loc)}"

    return place


# --- environment ----------------------------------------------------------------------------


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = environ  # read by _load_env_vars, which the base __init__ calls
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._given.items()}


def _env_layers(environ: Mapping[str, str]) -> list[_Layer]:
    """One layer per `MACODER_*` variable, so an error names the exact variable.

    Whole values (`MACODER_MODELS='{...}'`) come before nested ones (`MACODER_MODELS__REVIEW`)
    so the more specific variable wins, as in pydantic-settings.
    """
    names = sorted(
        (name for name, value in environ.items() if _is_ours(name) and value != ""),
        key=lambda name: (name.count(ENV_NESTED_DELIMITER), name),
    )
    return [_env_layer(name, environ[name]) for name in names]


def _is_ours(name: str) -> bool:
    return name.upper().startswith(ENV_PREFIX)


def _env_path(name: str) -> tuple[str, ...]:
    return tuple(name[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER))


def _env_name(path: Sequence[str]) -> str:
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(path).upper()


def _unknown_env_name(name: str) -> str | None:
    """Why `name` is no setting (with the closest variable that is one), or None if it is."""
    model: type[BaseModel] | None = Settings
    path: list[str] = []
    for part in _env_path(name):
        if model is None:
            return f"no such setting; {_env_name(path)} is set as a whole"
        if part not in model.model_fields:
            match = _closest(part, model.model_fields)
            hint = f"; did you mean {_env_name([*path, match])}?" if match else ""
            return f"no such setting{hint}"
        path.append(part)
        model = _submodel(model, part)
    return None


def _env_layer(name: str, value: str) -> _Layer:
    own = _env_path(name)

    def place(loc: Loc, _at_key: bool) -> str:
        inner = tuple(str(part) for part in loc)
        return f"environment {name}" if inner == own else f"environment {name}: {_dotted(loc)}"

    unknown = _unknown_env_name(name)
    if unknown is not None:
        return _Layer({}, place, (f"environment {name}: {unknown}",))
    try:
        data = _MappingEnvSource(Settings, {name: value})()
    except SettingsError:
        problem = (
            f'environment {name}: must be JSON (a list like \'["a", "b"]\' or a mapping '
            f'like \'{{"key": "value"}}\'), got {_show(value)}'
        )
        return _Layer({}, place, (problem,))
    return _Layer(data, place)


# --- messages -------------------------------------------------------------------------------


def _describe_error(error: ErrorDetails, place: Place) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        return f"{place(loc, True)}: {_unknown_key(loc[-1], parent)}"
    return f"{place(loc, False)}: {_reason(error)}, got {_show(error['input'])}"


_PLAIN: Final = {
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "dict_type": "must be a mapping",
}


def _reason(error: ErrorDetails) -> str:
    """Plain words for pydantic's error, in the project's "must ..." voice."""
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind in _PLAIN:
        return _PLAIN[kind]
    bounds = {
        "greater_than_equal": ("must be at least", "ge"),
        "less_than_equal": ("must be at most", "le"),
        "greater_than": ("must be greater than", "gt"),
        "less_than": ("must be less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {_number(ctx[key])}"
    if kind == "too_short":
        return "must not be empty"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind == "value_error":
        return str(ctx["error"])
    return _lower_first(error["msg"])


def _number(value: object) -> object:
    """`1` rather than `1.0` for a float bound that is whole: the user wrote neither."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _unknown_key(key: object, model: type[BaseModel] | None) -> str:
    """No setting starts with `_`: such a key (pydantic-settings' `_env_file`, ...) gets no
    did-you-mean, which would only point at an unrelated setting."""
    names = model.model_fields if model is not None else {}
    match = None if str(key).startswith("_") else _closest(str(key), names)
    hint = f"; did you mean {match!r}?" if match else ""
    return f"unknown key {str(key)!r}{hint}"


def _closest(word: str, candidates: Mapping[str, object]) -> str | None:
    found = difflib.get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def _submodel(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    annotation = model.model_fields[name].annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The settings group a location path leads to (None past a plain value)."""
    model: type[BaseModel] | None = Settings
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        model = _submodel(model, part)
    return model


def _dotted(loc: Loc) -> str:
    """`models.review`, `planning_debris[2]`: the key path as the user would write it."""
    return "".join(_loc_parts(loc))


def _loc_parts(loc: Loc) -> Iterator[str]:
    for index, part in enumerate(loc):
        if isinstance(part, int) and index > 0:
            yield f"[{part}]"
        else:
            yield f".{part}" if index > 0 else str(part)


def _show(value: object, limit: int = 60) -> str:
    text = json.dumps(value) if isinstance(value, bool) or value is None else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
