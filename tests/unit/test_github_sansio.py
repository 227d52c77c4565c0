"""GitHub's REST API without I/O: requests built, answers read, failures classified.

Recorded samples come from GitHub's own published material installed by
`scripts/npm-tools.sh`: the examples of its OpenAPI description (`@octokit/openapi`).
"""

from __future__ import annotations

import copy
import json
from email.utils import formatdate
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubForbiddenError,
    GitHubNotFoundError,
    GitHubRateLimitError,
    GitHubUnavailableError,
    GitHubValidationError,
    PullRequestExistsError,
    UsageError,
)
from multi_agent_coder.forge import github_sansio as sansio
from multi_agent_coder.forge.base import LABEL, PrState
from multi_agent_coder.forge.github_sansio import Slug

NPM = Path(__file__).resolve().parents[2] / ".tools/npm/node_modules/@octokit"
OPENAPI = NPM / "openapi/generated/api.github.com.json"
MISSING = "GitHub's published samples are not installed: run scripts/npm-tools.sh"

SLUG = Slug("octo", "widgets")
NOW = 1_800_000_000.0
FIND = sansio.list_pulls(SLUG, head="macoder/T001")


@cache
def _openapi_examples() -> dict[str, Any]:
    data = json.loads(OPENAPI.read_text(encoding="utf-8"))
    return dict(data["components"]["examples"])


def openapi_example(name: str) -> Any:
    if not OPENAPI.exists():
        pytest.skip(MISSING)
    return copy.deepcopy(_openapi_examples()[name]["value"])


def pull(**overrides: Any) -> dict[str, Any]:
    """The parts of a pull-request object that `parse_pull` reads."""
    data: dict[str, Any] = {
        "number": 7,
        "state": "open",
        "draft": False,
        "title": "T001: do it",
        "body": None,
        "html_url": "https://github.com/octo/widgets/pull/7",
        "labels": [{"name": LABEL}],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:01:00Z",
        "merged_at": None,
        "merge_commit_sha": None,
        "head": {"ref": "macoder/T001", "sha": "a" * 40, "repo": {"full_name": "octo/widgets"}},
        "base": {"ref": "main"},
    }
    data.update(overrides)
    return data


# --------------------------------------------------------------------- requests


def test_every_request_carries_the_api_version_media_type_and_bearer_token() -> None:
    assert sansio.request_headers("t0k") == {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "Authorization": "Bearer t0k",
        "User-Agent": "multi-agent-coder",
    }


def test_finding_a_tasks_pr_filters_by_owner_and_branch() -> None:
    assert FIND.method == "GET"
    assert FIND.path == "/repos/octo/widgets/pulls"
    assert FIND.params == (("head", "octo:macoder/T001"), ("state", "open"), ("per_page", "100"))
    assert FIND.json is None


def test_creating_and_updating_send_only_what_github_accepts() -> None:
    create = sansio.create_pull(
        SLUG, title="t", head="macoder/T001", base="main", body="b", draft=True
    )
    assert (create.method, create.path) == ("POST", "/repos/octo/widgets/pulls")
    assert create.json == {
        "title": "t",
        "head": "macoder/T001",
        "base": "main",
        "body": "b",
        "draft": True,
    }
    patch = sansio.update_pull(SLUG, 7, body="new")
    assert (patch.method, patch.path, patch.json) == (
        "PATCH",
        "/repos/octo/widgets/pulls/7",
        {"body": "new"},
    )
    assert sansio.update_pull(SLUG, 7, state="closed").json == {"state": "closed"}


def test_labels_and_comments() -> None:
    add = sansio.add_issue_labels(SLUG, 7, ["macoder", "macoder:failed"])
    assert add.path == "/repos/octo/widgets/issues/7/labels"
    assert add.json == {"labels": ["macoder", "macoder:failed"]}
    label = sansio.create_label(SLUG, "macoder:failed")
    assert label.json == {
        "name": "macoder:failed",
        "color": "d93f0b",
        "description": "The task's last attempt failed verification",
    }
    assert sansio.create_label(SLUG, "other").json["color"] == "ededed"
    assert sansio.create_comment(SLUG, 7, "hi").json == {"body": "hi"}
    assert SLUG.path("labels", "macoder:failed") == "/repos/octo/widgets/labels/macoder%3Afailed"


def test_a_label_is_read_by_its_name_before_it_is_created() -> None:
    read = sansio.get_label(SLUG, "macoder:failed")
    assert (read.method, read.path) == ("GET", "/repos/octo/widgets/labels/macoder%3Afailed")


@pytest.mark.parametrize(
    ("request_", "method", "path", "body"),
    [
        (
            sansio.request_reviewers(SLUG, 7, ["alice"], ["web"]),
            "POST",
            "/repos/octo/widgets/pulls/7/requested_reviewers",
            {"reviewers": ["alice"], "team_reviewers": ["web"]},
        ),
        (
            sansio.request_reviewers(SLUG, 7, [], ["web"]),
            "POST",
            "/repos/octo/widgets/pulls/7/requested_reviewers",
            {"team_reviewers": ["web"]},
        ),
        (
            sansio.add_assignees(SLUG, 7, ["alice", "bob"]),
            "POST",
            "/repos/octo/widgets/issues/7/assignees",
            {"assignees": ["alice", "bob"]},
        ),
        (
            sansio.set_milestone(SLUG, 7, 3),
            "PATCH",
            "/repos/octo/widgets/issues/7",
            {"milestone": 3},
        ),
        (
            sansio.matching_branches(SLUG, "macoder/"),
            "GET",
            "/repos/octo/widgets/git/matching-refs/heads%2Fmacoder%2F",
            None,
        ),
        (
            sansio.delete_branch(SLUG, "macoder/T001"),
            "DELETE",
            "/repos/octo/widgets/git/refs/heads%2Fmacoder%2FT001",
            None,
        ),
    ],
    ids=["reviewers", "teams-only", "assignees", "milestone", "branches", "delete-branch"],
)
def test_pull_request_options_and_branch_requests(
    request_: sansio.Request, method: str, path: str, body: Any
) -> None:
    assert (request_.method, request_.path, request_.json) == (method, path, body)


def test_branch_tips_from_git_refs() -> None:
    refs = [
        {"ref": "refs/heads/macoder/T001", "object": {"type": "commit", "sha": "a" * 40}},
        {"ref": "refs/tags/v1", "object": {"type": "commit", "sha": "b" * 40}},
        {"ref": "refs/heads/macoder/T002"},
    ]
    assert sansio.branch_tips(refs) == {"macoder/T001": "a" * 40}
    assert sansio.branch_tips({"message": "Not Found"}) == {}


@pytest.mark.parametrize(
    "text", ["octo", "octo/", "/widgets", "a/b/c", "octo/../x", "octo/.", "-x/y", "o o/r"]
)
def test_a_bad_repository_slug_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="owner/name"):
        Slug.parse(text)


def test_a_good_slug() -> None:
    assert str(Slug.parse("my-org/my.repo_2")) == "my-org/my.repo_2"


def test_fit_cuts_visibly_to_githubs_limits() -> None:
    assert sansio.fit("short", 256) == "short"
    title = sansio.fit("x" * 300, 256)
    assert len(title) == 256
    assert title.endswith(" …")
    body = sansio.fit("y" * 70_000, sansio.MAX_BODY_CHARS)
    assert len(body) == sansio.MAX_BODY_CHARS
    assert body.endswith("at most 65536 characters)")


# --------------------------------------------------------------------- answers


def test_success_returns_the_body() -> None:
    assert sansio.decipher(FIND, 200, {}, [1], slug=SLUG, now=NOW) == [1]


def fail(status: int, headers: dict[str, str] | None = None, data: Any = None) -> GitHubError:
    return sansio.failure(FIND, status, headers or {}, data, slug=SLUG, now=NOW)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable_on_our_own_schedule(status: int) -> None:
    error = fail(status, data={"message": "Server Error"})
    assert type(error) is GitHubUnavailableError
    assert error.retry_after is None
    assert f"HTTP {status}: Server Error" in str(error)
    assert "octo/widgets" in str(error)


def test_a_server_error_with_retry_after_is_honoured() -> None:
    assert fail(503, {"Retry-After": "12"}).retry_after == 12.0


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_rate_limit_waits_as_long_as_retry_after_says(status: int) -> None:
    error = fail(
        status, {"retry-after": "7"}, {"message": "You have exceeded a secondary rate limit."}
    )
    assert isinstance(error, GitHubRateLimitError)
    assert error.retry_after == 7.0


def test_retry_after_may_be_an_http_date() -> None:
    when = formatdate(NOW + 90, usegmt=True)
    assert fail(429, {"Retry-After": when}).retry_after == pytest.approx(90.0)


def test_a_spent_primary_quota_waits_until_the_reset() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 30)}
    error = fail(403, headers, {"message": "API rate limit exceeded"})
    assert isinstance(error, GitHubRateLimitError)
    assert error.retry_after == 30.0 + sansio.RESET_MARGIN_S
    past = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)}
    assert fail(403, past).retry_after == sansio.RESET_MARGIN_S


def test_a_secondary_limit_without_headers_waits_a_minute() -> None:
    error = fail(403, {}, {"message": "You have exceeded a secondary rate limit"})
    assert error.retry_after == sansio.SECONDARY_DEFAULT_WAIT_S
    assert fail(429).retry_after == sansio.SECONDARY_DEFAULT_WAIT_S


def test_forbidden_without_rate_limit_is_final() -> None:
    error = fail(
        403,
        {"x-ratelimit-remaining": "4000"},
        {"message": "Resource not accessible by integration"},
    )
    assert type(error) is GitHubForbiddenError
    assert "Resource not accessible by integration" in str(error)
    assert "permission" in str(error)


def test_the_403_of_the_actions_pr_setting_names_the_setting_not_permissions() -> None:
    """GitHub's exact answer when "Allow GitHub Actions to create and approve pull requests"
    is off: the workflow's `permissions:` cannot fix it, so the error must not say they can."""
    error = fail(
        403,
        {"x-ratelimit-remaining": "4000"},
        {
            "message": "GitHub Actions is not permitted to create or approve pull requests.",
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
            "status": "403",
        },
    )
    assert type(error) is GitHubForbiddenError
    assert '"Allow GitHub Actions to create and approve pull requests"' in str(error)
    assert "Settings > Actions > General" in str(error)
    assert "needs `contents: write`" not in str(error)


def test_bad_credentials() -> None:
    error = fail(401, data={"message": "Bad credentials"})
    assert type(error) is GitHubAuthError
    assert "bad credentials" in str(error)


def test_not_found_names_the_repository() -> None:
    error = fail(404, data={"message": "Not Found"})
    assert type(error) is GitHubNotFoundError
    assert "the repository octo/widgets does not exist or the token cannot see it" in str(error)


def test_a_pr_that_already_exists_has_its_own_class() -> None:
    data = {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": "A pull request already exists for octo:macoder/T001.",
            }
        ],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
    }
    error = fail(422, data=data)
    assert type(error) is PullRequestExistsError
    assert error.messages == ("A pull request already exists for octo:macoder/T001.",)


def test_validation_errors_quote_githubs_errors() -> None:
    data = {
        "message": "Validation Failed",
        "errors": [
            {"resource": "PullRequest", "field": "head", "code": "invalid"},
            {"resource": "Label", "code": "already_exists", "field": "name"},
            "a plain string",
        ],
    }
    error = fail(422, data=data)
    assert type(error) is GitHubValidationError
    assert error.codes == ("invalid", "already_exists")
    assert str(error).endswith(
        "PullRequest.head: invalid; Label.name: already_exists; a plain string"
    )


def test_other_client_errors_are_final() -> None:
    error = fail(418, data={"message": "I'm a teapot"})
    assert type(error) is GitHubError
    assert "HTTP 418" in str(error)
    with pytest.raises(GitHubError):
        sansio.decipher(FIND, 409, {}, None, slug=SLUG, now=NOW)


def test_next_link() -> None:
    header = (
        '<https://api.github.com/repositories/1/pulls?page=2>; rel="next", '
        '<https://api.github.com/repositories/1/pulls?page=5>; rel="last"'
    )
    assert sansio.next_link(header) == "https://api.github.com/repositories/1/pulls?page=2"
    assert sansio.next_link('<https://x/?page=1>; rel="prev"') is None
    assert sansio.next_link(None) is None


# --------------------------------------------------------------------- pull requests


def test_a_macoder_pull_request() -> None:
    pr = sansio.parse_pull(pull(), SLUG)
    assert pr is not None
    assert (pr.number, pr.task_id, pr.branch, pr.base) == (7, "T001", "macoder/T001", "main")
    assert (pr.state, pr.draft, pr.head_sha, pr.body) == (PrState.OPEN, False, "a" * 40, "")
    assert pr.labels == (LABEL,)
    assert pr.url.endswith("/pull/7")
    assert pr.updated_at - pr.created_at == 60.0


def test_merged_and_closed() -> None:
    merged = sansio.parse_pull(
        pull(state="closed", merged_at="2026-01-02T00:00:00Z", merge_commit_sha="b" * 40), SLUG
    )
    closed = sansio.parse_pull(pull(state="closed"), SLUG)
    assert merged is not None
    assert merged.state is PrState.MERGED
    assert merged.merged_sha == "b" * 40
    assert closed is not None
    assert closed.state is PrState.CLOSED
    assert closed.merged_sha is None


@pytest.mark.parametrize(
    "head",
    [
        {"ref": "feature/x", "sha": "a", "repo": {"full_name": "octo/widgets"}},
        {"ref": "macoder/not-an-id", "sha": "a", "repo": {"full_name": "octo/widgets"}},
        {"ref": "macoder/T001", "sha": "a", "repo": {"full_name": "fork/widgets"}},
        {"ref": "macoder/T001", "sha": "a", "repo": None},  # the fork was deleted
    ],
)
def test_other_peoples_pull_requests_are_not_macoders(head: dict[str, Any]) -> None:
    assert sansio.parse_pull(pull(head=head), SLUG) is None


def test_a_malformed_pull_request_is_a_clear_error() -> None:
    with pytest.raises(GitHubError, match="without 'head'"):
        sansio.parse_pull({"number": 1}, SLUG)
    with pytest.raises(GitHubError, match="not a list"):
        sansio.parse_pulls({"message": "x"}, SLUG)


def test_githubs_own_pull_request_examples_parse() -> None:
    slug = Slug("octocat", "Hello-World")
    [item] = openapi_example("pull-request-simple-items")
    full = openapi_example("pull-request")
    assert sansio.parse_pull(item, slug) is None  # head `new-topic` is no task branch
    item["head"]["ref"] = full["head"]["ref"] = "macoder/AUTH-012"
    item["merged_at"] = None
    listed = sansio.parse_pulls([item], slug)
    single = sansio.parse_pull(full, slug)
    assert [pr.task_id for pr in listed] == ["AUTH-012"]
    assert listed[0].state is PrState.OPEN
    assert listed[0].labels == ("bug",)
    assert listed[0].head_sha == item["head"]["sha"]
    assert listed[0].url == item["html_url"]
    assert single is not None
    assert single.state is PrState.MERGED
    assert single.merged_sha == full["merge_commit_sha"]
    # What the GraphQL draft-state mutations take: the PR's global id.
    assert single.node_id == full["node_id"] != ""


def test_label_names_from_githubs_label_examples() -> None:
    labels = openapi_example("label-items")
    assert sansio.label_names(labels) == tuple(label["name"] for label in labels)
    assert sansio.label_names({"message": "x"}) == ()
