"""Re-record the OpenCode payloads the pure unit tests replay (`tests/unit/data/opencode/`).

Run after moving the pinned OpenCode version (scripts/opencode.sh), then re-run
`tests/unit/test_opencode_sansio.py`: a failure there is a protocol change to look at.

    .venv/bin/python tests/integration/record_opencode_payloads.py [OUT_DIR]

Each case drives the real `opencode serve` with the scripted model and saves the raw SSE stream
(`<case>.sse`, every line as received) and the session's messages (`<case>.messages.json`).
Not collected by pytest (the name does not start with test_).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from multi_agent_coder.agents.opencode import sansio
from multi_agent_coder.agents.opencode.server import OpenCodeServer
from testing import scripted_model as sm

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "unit" / "data" / "opencode"

SCENARIOS = {
    "T001": sm.Scenario(
        [
            sm.write("{worktree}/hello.txt", "hello\n"),
            sm.bash("cat hello.txt", "show"),
            sm.text("All done."),
        ]
    ),
    "T002": sm.Scenario([sm.error(400, "bad request: scripted")]),
    "T003": sm.Scenario([sm.error(500, "scripted overload")]),
    "T004": sm.Scenario([sm.hang()]),
    "T005": sm.Scenario([sm.permission()]),
    "T006": sm.Scenario(
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
    "T007": sm.Scenario(
        [
            sm.bash("git push origin main", "push"),
            sm.bash("git status --short", "status"),
            sm.text("ok"),
        ]
    ),
}


class Recorder:
    def __init__(self, server: OpenCodeServer, directory: str) -> None:
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._base = server.base_url
        self._directory = directory
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not any("server.connected" in line for line in self.lines):
            if time.monotonic() > deadline:
                raise RuntimeError("no server.connected")
            time.sleep(0.02)

    def _run(self) -> None:
        with httpx.Client(base_url=self._base, timeout=httpx.Timeout(5.0, read=60.0)) as http:
            request = sansio.subscribe(self._directory)
            try:
                with http.stream("GET", request.path, params=dict(request.params)) as response:
                    for line in response.iter_lines():
                        self.lines.append(line)
                        if self._stop.is_set():
                            return
            except httpx.HTTPError:
                return

    def events(self) -> Iterator[sansio.Event]:
        for message in sansio.decode_sse("\n".join(self.lines)):
            event = sansio.parse_event(message)
            if event is not None:
                yield event

    def wait_for(self, session_id: str, types: set[str], timeout_s: float) -> float | None:
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if any(e.type in types and e.session_id == session_id for e in self.events()):
                return time.monotonic() - start
            time.sleep(0.02)
        return None

    def text(self) -> str:
        self._stop.set()
        return "\n".join(self.lines) + "\n"


def worktree() -> str:
    path = Path(tempfile.mkdtemp(prefix="macoder-rec-"))
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return str(path)


@contextmanager
def serving(model: sm.ScriptedModel, permission: dict[str, Any]) -> Iterator[OpenCodeServer]:
    with OpenCodeServer(
        provider=model.provider_config(), permission=permission, project_root=ROOT
    ) as server:
        yield server


def record(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    asking = sansio.permissions({"external_directory": "ask", "question": "allow"})
    with sm.ScriptedModel(SCENARIOS) as model, serving(model, asking) as server:
        client = server.client()

        def case(
            name: str,
            task: str,
            *,
            model_ref: str = sm.MODEL_REF,
            until: set[str],
            wait: float,
            abort: bool = False,
        ) -> None:
            directory = worktree()
            recorder = Recorder(server, directory)
            session_id = client.create_session(directory, f"Task {task}")
            (out / "session_created.json").write_text(
                json.dumps(client.send(sansio.get_session(session_id, directory)).json(), indent=1)
                + "\n"
            )
            client.prompt_async(
                session_id, directory, f"# Task {task}: record\n\nDo it.", model_ref
            )
            took = recorder.wait_for(session_id, until, wait)
            print(f"{name}: {sorted(until)} after {took}")
            if name == "provider_retry":
                status = client.send(sansio.session_status(directory)).json()
                (out / "status_retry.json").write_text(json.dumps(status, indent=1) + "\n")
            if name == "hang_abort":
                status = client.send(sansio.session_status(directory)).json()
                (out / "status_busy.json").write_text(json.dumps(status, indent=1) + "\n")
            if abort:
                started = time.monotonic()
                client.abort(session_id, directory)
                idle = recorder.wait_for(session_id, {"session.idle"}, 10)
                total = time.monotonic() - started
                print(f"  abort → idle in {idle} s (call + wait {total:.3f} s)")
            time.sleep(0.3)
            messages = client.messages(session_id, directory)
            (out / f"{name}.messages.json").write_text(json.dumps(messages, indent=1) + "\n")
            (out / f"{name}.sse").write_text(recorder.text())
            client.delete_session(session_id, directory)
            gone = client.send(sansio.get_session(session_id, directory), accept=(404,))
            (out / "session_not_found.json").write_text(json.dumps(gone.json(), indent=1) + "\n")

        case("success", "T001", until={"session.idle"}, wait=30)
        case("unknown_model", "T001", model_ref="scripted/nope", until={"session.idle"}, wait=30)
        case("provider_400", "T002", until={"session.idle"}, wait=30)
        case("provider_retry", "T003", until={"never"}, wait=4, abort=True)
        case("hang_abort", "T004", until={"never"}, wait=2, abort=True)
        case("permission_asked", "T005", until={"permission.asked"}, wait=30, abort=True)
        case("question_asked", "T006", until={"question.asked"}, wait=30, abort=True)
        case("bash_denied", "T007", until={"session.idle"}, wait=30)
        client.close()


if __name__ == "__main__":
    record(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
