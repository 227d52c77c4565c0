"""The GraphQL documents macoder sends to GitHub, and what their answers mean. Pure.

Why GraphQL at all: GitHub's REST API cannot change a pull request's draft state (`PATCH
/pulls/{n}` ignores `draft`). Closing the PR and opening a successor would lose its number,
its review threads and its approvals — the people's side of the conversation. GraphQL has
one mutation for each direction, taking the PR's global node id (`node_id` in REST's answer):
`convertPullRequestToDraft` and `markPullRequestReadyForReview`.

Every document macoder sends is in `DOCUMENTS`; the tests validate each against GitHub's
published GraphQL schema (`@octokit/graphql-schema`), so a renamed field or a wrong variable
type fails here rather than on a user's repository. How a GraphQL answer fails (HTTP 200 with
an `errors` list) is read by `github_sansio.decipher`, with the REST failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from multi_agent_coder.errors import GitHubError
from multi_agent_coder.forge.github_sansio import Request, Slug

MARK_READY: Final = """\
mutation MarkReady($id: ID!) {
  markPullRequestReadyForReview(input: {pullRequestId: $id}) {
    pullRequest { number isDraft }
  }
}
"""

CONVERT_TO_DRAFT: Final = """\
mutation ConvertToDraft($id: ID!) {
  convertPullRequestToDraft(input: {pullRequestId: $id}) {
    pullRequest { number isDraft }
  }
}
"""

#: Every document macoder sends (held to GitHub's schema by the tests).
DOCUMENTS: Final = (MARK_READY, CONVERT_TO_DRAFT)

_FIELD: Final = {
    True: "convertPullRequestToDraft",
    False: "markPullRequestReadyForReview",
}


def graphql_url(api_url: str) -> str:
    """GitHub's GraphQL endpoint for a REST API root: `https://api.github.com/graphql`; on
    GitHub Enterprise Server, whose REST root is `https://HOST/api/v3`, `https://HOST/api/graphql`.
    """
    parts = urlsplit(api_url.rstrip("/"))
    path = parts.path
    path = path.removesuffix("/v3") if path.endswith("/api/v3") else path
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/graphql", "", ""))


def set_draft(slug: Slug, node_id: str, number: int, *, draft: bool) -> Request:
    """Make pull request `number` (global id `node_id`) a draft, or ready for review."""
    document = CONVERT_TO_DRAFT if draft else MARK_READY
    state = "a draft" if draft else "ready for review"
    return Request(
        "POST",
        "/graphql",
        (),
        {"query": document, "variables": {"id": node_id}},
        f"making pull request #{number} {state}",
        graphql=True,
    )


def draft_after(data: Any, *, draft: bool, slug: Slug, number: int) -> bool:
    """The draft state GitHub reports after `set_draft` (the mutation's `isDraft`)."""
    root = data.get("data") if isinstance(data, Mapping) else None
    answer = root.get(_FIELD[draft]) if isinstance(root, Mapping) else None
    pull = answer.get("pullRequest") if isinstance(answer, Mapping) else None
    if not isinstance(pull, Mapping) or not isinstance(pull.get("isDraft"), bool):
        raise GitHubError(f"{slug}: GitHub's answer on pull request #{number} has no isDraft")
    return bool(pull["isDraft"])
