"""The run's model gateway over real sockets: it forwards configured routes, streaming, and
refuses everything else; the sandbox's bridge carries bytes both ways."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from multi_agent_coder.config import RetrySettings
from multi_agent_coder.gateway.routes import Route, Routes
from multi_agent_coder.gateway.sansio import GAVE_UP, Caps, Usage
from multi_agent_coder.gateway.server import Gateway
from multi_agent_coder.sandbox import inside


class Upstream(BaseHTTPRequestHandler):
    """A model endpoint: echoes what it got, and streams three events a moment apart."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Upstream.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for n in range(3):
            self.wfile.write(f"data: {n}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.2)
        usage = {"prompt_tokens": 100, "completion_tokens": 7}
        self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
        self.wfile.flush()
        self.close_connection = True


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` on a loopback port, as a provider's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def upstream() -> Iterator[str]:
    Upstream.seen = []
    with serving(Upstream) as url:
        yield url


def routes(upstream: str, key: str = "sk-real") -> Routes:
    return Routes({"local": Route(upstream, "openai", {"Authorization": f"Bearer {key}"})})


@pytest.fixture
def gateway(upstream: str, tmp_path: Path) -> Iterator[Gateway]:
    with Gateway(routes(upstream), tmp_path / "gw.sock") as running:
        yield running


def client(gateway: Gateway) -> httpx.Client:
    return httpx.Client(
        base_url="http://gateway", transport=httpx.HTTPTransport(uds=str(gateway.socket_path))
    )


def test_a_routed_request_reaches_its_upstream_and_streams_back_as_it_comes(
    gateway: Gateway,
) -> None:
    arrivals: list[float] = []
    with (
        client(gateway) as http,
        http.stream(
            "POST",
            "/local/chat/completions?stream=1",
            json={"model": "m"},
            headers={"X-Trace": "1"},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        text = ""  # (the usage event is the last one)
        for chunk in response.iter_text():
            arrivals.append(time.monotonic())
            text += chunk
    assert text.startswith("data: 0\n\ndata: 1\n\ndata: 2\n\n")
    assert len(arrivals) >= 2  # chunk by chunk, not one buffered answer
    [seen] = Upstream.seen
    assert seen["path"] == "/v1/chat/completions?stream=1"
    assert seen["body"] == b'{"model":"m"}'
    assert seen["headers"]["X-Trace"] == "1"
    assert (gateway.forwarded, gateway.refused) == (1, 0)


def test_the_real_key_is_added_outside_and_the_sandboxs_key_dropped(gateway: Gateway) -> None:
    with client(gateway) as http:
        http.post(
            "/local/chat/completions",
            json={"messages": [{"role": "system", "content": "Working directory: /wt/T001"}]},
            headers={"Authorization": "Bearer placeholder", "x-api-key": "also-dropped"},
        )
    [seen] = Upstream.seen
    assert seen["headers"]["Authorization"] == "Bearer sk-real"
    assert "x-api-key" not in {k.lower() for k in seen["headers"]}


def test_every_request_is_counted_for_the_task_whose_directory_it_names(
    gateway: Gateway,
) -> None:
    def ask(directory: str) -> None:
        system = f"<env>\n  Working directory: {directory}\n</env>"
        http.post("/local/chat/completions", json={"messages": [{"content": system}]})

    with client(gateway) as http:
        ask("/wt/T001")
        ask("/wt/T001")
        ask("/wt/T002")
        http.post("/local/chat/completions", json={"messages": []})  # e.g. a title request
    assert gateway.tally("/wt/T001").usage == Usage(200, 14, requests=2)
    assert gateway.tally("/wt/T002").usage == Usage(100, 7, requests=1)
    assert gateway.tally(None).usage.requests == 1
    assert gateway.run_tally.usage == Usage(400, 28, requests=4)
    assert all(e.status == 200 and e.bytes_out > 0 for e in gateway.exchanges)


def test_at_a_cap_the_next_request_is_refused_with_a_clear_error(
    upstream: str, tmp_path: Path
) -> None:
    caps = Caps(tokens_per_task=200)
    body = {"messages": [{"content": "Working directory: /wt/T001"}]}
    with Gateway(routes(upstream), tmp_path / "gw.sock", caps=caps) as gw, client(gw) as http:
        first = http.post("/local/chat/completions", json=body)  # 107 tokens so far
        second = http.post("/local/chat/completions", json=body)  # 214: the cap is crossed
        third = http.post("/local/chat/completions", json=body)  # refused, never sent
        other = http.post("/local/x", json={"messages": [{"content": "Working directory: /wt/T2"}]})
    assert first.status_code == second.status_code == 200
    assert third.status_code == 400
    assert "cap:tokens-per-task reached" in third.json()["error"]["message"]
    assert other.status_code == 200  # the cap is per task
    assert gw.cap_hit("/wt/T001") == "tokens-per-task"
    assert gw.cap_hit("/wt/T2") is None
    assert len(Upstream.seen) == 3  # within one request of the limit: T001's two, T2's one


def test_anything_but_a_configured_route_is_refused(gateway: Gateway) -> None:
    with client(gateway) as http:
        answer = http.post("/openai/chat/completions", json={})
        root = http.get("/")
    assert answer.status_code == root.status_code == 403
    assert "is no configured model endpoint (routes: /local/)" in answer.text
    assert Upstream.seen == []
    assert gateway.refused == 2


class Troubled(BaseHTTPRequestHandler):
    """A provider in trouble: answers the first `failures` requests with `status` (and
    `Retry-After` when set), the rest as `Upstream` does."""

    protocol_version = "HTTP/1.1"
    status: ClassVar[int] = 429
    failures: ClassVar[int] = 1
    retry_after: ClassVar[str | None] = None
    arrivals: ClassVar[list[float]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        Troubled.arrivals.append(time.monotonic())
        if len(Troubled.arrivals) > Troubled.failures:
            data = json.dumps({"usage": {"prompt_tokens": 5, "completion_tokens": 1}}).encode()
            status = 200
        else:
            data = json.dumps({"error": {"message": "Rate limit reached for m"}}).encode()
            status = Troubled.status
        self.send_response(status)
        if status != 200 and Troubled.retry_after is not None:
            self.send_header("Retry-After", Troubled.retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def troubled() -> Iterator[str]:
    Troubled.arrivals = []
    with serving(Troubled) as url:
        yield url


QUICK = RetrySettings(max_retries=2, delay=0.0)


def test_a_rate_limit_is_waited_out_as_the_provider_asks_and_never_reaches_opencode(
    troubled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Troubled, "failures", 2)
    monkeypatch.setattr(Troubled, "retry_after", "1")
    with Gateway(routes(troubled), tmp_path / "gw.sock", retry=QUICK) as gw, client(gw) as http:
        answer = http.post("/local/chat/completions", json={"model": "m"})
    assert answer.status_code == 200, answer.text
    assert len(Troubled.arrivals) == 3
    first, second, third = Troubled.arrivals
    # Retry-After: 1 is what was waited, not the policy's delay of 0 (a lower bound only).
    assert second - first >= 1.0
    assert third - second >= 1.0
    assert gw.run_tally.usage == Usage(5, 1, requests=1)  # only the answer is counted


@pytest.mark.parametrize("status", [500, 503, 529])
def test_a_provider_that_stays_down_is_a_final_error_with_its_own_message(
    troubled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setattr(Troubled, "failures", 99)
    monkeypatch.setattr(Troubled, "status", status)
    with Gateway(routes(troubled), tmp_path / "gw.sock", retry=QUICK) as gw, client(gw) as http:
        answer = http.post("/local/chat/completions", json={})
    assert answer.status_code == 400  # final to OpenCode, which would retry a 5xx
    assert answer.json()["error"]["message"] == GAVE_UP
    fault = gw.fault(None)  # the details are the task's failure reason
    assert fault is not None
    assert f"answered HTTP {status}: Rate limit reached for m" in fault
    assert "; gave up after 3 attempts (POST http://127.0.0.1:" in fault
    assert fault.endswith("/v1/chat/completions)")  # where it tried, named
    assert len(Troubled.arrivals) == 3


class DropsFirst(Troubled):
    """Hangs up on the first request without a word (a dropped keep-alive connection, an
    upstream restarting), then is a provider that stays down."""

    def do_POST(self) -> None:
        if not Troubled.arrivals:
            self.rfile.read(int(self.headers["Content-Length"]))
            Troubled.arrivals.append(time.monotonic())
            self.close_connection = True
            return
        super().do_POST()


def test_a_try_that_went_otherwise_is_named_in_the_final_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reason a task failed says every kind of fault its tries met, not only the last:
    a try that never reached the provider is not hidden behind its 503."""
    monkeypatch.setattr(Troubled, "failures", 99)
    monkeypatch.setattr(Troubled, "status", 503)
    Troubled.arrivals = []
    with (
        serving(DropsFirst) as url,
        Gateway(routes(url), tmp_path / "gw.sock", retry=QUICK) as gw,
        client(gw) as http,
    ):
        answer = http.post("/local/chat/completions", json={})
    assert answer.status_code == 400
    fault = str(gw.fault(None))
    last, _, before = fault.partition("; before that: ")
    assert "answered HTTP 503: Rate limit reached for m; gave up after 3 attempts (POST" in last
    assert before.startswith("the model endpoint did not answer: ")
    assert "HTTP 503" not in before
    assert len(Troubled.arrivals) == 3


def test_a_wait_longer_than_max_delay_is_not_waited(
    troubled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Troubled, "retry_after", "3600")
    with Gateway(routes(troubled), tmp_path / "gw.sock", retry=QUICK) as gw, client(gw) as http:
        answer = http.post("/local/chat/completions", json={})
    assert answer.status_code == 400
    assert "asks to wait 3600 s, more than retry.max_delay (30 s)" in str(gw.fault(None))
    assert len(Troubled.arrivals) == 1


def test_a_client_error_is_passed_through_untouched(
    troubled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Troubled, "status", 401)
    with Gateway(routes(troubled), tmp_path / "gw.sock", retry=QUICK) as gw, client(gw) as http:
        answer = http.post("/local/chat/completions", json={})
    assert answer.status_code == 401
    assert answer.json() == {"error": {"message": "Rate limit reached for m"}}
    assert len(Troubled.arrivals) == 1


def test_an_upstream_that_does_not_answer_is_retried_then_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with Gateway(routes(dead), tmp_path / "gw.sock", retry=QUICK) as gw, client(gw) as http:
        answer = http.post("/local/x", json={})
    assert answer.status_code == 400
    assert "the model endpoint did not answer" in str(gw.fault(None))
    assert "gave up after 3 attempts" in str(gw.fault(None))


def test_the_gateway_leaves_no_socket_behind(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "gw.sock"
    with Gateway(routes(upstream), path):
        assert path.is_socket()
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not path.exists()


def test_the_bridges_carry_bytes_both_ways(tmp_path: Path) -> None:
    """What inside.py does in the sandbox, here in one process: a Unix socket to a TCP port
    (macoder -> OpenCode) and a TCP port to a Unix socket (OpenCode -> gateway)."""
    echo = socket.create_server(("127.0.0.1", 0))

    def serve_echo() -> None:
        while True:
            try:
                conn, _ = echo.accept()
            except OSError:  # closed at the end of the test
                return
            conn.sendall(conn.recv(100).upper())
            conn.close()

    threading.Thread(target=serve_echo, daemon=True).start()
    unix_in = str(tmp_path / "in.sock")
    inside.serve(unix_in, echo.getsockname()[1])
    with socket.socket(socket.AF_UNIX) as to_server:
        to_server.connect(unix_in)
        to_server.sendall(b"hello")
        assert to_server.recv(100) == b"HELLO"

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    inside.egress(port, unix_in)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as out:
        out.sendall(b"world")
        assert out.recv(100) == b"WORLD"
    echo.close()
