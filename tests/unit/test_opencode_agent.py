"""`OpenCodeAgent`'s decisions with a fake client and a fake clock; `server.py` with fake binaries.

The real server cannot be made to stay busy after an abort, lose its stream at a chosen moment
or die mid-run on request; these paths are driven here. The integration tests
(`tests/integration/test_opencode_agent.py`) run the rest against the real binary.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.agents import AgentOutcome
from multi_agent_coder.agents.opencode import sansio
from multi_agent_coder.agents.opencode.agent import OpenCodeAgent, title_or_default
from multi_agent_coder.agents.opencode.client import OpenCodeClient, OpenCodeError, StreamGap
from multi_agent_coder.agents.opencode.sansio import Event, Meaning, Signal
from multi_agent_coder.agents.opencode.server import (
    OpenCodeNotFoundError,
    OpenCodeServer,
    OpenCodeStartError,
    find_binary,
    free_port,
)
from multi_agent_coder.agents.opencode.timeouts import stream_connect_timeout

DATA = Path(__file__).parent / "data" / "opencode"
SID = "ses_fake"


def messages(name: str) -> list[Any]:
    return list(json.loads((DATA / f"{name}.messages.json").read_text()))


def ev(kind: str, **props: Any) -> Event:
    return Event(kind, {"sessionID": SID, **props})


BUSY = ev("session.status", status={"type": "busy"})
IDLE = ev("session.idle")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeSubscription:
    """Hands out scripted items; when it has none, time passes as if `get` had waited."""

    def __init__(self, clock: Clock, items: Iterable[Any]) -> None:
        self.clock = clock
        self.items = list(items)
        self.closed = False

    def get(self, timeout_s: float) -> Any:
        if self.items:
            item = self.items.pop(0)
            if isinstance(item, BaseException):
                raise item
            return item
        self.clock.now += timeout_s
        return None

    def __enter__(self) -> FakeSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True


class FakeClient(OpenCodeClient):
    def __init__(self, clock: Clock, items: Iterable[Any] = (), **behaviour: Any) -> None:
        super().__init__("http://fake.invalid")
        self.clock = clock
        self.items = list(items)
        self.calls: list[str] = []
        self.messages_payload: list[Any] = behaviour.get("messages", messages("success"))
        self.status_signals: list[Signal] = list(behaviour.get("statuses", []))
        self.exists_answers: list[bool] = list(behaviour.get("exists", [False]))
        self.subscribe_error = behaviour.get("subscribe_error")
        self.delete_error = behaviour.get("delete_error")
        self.subscription: FakeSubscription | None = None
        self.connect_timeouts: list[float] = []

    def subscribe(self, directory: str, *, timeout_s: float) -> Any:
        self.calls.append("subscribe")
        self.connect_timeouts.append(timeout_s)
        if self.subscribe_error:
            raise self.subscribe_error
        self.subscription = FakeSubscription(self.clock, self.items)
        return self.subscription

    def create_session(self, directory: str, title: str) -> str:
        self.calls.append(f"create {title}")
        return SID

    def prompt_async(
        self, session_id: str, directory: str, text: str, model: str, agent: str = "build"
    ) -> None:
        self.calls.append("prompt")

    def abort(self, session_id: str, directory: str) -> bool:
        self.calls.append("abort")
        return True

    def status(self, session_id: str, directory: str) -> Meaning:
        self.calls.append("status")
        signal = self.status_signals.pop(0) if self.status_signals else Signal.BUSY
        return Meaning(signal)

    def messages(self, session_id: str, directory: str) -> list[Any]:
        self.calls.append("messages")
        return self.messages_payload

    def reject_permission(self, request_id: str, directory: str) -> bool:
        self.calls.append(f"reject {request_id}")
        return True

    def reject_question(self, request_id: str, directory: str) -> bool:
        self.calls.append(f"reject {request_id}")
        return True

    def delete_session(self, session_id: str, directory: str) -> bool:
        self.calls.append("delete")
        if self.delete_error:
            raise self.delete_error
        return True

    def session_exists(self, session_id: str, directory: str) -> bool:
        self.calls.append("exists")
        return (
            self.exists_answers.pop(0) if len(self.exists_answers) > 1 else self.exists_answers[0]
        )


class FakeServer:
    def __init__(self, alive: bool = True) -> None:
        self.alive = alive
        self.killed = False

    def kill(self) -> None:
        self.killed = True
        self.alive = False


def make(
    items: Iterable[Any] = (), server: FakeServer | None = None, **behaviour: Any
) -> tuple[OpenCodeAgent, FakeClient, Clock]:
    clock = Clock()
    kill = behaviour.pop("kill_when_stuck", False)
    cancel = behaviour.pop("cancel", None)
    client = FakeClient(clock, items, **behaviour)
    agent = OpenCodeAgent(
        server or FakeServer(),
        client,
        clock=clock,
        sleep=clock.sleep,
        kill_when_stuck=kill,
        cancel=cancel,
    )
    return agent, client, clock


def run(agent: OpenCodeAgent, timeout_s: float = 60, model: str = "scripted/coder") -> Any:
    return agent.run(
        prompt="# Task T001: x\n\nDo it.",
        worktree=Path("/tmp/wt"),
        model=model,
        timeout_s=timeout_s,
        title="Task T001: x",
    )


def test_success() -> None:
    agent, client, _ = make([BUSY, IDLE])
    result = run(agent)
    assert result.outcome is AgentOutcome.SUCCESS
    assert result.session_deleted
    assert (result.output_text, result.model, result.session_id) == (
        "All done.",
        "scripted/coder",
        SID,
    )
    assert result.tokens_in
    assert "abort" not in client.calls
    assert client.calls[:3] == ["subscribe", "create Task T001: x", "prompt"]
    assert client.calls[-2:] == ["delete", "exists"]


def test_idle_with_an_error_event_and_no_output_is_an_error() -> None:
    error = ev(
        "session.error",
        error={"name": "UnknownError", "data": {"message": "Model not found: p/m."}},
    )
    agent, _, _ = make([BUSY, error, IDLE], messages=messages("unknown_model"))
    result = run(agent)
    assert result.outcome is AgentOutcome.ERROR
    assert result.reason.startswith("UnknownError: Model not found: p/m.")
    assert "no assistant message" in result.reason
    assert result.session_deleted


def test_idle_with_info_error() -> None:
    agent, _, _ = make([IDLE], messages=messages("provider_400"))
    result = run(agent)
    assert (result.outcome, result.reason) == (
        AgentOutcome.ERROR,
        "APIError: bad request: scripted (HTTP 400)",
    )


def test_timeout_aborts_then_settles_on_idle() -> None:
    retry = ev("session.status", status={"type": "retry", "attempt": 3, "message": "overloaded"})
    agent, client, clock = make([BUSY, retry], statuses=[Signal.IDLE])
    start = clock.now
    result = run(agent, timeout_s=30)
    assert result.outcome is AgentOutcome.TIMEOUT
    assert result.reason == (
        "no session.idle within 30 s; the provider kept failing: overloaded (retry attempt 3)"
    )
    assert client.calls.count("abort") == 1
    assert not agent.needs_kill
    assert clock.now - start < 30 + 5
    assert result.session_deleted


def test_stuck_after_abort_needs_kill_and_still_deletes() -> None:
    server = FakeServer()
    agent, _, clock = make([BUSY], server=server)
    start = clock.now
    result = run(agent, timeout_s=10)
    assert result.outcome is AgentOutcome.TIMEOUT
    assert agent.needs_kill
    assert "the OpenCode server must be killed" in result.reason
    assert not server.killed
    assert result.session_deleted
    assert clock.now - start <= 10 + 5 + 1


def test_stuck_server_is_killed_when_asked() -> None:
    server = FakeServer()
    agent, _, _ = make([BUSY], server=server, kill_when_stuck=True)
    result = run(agent, timeout_s=5)
    assert result.outcome is AgentOutcome.TIMEOUT
    assert server.killed
    assert agent.needs_kill
    assert result.reason.endswith("so the OpenCode server was killed")


@pytest.mark.parametrize(
    ("event", "reject"),
    [
        (
            ev(
                "permission.asked", id="per_1", permission="external_directory", patterns=["/etc/*"]
            ),
            "per_1",
        ),
        (ev("question.asked", id="que_1", questions=[{"question": "Which?"}]), "que_1"),
    ],
)
def test_permission_or_question_blocks(event: Event, reject: str) -> None:
    agent, client, _ = make([BUSY, event, IDLE])
    result = run(agent)
    assert result.outcome is AgentOutcome.BLOCKED
    assert "headless" in result.reason
    assert f"reject {reject}" in client.calls
    assert client.calls.index(f"reject {reject}") < client.calls.index("abort")
    assert not agent.needs_kill
    assert result.session_deleted


def test_gap_then_status_idle_after_busy_is_done() -> None:
    agent, client, _ = make([BUSY, StreamGap(1)], statuses=[Signal.IDLE])
    result = run(agent)
    assert result.outcome is AgentOutcome.SUCCESS
    assert "status" in client.calls


def test_gap_before_the_loop_started_does_not_count_as_idle() -> None:
    """Not listed in /session/status can also mean "not busy yet": the messages decide."""
    agent, client, _ = make([StreamGap(1), BUSY, IDLE], statuses=[Signal.IDLE])
    answers = [messages("unknown_model"), messages("success")]
    client.messages = lambda session_id, directory: answers.pop(0)  # type: ignore[method-assign]
    result = run(agent)
    assert result.outcome is AgentOutcome.SUCCESS
    assert answers == []


def test_gap_with_retry_status_keeps_waiting() -> None:
    agent, _, _ = make([BUSY, StreamGap(1)], statuses=[Signal.RETRY, Signal.IDLE])
    result = run(agent, timeout_s=5)
    assert result.outcome is AgentOutcome.TIMEOUT


def test_cancel_ends_the_wait_early() -> None:
    cancel = threading.Event()
    cancel.set()
    agent, client, clock = make([BUSY], statuses=[Signal.IDLE], cancel=cancel)
    start = clock.now
    result = run(agent, timeout_s=600)
    assert result.outcome is AgentOutcome.TIMEOUT
    assert result.reason.startswith("cancelled before session.idle")
    assert clock.now - start < 10
    assert "abort" in client.calls
    assert result.session_deleted


def test_needs_kill_is_sticky_across_runs() -> None:
    agent, client, _ = make([BUSY])
    run(agent, timeout_s=5)
    assert agent.needs_kill
    client.items.extend([BUSY, IDLE])
    assert run(agent).outcome is AgentOutcome.SUCCESS
    assert agent.needs_kill


def test_keyboard_interrupt_aborts_and_deletes_then_propagates() -> None:
    agent, client, _ = make([BUSY, KeyboardInterrupt()], statuses=[Signal.BUSY, Signal.IDLE])
    with pytest.raises(KeyboardInterrupt):
        run(agent)
    assert client.calls.index("abort") < client.calls.index("delete")
    assert client.calls[-1] == "exists"


def test_server_death_is_an_error_and_the_session_unverified() -> None:
    server = FakeServer()
    agent, client, _ = make([BUSY], server=server, delete_error=OpenCodeError("connection refused"))
    server.alive = False
    result = run(agent)
    assert (result.outcome, result.reason) == (AgentOutcome.ERROR, "the OpenCode server exited")
    assert not result.session_deleted
    assert "abort" not in client.calls


def test_unreachable_server_is_an_error_with_no_session() -> None:
    agent, client, _ = make(subscribe_error=OpenCodeError("not connected within 30 s"))
    result = run(agent)
    assert (result.outcome, result.session_id) == (AgentOutcome.ERROR, None)
    assert result.reason == "not connected within 30 s"
    assert result.session_deleted
    assert client.calls == ["subscribe"]
    assert result.runtime_fault  # the task never started: not counted as an attempt


def test_a_runtime_error_after_the_prompt_was_sent_is_the_tasks() -> None:
    """Once the session has the prompt, the agent may have worked: the attempt counts."""
    agent, _, _ = make([BUSY, OpenCodeError("connection reset")])
    result = run(agent)
    assert (result.outcome, result.reason) == (AgentOutcome.ERROR, "connection reset")
    assert not result.runtime_fault
    assert not result.infrastructure


@pytest.mark.parametrize(
    ("task_timeout_s", "connect_s"),
    [(1800, 120), (3600, 120), (900, 90), (600, 60), (300, 30), (60, 30), (3, 30)],
)
def test_the_event_stream_may_take_a_tenth_of_the_task_time_between_30_s_and_2_min(
    task_timeout_s: float, connect_s: float
) -> None:
    assert stream_connect_timeout(task_timeout_s) == connect_s
    agent, client, _ = make([BUSY, IDLE])
    run(agent, timeout_s=task_timeout_s)
    assert client.connect_timeouts == [connect_s]


def test_bad_model_ref_fails_before_any_call() -> None:
    agent, client, _ = make()
    result = run(agent, model="no-slash")
    assert result.outcome is AgentOutcome.ERROR
    assert "providerID/modelID" in result.reason
    assert client.calls == []


def test_delete_is_verified_with_retries() -> None:
    agent, client, _ = make([IDLE], exists=[True, True, False])
    assert run(agent).session_deleted
    assert client.calls.count("exists") == 3


def test_a_session_that_will_not_go_away_is_reported() -> None:
    agent, _, _ = make([IDLE], exists=[True])
    assert not run(agent).session_deleted


def test_title_defaults_to_the_prompt_header() -> None:
    assert title_or_default("# Task T001: Add login\n\nmore", "") == "Task T001: Add login"
    assert title_or_default("", None) == "macoder task"
    assert title_or_default("x", " Given ") == "Given"


def test_status_signal_values_are_what_the_agent_compares() -> None:
    assert sansio.status_meaning({"type": "idle"}).signal is Signal.IDLE


# --- finding the binary ----------------------------------------------------------------------


def fake_binary(path: Path) -> Path:
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\necho 1.18.33\n")
    path.chmod(0o755)
    return path


def test_find_binary_prefers_the_project_install(tmp_path: Path) -> None:
    modules = tmp_path / ".tools/opencode/node_modules"
    fake_binary(modules / "opencode-linux-x64-baseline/bin/opencode")
    plain = fake_binary(modules / "opencode-linux-x64/bin/opencode")
    assert find_binary(project_root=tmp_path) == plain.resolve()


def test_find_binary_explicit(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path / "bin" / "opencode")
    assert find_binary(binary) == binary.resolve()
    with pytest.raises(OpenCodeNotFoundError, match="not an executable"):
        find_binary(tmp_path / "missing")


def test_find_binary_says_where_it_looked_and_how_to_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(OpenCodeNotFoundError) as caught:
        find_binary(project_root=tmp_path)
    message = str(caught.value)
    assert "opencode_bin (MACODER_OPENCODE_BIN)" in message
    assert str(tmp_path / ".tools/opencode") in message
    assert "`macoder install-opencode` installs the pinned version there" in message


def test_find_binary_never_looks_where_macoder_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's `.tools/` (the repository macoder works on) or PATH; an installed
    wheel's location says nothing about where the agent is."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    here = Path(__file__).resolve().parents[2]  # this checkout has .tools/opencode
    with pytest.raises(OpenCodeNotFoundError):
        find_binary(project_root=tmp_path)
    if any(here.glob(".tools/opencode/node_modules/opencode-*/bin/opencode")):
        assert find_binary(project_root=here).is_file()


def test_find_binary_falls_back_to_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = fake_binary(tmp_path / "bin" / "opencode")
    monkeypatch.setenv("PATH", str(binary.parent) + os.pathsep + os.environ.get("PATH", ""))
    assert find_binary(project_root=tmp_path / "elsewhere") == binary.resolve()


def test_a_server_that_dies_at_startup_says_why(tmp_path: Path) -> None:
    binary = tmp_path / "opencode"
    binary.write_text("#!/bin/sh\necho 'Error: \\033[91mboom\\033[0m' >&2\nexit 3\n")
    binary.chmod(0o755)
    server = OpenCodeServer(provider={}, binary=binary, port=free_port(), startup_timeout_s=10)
    with pytest.raises(OpenCodeStartError, match=r"exited with code 3(.|\n)*Error: boom"):
        server.start()
    assert server.pid is None
    assert server.home is None  # its temp dir is gone


def test_server_environment_reaches_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real spawn path: only allowlisted variables, isolated HOME, our flags and config."""
    dump = tmp_path / "env.txt"
    binary = tmp_path / "opencode"
    binary.write_text(f"#!/bin/sh\nenv > {dump}\nexit 1\n")
    binary.chmod(0o755)
    monkeypatch.setenv("GITHUB_TOKEN", "secret-xyz")
    monkeypatch.setenv("GIT_DIR", "/x/.git")
    monkeypatch.setenv("MY_KEY", "k-1")
    provider = {"p": {"options": {"apiKey": "{env:MY_KEY}"}}}
    server = OpenCodeServer(provider=provider, binary=binary, port=free_port())
    with pytest.raises(OpenCodeStartError):
        server.start()
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert "GITHUB_TOKEN" not in env
    assert "GIT_DIR" not in env
    assert env["MY_KEY"] == "k-1"
    assert env["HOME"].startswith(tempfile.gettempdir())
    assert env["OPENCODE_DISABLE_PROJECT_CONFIG"] == "1"
    assert json.loads(env["OPENCODE_CONFIG_CONTENT"])["provider"] == provider
