"""The httpx adapter of the GitHub forge: send a `github_sansio` request, hand the answer back.

As thin as gidgethub's: it owns the HTTP client and the waiting, nothing else. What a request
looks like and what an answer means (success, a final error, a fault worth retrying and how
long GitHub asked to wait) is `github_sansio`'s; how often and how long to retry is the
`retry` settings' (`retrying.py`) — except that a wait GitHub asks for (`retry-after`,
`x-ratelimit-reset`) is honoured as asked when within `max_wait_s`, and given up on at once
when longer. `sleep`, `clock`, `rng` and the transport are injectable: tests never wait.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import httpx

from multi_agent_coder.config import RetrySettings
from multi_agent_coder.errors import ForgeError, GitHubUnavailableError
from multi_agent_coder.forge import github_sansio as sansio
from multi_agent_coder.forge.github_graphql import graphql_url
from multi_agent_coder.retrying import call_with_retries
from multi_agent_coder.tls import shared_tls_context

log = logging.getLogger(__name__)

#: Pagination stops here even if GitHub keeps linking a next page.
MAX_PAGES: Final = 100


class GitHubAPI:
    """REST calls on one repository's API root, retried as `github_sansio` and `retry` say."""

    def __init__(
        self,
        slug: sansio.Slug,
        token: str,
        *,
        api_url: str,
        retry: RetrySettings,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        max_wait_s: float = 120.0,
        timeout_s: float = 30.0,
        scrub: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.slug = slug
        self.api_url = api_url.rstrip("/")
        #: Where `Request.graphql` requests go (beside the REST root, not under it, on GHES).
        self.graphql_url = graphql_url(self.api_url)
        self.retry = retry
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._scrub = scrub
        self._client = httpx.Client(
            base_url=self.api_url,
            headers=sansio.request_headers(token),
            transport=transport,
            timeout=timeout_s,
            follow_redirects=False,
            verify=shared_tls_context(),
        )

    def close(self) -> None:
        self._client.close()

    def send(self, request: sansio.Request, url: str | None = None) -> tuple[Any, httpx.Headers]:
        """The decoded answer to `request` (or to `url`, a pagination link) and its headers."""

        def worth_retrying(fault: BaseException) -> bool:
            return isinstance(fault, GitHubUnavailableError) and (
                fault.retry_after is None or fault.retry_after <= self.max_wait_s
            )

        def asked(fault: BaseException) -> float | None:
            return fault.retry_after if isinstance(fault, GitHubUnavailableError) else None

        try:
            return call_with_retries(
                self.retry,
                lambda: self._send_once(request, url),
                transient=worth_retrying,
                asked_wait=asked,
                sleep=self._sleep,
                rng=self._rng,
            )
        except GitHubUnavailableError as exc:
            if exc.retry_after is not None and exc.retry_after > self.max_wait_s:
                why = f"more than the {self.max_wait_s:.0f} s macoder waits; try again later"
            else:
                tries = self.retry.max_retries + 1
                why = f"gave up after {tries} attempt{'s' if tries != 1 else ''}"
            raise type(exc)(
                f"{exc}; {why}", status=exc.status, retry_after=exc.retry_after
            ) from None

    def pages(self, request: sansio.Request) -> Iterator[Any]:
        """Each page's decoded body of a paginated list, following `Link: rel="next"` on this
        API's own host only (the token would go wherever the link points)."""
        url: str | None = None
        for _ in range(MAX_PAGES):
            data, headers = self.send(request, url)
            yield data
            url = sansio.next_link(headers.get("link"))
            if url is None:
                return
            if not url.startswith(self.api_url + "/"):
                raise ForgeError(
                    f"{self.slug}: GitHub linked the next page to {url}, outside {self.api_url}; "
                    "not following it (the token would go with it)"
                )

    def _send_once(self, request: sansio.Request, url: str | None) -> tuple[Any, httpx.Headers]:
        try:
            if url is None:
                response = self._client.request(
                    request.method,
                    self.graphql_url if request.graphql else request.path,
                    params=request.params,
                    json=request.json,
                )
            else:
                response = self._client.request(request.method, url)
        except httpx.TransportError as exc:
            raise GitHubUnavailableError(
                f"{self.slug}: cannot reach {self.api_url} while "
                f"{request.action or request.path}: {type(exc).__name__}: "
                f"{self._scrub(str(exc))}"
            ) from None
        log.debug("GitHub %s %s -> %d", request.method, response.url.path, response.status_code)
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        decoded = sansio.decipher(
            request, response.status_code, response.headers, data, slug=self.slug, now=self._clock()
        )
        return decoded, response.headers
