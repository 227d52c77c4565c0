"""A thin synchronous httpx client for `opencode serve`: sends `sansio` requests, parses answers.

The event stream runs on a background thread that feeds a queue, so the caller can wait for
"idle, or the deadline" with a plain `queue.get(timeout=...)`. The stream reconnects when it
drops; because OpenCode does not replay events missed in between (#13947), the subscription then
puts a `StreamGap` in the queue and the caller re-reads `GET /session/status`.

Subscribe (and wait until the server confirms with `server.connected`) before sending
`prompt_async` or `abort`: an idle that fires before the listener is attached is lost.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import httpx

from multi_agent_coder.agents.opencode import sansio
from multi_agent_coder.agents.opencode.sansio import Event, Meaning, Request, Transcript
from multi_agent_coder.errors import MacoderError
from multi_agent_coder.tls import shared_tls_context

#: OpenCode sends `server.heartbeat` every 10 s; silence for this long means the stream is dead.
STREAM_READ_TIMEOUT_S: Final = 30.0
#: Bounds on the pause between reconnect attempts.
RECONNECT_MIN_S: Final = 0.1
RECONNECT_MAX_S: Final = 2.0


class OpenCodeError(MacoderError):
    """The OpenCode server could not be reached or answered something unexpected."""


class OpenCodeHTTPError(OpenCodeError):
    """An HTTP answer with a status the call does not accept."""

    def __init__(self, request: Request, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"OpenCode {request.method} {request.path}: HTTP {status}: {body[:300]}")


@dataclass(frozen=True)
class StreamGap:
    """The event stream dropped and reconnected; events in between may be lost."""

    reconnects: int


StreamItem = Event | StreamGap


def _transport(uds: str | None) -> httpx.HTTPTransport:
    """To the server's Unix socket when it has one, else by TCP; no TLS context of its own."""
    return httpx.HTTPTransport(uds=uds, verify=shared_tls_context())


class EventSubscription:
    """The `/event` stream of one directory, read on a daemon thread into a queue.

    `start()` returns once the server has confirmed the subscription (`server.connected`), so a
    prompt sent afterwards cannot finish unseen. Close it (or use `with`) to stop the thread.
    """

    def __init__(
        self,
        base_url: str,
        request: Request,
        *,
        auth: httpx.Auth | None = None,
        read_timeout_s: float = STREAM_READ_TIMEOUT_S,
        uds: str | None = None,
    ) -> None:
        self._request = request
        self._http = httpx.Client(
            base_url=base_url,
            auth=auth,
            timeout=httpx.Timeout(5.0, read=read_timeout_s),
            transport=_transport(uds),
        )
        self._queue: queue.Queue[StreamItem] = queue.Queue()
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.reconnects = 0
        self.last_error: BaseException | None = None

    def start(self, timeout_s: float) -> Self:
        """Connect; raise `OpenCodeError` if the server does not confirm within `timeout_s`
        (the caller's to choose: `timeouts.stream_connect_timeout` for a task)."""
        self._thread = threading.Thread(target=self._run, name="opencode-events", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            self.close()
            detail = f": {self.last_error}" if self.last_error else ""
            raise OpenCodeError(
                f"OpenCode event stream {self._request.path} not connected "
                f"within {timeout_s:g} s{detail}"
            )
        return self

    def get(self, timeout_s: float) -> StreamItem | None:
        """The next event or gap marker, or None if nothing came within `timeout_s`."""
        try:
            return self._queue.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            sock = self._socket
        if sock is not None:
            # Wakes the reader thread blocked in recv(); closing alone would not.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        delay = RECONNECT_MIN_S
        connected_once = False
        while not self._closed.is_set():
            try:
                with self._http.stream(
                    self._request.method, self._request.path, params=dict(self._request.params)
                ) as response:
                    if response.status_code != 200:
                        response.read()
                        raise OpenCodeHTTPError(self._request, response.status_code, response.text)
                    self._remember_socket(response)
                    decoder = sansio.SSEDecoder()
                    for line in response.iter_lines():
                        message = decoder.feed(line)
                        event = sansio.parse_event(message) if message else None
                        if event is None:
                            continue
                        if event.type == sansio.CONNECTED:
                            delay = RECONNECT_MIN_S
                            if connected_once:
                                self._queue.put(StreamGap(self.reconnects))
                            connected_once = True
                            self._ready.set()
                        elif event.type != sansio.HEARTBEAT:
                            self._queue.put(event)
            except (httpx.HTTPError, OpenCodeError, OSError) as exc:
                self.last_error = exc
            finally:
                with self._lock:
                    self._socket = None
            if self._closed.is_set():
                return
            self.reconnects += 1
            self._closed.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    def _remember_socket(self, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        with self._lock:
            self._socket = sock if isinstance(sock, socket.socket) else None


class OpenCodeClient:
    """Calls on one `opencode serve`; every session call names its directory."""

    def __init__(
        self,
        base_url: str,
        *,
        password: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        uds: str | None = None,
    ) -> None:
        """`uds`: the server's Unix socket (a sandboxed server has no port on this host's
        network; `base_url` then only names it)."""
        self.base_url = base_url.rstrip("/")
        self.uds = uds
        self._auth = httpx.BasicAuth("opencode", password) if password else None
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=self._auth,
            timeout=timeout_s,
            transport=transport if transport is not None else _transport(uds),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # plumbing

    def send(
        self,
        request: Request,
        *,
        accept: tuple[int, ...] = (200, 204),
        timeout_s: float | None = None,
    ) -> httpx.Response:
        """Send a `sansio.Request`; a status outside `accept` raises `OpenCodeHTTPError`."""
        extra: dict[str, Any] = {} if timeout_s is None else {"timeout": timeout_s}
        try:
            response = self._http.request(
                request.method,
                request.path,
                params=dict(request.params),
                json=request.json,
                **extra,
            )
        except httpx.HTTPError as exc:
            raise OpenCodeError(
                f"OpenCode {request.method} {request.path} at {self.base_url} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code not in accept:
            raise OpenCodeHTTPError(request, response.status_code, response.text)
        return response

    def _json(self, request: Request, **kwargs: Any) -> Any:
        response = self.send(request, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise OpenCodeError(
                f"OpenCode {request.method} {request.path}: answer is not JSON: "
                f"{response.text[:200]!r}"
            ) from exc

    # calls

    def health(self, timeout_s: float = 2.0) -> dict[str, Any]:
        """`GET /global/health`. Use a short timeout: early connections may never be answered."""
        payload = self._json(sansio.health(), timeout_s=timeout_s)
        return payload if isinstance(payload, dict) else {}

    def subscribe(self, directory: str, *, timeout_s: float) -> EventSubscription:
        """A started event subscription for `directory` (see `EventSubscription`), confirmed
        by the server within `timeout_s`."""
        subscription = EventSubscription(
            self.base_url, sansio.subscribe(directory), auth=self._auth, uds=self.uds
        )
        return subscription.start(timeout_s)

    def create_session(self, directory: str, title: str) -> str:
        try:
            return sansio.parse_session_id(self._json(sansio.create_session(directory, title)))
        except ValueError as exc:
            raise OpenCodeError(str(exc)) from exc

    def prompt_async(
        self, session_id: str, directory: str, text: str, model: str, agent: str = "build"
    ) -> None:
        self.send(sansio.prompt_async(session_id, directory, text, model, agent))

    def abort(self, session_id: str, directory: str) -> bool:
        return bool(self._json(sansio.abort(session_id, directory)))

    def delete_session(self, session_id: str, directory: str) -> bool:
        """True if deleted now, False if it was already gone (404)."""
        response = self.send(sansio.delete_session(session_id, directory), accept=(200, 404))
        return response.status_code == 200

    def session_exists(self, session_id: str, directory: str) -> bool:
        response = self.send(sansio.get_session(session_id, directory), accept=(200, 404))
        return response.status_code == 200

    def messages(self, session_id: str, directory: str) -> list[Any]:
        payload = self._json(sansio.messages(session_id, directory))
        return payload if isinstance(payload, list) else []

    def transcript(self, session_id: str, directory: str) -> Transcript:
        return sansio.parse_messages(self.messages(session_id, directory))

    def status(self, session_id: str, directory: str) -> Meaning:
        """The session's state from `GET /session/status` (not listed = idle)."""
        return sansio.status_of(self._json(sansio.session_status(directory)), session_id)

    def reject_permission(self, request_id: str, directory: str) -> bool:
        response = self.send(sansio.reject_permission(request_id, directory), accept=(200, 404))
        return response.status_code == 200

    def reject_question(self, request_id: str, directory: str) -> bool:
        response = self.send(sansio.reject_question(request_id, directory), accept=(200, 404))
        return response.status_code == 200
