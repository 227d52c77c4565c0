"""The httpx adapter: status mapping (MockTransport) and the event stream over real loopback.

The stream tests use a tiny SSE server that drops the first connection on purpose, because the
real OpenCode server cannot be asked to: after a reconnect the subscription must say so
(`StreamGap`), since OpenCode does not replay what was missed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from multi_agent_coder.agents.opencode.client import (
    OpenCodeClient,
    OpenCodeError,
    OpenCodeHTTPError,
    StreamGap,
)
from multi_agent_coder.agents.opencode.sansio import Event, Signal


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> OpenCodeClient:
    return OpenCodeClient("http://opencode.test", transport=httpx.MockTransport(handler))


def test_directory_goes_in_the_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "ses_1"})

    assert mock_client(handler).create_session("/wt/a b", "Task T001") == "ses_1"
    assert seen[0].url.params["directory"] == "/wt/a b"
    assert json.loads(seen[0].content) == {"title": "Task T001"}


def test_unexpected_status_is_an_http_error() -> None:
    client = mock_client(lambda r: httpx.Response(400, json={"name": "BadRequest"}))
    with pytest.raises(OpenCodeHTTPError, match="HTTP 400") as caught:
        client.prompt_async("ses_1", "/wt", "hi", "p/m")
    assert caught.value.status == 400


def test_transport_failure_is_an_opencode_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(OpenCodeError, match="ConnectError"):
        mock_client(handler).health()


def test_404_answers() -> None:
    client = mock_client(lambda r: httpx.Response(404, json={"name": "NotFoundError"}))
    assert client.delete_session("ses_1", "/wt") is False
    assert client.session_exists("ses_1", "/wt") is False
    assert client.reject_permission("per_1", "/wt") is False


def test_session_without_id_is_an_error() -> None:
    client = mock_client(lambda r: httpx.Response(200, json={"oops": True}))
    with pytest.raises(OpenCodeError, match="without a session id"):
        client.create_session("/wt", "t")


def test_non_json_answer_is_an_error() -> None:
    client = mock_client(lambda r: httpx.Response(200, text="<html>"))
    with pytest.raises(OpenCodeError, match="not JSON"):
        client.messages("ses_1", "/wt")


def test_status_of_an_unlisted_session_is_idle() -> None:
    client = mock_client(lambda r: httpx.Response(200, json={"ses_2": {"type": "busy"}}))
    assert client.status("ses_1", "/wt").signal is Signal.IDLE
    assert client.status("ses_2", "/wt").signal is Signal.BUSY


# --- the event stream ------------------------------------------------------------------------


def sse(event_type: str, **properties: Any) -> bytes:
    return f"data: {json.dumps({'type': event_type, 'properties': properties})}\n\n".encode()


class StubOpenCode:
    """Serves `/event`: the first connection sends one event and drops; later ones stay open."""

    def __init__(self, first_status: int = 200) -> None:
        self.connections = 0
        self.directories: list[str] = []
        self.release = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                stub.connections += 1
                stub.directories.append(self.path)
                if first_status != 200:
                    self.send_response(first_status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b": comment\n\n" + sse("server.connected"))
                if stub.connections == 1:
                    self.wfile.write(
                        sse("session.status", sessionID="ses_1", status={"type": "busy"})
                    )
                    self.wfile.flush()
                    return  # dropped
                self.wfile.write(sse("server.heartbeat") + sse("session.idle", sessionID="ses_1"))
                self.wfile.flush()
                stub.release.wait(10)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[StubOpenCode]:
    server = StubOpenCode()
    yield server
    server.stop()


def test_stream_reconnects_and_reports_the_gap(stub: StubOpenCode) -> None:
    with OpenCodeClient(stub.url) as client, client.subscribe("/wt/T001", timeout_s=30) as events:
        first = events.get(15)
        assert isinstance(first, Event)
        assert first.type == "session.status"
        assert events.get(15) == StreamGap(1)
        idle = events.get(15)
        assert isinstance(idle, Event)
        assert idle.type == "session.idle"  # the heartbeat before it is not passed on
        assert events.get(0.2) is None
        started = time.monotonic()
    # close() does not wait for the next heartbeat nor the 30 s read timeout
    assert time.monotonic() - started < 15
    assert stub.connections == 2
    assert all("directory=%2Fwt%2FT001" in path for path in stub.directories)


def test_stream_that_never_connects_raises() -> None:
    stub = StubOpenCode(first_status=500)
    try:
        with (
            OpenCodeClient(stub.url) as client,
            pytest.raises(OpenCodeError, match="not connected"),
        ):
            client.subscribe("/wt", timeout_s=0.5)
    finally:
        stub.stop()
