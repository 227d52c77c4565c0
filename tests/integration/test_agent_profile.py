"""`agent_profile`: a task runs on macoder's lean agent (short system prompt, only the tools a
task needs) or on OpenCode's own `build` agent; both do the same task, the lean one sends half
the bytes per request. What the real OpenCode sends is read at the scripted model."""

from __future__ import annotations

from typing import Any

import pytest

from multi_agent_coder.agents.opencode.sansio import LEAN_PROMPT
from testing import scripted_model as sm
from tests.conftest import MakeTarget
from tests.integration import runs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TASK_TOOLS = {"bash", "edit", "glob", "grep", "read", "write"}


def first_request(model: sm.ScriptedModel, profile: str, make_target: MakeTarget) -> Any:
    model.clear_requests()
    model.set_scenario("T001", runs.feature("triple", 3))
    target = make_target(runs.tasks("T001"), settings={"agent_profile": profile})
    result = target.macoder("run", "--json")
    assert result.code == 0, result
    [task] = result.json()["tasks"]
    assert task["status"] == "succeeded", task
    return model.task_requests("T001")[0]


def tools_of(request: Any) -> set[str]:
    return {tool["function"]["name"] for tool in request.body["tools"]}


def system_of(request: Any) -> str:
    return str(request.body["messages"][0]["content"])


def test_the_lean_agent_has_macoders_prompt_and_only_a_tasks_tools(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    lean = first_request(model, "lean", make_target)
    assert system_of(lean).startswith(LEAN_PROMPT.splitlines()[0])
    assert "Working directory: " in system_of(lean)  # OpenCode's environment block stays
    assert tools_of(lean) == TASK_TOOLS

    full = first_request(model, "opencode", make_target)
    assert system_of(full).startswith("You are opencode")
    assert tools_of(full) > TASK_TOOLS | {"task", "todowrite"}
    assert lean.size <= full.size // 2
