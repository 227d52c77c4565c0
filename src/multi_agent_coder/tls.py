"""One TLS context for the whole process.

httpx builds a new `SSLContext` for every client and transport it makes, and each one parses
the whole certifi bundle (measured here: about 75 ms of CPU on a loaded 2-core machine). A run
makes several — the OpenCode client, an event stream per task, the gateway, each task
thread's forge client — most of them for plain HTTP on a Unix socket or 127.0.0.1 that never
uses TLS. One context, built on first use and shared (an `SSLContext` may serve any number of
connections on any thread, as long as nobody changes it afterwards), costs that once and
trusts exactly what httpx's default would: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else
certifi.
"""

from __future__ import annotations

import ssl
import threading

import httpx

_lock = threading.Lock()
_context: ssl.SSLContext | None = None


def shared_tls_context() -> ssl.SSLContext:
    """The process's TLS context, made once (callers must not modify it)."""
    global _context  # noqa: PLW0603 - one per process is the point
    with _lock:
        if _context is None:
            _context = httpx.create_ssl_context()
        return _context
