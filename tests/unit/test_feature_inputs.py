"""The Action's feature modes read their inputs: `plan-feature` (the planning agents, no token
at all) and `publish-feature` (the plan's one PR, with the token). A bad track is refused as
a task id is, before it reaches a path, a ref or a branch name; every input a feature mode
does not use is refused, not ignored.
"""

from __future__ import annotations

import pytest

from multi_agent_coder.action.inputs import InputError, read_inputs
from tests.unit.test_action_inputs import TOKEN, bad, env

SHA = "a" * 40


def test_plan_feature_takes_a_track_and_a_context_and_needs_an_agent_but_no_forge() -> None:
    inputs = read_inputs(env(mode="plan-feature", track="sign-in", context="docs/sign-in.md"))
    assert inputs.feature() == ("sign-in", "docs/sign-in.md")
    assert inputs.needs_agent
    assert not inputs.needs_forge
    assert inputs.github_token == ""


def test_publish_feature_takes_the_planned_base_and_the_token() -> None:
    inputs = read_inputs(
        env(
            mode="publish-feature",
            track="sign-in",
            context="./docs/sign-in.md",
            base_sha=SHA,
            github_token=TOKEN,
        )
    )
    assert inputs.feature() == ("sign-in", "docs/sign-in.md")  # as git names the path
    assert inputs.base_sha == SHA
    assert inputs.needs_forge
    assert not inputs.needs_agent
    assert inputs.require_token() == TOKEN


def test_publish_feature_without_a_token_says_why_it_needs_one() -> None:
    inputs = read_inputs(env(mode="publish-feature", track="a", context="c.md", base_sha=SHA))
    with pytest.raises(InputError, match="pushes the plan's branch and opens its pull request"):
        inputs.require_token()


@pytest.mark.parametrize(
    "track", ["../etc", "a/b", "Sign-In", ".hidden", "a..b", "x" * 65, "sign in", "søk", "-x"]
)
def test_a_track_that_could_leave_specs_or_hide_is_a_clear_input_error(track: str) -> None:
    message = bad(mode="plan-feature", track=track, context="c.md")
    assert "input 'track': invalid track name" in message
    assert "lowercase letters" in message


@pytest.mark.parametrize("context", ["/etc/passwd", "../outside.md", "a\\b.md", "."])
def test_a_context_outside_the_repository_is_refused(context: str) -> None:
    assert "input 'context': must" in bad(mode="plan-feature", track="a", context=context)


def test_the_planning_job_may_not_be_given_a_token() -> None:
    message = bad(mode="plan-feature", track="a", context="c.md", github_token=TOKEN)
    assert "input 'github-token': must be empty with mode 'plan-feature'" in message
    assert TOKEN not in message


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"mode": "plan-feature"}, "input 'track': required with mode 'plan-feature'"),
        ({"mode": "plan-feature", "track": "a"}, "input 'context': required"),
        (
            {"mode": "publish-feature", "track": "a", "context": "c.md"},
            "input 'base-sha': required with mode 'publish-feature'",
        ),
        (
            {"mode": "plan-feature", "track": "a", "context": "c.md", "base_sha": SHA},
            "input 'base-sha': not used with mode 'plan-feature'",
        ),
        (
            {"mode": "plan-feature", "track": "a", "context": "c.md", "task_id": "T001"},
            "input 'task-id': not used with mode 'plan-feature'",
        ),
        (
            {"mode": "plan-feature", "track": "a", "context": "c.md", "dry_run": "true"},
            "input 'dry-run': not for mode 'plan-feature'",
        ),
        ({"mode": "plan", "track": "a"}, "input 'track': only for modes plan-feature"),
        ({"context": "c.md"}, "input 'context': only for modes plan-feature and publish-feature"),
    ],
)
def test_every_feature_input_problem_names_the_input(inputs: dict[str, str], expected: str) -> None:
    assert expected in bad(**inputs)


def test_a_dry_run_set_to_false_is_no_dry_run_and_allowed() -> None:
    inputs = read_inputs(env(mode="plan-feature", track="a", context="c.md", dry_run="false"))
    assert not inputs.dry_run
