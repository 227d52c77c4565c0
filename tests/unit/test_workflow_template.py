"""`macoder init --github`: the tested workflow, made a user's, and nothing else changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from multi_agent_coder.errors import UsageError
from multi_agent_coder.workflow import check_action_ref, render, template

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"
ACTION = f"acme/multi-agent-coder@{SHA}"


def test_the_packaged_template_is_the_workflow_the_tests_run() -> None:
    assert template() == (ROOT / ".github" / "workflows" / "macoder.yml").read_text()


def _uses(document: dict[str, Any]) -> list[str]:
    return [
        step["uses"]
        for job in document["jobs"].values()
        for step in job["steps"]
        if "uses" in step and "actions/" not in step["uses"]
    ]


def test_a_rendered_workflow_pins_the_action_and_names_the_branch_and_backlog() -> None:
    text = render(ACTION, "trunk", "plans/BACKLOG.yaml")
    document = yaml.safe_load(text)
    original = yaml.safe_load(template())
    # plan, health, task, publish, plan-feature, publish-feature
    assert _uses(original) == ["./"] * 8
    assert _uses(document) == [ACTION] * 8
    on = document[True]  # PyYAML reads the key `on` as a boolean
    assert on["push"]["branches"] == ["trunk"]
    assert on["push"]["paths"] == ["plans/BACKLOG.yaml", "specs/**"]
    assert "uses: ./" not in text
    assert "tests run" not in text  # no note meant for this repository
    # Everything else is the workflow as tested: jobs, permissions, steps, inputs.
    for job in (*document["jobs"].values(), *original["jobs"].values()):
        for step in job["steps"]:
            if step.get("uses", "").startswith(("./", "acme/")):
                step["uses"] = "the action"
    assert document["jobs"] == original["jobs"]
    assert document["permissions"] == original["permissions"] == {}


@pytest.mark.parametrize(
    ("branch", "shown"),
    [("main", "[main]"), ("release/2.x", "[release/2.x]"), ("it's#1", '["it\'s#1"]')],
)
def test_a_branch_name_yaml_would_misread_is_quoted(branch: str, shown: str) -> None:
    text = render(ACTION, branch, "BACKLOG.yaml")
    assert f"    branches: {shown}\n" in text
    assert yaml.safe_load(text)[True]["push"]["branches"] == [branch]


@pytest.mark.parametrize(
    "action",
    [
        "acme/multi-agent-coder@v1",  # a tag can be moved to other code
        "acme/multi-agent-coder@main",
        f"acme/multi-agent-coder@{SHA[:12]}",  # a short sha is ambiguous
        "acme/multi-agent-coder",
        "./",
        f"acme/x@{SHA}\n        run: curl evil",  # a line break would add YAML
        f"acme/x@{SHA} # ok",
        f"-acme/x@{SHA}",
        f"acme/x@{SHA.upper()}",
    ],
)
def test_only_an_action_pinned_to_a_full_commit_sha_is_accepted(action: str) -> None:
    with pytest.raises(UsageError, match="OWNER/REPO@<full commit sha>"):
        check_action_ref(action)


def test_an_action_in_a_subdirectory_of_its_repository_is_accepted() -> None:
    assert check_action_ref(f"acme/tools/macoder@{SHA}") == f"acme/tools/macoder@{SHA}"


def test_a_template_the_renderer_does_not_recognise_fails_loudly() -> None:
    edited = template().replace("    branches: [main]\n", "    branches: [main, dev]\n")
    with pytest.raises(ValueError, match="push branches"):
        render(ACTION, "main", "BACKLOG.yaml", edited)


def test_a_task_jobs_own_timeouts_fire_before_the_workflow_kills_it() -> None:
    """The task job's `timeout-minutes` exceeds the sum of the bounds it runs under with the
    default settings, with a margin; and the plan's lease outlives a job ended by them."""
    from multi_agent_coder.config import Settings
    from multi_agent_coder.run.budget import health_job_seconds, task_job_seconds
    from multi_agent_coder.run.session import JOB_QUEUE_S, job_lease_ttl

    settings = Settings()
    job = yaml.safe_load(template())["jobs"]["run"]
    limit_s = job["timeout-minutes"] * 60
    own_bounds_s = (
        settings.checks_timeout  # the health check: the tests
        + 2 * settings.checks_timeout  # verification: the tests, twice at most
        + settings.task_timeout  # the agent session
        + 900
        + 60  # installing OpenCode, its version check
    )
    assert task_job_seconds(settings) >= own_bounds_s
    assert limit_s >= 1.1 * task_job_seconds(settings), "the workflow would kill the task first"
    # The task job starts after the health job: the lease outlives both.
    assert job_lease_ttl(settings, queued=True) >= (
        JOB_QUEUE_S + health_job_seconds(settings) + task_job_seconds(settings)
    )
    # More checks, more time: the budget follows the settings.
    more = Settings(checks={"lint": ["ruff", "check"], "types": ["mypy", "src"]})
    assert task_job_seconds(more) == task_job_seconds(settings) + 2 * settings.checks_timeout


def test_the_health_jobs_own_timeouts_fire_before_the_workflow_kills_it() -> None:
    """The health job runs the repository's checks on the planned commit once per wave:
    its `timeout-minutes` exceeds every check's bound and the setup around them."""
    from multi_agent_coder.config import Settings
    from multi_agent_coder.run.budget import UNBOUNDED_SETUP_S, health_job_seconds

    settings = Settings()
    job = yaml.safe_load(template())["jobs"]["health"]
    limit_s = job["timeout-minutes"] * 60
    assert health_job_seconds(settings) >= settings.checks_timeout + UNBOUNDED_SETUP_S
    assert limit_s >= 1.1 * health_job_seconds(settings), "the workflow would kill the check"
    # Far below the task job's: it runs no agent and installs no OpenCode.
    assert job["timeout-minutes"] < yaml.safe_load(template())["jobs"]["run"]["timeout-minutes"]
    more = Settings(checks={"lint": ["ruff", "check"], "types": ["mypy", "src"]})
    assert health_job_seconds(more) == health_job_seconds(settings) + 2 * settings.checks_timeout
    slower = Settings(checks_timeout=3600)
    assert health_job_seconds(slower) > limit_s  # a slower suite needs a raised timeout


def test_the_plan_feature_jobs_own_timeouts_fire_before_the_workflow_kills_it() -> None:
    """The planning agents and every generation round run under `planning_timeout`: the
    job's `timeout-minutes` exceeds them all, the OpenCode install and the setup."""
    from multi_agent_coder.config import Settings
    from multi_agent_coder.limits import MAX_REPAIR_ROUNDS
    from multi_agent_coder.run.budget import plan_feature_job_seconds

    settings = Settings()
    job = yaml.safe_load(template())["jobs"]["plan-feature"]
    limit_s = job["timeout-minutes"] * 60
    sessions = (1 + MAX_REPAIR_ROUNDS + 1) * settings.planning_timeout
    assert plan_feature_job_seconds(settings) >= sessions + 900 + 60
    assert limit_s >= 1.1 * plan_feature_job_seconds(settings), "the workflow would kill it"
    slower = Settings(planning_timeout=1800)
    assert plan_feature_job_seconds(slower) > limit_s  # a slower model needs a raised timeout
