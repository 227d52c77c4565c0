"""`OpenCodeAgent` end to end: the real OpenCode binary, the scripted model, real git worktrees.

Needs the pinned binary from `bash scripts/opencode.sh`; skipped with that hint when missing.
One server per module (and a second one for the "ask" permission cases), one session per test.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.agents import AgentOutcome, AgentResult
from multi_agent_coder.agents.opencode import (
    OpenCodeAgent,
    OpenCodeClient,
    OpenCodeServer,
    sansio,
)
from multi_agent_coder.agents.opencode.sansio import Event, Request
from multi_agent_coder.processes import ProcessInfo, pid_alive, process_tree, read_process
from testing import scripted_model as sm

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SECRET = "secret-xyz-" + uuid.uuid4().hex[:8]

#: The agent's long command, named for this test process alone: a whole suite running beside
#: this one (CI on a shared machine) runs the same scenario, and its sleeper is not ours.
SLEEP = f"sleep 313.{os.getpid()}"

SCENARIOS = {
    "T101": sm.Scenario(
        [
            sm.write("{worktree}/hello.txt", "hello\n"),
            sm.bash("cat hello.txt > copy.txt && env > env.txt", "Copy and dump env"),
            sm.text("All done."),
        ]
    ),
    "T102": sm.Scenario(
        [
            sm.write("{worktree}/src/app.py", "VALUE = 1\n"),
            sm.edit("{worktree}/src/app.py", "VALUE = 1", "VALUE = 2"),
            sm.write("relative.txt", "relative paths work\n"),
            sm.text("Edited."),
        ]
    ),
    "T103": sm.Scenario([sm.hang()]),
    "T104": sm.Scenario([sm.error(500, "scripted overload")]),
    "T105": sm.Scenario([sm.error(429, "scripted rate limit")]),
    "T106": sm.Scenario([sm.error(400, "bad request: scripted")]),
    "T107": sm.Scenario([sm.permission(), sm.text("Could not read it; carried on.")]),
    "T108": sm.Scenario([sm.permission()]),
    "T109": sm.Scenario(
        [
            sm.tool(
                "question",
                {
                    "questions": [
                        {
                            "question": "Which one?",
                            "header": "Pick",
                            "options": [{"label": "a", "description": "A"}],
                        }
                    ]
                },
            )
        ]
    ),
    "T110": sm.Scenario(
        [
            sm.bash("git push origin HEAD", "Push"),
            sm.bash("GH_TOKEN=x gh pr create --fill", "Open a PR"),
            sm.text("I was not allowed to push."),
        ]
    ),
    "T111": sm.Scenario([sm.bash(SLEEP, "Wait a long time")]),
}


def git(cwd: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid")
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def start_server(binary: Path, model: sm.ScriptedModel, **kwargs: Any) -> OpenCodeServer:
    """A server started while tokens sit in the environment, as in a CI job."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_TOKEN", SECRET)
        patch.setenv("GH_TOKEN", SECRET)
        patch.setenv("SOME_SERVICE_TOKEN", SECRET)
        patch.setenv("GIT_DIR", "/nonexistent/.git")
        server = OpenCodeServer(provider=model.provider_config(), binary=binary, **kwargs)
    return server.start()


@pytest.fixture(scope="module")
def server(binary: Path, model: sm.ScriptedModel) -> Iterator[OpenCodeServer]:
    server = start_server(binary, model)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def asking_server(binary: Path, model: sm.ScriptedModel) -> Iterator[OpenCodeServer]:
    """A server configured the way OpenCode defaults are: permissions that ask a human."""
    permission = sansio.permissions({"external_directory": "ask", "question": "allow"})
    server = start_server(binary, model, permission=permission)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server: OpenCodeServer) -> Iterator[OpenCodeClient]:
    with server.client() as client:
        yield client


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    path = tmp_path / "wt"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# target\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "init")
    return path


def run(
    server: OpenCodeServer,
    client: OpenCodeClient,
    worktree: Path,
    task: str,
    *,
    timeout_s: float = 60,
    model: str = sm.MODEL_REF,
) -> tuple[AgentResult, OpenCodeAgent]:
    agent = OpenCodeAgent(server, client)
    result = agent.run(
        prompt=f"# Task {task}: scripted\n\nDo what the script says.",
        worktree=worktree,
        model=model,
        timeout_s=timeout_s,
        title=f"Task {task}",
    )
    return result, agent


def assert_gone(client: OpenCodeClient, result: AgentResult, worktree: Path) -> None:
    assert result.session_id is not None
    assert result.session_deleted, result
    assert not client.session_exists(result.session_id, str(worktree))
    status = client.send(sansio.session_status(str(worktree))).json()
    assert result.session_id not in status


def test_success_writes_runs_and_cleans_up(
    server: OpenCodeServer, client: OpenCodeClient, model: sm.ScriptedModel, worktree: Path
) -> None:
    result, _ = run(server, client, worktree, "T101")
    assert result.outcome is AgentOutcome.SUCCESS, result.reason
    assert (worktree / "hello.txt").read_text() == "hello\n"
    assert (worktree / "copy.txt").read_text() == "hello\n"
    assert result.output_text == "All done."
    assert result.tokens_in is not None
    assert result.tokens_in > 0
    assert result.tokens_out is not None
    assert result.tokens_out > 0
    assert result.duration_s < 30
    assert_gone(client, result, worktree)
    requests = model.task_requests("T101")
    assert [r.answer for r in requests] == ["tool:write", "tool:bash", "text"]
    assert all(r.worktree == str(worktree.resolve()) for r in requests)
    # OpenCode's own system prompt and tool schemas: tens of KB per model call.
    assert all(2_000 < r.size < 100_000 for r in requests), [r.size for r in requests]


def test_tokens_never_reach_the_agent(
    server: OpenCodeServer, client: OpenCodeClient, worktree: Path
) -> None:
    result, _ = run(server, client, worktree, "T101")
    assert result.outcome is AgentOutcome.SUCCESS, result.reason
    env = (worktree / "env.txt").read_text()
    names = {line.split("=", 1)[0] for line in env.splitlines() if "=" in line}
    assert SECRET not in env
    assert not names & {"GITHUB_TOKEN", "GH_TOKEN", "SOME_SERVICE_TOKEN"}
    assert not [n for n in names if n.startswith("GIT_")]
    assert "HOME" in names
    assert str(Path.home()) not in {
        line.split("=", 1)[1] for line in env.splitlines() if line.startswith("HOME=")
    }


def test_parallel_runs_share_one_server_and_agent(
    server: OpenCodeServer, client: OpenCodeClient, tmp_path: Path
) -> None:
    """The orchestrator runs `workers` tasks at once on one server with one agent."""
    trees = []
    for i in range(3):
        path = tmp_path / f"wt{i}"
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        trees.append(path)
    agent = OpenCodeAgent(server, client)

    def one(path: Path) -> AgentResult:
        return agent.run(
            prompt="# Task T101: parallel\n",
            worktree=path,
            model=sm.MODEL_REF,
            timeout_s=60,
            title="Task T101",
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(one, trees))
    assert [r.outcome for r in results] == [AgentOutcome.SUCCESS] * 3, [r.reason for r in results]
    assert len({r.session_id for r in results}) == 3
    for path, result in zip(trees, results, strict=True):
        assert (path / "hello.txt").read_text() == "hello\n"
        assert_gone(client, result, path)


def test_edit_and_relative_paths(
    server: OpenCodeServer, client: OpenCodeClient, worktree: Path
) -> None:
    result, _ = run(server, client, worktree, "T102")
    assert result.outcome is AgentOutcome.SUCCESS, result.reason
    assert (worktree / "src" / "app.py").read_text() == "VALUE = 2\n"
    assert (worktree / "relative.txt").read_text() == "relative paths work\n"
    assert_gone(client, result, worktree)


def test_hang_times_out_and_the_server_survives(
    server: OpenCodeServer, client: OpenCodeClient, worktree: Path
) -> None:
    result, agent = run(server, client, worktree, "T103", timeout_s=3)
    assert result.outcome is AgentOutcome.TIMEOUT
    assert result.reason.startswith("no session.idle within 3 s")
    assert result.duration_s < 3 + 15  # bounded by our timeout (a hang would never end)
    assert_gone(client, result, worktree)
    assert not agent.needs_kill
    assert client.health()["healthy"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "message"), [("T104", "scripted overload"), ("T105", "scripted rate limit")]
)
def test_retryable_provider_errors_are_bounded_by_our_timeout(  # noqa: PLR0917
    server: OpenCodeServer,
    client: OpenCodeClient,
    worktree: Path,
    model: sm.ScriptedModel,
    task: str,
    message: str,
) -> None:
    # OpenCode retries these forever; our timeout is the only bound. 15 s leaves room for
    # its retries (and their status events) on a loaded machine.
    result, _ = run(server, client, worktree, task, timeout_s=15)
    assert result.outcome is AgentOutcome.TIMEOUT
    assert f"the provider kept failing: {message}" in result.reason
    assert result.duration_s < 15 + 15
    assert len(model.task_requests(task)) >= 2  # OpenCode retried on its own
    assert_gone(client, result, worktree)


def test_provider_400_is_an_error(
    server: OpenCodeServer, client: OpenCodeClient, worktree: Path
) -> None:
    result, _ = run(server, client, worktree, "T106")
    assert result.outcome is AgentOutcome.ERROR
    assert result.reason == "APIError: bad request: scripted (HTTP 400)"
    assert result.output_text == ""
    assert_gone(client, result, worktree)


def test_unknown_model_is_an_error(
    server: OpenCodeServer, client: OpenCodeClient, worktree: Path
) -> None:
    result, _ = run(server, client, worktree, "T101", model="scripted/no-such-model")
    assert result.outcome is AgentOutcome.ERROR
    assert "Model not found: scripted/no-such-model" in result.reason
    assert "no assistant message" in result.reason
    assert not (worktree / "hello.txt").exists()
    assert_gone(client, result, worktree)


def test_outside_read_is_denied_not_asked(
    server: OpenCodeServer, client: OpenCodeClient, worktree: Path
) -> None:
    """With the shipped permissions nothing waits for a human: the tool fails, the model goes on."""
    result, _ = run(server, client, worktree, "T107")
    assert result.outcome is AgentOutcome.SUCCESS, result.reason
    assert result.output_text == "Could not read it; carried on."


@pytest.mark.parametrize(
    ("task", "what"), [("T108", "external_directory (/etc/*)"), ("T109", "Which one?")]
)
def test_permission_or_question_blocks(
    asking_server: OpenCodeServer, worktree: Path, task: str, what: str
) -> None:
    with asking_server.client() as client:
        started = time.monotonic()
        result, agent = run(asking_server, client, worktree, task, timeout_s=60)
        assert result.outcome is AgentOutcome.BLOCKED
        assert what in result.reason
        assert time.monotonic() - started < 20
        assert not agent.needs_kill
        assert_gone(client, result, worktree)
        kind = "permission" if task == "T108" else "question"
        pending = client.send(Request("GET", f"/{kind}", {"directory": str(worktree)})).json()
        assert pending == []


def test_push_and_pr_commands_are_denied(
    server: OpenCodeServer, client: OpenCodeClient, worktree: Path, model: sm.ScriptedModel
) -> None:
    git(worktree, "remote", "add", "origin", str(worktree))
    result, _ = run(server, client, worktree, "T110")
    assert result.outcome is AgentOutcome.SUCCESS, result.reason
    last = model.task_requests("T110")[-1].body
    assert last is not None
    tool_results = [m["content"] for m in last["messages"] if m["role"] == "tool"]
    assert len(tool_results) == 2
    assert all("prevents you from using this specific tool call" in str(t) for t in tool_results)


def sleepers(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline:
                found.append(int(entry.name))
    return found


def test_timeout_during_a_running_command_stops_it(
    server: OpenCodeServer, client: OpenCodeClient, worktree: Path
) -> None:
    result, agent = run(server, client, worktree, "T111", timeout_s=3)
    assert result.outcome is AgentOutcome.TIMEOUT
    assert not agent.needs_kill
    assert_gone(client, result, worktree)
    deadline = time.monotonic() + 60
    while sleepers(SLEEP) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sleepers(SLEEP) == []


class InterruptingClient(OpenCodeClient):
    """Raises KeyboardInterrupt from the event wait once the session is busy (a Ctrl-C)."""

    def subscribe(self, directory: str, *, timeout_s: float) -> Any:
        subscription = super().subscribe(directory, timeout_s=timeout_s)
        real_get = subscription.get

        def get(wait_s: float) -> Any:
            item = real_get(wait_s)
            status = item.properties.get("status") if isinstance(item, Event) else None
            if isinstance(status, dict) and status.get("type") == "busy":
                raise KeyboardInterrupt
            return item

        subscription.get = get  # type: ignore[method-assign]
        return subscription


def test_keyboard_interrupt_leaves_no_session(
    server: OpenCodeServer, client: OpenCodeClient, worktree: Path
) -> None:
    interrupting = InterruptingClient(server.base_url)
    agent = OpenCodeAgent(server, interrupting)
    with pytest.raises(KeyboardInterrupt):
        agent.run(
            prompt="# Task T103: hang\n",
            worktree=worktree,
            model=sm.MODEL_REF,
            timeout_s=30,
            title="T103",
        )
    interrupting.close()
    directory = str(worktree)
    sessions = client.send(Request("GET", "/session", {"directory": directory})).json()
    assert [s for s in sessions if s.get("directory") == directory] == []
    assert client.send(sansio.session_status(directory)).json() == {}


def test_stop_ends_the_whole_process_tree(
    binary: Path, model: sm.ScriptedModel, worktree: Path
) -> None:
    """No abort, no delete: stop() alone must leave no process (agent commands included)."""
    server = start_server(binary, model)
    pid = server.pid
    home = server.home
    assert pid is not None
    assert home is not None
    try:
        with server.client() as client:
            directory = str(worktree)
            session_id = client.create_session(directory, "Task T111")
            client.prompt_async(session_id, directory, "# Task T111: sleep\n", sm.MODEL_REF)
            # The loop ends when the command starts; the bound is for a server that never
            # runs it (a loaded machine took over 30 s to get there once).
            deadline = time.monotonic() + 120
            while not sleepers(SLEEP) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert sleepers(SLEEP), "the scripted bash command never started"
            tree = process_tree(pid)
            assert len(tree) > 1
    finally:
        server.stop()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert sleepers(SLEEP) == []
    # Every process the server had (by pid and start time: a number reused since is not ours).
    assert [info.pid for info in tree if still_running(info)] == []
    assert not home.exists()


def still_running(info: ProcessInfo) -> bool:
    now = read_process(info.pid)
    return now is not None and now.start == info.start and pid_alive(info.pid)


def test_the_runs_server_answers_only_with_the_runs_password(
    binary: Path, model: sm.ScriptedModel, tmp_path: Path
) -> None:
    """Anyone on the machine can connect to 127.0.0.1; without the run's password nobody but
    macoder gets a session (or a shell) out of the server."""
    import threading

    import httpx

    from multi_agent_coder.agents.opencode.runtime import opencode_agent
    from multi_agent_coder.config import Settings
    from multi_agent_coder.git.repo import Repo

    repo_dir = tmp_path / "repo"
    repo_dir.mkdir()
    git(repo_dir, "init", "-q", "-b", "main")
    (repo_dir / "README.md").write_text("# target\n")
    git(repo_dir, "add", "README.md")
    git(repo_dir, "commit", "-q", "-m", "init")
    config = tmp_path / "opencode.json"
    config.write_text(json.dumps({"provider": model.provider_config()}))
    settings = Settings(
        opencode_bin=str(binary),
        opencode_config=str(config),
        models={"implementation": sm.MODEL_REF},
    )
    with opencode_agent(settings, Repo.open(repo_dir), threading.Event()) as agent:
        assert agent.socket is not None  # sandboxed: no port on this host's network at all
        transport = httpx.HTTPTransport(uds=agent.socket)
        with httpx.Client(base_url=agent.base_url, transport=transport, timeout=30) as http:
            stranger = http.get("/session")
            shell = http.post("/session/ses_x/shell", json={})
        result = agent.run(
            prompt="# Task T001: say hi",
            worktree=repo_dir,
            model=sm.MODEL_REF,
            timeout_s=60,
            title="T001",
        )
    assert stranger.status_code == 401
    assert shell.status_code == 401
    assert result.outcome is AgentOutcome.SUCCESS, result.reason
