"""GitHub's GraphQL without I/O: where it lives, the draft-state requests, what answers mean.

GraphQL fails over HTTP like REST does, and also with HTTP 200 and an `errors` list; both go
through `github_sansio.decipher`, so the forge sees one error tree whichever API answered.
"""

from __future__ import annotations

from typing import Any

import pytest

from multi_agent_coder.errors import (
    GitHubError,
    GitHubForbiddenError,
    GitHubNotFoundError,
    GitHubRateLimitError,
    GitHubValidationError,
)
from multi_agent_coder.forge import github_graphql as graphql
from multi_agent_coder.forge import github_sansio as sansio
from multi_agent_coder.forge.github_sansio import Slug

SLUG = Slug("octo", "widgets")
NOW = 1_800_000_000.0
TO_DRAFT = graphql.set_draft(SLUG, "PR_kwDOAB", 7, draft=True)


@pytest.mark.parametrize(
    ("api_url", "endpoint"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://api.github.com/", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/graphql"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123/graphql"),
    ],
)
def test_graphql_lives_beside_the_rest_root(api_url: str, endpoint: str) -> None:
    assert graphql.graphql_url(api_url) == endpoint


@pytest.mark.parametrize(
    ("draft", "document", "says"),
    [
        (True, graphql.CONVERT_TO_DRAFT, "making pull request #7 a draft"),
        (False, graphql.MARK_READY, "making pull request #7 ready for review"),
    ],
)
def test_the_draft_state_changes_by_the_prs_node_id(draft: bool, document: str, says: str) -> None:
    request = graphql.set_draft(SLUG, "PR_kwDOAB", 7, draft=draft)

    assert (request.method, request.graphql, request.action) == ("POST", True, says)
    assert request.json == {"query": document, "variables": {"id": "PR_kwDOAB"}}
    assert document in graphql.DOCUMENTS


def answer(is_draft: Any, field: str = "convertPullRequestToDraft") -> dict[str, Any]:
    return {"data": {field: {"pullRequest": {"number": 7, "isDraft": is_draft}}}}


def test_the_answer_says_the_new_draft_state() -> None:
    assert graphql.draft_after(answer(True), draft=True, slug=SLUG, number=7) is True
    ready = answer(False, "markPullRequestReadyForReview")
    assert graphql.draft_after(ready, draft=False, slug=SLUG, number=7) is False
    with pytest.raises(GitHubError, match="#7 has no isDraft"):
        graphql.draft_after(answer("yes"), draft=True, slug=SLUG, number=7)


def decipher(data: Any, headers: dict[str, str] | None = None, request: Any = TO_DRAFT) -> Any:
    return sansio.decipher(request, 200, headers or {}, data, slug=SLUG, now=NOW)


def errors(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"convertPullRequestToDraft": None}, "errors": list(entries)}


def test_a_graphql_answer_without_errors_is_its_body() -> None:
    assert decipher(answer(True)) == answer(True)


@pytest.mark.parametrize(
    ("entry", "kind", "words"),
    [
        (
            {"type": "FORBIDDEN", "message": "Resource not accessible by integration"},
            GitHubForbiddenError,
            "Resource not accessible by integration): the token lacks a permission",
        ),
        (
            {"type": "NOT_FOUND", "message": "Could not resolve to a node with the global id"},
            GitHubNotFoundError,
            "not found while octo/widgets: making pull request #7 a draft",
        ),
        (
            {"message": "Field 'nope' doesn't exist on type 'PullRequest'"},
            GitHubValidationError,
            "GitHub refused octo/widgets: making pull request #7 a draft (GraphQL: Field",
        ),
    ],
)
def test_errors_in_a_200_answer_are_the_same_errors_as_over_rest(
    entry: dict[str, Any], kind: type[GitHubError], words: str
) -> None:
    with pytest.raises(kind) as caught:
        decipher(errors(entry))

    assert type(caught.value) is kind
    assert words in str(caught.value)
    assert caught.value.status == 200


def test_a_graphql_rate_limit_waits_until_the_reset_like_rest() -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 40)}
    limited = errors({"type": "RATE_LIMITED", "message": "API rate limit exceeded"})

    with pytest.raises(GitHubRateLimitError) as caught:
        decipher(limited, headers)
    assert caught.value.retry_after == 40 + sansio.RESET_MARGIN_S
    with pytest.raises(GitHubRateLimitError) as without_headers:
        decipher(limited)
    assert without_headers.value.retry_after == sansio.SECONDARY_DEFAULT_WAIT_S


@pytest.mark.parametrize("body", [None, [], {"errors": []}, {"data": None}])
def test_an_answer_with_neither_data_nor_errors_is_a_clear_error(body: Any) -> None:
    with pytest.raises(GitHubError, match="GraphQL answer while making pull request #7 a draft"):
        decipher(body)


def test_rest_answers_are_never_read_as_graphql() -> None:
    find = sansio.list_pulls(SLUG, head="macoder/T001")
    assert decipher({"errors": ["x"]}, request=find) == {"errors": ["x"]}
