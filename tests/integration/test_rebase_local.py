"""The rebase engine end to end: the real CLI, real git, the real OpenCode binary and the
scripted model. A task whose agent writes wrong code fails twice; `macoder rebase` has the
rebase model rewrite its entry (one session, deleted) and proposes it as its own PR on the
local forge; merged, the task's attempts start again, and its third attempt passes.
"""

from __future__ import annotations

import pytest
import yaml

from testing import scripted_model as sm
from tests.conftest import MakeTarget
from tests.integration import runs

pytestmark = pytest.mark.e2e

REWRITE = {
    "description": "Add mathlib/triple.py with triple(x: int) -> int returning 3 * x, and"
    " tests/test_triple.py that checks triple(2) == 6. The attempts so far wrote half() instead.",
    "acceptance": ["triple(2) == 6", "tests/test_triple.py passes"],
    "context": {"gotchas": ["the function is triple, in its own module mathlib/triple.py"]},
}


@pytest.mark.slow
def test_a_task_that_fails_twice_is_rebased_and_its_third_attempt_passes(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", runs.wrong_code())
    target = make_target(runs.tasks("T001"))
    for attempt in (1, 2):
        failed = target.macoder("run", "--json")
        assert failed.code == 1, failed
        assert failed.json()["planned"][0]["attempt"] == attempt

    answer = "```yaml\n" + yaml.safe_dump(REWRITE, sort_keys=False) + "```\n"
    model.set_scenario("rebase:T001", sm.Scenario([sm.text(answer)]))
    proposed = target.macoder("rebase", "T001", "--json")
    assert proposed.code == 0, proposed
    data = proposed.json()
    assert (data["status"], data["why"], data["branch"]) == (
        "proposed",
        "it failed 2 times",
        "macoder/rebase-T001",
    )
    [round_] = data["rounds"]
    assert round_["outcome"] == "success"
    assert target.opencode_pids() == []
    rewrite = [r for r in target.records("T001") if r["type"] == "rewrite"]
    assert [r["outcome"] for r in rewrite] == ["proposed"]

    # the task waits for its rewrite; `macoder merge rebase-T001` lands it
    status = target.macoder("status", "--json")
    assert status.json()[0]["state"] == "rewrite-proposed", status
    merged = target.macoder("merge", "rebase-T001")
    assert merged.code == 0, merged
    entry = yaml.safe_load(target.git("show", "main:BACKLOG.yaml"))["tasks"][0]
    assert entry["description"] == REWRITE["description"]
    assert entry["status"] == "pending"

    # the third attempt (the first at the new entry) gets the new entry and passes
    model.set_scenario("T001", runs.feature())
    passed = target.macoder("run", "--json")
    assert passed.code == 0, passed
    assert passed.json()["planned"][0]["attempt"] == 1
    [task] = passed.json()["tasks"]
    assert task["status"] == "succeeded"
    asked = [
        r
        for r in model.task_requests("T001")
        if "The attempts so far wrote half() instead" in str(r.body)
    ]
    assert asked, "the third attempt's agent was not given the rewritten entry"
