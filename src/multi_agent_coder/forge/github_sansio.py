"""GitHub's REST API without I/O: the requests macoder sends and what the answers mean.

Why sans-I/O (as gidgethub does it): every decision about GitHub — which URL and body a call
needs, how a pull request object maps onto `PullRequest`, whether a failure is worth waiting
for and for how long — is a pure function of its inputs, tested on recorded payloads with no
server and no clock. `github.py` is the thin httpx adapter that sends these requests and
sleeps when told to.

Failure classes (GitHub's "best practices" and rate-limit documentation):

- retryable: 5xx; 403/429 with `retry-after` (secondary rate limit: wait that long);
  403/429 with `x-ratelimit-remaining: 0` (primary rate limit: wait until `x-ratelimit-reset`);
  a 403/429 whose message says "secondary rate limit" but gives no header (wait a minute);
- final, never retried: 401 bad credentials, 403 forbidden, 404 not found, 422 validation
  (with GitHub's `errors[]` messages; "A pull request already exists" gets its own class so the
  adapter can find the racing PR and update it instead of opening a second one), other 4xx.

A GraphQL request (`Request.graphql`, documents in `github_graphql`) fails the same ways over
HTTP, and also with HTTP 200 and an `errors` list: each entry's `type` maps onto the same
classes (`RATE_LIMITED` is retried like a primary rate limit, `FORBIDDEN`, `NOT_FOUND`; any
other is a validation error carrying GitHub's messages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from multi_agent_coder import retry_after
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
from multi_agent_coder.forge.base import (
    LABEL,
    LABEL_FAILED,
    LABEL_NEEDS_REVIEW,
    LABEL_SUPERSEDED,
    PrState,
    PullRequest,
)
from multi_agent_coder.ids import GITHUB_SLUG_PATTERN, PrKind, pr_subject
from multi_agent_coder.limits import MAX_REVIEW_COMMENTS

DEFAULT_API_URL: Final = "https://api.github.com"
API_VERSION: Final = "2022-11-28"
MEDIA_TYPE: Final = "application/vnd.github+json"
USER_AGENT: Final = "multi-agent-coder"

#: GitHub's maximum page size; fewer round trips for `list_prs`.
PER_PAGE: Final = 100
#: Wait after a secondary rate limit that came without `retry-after` (GitHub: "at least one
#: minute").
SECONDARY_DEFAULT_WAIT_S: Final = 60.0
#: Added to a primary-limit wait: `x-ratelimit-reset` is whole seconds and clocks drift.
RESET_MARGIN_S: Final = 1.0
#: GitHub's 403 when the repository (or its organization) does not allow workflows' own
#: GITHUB_TOKEN to open pull requests, whatever the workflow's `permissions:`.
ACTIONS_MAY_NOT_OPEN_PRS: Final = "github actions is not permitted to create or approve pull"

#: GitHub refuses longer pull-request titles and bodies with a 422.
MAX_TITLE_CHARS: Final = 256
MAX_BODY_CHARS: Final = 65536

#: Colour and description of the labels macoder creates (colour: 6 hex digits, no `#`).
LABELS: Final[Mapping[str, tuple[str, str]]] = {
    LABEL: ("1d76db", "Opened by multi-agent-coder for one backlog task"),
    LABEL_FAILED: ("d93f0b", "The task's last attempt failed verification"),
    LABEL_NEEDS_REVIEW: ("fbca04", "A person changed the task branch; macoder stopped"),
    LABEL_SUPERSEDED: ("c5def5", "Closed by macoder for its successor, not by a person"),
}
OTHER_LABEL: Final = ("ededed", "")

_SLUG: Final = re.compile(GITHUB_SLUG_PATTERN, re.ASCII)
_LINK: Final = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";]+)"?')
_EXISTS: Final = "a pull request already exists"


# ===================================================================== requests


@dataclass(frozen=True, slots=True)
class Slug:
    """`owner/name` of a repository, checked before it reaches a URL."""

    owner: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Slug:
        owner, _, name = text.partition("/")
        if not _SLUG.fullmatch(text) or name in (".", ".."):
            raise UsageError(f"invalid GitHub repository {text!r}: expected 'owner/name'")
        return cls(owner, name)

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"

    def path(self, *parts: str | int) -> str:
        """`/repos/{owner}/{name}/...`, each further part percent-encoded (labels have `:`)."""
        tail = "".join("/" + quote(str(part), safe="") for part in parts)
        return f"/repos/{self.owner}/{self.name}{tail}"


@dataclass(frozen=True, slots=True)
class Request:
    """One REST call, relative to the API root; `action` says why, for error messages.
    `graphql`: a POST of a GraphQL document to GitHub's GraphQL endpoint instead (which is
    not under the REST root on GitHub Enterprise Server, so the adapter places it)."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    json: Any = None
    action: str = ""
    graphql: bool = False


def request_headers(token: str) -> dict[str, str]:
    """Headers every call carries; the token only ever travels here, never in a URL."""
    return {
        "Accept": MEDIA_TYPE,
        "X-GitHub-Api-Version": API_VERSION,
        "Authorization": f"Bearer {token}",
        "User-Agent": USER_AGENT,
    }


def fit(text: str, limit: int) -> str:
    """`text` cut to GitHub's `limit` with a visible mark, instead of a refused request (a
    long test log in a failure report must not cost the task its pull request)."""
    if len(text) <= limit:
        return text
    mark = " …" if limit < 1000 else f"\n\n… (cut: GitHub takes at most {limit} characters)"
    return text[: limit - len(mark)] + mark


def head_filter(slug: Slug, branch: str) -> str:
    """The `head` query value GitHub wants: `owner:branch` (a same-repository branch)."""
    return f"{slug.owner}:{branch}"


def list_pulls(
    slug: Slug, *, state: str = "open", head: str | None = None, per_page: int = PER_PAGE
) -> Request:
    params = [("state", state), ("per_page", str(per_page))]
    if head is not None:
        params.insert(0, ("head", head_filter(slug, head)))
    action = f"looking for the open pull request of {head}" if head else "listing pull requests"
    return Request("GET", slug.path("pulls"), tuple(params), None, action)


def create_pull(slug: Slug, *, title: str, head: str, base: str, body: str, draft: bool) -> Request:
    """`head` is a branch of the same repository, so no `owner:` prefix is needed."""
    payload = {"title": title, "head": head, "base": base, "body": body, "draft": draft}
    return Request("POST", slug.path("pulls"), (), payload, f"opening a pull request for {head}")


def update_pull(
    slug: Slug,
    number: int,
    *,
    title: str | None = None,
    body: str | None = None,
    state: str | None = None,
    base: str | None = None,
) -> Request:
    """Only the fields given are sent. Draft state is not among them: REST cannot change it
    (`github_graphql.set_draft` does)."""
    fields = {"title": title, "body": body, "state": state, "base": base}
    payload = {key: value for key, value in fields.items() if value is not None}
    return Request(
        "PATCH", slug.path("pulls", number), (), payload, f"updating pull request #{number}"
    )


def add_issue_labels(slug: Slug, number: int, labels: Sequence[str]) -> Request:
    return Request(
        "POST",
        slug.path("issues", number, "labels"),
        (),
        {"labels": list(labels)},
        f"labelling pull request #{number}",
    )


def remove_issue_label(slug: Slug, number: int, label: str) -> Request:
    return Request(
        "DELETE",
        slug.path("issues", number, "labels", label),
        (),
        None,
        f"taking label {label!r} off pull request #{number}",
    )


def get_label(slug: Slug, name: str) -> Request:
    return Request("GET", slug.path("labels", name), (), None, f"reading label {name!r}")


def create_label(slug: Slug, name: str) -> Request:
    colour, description = LABELS.get(name, OTHER_LABEL)
    payload = {"name": name, "color": colour, "description": description}
    return Request("POST", slug.path("labels"), (), payload, f"creating label {name!r}")


def request_reviewers(
    slug: Slug, number: int, reviewers: Sequence[str], team_reviewers: Sequence[str]
) -> Request:
    payload: dict[str, list[str]] = {}
    if reviewers:
        payload["reviewers"] = list(reviewers)
    if team_reviewers:
        payload["team_reviewers"] = list(team_reviewers)
    return Request(
        "POST",
        slug.path("pulls", number, "requested_reviewers"),
        (),
        payload,
        f"requesting reviews of pull request #{number}",
    )


def add_assignees(slug: Slug, number: int, assignees: Sequence[str]) -> Request:
    return Request(
        "POST",
        slug.path("issues", number, "assignees"),
        (),
        {"assignees": list(assignees)},
        f"assigning pull request #{number}",
    )


def set_milestone(slug: Slug, number: int, milestone: int) -> Request:
    """A pull request's milestone is its issue's: `PATCH /issues/{n}` (the pulls API has none)."""
    return Request(
        "PATCH",
        slug.path("issues", number),
        (),
        {"milestone": milestone},
        f"setting milestone {milestone} on pull request #{number}",
    )


def matching_branches(slug: Slug, prefix: str) -> Request:
    """The branches whose name starts with `prefix` (`macoder/`), with their tips."""
    return Request(
        "GET",
        slug.path("git", "matching-refs", f"heads/{prefix}"),
        (),
        None,
        f"listing the {prefix}* branches",
    )


def merge_pull(slug: Slug, number: int, head_sha: str, method: str) -> Request:
    """Merge pull request `number` only while its head is `head_sha` (GitHub answers 409
    when the branch moved: what was verified is what is merged, or nothing is)."""
    return Request(
        "PUT",
        slug.path("pulls", number, "merge"),
        (),
        {"sha": head_sha, "merge_method": method},
        f"merging pull request #{number}",
    )


def dispatch_workflow(
    slug: Slug, workflow: str, ref: str, inputs: Mapping[str, str] | None = None
) -> Request:
    """Start workflow `workflow` (its file name) on `ref`, with its `workflow_dispatch`
    `inputs`: a `workflow_dispatch` event, the one event a workflow's own GITHUB_TOKEN may
    cause that starts a workflow run."""
    body: dict[str, Any] = {"ref": ref}
    if inputs:
        body["inputs"] = dict(inputs)
    return Request(
        "POST",
        slug.path("actions", "workflows", workflow, "dispatches"),
        (),
        body,
        f"starting workflow {workflow} on {ref}",
    )


def create_branch(slug: Slug, branch: str, sha: str) -> Request:
    """Create `branch` at commit `sha` (422 when it exists)."""
    return Request(
        "POST",
        slug.path("git", "refs"),
        (),
        {"ref": f"refs/heads/{branch}", "sha": sha},
        f"creating branch {branch}",
    )


def delete_branch(slug: Slug, branch: str) -> Request:
    return Request(
        "DELETE",
        slug.path("git", "refs", f"heads/{branch}"),
        (),
        None,
        f"deleting branch {branch}",
    )


def create_comment(slug: Slug, number: int, body: str) -> Request:
    return Request(
        "POST",
        slug.path("issues", number, "comments"),
        (),
        {"body": body},
        f"commenting on pull request #{number}",
    )


def update_comment(slug: Slug, comment_id: int, body: str) -> Request:
    return Request(
        "PATCH",
        slug.path("issues", "comments", comment_id),
        (),
        {"body": body},
        f"editing comment {comment_id}",
    )


#: The reactions GitHub accepts on a comment.
REACTIONS: Final = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


def add_reaction(slug: Slug, comment_id: int, content: str) -> Request:
    if content not in REACTIONS:
        raise UsageError(f"not a reaction GitHub knows: {content!r}")
    return Request(
        "POST",
        slug.path("issues", "comments", comment_id, "reactions"),
        (),
        {"content": content},
        f"reacting to comment {comment_id}",
    )


def comment_id_of(data: object) -> int:
    """The `id` of the comment GitHub answered with."""
    if isinstance(data, dict) and isinstance(data.get("id"), int):
        return int(data["id"])
    raise GitHubError("GitHub answered a comment request without the comment's id")


# ===================================================================== reviews


def get_review(slug: Slug, number: int, review_id: int) -> Request:
    return Request(
        "GET",
        slug.path("pulls", number, "reviews", review_id),
        (),
        None,
        f"reading review {review_id} of pull request #{number}",
    )


def list_review_comments(slug: Slug, number: int, review_id: int) -> Request:
    return Request(
        "GET",
        slug.path("pulls", number, "reviews", review_id, "comments"),
        (("per_page", str(MAX_REVIEW_COMMENTS)),),
        None,
        f"reading the line comments of review {review_id}",
    )


def get_issue_comment(slug: Slug, comment_id: int) -> Request:
    return Request(
        "GET",
        slug.path("issues", "comments", comment_id),
        (),
        None,
        f"reading comment {comment_id}",
    )


# ===================================================================== answers


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def decipher(
    request: Request,
    status: int,
    headers: Mapping[str, str],
    data: Any,
    *,
    slug: Slug,
    now: float,
) -> Any:
    """The decoded body of a successful answer, or the error this answer means.

    `data` is the decoded JSON body (None when there was none or it was not JSON); `now` is
    the epoch time the answer arrived, to turn `x-ratelimit-reset` into a wait. Raises a
    `GitHubUnavailableError` (with `retry_after` when GitHub said how long to wait) for
    answers worth retrying, and another `GitHubError` for final ones.
    """
    if 200 <= status < 300:
        problem = graphql_failure(request, headers, data, slug=slug, now=now)
        if problem is not None:
            raise problem
        return data
    raise failure(request, status, headers, data, slug=slug, now=now)


def graphql_failure(
    request: Request, headers: Mapping[str, str], data: Any, *, slug: Slug, now: float
) -> GitHubError | None:
    """The error a successful HTTP answer to a GraphQL request carries in `errors`, if any."""
    if not request.graphql:
        return None
    entries = data.get("errors") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        if isinstance(data, Mapping) and isinstance(data.get("data"), Mapping):
            return None
        return GitHubError(f"{slug}: GitHub's GraphQL answer while {request.action} has no data")
    kinds = [str(e.get("type", "")) for e in entries if isinstance(e, Mapping)]
    texts = [str(e.get("message", "")) for e in entries if isinstance(e, Mapping)]
    where = f"{slug}: {request.action}"
    said = "; ".join(text for text in texts if text) or "no message"
    if "RATE_LIMITED" in kinds:
        wait = rate_limit_wait(403, headers, "", now) or SECONDARY_DEFAULT_WAIT_S
        return GitHubRateLimitError(
            f"GitHub rate limit while {where} (GraphQL: {said}); GitHub asks to wait {wait:.0f} s",
            status=200,
            retry_after=wait,
        )
    if "FORBIDDEN" in kinds:
        return GitHubForbiddenError(
            f"GitHub refused {where} (GraphQL: {said}): the token lacks a permission "
            "(the workflow needs `pull-requests: write`)",
            status=200,
        )
    if "NOT_FOUND" in kinds:
        return GitHubNotFoundError(f"GitHub: not found while {where} (GraphQL: {said})", status=200)
    return GitHubValidationError(
        f"GitHub refused {where} (GraphQL: {said})",
        status=200,
        messages=tuple(texts),
        codes=tuple(kinds),
    )


def failure(
    request: Request,
    status: int,
    headers: Mapping[str, str],
    data: Any,
    *,
    slug: Slug,
    now: float,
) -> GitHubError:
    """The error an unsuccessful answer means (see the module docstring for the classes)."""
    head = _lower(headers)
    message = _message(data)
    where = f"{slug}: {request.action or request.method + ' ' + request.path}"
    said = f": {message}" if message else ""
    if status in (403, 429):
        wait = rate_limit_wait(status, head, message, now)
        if wait is not None:
            return GitHubRateLimitError(
                f"GitHub rate limit while {where} (HTTP {status}{said}); "
                f"GitHub asks to wait {wait:.0f} s",
                status=status,
                retry_after=wait,
            )
    if status >= 500:
        return GitHubUnavailableError(
            f"GitHub failed while {where} (HTTP {status}{said})",
            status=status,
            retry_after=retry_after.seconds(head.get("retry-after"), now),
        )
    if status == 401:
        return GitHubAuthError(
            f"GitHub rejected the token while {where} (HTTP 401 {message or 'Bad credentials'}): "
            "bad credentials — check the token given to macoder (the action's `github-token`)",
            status=status,
        )
    if status == 403 and ACTIONS_MAY_NOT_OPEN_PRS in message.lower():
        return GitHubForbiddenError(
            f"GitHub refused {where} (HTTP 403{said}): this is a repository setting, not the "
            "workflow's permissions — turn on Settings > Actions > General > Workflow "
            'permissions > "Allow GitHub Actions to create and approve pull requests" (in the '
            "organization's settings too, where it is off there), or give the publish job a "
            "personal access token or a GitHub App token as MACODER_TOKEN",
            status=status,
        )
    if status == 403:
        return GitHubForbiddenError(
            f"GitHub refused {where} (HTTP 403{said}): the token lacks a permission "
            "(the workflow needs `contents: write` and `pull-requests: write`)",
            status=status,
        )
    if status == 404:
        return GitHubNotFoundError(
            f"GitHub: not found while {where} (HTTP 404): the repository {slug} does not "
            "exist or the token cannot see it",
            status=status,
        )
    if status == 422:
        messages, codes = validation_errors(data)
        details = "; ".join(messages) or message or "Validation Failed"
        kind = (
            PullRequestExistsError
            if any(_EXISTS in text.lower() for text in messages)
            else GitHubValidationError
        )
        return kind(
            f"GitHub refused {where} (HTTP 422): {details}",
            status=status,
            messages=messages,
            codes=codes,
        )
    return GitHubError(f"GitHub answered HTTP {status} while {where}{said}", status=status)


def rate_limit_wait(
    status: int, headers: Mapping[str, str], message: str, now: float
) -> float | None:
    """Seconds to wait before retrying a 403/429, or None when it is not a rate limit.

    `retry-after` wins; then a spent primary quota waits until its reset; then GitHub's
    secondary-limit message (or a bare 429) waits the documented minute.
    """
    head = _lower(headers)
    after = retry_after.seconds(head.get("retry-after"), now)
    if after is not None:
        return after
    if head.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in head:
        try:
            reset = float(head["x-ratelimit-reset"])
        except ValueError:
            return SECONDARY_DEFAULT_WAIT_S
        return max(0.0, reset - now) + RESET_MARGIN_S
    lowered = message.lower()
    if status == 429 or "secondary rate limit" in lowered or "abuse" in lowered:
        return SECONDARY_DEFAULT_WAIT_S
    return None


def _message(data: Any) -> str:
    if isinstance(data, Mapping) and isinstance(data.get("message"), str):
        return str(data["message"])
    return ""


def validation_errors(data: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Readable messages and the codes of GitHub's `errors[]` (entries are strings or objects)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("errors"), list):
        return (), ()
    messages: list[str] = []
    codes: list[str] = []
    for entry in data["errors"]:
        if isinstance(entry, str):
            messages.append(entry)
            continue
        if not isinstance(entry, Mapping):
            continue
        code = str(entry.get("code", ""))
        codes.append(code)
        if isinstance(entry.get("message"), str):
            messages.append(entry["message"])
        else:
            subject = ".".join(
                str(entry[key]) for key in ("resource", "field") if entry.get(key) is not None
            )
            messages.append(f"{subject}: {code}" if subject else code)
    return tuple(messages), tuple(codes)


def next_link(link_header: str | None) -> str | None:
    """The `rel="next"` URL of a `Link` header (GitHub's pagination), or None on the last page."""
    if not link_header:
        return None
    for url, rel in _LINK.findall(link_header):
        if "next" in rel.split():
            return str(url)
    return None


def _timestamp(value: Any) -> float:
    if not isinstance(value, str) or not value:
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def parse_pull(data: Any, slug: Slug, *, branch: str | None = None) -> PullRequest | None:
    """A macoder `PullRequest` from a pull-request object, or None when it is not macoder's.

    Macoder's are the ones whose head is a `macoder/<task id>` branch of this very repository;
    a fork's branch of the same name is someone else's and must never be updated. With
    `branch` (a track's plan branch, `macoder/plan-<track>`), exactly the PRs of that head of
    this repository are, with no task (`task_id` is "").
    """
    if not isinstance(data, Mapping):
        raise GitHubError(f"{slug}: GitHub sent a pull request that is not an object")
    try:
        head = data["head"]
        base = data["base"]
        head_ref = str(head["ref"])
        number = int(data["number"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GitHubError(f"{slug}: GitHub sent a pull request without {exc}") from None
    subject = pr_subject(head_ref) if not head_ref.startswith("refs/") else None
    repo = head.get("repo") if isinstance(head, Mapping) else None
    full_name = repo.get("full_name") if isinstance(repo, Mapping) else None
    kind: PrKind = "task"
    if branch is not None:
        if head_ref != branch:
            return None
        task_id = ""
    elif subject is None:
        return None
    else:
        kind, task_id = subject
    if not isinstance(full_name, str) or full_name.lower() != str(slug).lower():
        return None
    merged = bool(data.get("merged_at"))
    closed = data.get("state") == "closed"
    merge_sha = data.get("merge_commit_sha")
    state = PrState.MERGED if merged else PrState.CLOSED if closed else PrState.OPEN
    labels = tuple(
        str(label["name"])
        for label in data.get("labels") or []
        if isinstance(label, Mapping) and "name" in label
    )
    return PullRequest(
        number=number,
        task_id=task_id,
        branch=head_ref,
        base=str(base.get("ref", "")) if isinstance(base, Mapping) else "",
        title=str(data.get("title") or ""),
        body=str(data.get("body") or ""),
        state=state,
        draft=bool(data.get("draft")),
        head_sha=str(head.get("sha", "")),
        url=str(data.get("html_url") or ""),
        node_id=str(data.get("node_id") or ""),
        labels=labels,
        created_at=_timestamp(data.get("created_at")),
        updated_at=_timestamp(data.get("updated_at")),
        merged_sha=str(merge_sha) if merged and merge_sha else None,
        merged_at=_timestamp(data.get("merged_at")) if merged else None,
        kind=kind,
        # Only a single PR's object has `mergeable` (null while GitHub computes it).
        conflicts=state is PrState.OPEN and data.get("mergeable") is False,
    )


def parse_pulls(data: Any, slug: Slug) -> list[PullRequest]:
    """macoder's pull requests in one page of a pull-request list."""
    if not isinstance(data, list):
        raise GitHubError(f"{slug}: GitHub sent a pull-request list that is not a list")
    return [pr for item in data if (pr := parse_pull(item, slug)) is not None]


def branch_tips(data: Any) -> dict[str, str]:
    """Branch name -> tip commit, from a list of git-ref objects (`refs/heads/<name>`)."""
    if not isinstance(data, list):
        return {}
    tips: dict[str, str] = {}
    for item in data:
        ref = item.get("ref") if isinstance(item, Mapping) else None
        target = item.get("object") if isinstance(item, Mapping) else None
        if isinstance(ref, str) and ref.startswith("refs/heads/") and isinstance(target, Mapping):
            tips[ref.removeprefix("refs/heads/")] = str(target.get("sha", ""))
    return tips


def label_names(data: Any) -> tuple[str, ...]:
    """Names from a list of label objects (the answer to adding labels)."""
    if not isinstance(data, list):
        return ()
    return tuple(str(item["name"]) for item in data if isinstance(item, Mapping) and "name" in item)
