"""The run's model gateway: the sandboxed agent's only way out, run by macoder outside it.

It listens on a Unix socket that the sandbox's egress bridge connects to (DESIGN §9), takes
plain HTTP requests from OpenCode and forwards each to the upstream its route names
(`routes.py`), over TLS where the upstream is https, streaming the answer back chunk by chunk
(server-sent events pass through unchanged). On the way:

- the key the sandboxed side sent (a placeholder) is dropped and the real one added: provider
  keys live in macoder's environment and nowhere in the sandbox;
- each request is attributed to the task whose worktree OpenCode names in its system prompt,
  and the provider's own `usage` in the answer is counted (tokens; cost where priced);
- before a request goes out, the caps are checked: a task or run at its limit gets a refusal
  (HTTP 400, an OpenAI-style error body that OpenCode shows) and the cap is remembered for the
  task, so it ends as `cap:<which>`.

A provider's passing fault (a rate limit, an overload, a 5xx, no answer at all) is retried
here, before anything reaches OpenCode, with the `retry` settings and the wait the provider
asks for (`Retry-After`). When retries run out, the fault is remembered for the task (its
failure reason names the provider's status and message) and OpenCode gets a 400 whose text
is plain on purpose: OpenCode retries a 429 or 5xx, and any error whose *text* mentions a
rate limit, an overload or a 5xx status, up to five more times with waits of its own (1.18:
six times our retries, a minute of backoff); a plain 400 is final to it, so the task stops
at once.

A path that names no route gets a 403 with a clear body: the gateway forwards to the
configured upstreams and to nothing else. Threads, not asyncio: requests are few (one model
call at a time per task) and long-lived (streamed answers).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import httpx

from multi_agent_coder import retry_after
from multi_agent_coder.config import RetrySettings
from multi_agent_coder.gateway.routes import Routes
from multi_agent_coder.gateway.sansio import (
    GAVE_UP,
    KEY_HEADERS,
    Caps,
    Price,
    Tally,
    UsageMeter,
    cap_reached,
    cap_refusal,
    cost_of,
    directory_of,
    model_of,
    provider_message,
)
from multi_agent_coder.retrying import call_with_retries
from multi_agent_coder.tls import shared_tls_context

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
#: What providers answer for a fault that passes: timeout, rate limit, server errors, and
#: Anthropic's 529 "overloaded".
TRANSIENT_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504, 529})


class UpstreamFault(Exception):
    """A provider's passing fault: `status` 0 when it did not answer at all."""

    def __init__(self, message: str, *, status: int = 0, wait: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.wait = wait


@dataclass(frozen=True, slots=True)
class Exchange:
    """One forwarded request, as counted."""

    directory: str | None
    route: str
    model: str | None
    status: int
    tally: Tally
    bytes_in: int
    bytes_out: int
    seconds: float


@dataclass
class _Books:
    """What the gateway has counted so far (guarded by the gateway's lock)."""

    by_directory: dict[str | None, Tally] = field(default_factory=dict)
    run: Tally = field(default_factory=Tally)
    capped: dict[str | None, str] = field(default_factory=dict)
    faults: dict[str | None, str] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    refused: int = 0


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
        caps: Caps | None = None,
        prices: Mapping[str, Price] | None = None,
        retry: RetrySettings | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routes = routes
        self.socket_path = socket_path
        self.caps = caps or Caps()
        self.prices = dict(prices or {})
        self.retry = retry or RetrySettings()
        self._client = httpx.Client(
            timeout=UPSTREAM_TIMEOUT, transport=transport, verify=shared_tls_context()
        )
        self._clock = clock
        self._server: _UnixHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._books = _Books()
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- lifecycle

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

    # ----------------------------------------------------------------- the books

    def tally(self, directory: str | None) -> Tally:
        """Tokens and cost of the requests attributed to `directory` (a task's worktree)."""
        with self._lock:
            return self._books.by_directory.get(directory, Tally())

    @property
    def run_tally(self) -> Tally:
        with self._lock:
            return self._books.run

    def cap_hit(self, directory: str | None) -> str | None:
        """The cap that stopped `directory`'s task (`tokens-per-task`, ...), or None."""
        with self._lock:
            return self._books.capped.get(directory)

    def fault(self, directory: str | None) -> str | None:
        """Why the provider failed `directory`'s last request for good, or None."""
        with self._lock:
            return self._books.faults.get(directory)

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._books.exchanges)

    @property
    def forwarded(self) -> int:
        with self._lock:
            return len(self._books.exchanges)

    @property
    def refused(self) -> int:
        with self._lock:
            return self._books.refused

    # ----------------------------------------------------------------- one request

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request: forward it to its route's upstream, or refuse it."""
        started = self._clock()
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        found = self.routes.match(handler.path)
        if found is None:
            self._refuse_route(handler)
            return
        name, route, target = found
        directory = directory_of(body)
        model = model_of(body, handler.path)
        cap = self._check_caps(directory)
        if cap is not None:
            _error(handler, cap_refusal(cap))
            return
        headers = {
            k: v
            for k, v in handler.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() not in KEY_HEADERS
        }
        headers.update(route.headers)
        try:
            response = self._send(handler.command, target, headers, body)
        except UpstreamFault as fault:
            log.warning("gateway: %s %s: %s", handler.command, target, fault)
            with self._lock:
                self._books.faults[directory] = str(fault)
            # Plain words: this text must match none of OpenCode's "try again" patterns.
            _error(handler, GAVE_UP)
            return
        meter = UsageMeter(route.family)

        def book(sent: int) -> None:
            usage = meter.result()
            price = self.prices.get(f"{name}/{model}") if model else None
            tally = Tally().add(usage, cost_of(usage, price))
            elapsed = self._clock() - started
            status = response.status_code
            self._book(Exchange(directory, name, model, status, tally, len(body), sent, elapsed))

        _relay(handler, response, meter, book)

    def _send(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> httpx.Response:
        """The upstream's answer, its passing faults retried; raises UpstreamFault (with
        the provider's message and how often it was tried) when retries run out."""

        def once() -> httpx.Response:
            request = self._client.build_request(method, target, headers=headers, content=body)
            try:
                response = self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise UpstreamFault(f"the model endpoint did not answer: {exc}") from exc
            if response.status_code not in TRANSIENT_STATUSES:
                return response
            try:
                said = provider_message(response.read())
            except httpx.HTTPError:
                said = ""
            finally:
                response.close()
            raise UpstreamFault(
                f"the model endpoint answered HTTP {response.status_code}{said}",
                status=response.status_code,
                wait=retry_after.asked_wait(response.headers, time.time()),
            )

        longest = self.retry.max_delay

        def worth_waiting(fault: BaseException) -> bool:
            return isinstance(fault, UpstreamFault) and (
                fault.wait is None or fault.wait <= longest
            )

        def asked(fault: BaseException) -> float | None:
            return fault.wait if isinstance(fault, UpstreamFault) else None

        faults: list[str] = []

        def counted() -> httpx.Response:
            try:
                return once()
            except UpstreamFault as fault:
                faults.append(str(fault))
                raise

        try:
            return call_with_retries(self.retry, counted, transient=worth_waiting, asked_wait=asked)
        except UpstreamFault as fault:
            if fault.wait is not None and fault.wait > longest:
                why = (
                    f"it asks to wait {fault.wait:.0f} s, more than retry.max_delay ({longest:g} s)"
                )
            else:
                tries = len(faults)
                why = f"gave up after {tries} attempt{'s' if tries != 1 else ''}"
            # A query could hold a key: it is left out.
            where = f"{method} {target.partition('?')[0]}"
            # The last fault is the message; an earlier one of another kind is named too, so
            # a reason never hides that a try went otherwise (it did not reach the provider).
            other = [said for said in dict.fromkeys(faults) if said != str(fault)]
            before = "; before that: " + "; ".join(other) if other else ""
            raise UpstreamFault(
                f"{fault}; {why} ({where}){before}", status=fault.status, wait=fault.wait
            ) from None

    def _refuse_route(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._books.refused += 1
        known = ", ".join(f"/{name}/" for name in self.routes.routes) or "none"
        _answer(
            handler,
            403,
            f"macoder gateway: {handler.path.split('?')[0]!r} is no configured model "
            f"endpoint (routes: {known}); nothing else is reachable from the sandbox\n",
        )

    def _check_caps(self, directory: str | None) -> str | None:
        with self._lock:
            books = self._books
            cap = cap_reached(self.caps, books.by_directory.get(directory, Tally()), books.run)
            if cap is not None:
                books.capped.setdefault(directory, cap)
            return cap

    def _book(self, exchange: Exchange) -> None:
        with self._lock:
            books = self._books
            before = books.by_directory.get(exchange.directory, Tally())
            books.by_directory[exchange.directory] = before.add(
                exchange.tally.usage, exchange.tally.cost
            )
            books.run = books.run.add(exchange.tally.usage, exchange.tally.cost)
            books.exchanges.append(exchange)


def _relay(
    handler: BaseHTTPRequestHandler,
    response: httpx.Response,
    meter: UsageMeter,
    book: Callable[[int], None],
) -> None:
    """Stream `response` back chunk by chunk, reading its usage on the way; `book(bytes)` is
    called once, before the answer's last byte goes out: the next request of the same task,
    which cannot start before OpenCode has the whole answer, sees this one's usage."""
    sent = 0
    booked = False
    try:
        handler.send_response(response.status_code)
        for key, value in response.headers.multi_items():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-encoding":
                handler.send_header(key, value)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for chunk in response.iter_bytes():  # decoded: content-encoding is not passed on
            if chunk:
                meter.feed(chunk)
                sent += len(chunk)
                handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                handler.wfile.flush()
        booked = True
        book(sent)
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass  # OpenCode went away (an aborted session): what was used still counts
    finally:
        response.close()
        if not booked:
            book(sent)


def _answer(handler: BaseHTTPRequestHandler, status: int, text: str) -> None:
    data = text.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _error(handler: BaseHTTPRequestHandler, message: str, status: int = 400) -> None:
    """An OpenAI-style error (which OpenCode reports as the session's error, and does not
    retry: a 400 is final to it)."""
    data = json.dumps({"error": {"message": message, "type": "macoder_gateway"}}).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
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
