"""The scripted OpenAI-compatible model server, over real loopback HTTP with httpx."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from testing import scripted_model as sm

PROJECT_ROOT = Path(__file__).resolve().parents[2]

TOOLS = [{"type": "function", "function": {"name": "write", "parameters": {}}}]
SYSTEM = "You are opencode.\n<env>\n  Working directory: /tmp/wt/T001\n  Platform: linux\n</env>\n"


def chat(task: str = "T001", turns: int = 0, *, tools: bool = True, **extra: Any) -> dict[str, Any]:
    """A request like OpenCode's: system prompt, the task prompt, then `turns` tool round trips."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"# Task {task}: do it\n\nDetails."},
    ]
    for i in range(turns):
        call = {"id": f"c{i}", "type": "function", "function": {"name": "x", "arguments": "{}"}}
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": "ok"})
    body: dict[str, Any] = {"model": "coder", "messages": messages, "stream": True, **extra}
    if tools:
        body["tools"] = TOOLS
    return body


def stream_chunks(client: httpx.Client, body: dict[str, Any]) -> list[Any]:
    with client.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        payloads = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


def assembled_tool_call(chunks: list[Any]) -> tuple[str, dict[str, Any]]:
    name, arguments = "", ""
    for chunk in chunks:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls", []):
                name += call["function"].get("name", "")
                arguments += call["function"].get("arguments", "")
    return name, json.loads(arguments)


SCENARIOS = {
    "T001": sm.Scenario(
        [
            sm.write("{worktree}/src/app.py", "print('hi')\n" * 10),
            sm.bash("python -m pytest -q", "Run the tests"),
            sm.text("Implemented and tested."),
        ]
    ),
    "T002": sm.Scenario([sm.error(500, "overloaded")]),
    "T003": sm.Scenario([sm.hang()]),
    "T004": sm.Scenario([sm.text("late", delay_s=0.5)]),
    "T005": sm.Scenario([sm.error(429, "slow down")]),
}


@pytest.fixture(scope="module")
def model() -> Iterator[sm.ScriptedModel]:
    with sm.ScriptedModel(SCENARIOS, default=sm.Scenario([sm.text("default answer")])) as server:
        yield server


@pytest.fixture
def client(model: sm.ScriptedModel) -> Iterator[httpx.Client]:
    model.clear_requests()
    with httpx.Client(base_url=model.base_url, timeout=30) as http:
        yield http


def test_models_lists_the_one_model(client: httpx.Client) -> None:
    response = client.get("/models")
    assert response.json()["data"][0]["id"] == sm.MODEL_ID


def test_tool_call_streams_incremental_arguments(
    client: httpx.Client, model: sm.ScriptedModel
) -> None:
    chunks = stream_chunks(client, chat("T001", 0))
    name, arguments = assembled_tool_call(chunks)
    assert name == "write"
    assert arguments == {"filePath": "/tmp/wt/T001/src/app.py", "content": "print('hi')\n" * 10}
    argument_pieces = [
        c for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert len(argument_pieces) > 3
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] > 0
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    record = model.requests[-1]
    assert (record.kind, record.scenario, record.step_index, record.answer) == (
        "task",
        "T001",
        0,
        "tool:write",
    )
    assert record.worktree == "/tmp/wt/T001"
    assert record.size == len(httpx.Request("POST", "http://x", json=chat("T001", 0)).content)


def test_step_index_is_the_number_of_assistant_turns(client: httpx.Client) -> None:
    name, arguments = assembled_tool_call(stream_chunks(client, chat("T001", 1)))
    assert (name, arguments) == (
        "bash",
        {"command": "python -m pytest -q", "description": "Run the tests"},
    )
    chunks = stream_chunks(client, chat("T001", 2))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Implemented and tested."
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"


def test_past_the_script_the_conversation_ends(client: httpx.Client) -> None:
    chunks = stream_chunks(client, chat("T001", 7))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == sm.FINAL_ANSWER


def test_unknown_task_gets_the_default(client: httpx.Client, model: sm.ScriptedModel) -> None:
    chunks = stream_chunks(client, chat("T999", 0))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "default answer"
    assert model.requests[-1].scenario == "default"


def test_requests_without_tools_are_auxiliary(
    client: httpx.Client, model: sm.ScriptedModel
) -> None:
    """OpenCode's title generator sends no tools; it must not consume a step."""
    chunks = stream_chunks(client, chat("T001", 0, tools=False))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == sm.AUX_ANSWER
    assert model.requests[-1].kind == "aux"
    assert model.task_requests() == []


def test_non_streaming_request_gets_a_completion(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=chat("T001", 0, tools=False, stream=False))
    assert response.json()["choices"][0]["message"]["content"] == sm.AUX_ANSWER
    assert response.json()["object"] == "chat.completion"


@pytest.mark.parametrize(("task", "status"), [("T002", 500), ("T005", 429)])
def test_error_step(client: httpx.Client, task: str, status: int) -> None:
    response = client.post("/chat/completions", json=chat(task, 0))
    assert response.status_code == status
    assert response.json()["error"]["code"] == status


def test_delay_before_a_step(client: httpx.Client) -> None:
    started = time.monotonic()
    stream_chunks(client, chat("T004", 0))
    assert time.monotonic() - started >= 0.5


def test_hang_never_answers_and_stop_releases_it() -> None:
    with sm.ScriptedModel({"T003": sm.Scenario([sm.hang()])}) as model:
        with (
            httpx.Client(base_url=model.base_url, timeout=0.5) as http,
            pytest.raises(httpx.ReadTimeout),
        ):
            http.post("/chat/completions", json=chat("T003", 0))
        started = time.monotonic()
    assert time.monotonic() - started < 15  # a hung request never ends by itself
    assert model.requests[-1].answer == "hang"


def test_scenarios_can_be_added_while_running(
    client: httpx.Client, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T777", sm.Scenario([sm.text("added later")]))
    chunks = stream_chunks(client, chat("T777", 0))
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == (
        "added later"
    )


def test_unknown_route(client: httpx.Client) -> None:
    assert client.get("/nothing").status_code == 404
    assert client.post("/nothing", json={}).status_code == 404


def test_provider_config_points_at_the_server(model: sm.ScriptedModel) -> None:
    config = model.provider_config()
    entry = config[sm.PROVIDER_ID]
    assert entry["npm"] == "@ai-sdk/openai-compatible"
    assert entry["options"]["baseURL"] == model.base_url
    assert sm.MODEL_ID in entry["models"]


# --- pure helpers ----------------------------------------------------------------------------


def test_task_marker_takes_the_first_valid_header() -> None:
    messages = [
        {"role": "system", "content": "# Task T005: not a user message"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "# Task bad-id: x\n# Task AUTH-012: y"}],
        },
    ]
    assert sm.task_marker(messages) == "AUTH-012"
    assert sm.task_marker([{"role": "user", "content": "no header"}]) is None


def test_a_planning_session_is_marked_by_its_role() -> None:
    def user(text: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": text}]

    assert sm.task_marker(user("# Planning SPEC: auth\n\nYou are...")) == "planning:spec"
    assert sm.task_marker(user("# Planning ARCHITECTURE: a\n")) == "planning:architecture"
    assert sm.task_marker(user("text\n# Planning QA: a\n")) == "planning:qa"
    assert sm.task_marker(user("# Planning BOSS: a\n")) is None


def test_generate_markers_name_the_track_and_the_repair_round_most_specific_first() -> None:
    def user(text: str) -> list[dict[str, Any]]:
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]

    assert sm.generate_markers(user("# Generate: auth\n\nThe plan...")) == [
        "generate:auth",
        "generate",
    ]
    assert sm.generate_markers(user("# Generate: auth (repair 2 of 2)\n...")) == [
        "generate:auth:repair2",
        "generate:auth",
        "generate",
    ]
    # only the first line of the first user message counts; a task prompt is no generation
    assert sm.generate_markers(user("Intro\n# Generate: auth")) == []
    assert sm.conversation_markers(user("# Task T003: x\n# Generate: auth")) == ["T003"]


def test_each_generate_round_gets_its_own_scenario_or_falls_back_to_the_tracks() -> None:
    scripted = {
        "generate:auth": sm.Scenario([sm.text("first answer")]),
        "generate:auth:repair1": sm.Scenario([sm.text("repaired answer")]),
    }
    with sm.ScriptedModel(scripted) as server, httpx.Client(base_url=server.base_url) as client:

        def answer(first_line: str) -> str:
            body = chat()
            body["messages"][1]["content"] = f"{first_line}\n\nThe plan."
            chunks = stream_chunks(client, body)
            return "".join(
                c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
            )

        assert answer("# Generate: auth") == "first answer"
        assert answer("# Generate: auth (repair 1 of 2)") == "repaired answer"
        assert answer("# Generate: auth (repair 2 of 2)") == "first answer"
        assert answer("# Generate: billing") == sm.DEFAULT_SCENARIO.steps[0].text
        names = [r.scenario for r in server.task_requests()]
    assert names == ["generate:auth", "generate:auth:repair1", "generate:auth", "default"]


def test_substitute_without_a_worktree_makes_paths_relative() -> None:
    assert sm.substitute({"filePath": "{worktree}/a.txt"}, None) == {"filePath": "a.txt"}
    assert sm.substitute(["{worktree}"], "/w") == ["/w"]
    assert sm.substitute(3, "/w") == 3


def test_parse_scenarios_from_yaml_shapes() -> None:
    scenarios = sm.parse_scenarios(
        {
            "T001": [
                {"write": {"filePath": "a.txt", "content": "x"}},
                {"sleep": 1.5},
                {"bash": {"command": "ls", "description": "list"}, "sleep": 0.5},
                {"edit": {"filePath": "a.txt", "oldString": "x", "newString": "y"}},
                {"tool": {"name": "glob", "arguments": {"pattern": "*"}}},
                {"error": {"status": 429, "message": "slow"}},
                {"permission": "/etc/passwd"},
                {"hang": True},
                {"text": "done"},
            ]
        }
    )
    steps = scenarios["T001"].steps
    assert [s.describe() for s in steps] == [
        "tool:write",
        "tool:bash",
        "tool:edit",
        "tool:glob",
        "error:429",
        "tool:read",
        "hang",
        "text",
    ]
    assert steps[1].delay_s == 2.0
    assert steps[5].arguments == {"filePath": "/etc/passwd"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "top level is a mapping"),
        ({"T001": "x"}, "list of steps"),
        ({"T001": ["x"]}, "a step is a mapping"),
        ({"T001": [{"text": "a", "bash": {}}]}, "exactly one of"),
        ({"T001": [{"nonsense": 1}]}, "exactly one of"),
        ({"T001": [{"error": {"message": "no status"}}]}, "bad error step"),
    ],
)
def test_parse_scenarios_errors(data: Any, message: str) -> None:
    with pytest.raises(sm.ScenarioFileError, match=message):
        sm.parse_scenarios(data)


def test_cli_serves_a_scenario_file(tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text("default:\n  - text: from the file\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "testing.scripted_model",
            "--port",
            "0",
            "--scenarios",
            str(scenarios),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,  # `testing` is a top-level package beside src/, not installed
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["model"] == sm.MODEL_REF
        with httpx.Client(base_url=info["base_url"], timeout=30) as http:
            chunks = stream_chunks(http, chat("T001", 0))
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert text == "from the file"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_cli_bad_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just a list\n")
    result = subprocess.run(
        [sys.executable, "-m", "testing.scripted_model", "--scenarios", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 2
    assert "top level is a mapping" in result.stderr
