"""The action's inputs, outputs file and job summary.

Inputs arrive as `ACTION_INPUT_*` variables (action.yml passes each through `env:`); every bad
one must stop the action with exit 2 and a message naming the input as the workflow spells it,
before anything reads the repository. The outputs file must survive any value (newlines,
`name=value` look-alikes); the job summary must render any reason as one table cell.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from multi_agent_coder.action import main as action_main
from multi_agent_coder.action.inputs import (
    DEFAULTS,
    MODES,
    ActionInputs,
    InputError,
    env_name,
    input_name,
    read_inputs,
    read_runner,
)
from multi_agent_coder.action.outputs import (
    format_outputs,
    ready_json,
    render_health_summary,
    render_plan_summary,
    render_run_summary,
    run_outputs,
    run_result,
    write_outputs,
)
from multi_agent_coder.config import Settings
from multi_agent_coder.errors import EXIT_USAGE
from multi_agent_coder.forge.base import PrResult
from multi_agent_coder.report import workflow_command
from multi_agent_coder.run.orchestrator import RunReport
from multi_agent_coder.run.task import Phase, TaskOutcome
from tests.support import task

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghp_FAKE0123456789abcdef"  # noqa: S105 - a made-up token to look for


def env(**inputs: str) -> dict[str, str]:
    """`task_id="T001"` -> {"ACTION_INPUT_TASK_ID": "T001"}."""
    return {env_name(name.replace("_", "-")): value for name, value in inputs.items()}


def bad(**inputs: str) -> str:
    """The message `read_inputs` refuses these inputs with (a usage error, exit 2)."""
    with pytest.raises(InputError) as caught:
        read_inputs(env(**inputs))
    assert caught.value.exit_code == EXIT_USAGE
    return str(caught.value)


# --------------------------------------------------------------------------- parsing


def test_no_inputs_mean_mode_run_and_every_setting_kept() -> None:
    inputs = read_inputs({})
    assert inputs == ActionInputs()
    assert inputs.mode == "run"
    assert inputs.settings_overrides() == {}
    assert inputs.needs_agent
    assert inputs.needs_forge


def test_every_input_is_parsed_into_its_type() -> None:
    inputs = read_inputs(
        env(
            github_token=TOKEN + "\n",
            backlog="./plans/BACKLOG.yaml",
            mode="task",
            task_id="AUTH-012",
            max_parallel="5",
            task_timeout="900",
            run_timeout="3600.5",
            models="implementation: anthropic/claude-sonnet-4\ndocumentation: openai/gpt-4.1\n",
            opencode_version="1.18.33",
            opencode_config='{"provider": {}}',
            dry_run="True",
        )
    )
    assert inputs.github_token == TOKEN
    assert inputs.backlog == "plans/BACKLOG.yaml"
    assert inputs.mode == "task"
    assert inputs.task_id == "AUTH-012"
    assert inputs.max_parallel == 5
    assert inputs.task_timeout == 900.0
    assert inputs.run_timeout == 3600.5
    assert inputs.models == {
        "implementation": "anthropic/claude-sonnet-4",
        "documentation": "openai/gpt-4.1",
    }
    assert inputs.opencode_config == '{"provider": {}}'
    assert inputs.dry_run is True
    assert not inputs.needs_agent  # a dry run starts no agent
    assert inputs.settings_overrides() == {
        "backlog": "plans/BACKLOG.yaml",
        "workers": 5,
        "task_timeout": 900.0,
        "run_timeout": 3600.5,
        "opencode_version": "1.18.33",
    }


def test_models_may_be_json_too() -> None:
    inputs = read_inputs(env(models='{"documentation": "google/gemini-2.5-pro"}'))
    assert inputs.models == {"documentation": "google/gemini-2.5-pro"}


def test_blank_inputs_are_not_given() -> None:
    """GitHub passes an input the workflow left out as ""; whitespace is no value either."""
    assert read_inputs(env(mode="", task_timeout="  ", dry_run="")) == ActionInputs()


def test_secrets_never_show_in_the_repr() -> None:
    inputs = read_inputs(env(github_token=TOKEN, opencode_config='{"k": "sk-live"}'))
    assert TOKEN not in repr(inputs)
    assert "sk-live" not in repr(inputs)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (
            {"mode": "deploy"},
            "input 'mode': must be one of check, plan, health, task, publish, run, plan-feature, "
            "publish-feature, rebase, publish-rebase; got 'deploy'",
        ),
        ({"mode": "task"}, "input 'task-id': required with mode 'task'"),
        ({"mode": "check", "task_id": "T001"}, "input 'task-id': not used with mode 'check'"),
        ({"mode": "task", "task_id": "../x"}, "input 'task-id': invalid task id '../x'"),
        ({"task_id": "t001; rm -rf /"}, "input 'task-id': invalid task id"),
        ({"task_timeout": "-5"}, "input 'task-timeout': must be a positive number of seconds"),
        ({"task_timeout": "0"}, "input 'task-timeout': must be a positive number of seconds"),
        ({"run_timeout": "inf"}, "input 'run-timeout': must be a positive number of seconds"),
        ({"run_timeout": "1h"}, "input 'run-timeout': must be a number of seconds, got '1h'"),
        ({"max_parallel": "0"}, "input 'max-parallel': must be between 1 and 64, got 0"),
        ({"max_parallel": "65"}, "input 'max-parallel': must be between 1 and 64, got 65"),
        ({"max_parallel": "2.5"}, "input 'max-parallel': must be a whole number, got '2.5'"),
        ({"models": "- openai/gpt-4"}, "input 'models': must be a mapping of role to "),
        ({"models": "openai/gpt-4"}, "input 'models': must be a mapping of role to "),
        ({"models": "implementaton: openai/gpt-4"}, "did you mean 'implementation'?"),
        (
            {"models": "documentation: gpt-4"},
            "input 'models': documentation: must be 'provider/model'",
        ),
        ({"models": "documentation: [a"}, "input 'models': is not valid YAML or JSON (line 1"),
        (
            {"models": "rebasing: a/b"},
            "input 'models': unknown role 'rebasing'; did you mean 'rebase'? "
            "(roles: implementation, documentation, planning, review, rebase)",
        ),
        ({"opencode_version": "latest"}, "input 'opencode-version': must be an exact version"),
        ({"opencode_config": "[1, 2]"}, "input 'opencode-config': must be a JSON object"),
        ({"dry_run": "yes"}, "input 'dry-run': must be true or false, got 'yes'"),
        ({"backlog": "/etc/passwd"}, "input 'backlog': must be relative to the repository root"),
        ({"backlog": "../other/BACKLOG.yaml"}, "input 'backlog': must name a file inside"),
        ({"github_token": "ghp a b"}, "input 'github-token': contains whitespace"),
        ({"python": "python3 -I"}, "input 'python': must be one program name or path"),
        ({"reviewers": "alice, @bob"}, "input 'reviewers': must be a GitHub user name"),
        ({"team_reviewers": "octo/web"}, "input 'team-reviewers': must be a team's slug"),
        ({"assignees": "a b"}, "input 'assignees': must be a GitHub user name"),
        ({"labels": "x" * 51}, "input 'labels': must be a label name of 1 to 50 characters"),
        ({"milestone": "v1.0"}, "input 'milestone': must be a milestone's number, got 'v1.0'"),
        ({"milestone": "0"}, "input 'milestone': must be a milestone's number, got '0'"),
        ({"delete_branch": "yes"}, "input 'delete-branch': must be true or false, got 'yes'"),
        ({"sign_commits": "on"}, "input 'sign-commits': must be true or false, got 'on'"),
        ({"mode": "health"}, "input 'base-sha': required with mode 'health'"),
        (
            {"mode": "task", "task_id": "T001", "base_sha": "a" * 40, "healthy_sha": "abc123"},
            "input 'healthy-sha': must be a full commit id (40 hex digits), got 'abc123'",
        ),
        (
            {"mode": "publish", "task_id": "T001", "base_sha": "a" * 40, "healthy_sha": "a" * 40},
            "input 'healthy-sha': only for mode task, not 'publish'",
        ),
        (
            {"mode": "task", "task_id": "T001", "base_sha": "a" * 40, "unhealthy_sha": "a" * 40},
            "input 'unhealthy-sha': only for mode publish, not 'task'",
        ),
        ({"unhealthy_sha": "b" * 40}, "input 'unhealthy-sha': only for mode publish, not 'run'"),
    ],
)
def test_a_bad_input_is_a_usage_error_naming_it(inputs: dict[str, str], expected: str) -> None:
    assert expected in bad(**inputs)


def test_every_problem_is_reported_at_once_one_line_each() -> None:
    message = bad(mode="deploy", task_timeout="-1", max_parallel="x")
    assert message.splitlines() == [
        "input 'mode': must be one of check, plan, health, task, publish, run, plan-feature, "
        "publish-feature, rebase, publish-rebase; got 'deploy'",
        "input 'max-parallel': must be a whole number, got 'x'",
        "input 'task-timeout': must be a positive number of seconds, got '-1'",
    ]


def test_a_broken_opencode_config_is_not_quoted_back() -> None:
    """It comes from a secret and may hold API keys: the position, never the content."""
    message = bad(opencode_config='{"provider": {"x": {"apiKey": "sk-live-123"}')
    assert "input 'opencode-config': is not valid JSON (line 1" in message
    assert "sk-live" not in message
    token_message = bad(github_token=f"{TOKEN} x")
    assert TOKEN not in token_message


def test_an_unknown_action_input_variable_is_a_typo() -> None:
    with pytest.raises(InputError, match=r"ACTION_INPUT_TASKID: no such action input; did you "):
        read_inputs({"ACTION_INPUT_TASKID": "T001"})


def test_the_health_verdicts_reach_the_modes_that_use_them() -> None:
    sha, other = "a" * 40, "b" * 40
    health = read_inputs(env(mode="health", base_sha=sha))
    assert (health.mode, health.base_sha) == ("health", sha)
    assert not health.needs_forge  # the checkout only: no GitHub, no token
    assert not health.needs_agent
    task_inputs = read_inputs(env(mode="task", task_id="T001", base_sha=sha, healthy_sha=sha))
    assert task_inputs.healthy_sha == sha
    publish = read_inputs(env(mode="publish", task_id="T001", base_sha=sha, unhealthy_sha=other))
    assert publish.unhealthy_sha == other
    assert read_inputs(env(mode="task", task_id="T001", base_sha=sha)).healthy_sha is None


def test_the_token_is_required_only_where_github_is_used() -> None:
    assert read_inputs(env(mode="check")).github_token == ""
    assert read_inputs(env(mode="health", base_sha="a" * 40)).github_token == ""
    with pytest.raises(InputError, match="input 'github-token': required with mode 'plan'"):
        read_inputs(env(mode="plan")).require_token()
    assert read_inputs(env(mode="run", github_token=TOKEN)).require_token() == TOKEN


def test_runner_context_defaults_to_public_github() -> None:
    runner = read_runner({"GITHUB_REPOSITORY": "octo/hello-world"})
    assert runner.api_url == "https://api.github.com"
    assert runner.git_remote_url == "https://github.com/octo/hello-world.git"
    assert runner.output_file is None
    enterprise = read_runner(
        {
            "GITHUB_REPOSITORY": "octo/app",
            "GITHUB_SERVER_URL": "https://ghe.example.com/",
            "GITHUB_API_URL": "https://ghe.example.com/api/v3",
            "RUNNER_DEBUG": "1",
        }
    )
    assert enterprise.git_remote_url == "https://ghe.example.com/octo/app.git"
    assert enterprise.debug


def test_a_malformed_repository_variable_is_refused() -> None:
    with pytest.raises(InputError, match="GITHUB_REPOSITORY must be 'owner/name'"):
        read_runner({"GITHUB_REPOSITORY": "octo/app/../../x"})
    with pytest.raises(InputError, match="GITHUB_REPOSITORY is not set"):
        read_runner({}).require_repository()


def test_names_map_both_ways() -> None:
    assert env_name("github-token") == "ACTION_INPUT_GITHUB_TOKEN"
    assert input_name("ACTION_INPUT_OPENCODE_VERSION") == "opencode-version"


# --------------------------------------------------------------------------- action.yml


def action_yml() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_action_yml_declares_exactly_the_inputs_the_entry_reads_with_the_same_defaults() -> None:
    declared = action_yml()["inputs"]
    assert isinstance(declared, dict)
    assert set(declared) == set(DEFAULTS)
    for name, spec in declared.items():
        assert spec.get("description"), f"input {name} has no description"
        assert str(spec.get("default", "")) == DEFAULTS[name], name
    assert declared["github-token"]["required"] is True


def test_action_yml_passes_inputs_only_as_action_input_variables() -> None:
    """And never as MACODER_*: that prefix is settings', and an unknown one is an error."""
    runs = action_yml()["runs"]
    assert isinstance(runs, dict)
    for step in runs["steps"]:
        for variable, value in step.get("env", {}).items():
            assert not variable.startswith("MACODER_")
            match = re.fullmatch(r"\$\{\{ inputs\.([a-z-]+) \}\}", str(value))
            if match:
                assert variable == env_name(match.group(1))


def test_only_the_modes_that_may_start_an_agent_look_for_opencodes_cache() -> None:
    """The step is skipped by `if:` in the other modes; what it says must match the entry."""
    runs = action_yml()["runs"]
    assert isinstance(runs, dict)
    [step] = [step for step in runs["steps"] if step.get("id") == "npm-key"]
    named = set(re.findall(r"inputs\.mode == '([a-z-]+)'", step["if"]))
    assert named == {mode for mode in MODES if ActionInputs(mode=mode).needs_agent}


def test_only_the_step_that_talks_to_github_sees_the_token() -> None:
    runs = action_yml()["runs"]
    assert isinstance(runs, dict)
    holders = [
        step["id"]
        for step in runs["steps"]
        if any("github-token" in str(value) for value in step.get("env", {}).values())
    ]
    assert holders == ["macoder"]


# --------------------------------------------------------------------------- the entry


def run_entry(environ: Mapping[str, str], *argv: str) -> tuple[int, str, dict[str, str]]:
    out = io.StringIO()
    env_copy = dict(environ)
    code = action_main.main(list(argv) or ["run"], env_copy, stdout=out)
    return code, out.getvalue(), env_copy


@pytest.mark.parametrize(
    "inputs",
    [
        {"mode": "deploy"},
        {"mode": "task", "task_id": "../x"},
        {"task_timeout": "-1"},
        {"models": "[1]"},
        {"mode": "task"},
    ],
)
def test_the_entry_exits_2_on_bad_input_before_touching_anything(
    inputs: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run_entry({**env(**inputs), "GITHUB_OUTPUT": str(tmp_path / "out")})
    assert code == EXIT_USAGE
    assert "macoder: error: input '" in capsys.readouterr().err
    assert "result<<" in (tmp_path / "out").read_text()


def test_in_actions_the_error_is_an_annotation(tmp_path: Path) -> None:
    code, out, _ = run_entry({**env(mode="deploy", dry_run="x"), "GITHUB_ACTIONS": "true"})
    assert code == EXIT_USAGE
    assert out.startswith("::error title=macoder::input 'mode': must be one of")
    assert "%0Ainput 'dry-run'" in out  # two problems, one annotation, newline escaped


def test_the_entry_refuses_an_unknown_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert action_main.main(["deploy"], {}, stdout=io.StringIO()) == EXIT_USAGE
    assert "usage: python -m multi_agent_coder.action" in capsys.readouterr().err


def test_secrets_are_removed_from_the_environment_the_run_hands_down() -> None:
    environ = {
        "ACTION_INPUT_GITHUB_TOKEN": "t",
        "ACTION_INPUT_OPENCODE_CONFIG": "{}",
        "GITHUB_TOKEN": "t",
        "GH_TOKEN": "t",
        "ACTIONS_RUNTIME_TOKEN": "t",
        "OPENAI_API_KEY": "kept: the provider needs it",
        "PATH": "/usr/bin",
    }
    action_main.scrub_secrets(environ)
    assert environ == {"OPENAI_API_KEY": "kept: the provider needs it", "PATH": "/usr/bin"}


def test_inputs_override_the_repository_settings_role_by_role() -> None:
    base = Settings(workers=2, models={"documentation": "a/b", "implementation": "c/d"})
    inputs = read_inputs(env(max_parallel="7", models="documentation: e/f"))
    merged = action_main.with_inputs(base, inputs, opencode_bin="/opt/opencode")
    assert merged.workers == 7
    assert merged.models.documentation == "e/f"
    assert merged.models.implementation == "c/d"
    assert merged.opencode_bin == "/opt/opencode"
    assert action_main.with_inputs(base, read_inputs({})) == base


@pytest.mark.parametrize(
    ("given", "setting", "expected"),
    [
        ({"reviewers": "alice, bob\ncarol\n"}, "reviewers", ["alice", "bob", "carol"]),
        ({"team_reviewers": "web,\nops"}, "team_reviewers", ["web", "ops"]),
        ({"assignees": "alice"}, "assignees", ["alice"]),
        ({"labels": "automation, team:web"}, "labels", ["automation", "team:web"]),
        ({"milestone": " 3 "}, "milestone", 3),
        ({"delete_branch": "true"}, "delete_branch", True),
        ({"delete_branch": "false"}, "delete_branch", False),
        ({"sign_commits": "true"}, "sign_commits", True),
    ],
)
def test_pull_request_inputs_override_their_setting_and_keep_the_others(
    given: dict[str, str], setting: str, expected: object
) -> None:
    """create-pull-request's names and list format (comma- or newline-separated)."""
    base = Settings(pull_request={"labels": ["repo-label"], "delete_branch": True, "milestone": 1})
    merged = action_main.with_inputs(base, read_inputs(env(**given)))
    assert getattr(merged.pull_request, setting) == expected
    kept = {k: v for k, v in base.pull_request.model_dump().items() if k != setting}
    assert {k: v for k, v in merged.pull_request.model_dump().items() if k != setting} == kept


def test_the_python_input_is_looked_up_on_the_runners_path(tmp_path: Path) -> None:
    program = tmp_path / "python3.12"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    inputs = read_inputs(env(python="python3.12"))
    assert action_main.runner_python(inputs, {"PATH": str(tmp_path)}) == str(program)
    with pytest.raises(InputError, match=r"input 'python': 'python3\.12' is not found on PATH"):
        action_main.runner_python(inputs, {"PATH": str(tmp_path / "nowhere")})


# --------------------------------------------------------------------------- outputs file


def test_outputs_use_heredoc_blocks_with_random_delimiters() -> None:
    text = format_outputs({"ready": '["T001"]', "result": "ok"})
    blocks = re.findall(r"^([a-z-]+)<<(ghadelimiter_[0-9a-f]{32})\n(.*?)\n\2\n", text, re.M | re.S)
    assert [(name, value) for name, _, value in blocks] == [
        ("ready", '["T001"]'),
        ("result", "ok"),
    ]
    assert blocks[0][1] != blocks[1][1]


def test_a_multi_line_value_cannot_forge_another_output() -> None:
    value = "line one\nresult=succeeded\nEOF\n"
    text = format_outputs({"pr-url": value})
    assert parse_outputs(text) == {"pr-url": value}


def test_a_value_holding_the_delimiter_gets_another_delimiter() -> None:
    delimiters = iter(["D1", "D1", "D2"])
    text = format_outputs({"x": "a\nD1\nb"}, delimiter=lambda: next(delimiters))
    assert text == "x<<D2\na\nD1\nb\nD2\n"


def test_outputs_are_appended_to_the_file_or_printed_outside_actions(tmp_path: Path) -> None:
    path = tmp_path / "github_output"
    path.write_text("earlier=1\n")
    write_outputs(path, {"result": "ok"})
    write_outputs(path, {"ready": "[]"})
    text = path.read_text()
    assert text.startswith("earlier=1\n")
    assert parse_outputs(text.removeprefix("earlier=1\n")) == {"result": "ok", "ready": "[]"}
    shown = io.StringIO()
    write_outputs(None, {"result": "ok"}, fallback=shown)
    assert shown.getvalue() == "output result=ok\n"


def test_an_output_name_must_be_a_name() -> None:
    with pytest.raises(ValueError, match="not an output name"):
        format_outputs({"a\nb": "x"})


def parse_outputs(text: str) -> dict[str, str]:
    """How the runner reads the file: `name<<D`, lines up to a line that is exactly `D`."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines) and lines[index]:
        name, delimiter = lines[index].split("<<", 1)
        end = lines.index(delimiter, index + 1)
        values[name] = "\n".join(lines[index + 1 : end])
        index = end + 1
    return values


def test_workflow_commands_escape_what_would_end_or_split_them() -> None:
    assert workflow_command("error", "50% done\nnext::x", title="a:b,c") == (
        "::error title=a%3Ab%2Cc::50%25 done%0Anext::x"
    )


def test_ready_is_compact_json_for_a_matrix() -> None:
    assert ready_json(["T001", "AUTH-012"]) == '["T001","AUTH-012"]'
    assert ready_json([]) == "[]"


# --------------------------------------------------------------------------- job summary


def outcome(task_id: str, status: str, **fields: object) -> TaskOutcome:
    values: dict[str, object] = {
        "reason": "",
        "phase": Phase.DONE,
        "duration_s": 192.4,
        "context_bytes": 2345,
    }
    values.update(fields)
    return TaskOutcome(task_id, status, **values)  # type: ignore[arg-type]


def report(*outcomes: TaskOutcome, ready: list[str] | None = None, note: str = "") -> RunReport:
    return RunReport(
        run_id="20261125T120000-abcd1234",
        base_branch="main",
        base_sha="0123456789abcdef" * 2 + "01234567",
        ready=ready if ready is not None else [o.task_id for o in outcomes],
        outcomes=list(outcomes),
        note=note,
    )


PR = PrResult(12, "https://github.com/o/r/pull/12", "created", "f" * 40)


def test_the_summary_has_one_row_per_task_with_pr_time_and_context() -> None:
    text = render_run_summary(
        report(
            outcome("T001", "succeeded", pr=PR),
            outcome("T002", "failed", reason="tests fail | see log\n<b>boom</b>", duration_s=4.25),
        ),
        dry_run=False,
    )
    assert text.splitlines() == [
        "### macoder: 1 succeeded, 1 failed",
        "",
        "Base `main` at `0123456789`, run `20261125T120000-abcd1234`.",
        "",
        "| task | result | pull request | time | context | tokens in / out | reason |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        "| `T001` | succeeded | [#12](https://github.com/o/r/pull/12) (created) | 3m 12s "
        "| 2,345 B | - / - |  |",
        "| `T002` | failed | - | 4.2 s | 2,345 B | - / - "
        "| tests fail \\| see log &lt;b&gt;boom&lt;/b&gt; |",
    ]


def test_the_summary_shows_each_tasks_tokens_and_the_runs_total() -> None:
    text = render_run_summary(
        report(
            outcome("T001", "succeeded", pr=PR, tokens_in=12000, tokens_out=340, requests=3),
            outcome("T002", "failed", tokens_in=800, tokens_out=20, requests=1, cost=0.25),
        ),
        dry_run=False,
    )
    assert "| 2,345 B | 12,000 / 340 |" in text
    assert "| 2,345 B | 800 / 20 |" in text
    assert "Tokens this run: 12,800 in / 360 out, 4 model requests, cost 0.2500." in text
    unpriced = render_run_summary(report(outcome("T001", "succeeded", pr=PR)), dry_run=False)
    assert "Tokens this run" not in unpriced  # nothing counted: no line that says zero


def test_the_summary_says_why_nothing_ran() -> None:
    text = render_run_summary(report(ready=[], note="nothing to do: all 3 tasks"), dry_run=False)
    assert text.startswith("### macoder: nothing-ready\n")
    assert "nothing to do: all 3 tasks" in text
    dry = render_run_summary(report(ready=["T001"], note="dry run"), dry_run=True)
    assert dry.startswith("### macoder: dry-run\n")
    assert "Ready: `T001`" in dry


def test_task_outputs_describe_the_one_pull_request() -> None:
    assert run_outputs(report(outcome("T001", "succeeded", pr=PR)), dry_run=False) == {
        "ready": '["T001"]',
        "result": "succeeded",
        "pr-number": "12",
        "pr-url": "https://github.com/o/r/pull/12",
        "operation": "created",
        "head-sha": "f" * 40,
    }
    failed = run_outputs(report(outcome("T001", "failed")), dry_run=False)
    assert failed["operation"] == "none"
    assert failed["pr-number"] == ""


def test_several_tasks_report_the_worst_result_and_no_single_pr() -> None:
    several = report(outcome("T001", "succeeded", pr=PR), outcome("T002", "needs-review"))
    assert run_result(several, dry_run=False) == "needs-review"
    assert run_outputs(several, dry_run=False)["pr-number"] == ""


def test_the_plan_summary_lists_the_matrix() -> None:
    text = render_plan_summary([task("T001", title="Add | pipes")], note="", held_back=2)
    assert "### macoder plan: 1 task(s) ready" in text
    assert "| `T001` | Add \\| pipes |" in text
    assert "2 more ready task(s) wait for the next wave" in text
    assert render_plan_summary([], note="Nothing is ready.").startswith(
        "### macoder plan: nothing is ready\n"
    )


def test_the_health_summary_gives_the_verdict_and_fences_whatever_the_checks_printed() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    good = render_health_summary(sha, "the repository's own checks: healthy", healthy=True)
    assert good.startswith("### macoder: health check of `0123456789`: healthy")
    printed = "FAILED\n```\n# Heading <script>\n\x1b[31m`````"
    text = render_health_summary(sha, printed, healthy=False)
    assert "unhealthy: no task of this wave starts" in text
    body = text.split("\n", 2)[2]
    fence = body.split("text\n", 1)[0]
    assert fence == "`" * 6  # longer than any run of backticks inside
    assert body.rstrip("\n").endswith(fence)
    assert body.count(fence) == 2
    assert "\x1b" not in text
    assert "\\x1b[31m" in text


def test_the_docs_list_every_input_and_output() -> None:
    doc = (ROOT / "docs" / "github-action.md").read_text(encoding="utf-8")
    inputs = doc.split("## Inputs", 1)[1].split("\n## ", 1)[0]
    outputs = doc.split("## Outputs", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^\| `([a-z-]+)` \|", inputs, re.M)) == set(DEFAULTS)
    declared = action_yml()["outputs"]
    assert isinstance(declared, dict)
    assert set(re.findall(r"^\| `([a-z-]+)` \|", outputs, re.M)) == set(declared)


# --------------------------------------------------------------------------- sandbox, masking


def test_the_token_is_masked_in_every_form_git_may_print(tmp_path: Path) -> None:
    import base64
    import io

    out = io.StringIO()
    action_main.mask_token("ghs_abc", out)
    basic = base64.b64encode(b"x-access-token:ghs_abc").decode()
    assert out.getvalue().splitlines() == ["::add-mask::ghs_abc", f"::add-mask::{basic}"]


def test_the_sandbox_is_allowed_only_where_apparmor_forbids_it(tmp_path: Path) -> None:
    from multi_agent_coder.run.setup import allow_sandbox

    flag = tmp_path / "proc/sys/kernel/apparmor_restrict_unprivileged_userns"
    assert "no AppArmor" in allow_sandbox(flag)
    flag.parent.mkdir(parents=True)
    flag.write_text("0\n")
    assert allow_sandbox(flag) == "sandbox: unprivileged user namespaces are allowed"


@pytest.mark.parametrize(
    ("workflow_ref", "file"),
    [
        ("octo/widgets/.github/workflows/macoder.yml@refs/heads/main", "macoder.yml"),
        ("octo/widgets/.github/workflows/ci.yaml@refs/tags/v1", "ci.yaml"),
        ("", None),
        ("octo/widgets/.github/workflows/../../etc@refs/heads/main", None),
        ("octo/widgets/.github/workflows/x.yml%2F..@main", None),
        ("octo/widgets/.github/workflows/run me.yml@main", None),
    ],
)
def test_the_workflow_to_dispatch_is_a_plain_workflow_file_name(
    workflow_ref: str, file: str | None
) -> None:
    from multi_agent_coder.action.inputs import read_runner

    runner = read_runner({"GITHUB_WORKFLOW_REF": workflow_ref})
    assert runner.workflow_file == file
