"""The run's model gateway over real sockets: it forwards configured routes, streaming, and
refuses everything else; the sandbox's bridge carries bytes both ways."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from multi_agent_coder.gateway.routes import Routes
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
        self.close_connection = True


@pytest.fixture
def upstream() -> Iterator[str]:
    Upstream.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def gateway(upstream: str, tmp_path: Path) -> Iterator[Gateway]:
    with Gateway(Routes({"local": upstream}), tmp_path / "gw.sock") as running:
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
        text = ""
        for chunk in response.iter_text():
            arrivals.append(time.monotonic())
            text += chunk
    assert text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert len(arrivals) >= 2  # chunk by chunk, not one buffered answer
    [seen] = Upstream.seen
    assert seen["path"] == "/v1/chat/completions?stream=1"
    assert seen["body"] == b'{"model":"m"}'
    assert seen["headers"]["X-Trace"] == "1"
    assert (gateway.forwarded, gateway.refused) == (1, 0)


def test_anything_but_a_configured_route_is_refused(gateway: Gateway) -> None:
    with client(gateway) as http:
        answer = http.post("/openai/chat/completions", json={})
        root = http.get("/")
    assert answer.status_code == root.status_code == 403
    assert "is no configured model endpoint (routes: /local/)" in answer.text
    assert Upstream.seen == []
    assert gateway.refused == 2


def test_an_upstream_that_is_down_is_a_clear_502(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with Gateway(Routes({"local": dead}), tmp_path / "gw.sock") as gw, client(gw) as http:
        answer = http.post("/local/x", json={})
    assert answer.status_code == 502
    assert "the model endpoint did not answer" in answer.text


def test_the_gateway_leaves_no_socket_behind(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "gw.sock"
    with Gateway(Routes({"local": upstream}), path):
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
