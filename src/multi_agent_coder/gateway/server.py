"""The run's model gateway: the sandboxed agent's only way out, run by macoder outside it.

It listens on a Unix socket that the sandbox's egress bridge connects to (DESIGN §9), takes
plain HTTP requests from OpenCode and forwards each to the upstream its route names
(`routes.py`), over TLS where the upstream is https, streaming the answer back chunk by
chunk (server-sent events pass through unchanged). A path that names no route gets a 403
with a clear body: the gateway forwards to the configured upstreams and to nothing else.

Threads, not asyncio: requests are few (one model call at a time per task) and long-lived
(streamed answers), and a thread per connection keeps the code plain.
"""

from __future__ import annotations

import contextlib
import logging
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import httpx

from multi_agent_coder.gateway.routes import Routes

log = logging.getLogger(__name__)

#: Headers that belong to one hop, never forwarded (RFC 9110 §7.6.1), plus the ones httpx
#: and the handler set themselves.
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
#: A model answer may take minutes to start (long prompts); a stalled stream is OpenCode's
#: to time out, the task's hard timeout bounds everything.
UPSTREAM_TIMEOUT: Final = httpx.Timeout(connect=30.0, read=600.0, write=60.0, pool=30.0)


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False


class Gateway:
    """Forwards the sandbox's model requests to their upstreams; use as a context manager."""

    def __init__(
        self,
        routes: Routes,
        socket_path: Path,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.routes = routes
        self.socket_path = socket_path
        self._client = httpx.Client(timeout=UPSTREAM_TIMEOUT, transport=transport)
        self._server: _UnixHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.forwarded = 0
        self.refused = 0
        self._lock = threading.Lock()

    def start(self) -> Self:
        self._server = _UnixHTTPServer(str(self.socket_path), _make_handler(self))
        self.socket_path.chmod(0o600)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="macoder-gateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._client.close()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _count(self, *, refused: bool) -> None:
        with self._lock:
            if refused:
                self.refused += 1
            else:
                self.forwarded += 1

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request: forward it to its route's upstream, or refuse it."""
        target = self.routes.target(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if target is None:
            self._count(refused=True)
            known = ", ".join(f"/{route}/" for route in self.routes.upstreams) or "none"
            _answer(
                handler,
                403,
                f"macoder gateway: {handler.path.split('?')[0]!r} is no configured model "
                f"endpoint (routes: {known}); nothing else is reachable from the sandbox\n",
            )
            return
        self._count(refused=False)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        request = self._client.build_request(handler.command, target, headers=headers, content=body)
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("gateway: %s %s failed: %s", handler.command, target, exc)
            _answer(handler, 502, f"macoder gateway: the model endpoint did not answer: {exc}\n")
            return
        try:
            handler.send_response(response.status_code)
            for name, value in response.headers.multi_items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-encoding":
                    handler.send_header(name, value)
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for chunk in response.iter_bytes():  # decoded: content-encoding is not passed on
                if chunk:
                    handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # OpenCode went away (an aborted session): nothing left to answer
        finally:
            response.close()


def _answer(handler: BaseHTTPRequestHandler, status: int, text: str) -> None:
    data = text.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _make_handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("gateway: " + format, *args)

        def address_string(self) -> str:  # a Unix socket has no peer address
            return "sandbox"

        def do_GET(self) -> None:
            gateway.forward(self)

        do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    return Handler
