"""A task PR that no longer merges, brought up to date by `macoder run` end to end: the real
CLI, real git, the real OpenCode binary and the scripted model. The default branch gains a
conflicting version of the PR's module; the next run merges it into the PR's branch, the agent
resolves the markers, the whole change is verified again, and the same PR gets one merge
commit on top of what the reviewer saw.
"""

from __future__ import annotations

import time

import pytest

from testing import scripted_model as sm
from tests.conftest import MakeTarget
from tests.integration import runs
from tests.integration.test_revise_local import first_run, only_task, prompts_since

pytestmark = pytest.mark.e2e

RESOLVED = "def triple(x: int) -> int:\n    # kept from main: a note\n    return 3 * x\n"


def test_run_brings_a_conflicting_pr_up_to_date_with_one_merge_commit(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    target = make_target(runs.tasks("T001"))
    number, old_head = first_run(target, model)
    main = target.commit(
        {"mathlib/triple.py": "def triple(x: int) -> int:\n    return x + x + x\n"},
        "a person writes triple on main too",
    )
    model.set_scenario(
        "T001",
        sm.Scenario([sm.write("{worktree}/mathlib/triple.py", RESOLVED), sm.text("Resolved.")]),
    )
    started = time.time()

    result = target.macoder("run", "--json")

    assert result.code == 0, result
    task = only_task(result)
    assert task["status"] == "succeeded", result
    assert task["reason"] == f"update: PR #{number} updated", task
    [prompt] = prompts_since(model, started)
    assert "## Update\n" in prompt
    assert "- mathlib/triple.py\n" in prompt
    new_head = target.git("rev-parse", "macoder/T001")
    assert target.git("rev-list", "--parents", "-n1", new_head).split()[1:] == [old_head, main]
    assert target.git("show", "macoder/T001:mathlib/triple.py") == RESOLVED.rstrip("\n")
    pulls = target.pulls()
    assert [(p["number"], p["state"], p["head_sha"]) for p in pulls] == [(number, "open", new_head)]
    assert "### Brought up to date" in pulls[0]["body"]
    assert "-m pytest -q -p no:cacheprovider`: passed" in pulls[0]["body"]
    assert target.no_worktree_left()
    assert runs.wait_for(lambda: target.opencode_pids() == [], 15)
    # It merges now: `macoder merge` completes the task.
    merged = target.macoder("merge", "T001")
    assert merged.code == 0, merged
