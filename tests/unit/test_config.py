"""Settings: seed defaults, overridden by pyproject.toml, then .macoder.yaml, then MACODER_* vars.

Every test writes real files under tmp_path and passes the environment explicitly, so nothing
here depends on the developer's own environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from multi_agent_coder import limits
from multi_agent_coder.config import (
    CheckCommands,
    ModelSettings,
    RetrySettings,
    Settings,
    load_settings,
)
from multi_agent_coder.context.build import ContextSettings
from multi_agent_coder.errors import EXIT_USAGE, ConfigError


def write(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def load(
    root: Path, files: Mapping[str, str | bytes] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    write(root, files or {})
    return load_settings(root, env or {})


def config_error(
    root: Path, files: Mapping[str, str | bytes] | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The message of the ConfigError loading must raise; it must be fit to show as it is."""
    with pytest.raises(ConfigError) as caught:
        load(root, files, env)
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE
    assert "Traceback" not in message
    assert caught.value.__cause__ is None
    return message


# --- defaults -------------------------------------------------------------------------------


def test_without_any_source_the_settings_are_the_seed_constants(tmp_path: Path) -> None:
    settings = load(tmp_path)

    assert settings == Settings()
    assert settings.backlog == "BACKLOG.yaml"
    assert settings.worktree_dir == ".macoder/worktrees"
    assert settings.specs_dir == "specs"
    assert settings.max_context_bytes == limits.MAX_CONTEXT_BYTES == 3000
    assert settings.planning_debris == list(limits.PLANNING_DEBRIS_PHRASES)
    assert settings.max_attempts == limits.MAX_ATTEMPTS == 3
    assert settings.workers == 3
    assert settings.task_timeout == 30 * 60
    assert settings.run_timeout == 4 * 3600
    assert settings.retry == RetrySettings(max_retries=3, delay=1.0, backoff=2.0, max_delay=30.0)
    assert settings.models == ModelSettings(implementation="openai/gpt-4", documentation=None)
    assert settings.opencode_bin is None
    assert settings.opencode_config is None
    assert settings.opencode_version == "1.18.33"
    assert settings.checks == CheckCommands(test=None, lint=None, types=None)
    assert settings.drift_max_growth == limits.MAX_DRIFT_GROWTH == 0.5
    assert settings.git_author_name == "macoder"
    assert settings.git_author_email == "macoder@localhost"
    assert settings.failure_mode == "no-pr"


def test_a_pyproject_without_a_macoder_table_changes_nothing(tmp_path: Path) -> None:
    assert load(tmp_path, {"pyproject.toml": "[project]\nname = 'x'\n"}) == Settings()


def test_a_config_file_with_only_comments_changes_nothing(tmp_path: Path) -> None:
    assert load(tmp_path, {".macoder.yaml": "# nothing yet\n"}) == Settings()


def test_settings_built_directly_never_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MACODER_WORKERS", "9")

    assert Settings().workers == 3


def test_settings_are_immutable() -> None:
    settings = Settings()

    with pytest.raises(ValueError, match="frozen"):
        settings.workers = 5  # type: ignore[misc]


# --- precedence -----------------------------------------------------------------------------

PYPROJECT = "[tool.macoder]\nworkers = 4\n"
YAML = "workers: 5\n"
ENV = {"MACODER_WORKERS": "6"}


def test_pyproject_overrides_the_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, {"pyproject.toml": PYPROJECT}).workers == 4


def test_the_specs_directory_is_kept_as_a_clean_relative_path(tmp_path: Path) -> None:
    assert load(tmp_path, {".macoder.yaml": "specs_dir: ./design/\n"}).specs_dir == "design"
    assert load(tmp_path, env={"MACODER_SPECS_DIR": "docs/specs"}).specs_dir == "docs/specs"


def test_the_yaml_file_overrides_pyproject(tmp_path: Path) -> None:
    assert load(tmp_path, {"pyproject.toml": PYPROJECT, ".macoder.yaml": YAML}).workers == 5


def test_the_environment_overrides_the_yaml_file(tmp_path: Path) -> None:
    assert load(tmp_path, {".macoder.yaml": YAML}, ENV).workers == 6


def test_each_source_overrides_only_what_it_sets(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": (
            "[tool.macoder]\nworkers = 4\nbacklog = 'from-pyproject.yaml'\nworktree_dir = 'wt'\n"
            "[tool.macoder.models]\nimplementation = 'anthropic/claude'\n"
            "documentation = 'anthropic/claude'\n"
        ),
        ".macoder.yaml": (
            "workers: 5\nbacklog: from-yaml.yaml\nmodels:\n  documentation: google/gemini\n"
        ),
    }
    env = {"MACODER_WORKERS": "6"}

    settings = load(tmp_path, files, env)

    assert settings.workers == 6
    assert settings.backlog == "from-yaml.yaml"
    assert settings.worktree_dir == "wt"
    assert settings.models.implementation == "anthropic/claude"
    assert settings.models.documentation == "google/gemini"
    assert settings.max_attempts == 3


def test_a_list_from_a_higher_source_replaces_the_lower_list(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": "[tool.macoder]\nplanning_debris = ['a', 'b']\n",
        ".macoder.yaml": "planning_debris: [c]\n",
    }

    assert load(tmp_path, files).planning_debris == ["c"]


def test_the_short_yaml_extension_is_read_too(tmp_path: Path) -> None:
    assert load(tmp_path, {".macoder.yml": YAML}).workers == 5


def test_load_settings_reads_os_environ_when_no_environment_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.upper().startswith("MACODER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MACODER_WORKERS", "7")

    assert load_settings(tmp_path).workers == 7


# --- environment ----------------------------------------------------------------------------


def test_nested_settings_are_set_with_a_double_underscore(tmp_path: Path) -> None:
    env = {"MACODER_MODELS__IMPLEMENTATION": "anthropic/claude", "MACODER_RETRY__DELAY": "0.5"}

    settings = load(tmp_path, env=env)

    assert settings.models.implementation == "anthropic/claude"
    assert settings.retry.delay == 0.5


def test_lists_and_groups_come_from_the_environment_as_json(tmp_path: Path) -> None:
    env = {
        "MACODER_PLANNING_DEBRIS": '["scratch that", "as discussed"]',
        "MACODER_RETRY": '{"max_retries": 5, "backoff": 3}',
    }

    settings = load(tmp_path, env=env)

    assert settings.planning_debris == ["scratch that", "as discussed"]
    assert settings.retry == RetrySettings(max_retries=5, delay=1.0, backoff=3.0, max_delay=30.0)


def test_a_nested_variable_wins_over_the_whole_group(tmp_path: Path) -> None:
    env = {
        "MACODER_MODELS__DOCUMENTATION": "x/specific",
        "MACODER_MODELS": '{"documentation": "x/whole", "implementation": "x/whole"}',
    }

    settings = load(tmp_path, env=env)

    assert settings.models.documentation == "x/specific"
    assert settings.models.implementation == "x/whole"


def test_variable_names_are_case_insensitive_after_the_prefix(tmp_path: Path) -> None:
    assert load(tmp_path, env={"MACODER_Workers": "8"}).workers == 8


def test_an_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    env = {"MACODER_WORKERS": "", "MACODER_OPENCODE_BIN": ""}

    settings = load(tmp_path, {".macoder.yaml": YAML}, env)

    assert settings.workers == 5
    assert settings.opencode_bin is None


def test_variables_without_the_prefix_are_none_of_our_business(tmp_path: Path) -> None:
    env = {"WORKERS": "0", "GITHUB_TOKEN": "ghp_secret", "MACODERX": "1"}

    assert load(tmp_path, env=env) == Settings()


# --- check commands -------------------------------------------------------------------------


def test_a_command_string_is_split_like_a_shell_would(tmp_path: Path) -> None:
    files = {".macoder.yaml": "checks:\n  test: pytest -q 'tests/unit dir'\n"}

    assert load(tmp_path, files).checks.test == ["pytest", "-q", "tests/unit dir"]


def test_a_command_list_is_kept_as_it_is(tmp_path: Path) -> None:
    files = {"pyproject.toml": "[tool.macoder.checks]\nlint = ['ruff', 'check', '.; rm -rf /']\n"}

    assert load(tmp_path, files).checks.lint == ["ruff", "check", ".; rm -rf /"]


def test_a_command_from_the_environment_may_be_a_string_or_json(tmp_path: Path) -> None:
    env = {"MACODER_CHECKS__TEST": "pytest -x", "MACODER_CHECKS__TYPES": '["mypy", "src"]'}

    checks = load(tmp_path, env=env).checks

    assert checks.test == ["pytest", "-x"]
    assert checks.types == ["mypy", "src"]
    assert checks.lint is None


def test_an_unbalanced_quote_in_a_command_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "checks:\n  test: pytest 'oops\n"})

    assert message == (
        ".macoder.yaml:2:9: checks.test: is not a valid command line (No closing quotation), "
        'got "pytest \'oops"'
    )


def test_an_empty_command_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, env={"MACODER_CHECKS__LINT": "  "})

    assert message == "environment MACODER_CHECKS__LINT: must not be empty, got []"


# --- bad values, named where they are -------------------------------------------------------


def test_a_bad_yaml_value_is_reported_with_line_and_column(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "backlog: B.yaml\nworkers: 0\n"})

    assert message == ".macoder.yaml:2:10: workers: must be at least 1, got 0"


def test_a_bad_nested_yaml_value_names_its_path(tmp_path: Path) -> None:
    files = {".macoder.yaml": "models:\n  documentation: gpt4\nplanning_debris: [ok, '  ']\n"}

    assert config_error(tmp_path, files).splitlines() == [
        ".macoder.yaml:2:18: models.documentation: must be 'provider/model' with no spaces "
        "(e.g. 'openai/gpt-4', 'openrouter/anthropic/claude-sonnet-4'), got 'gpt4'",
        ".macoder.yaml:3:23: planning_debris[1]: must not be empty, got '  '",
    ]


def test_a_bad_pyproject_value_names_the_table_and_line(tmp_path: Path) -> None:
    files = {"pyproject.toml": "[project]\nname = 'x'\n\n[tool.macoder]\nworkers = 65\n"}

    assert config_error(tmp_path, files) == (
        "pyproject.toml:5:1: [tool.macoder] workers: must be at most 64, got 65"
    )


def test_a_bad_value_in_a_pyproject_sub_table_is_found_too(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": (
            "[tool.macoder]\nworkers = 2\n\n"
            "[tool.macoder.retry]\nmax_retries = 2\n  backoff = 0.5\n"
        )
    }

    assert config_error(tmp_path, files) == (
        "pyproject.toml:6:3: [tool.macoder] retry.backoff: must be at least 1, got 0.5"
    )


def test_a_bad_pyproject_value_without_a_findable_line_still_names_the_table(
    tmp_path: Path,
) -> None:
    files = {"pyproject.toml": "tool = { macoder = { failure_mode = 'pr' } }\n"}

    assert config_error(tmp_path, files) == (
        "pyproject.toml: [tool.macoder] failure_mode: must be one of 'no-pr' or 'draft-pr', "
        "got 'pr'"
    )


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    message = config_error(tmp_path, env={"MACODER_WORKERS": "0"})

    assert message == "environment MACODER_WORKERS: must be at least 1, got '0'"


def test_a_bad_value_inside_a_json_variable_names_the_variable_and_the_key(
    tmp_path: Path,
) -> None:
    message = config_error(tmp_path, env={"MACODER_RETRY": '{"delay": -1}'})

    assert message == "environment MACODER_RETRY: retry.delay: must be at least 0, got -1"


def test_a_variable_that_needs_json_and_has_none_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, env={"MACODER_PLANNING_DEBRIS": "let me think, we explored"})

    assert message.startswith("environment MACODER_PLANNING_DEBRIS: must be JSON (a list like ")
    assert message.endswith("got 'let me think, we explored'")


def test_each_bad_value_is_blamed_on_the_source_that_supplied_it(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": "[tool.macoder]\nrun_timeout = 0\n",
        ".macoder.yaml": "workers: 5\ntask_timeout: -1\n",
    }
    env = {"MACODER_WORKERS": "4", "MACODER_FAILURE_MODE": "comment"}

    assert config_error(tmp_path, files, env).splitlines() == [
        "pyproject.toml:2:1: [tool.macoder] run_timeout: must be greater than 0, got 0",
        ".macoder.yaml:2:15: task_timeout: must be greater than 0, got -1",
        "environment MACODER_FAILURE_MODE: must be one of 'no-pr' or 'draft-pr', got 'comment'",
    ]


def test_a_value_overridden_above_is_still_checked_where_it_is_written(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "workers: 0\n"}, {"MACODER_WORKERS": "4"})

    assert message == ".macoder.yaml:1:10: workers: must be at least 1, got 0"


def test_model_ids_may_hold_slashes_after_the_provider(tmp_path: Path) -> None:
    from multi_agent_coder.config import load_settings

    env = {"MACODER_MODELS__DOCUMENTATION": "openrouter/anthropic/claude-sonnet-4"}
    settings = load_settings(tmp_path, env)

    assert settings.models.documentation == "openrouter/anthropic/claude-sonnet-4"


@pytest.mark.parametrize("ref", ["gpt-4", "openai/", "/gpt-4", "a/b/", "openai/gpt 4"])
def test_a_model_must_be_provider_slash_model(tmp_path: Path, ref: str) -> None:
    message = config_error(tmp_path, env={"MACODER_MODELS__DOCUMENTATION": ref})

    assert message.startswith("environment MACODER_MODELS__DOCUMENTATION: must be 'provider/model'")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("task_timeout: 0", "task_timeout: must be greater than 0, got 0"),
        ("run_timeout: .inf", "run_timeout: must be a finite number, got inf"),
        ("max_context_bytes: 255", "max_context_bytes: must be at least 256, got 255"),
        ("max_attempts: 0", "max_attempts: must be at least 1, got 0"),
        ("workers: 65", "workers: must be at most 64, got 65"),
        ("workers: two", "workers: must be a whole number, got 'two'"),
        ("opencode_version: latest", "opencode_version: must be an exact version"),
        ("drift_max_growth: 0", "drift_max_growth: must be greater than 0, got 0"),
        ("backlog: ''", "backlog: must not be empty, got ''"),
        ("models: null", "models: must be a mapping, got null"),
        ("planning_debris: we explored", "planning_debris: must be a list, got 'we explored'"),
        ("specs_dir: /etc", "specs_dir: must be a directory inside the project"),
        ("specs_dir: ../elsewhere", "specs_dir: must be a directory inside the project"),
        ("specs_dir: docs/../../x", "specs_dir: must be a directory inside the project"),
        ("specs_dir: .", "specs_dir: must be a directory inside the project"),
        ("specs_dir: 'a\\b'", "specs_dir: must be a directory inside the project"),
    ],
)
def test_out_of_range_values_are_refused(tmp_path: Path, line: str, reason: str) -> None:
    message = config_error(tmp_path, {".macoder.yaml": line + "\n"})

    assert message.startswith(".macoder.yaml:1:")
    assert message.split(": ", 1)[1].startswith(reason)


# --- unreadable files -----------------------------------------------------------------------


def test_invalid_yaml_is_reported_with_line_and_column(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "workers: 2\nmodels: [a\n"})

    assert message.startswith(".macoder.yaml:3:1: invalid YAML: ")


def test_a_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "workers: 2\nworkers: 3\n"})

    assert message.startswith(".macoder.yaml:2:1: key 'workers' appears twice")


def test_a_yaml_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "- workers\n- 3\n"})

    assert message == ".macoder.yaml:1:1: the file must be a mapping of settings, got a list"


def test_a_yaml_file_with_two_documents_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "workers: 2\n---\nworkers: 3\n"})

    assert message.startswith(".macoder.yaml:3:1: a second YAML document starts here")


def test_a_yaml_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": b"workers: 2\nbacklog: caf\xe9\n"})

    assert message == ".macoder.yaml:2:13: byte 0xe9 is not valid UTF-8; save the file as UTF-8"


def test_both_yaml_file_names_at_once_are_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": YAML, ".macoder.yml": YAML})

    assert message == ".macoder.yaml and .macoder.yml: both exist; keep one of them"


def test_invalid_toml_is_reported_with_line_and_column(tmp_path: Path) -> None:
    message = config_error(tmp_path, {"pyproject.toml": "[tool.macoder]\nworkers = \n"})

    assert message == "pyproject.toml:2:11: invalid TOML: invalid value"


def test_a_pyproject_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, {"pyproject.toml": b"[tool.macoder]\nbacklog = '\xff'\n"})

    assert message.startswith("pyproject.toml:2:12: byte 0xff is not valid UTF-8")


def test_a_macoder_entry_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, {"pyproject.toml": "[tool]\nmacoder = 3\n"})

    assert message == "pyproject.toml: [tool.macoder] must be a table, got a number"


def test_a_config_path_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").mkdir()

    assert config_error(tmp_path) == (
        "pyproject.toml: is a directory, not a regular file; macoder reads only regular files"
    )


# --- unknown keys ---------------------------------------------------------------------------


def test_an_unknown_yaml_key_suggests_the_closest_setting(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "workers: 2\nwokers: 3\n"})

    assert message == ".macoder.yaml:2:1: wokers: unknown key 'wokers'; did you mean 'workers'?"


def test_an_unknown_nested_yaml_key_suggests_within_its_group(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "models:\n  implementaton: a/b\n"})

    assert message == (
        ".macoder.yaml:2:3: models.implementaton: unknown key 'implementaton'; "
        "did you mean 'implementation'?"
    )


def test_an_unknown_key_with_nothing_close_gets_no_suggestion(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "colour: blue\n"})

    assert message == ".macoder.yaml:1:1: colour: unknown key 'colour'"


def test_keys_that_look_like_pydantic_settings_options_are_just_unknown(tmp_path: Path) -> None:
    message = config_error(tmp_path, {".macoder.yaml": "_env_file: /etc/passwd\n"})

    assert message == ".macoder.yaml:1:1: _env_file: unknown key '_env_file'"


def test_an_unknown_pyproject_key_suggests_the_closest_setting(tmp_path: Path) -> None:
    files = {"pyproject.toml": "[tool.macoder]\nworkers = 2\nfailure_mod = 'no-pr'\n"}

    assert config_error(tmp_path, files) == (
        "pyproject.toml:3:1: [tool.macoder] failure_mod: unknown key 'failure_mod'; "
        "did you mean 'failure_mode'?"
    )


def test_an_unknown_pyproject_sub_table_key_suggests_within_its_group(tmp_path: Path) -> None:
    files = {"pyproject.toml": "[tool.macoder.checks]\ntests = 'pytest'\n"}

    assert config_error(tmp_path, files) == (
        "pyproject.toml:2:1: [tool.macoder] checks.tests: unknown key 'tests'; did you mean 'test'?"
    )


def test_an_unknown_variable_suggests_the_closest_variable(tmp_path: Path) -> None:
    message = config_error(tmp_path, env={"MACODER_WORKRES": "2"})

    assert message == "environment MACODER_WORKRES: no such setting; did you mean MACODER_WORKERS?"


def test_an_unknown_nested_variable_suggests_the_closest_variable(tmp_path: Path) -> None:
    message = config_error(tmp_path, env={"MACODER_MODELS__IMPLEMENTATON": "a/b"})

    assert message == (
        "environment MACODER_MODELS__IMPLEMENTATON: no such setting; "
        "did you mean MACODER_MODELS__IMPLEMENTATION?"
    )


def test_a_variable_below_a_plain_setting_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, env={"MACODER_WORKERS__MAX": "2"})

    assert message == (
        "environment MACODER_WORKERS__MAX: no such setting; MACODER_WORKERS is set as a whole"
    )


def test_an_unknown_key_inside_a_json_variable_suggests_within_its_group(tmp_path: Path) -> None:
    message = config_error(tmp_path, env={"MACODER_CHECKS": '{"lnt": "ruff check"}'})

    assert message == (
        "environment MACODER_CHECKS: checks.lnt: unknown key 'lnt'; did you mean 'lint'?"
    )


def test_tokens_are_not_settings_and_their_values_are_never_echoed(tmp_path: Path) -> None:
    message = config_error(tmp_path, env={"MACODER_GITHUB_TOKEN": "ghp_secret"})

    assert message.startswith("environment MACODER_GITHUB_TOKEN: no such setting")
    assert "ghp_secret" not in message


def test_every_problem_in_every_source_is_reported_at_once(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": "[tool.macoder\n",
        ".macoder.yaml": "wokers: 2\nworkers: 0\n",
    }
    env = {"MACODER_WORKRES": "1", "MACODER_WORKERS": "x"}

    lines = config_error(tmp_path, files, env).splitlines()

    assert [line.split(":", 1)[0] for line in lines] == [
        "pyproject.toml",
        ".macoder.yaml",
        ".macoder.yaml",
        "environment MACODER_WORKERS",
        "environment MACODER_WORKRES",
    ]


# --- context settings -----------------------------------------------------------------------


def test_context_settings_take_the_size_limit_and_debris_phrases(tmp_path: Path) -> None:
    files = {".macoder.yaml": "max_context_bytes: 4096\nplanning_debris: [scratch that]\n"}

    context = load(tmp_path, files).context_settings()

    assert context == ContextSettings(max_bytes=4096, debris_phrases=("scratch that",))


def test_context_settings_by_default_are_the_context_builders_defaults() -> None:
    assert Settings().context_settings() == ContextSettings()
