"""A threaded HTTP server on 127.0.0.1, the base of the test doubles (model, GitHub).

Both stand-ins serve on a background thread, start and stop the same way, and must not print
tracebacks when a client drops a keep-alive connection; this is that shared part.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class QuietServer(ThreadingHTTPServer):
    """Clients (OpenCode, httpx) drop connections at will; that is not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackServer:
    """Start/stop/context-manager plumbing; subclasses provide `_handler()`."""

    thread_name = "loopback"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def _before_stop(self) -> None:
        """Release requests that are waiting (a hung model step), before the socket closes."""

    def start(self) -> Self:
        """Bind and serve on a background thread; returns at once."""
        if self._server is None:
            server = QuietServer((self._host, self._port), self._handler())
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, name=self.thread_name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._before_stop()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"the {self.thread_name} server is not running")
        return int(self._server.server_address[1])
