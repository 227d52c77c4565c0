"""The preflight: every model a run will use answers one minimal request before anything is
leased, counted or branched.

A wrong port, a wrong key, a model the provider does not have: without this, each shows up
only inside a task — after its lease, its worktree and its agent's start — and costs that
task an attempt. Here it costs one tiny request per model and a few seconds, and the run
stops with the provider, the URL, the model and the provider's own words.

The request goes to the same upstream with the same credential headers the gateway would use
for the agent (`gateway/routes.py`), from outside the sandbox; one attempt, a short timeout
(a provider that does not answer a one-token request within it would not serve a task either).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import httpx

from multi_agent_coder.gateway.routes import Routes
from multi_agent_coder.gateway.sansio import probe_request, provider_message

#: The whole probe of one model: connect, send, first byte, answer.
PROBE_TIMEOUT_S: Final = 8.0


def probe(
    routes: Routes,
    models: Iterable[str],
    *,
    timeout_s: float = PROBE_TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
) -> list[str]:
    """One line per model that did not answer (empty: every model is ready)."""
    problems: list[str] = []
    with httpx.Client(timeout=httpx.Timeout(timeout_s), transport=transport) as client:
        for ref in sorted(set(models)):
            provider_id, _, model_id = ref.partition("/")
            route = routes.routes.get(provider_id)
            if route is None:  # routes_for refuses unknown providers first; a backstop
                problems.append(f"{ref}: no route to provider {provider_id!r}")
                continue
            path, body, extra = probe_request(route.family, model_id)
            url = f"{route.upstream}/{path}"
            where = f"{ref} at {url}"
            try:
                answer = client.post(url, json=body, headers={**route.headers, **extra})
            except httpx.TimeoutException:
                problems.append(f"{where}: no answer within {timeout_s:g} s")
                continue
            except httpx.HTTPError as exc:
                problems.append(f"{where}: cannot connect ({type(exc).__name__}: {exc})")
                continue
            if answer.status_code >= 400:
                said = provider_message(answer.content)
                problems.append(f"{where}: the provider answered HTTP {answer.status_code}{said}")
    return problems
