"""`macoder plan` end to end: the real CLI, real git, the real OpenCode binary and the scripted
model. Three planning sessions in parallel answer with their documents; macoder writes
`specs/<track>/` and the structured merge's PLAN.md, and every session is deleted. One agent
that hangs fails the plan by its time limit, names itself, and leaves nothing written and no
server or session behind.
"""

from __future__ import annotations

import pytest

from testing import scripted_model as sm
from tests.conftest import MakeTarget
from tests.integration import runs

pytestmark = pytest.mark.e2e

SPEC = (
    "## Requirements\n1. Users sign in with a password.\n\n"
    "## Acceptance Criteria\n- GIVEN a user WHEN the password is right THEN a session starts\n"
)
ARCH = "## Design\n1. A session store beside the user table.\n\n## API\n- POST /login\n"
QA = "## Test Plan\n- unit tests of the store\n\n## Risks\n- session tokens leak into logs\n"
CONTEXT = "# Sign-in\n\nLet users sign in with a password.\n"


def answers(model: sm.ScriptedModel, *, qa: sm.Scenario | None = None) -> None:
    model.set_scenario("planning:spec", sm.Scenario([sm.text(SPEC)]))
    model.set_scenario(
        "planning:architecture", sm.Scenario([sm.text("```markdown\n" + ARCH + "```")])
    )
    model.set_scenario("planning:qa", qa or sm.Scenario([sm.text(QA)]))


def test_plan_writes_the_three_documents_and_the_merged_plan(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    target = make_target(runs.tasks("T001"), files={"CONTEXT.md": CONTEXT})
    answers(model)

    result = target.macoder("plan", "CONTEXT.md", "--track", "sign-in", "--json")

    assert result.code == 0, result
    out = result.json()
    assert sorted(out["files"]) == ["ARCH.md", "PLAN.md", "QA.md", "SPEC.md"]
    assert [a["session_deleted"] for a in out["agents"]] == [True, True, True]
    specs = target.root / "specs" / "sign-in"
    assert (specs / "SPEC.md").read_text() == SPEC
    assert (specs / "ARCH.md").read_text() == ARCH  # the fence around the answer is gone
    plan = (specs / "PLAN.md").read_text()
    assert plan.startswith("# Unified Implementation Plan")
    assert "1. Users sign in with a password." in plan
    assert "session tokens leak into logs" in plan
    for role in ("spec", "architecture", "qa"):
        [first, *_] = model.task_requests(f"planning:{role}")
        assert "Let users sign in with a password." in sm.message_text(
            next(m for m in first.body["messages"] if m.get("role") == "user")
        )
    assert runs.wait_for(lambda: target.opencode_pids() == [], 15)
    # The person's checkout: only the new track's files appeared.
    status = target.git("status", "--porcelain", "--untracked-files=all")
    assert sorted(line[3:] for line in status.splitlines()) == [
        f"specs/sign-in/{name}" for name in ("ARCH.md", "PLAN.md", "QA.md", "SPEC.md")
    ]


def test_an_agent_that_hangs_fails_the_plan_by_its_time_limit_and_nothing_is_written(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    target = make_target(
        runs.tasks("T001"), files={"CONTEXT.md": CONTEXT}, settings={"planning_timeout": 20}
    )
    answers(model, qa=sm.Scenario([sm.hang()]))

    result = target.macoder("plan", "CONTEXT.md", "--track", "sign-in", timeout=240)

    assert result.code == 1, result
    assert "planning agent 'qa' (QA.md): timeout" in result.stderr, result
    assert "nothing was written" in result.stderr
    assert not (target.root / "specs").exists()
    assert runs.wait_for(lambda: target.opencode_pids() == [], 15)
