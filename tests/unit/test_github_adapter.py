"""The httpx adapter of the GitHub forge on `httpx.MockTransport`: what it sends, how it retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from multi_agent_coder.config import RetrySettings
from multi_agent_coder.errors import (
    ForgeError,
    GitHubAuthError,
    GitHubRateLimitError,
    GitHubUnavailableError,
    UsageError,
)
from multi_agent_coder.forge.base import WantedPr
from multi_agent_coder.forge.github import GitHubForge, default_git_remote
from multi_agent_coder.forge.github_sansio import Slug
from multi_agent_coder.git.repo import Repo

TOKEN = "ghp_unit0123456789"  # noqa: S105 - made up
Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


#: Stands in for the repository: these tests never reach git (only `root` is read).
NO_REPO = cast(Repo, SimpleNamespace(root=Path.cwd()))


def forge(handler: Handler, sleeps: Sleeps, **options: Any) -> GitHubForge:
    """A forge whose HTTP goes to `handler`; no git is involved in these tests."""
    return GitHubForge(
        "octo/widgets",
        TOKEN,
        repo=NO_REPO,
        git_remote_url="https://github.com/octo/widgets.git",
        transport=httpx.MockTransport(handler),
        sleep=sleeps,
        **{"clock": lambda: 1_800_000_000.0, "rng": lambda: 0.5, **options},
    )


def answers(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler, seen


def test_requests_carry_githubs_headers_and_no_token_in_the_url() -> None:
    handler, seen = answers(httpx.Response(200, json=[]))
    assert forge(handler, Sleeps()).find_open_pr("T001") is None
    [request] = seen
    assert request.url.host == "api.github.com"
    assert request.url.path == "/repos/octo/widgets/pulls"
    assert dict(request.url.params) == {
        "head": "octo:macoder/T001",
        "state": "open",
        "per_page": "100",
    }
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)


def test_5xx_backs_off_exponentially_then_succeeds() -> None:
    handler, seen = answers(httpx.Response(502), httpx.Response(503), httpx.Response(200, json=[]))
    sleeps = Sleeps()
    assert forge(handler, sleeps).list_prs() == []
    assert len(seen) == 3
    assert sleeps == [0.75, 1.5]


def test_no_answer_is_retried_then_reported_clearly() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sleeps = Sleeps()
    with pytest.raises(
        GitHubUnavailableError, match=r"cannot reach https://api\.github\.com"
    ) as caught:
        forge(handler, sleeps, retry=RetrySettings(max_retries=2)).list_prs()
    assert "gave up after 3 attempts" in str(caught.value)
    assert len(sleeps) == 2


def test_a_wait_beyond_the_cap_is_not_waited() -> None:
    handler, seen = answers(
        httpx.Response(429, headers={"Retry-After": "600"}, json={"message": "slow down"})
    )
    sleeps = Sleeps()
    with pytest.raises(GitHubRateLimitError, match="more than the 60 s macoder waits"):
        forge(handler, sleeps, max_wait_s=60).list_prs()
    assert len(seen) == 1
    assert sleeps == []


def test_other_4xx_are_never_retried() -> None:
    handler, seen = answers(httpx.Response(401, json={"message": "Bad credentials"}))
    with pytest.raises(GitHubAuthError):
        forge(handler, Sleeps()).list_prs()
    assert len(seen) == 1


def test_pagination_never_follows_a_link_to_another_host() -> None:
    link = '<https://evil.example/repos/octo/widgets/pulls?page=2>; rel="next"'
    handler, seen = answers(httpx.Response(200, json=[], headers={"Link": link}))
    with pytest.raises(ForgeError, match="not following it"):
        forge(handler, Sleeps()).list_prs()
    assert len(seen) == 1


def test_a_non_json_success_body_is_a_clear_error() -> None:
    handler, _ = answers(httpx.Response(200, text="<html>"))
    with pytest.raises(ForgeError, match="not a list"):
        forge(handler, Sleeps()).list_prs()


def test_the_token_is_required_and_kept_out_of_repr() -> None:
    handler, _ = answers(httpx.Response(200, json=[]))
    with pytest.raises(UsageError, match="no GitHub token"):
        GitHubForge("octo/widgets", " ", repo=NO_REPO)
    assert TOKEN not in repr(forge(handler, Sleeps()))


def test_the_git_remote_follows_the_api_url() -> None:
    slug = Slug("octo", "widgets")
    assert (
        default_git_remote("https://api.github.com", slug) == "https://github.com/octo/widgets.git"
    )
    assert (
        default_git_remote("https://ghe.example/api/v3", slug)
        == "https://ghe.example/octo/widgets.git"
    )
    with pytest.raises(UsageError, match="pass git_remote_url"):
        default_git_remote("http://127.0.0.1:8080", slug)


def test_create_posts_once_and_labels_after() -> None:
    calls: list[tuple[str, str, Any]] = []
    pr = {
        "number": 3,
        "html_url": "https://github.com/octo/widgets/pull/3",
        "head": {"ref": "macoder/T001", "sha": "a" * 40, "repo": {"full_name": "octo/widgets"}},
        "base": {"ref": "main"},
        "state": "open",
        "labels": [],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        calls.append((request.method, request.url.path, body))
        if request.method == "GET" and "/labels/" in request.url.path:
            return httpx.Response(404, json={"message": "Not Found"})  # a new repository
        if request.method == "GET":
            return httpx.Response(200, json=[])
        if request.url.path.endswith("/pulls"):
            return httpx.Response(201, json=pr)
        if request.url.path.endswith("/labels") and "/issues/" not in request.url.path:
            return httpx.Response(201, json={"name": body["name"]})
        return httpx.Response(200, json=[{"name": "macoder"}])

    result = forge(handler, Sleeps()).create_or_update_pr(
        WantedPr(
            task_id="T001",
            branch="macoder/T001",
            base="main",
            head_sha="a" * 40,
            title="t",
            body="b",
            draft=False,
            labels=("macoder",),
        )
    )
    assert (result.number, result.operation, result.labels) == (3, "created", ("macoder",))
    assert [(m, p) for m, p, _ in calls] == [
        ("GET", "/repos/octo/widgets/pulls"),
        ("POST", "/repos/octo/widgets/pulls"),
        ("GET", "/repos/octo/widgets/labels/macoder"),  # read before it is created
        ("POST", "/repos/octo/widgets/labels"),
        ("POST", "/repos/octo/widgets/issues/3/labels"),
    ]


def test_the_retry_settings_decide_how_often_and_how_long_to_wait() -> None:
    """`retry.*` drive the forge's retries: count, first delay, growth and ceiling."""
    handler, seen = answers(httpx.Response(502))
    sleeps = Sleeps()
    policy = RetrySettings(max_retries=4, delay=0.2, backoff=3.0, max_delay=1.0)
    with pytest.raises(GitHubUnavailableError, match="gave up after 5 attempts"):
        forge(handler, sleeps, retry=policy, rng=lambda: 1.0).list_prs()
    assert len(seen) == 5
    assert sleeps == pytest.approx([0.2, 0.6, 1.0, 1.0])


def test_no_retries_means_one_try() -> None:
    handler, seen = answers(httpx.Response(503))
    with pytest.raises(GitHubUnavailableError, match=r"gave up after 1 attempt$"):
        forge(handler, Sleeps(), retry=RetrySettings(max_retries=0)).list_prs()
    assert len(seen) == 1
