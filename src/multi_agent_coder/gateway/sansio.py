"""What the gateway reads in a model request and its answer, and what it adds to it. Pure.

- **whose request**: OpenCode names the session's directory in its system prompt
  (`Working directory: <path>`); each task has its own worktree, so the path attributes every
  request to exactly one task;
- **how many tokens**: from the provider's own `usage` fields, in the three shapes providers
  use — OpenAI-compatible (chat completions and the Responses API), Anthropic messages, Google
  `usageMetadata` — streamed (server-sent events, usage in the last events) or not;
- **which credential**: the real key, resolved outside the sandbox, in the header each
  provider family expects (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key`); whatever
  key the sandboxed side sent is dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

Family = Literal["openai", "anthropic", "google"]

#: The header each provider family takes its key in (and the prefix of the value).
AUTH_HEADERS: Final[Mapping[Family, tuple[str, str]]] = {
    "openai": ("Authorization", "Bearer "),
    "anthropic": ("x-api-key", ""),
    "google": ("x-goog-api-key", ""),
}
#: Every header that can carry a key: stripped from what the sandbox sends.
KEY_HEADERS: Final = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})
#: The key the sandboxed agent is given: a placeholder, useless anywhere else.
PLACEHOLDER_KEY: Final = "macoder-gateway-holds-the-key"

_WORKDIR: Final = re.compile(r"Working directory: ([^\n<]+)")


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one or more model calls, as the provider counted them."""

    input: int = 0
    output: int = 0
    cached: int = 0
    reasoning: int = 0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input + other.input,
            self.output + other.output,
            self.cached + other.cached,
            self.reasoning + other.reasoning,
            self.requests + other.requests,
        )

    @property
    def total(self) -> int:
        return self.input + self.output


def family_of(provider_id: str, entry: Mapping[str, Any] | None) -> Family:
    """The API shape a provider speaks: from its AI SDK package, else its built-in id."""
    package = str((entry or {}).get("npm") or "")
    if "anthropic" in package or provider_id == "anthropic":
        return "anthropic"
    if "google" in package or provider_id == "google":
        return "google"
    return "openai"


def credential_headers(family: Family, key: str | None) -> dict[str, str]:
    """The header that carries `key` for `family` (none without a key: a local model)."""
    if not key:
        return {}
    name, prefix = AUTH_HEADERS[family]
    return {name: prefix + key}


def directory_of(body: bytes) -> str | None:
    """The session directory a request's system prompt names, or None."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return None
    for text in _strings(data):
        found = _WORKDIR.search(text)
        if found:
            return found.group(1).strip()
    return None


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, Mapping):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


# --- usage --------------------------------------------------------------------------------


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def usage_of(family: Family, data: Any) -> Usage | None:
    """The usage one JSON object (an answer, or one streamed event) reports, or None."""
    if not isinstance(data, Mapping):
        return None
    if family == "anthropic":
        return _anthropic(data)
    if family == "google":
        meta = data.get("usageMetadata")
        if not isinstance(meta, Mapping):
            return None
        return Usage(
            input=_int(meta.get("promptTokenCount")),
            output=_int(meta.get("candidatesTokenCount")),
            cached=_int(meta.get("cachedContentTokenCount")),
            reasoning=_int(meta.get("thoughtsTokenCount")),
        )
    return _openai(data)


def _openai(data: Mapping[str, Any]) -> Usage | None:
    response = data.get("response")
    usage = data.get("usage")
    if not isinstance(usage, Mapping) and isinstance(response, Mapping):
        usage = response.get("usage")  # Responses API: `response.completed`
    if not isinstance(usage, Mapping):
        return None
    if "input_tokens" in usage:  # Responses API
        return _usage(usage, ("input_tokens", "output_tokens"))
    return _usage(usage, ("prompt_tokens", "completion_tokens"))


def _usage(usage: Mapping[str, Any], keys: tuple[str, str]) -> Usage:
    """OpenAI's two usage shapes: the same fields under chat's or the Responses API's names
    (`<x>_tokens` and `<x>_tokens_details.{cached,reasoning}_tokens`)."""
    inward = usage.get(keys[0] + "_details") or {}
    outward = usage.get(keys[1] + "_details") or {}
    return Usage(
        input=_int(usage.get(keys[0])),
        output=_int(usage.get(keys[1])),
        cached=_int(inward.get("cached_tokens") if isinstance(inward, Mapping) else 0),
        reasoning=_int(outward.get("reasoning_tokens") if isinstance(outward, Mapping) else 0),
    )


def _anthropic(data: Mapping[str, Any]) -> Usage | None:
    message = data.get("message")
    usage = data.get("usage")
    if not isinstance(usage, Mapping) and isinstance(message, Mapping):
        usage = message.get("usage")  # `message_start`
    if not isinstance(usage, Mapping):
        return None
    cached = _int(usage.get("cache_read_input_tokens"))
    return Usage(
        input=_int(usage.get("input_tokens"))
        + cached
        + _int(usage.get("cache_creation_input_tokens")),
        output=_int(usage.get("output_tokens")),
        cached=cached,
    )


class UsageMeter:
    """Reads an answer as it streams by and keeps the usage it reports.

    Streamed providers report usage in their last events, cumulatively (Anthropic's
    `message_start` carries the input, `message_delta` the output so far; Google repeats its
    totals); so each field keeps the largest value seen. A plain JSON answer is read whole.
    """

    def __init__(self, family: Family) -> None:
        self.family = family
        self._buffer = b""
        self._best = Usage()
        self._streamed = False

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            line = line.strip()
            if line.startswith(b"data:"):
                self._streamed = True
                self._take(line[5:].strip())

    def _take(self, payload: bytes) -> None:
        if not payload or payload == b"[DONE]":
            return
        try:
            found = usage_of(self.family, json.loads(payload))
        except ValueError:
            return
        if found is not None:
            self._best = Usage(
                max(self._best.input, found.input),
                max(self._best.output, found.output),
                max(self._best.cached, found.cached),
                max(self._best.reasoning, found.reasoning),
            )

    def result(self) -> Usage:
        """The usage of the whole answer (one request)."""
        if not self._streamed and self._buffer.strip():
            try:
                found = usage_of(self.family, json.loads(self._buffer))
            except ValueError:
                found = None
            if found is not None:
                self._best = found
        elif self._buffer.strip().startswith(b"data:"):
            self._take(self._buffer.strip()[5:].strip())
        best = self._best
        return Usage(best.input, best.output, best.cached, best.reasoning, requests=1)


# --- cost and caps ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Price:
    """What a model costs per million tokens (cached input at its own price)."""

    input: float
    output: float
    cached: float


def cost_of(usage: Usage, price: Price | None) -> float:
    """`usage` at `price` (0 when the model has no price: cost caps then need one)."""
    if price is None:
        return 0.0
    fresh = max(0, usage.input - usage.cached)
    return (fresh * price.input + usage.cached * price.cached + usage.output * price.output) / 1e6


@dataclass(frozen=True, slots=True)
class Tally:
    """Tokens and cost so far (of one task, or of the whole run)."""

    usage: Usage = Usage()
    cost: float = 0.0

    def add(self, usage: Usage, cost: float) -> Tally:
        return Tally(self.usage + usage, self.cost + cost)


@dataclass(frozen=True, slots=True)
class Caps:
    """Hard limits of a run (None: no limit). Costs in the prices' currency."""

    tokens_per_task: int | None = None
    tokens_per_run: int | None = None
    cost_per_task: float | None = None
    cost_per_run: float | None = None


def cap_reached(caps: Caps, task: Tally, run: Tally) -> str | None:
    """The first cap the totals have reached (`tokens-per-task`, ...), or None. Checked before
    a request is forwarded: the request that crosses a cap is answered, the next one is not,
    so a task stops within one request of its limit."""
    checks = (
        ("tokens-per-task", caps.tokens_per_task, task.usage.total),
        ("tokens-per-run", caps.tokens_per_run, run.usage.total),
        ("cost-per-task", caps.cost_per_task, task.cost),
        ("cost-per-run", caps.cost_per_run, run.cost),
    )
    for name, limit, spent in checks:
        if limit is not None and spent >= limit:
            return name
    return None


def model_of(body: bytes, path: str) -> str | None:
    """The model a request asks for: the body's `model` (OpenAI, Anthropic), else Google's
    `models/<id>:` in the path."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        data = None
    if isinstance(data, Mapping) and isinstance(data.get("model"), str):
        return str(data["model"])
    found = re.search(r"models/([^/:?]+)", path)
    return found.group(1) if found else None


def provider_message(body: bytes) -> str:
    """`: <message>` from a provider's error body (OpenAI, Anthropic and Google all put it in
    `error.message`), or its first 200 characters of text; empty when there is nothing."""
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()[:200]
        return f": {text}" if text else ""
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return f": {message}" if isinstance(message, str) and message else ""


#: What OpenCode is told when the provider failed for good; the task's reason has the details.
#: Like `cap_refusal`, worded to match none of OpenCode's "try again" patterns (which read an
#: error's text: "rate limit", "overloaded", a 5xx status, ...), so that it is final.
GAVE_UP: Final = "macoder gateway: the model provider failed this request and macoder gave up"


def cap_refusal(cap: str) -> str:
    """What OpenCode is told when a request would pass a cap (`tokens-per-task`, ...)."""
    return f"macoder gateway: cap:{cap} reached; the task is stopped there"


# ===================================================================== the preflight probe

#: Anthropic's API refuses a request without this header; the version its SDKs send.
ANTHROPIC_VERSION: Final = "2023-06-01"


def probe_request(family: Family, model_id: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The smallest request that proves a model answers: (path below the provider's base
    URL, JSON body, extra headers). One token out, one word in, in each family's own API."""
    ping = "Reply with one word."
    if family == "anthropic":
        body = {"model": model_id, "max_tokens": 1, "messages": [{"role": "user", "content": ping}]}
        return "messages", body, {"anthropic-version": ANTHROPIC_VERSION}
    if family == "google":
        body = {
            "contents": [{"role": "user", "parts": [{"text": ping}]}],
            "generationConfig": {"maxOutputTokens": 1},
        }
        return f"models/{model_id}:generateContent", body, {}
    body = {"model": model_id, "max_tokens": 1, "messages": [{"role": "user", "content": ping}]}
    return "chat/completions", body, {}
