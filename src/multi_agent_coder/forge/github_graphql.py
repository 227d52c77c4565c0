"""The GraphQL documents macoder sends to GitHub, and what their answers mean. Pure.

Why GraphQL at all: GitHub's REST API cannot change a pull request's draft state (`PATCH
/pulls/{n}` ignores `draft`). Closing the PR and opening a successor would lose its number,
its review threads and its approvals — the people's side of the conversation. GraphQL has
one mutation for each direction, taking the PR's global node id (`node_id` in REST's answer):
`convertPullRequestToDraft` and `markPullRequestReadyForReview`. And with
`pull_request.sign_commits`, commits GitHub makes (and signs) itself: `createCommitOnBranch`,
after asking whose token it is (`viewer`; see `signing.py`).

Every document macoder sends is in `DOCUMENTS`; the tests validate each against GitHub's
published GraphQL schema (`@octokit/graphql-schema`), so a renamed field or a wrong variable
type fails here rather than on a user's repository. How a GraphQL answer fails (HTTP 200 with
an `errors` list) is read by `github_sansio.decipher`, with the REST failures.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

VIEWER: Final = """\
query Viewer {
  viewer { login databaseId }
}
"""

CREATE_COMMIT: Final = """\
mutation CreateCommit($input: CreateCommitOnBranchInput!) {
  createCommitOnBranch(input: $input) {
    commit { oid tree { oid } signature { isValid } }
  }
}
"""

#: Every document macoder sends (held to GitHub's schema by the tests).
DOCUMENTS: Final = (MARK_READY, CONVERT_TO_DRAFT, VIEWER, CREATE_COMMIT)

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


def viewer() -> Request:
    """Who the token belongs to (a bot's token answers with the bot: `name[bot]`)."""
    return Request(
        "POST", "/graphql", (), {"query": VIEWER}, "asking GitHub whose token this is", graphql=True
    )


def viewer_of(data: Any, *, slug: Slug) -> tuple[str, int]:
    """The login and database id in `viewer`'s answer."""
    root = data.get("data") if isinstance(data, Mapping) else None
    who = root.get("viewer") if isinstance(root, Mapping) else None
    login = who.get("login") if isinstance(who, Mapping) else None
    number = who.get("databaseId") if isinstance(who, Mapping) else None
    if not isinstance(login, str) or not isinstance(number, int) or isinstance(number, bool):
        raise GitHubError(f"{slug}: GitHub did not say whose token this is")
    return login, number


@dataclass(frozen=True, slots=True)
class NewCommit:
    """One commit `createCommitOnBranch` is asked to make."""

    branch: str
    expected_head: str
    headline: str
    body: str
    #: (path, content) of each file written; paths deleted.
    additions: Sequence[tuple[str, bytes]]
    deletions: Sequence[str]


def create_commit(slug: Slug, commit: NewCommit) -> Request:
    """Make one commit on `commit.branch` on top of exactly `expected_head` (GitHub refuses
    when the branch is elsewhere: nothing is overwritten)."""
    changes = {
        "additions": [
            {"path": path, "contents": base64.b64encode(content).decode("ascii")}
            for path, content in commit.additions
        ],
        "deletions": [{"path": path} for path in commit.deletions],
    }
    variables = {
        "input": {
            "branch": {"repositoryNameWithOwner": str(slug), "branchName": commit.branch},
            "expectedHeadOid": commit.expected_head,
            "message": {"headline": commit.headline, "body": commit.body},
            "fileChanges": changes,
        }
    }
    return Request(
        "POST",
        "/graphql",
        (),
        {"query": CREATE_COMMIT, "variables": variables},
        f"making a commit on {commit.branch} through GitHub's API",
        graphql=True,
    )


def created_commit(data: Any, *, slug: Slug) -> tuple[str, str, bool]:
    """The new commit's oid, its tree's oid, and whether GitHub signed it (verified)."""
    root = data.get("data") if isinstance(data, Mapping) else None
    answer = root.get("createCommitOnBranch") if isinstance(root, Mapping) else None
    commit = answer.get("commit") if isinstance(answer, Mapping) else None
    tree = commit.get("tree") if isinstance(commit, Mapping) else None
    oid = commit.get("oid") if isinstance(commit, Mapping) else None
    tree_oid = tree.get("oid") if isinstance(tree, Mapping) else None
    if not isinstance(oid, str) or not isinstance(tree_oid, str):
        raise GitHubError(f"{slug}: GitHub's answer to createCommitOnBranch has no commit")
    signature = commit.get("signature") if isinstance(commit, Mapping) else None
    valid = isinstance(signature, Mapping) and signature.get("isValid") is True
    return oid, tree_oid, valid
