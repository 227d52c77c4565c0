"""The certificate bundle is parsed once per process, however many HTTP clients a run makes."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Any

import pytest

from multi_agent_coder import tls
from multi_agent_coder.agents.opencode import sansio
from multi_agent_coder.agents.opencode.client import EventSubscription, OpenCodeClient
from multi_agent_coder.config import RetrySettings
from multi_agent_coder.forge.github_api import GitHubAPI
from multi_agent_coder.forge.github_sansio import Slug


@pytest.fixture
def bundle_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each time httpx builds a verifying TLS context, it loads the bundle through this call."""
    reads: list[str] = []
    create: Callable[..., ssl.SSLContext] = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        reads.append(threading.current_thread().name)
        return create(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    monkeypatch.setattr(tls, "_context", None)
    return reads


def test_a_runs_clients_share_one_context_built_once(bundle_reads: list[str]) -> None:
    clients = [
        OpenCodeClient("http://opencode", uds="/nonexistent/opencode.sock"),
        OpenCodeClient("http://127.0.0.1:4096"),
        EventSubscription("http://opencode", sansio.subscribe("/w"), uds="/nonexistent/o.sock"),
        GitHubAPI(Slug("o", "r"), "t", api_url="https://api.github.com", retry=RetrySettings()),
    ]
    for client in clients:
        client.close()
    assert len(bundle_reads) == 1


def test_task_threads_starting_at_once_still_build_it_once(bundle_reads: list[str]) -> None:
    start = threading.Barrier(4)
    made: list[object] = []

    def task() -> None:
        start.wait()
        made.append(tls.shared_tls_context())

    threads = [threading.Thread(target=task) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(bundle_reads) == 1
    assert all(context is made[0] for context in made)
