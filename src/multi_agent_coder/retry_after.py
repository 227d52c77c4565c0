"""How long a server asks us to wait (`Retry-After`), read the same way for GitHub and for
model providers: the wait a server names beats our own backoff, so both must agree on it.

Pure: headers in, seconds out.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping


def seconds(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds: delta-seconds (GitHub sends integers, providers sometimes
    fractions) or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def asked_wait(headers: Mapping[str, str], now: float) -> float | None:
    """The wait `headers` ask for: OpenAI's and Anthropic's `retry-after-ms` when readable
    (finer than `retry-after`), else `retry-after`. `headers` are matched case-blind."""
    head = {key.lower(): value for key, value in headers.items()}
    try:
        return max(0.0, float(head["retry-after-ms"])) / 1000.0
    except (KeyError, ValueError):
        return seconds(head.get("retry-after"), now)
