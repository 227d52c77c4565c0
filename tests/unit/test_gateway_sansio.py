"""What the gateway reads in requests and answers: whose, which model, how many tokens, and
when a cap stops a task. Pure; the answer shapes are the providers' documented ones."""

from __future__ import annotations

import json
import re

import pytest

from multi_agent_coder import retry_after
from multi_agent_coder.gateway.sansio import (
    GAVE_UP,
    Caps,
    Price,
    Tally,
    Usage,
    UsageMeter,
    cap_reached,
    cap_refusal,
    cost_of,
    directory_of,
    family_of,
    model_of,
    provider_message,
    usage_of,
)

SYSTEM = "You are opencode.\n<env>\n  Working directory: /repo/.macoder/worktrees/T001\n</env>"


def sse(*events: dict[str, object]) -> bytes:
    return (
        b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    )


def test_a_request_names_its_task_by_the_working_directory_in_any_api_shape() -> None:
    chat = {"model": "m", "messages": [{"role": "system", "content": SYSTEM}]}
    anthropic = {"model": "claude", "system": [{"type": "text", "text": SYSTEM}], "messages": []}
    google = {"systemInstruction": {"parts": [{"text": SYSTEM}]}, "contents": []}
    for body in (chat, anthropic, google):
        assert directory_of(json.dumps(body).encode()) == "/repo/.macoder/worktrees/T001"
    assert directory_of(b'{"messages": []}') is None
    assert directory_of(b"not json") is None


def test_the_model_comes_from_the_body_or_googles_path() -> None:
    assert model_of(b'{"model": "gpt-4.1"}', "/openai/chat/completions") == "gpt-4.1"
    assert (
        model_of(b"{}", "/google/models/gemini-2.5-pro:streamGenerateContent") == "gemini-2.5-pro"
    )
    assert model_of(b"x", "/local/chat") is None


def test_openai_chat_usage_streamed_and_not() -> None:
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "prompt_tokens_details": {"cached_tokens": 1000},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    expected = Usage(1200, 80, 1000, 30, requests=1)
    meter = UsageMeter("openai")
    stream = sse({"choices": [{"delta": {"content": "hi"}}]}, {"choices": [], "usage": usage})
    for i in range(0, len(stream), 7):  # chunk boundaries anywhere, as the network cuts them
        meter.feed(stream[i : i + 7])
    assert meter.result() == expected
    whole = UsageMeter("openai")
    whole.feed(json.dumps({"choices": [], "usage": usage}).encode())
    assert whole.result() == expected


def test_openai_responses_api_usage() -> None:
    event = {
        "type": "response.completed",
        "response": {
            "usage": {
                "input_tokens": 500,
                "output_tokens": 40,
                "input_tokens_details": {"cached_tokens": 100},
                "output_tokens_details": {"reasoning_tokens": 12},
            }
        },
    }
    assert usage_of("openai", event) == Usage(500, 40, 100, 12)


def test_anthropic_usage_adds_cache_reads_and_takes_the_last_output_count() -> None:
    meter = UsageMeter("anthropic")
    meter.feed(
        sse(
            {
                "type": "message_start",
                "message": {
                    "usage": {
                        "input_tokens": 20,
                        "cache_read_input_tokens": 900,
                        "cache_creation_input_tokens": 80,
                        "output_tokens": 1,
                    }
                },
            },
            {"type": "content_block_delta", "delta": {"text": "hi"}},
            {"type": "message_delta", "usage": {"output_tokens": 57}},
        )
    )
    assert meter.result() == Usage(input=1000, output=57, cached=900, requests=1)


def test_google_usage_metadata_is_cumulative() -> None:
    meter = UsageMeter("google")
    meter.feed(
        sse(
            {"usageMetadata": {"promptTokenCount": 300, "candidatesTokenCount": 5}},
            {
                "usageMetadata": {
                    "promptTokenCount": 300,
                    "candidatesTokenCount": 42,
                    "cachedContentTokenCount": 100,
                    "thoughtsTokenCount": 9,
                }
            },
        )
    )
    assert meter.result() == Usage(300, 42, 100, 9, requests=1)


def test_an_answer_without_usage_counts_the_request_only() -> None:
    meter = UsageMeter("openai")
    meter.feed(b'{"error": {"message": "bad"}}')
    assert meter.result() == Usage(requests=1)


@pytest.mark.parametrize(
    ("npm", "provider_id", "family"),
    [
        ("@ai-sdk/anthropic", "x", "anthropic"),
        ("@ai-sdk/google", "x", "google"),
        ("@ai-sdk/openai-compatible", "x", "openai"),
        ("", "anthropic", "anthropic"),
        ("", "openrouter", "openai"),
    ],
)
def test_the_family_follows_the_sdk_package(npm: str, provider_id: str, family: str) -> None:
    assert family_of(provider_id, {"npm": npm} if npm else None) == family


def test_cost_prices_cached_input_apart() -> None:
    price = Price(input=3.0, output=15.0, cached=0.3)
    usage = Usage(input=1_000_000, output=100_000, cached=500_000)
    assert cost_of(usage, price) == pytest.approx(1.5 + 0.15 + 1.5)
    assert cost_of(usage, None) == 0.0


def test_a_cap_is_reached_at_its_limit_and_named() -> None:
    caps = Caps(tokens_per_task=1000, tokens_per_run=5000, cost_per_task=1.0)
    under = Tally(Usage(900, 99), 0.5)
    assert cap_reached(caps, under, under) is None
    at = Tally(Usage(900, 100), 0.5)
    assert cap_reached(caps, at, at) == "tokens-per-task"
    assert cap_reached(caps, under, Tally(Usage(5000, 0))) == "tokens-per-run"
    assert cap_reached(caps, Tally(Usage(1, 1), 1.0), under) == "cost-per-task"
    assert cap_reached(Caps(), Tally(Usage(10**9, 10**9), 10**6), under) is None


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"error": {"message": "Rate limit reached"}}', ": Rate limit reached"),
        (
            b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
            ": Overloaded",
        ),
        (b"upstream connect error", ": upstream connect error"),
        (b'{"error": "bare"}', ""),
        (b"", ""),
    ],
)
def test_a_providers_error_message_is_read_from_its_body(body: bytes, said: str) -> None:
    assert provider_message(body) == said


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After-Ms": "1500", "Retry-After": "2"}, 1.5),  # the finer one wins
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, 60.0),  # a date: until then
        ({"Retry-After": "later"}, None),
        ({}, None),
    ],
)
def test_the_wait_a_provider_asks_for(headers: dict[str, str], wait: float | None) -> None:
    assert retry_after.asked_wait(headers, now=40.0) == wait


#: OpenCode 1.18's own "try again" test of an error's text (`session/retry`): an error whose
#: message matches one of these is retried up to five more times, whatever its status.
OPENCODE_RETRIES_WHEN = [
    r"429|500|502|503|504|524",
    r"rate increased too quickly|rate limit|rate-limit|rate_limit|too many requests",
    r"overloaded|service unavailable|internal error|server error|provider returned error",
    r"terminated|fetch failed|failed to fetch|network[-_\s]error|upstream connect|connection",
    r"try your request again|retry your request|resource exhausted|try again|at capacity",
    r"exhausted|unavailable|too_many_requests",
]


@pytest.mark.parametrize(
    "message", [GAVE_UP, cap_refusal("tokens-per-task"), cap_refusal("cost-per-run")]
)
def test_the_gateways_final_refusals_are_final_to_opencode(message: str) -> None:
    assert [p for p in OPENCODE_RETRIES_WHEN if re.search(p, message, re.IGNORECASE)] == []
