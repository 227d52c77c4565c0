"""The GitHub forge: `github_sansio` requests sent over httpx, branches pushed with git.

The adapter is deliberately thin. It sends what `github_sansio` builds, hands the answer back
to it to decide what it means, and retries (tenacity) only what that module calls retryable:
5xx, no answer, and rate limits — waiting as long as GitHub asked (`retry-after`,
`x-ratelimit-reset`) when that is within `max_wait_s`, else giving up at once with a clear
error. Any other 4xx is final on the first answer. `sleep`, `clock` and the httpx transport
are injectable, so tests run against a fake with no real waiting.

The token goes to GitHub in the `Authorization` header and to git in an `http.extraHeader`
given through the environment (`GIT_CONFIG_COUNT`/`KEY_n`/`VALUE_n`); it is never part of a
URL, argv, a log line or an exception message (git's own output is scrubbed before it is
quoted).

One PR per task (DESIGN §7): `create_or_update_pr` looks for the open PR of `macoder/<id>`
first; a 422 "already exists" on create means a racing job opened it a moment ago, so it is
found and updated — never a second one. REST cannot change a PR's draft state (only GraphQL
can, and macoder does not use GraphQL): when the requested state differs, the old PR is closed
with a comment and a new one is opened in the requested state, so the task still has exactly
one open PR and a failed attempt never stays merge-ready (operation `created`).
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import httpx
import tenacity

from multi_agent_coder.errors import (
    ForgeError,
    GitError,
    GitHubUnavailableError,
    GitHubValidationError,
    NeedsReviewError,
    PullRequestExistsError,
    PushRejectedError,
    UsageError,
)
from multi_agent_coder.forge import github_sansio as sansio
from multi_agent_coder.forge.base import Operation, PrResult, PrState, PullRequest
from multi_agent_coder.git.env import run_git
from multi_agent_coder.git.ledger import LEDGER_IDENTITY
from multi_agent_coder.git.remote_ledger import RemoteLedger
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.ids import BRANCH_PREFIX, branch_for

log = logging.getLogger(__name__)

#: Whose commits are macoder's own: the default `git_author_email` (the ledger's identity
#: too). Pass the configured one when it differs.
DEFAULT_EMAILS: Final = (LEDGER_IDENTITY[1],)
#: Where `publish_branch` fetches a remote task branch (and the default branch) to inspect.
INSPECT_PREFIX: Final = "refs/macoder/inspect/"
#: Pagination stops here even if GitHub keeps linking a next page.
MAX_PAGES: Final = 100
#: Our own backoff for retryable answers that do not say how long to wait (5xx, no answer).
BACKOFF_BASE_S: Final = 1.0
BACKOFF_CAP_S: Final = 30.0
_LEASE_LOST: Final = ("stale info", "fetch first", "non-fast-forward")
_REDACTED: Final = "***"


def git_auth_env(remote_url: str, token: str) -> dict[str, str]:
    """Environment that makes git send `token` as an HTTP header to `remote_url`'s host.

    `http.<origin>/.extraHeader` is scoped to the remote's scheme and host so the header
    never goes anywhere else. The first (empty) value resets headers configured before, such
    as the one `actions/checkout` persists for the same host: two `Authorization` headers
    would make GitHub refuse the push. GitHub's git endpoint takes the token as basic
    credentials of `x-access-token`, the way `actions/checkout` sends it.
    """
    parts = urlsplit(remote_url)
    if parts.scheme in ("http", "https") and parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        key = f"http.{parts.scheme}://{parts.hostname}{port}/.extraHeader"
    else:
        key = "http.extraHeader"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": key,
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": key,
        "GIT_CONFIG_VALUE_1": f"AUTHORIZATION: basic {basic}",
        "GIT_TERMINAL_PROMPT": "0",
    }


def default_git_remote(api_url: str, slug: sansio.Slug) -> str:
    """The HTTPS clone URL that goes with an API URL (github.com, or GHES `…/api/v3`)."""
    parts = urlsplit(api_url)
    host = parts.netloc
    if host == "api.github.com":
        host = "github.com"
    elif parts.path.rstrip("/") != "/api/v3":
        raise UsageError(
            f"cannot tell the git URL of {slug} from the API URL {api_url}; pass git_remote_url"
        )
    return f"{parts.scheme}://{host}/{slug}.git"


class GitHubForge:
    """Pull requests and task branches of one GitHub repository (the `Forge` protocol)."""

    name = "github"

    def __init__(
        self,
        repo_slug: str,
        token: str,
        *,
        repo: Repo,
        api_url: str = sansio.DEFAULT_API_URL,
        git_remote_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        macoder_emails: Collection[str] = DEFAULT_EMAILS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        max_attempts: int = 5,
        max_wait_s: float = 120.0,
        timeout_s: float = 30.0,
        git_timeout_s: float = 300.0,
        page_size: int = sansio.PER_PAGE,
    ) -> None:
        if not token.strip():
            raise UsageError("no GitHub token: pass the action's `github-token` input")
        self.slug = sansio.Slug.parse(repo_slug)
        self.repo = repo
        self.api_url = api_url.rstrip("/")
        self.git_remote_url = git_remote_url or default_git_remote(self.api_url, self.slug)
        if urlsplit(self.git_remote_url).password is not None:
            raise UsageError(
                "the git remote URL carries a password; give the token separately, "
                "never inside a URL"
            )
        self.macoder_emails = frozenset(email.lower() for email in macoder_emails)
        self.max_attempts = max_attempts
        self.max_wait_s = max_wait_s
        self.git_timeout_s = git_timeout_s
        self.page_size = page_size
        self._secrets = (token, base64.b64encode(f"x-access-token:{token}".encode()).decode())
        self._git_env = {**git_auth_env(self.git_remote_url, token), "LC_ALL": "C"}
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._labels_ready: set[str] = set()
        self._client = httpx.Client(
            base_url=self.api_url,
            headers=sansio.request_headers(token),
            transport=transport,
            timeout=timeout_s,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"GitHubForge({str(self.slug)!r}, api_url={self.api_url!r})"

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def ledger(self, **options: Any) -> RemoteLedger:
        """The run ledger shared through this repository's remote, with the same credentials."""
        return RemoteLedger(self.repo, self.git_remote_url, git_env=self._git_env, **options)

    # ----------------------------------------------------------------- HTTP

    def _send(self, request: sansio.Request, url: str | None = None) -> tuple[Any, httpx.Headers]:
        """Send `request` (or fetch `url`, a pagination link), retrying what is worth it."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(self._worth_retrying),
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._send_once, request, url)
        except GitHubUnavailableError as exc:
            tries = int(retrying.statistics.get("attempt_number", 1))
            if exc.retry_after is not None and exc.retry_after > self.max_wait_s:
                why = f"more than the {self.max_wait_s:.0f} s macoder waits; try again later"
            else:
                why = f"gave up after {tries} attempt{'s' if tries != 1 else ''}"
            raise type(exc)(
                f"{exc}; {why}", status=exc.status, retry_after=exc.retry_after
            ) from None

    def _send_once(self, request: sansio.Request, url: str | None) -> tuple[Any, httpx.Headers]:
        try:
            if url is None:
                response = self._client.request(
                    request.method, request.path, params=request.params, json=request.json
                )
            else:
                response = self._client.request(request.method, url)
        except httpx.TransportError as exc:
            raise GitHubUnavailableError(
                f"{self.slug}: cannot reach {self.api_url} while "
                f"{request.action or request.path}: {type(exc).__name__}: {self._scrub(str(exc))}"
            ) from None
        log.debug("GitHub %s %s -> %d", request.method, response.url.path, response.status_code)
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        decoded = sansio.decipher(
            request,
            response.status_code,
            response.headers,
            data,
            slug=self.slug,
            now=self._clock(),
        )
        return decoded, response.headers

    def _worth_retrying(self, exc: BaseException) -> bool:
        if not isinstance(exc, GitHubUnavailableError):
            return False
        return exc.retry_after is None or exc.retry_after <= self.max_wait_s

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """GitHub's own ask when it made one, else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, GitHubUnavailableError) and exc.retry_after is not None:
            return exc.retry_after
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (state.attempt_number - 1))
        return ceiling * (0.5 + 0.5 * self._rng())

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("%s; retrying in %.1f s (attempt %d)", exc, wait, state.attempt_number + 1)

    def _pages(self, request: sansio.Request) -> Iterator[PullRequest]:
        """Every macoder pull request of a paginated list, following `Link: rel="next"`."""
        url: str | None = None
        for _ in range(MAX_PAGES):
            data, headers = self._send(request, url)
            yield from sansio.parse_pulls(data, self.slug)
            url = sansio.next_link(headers.get("link"))
            if url is None:
                return
            if not url.startswith(self.api_url + "/"):
                raise ForgeError(
                    f"{self.slug}: GitHub linked the next page to {url}, outside {self.api_url}; "
                    "not following it (the token would go with it)"
                )

    # ----------------------------------------------------------------- pull requests

    def find_open_pr(self, task_id: str) -> PullRequest | None:
        branch = branch_for(task_id)
        for pr in self._pages(sansio.list_pulls(self.slug, head=branch, per_page=self.page_size)):
            if pr.branch == branch and pr.state is PrState.OPEN:
                return pr
        return None

    def list_prs(self) -> list[PullRequest]:
        """The open pull requests whose head is a `macoder/<id>` branch of this repository."""
        return [
            pr
            for pr in self._pages(sansio.list_pulls(self.slug, per_page=self.page_size))
            if pr.state is PrState.OPEN
        ]

    def create_or_update_pr(
        self,
        *,
        task_id: str,
        branch: str,
        base: str,
        head_sha: str,
        title: str,
        body: str,
        draft: bool,
        labels: tuple[str, ...],
    ) -> PrResult:
        if branch != branch_for(task_id):
            raise ForgeError(f"task {task_id} must use branch {branch_for(task_id)}, not {branch}")
        title = sansio.fit(title, sansio.MAX_TITLE_CHARS)
        body = sansio.fit(body, sansio.MAX_BODY_CHARS)
        existing = self.find_open_pr(task_id)
        if existing is not None and existing.draft != draft:
            return self._replace(
                existing,
                base=base,
                head_sha=head_sha,
                title=title,
                body=body,
                draft=draft,
                labels=labels,
            )
        if existing is None:
            try:
                created = self._create(branch, base, title, body, draft)
            except PullRequestExistsError:
                existing = self.find_open_pr(task_id)
                if existing is None:
                    raise ForgeError(
                        f"{self.slug}: GitHub says a pull request for {branch} exists, "
                        "but none is open; try again"
                    ) from None
            else:
                added = self.add_labels(created.number, labels)
                return PrResult(created.number, created.url, "created", head_sha, added)
        return self._update(
            existing, base=base, head_sha=head_sha, title=title, body=body, labels=labels
        )

    def _create(self, branch: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        data, _ = self._send(
            sansio.create_pull(
                self.slug, title=title, head=branch, base=base, body=body, draft=draft
            )
        )
        pr = sansio.parse_pull(data, self.slug)
        if pr is None:
            raise ForgeError(f"{self.slug}: GitHub answered with a pull request for another head")
        log.info("opened %s #%d for %s", self.slug, pr.number, branch)
        return pr

    def _update(
        self,
        pr: PullRequest,
        *,
        base: str,
        head_sha: str,
        title: str,
        body: str,
        labels: tuple[str, ...],
    ) -> PrResult:
        changes = {
            "title": title if title != pr.title else None,
            "body": body if body != pr.body else None,
            "base": base if base != pr.base else None,
        }
        patched = any(value is not None for value in changes.values())
        if patched:
            self._send(sansio.update_pull(self.slug, pr.number, **changes))
        missing = tuple(label for label in dict.fromkeys(labels) if label not in pr.labels)
        now_labels = self.add_labels(pr.number, missing) if missing else pr.labels
        moved = pr.head_sha != head_sha
        operation: Operation = "updated" if patched or missing or moved else "none"
        return PrResult(pr.number, pr.url, operation, head_sha, now_labels or pr.labels)

    def _replace(
        self,
        old: PullRequest,
        *,
        base: str,
        head_sha: str,
        title: str,
        body: str,
        draft: bool,
        labels: tuple[str, ...],
    ) -> PrResult:
        """Close `old` (wrong draft state) and open its successor; reopen `old` if that fails."""
        self._send(sansio.update_pull(self.slug, old.number, state="closed"))
        try:
            new = self._create(old.branch, base, title, body, draft)
        except PullRequestExistsError:
            racer = self.find_open_pr(old.task_id)
            if racer is None:
                raise
            return self._update(
                racer, base=base, head_sha=head_sha, title=title, body=body, labels=labels
            )
        except Exception:
            self._send(sansio.update_pull(self.slug, old.number, state="open"))
            raise
        added = self.add_labels(new.number, labels)
        state = "a draft" if draft else "ready for review"
        self.add_comment(
            old.number,
            f"Superseded by #{new.number}: the task's new attempt is {state}, and GitHub's REST "
            "API cannot change a pull request's draft state.",
        )
        return PrResult(new.number, new.url, "created", head_sha, added)

    def add_labels(self, number: int, labels: Sequence[str]) -> tuple[str, ...]:
        """Add `labels` to PR `number` (creating macoder's labels with their colour first);
        returns every label the PR has now."""
        wanted = tuple(dict.fromkeys(labels))
        if not wanted:
            return ()
        self._ensure_labels(wanted)
        data, _ = self._send(sansio.add_issue_labels(self.slug, number, wanted))
        return sansio.label_names(data)

    def _ensure_labels(self, names: Sequence[str]) -> None:
        for name in names:
            if name in self._labels_ready:
                continue
            try:
                self._send(sansio.create_label(self.slug, name))
            except GitHubValidationError as exc:
                if "already_exists" not in exc.codes:
                    raise
            self._labels_ready.add(name)

    def add_comment(self, number: int, body: str) -> None:
        self._send(sansio.create_comment(self.slug, number, body))

    # ----------------------------------------------------------------- git

    def _git(self, args: Sequence[str]) -> tuple[int, str, str]:
        result = run_git(
            args,
            self.repo.root,
            check=False,
            timeout=self.git_timeout_s,
            extra_env=self._git_env,
        )
        out = self._scrub(result.stdout.decode("utf-8", "replace"))
        err = self._scrub(result.stderr.decode("utf-8", "replace"))
        return result.returncode, out, err

    def _git_ok(self, args: Sequence[str], what: str) -> str:
        code, out, err = self._git(args)
        if code != 0:
            raise GitError(what, command=["git", *args], stderr=err, returncode=code)
        return out

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def publish_branch(self, branch: str, head_sha: str) -> None:
        """Push `head_sha` to `branch` on the remote with a lease on what the remote holds.

        The remote branch is inspected first: commits on it, beyond the default branch and
        `head_sha`, that macoder did not author mean a person worked there — nothing is
        pushed and `NeedsReviewError` tells the caller to label the PR. The push then leases
        on exactly the commit inspected (or on the branch not existing), so a push that lands
        in between is never overwritten (`PushRejectedError`). Hooks are skipped
        (`--no-verify`): the content was verified by macoder, and a hook that prompts or
        fails on a CI runner must not decide whether a verified task gets its PR.
        """
        branch = self._task_branch(branch)
        default_ref, remote_sha = self._remote_heads(branch)
        if remote_sha == head_sha:
            log.info("%s is already at %s on the remote", branch, head_sha[:10])
            return
        expected = ""
        if remote_sha is not None:
            expected, foreign = self._inspect(branch, default_ref, head_sha)
            if foreign:
                raise NeedsReviewError(branch, foreign)
        args = [
            "push",
            "--porcelain",
            "--no-verify",
            f"--force-with-lease=refs/heads/{branch}:{expected}",
            self.git_remote_url,
            f"{head_sha}:refs/heads/{branch}",
        ]
        code, out, err = self._git(args)
        if code == 0:
            log.info("pushed %s at %s", branch, head_sha[:10])
            return
        if any(words in out + err for words in _LEASE_LOST):
            raise PushRejectedError(
                f"push of {branch} was rejected: the branch on {self.git_remote_url} moved "
                "since macoder looked at it (someone else pushed); nothing was overwritten"
            )
        raise GitError(
            f"cannot push {branch} to {self.git_remote_url}",
            command=["git", *args],
            stderr=err or out,
            returncode=code,
        )

    def foreign_commits(self, branch: str) -> tuple[str, ...]:
        """Short shas of commits on the remote `branch`, beyond the default branch, that
        macoder did not author (none when the branch does not exist).

        The same check `publish_branch` makes, available before any work starts, so a task
        whose branch a person touched can stop before its agent runs.
        """
        branch = self._task_branch(branch)
        default_ref, remote_sha = self._remote_heads(branch)
        if remote_sha is None:
            return ()
        return self._inspect(branch, default_ref, None)[1]

    @staticmethod
    def _task_branch(branch: str) -> str:
        short = branch.removeprefix("refs/heads/")
        if not short.startswith(BRANCH_PREFIX):
            raise ForgeError(f"not a task branch: {short!r}; macoder pushes only macoder/<id>")
        return branch_for(short.removeprefix(BRANCH_PREFIX))  # a bad id never reaches git

    def _remote_heads(self, branch: str) -> tuple[str | None, str | None]:
        """The remote's default branch ref and where `branch` is (None: it does not exist)."""
        out = self._git_ok(
            ["ls-remote", "--symref", self.git_remote_url, "HEAD", f"refs/heads/{branch}"],
            f"cannot read the branches of {self.git_remote_url}",
        )
        default_ref: str | None = None
        found: str | None = None
        for line in out.splitlines():
            left, _, name = line.partition("\t")
            if left.startswith("ref: ") and name == "HEAD":
                default_ref = left.removeprefix("ref: ").strip()
            elif name == f"refs/heads/{branch}":
                found = left.strip()
        return default_ref, found

    def _inspect(
        self, branch: str, default_ref: str | None, head_sha: str | None
    ) -> tuple[str, tuple[str, ...]]:
        """Fetch the remote `branch` (and default branch) and list who wrote what is on it.

        Returns the commit inspected (the push's lease expects exactly it) and the short
        shas of commits beyond the default branch and `head_sha` not authored by macoder.
        """
        task_id = branch.removeprefix(BRANCH_PREFIX)
        tip_ref = f"{INSPECT_PREFIX}{task_id}/head"
        base_ref = f"{INSPECT_PREFIX}{task_id}/base"
        specs = [f"+refs/heads/{branch}:{tip_ref}"]
        if default_ref is not None:
            specs.append(f"+{default_ref}:{base_ref}")
        fetch = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"]
        hide = ([base_ref] if default_ref is not None else []) + ([head_sha] if head_sha else [])
        try:
            self._git_ok(
                [*fetch, self.git_remote_url, *specs],
                f"cannot fetch {branch} from {self.git_remote_url}",
            )
            tip = self._git_ok(["rev-parse", "--verify", tip_ref], "fetched nothing").strip()
            listing = self._git_ok(
                ["log", "--format=%H%x00%ae", tip, "--not", *hide],
                f"cannot list the commits of {branch}",
            )
        finally:
            for ref in (tip_ref, base_ref):
                self._git(["update-ref", "-d", ref])
        foreign = tuple(
            sha[:10]
            for sha, _, email in (line.partition("\x00") for line in listing.splitlines())
            if email.strip().lower() not in self.macoder_emails
        )
        return tip, foreign
