"""The preflight: every model a run will use answers one minimal request before anything is
leased, counted or branched.

A wrong port, a wrong key, a model the provider does not have: without this, each shows up
only inside a task — after its lease, its worktree and its agent's start — and costs that
task an attempt. Here it costs one tiny request per model and a few seconds, and the run
stops with the provider, the URL, the model and the provider's own words.

The request goes to the same upstream with the same credential headers the gateway would use
for the agent (`gateway/routes.py`), from outside the sandbox, with a short timeout (a
provider that does not answer a one-token request within it would not serve a task either).
A connection that breaks, or a 429 / 5xx, gets one more try a second later — a passing
hiccup must not stop a run — an answer that does not come does not (the timeout is the budget).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import httpx

from multi_agent_coder.gateway.routes import Routes
from multi_agent_coder.gateway.sansio import probe_request, provider_message
from multi_agent_coder.tls import shared_tls_context

#: The whole probe of one model: connect, send, first byte, answer.
PROBE_TIMEOUT_S: Final = 8.0
#: Tries of a probe that failed the way a passing fault does, and the pause between them.
TRIES: Final = 2
PAUSE_S: Final = 1.0
#: Statuses worth one more try (rate limit, overload, a server error).
TRANSIENT: Final = frozenset({408, 429, 500, 502, 503, 504, 529})


def probe(
    routes: Routes,
    models: Iterable[str],
    *,
    timeout_s: float = PROBE_TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """One line per model that did not answer (empty: every model is ready)."""
    problems: list[str] = []
    with httpx.Client(
        timeout=httpx.Timeout(timeout_s), transport=transport, verify=shared_tls_context()
    ) as client:
        for ref in sorted(set(models)):
            provider_id, _, model_id = ref.partition("/")
            route = routes.routes.get(provider_id)
            if route is None:  # routes_for refuses unknown providers first; a backstop
                problems.append(f"{ref}: no route to provider {provider_id!r}")
                continue
            path, body, extra = probe_request(route.family, model_id)
            url = f"{route.upstream}/{path}"
            headers = {**route.headers, **extra}
            problem = None
            for attempt in range(TRIES):
                if attempt:
                    sleep(PAUSE_S)
                problem, transient = _try(client, url, body, headers, timeout_s)
                if problem is None or not transient:
                    break
            if problem is not None:
                if route.unset:
                    problem += f" ({' and '.join(route.unset)}: not set in this environment)"
                problems.append(f"{ref} at {url}: {problem}")
    return problems


def _try(
    client: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str], timeout_s: float
) -> tuple[str | None, bool]:
    """What went wrong with one request (None: it answered), and whether to try again."""
    try:
        answer = client.post(url, json=body, headers=headers)
    except httpx.TimeoutException:
        return f"no answer within {timeout_s:g} s", False
    except httpx.HTTPError as exc:
        return f"cannot connect ({type(exc).__name__}: {exc})", True
    if answer.status_code >= 400:
        said = provider_message(answer.content)
        return (
            f"the provider answered HTTP {answer.status_code}{said}",
            answer.status_code in TRANSIENT,
        )
    return None, False
