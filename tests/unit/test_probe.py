"""The preflight probe's decisions, at the HTTP boundary (httpx's MockTransport stands for the
provider; tests/integration/test_preflight.py runs it against real sockets)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from multi_agent_coder.gateway.probe import PAUSE_S, probe
from multi_agent_coder.gateway.routes import Route, Routes
from multi_agent_coder.gateway.sansio import ANTHROPIC_VERSION, probe_request

ROUTES = Routes({"up": Route("https://llm.example/v1", "openai", {"Authorization": "Bearer k"})})


def provider(*answers: int | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, json={"error": {"message": f"said {answer}"}})

    return httpx.MockTransport(handle), seen


def run(transport: httpx.MockTransport) -> tuple[list[str], list[float]]:
    waits: list[float] = []
    sleep: Callable[[float], None] = waits.append
    return probe(ROUTES, ["up/m1"], transport=transport, sleep=sleep), waits


def test_an_answer_is_a_pass_with_one_tiny_request() -> None:
    transport, seen = provider(200)
    assert run(transport) == ([], [])
    (request,) = seen
    assert request.url == "https://llm.example/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer k"
    assert json.loads(request.content)["max_tokens"] == 1


def test_a_broken_connection_gets_one_more_try_a_second_later() -> None:
    transport, seen = provider(httpx.ConnectError("reset"), 200)
    assert run(transport) == ([], [PAUSE_S])
    assert len(seen) == 2


@pytest.mark.parametrize("status", [429, 503])
def test_a_passing_fault_that_stays_is_reported_after_two_tries(status: int) -> None:
    transport, seen = provider(status)
    problems, waits = run(transport)
    assert problems == [
        f"up/m1 at https://llm.example/v1/chat/completions: the provider answered HTTP "
        f"{status}: said {status}"
    ]
    assert (len(seen), waits) == (2, [PAUSE_S])


@pytest.mark.parametrize("status", [401, 404])
def test_a_refusal_is_final_at_once(status: int) -> None:
    transport, seen = provider(status)
    problems, waits = run(transport)
    assert f"HTTP {status}: said {status}" in problems[0]
    assert (len(seen), waits) == (1, [])


def test_no_answer_in_time_is_not_tried_again() -> None:
    transport, seen = provider(httpx.ReadTimeout("slow"))
    problems, waits = run(transport)
    assert problems[0].endswith("no answer within 8 s")
    assert (len(seen), waits) == (1, [])


def test_each_family_is_asked_in_its_own_api() -> None:
    assert probe_request("openai", "m")[0] == "chat/completions"
    path, body, headers = probe_request("anthropic", "claude")
    assert (path, body["max_tokens"], headers) == (
        "messages",
        1,
        {"anthropic-version": ANTHROPIC_VERSION},
    )
    path, body, _ = probe_request("google", "gemini")
    assert path == "models/gemini:generateContent"
    assert body["generationConfig"] == {"maxOutputTokens": 1}
