"""Servers of a killed run are stopped by the next one; a live run's server is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from multi_agent_coder.agents.opencode.runtime import SERVERS_DIR, reap_orphans
from multi_agent_coder.processes import command_line, pid_alive
from tests.pids import unused_pid


def fake_server() -> subprocess.Popen[bytes]:
    """A process whose command line says opencode, like the real server's, returned once
    the exec has happened: bash's own command line says opencode too, and /proc reads empty
    for a moment while the exec replaces it, so the wait is for the new program's name."""
    proc = subprocess.Popen(["bash", "-c", "exec -a opencode-serve-fake sleep 60"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if command_line(proc.pid).startswith(b"opencode-serve-fake\0"):
            break
        time.sleep(0.01)
    return proc


def record(git_dir: Path, owner: int, server: int, home: Path, sockets: Path | None = None) -> Path:
    folder = git_dir / SERVERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{owner}.json"
    facts = {"macoder_pid": owner, "server_pid": server, "home": str(home)}
    if sockets is not None:
        facts["sockets"] = str(sockets)
    path.write_text(json.dumps(facts))
    return path


def wait_gone(proc: subprocess.Popen[bytes]) -> bool:
    """True once the process has exited (waited for, not guessed: up to 15 s)."""
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_the_server_of_a_dead_run_is_killed_and_its_home_removed(tmp_path: Path) -> None:
    server = fake_server()
    home = tmp_path / "macoder-opencode-xyz"
    home.mkdir()
    path = record(tmp_path, unused_pid(), server.pid, home)
    try:
        assert server.pid in reap_orphans(tmp_path)
        assert wait_gone(server)
        assert not path.exists()
        assert not home.exists()
    finally:
        server.kill()


def test_the_server_of_a_live_run_is_left_alone(tmp_path: Path) -> None:
    server = fake_server()
    path = record(tmp_path, os.getpid(), server.pid, tmp_path)
    try:
        assert reap_orphans(tmp_path) == []
        assert pid_alive(server.pid)
        assert path.exists()
    finally:
        server.kill()
        server.wait()


def test_a_reused_pid_that_is_not_opencode_is_never_signalled(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    path = record(tmp_path, unused_pid(), bystander.pid, tmp_path / "elsewhere")
    try:
        assert reap_orphans(tmp_path) == []
        assert pid_alive(bystander.pid)
        assert not path.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_damaged_record_is_dropped(tmp_path: Path) -> None:
    folder = tmp_path / SERVERS_DIR
    folder.mkdir(parents=True)
    (folder / "1.json").write_text("{nope")
    assert reap_orphans(tmp_path) == []
    assert list(folder.iterdir()) == []


def test_a_dead_runs_socket_directory_goes_too_but_only_one_macoder_named(tmp_path: Path) -> None:
    sockets = tmp_path / "mc-abc123"
    sockets.mkdir()
    (sockets / "gateway.sock").write_text("")
    record(tmp_path, unused_pid(), unused_pid(), tmp_path / "macoder-opencode-1", sockets)
    reap_orphans(tmp_path)
    assert not sockets.exists()

    precious = tmp_path / "project"
    precious.mkdir()
    record(tmp_path, unused_pid(), unused_pid(), tmp_path / "macoder-opencode-2", precious)
    reap_orphans(tmp_path)
    assert precious.is_dir()
