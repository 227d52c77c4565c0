"""`macoder generate` end to end: the real CLI, real git, the real OpenCode binary in its
sandbox and the scripted model. The model's first answer is not YAML; the second round's
session is given the problem and answers clean tasks; `macoder check` then passes, the new
tasks are ready, and `macoder run` takes one of them to a verified PR.
"""

from __future__ import annotations

from typing import Any

import pytest

from testing import scripted_model as sm
from tests.conftest import MakeTarget
from tests.integration import runs

pytestmark = pytest.mark.e2e

PLAN = """\
# Plan: triple and quadruple

## 7. Implementation Steps
1. triple(x) in mathlib/triple.py, tested
2. quadruple(x) in mathlib/quadruple.py, tested
"""

NOT_YAML = "- id: N1\n  title: [triple, never closed\n"

TASKS = """\
Both functions follow mathlib/core.py.

```yaml
- id: N1
  title: Add triple
  description: Add mathlib/triple.py with triple(x) returning 3 * x, like double in core.
  depends_on: []
  acceptance:
    - triple(2) == 6
  scope:
    files_hint: [mathlib/triple.py, tests/test_triple.py]
    estimated_hours: 0.5
  context:
    patterns: ["mathlib/core.py:1-3 - a function with a docstring"]
- id: N2
  title: Add quadruple
  description: Add mathlib/quadruple.py with quadruple(x) returning 4 * x.
  depends_on: []
  acceptance:
    - quadruple(2) == 8
  scope:
    files_hint: [mathlib/quadruple.py, tests/test_quadruple.py]
    estimated_hours: 0.5
```
"""


def user_text(request: sm.RecordedRequest) -> str:
    messages = (request.body or {}).get("messages", [])
    return "\n".join(sm.message_text(m) for m in messages if m.get("role") == "user")


def tool_results(request: sm.RecordedRequest) -> str:
    messages = (request.body or {}).get("messages", [])
    return "\n".join(sm.message_text(m) for m in messages if m.get("role") == "tool")


def test_a_first_answer_that_is_not_yaml_is_repaired_in_the_second_round(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    target = make_target(runs.tasks("T001", "T002"), files={"specs/triple/PLAN.md": PLAN})
    before = (target.root / "BACKLOG.yaml").read_text()
    # round 1 reads the code in its export of the default branch, then answers no YAML;
    # round 2, a new session told the problem, answers two clean tasks
    model.set_scenario(
        "generate:triple",
        sm.Scenario([sm.read("{worktree}/mathlib/core.py"), sm.text(NOT_YAML)]),
    )
    model.set_scenario("generate:triple:repair1", sm.Scenario([sm.text(TASKS)]))

    result = target.macoder("generate", "specs/triple/PLAN.md", "--json", timeout=300)

    assert result.code == 0, result
    report: dict[str, Any] = result.json()
    assert (report["status"], report["added"]) == ("added", ["T003", "T004"]), report
    assert [r["problems"] for r in report["rounds"]] == [1, 0], report
    assert len({r["session_id"] for r in report["rounds"]}) == 2  # one session per round
    # what the model was sent: the plan; the code it read; then the problem and its answer
    first = model.task_requests("generate:triple")
    assert user_text(first[0]).startswith("# Generate: triple\n")
    assert "1. triple(x) in mathlib/triple.py, tested" in user_text(first[0])
    assert "def double(x: int) -> int:" in tool_results(first[-1])
    [repair] = model.task_requests("generate:triple:repair1")
    prompt = user_text(repair)
    assert prompt.startswith("# Generate: triple (repair 1 of 2)\n")
    assert "answer:3:1: invalid YAML: while parsing a flow sequence" in prompt
    assert "[yaml-syntax]" in prompt
    assert NOT_YAML.strip() in prompt
    # the tasks were appended, the old text kept, and the result is what `check` accepts
    written = (target.root / "BACKLOG.yaml").read_text()
    assert written.startswith(before)
    assert "- id: T003\n  title: Add triple\n" in written
    check = target.macoder("check")
    assert check.code == 0, check
    assert check.stdout == "ok: 1 file checked, no problems\n"
    ready = target.macoder("ready", "--backlog-only", "--json")
    assert [t["id"] for t in ready.json()] == ["T001", "T002", "T003", "T004"]
    # no session, server or export left behind; the person's checkout only has the new tasks
    assert runs.wait_for(lambda: target.opencode_pids() == [], 15)
    assert target.no_worktree_left()
    assert target.git("status", "--porcelain") == "M BACKLOG.yaml"  # (stripped: " M")

    # committed, a generated task runs like any other: one verified PR
    target.commit({}, "Tasks from specs/triple/PLAN.md")
    model.set_scenario("T003", runs.feature("triple", 3))
    run = target.macoder("run", "--only", "T003", "--json", timeout=300)
    assert run.code == 0, run
    [outcome] = run.json()["tasks"]
    assert (outcome["id"], outcome["status"]) == ("T003", "succeeded"), run
    [pr] = target.pulls()
    assert (pr["task_id"], pr["state"]) == ("T003", "open")


def test_a_generation_still_broken_after_the_last_round_writes_nothing(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    target = make_target(runs.tasks("T001"), files={"specs/broken/PLAN.md": PLAN})
    before = (target.root / "BACKLOG.yaml").read_bytes()
    model.set_scenario("generate:broken", sm.Scenario([sm.text(NOT_YAML)]))

    result = target.macoder("generate", "specs/broken/PLAN.md", timeout=300)

    assert result.code == 1, result
    assert "answer:3:1: invalid YAML" in result.stderr
    assert "still have 1 problem after 3 rounds of 3; BACKLOG.yaml was not changed" in (
        result.stderr
    )
    assert len(model.task_requests("generate:broken")) == 3  # one session per round
    assert (target.root / "BACKLOG.yaml").read_bytes() == before
    assert runs.wait_for(lambda: target.opencode_pids() == [], 15)
    assert target.no_worktree_left()
