"""A stateful fake of GitHub's REST API on 127.0.0.1, for tests and the Action's local run.

Why it exists: the GitHub forge must be tested on the paths that matter — one PR per task,
racing jobs, rate limits, outages, bad tokens — with no network and no account. The fake keeps
the state those flows touch (pull requests, labels, issue labels and comments) and reads refs
from a local bare repository that plays the git remote, so a push with git shows up in the
next API answer (`head.sha`), as on GitHub.

Answers are shaped like GitHub's: every field the OpenAPI description requires for the
pull-request, pull-request-simple, label and issue-comment objects (the tests validate every
exchange against `@octokit/openapi`), GitHub's error bodies (`message`, `documentation_url`,
`errors[]` on 422) and its rate-limit headers. Faults are injected in order: N times a 5xx,
a secondary rate limit (403 + `retry-after`), a primary one (`x-ratelimit-remaining: 0` +
`x-ratelimit-reset`). Every exchange is recorded (`exchanges`) for assertions.

Implemented, under `/repos/{o}/{r}`:

- `GET/POST /pulls` (filters `state`, `head=owner:branch`, `base`; `per_page`/`page` with
  `Link`), `GET/PATCH /pulls/{n}`;
- `GET/POST /labels`, `GET /labels/{name}`, `GET/POST /issues/{n}/labels`,
  `DELETE /issues/{n}/labels/{name}`, `GET/POST /issues/{n}/comments`,
  `GET/PATCH/DELETE /issues/comments/{id}`, `POST /issues/comments/{id}/reactions`;
- reviews people submit (`add_review`): `GET /pulls/{n}/reviews/{id}`, `GET
  /pulls/{n}/reviews/{id}/comments`, `GET /pulls/{n}/comments` (every line comment of a PR);
- what a person's PR options touch: `PATCH /issues/{n}` (milestone, assignees), `POST
  /issues/{n}/assignees` (anyone not a collaborator silently dropped, as GitHub does), `POST
  /pulls/{n}/requested_reviewers` (422 for the PR's author or a non-collaborator);
- `PUT /pulls/{n}/merge` (a real merge commit in the bare repository), `GET
  /git/matching-refs/{ref}` and `DELETE /git/refs/{ref}` (the task branch after a merge);

`POST /git/refs` (a branch created at a commit);

and `POST /graphql` for the two draft-state mutations (`markPullRequestReadyForReview`,
`convertPullRequestToDraft`), the `viewer` query and `createCommitOnBranch` — a real commit
in the bare repository on top of exactly `expectedHeadOid`, authored as the token's owner
(`viewers`), committed as GitHub, and signed (`signed`); `fake_graphql.py` validates every
document against GitHub's published GraphQL schema when it is installed. Anything else is a
GitHub-style 404.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, quote, unquote, urlsplit

from multi_agent_coder.git.env import run_git
from testing import fake_graphql
from testing.loopback import LoopbackServer

DOCS: Final = "https://docs.github.com/rest"
WEB: Final = "https://github.com"
SUPPORTED_VERSIONS: Final = frozenset({"2022-11-28"})
SECONDARY_MESSAGE: Final = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)

_REPO_PATH: Final = re.compile(r"/repos/([^/]+)/([^/]+)(/.*)?")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request as received and the answer as sent (bodies as raw bytes)."""

    method: str
    path: str
    query: str
    request_headers: Mapping[str, str]
    request_body: bytes
    status: int
    response_headers: Mapping[str, str]
    response_body: bytes

    def request_json(self) -> Any:
        return json.loads(self.request_body) if self.request_body else None

    def response_json(self) -> Any:
        return json.loads(self.response_body) if self.response_body else None


#: GitHub's message when workflows may not open pull requests (a repository setting).
ACTIONS_MAY_NOT_OPEN_PRS = "GitHub Actions is not permitted to create or approve pull requests."


def _token(headers: Mapping[str, str]) -> str:
    """The token of an `Authorization: Bearer|token <token>` header ("" when there is none)."""
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    return auth.partition(" ")[2]


#: The reactions GitHub accepts (`content` of POST .../reactions).
REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


@dataclass
class Fault:
    """Answer the next `times` matching requests with `status`, `headers` and `body`."""

    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path in path
        )


@dataclass
class _Pull:
    number: int
    title: str
    body: str | None
    head: str
    base: str
    draft: bool
    head_sha: str
    created_at: float
    updated_at: float
    state: str = "open"
    closed_at: float | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    milestone: int | None = None
    #: Set by a merge through the API, or by `merged_by_a_person`.
    merged_at: float | None = None
    merge_sha: str | None = None


@dataclass
class _Repo:
    owner: str
    name: str
    bare: Path
    id: int
    next_number: int = 1
    pulls: dict[int, _Pull] = field(default_factory=dict)
    labels: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: comment id -> the reactions on it (their `content`), in order.
    reactions: dict[int, list[str]] = field(default_factory=dict)
    collaborators: set[str] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)
    milestones: dict[int, str] = field(default_factory=dict)
    #: review id -> (PR number, the review as GitHub answers it).
    reviews: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    #: PR number -> its line (review) comments, oldest first.
    review_comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class _Answer(Exception):
    """Raised inside a route to answer at once (errors)."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _error(status: int, message: str) -> _Answer:
    """GitHub's error body: `message`, `documentation_url` and the status as a string."""
    return _Answer(status, {"message": message, "documentation_url": DOCS, "status": str(status)})


def _not_found() -> _Answer:
    return _error(404, "Not Found")


def _validation(*errors: Mapping[str, Any], message: str = "Validation Failed") -> _Answer:
    return _Answer(
        422,
        {"message": message, "errors": [dict(e) for e in errors], "documentation_url": DOCS},
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub(LoopbackServer):
    """The fake API server; add repositories, start it, point `api_url` at it."""

    thread_name = "fake-github"

    def __init__(
        self,
        token: str = "fake-token",  # noqa: S107 - the fake's own made-up token
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        login: str = "macoder-bot",
        graphql_schema: Any = fake_graphql.INSTALLED,
    ) -> None:
        """`graphql_schema`: GitHub's GraphQL schema (`fake_graphql.load_schema()`) to hold
        every GraphQL document to; None answers them unchecked; by default the installed
        schema, loaded at the first GraphQL request (unchecked where it is not installed)."""
        super().__init__(host, port)
        self.graphql_schema = graphql_schema
        self.tokens = {token}
        #: Tokens that may read but not write (a job's `contents: read` GITHUB_TOKEN).
        self.read_only_tokens: set[str] = set()
        #: Tokens that act like a workflow's GITHUB_TOKEN: REST writes work, but GitHub
        #: refuses it the GraphQL draft-state mutations (FORBIDDEN).
        self.actions_tokens: set[str] = set()
        #: The repository setting "Allow GitHub Actions to create and approve pull requests":
        #: off, an `actions_tokens` token gets GitHub's 403 on creating a pull request.
        self.actions_may_open_prs = True
        #: Branch protection's answer to a merge (e.g. "At least 1 approving review is
        #: required by reviewers with write access."): set, every merge gets it as a 405.
        self.merges_blocked: str | None = None
        #: `workflow_dispatch` events asked for: (workflow file, ref), in order.
        self.dispatches: list[tuple[str, str]] = []
        #: The `inputs` of each dispatch, in the order of `dispatches` ({} when none).
        self.dispatch_inputs: list[dict[str, str]] = []
        #: Whose each token is, as GraphQL's `viewer` says (login, database id): by default a
        #: workflow's GITHUB_TOKEN (`actions_tokens`) is `github-actions[bot]`, any other the
        #: user `login`. Set an App's bot (`name[bot]`) for an App's token.
        self.viewers: dict[str, tuple[str, int]] = {}
        #: The commits GitHub made and signed itself (`createCommitOnBranch`): verified.
        self.signed: set[str] = set()
        self.login = login
        self.clock = clock
        self._lock = threading.RLock()
        self._repos: dict[str, _Repo] = {}
        self._faults: list[Fault] = []
        self._exchanges: list[Exchange] = []
        self._ids = 1000
        #: Called (outside the state lock) with method and path before a request is handled;
        #: tests use it to hold requests at a barrier and force races.
        self.before_request: Callable[[str, str], None] | None = None

    # ----------------------------------------------------------------- lifecycle

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    @property
    def api_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # ----------------------------------------------------------------- set-up and faults

    def add_repo(self, slug: str, bare: Path) -> None:
        """Serve `slug`, whose git remote is the bare repository at `bare`."""
        owner, name = slug.split("/")
        with self._lock:
            self._repos[slug.lower()] = _Repo(owner, name, bare, self._new_id())

    def fail(
        self,
        status: int = 500,
        times: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        headers: Mapping[str, str] | None = None,
        message: str = "Server Error",
    ) -> None:
        """The next `times` matching requests get `status` (default: a 500)."""
        body = {"message": message, "documentation_url": DOCS, "status": str(status)}
        with self._lock:
            self._faults.append(
                Fault(status, times, dict(headers or {}), body, method=method, path=path)
            )

    def secondary_rate_limit(
        self, times: int = 1, *, retry_after: int = 7, method: str | None = None
    ) -> None:
        """403 with `retry-after`, GitHub's answer to too many requests too fast."""
        self.fail(
            403,
            times,
            method=method,
            headers={"retry-after": str(retry_after)},
            message=SECONDARY_MESSAGE,
        )

    def primary_rate_limit(
        self, times: int = 1, *, reset_in: int = 30, method: str | None = None
    ) -> None:
        """403 with `x-ratelimit-remaining: 0` and the reset `reset_in` seconds from now."""
        reset = int(self.clock()) + reset_in
        self.fail(
            403,
            times,
            method=method,
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
            message="API rate limit exceeded for user ID 1.",
        )

    # ----------------------------------------------------------------- inspection

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def clear_exchanges(self) -> None:
        with self._lock:
            self._exchanges.clear()

    def pulls(self, slug: str) -> list[dict[str, Any]]:
        """Every pull request of `slug` (open and closed), as GitHub would render it."""
        with self._lock:
            repo = self._repos[slug.lower()]
            return [self._pull_json(repo, pr, full=True) for pr in repo.pulls.values()]

    def merged_by_a_person(self, slug: str, number: int) -> None:
        """PR `number` as GitHub shows it once a person merged it (the branches are not
        touched: a test that needs the merge on the default branch pushes it itself)."""
        with self._lock:
            pr = self._repos[slug.lower()].pulls[number]
            pr.state, pr.closed_at = "closed", time.time()
            pr.merged_at = pr.closed_at

    def comments(self, slug: str, number: int) -> list[str]:
        with self._lock:
            return [c["body"] for c in self._repos[slug.lower()].comments.get(number, [])]

    def add_collaborators(self, slug: str, *logins: str) -> None:
        """People with push access: who may be assigned or asked for a review."""
        with self._lock:
            self._repos[slug.lower()].collaborators.update(logins)

    def add_teams(self, slug: str, *team_slugs: str) -> None:
        """Teams with access to the repository: which may be asked for a review."""
        with self._lock:
            self._repos[slug.lower()].teams.update(team_slugs)

    def add_milestone(self, slug: str, title: str) -> int:
        """An open milestone; returns its number."""
        with self._lock:
            milestones = self._repos[slug.lower()].milestones
            number = len(milestones) + 1
            milestones[number] = title
            return number

    def label_colours(self, slug: str) -> dict[str, str]:
        with self._lock:
            return {name: c for name, (_, c, _) in self._repos[slug.lower()].labels.items()}

    # ----------------------------------------------------------------- handling

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request; public so tests can drive the fake without a socket."""
        url = urlsplit(target)
        if self.before_request is not None:
            self.before_request(method, url.path)
        with self._lock:
            try:
                status, payload, extra = self._route(method, url.path, url.query, headers, body)
            except _Answer as answer:
                status, payload, extra = answer.status, answer.body, answer.headers
            except Exception as exc:  # a bug in the fake: say so instead of hanging up
                status, extra = 500, {}
                payload = {"message": f"fake GitHub failed: {exc!r}", "documentation_url": DOCS}
            out_headers = self._rate_headers()
            out_headers.update(extra)
            data = b"" if payload is None else json.dumps(payload).encode()
            if payload is not None:
                out_headers["Content-Type"] = "application/json; charset=utf-8"
            self._exchanges.append(
                Exchange(
                    method,
                    url.path,
                    url.query,
                    dict(headers),
                    body,
                    status,
                    dict(out_headers),
                    data,
                )
            )
            return status, out_headers, data

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": str(int(self.clock()) + 3600),
            "x-ratelimit-used": "1",
            "x-ratelimit-resource": "core",
        }

    def _route(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        for fault in self._faults:
            if fault.times > 0 and fault.matches(method, path):
                fault.times -= 1
                raise _Answer(fault.status, fault.body, fault.headers)
        if path == "/graphql" and method == "POST":
            return self._graphql(headers, body)
        self._check_auth(headers, method)
        match = _REPO_PATH.fullmatch(path)
        repo = self._repos.get(f"{match[1]}/{match[2]}".lower()) if match else None
        if match is None or repo is None:
            raise _not_found()
        tail = match[3] or ""
        params = {key: values[-1] for key, values in parse_qs(query).items()}
        data = self._json_body(body)
        number = re.fullmatch(
            r"/(pulls|issues)/(\d+)"
            r"(/labels(?:/[^/]+)?|/comments|/assignees|/requested_reviewers|/merge)?",
            tail,
        )
        edited = re.fullmatch(r"/issues/comments/(\d+)", tail)
        if edited is not None and method in ("GET", "PATCH", "DELETE"):
            return self._on_comment(repo, int(edited[1]), method, data)
        reviewed = re.fullmatch(r"/pulls/(\d+)/(?:reviews/(\d+)(/comments)?|(comments))", tail)
        if reviewed is not None and method == "GET":
            return self._on_review(repo, int(reviewed[1]), reviewed[2], bool(reviewed[3]))
        reacted = re.fullmatch(r"/issues/comments/(\d+)/reactions", tail)
        if reacted is not None and method == "POST":
            return self._react(repo, int(reacted[1]), data)
        dispatched = re.fullmatch(r"/actions/workflows/([^/]+)/dispatches", tail)
        if dispatched is not None and method == "POST":
            ref = data.get("ref") if isinstance(data, dict) else None
            if not isinstance(ref, str) or self._sha(repo, ref) is None:
                raise _validation({"resource": "Workflow", "code": "invalid", "field": "ref"})
            inputs = data.get("inputs", {})
            if not isinstance(inputs, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()
            ):  # GitHub: a mapping of the workflow's input names to strings
                raise _validation({"resource": "Workflow", "code": "invalid", "field": "inputs"})
            self.dispatches.append((unquote(dispatched[1]), ref))
            self.dispatch_inputs.append(dict(inputs))
            return 204, None, {}
        if tail == "/git/refs" and method == "POST":
            return self._create_ref(repo, data)
        ref = re.fullmatch(r"/git/(matching-refs|refs)/([^/]+)", tail)
        if ref is not None:
            return self._on_ref(repo, method, kind=ref[1], ref=unquote(ref[2]))
        if tail == "/pulls" and method == "GET":
            return self._list_pulls(repo, params)
        if tail == "/pulls" and method == "POST":
            if not self.actions_may_open_prs and _token(headers) in self.actions_tokens:
                raise _error(403, ACTIONS_MAY_NOT_OPEN_PRS)
            return self._create_pull(repo, data)
        if tail == "/labels" and method == "GET":
            return 200, [self._label_json(repo, name) for name in repo.labels], {}
        if tail == "/labels" and method == "POST":
            return self._create_label(repo, data)
        if tail.startswith("/labels/") and method == "GET":
            wanted = unquote(tail.removeprefix("/labels/")).lower()
            name = next((n for n in repo.labels if n.lower() == wanted), None)
            if name is None:
                raise _not_found()
            return 200, self._label_json(repo, name), {}
        if number is not None:
            pr = repo.pulls.get(int(number[2]))
            if pr is None:
                raise _not_found()
            return self._on_number(repo, pr, method, kind=number[1], sub=number[3] or "", data=data)
        raise _not_found()

    def _on_number(
        self, repo: _Repo, pr: _Pull, method: str, *, kind: str, sub: str, data: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if kind == "pulls" and not sub and method == "GET":
            return 200, self._pull_json(repo, pr, full=True), {}
        if kind == "pulls" and not sub and method == "PATCH":
            return self._update_pull(repo, pr, data)
        if kind == "issues" and sub == "/labels" and method == "GET":
            return 200, [self._label_json(repo, name) for name in pr.labels], {}
        if kind == "issues" and sub == "/labels" and method == "POST":
            return self._add_labels(repo, pr, data)
        if kind == "issues" and sub.startswith("/labels/") and method == "DELETE":
            name = unquote(sub.removeprefix("/labels/"))
            if name not in pr.labels:  # GitHub: 404 "Label does not exist"
                raise _error(404, "Label does not exist")
            pr.labels.remove(name)
            pr.updated_at = self.clock()
            return 200, [self._label_json(repo, label) for label in pr.labels], {}
        if kind == "issues" and sub == "/comments" and method == "GET":
            return 200, repo.comments.get(pr.number, []), {}
        if kind == "issues" and sub == "/comments" and method == "POST":
            return self._comment(repo, pr, data)
        if kind == "issues" and not sub and method == "PATCH":
            return self._update_issue(repo, pr, data)
        if kind == "issues" and sub == "/assignees" and method == "POST":
            names = data.get("assignees") if isinstance(data, dict) else None
            self._assign(repo, pr, names if isinstance(names, list) else [])
            return 201, self._issue_json(repo, pr), {}
        if kind == "pulls" and sub == "/requested_reviewers" and method == "POST":
            return self._request_reviewers(repo, pr, data)
        if kind == "pulls" and sub == "/merge" and method == "PUT":
            return self._merge(repo, pr, data if isinstance(data, dict) else {})
        raise _not_found()

    def _check_auth(self, headers: Mapping[str, str], method: str = "GET") -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        auth = lowered.get("authorization", "")
        if not auth:
            raise _error(401, "Requires authentication")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token not in (
            self.tokens | self.read_only_tokens
        ):
            raise _error(401, "Bad credentials")
        if token in self.read_only_tokens and method != "GET":
            raise _error(403, "Resource not accessible by integration")
        version = lowered.get("x-github-api-version")
        if version is not None and version not in SUPPORTED_VERSIONS:
            raise _error(400, f"API version {version} is not supported.")

    @staticmethod
    def _json_body(body: bytes) -> Any:
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise _error(400, "Problems parsing JSON") from None

    # ----------------------------------------------------------------- git

    @staticmethod
    def _sha(repo: _Repo, branch: str) -> str | None:
        result = run_git(
            ["rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}"],
            repo.bare,
            check=False,
        )
        if result.returncode != 0:
            return None
        return result.stdout.decode().strip() or None

    @staticmethod
    def _default_branch(repo: _Repo) -> str:
        result = run_git(["symbolic-ref", "--short", "HEAD"], repo.bare, check=False)
        return result.stdout.decode().strip() or "main"

    @staticmethod
    def _count(repo: _Repo, base: str, head: str) -> int:
        result = run_git(["rev-list", "--count", f"{base}..{head}"], repo.bare, check=False)
        text = result.stdout.decode().strip()
        return int(text) if text.isdigit() else 0

    # ----------------------------------------------------------------- pulls

    def _list_pulls(
        self, repo: _Repo, params: Mapping[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        state = params.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _validation({"resource": "PullRequest", "field": "state", "code": "invalid"})
        pulls = [p for p in repo.pulls.values() if state in ("all", p.state)]
        if "head" in params:
            owner, _, branch = params["head"].partition(":")
            pulls = [p for p in pulls if owner.lower() == repo.owner.lower() and p.head == branch]
        if "base" in params:
            pulls = [p for p in pulls if p.base == params["base"]]
        pulls.sort(key=lambda p: p.number, reverse=True)
        per_page = max(1, min(100, int(params.get("per_page", "30"))))
        page = max(1, int(params.get("page", "1")))
        last = max(1, -(-len(pulls) // per_page))
        chunk = pulls[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if last > 1:
            base = f"{self.api_url}/repos/{repo.full_name}/pulls?"
            keep = {k: v for k, v in params.items() if k not in ("page", "per_page")}
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in keep.items())
            prefix = f"{base}{query}&per_page={per_page}" if query else f"{base}per_page={per_page}"
            links = []
            if page < last:
                links.append(f'<{prefix}&page={page + 1}>; rel="next"')
                links.append(f'<{prefix}&page={last}>; rel="last"')
            if page > 1:
                links.append(f'<{prefix}&page=1>; rel="first"')
                links.append(f'<{prefix}&page={page - 1}>; rel="prev"')
            headers["Link"] = ", ".join(links)
        return 200, [self._pull_json(repo, p, full=False) for p in chunk], headers

    def _open_for(self, repo: _Repo, head: str) -> _Pull | None:
        return next((p for p in repo.pulls.values() if p.head == head and p.state == "open"), None)

    def _create_pull(self, repo: _Repo, data: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(data, dict):
            raise _validation({"resource": "PullRequest", "code": "missing_field"})
        for name in ("title", "head", "base"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise _validation(
                    {"resource": "PullRequest", "field": name, "code": "missing_field"}
                )
        self._check_lengths(data)
        owner, _, branch = str(data["head"]).rpartition(":")
        if owner and owner.lower() != repo.owner.lower():
            raise _validation({"resource": "PullRequest", "field": "head", "code": "invalid"})
        head_sha = self._sha(repo, branch)
        if head_sha is None:
            raise _validation({"resource": "PullRequest", "field": "head", "code": "invalid"})
        base_sha = self._sha(repo, data["base"])
        if base_sha is None:
            raise _validation({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if self._open_for(repo, branch) is not None:
            raise _validation(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {repo.owner}:{branch}.",
                }
            )
        if head_sha == base_sha or self._count(repo, base_sha, head_sha) == 0:
            raise _validation(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"No commits between {data['base']} and {branch}",
                }
            )
        now = self.clock()
        number = repo.next_number
        repo.next_number += 1
        pr = _Pull(
            number=number,
            title=data["title"],
            body=data.get("body"),
            head=branch,
            base=data["base"],
            draft=bool(data.get("draft", False)),
            head_sha=head_sha,
            created_at=now,
            updated_at=now,
        )
        repo.pulls[number] = pr
        location = f"{self.api_url}/repos/{repo.full_name}/pulls/{number}"
        return 201, self._pull_json(repo, pr, full=True), {"Location": location}

    @staticmethod
    def _check_lengths(data: Mapping[str, Any]) -> None:
        for name, limit in (("title", 256), ("body", 65536)):
            if isinstance(data.get(name), str) and len(data[name]) > limit:
                raise _validation(
                    {
                        "resource": "PullRequest",
                        "field": name,
                        "code": "custom",
                        "message": f"{name} is too long (maximum is {limit} characters)",
                    }
                )

    def _update_pull(self, repo: _Repo, pr: _Pull, data: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(data, dict):
            raise _error(400, "Problems parsing JSON")
        state = data.get("state")
        if state is not None and state not in ("open", "closed"):
            raise _validation({"resource": "PullRequest", "field": "state", "code": "invalid"})
        if state == "open" and pr.state == "closed":
            other = self._open_for(repo, pr.head)
            if other is not None:
                raise _validation(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {repo.owner}:{pr.head}.",
                    }
                )
        self._check_lengths(data)
        if "base" in data and self._sha(repo, str(data["base"])) is None:
            raise _validation({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if pr.state == "open":
            pr.head_sha = self._sha(repo, pr.head) or pr.head_sha
        pr.title = str(data.get("title", pr.title))
        pr.body = data.get("body", pr.body)
        pr.base = str(data.get("base", pr.base))
        if state is not None and state != pr.state:
            pr.state = state
            pr.closed_at = self.clock() if state == "closed" else None
        pr.updated_at = self.clock()
        return 200, self._pull_json(repo, pr, full=True), {}

    # ----------------------------------------------------------------- PR options

    def _update_issue(self, repo: _Repo, pr: _Pull, data: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(data, dict):
            raise _error(400, "Problems parsing JSON")
        if "milestone" in data:
            milestone = data["milestone"]
            if milestone is not None and milestone not in repo.milestones:
                raise _validation({"resource": "Issue", "field": "milestone", "code": "invalid"})
            pr.milestone = milestone
        if isinstance(data.get("assignees"), list):
            pr.assignees = []
            self._assign(repo, pr, data["assignees"])
        pr.updated_at = self.clock()
        return 200, self._issue_json(repo, pr), {}

    @staticmethod
    def _assign(repo: _Repo, pr: _Pull, names: list[Any]) -> None:
        """GitHub: "Only users with push access can add assignees to an issue. Assignees are
        silently ignored otherwise." """
        for name in names:
            if name in repo.collaborators and name not in pr.assignees:
                pr.assignees.append(name)

    def _request_reviewers(
        self, repo: _Repo, pr: _Pull, data: Any
    ) -> tuple[int, Any, dict[str, str]]:
        given = data if isinstance(data, dict) else {}
        people = [str(name) for name in given.get("reviewers") or []]
        teams = [str(name) for name in given.get("team_reviewers") or []]
        if self.login in people:
            raise _validation(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": "Review cannot be requested from pull request author.",
                },
                message="Validation Failed",
            )
        unknown = [n for n in people if n not in repo.collaborators]
        unknown += [t for t in teams if t not in repo.teams]
        if unknown:
            raise _validation(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": "Reviews may only be requested from collaborators. One or more "
                    "of the users or teams you specified is not a collaborator of the "
                    f"{repo.full_name} repository.",
                },
            )
        pr.reviewers += [n for n in people if n not in pr.reviewers]
        pr.teams += [t for t in teams if t not in pr.teams]
        pr.updated_at = self.clock()
        return 201, self._pull_json(repo, pr, full=False), {}

    # ----------------------------------------------------------------- merges and refs

    def _merges(self, repo: _Repo, pr: _Pull) -> bool:
        """Whether the PR's head merges into its base's head without a conflict."""
        base, head = self._sha(repo, pr.base), self._sha(repo, pr.head)
        if base is None or head is None:
            return False
        return (
            run_git(["merge-tree", "--write-tree", base, head], repo.bare, check=False).returncode
            == 0
        )

    def _merge(
        self, repo: _Repo, pr: _Pull, data: Mapping[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        """A merge commit of head into base (or, `merge_method: squash`, one commit with the
        merged tree on the base), made in the bare repository as GitHub makes it; 409 when
        `sha` is given and the head is elsewhere, 405 when it cannot be merged."""
        if pr.state != "open" or pr.draft:
            raise _error(405, "Pull Request is not mergeable")
        base = self._sha(repo, pr.base)
        head = self._sha(repo, pr.head)
        if base is None or head is None:
            raise _error(405, "Pull Request is not mergeable")
        if data.get("sha") not in (None, head):
            raise _error(409, "Head branch was modified. Review and try the merge again.")
        if self.merges_blocked is not None:
            raise _error(405, self.merges_blocked)
        tree = run_git(["merge-tree", "--write-tree", base, head], repo.bare, check=False)
        if tree.returncode != 0:
            raise _error(405, "Pull Request is not mergeable")
        identity = {
            "GIT_AUTHOR_NAME": "GitHub",
            "GIT_AUTHOR_EMAIL": "noreply@github.com",
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
        }
        message = f"Merge pull request #{pr.number} from {repo.owner}/{pr.head}"
        tree_sha = tree.stdout.decode().split()[0]
        squash = data.get("merge_method") == "squash"
        parents = ["-p", base] if squash else ["-p", base, "-p", head]
        commit = (
            run_git(
                ["commit-tree", tree_sha, *parents, "-m", message],
                repo.bare,
                extra_env=identity,
            )
            .stdout.decode()
            .strip()
        )
        run_git(["update-ref", f"refs/heads/{pr.base}", commit, base], repo.bare)
        now = self.clock()
        pr.head_sha = head
        pr.state = "closed"
        pr.closed_at = pr.merged_at = pr.updated_at = now
        pr.merge_sha = commit
        merged = {"sha": commit, "merged": True, "message": "Pull Request successfully merged"}
        return 200, merged, {}

    def _on_ref(
        self, repo: _Repo, method: str, *, kind: str, ref: str
    ) -> tuple[int, Any, dict[str, str]]:
        if kind == "matching-refs" and method == "GET":
            listed = run_git(
                ["for-each-ref", "--format=%(refname) %(objectname)", f"refs/{ref}"],
                repo.bare,
            ).stdout.decode()
            refs = [line.split() for line in listed.splitlines() if line.strip()]
            return 200, [self._ref_json(repo, name, sha) for name, sha in refs], {}
        if kind == "refs" and method == "DELETE":
            name = f"refs/{ref}"
            if name == f"refs/heads/{self._default_branch(repo)}":
                raise _validation({"resource": "Reference", "code": "custom"})
            if run_git(["rev-parse", "--verify", "-q", name], repo.bare, check=False).returncode:
                raise _Answer(
                    422, {"message": "Reference does not exist", "documentation_url": DOCS}
                )
            run_git(["update-ref", "-d", name], repo.bare)
            return 204, None, {}
        raise _not_found()

    def _create_ref(self, repo: _Repo, data: Any) -> tuple[int, Any, dict[str, str]]:
        """`POST /git/refs`: 422 when the ref exists, or the commit does not."""
        name = data.get("ref") if isinstance(data, dict) else None
        sha = data.get("sha") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name.startswith("refs/") or not isinstance(sha, str):
            raise _validation({"resource": "Reference", "code": "invalid", "field": "ref"})
        exists = run_git(["cat-file", "-e", f"{sha}^{{commit}}"], repo.bare, check=False)
        if exists.returncode != 0:
            raise _Answer(422, {"message": "Object does not exist", "documentation_url": DOCS})
        created = run_git(["update-ref", name, sha, ""], repo.bare, check=False)
        if created.returncode != 0:
            raise _Answer(422, {"message": "Reference already exists", "documentation_url": DOCS})
        return 201, self._ref_json(repo, name, sha), {}

    def _ref_json(self, repo: _Repo, name: str, sha: str) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{repo.full_name}/git"
        return {
            "ref": name,
            "node_id": f"REF_{repo.id}_{name}",
            "url": f"{api}/{name}",
            "object": {"type": "commit", "sha": sha, "url": f"{api}/commits/{sha}"},
        }

    # ----------------------------------------------------------------- GraphQL

    def _graphql(self, headers: Mapping[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        """GitHub's GraphQL: always HTTP 200 once authenticated, failures in `errors`. A
        read-only token may query but not mutate, and neither may a workflow's GITHUB_TOKEN
        (`actions_tokens`) for the draft-state mutations (GitHub: FORBIDDEN, "Resource not
        accessible by integration", whatever its `permissions:`)."""
        self._check_auth(headers, "GET")
        if self.graphql_schema is fake_graphql.INSTALLED:
            self.graphql_schema = fake_graphql.load_schema()
        token = headers.get("Authorization", headers.get("authorization", "")).partition(" ")[2]
        actions = token in self.actions_tokens
        mutations: dict[str, fake_graphql.Resolver] = {
            "markPullRequestReadyForReview": lambda args: self._set_draft(
                args, draft=False, actions=actions
            ),
            "convertPullRequestToDraft": lambda args: self._set_draft(
                args, draft=True, actions=actions
            ),
            "createCommitOnBranch": lambda args: self._create_commit(args, token),
        }
        queries: dict[str, fake_graphql.Resolver] = {"viewer": lambda _: self._viewer(token)}
        data = fake_graphql.answer(
            self._json_body(body),
            schema=self.graphql_schema,
            mutations=mutations,
            queries=queries,
            can_write=token not in self.read_only_tokens,
        )
        return 200, data, {}

    def viewer_of(self, token: str) -> tuple[str, int]:
        """The login and database id GitHub knows `token` by."""
        if token in self.viewers:
            return self.viewers[token]
        if token in self.actions_tokens:
            return "github-actions[bot]", 41898282
        return self.login, 1

    def _viewer(self, token: str) -> dict[str, Any]:
        login, number = self.viewer_of(token)
        return {"login": login, "databaseId": number, "id": f"U_{number}"}

    def _create_commit(self, args: Mapping[str, Any], token: str) -> dict[str, Any]:
        """`createCommitOnBranch`, as GitHub makes it: on top of exactly `expectedHeadOid`
        (else refused, nothing written), files written as regular files, authored by the
        token's owner, committed by GitHub, signed."""
        given = args.get("input")
        if not isinstance(given, Mapping):
            raise fake_graphql.GraphQLFault("INVALID", "input: expected an object")
        branch = given.get("branch") or {}
        repo = self._repos.get(str(branch.get("repositoryNameWithOwner", "")).lower())
        name = branch.get("branchName")
        if repo is None or not isinstance(name, str):
            raise fake_graphql.GraphQLFault("NOT_FOUND", "Could not resolve to a Repository")
        tip = self._sha(repo, name)
        if tip is None:
            raise fake_graphql.GraphQLFault(
                "NOT_FOUND", f'A ref named "refs/heads/{name}" does not exist.'
            )
        expected = given.get("expectedHeadOid")
        if expected != tip:
            raise fake_graphql.GraphQLFault(
                "STALE_DATA",
                f'Expected branch to point to "{expected}" but it did not. Pull and try again.',
            )
        tree = self._tree_with(repo, tip, given.get("fileChanges") or {})
        message = given.get("message") or {}
        text = str(message.get("headline", ""))
        if message.get("body"):
            text += "\n\n" + str(message["body"])
        login, number = self.viewer_of(token)
        email = (
            f"{number}+{login}@users.noreply.github.com"
            if login.endswith("[bot]")
            else f"{login}@users.noreply.github.com"
        )
        identity = {
            "GIT_AUTHOR_NAME": login,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
        }
        commit = (
            run_git(["commit-tree", tree, "-p", tip, "-m", text], repo.bare, extra_env=identity)
            .stdout.decode()
            .strip()
        )
        moved = run_git(["update-ref", f"refs/heads/{name}", commit, tip], repo.bare, check=False)
        if moved.returncode != 0:
            raise fake_graphql.GraphQLFault("STALE_DATA", "the branch moved; try again")
        self.signed.add(commit)
        return {
            "clientMutationId": given.get("clientMutationId"),
            "commit": {
                "oid": commit,
                "tree": {"oid": tree},
                "signature": {"isValid": True, "state": "VALID", "wasSignedByGitHub": True},
                "author": {"email": email, "name": login},
                "committer": {"email": "noreply@github.com", "name": "GitHub"},
            },
            "ref": {"name": f"refs/heads/{name}", "target": {"oid": commit}},
        }

    @staticmethod
    def _tree_with(repo: _Repo, tip: str, changes: Mapping[str, Any]) -> str:
        """The tree of `tip` with `changes` (additions as regular files, deletions)."""
        with tempfile.TemporaryDirectory(prefix="fake-github-index-") as folder:
            index = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
            run_git(["read-tree", tip], repo.bare, extra_env=index)
            for deletion in changes.get("deletions") or ():
                path = str(deletion.get("path", ""))
                listed = run_git(["ls-files", "--", path], repo.bare, extra_env=index).stdout
                if not listed.strip():
                    raise fake_graphql.GraphQLFault(
                        "UNPROCESSABLE",
                        f"A path was requested for deletion which does not exist as of commit "
                        f"oid `{tip}`: {path}",
                    )
                gone = f"0 {'0' * 40}\t{path}\n".encode()
                run_git(["update-index", "--index-info"], repo.bare, input=gone, extra_env=index)
            for addition in changes.get("additions") or ():
                path = str(addition.get("path", ""))
                try:
                    content = base64.b64decode(str(addition.get("contents", "")), validate=True)
                except ValueError:
                    raise fake_graphql.GraphQLFault(
                        "UNPROCESSABLE", f"contents of {path} are not base64"
                    ) from None
                blob = (
                    run_git(["hash-object", "-w", "--stdin"], repo.bare, input=content)
                    .stdout.decode()
                    .strip()
                )
                entry = f"100644 blob {blob}\t{path}\n".encode()
                run_git(["update-index", "--index-info"], repo.bare, input=entry, extra_env=index)
            return run_git(["write-tree"], repo.bare, extra_env=index).stdout.decode().strip()

    def _set_draft(
        self, args: Mapping[str, Any], *, draft: bool, actions: bool = False
    ) -> dict[str, Any]:
        if actions:  # GitHub refuses a workflow's GITHUB_TOKEN these, whatever `permissions:`
            raise fake_graphql.GraphQLFault("FORBIDDEN", "Resource not accessible by integration")
        given = args.get("input")
        if not isinstance(given, Mapping):
            raise fake_graphql.GraphQLFault("INVALID", "input: expected an object")
        node_id = given.get("pullRequestId")
        for repo in self._repos.values():
            for pr in repo.pulls.values():
                if self._pull_node_id(repo, pr) == node_id:
                    if pr.state != "open":
                        raise fake_graphql.GraphQLFault(
                            "UNPROCESSABLE", f"Pull request #{pr.number} is closed"
                        )
                    if pr.draft != draft:
                        pr.draft = draft
                        pr.updated_at = self.clock()
                    return {
                        "clientMutationId": given.get("clientMutationId"),
                        "pullRequest": self._pull_node(repo, pr),
                    }
        raise fake_graphql.GraphQLFault(
            "NOT_FOUND", f"Could not resolve to a node with the global id of '{node_id}'"
        )

    @staticmethod
    def _pull_node_id(repo: _Repo, pr: _Pull) -> str:
        return f"PR_{repo.id}_{pr.number}"

    def _pull_node(self, repo: _Repo, pr: _Pull) -> dict[str, Any]:
        """A `PullRequest` GraphQL object: the fields a draft-state answer may ask for."""
        return {
            "__typename": "PullRequest",
            "id": self._pull_node_id(repo, pr),
            "number": pr.number,
            "isDraft": pr.draft,
            "state": pr.state.upper(),
            "title": pr.title,
            "url": f"{WEB}/{repo.full_name}/pull/{pr.number}",
        }

    # ----------------------------------------------------------------- labels, comments

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids

    def _create_label(self, repo: _Repo, data: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise _validation({"resource": "Label", "field": "name", "code": "missing_field"})
        name = data["name"]
        if any(existing.lower() == name.lower() for existing in repo.labels):
            raise _validation({"resource": "Label", "code": "already_exists", "field": "name"})
        colour = str(data.get("color") or "ededed").lstrip("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", colour):
            raise _validation({"resource": "Label", "field": "color", "code": "invalid"})
        repo.labels[name] = (self._new_id(), colour, str(data.get("description") or ""))
        location = f"{self.api_url}/repos/{repo.full_name}/labels/{quote(name, safe='')}"
        return 201, self._label_json(repo, name), {"Location": location}

    def _add_labels(self, repo: _Repo, pr: _Pull, data: Any) -> tuple[int, Any, dict[str, str]]:
        names = data.get("labels") if isinstance(data, dict) else data
        if not isinstance(names, list) or not names:
            raise _validation({"resource": "Label", "field": "labels", "code": "missing_field"})
        for item in names:
            name = item if isinstance(item, str) else item.get("name")
            if not isinstance(name, str) or not name:
                raise _validation({"resource": "Label", "field": "name", "code": "invalid"})
            if name not in repo.labels:  # GitHub creates unknown labels with a grey colour
                repo.labels[name] = (self._new_id(), "ededed", "")
            if name not in pr.labels:
                pr.labels.append(name)
        pr.updated_at = self.clock()
        return 200, [self._label_json(repo, name) for name in pr.labels], {}

    def _comment(self, repo: _Repo, pr: _Pull, data: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(data, dict) or not isinstance(data.get("body"), str):
            raise _validation(
                {"resource": "IssueComment", "field": "body", "code": "missing_field"}
            )
        comment_id = self._new_id()
        now = _iso(self.clock())
        api = f"{self.api_url}/repos/{repo.full_name}"
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{api}/issues/comments/{comment_id}",
            "html_url": f"{WEB}/{repo.full_name}/pull/{pr.number}#issuecomment-{comment_id}",
            "body": data["body"],
            "user": self._user_json(),
            "created_at": now,
            "updated_at": now,
            "issue_url": f"{api}/issues/{pr.number}",
            "author_association": "NONE",
        }
        repo.comments.setdefault(pr.number, []).append(comment)
        return 201, comment, {"Location": comment["url"]}

    def _on_comment(
        self, repo: _Repo, comment_id: int, method: str, data: Any
    ) -> tuple[int, Any, dict[str, str]]:
        """Edit (PATCH) or delete a comment by its id, as GitHub's issue-comment endpoint."""
        for comments in repo.comments.values():
            for position, comment in enumerate(comments):
                if comment["id"] != comment_id:
                    continue
                if method == "GET":
                    return 200, comment, {}
                if method == "DELETE":
                    del comments[position]
                    return 204, None, {}
                if not isinstance(data, dict) or not isinstance(data.get("body"), str):
                    raise _validation(
                        {"resource": "IssueComment", "field": "body", "code": "missing_field"}
                    )
                comment["body"] = data["body"]
                comment["updated_at"] = _iso(self.clock())
                return 200, comment, {}
        raise _not_found()

    def _react(self, repo: _Repo, comment_id: int, data: Any) -> tuple[int, Any, dict[str, str]]:
        """A reaction on a comment (GitHub: 201 for a new one, 200 when it was there)."""
        if not any(c["id"] == comment_id for cs in repo.comments.values() for c in cs):
            raise _not_found()
        content = data.get("content") if isinstance(data, dict) else None
        if content not in REACTIONS:
            raise _validation({"resource": "Reaction", "field": "content", "code": "invalid"})
        have = repo.reactions.setdefault(comment_id, [])
        status = 200 if content in have else 201
        if status == 201:
            have.append(content)
        reaction = {
            "id": self._new_id(),
            "node_id": f"REA_{comment_id}_{content}",
            "user": self._user_json(),
            "content": content,
            "created_at": _iso(self.clock()),
        }
        return status, reaction, {}

    def add_comment_by(
        self,
        slug: str,
        number: int,
        body: str,
        association: str = "NONE",
        *,
        login: str | None = None,
    ) -> int:
        """A person's comment on PR `number` (as GitHub would store it, with the author's
        `author_association`, and as `login` when given: the login an event about it names);
        its id."""
        with self._lock:
            repo = self._repos[slug.lower()]
            _, comment, _ = self._comment(repo, repo.pulls[number], {"body": body})
            comment["author_association"] = association
            if login is not None:
                comment["user"] = self._user_json(login)
            return int(comment["id"])

    def add_review(
        self,
        slug: str,
        number: int,
        body: str,
        *,
        state: str = "CHANGES_REQUESTED",
        association: str = "COLLABORATOR",
        comments: tuple[tuple[str, int | None, str], ...] = (),
        login: str = "reviewer",
    ) -> int:
        """A person's review of PR `number`, submitted with line comments (`path`, `line`,
        text), as GitHub stores it; the review's id."""
        with self._lock:
            repo = self._repos[slug.lower()]
            pr = repo.pulls[number]
            review_id = self._new_id()
            now = _iso(self.clock())
            api = f"{self.api_url}/repos/{repo.full_name}/pulls/{number}"
            html = f"{WEB}/{repo.full_name}/pull/{number}"
            repo.reviews[review_id] = (
                number,
                {
                    "id": review_id,
                    "node_id": f"PRR_{review_id}",
                    "user": self._user_json(login),
                    "body": body,
                    "state": state,
                    "html_url": f"{html}#pullrequestreview-{review_id}",
                    "pull_request_url": api,
                    "_links": {
                        "html": {"href": f"{html}#pullrequestreview-{review_id}"},
                        "pull_request": {"href": api},
                    },
                    "submitted_at": now,
                    "commit_id": pr.head_sha,
                    "author_association": association,
                },
            )
            for path, line, text in comments:
                comment_id = self._new_id()
                url = f"{self.api_url}/repos/{repo.full_name}/pulls/comments/{comment_id}"
                repo.review_comments.setdefault(number, []).append(
                    {
                        "url": url,
                        "pull_request_review_id": review_id,
                        "id": comment_id,
                        "node_id": f"PRRC_{comment_id}",
                        "diff_hunk": "@@ -1 +1 @@",
                        "path": path,
                        "position": 1,
                        "original_position": 1,
                        "commit_id": pr.head_sha,
                        "original_commit_id": pr.head_sha,
                        "user": self._user_json(login),
                        "body": text,
                        "created_at": now,
                        "updated_at": now,
                        "html_url": f"{html}#discussion_r{comment_id}",
                        "pull_request_url": api,
                        "author_association": association,
                        "_links": {
                            "self": {"href": url},
                            "html": {"href": f"{html}#discussion_r{comment_id}"},
                            "pull_request": {"href": api},
                        },
                        "side": "RIGHT",
                        **({"line": line, "original_line": line} if line is not None else {}),
                        "subject_type": "line" if line is not None else "file",
                    }
                )
            return review_id

    def _on_review(
        self, repo: _Repo, number: int, review_id: str | None, comments: bool
    ) -> tuple[int, Any, dict[str, str]]:
        """A review, its line comments, or every line comment of PR `number`."""
        if number not in repo.pulls:
            raise _not_found()
        every = repo.review_comments.get(number, [])
        if review_id is None:
            return 200, every, {}
        found = repo.reviews.get(int(review_id))
        if found is None or found[0] != number:
            raise _not_found()
        if comments:
            return 200, [c for c in every if c["pull_request_review_id"] == int(review_id)], {}
        return 200, found[1], {}

    def reactions(self, slug: str, comment_id: int) -> list[str]:
        with self._lock:
            return list(self._repos[slug.lower()].reactions.get(comment_id, []))

    # ----------------------------------------------------------------- rendering

    def _label_json(self, repo: _Repo, name: str) -> dict[str, Any]:
        label_id, colour, description = repo.labels[name]
        return {
            "id": label_id,
            "node_id": f"LA_{label_id}",
            "url": f"{self.api_url}/repos/{repo.full_name}/labels/{quote(name, safe='')}",
            "name": name,
            "description": description,
            "color": colour,
            "default": False,
        }

    def _issue_json(self, repo: _Repo, pr: _Pull) -> dict[str, Any]:
        """The pull request as the issues API renders it."""
        api = f"{self.api_url}/repos/{repo.full_name}"
        issue = f"{api}/issues/{pr.number}"
        html = f"{WEB}/{repo.full_name}/pull/{pr.number}"
        return {
            "id": 600_000 + pr.number,
            "node_id": f"I_{repo.id}_{pr.number}",
            "url": issue,
            "repository_url": api,
            "labels_url": f"{issue}/labels{{/name}}",
            "comments_url": f"{issue}/comments",
            "events_url": f"{issue}/events",
            "html_url": html,
            "number": pr.number,
            "state": pr.state,
            "title": pr.title,
            "body": pr.body,
            "user": self._user_json(),
            "labels": [self._label_json(repo, name) for name in pr.labels],
            "assignee": self._user_json(pr.assignees[0]) if pr.assignees else None,
            "assignees": [self._user_json(name) for name in pr.assignees],
            "milestone": self._milestone_json(repo, pr.milestone),
            "locked": False,
            "comments": len(repo.comments.get(pr.number, [])),
            "pull_request": {
                "url": f"{api}/pulls/{pr.number}",
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
            },
            "closed_at": _iso(pr.closed_at) if pr.closed_at is not None else None,
            "created_at": _iso(pr.created_at),
            "updated_at": _iso(pr.updated_at),
            "author_association": "NONE",
        }

    def _milestone_json(self, repo: _Repo, number: int | None) -> dict[str, Any] | None:
        if number is None:
            return None
        url = f"{self.api_url}/repos/{repo.full_name}/milestones/{number}"
        return {
            "url": url,
            "html_url": f"{WEB}/{repo.full_name}/milestone/{number}",
            "labels_url": f"{url}/labels",
            "id": 700_000 + number,
            "node_id": f"MI_{repo.id}_{number}",
            "number": number,
            "state": "open",
            "title": repo.milestones[number],
            "description": None,
            "creator": self._user_json(repo.owner),
            "open_issues": 0,
            "closed_issues": 0,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "closed_at": None,
            "due_on": None,
        }

    def _team_json(self, repo: _Repo, slug: str) -> dict[str, Any]:
        url = f"{self.api_url}/organizations/{repo.id}/team/{slug}"
        return {
            "id": 800_000 + len(slug),
            "node_id": f"T_{slug}",
            "url": url,
            "members_url": f"{url}/members{{/member}}",
            "name": slug,
            "description": None,
            "permission": "push",
            "html_url": f"{WEB}/orgs/{repo.owner}/teams/{slug}",
            "repositories_url": f"{url}/repos",
            "slug": slug,
            "parent": None,
            "type": "organization",
        }

    def _user_json(self, login: str | None = None) -> dict[str, Any]:
        login = login or self.login
        api = f"{self.api_url}/users/{login}"
        return {
            "login": login,
            "id": 1,
            "node_id": "U_1",
            "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{WEB}/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": "User",
            "site_admin": False,
        }

    def _repo_json(self, repo: _Repo) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{repo.full_name}"
        web = f"{WEB}/{repo.full_name}"
        open_count = sum(1 for p in repo.pulls.values() if p.state == "open")
        templated = {
            "archive_url": "/{archive_format}{/ref}",
            "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}",
            "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors",
            "deployments_url": "/deployments",
            "downloads_url": "/downloads",
            "events_url": "/events",
            "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}",
            "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}",
            "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}",
            "labels_url": "/labels{/name}",
            "languages_url": "/languages",
            "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers",
            "subscription_url": "/subscription",
            "tags_url": "/tags",
            "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
        }
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self._user_json(repo.owner),
            "private": False,
            "html_url": web,
            "description": None,
            "fork": False,
            "url": api,
            **{key: api + suffix for key, suffix in templated.items()},
            "clone_url": f"{web}.git",
            "git_url": f"git://github.com/{repo.full_name}.git",
            "ssh_url": f"git@github.com:{repo.full_name}.git",
            "svn_url": web,
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "size": 1,
            "default_branch": self._default_branch(repo),
            "open_issues": open_count,
            "open_issues_count": open_count,
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "archived": False,
            "disabled": False,
            "license": None,
            "pushed_at": _iso(self.clock()),
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": _iso(self.clock()),
        }

    def _pull_json(self, repo: _Repo, pr: _Pull, *, full: bool) -> dict[str, Any]:
        if pr.state == "open":
            pr.head_sha = self._sha(repo, pr.head) or pr.head_sha
        base_sha = self._sha(repo, pr.base) or ""
        api = f"{self.api_url}/repos/{repo.full_name}"
        html = f"{WEB}/{repo.full_name}/pull/{pr.number}"
        links = {
            "self": f"{api}/pulls/{pr.number}",
            "html": html,
            "issue": f"{api}/issues/{pr.number}",
            "comments": f"{api}/issues/{pr.number}/comments",
            "review_comments": f"{api}/pulls/{pr.number}/comments",
            "review_comment": f"{api}/pulls/comments{{/number}}",
            "commits": f"{api}/pulls/{pr.number}/commits",
            "statuses": f"{api}/statuses/{pr.head_sha}",
        }
        repo_json = self._repo_json(repo)
        data: dict[str, Any] = {
            "url": links["self"],
            "id": 500_000 + pr.number,
            "node_id": self._pull_node_id(repo, pr),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": links["issue"],
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "comments_url": links["comments"],
            "statuses_url": links["statuses"],
            "number": pr.number,
            "state": pr.state,
            "locked": False,
            "title": pr.title,
            "user": self._user_json(),
            "body": pr.body,
            "labels": [self._label_json(repo, name) for name in pr.labels],
            "milestone": self._milestone_json(repo, pr.milestone),
            "active_lock_reason": None,
            "created_at": _iso(pr.created_at),
            "updated_at": _iso(pr.updated_at),
            "closed_at": _iso(pr.closed_at) if pr.closed_at is not None else None,
            "merged_at": _iso(pr.merged_at) if pr.merged_at is not None else None,
            "merge_commit_sha": pr.merge_sha
            if pr.merge_sha is not None
            else (pr.head_sha if pr.merged_at is not None else None),
            "assignee": self._user_json(pr.assignees[0]) if pr.assignees else None,
            "assignees": [self._user_json(name) for name in pr.assignees],
            "requested_reviewers": [self._user_json(name) for name in pr.reviewers],
            "requested_teams": [self._team_json(repo, name) for name in pr.teams],
            "head": {
                "label": f"{repo.owner}:{pr.head}",
                "ref": pr.head,
                "sha": pr.head_sha,
                "user": self._user_json(repo.owner),
                "repo": repo_json,
            },
            "base": {
                "label": f"{repo.owner}:{pr.base}",
                "ref": pr.base,
                "sha": base_sha,
                "user": self._user_json(repo.owner),
                "repo": repo_json,
            },
            "_links": {name: {"href": href} for name, href in links.items()},
            "author_association": "NONE",
            "auto_merge": None,
            "draft": pr.draft,
        }
        if full:
            commits = self._count(repo, base_sha, pr.head_sha) if base_sha else 0
            # As GitHub computes it: whether head merges into the base's head now.
            mergeable = self._merges(repo, pr) if pr.state == "open" else None
            data.update(
                merged=pr.merged_at is not None,
                mergeable=mergeable,
                rebaseable=mergeable,
                mergeable_state="unknown"
                if mergeable is None
                else "clean"
                if mergeable
                else "dirty",
                merged_by=self._user_json() if pr.merged_at is not None else None,
                comments=len(repo.comments.get(pr.number, [])),
                review_comments=0,
                maintainer_can_modify=False,
                commits=commits,
                additions=0,
                deletions=0,
                changed_files=0,
            )
        return data


def _make_handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the fake records exchanges instead of printing them."""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            status, out_headers, data = fake.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve
        do_PATCH = _serve
        do_PUT = _serve
        do_DELETE = _serve

    return Handler
