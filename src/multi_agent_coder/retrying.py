"""Retries of transient faults, one policy for all of them: the `retry` settings, via tenacity.

What counts as transient is the caller's call (GitHub's 5xx and rate limits, a git remote
that did not answer); how often and how long to wait is the user's (`retry.max_retries`,
`.delay`, `.backoff`, `.max_delay`). A failed *task* is never retried here: that is an attempt,
counted in the ledger. Nor is a lost compare-and-swap of the ledger ref: that is not a fault
but another writer that came first, and it is retried at once with a short jitter until the
write lands (`git/ledger.py`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import tenacity

from multi_agent_coder.config import RetrySettings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Extra wait an exception asks for (GitHub's `retry-after`), or None for the policy's own.
AskedWait = Callable[[BaseException], float | None]


def backoff_delay(policy: RetrySettings, retry_number: int, jitter: float) -> float:
    """The pause before retry `retry_number` (1 = the first retry): `delay * backoff**(n-1)`,
    at most `max_delay`, scaled by `jitter` in [0.5, 1] so that many waiting clients spread
    out instead of all coming back at the same moment."""
    ceiling = min(policy.max_delay, policy.delay * policy.backoff ** (retry_number - 1))
    return ceiling * (0.5 + 0.5 * jitter)


def call_with_retries(
    policy: RetrySettings,
    call: Callable[[], T],
    *,
    transient: Callable[[BaseException], bool],
    asked_wait: AskedWait | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> T:
    """`call()`, retried up to `policy.max_retries` times while it raises a transient fault.

    The last fault is raised as it is when retries run out; anything not transient is raised
    at once. When `asked_wait` names a wait for the fault (a server said how long), that wait
    is used instead of the backoff.
    """

    def wait(state: tenacity.RetryCallState) -> float:
        fault = state.outcome.exception() if state.outcome is not None else None
        asked = asked_wait(fault) if asked_wait is not None and fault is not None else None
        if asked is not None:
            return asked
        return backoff_delay(policy, state.attempt_number, rng())

    def note(state: tenacity.RetryCallState) -> None:
        fault = state.outcome.exception() if state.outcome is not None else None
        pause = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("%s; retrying in %.1f s (attempt %d)", fault, pause, state.attempt_number + 1)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(transient),
        stop=tenacity.stop_after_attempt(policy.max_retries + 1),
        wait=wait,
        sleep=sleep,
        before_sleep=note,
        reraise=True,
    )
    return retrying(call)
