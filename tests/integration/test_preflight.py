"""The provider check before a run: a wrong endpoint, key or model is learnt in seconds, and
nothing is leased, counted or branched.

Real git, the real run engine with its default agent runtime (OpenCode, which the failing
check never gets to start), and a model endpoint on 127.0.0.1 that answers as told: nothing
listening, 401, 404 for an unknown model, an answer that never comes. The scripted model
stands for a provider that works.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from multi_agent_coder.config import Settings
from multi_agent_coder.errors import EXIT_USAGE, ProviderCheckError
from multi_agent_coder.gateway.probe import probe
from multi_agent_coder.gateway.routes import Route, Routes
from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions
from multi_agent_coder.run.session import open_local
from testing import scripted_model as sm
from tests.integration.gitrepos import git, make_repo
from tests.integration.test_gateway import serving
from tests.support import backlog_yaml, task_dict

KEY = "sk-preflight-key"


class Provider(BaseHTTPRequestHandler):
    """A provider endpoint: answers `status` with an OpenAI-style error, or hangs."""

    protocol_version = "HTTP/1.1"
    status: ClassVar[int] = 200
    message: ClassVar[str] = ""
    hang: ClassVar[threading.Event | None] = None
    seen: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Provider.seen.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": json.loads(body)}
        )
        if Provider.hang is not None:
            Provider.hang.wait(30)
            return
        payload = json.dumps({"error": {"message": Provider.message}}).encode()
        self.send_response(Provider.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def provider() -> Iterator[str]:
    Provider.status, Provider.message, Provider.hang, Provider.seen = 200, "", None, []
    with serving(Provider) as url:
        yield url
    if Provider.hang is not None:
        Provider.hang.set()


def config_for(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "opencode.json"
    provider = {
        "up": {
            "npm": "@ai-sdk/openai-compatible",
            "options": {"baseURL": base_url, "apiKey": "{env:PREFLIGHT_KEY}"},
            "models": {"m1": {"name": "m1"}},
        }
    }
    path.write_text(json.dumps({"provider": provider}))
    return path


def state(root: Path) -> tuple[str, list[str]]:
    """Every ref and every file of the git dir's macoder state: what a run could change."""
    refs = git(root, "for-each-ref", "--format=%(refname) %(objectname)")
    macoder = root / ".git" / "macoder"
    files = sorted(str(p.relative_to(root)) for p in macoder.rglob("*")) if macoder.exists() else []
    worktrees = root / ".macoder" / "worktrees"
    files += sorted(str(p) for p in worktrees.iterdir()) if worktrees.is_dir() else []
    return refs, files


def run_with(
    tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch, *, key: str = KEY
) -> str:
    """`macoder run` on a fresh repository against `base_url`; the check's error message,
    with the repository's state shown unchanged."""
    monkeypatch.setenv("PREFLIGHT_KEY", key)
    root = make_repo(tmp_path / "repo", {"BACKLOG.yaml": backlog_yaml(task_dict("T001"))})
    settings = Settings(
        opencode_config=str(config_for(tmp_path, base_url)),
        models={"implementation": "up/m1", "documentation": "up/m1"},
    )
    before = state(root)
    with open_local(root, settings) as session, pytest.raises(ProviderCheckError) as caught:
        Orchestrator(session).run(RunOptions())
    assert state(root) == before
    assert caught.value.exit_code == EXIT_USAGE
    return str(caught.value)


def test_nothing_listening_fails_the_run_naming_model_and_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there
    message = run_with(tmp_path, dead, monkeypatch)
    assert f"up/m1 at {dead}/chat/completions: cannot connect" in message
    assert "nothing was started or counted" in message


def test_a_wrong_key_fails_with_the_provider_s_words(
    tmp_path: Path, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Provider.status, Provider.message = 401, "Incorrect API key provided"
    message = run_with(tmp_path, provider, monkeypatch)
    assert "answered HTTP 401: Incorrect API key provided" in message
    # The key went where the gateway would send it: the Authorization header, resolved.
    (request,) = Provider.seen
    assert request["auth"] == f"Bearer {KEY}"
    assert request["body"]["model"] == "m1"
    assert request["body"]["max_tokens"] == 1


def test_a_refusal_names_the_key_variable_that_is_not_set(
    tmp_path: Path, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Provider.status, Provider.message = 401, "Missing bearer authentication"
    message = run_with(tmp_path, provider, monkeypatch, key="")  # the person forgot to export it
    assert "HTTP 401: Missing bearer authentication (PREFLIGHT_KEY: not set in this" in message


def test_an_unknown_model_fails_with_the_provider_s_words(
    tmp_path: Path, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Provider.status, Provider.message = 404, "The model `m1` does not exist"
    message = run_with(tmp_path, provider, monkeypatch)
    assert f"up/m1 at {provider}/chat/completions" in message
    assert "HTTP 404: The model `m1` does not exist" in message


def test_a_provider_that_does_not_answer_fails_within_the_probe_timeout(
    tmp_path: Path, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Provider.hang = threading.Event()
    message = run_with(tmp_path, provider, monkeypatch)
    assert "no answer within 8 s" in message


def test_a_working_provider_passes_with_one_small_request_per_model() -> None:
    with sm.ScriptedModel({}) as model:
        config = model.provider_config()
        base = next(iter(config.values()))["options"]["baseURL"]
        routes = Routes({sm.PROVIDER_ID: Route(base.rstrip("/"), "openai", {})})
        assert probe(routes, [sm.MODEL_REF, sm.MODEL_REF]) == []
        (request,) = model.requests
        assert request.kind == "aux"
        assert request.body is not None
        assert request.body["max_tokens"] == 1
