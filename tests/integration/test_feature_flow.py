"""Issue 14's "done when", on the demo repository: from a person's feature context,
`macoder plan`, `macoder generate` and `macoder run` give verified pull requests — the real CLI,
real git, the real OpenCode binary, and the scripted model answering exactly what it answers
in `scripts/demo.sh` (`examples/demo/scenarios.yaml`), with no key and no network.

The repository is the demo's as its first part leaves it: T001-T003 done on main, their code
as the demo's agents write it (plus the harness's own tiny package, untouched). Then, as the
README's "From a feature to pull requests" types it: plan, commit, generate, commit, run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from testing import scripted_model as sm
from tests.conftest import MakeTarget
from tests.integration import runs

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"
#: The `model` fixture serves these: the demo's planning, generation and task answers.
SCENARIOS = sm.load_scenarios(DEMO / "scenarios.yaml")
TRACK = "division"


def demo_after_its_first_part() -> tuple[str, dict[str, str]]:
    """The demo's backlog with T001-T003 completed, and its files with their code on main."""
    backlog = (DEMO / "repo" / "BACKLOG.yaml").read_text()
    assert backlog.count("status: pending") == 3
    files = {
        path.relative_to(DEMO / "repo").as_posix(): path.read_text()
        for path in (DEMO / "repo").rglob("*")
        if path.is_file() and path.name not in (".macoder.yaml", ".gitignore", "BACKLOG.yaml")
    }
    for task in ("T001", "T002", "T003"):
        for step in SCENARIOS[task].steps:
            if step.tool == "write":
                files[step.arguments["filePath"]] = step.arguments["content"]
    return backlog.replace("status: pending", "status: completed"), files


def by_id(items: list[dict[str, Any]], key: str = "id") -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


def test_a_feature_context_becomes_verified_pull_requests_on_the_demo(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    backlog, files = demo_after_its_first_part()
    target = make_target(backlog, files=files, task_timeout=120)
    shutil.copyfile(DEMO / "feature.md", target.root / "FEATURE.md")
    context = (DEMO / "feature.md").read_text()

    # 1. plan: three planning sessions, each given the context, each deleted; four files
    plan = target.macoder("plan", "FEATURE.md", "--track", TRACK, "--json", timeout=300)

    assert plan.code == 0, plan
    planned = plan.json()
    assert planned["problems"] == []
    assert sorted(planned["files"]) == ["ARCH.md", "PLAN.md", "QA.md", "SPEC.md"]
    assert [a["session_deleted"] for a in planned["agents"]] == [True, True, True]
    for role in ("spec", "architecture", "qa"):
        [first, *_] = model.task_requests(f"planning:{role}")
        prompt = "\n".join(
            sm.message_text(m) for m in first.body["messages"] if m.get("role") == "user"
        )
        assert context.strip() in prompt
    plan_md = (target.root / "specs" / TRACK / "PLAN.md").read_text()
    assert "1. calc/div.py provides div(a, b)" in plan_md
    assert target.macoder("check", f"specs/{TRACK}/PLAN.md").code == 0  # what the hook runs
    target.commit({}, f"{TRACK}: plan")

    # 2. generate: the plan becomes two tasks numbered after T003, and the backlog checks clean
    generate = target.macoder("generate", f"specs/{TRACK}/PLAN.md", "--json", timeout=300)

    assert generate.code == 0, generate
    generated = generate.json()
    assert (generated["status"], generated["added"]) == ("added", ["T004", "T005"]), generated
    [request, *_] = model.task_requests(f"generate:{TRACK}")
    assert "calc/div.py provides div(a, b)" in sm.message_text(
        next(m for m in request.body["messages"] if m.get("role") == "user")
    )
    check = target.macoder("check")
    assert check.stdout == "ok: 1 file checked, no problems\n", check
    target.commit({}, f"{TRACK}: tasks")
    ready = target.macoder("ready", "--json")  # (the default branch's backlog)
    assert [t["id"] for t in ready.json()] == ["T004", "T005"], ready

    # 3. run: both generated tasks in one wave, each a verified PR, each session deleted
    run = target.macoder("run", "--json", timeout=600)

    assert run.code == 0, run
    tasks = by_id(run.json()["tasks"])
    assert sorted(tasks) == ["T004", "T005"], run
    for task in tasks.values():
        assert (task["status"], task["session_deleted"]) == ("succeeded", True), run
    pulls = by_id(target.macoder("prs", "--json").json(), key="task_id")
    assert sorted(pulls) == ["T004", "T005"]
    for task_id, pr in pulls.items():
        assert (pr["branch"], pr["state"]) == (f"macoder/{task_id}", "open")
        assert "### Verification" in pr["body"]
        assert "-m pytest -q -p no:cacheprovider`: passed" in pr["body"]
    assert 'raise ZeroDivisionError("division by zero")' in target.git(
        "show", "macoder/T004:calc/div.py"
    )
    assert "return a % b" in target.git("show", "macoder/T005:calc/mod.py")

    # merged, the feature works on main, the backlog is valid and done, nothing is left behind
    for task_id in ("T004", "T005"):
        merged = target.macoder("merge", task_id)
        assert merged.code == 0, merged
    again = target.macoder("run", timeout=300)
    assert "nothing to do: all 5 tasks are completed" in again.stdout, again
    assert target.macoder("check").code == 0
    assert runs.wait_for(lambda: target.opencode_pids() == [], 15)
    assert target.no_worktree_left()
    assert target.git("status", "--porcelain", "--untracked-files=no") == ""
