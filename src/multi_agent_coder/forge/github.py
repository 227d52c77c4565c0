"""The GitHub forge: the `Forge` protocol on a GitHub repository.

Each job has its own place, and this class strings them together: REST requests are built and
their answers judged in `github_sansio` (pure), the draft-state mutations in `github_graphql`
(pure), all sent by `github_api` (the thin httpx adapter, retries per the `retry` settings
and GitHub's own asks); what to do with a task's PR is decided in `pr_policy` (pure); pushing
the task branch and inspecting it on the remote is `git/remote.py`'s, shared with the remote
ledger. `sleep`, `clock` and the httpx transport are injectable, so tests run against a fake
with no real waiting.

The token goes to GitHub only in the `Authorization` header and to git only through the
`Remote`; it is never part of a URL, argv, a log line or an exception message.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from multi_agent_coder.config import PullRequestSettings, RetrySettings
from multi_agent_coder.errors import (
    ForgeError,
    GitHubError,
    GitHubForbiddenError,
    GitHubNotFoundError,
    GitHubValidationError,
    PullRequestExistsError,
    UnsignableError,
    UsageError,
)
from multi_agent_coder.forge import github_graphql as graphql
from multi_agent_coder.forge import github_sansio as sansio
from multi_agent_coder.forge import signing
from multi_agent_coder.forge.base import LABEL_SUPERSEDED, PrResult, PrState, PullRequest, WantedPr
from multi_agent_coder.forge.github_api import GitHubAPI
from multi_agent_coder.forge.pr_policy import Update, plan_pr, plan_update
from multi_agent_coder.git.env import run_git
from multi_agent_coder.git.ledger import LEDGER_IDENTITY, Ledger
from multi_agent_coder.git.remote import INSPECT_PREFIX, Lease, Remote, pushable_branch
from multi_agent_coder.git.remote_ledger import RemoteLedger
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.ids import BRANCH_PREFIX, PrKind, branch_of
from multi_agent_coder.visible import visible

log = logging.getLogger(__name__)

#: Whose commits are macoder's: the default `git_author_email` (the ledger's identity
#: too). Pass the configured one when it differs.
DEFAULT_EMAILS: Final = (LEDGER_IDENTITY[1],)
#: With `sign_commits`, where a task's commits are made through the API before its branch
#: moves to them: `macoder-signing/<id>` (outside `macoder/`, which holds task branches only).
SIGNING_PREFIX: Final = "macoder-signing/"
#: Where the commits GitHub made are fetched to, to be pushed to the task branch.
SIGNED_PREFIX: Final = "refs/macoder/signed/"


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
        retry: RetrySettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        max_wait_s: float = 120.0,
        timeout_s: float = 30.0,
        git_timeout_s: float = 300.0,
        page_size: int = sansio.PER_PAGE,
        pull_request: PullRequestSettings | None = None,
    ) -> None:
        if not token.strip():
            raise UsageError("no GitHub token: pass the action's `github-token` input")
        self.slug = sansio.Slug.parse(repo_slug)
        self.repo = repo
        self.page_size = page_size
        self.options = pull_request if pull_request is not None else PullRequestSettings()
        self._labels_ready: set[str] = set()
        #: GitHub refused this token the draft-state mutations: supersede instead.
        self._draft_refused = False
        #: The bot GitHub authors API-made commits as (`sign_commits`), once asked.
        self._bot: str | None = None
        policy = retry if retry is not None else RetrySettings()
        remote_url = git_remote_url or default_git_remote(api_url.rstrip("/"), self.slug)
        self.remote = Remote(
            repo.root,
            remote_url,
            token=token,
            macoder_emails=macoder_emails,
            also_macoders=signing.made_through_the_api if self.options.sign_commits else None,
            retry=policy,
            timeout_s=git_timeout_s,
            sleep=sleep,
        )
        self.api = GitHubAPI(
            self.slug,
            token,
            api_url=api_url,
            retry=policy,
            transport=transport,
            sleep=sleep,
            clock=clock,
            rng=rng,
            max_wait_s=max_wait_s,
            timeout_s=timeout_s,
            scrub=self.remote.scrub,
        )

    def __repr__(self) -> str:
        return f"GitHubForge({str(self.slug)!r}, api_url={self.api.api_url!r})"

    @property
    def git_remote_url(self) -> str:
        return self.remote.url

    # ----------------------------------------------------------------- Forge: lifecycle

    def close(self) -> None:
        self.api.close()

    def ledger(self, clock: Callable[[], float] = time.time) -> Ledger:
        """The run ledger shared through this repository's remote, with the same credentials:
        parallel matrix jobs see each other's leases and attempts."""
        return RemoteLedger(self.repo, self.remote, clock=clock)

    def _send(self, request: sansio.Request) -> Any:
        return self.api.send(request)[0]

    def read(self, request: sansio.Request) -> Any:
        """GitHub's answer to a read (`GET`) the caller built, e.g. a review by its id
        (`action/feedback.py`); the same retries and errors as every call."""
        if request.method != "GET":
            raise ValueError(f"read() only sends GET requests, not {request.method}")
        return self._send(request)

    def get_pull(self, number: int) -> PullRequest | None:
        """Pull request `number` when it is macoder's (head `macoder/<id>` of this very
        repository), else None; `GitHubNotFoundError` when there is no such PR."""
        request = sansio.Request(
            "GET", self.slug.path("pulls", number), (), None, f"reading pull request #{number}"
        )
        return sansio.parse_pull(self._send(request), self.slug)

    def _pulls(self, request: sansio.Request) -> Iterator[PullRequest]:
        for page in self.api.pages(request):
            yield from sansio.parse_pulls(page, self.slug)

    # ----------------------------------------------------------------- Forge: pull requests

    def find_open_pr(
        self, task_id: str, kind: PrKind = "task", *, with_conflicts: bool = False
    ) -> PullRequest | None:
        branch = branch_of(kind, task_id)
        for pr in self._pulls(sansio.list_pulls(self.slug, head=branch, per_page=self.page_size)):
            if pr.branch == branch and pr.state is PrState.OPEN:
                return self._with_conflicts(pr) if with_conflicts else pr
        return None

    def list_prs(self, *, include_closed: bool = False) -> list[PullRequest]:
        """The pull requests whose head is a `macoder/<id>` (or `macoder/rebase-<id>`) branch
        of this repository: the open ones, or every one (merged and closed too) with
        `include_closed`."""
        state = "all" if include_closed else "open"
        request = sansio.list_pulls(self.slug, state=state, per_page=self.page_size)
        return [
            self._with_conflicts(pr)
            for pr in self._pulls(request)
            if include_closed or pr.state is PrState.OPEN
        ]

    def _with_conflicts(self, pr: PullRequest) -> PullRequest:
        """`pr` with whether it still merges: a list has no `mergeable`, so a verified open
        PR (the only kind a run brings up to date) is read once more on its own. Null while
        GitHub computes it: taken as mergeable, and the next run looks again."""
        if pr.state is not PrState.OPEN or pr.draft:
            return pr
        return self.get_pull(pr.number) or pr

    def create_or_update_pr(self, wanted: WantedPr) -> PrResult:
        # Fitted after `visible` (WantedPr), so the escapes count against GitHub's limits.
        wanted = replace(
            wanted,
            title=sansio.fit(wanted.title, sansio.MAX_TITLE_CHARS),
            body=sansio.fit(wanted.body, sansio.MAX_BODY_CHARS),
        )
        plan = plan_pr(self.find_open_pr(wanted.task_id, wanted.kind), wanted)
        if isinstance(plan, Update):
            return self._update(plan, wanted)
        try:
            created = self._create(wanted)
        except PullRequestExistsError:
            # A racing job opened it a moment ago: find it and update it, never a second one.
            racer = self.find_open_pr(wanted.task_id, wanted.kind)
            if racer is None:
                raise ForgeError(
                    f"{self.slug}: GitHub says a pull request for {wanted.branch} exists, "
                    "but none is open; try again"
                ) from None
            return self._update(plan_update(racer, wanted), wanted)
        added = self.add_labels(created.number, (*wanted.labels, *self.options.labels))
        self._dress(created.number, ready=not wanted.draft)
        return PrResult(created.number, created.url, "created", wanted.head_sha, added)

    def find_open_branch_pr(self, branch: str) -> PullRequest | None:
        """The open pull request of `branch` (a track's plan branch) of this repository."""
        request = sansio.list_pulls(self.slug, head=branch, per_page=self.page_size)
        for page in self.api.pages(request):
            if not isinstance(page, list):
                raise ForgeError(f"{self.slug}: GitHub sent a pull-request list that is no list")
            for item in page:
                pr = sansio.parse_pull(item, self.slug, branch=branch)
                if pr is not None and pr.state is PrState.OPEN:
                    return pr
        return None

    def create_or_update_branch_pr(
        self,
        *,
        branch: str,
        base: str,
        head_sha: str,
        title: str,
        body: str,
        labels: tuple[str, ...],
    ) -> PrResult:
        """The one open pull request of `branch` (a track's plan, `macoder/plan-<track>`):
        opened, or — when one is open already — its title and body replaced, never a second
        one. Ready for review (a person merges it), dressed like a task's PR (labels,
        milestone, assignees, reviewers from the `pull_request` settings)."""
        title = sansio.fit(visible(title), sansio.MAX_TITLE_CHARS)
        body = sansio.fit(visible(body, lines=True), sansio.MAX_BODY_CHARS)
        found = self.find_open_branch_pr(branch)
        if found is None:
            request = sansio.create_pull(
                self.slug, title=title, head=branch, base=base, body=body, draft=False
            )
            try:
                data = self._send(request)
            except PullRequestExistsError:  # a racing job opened it a moment ago
                found = self.find_open_branch_pr(branch)
                if found is None:
                    raise ForgeError(
                        f"{self.slug}: GitHub says a pull request for {branch} exists, "
                        "but none is open; try again"
                    ) from None
            else:
                created = sansio.parse_pull(data, self.slug, branch=branch)
                if created is None:
                    raise ForgeError(f"{self.slug}: GitHub opened a pull request for another head")
                added = self.add_labels(created.number, (*labels, *self.options.labels))
                self._dress(created.number, ready=True)
                log.info("opened %s #%d for %s", self.slug, created.number, branch)
                return PrResult(created.number, created.url, "created", head_sha, added)
        self._send(sansio.update_pull(self.slug, found.number, title=title, body=body))
        added = self.add_labels(found.number, (*labels, *self.options.labels))
        log.info("updated %s #%d for %s", self.slug, found.number, branch)
        return PrResult(found.number, found.url, "updated", head_sha, added)

    def _dress(self, number: int, *, ready: bool) -> None:
        """The `pull_request` settings on a PR macoder just opened: milestone, assignees, and
        — once there is something to review — the reviewers (last, so their notification
        shows the PR as it will stay). A setting GitHub refuses (a reviewer who is no
        collaborator, the token's own user, a milestone that does not exist, a team the
        token cannot see) is logged and skipped: the PR is open and the task's work stands."""
        options = self.options
        if options.milestone is not None:
            self._optional(sansio.set_milestone(self.slug, number, options.milestone))
        if options.assignees:
            self._optional(sansio.add_assignees(self.slug, number, options.assignees))
        if ready:
            self._request_reviews(number)

    def _request_reviews(self, number: int) -> None:
        options = self.options
        if options.reviewers or options.team_reviewers:
            self._optional(
                sansio.request_reviewers(
                    self.slug, number, options.reviewers, options.team_reviewers
                )
            )

    def _optional(self, request: sansio.Request) -> None:
        try:
            self._send(request)
        except (GitHubValidationError, GitHubNotFoundError, GitHubForbiddenError) as exc:
            log.warning("%s; the pull request stays as it is", exc)

    def _create(self, wanted: WantedPr) -> PullRequest:
        data = self._send(
            sansio.create_pull(
                self.slug,
                title=wanted.title,
                head=wanted.branch,
                base=wanted.base,
                body=wanted.body,
                draft=wanted.draft,
            )
        )
        pr = sansio.parse_pull(data, self.slug)
        if pr is None:
            raise ForgeError(f"{self.slug}: GitHub answered with a pull request for another head")
        log.info("opened %s #%d for %s", self.slug, pr.number, wanted.branch)
        return pr

    def _update(self, plan: Update, wanted: WantedPr) -> PrResult:
        """Change the open PR in place. A failed attempt becomes a draft before anything else
        changes (never merge-ready with a failure report); a verified one is marked ready
        only after its title, body and labels say so (reviewers are notified then)."""
        pr = plan.pr
        if plan.draft is not None and self._draft_refused:
            return self._supersede(pr, wanted)
        if plan.draft is True and not self._try_set_draft(pr, draft=True):
            return self._supersede(pr, wanted)
        if any(value is not None for value in (plan.title, plan.body, plan.base)):
            self._send(
                sansio.update_pull(
                    self.slug, pr.number, title=plan.title, body=plan.body, base=plan.base
                )
            )
        now_labels = self.add_labels(pr.number, plan.add_labels) if plan.add_labels else ()
        for label in plan.remove_labels:
            now_labels = sansio.label_names(
                self._send(sansio.remove_issue_label(self.slug, pr.number, label))
            )
        if plan.draft is False:
            if not self._try_set_draft(pr, draft=False):
                return self._supersede(pr, wanted)
            self._request_reviews(pr.number)  # now there is something to review
        return PrResult(pr.number, pr.url, plan.operation, wanted.head_sha, now_labels or pr.labels)

    def _try_set_draft(self, pr: PullRequest, *, draft: bool) -> bool:
        """`set_draft`, or False when GitHub refuses this token the mutation. A workflow's
        GITHUB_TOKEN is refused it whatever its `permissions:` ("Resource not accessible by
        integration"); a PAT or a GitHub App token is not. Remembered for this forge."""
        try:
            self.set_draft(pr, draft=draft)
        except GitHubForbiddenError as exc:
            log.warning("%s; falling back to closing the pull request and opening another", exc)
            self._draft_refused = True
            return False
        return True

    def _supersede(self, old: PullRequest, wanted: WantedPr) -> PrResult:
        """The fallback where the draft state cannot change in place: close `old` and open its
        successor in the wanted state (reopening `old` if that fails), so a failed attempt is
        never left merge-ready and a verified one never left a draft that looks failed.

        `old` is labelled `macoder:superseded` before it is closed: a run that reads it
        closed (between the close and the create, or after a crash there) must not take it
        for a person's rejection of the task."""
        self.add_labels(old.number, (LABEL_SUPERSEDED,))
        self._send(sansio.update_pull(self.slug, old.number, state="closed"))
        try:
            new = self._create(wanted)
        except PullRequestExistsError:
            racer = self.find_open_pr(old.task_id)
            if racer is None:
                raise
            return self._update(plan_update(racer, wanted), wanted)
        except Exception:
            self._send(sansio.update_pull(self.slug, old.number, state="open"))
            self._send(sansio.remove_issue_label(self.slug, old.number, LABEL_SUPERSEDED))
            raise
        added = self.add_labels(new.number, (*wanted.labels, *self.options.labels))
        self._dress(new.number, ready=not wanted.draft)
        state = "a draft" if wanted.draft else "ready for review"
        self.add_comment(
            old.number,
            f"Superseded by #{new.number}: the task's new attempt is {state}, and GitHub "
            "refuses this token the change of a pull request's draft state (a workflow's "
            "GITHUB_TOKEN cannot make it; with a personal access token or a GitHub App token "
            "macoder changes it in place and the pull request keeps its number).",
        )
        return PrResult(new.number, new.url, "created", wanted.head_sha, added)

    def set_draft(self, pr: PullRequest, *, draft: bool) -> None:
        """Make `pr` a draft or ready for review in place, through GitHub's GraphQL API (REST
        cannot): the PR keeps its number, its review threads and its approvals."""
        if not pr.node_id:
            raise ForgeError(f"{self.slug}: GitHub sent pull request #{pr.number} without node_id")
        answer = self._send(graphql.set_draft(self.slug, pr.node_id, pr.number, draft=draft))
        if graphql.draft_after(answer, draft=draft, slug=self.slug, number=pr.number) != draft:
            state = "a draft" if draft else "ready for review"
            raise ForgeError(f"{self.slug}: GitHub did not make pull request #{pr.number} {state}")
        log.info("made %s #%d %s", self.slug, pr.number, "a draft" if draft else "ready")

    def add_labels(self, number: int, labels: Sequence[str]) -> tuple[str, ...]:
        """Add `labels` to PR `number` (creating macoder's labels with their colour first);
        returns every label the PR has now."""
        wanted = tuple(dict.fromkeys(labels))
        if not wanted:
            return ()
        self._ensure_labels(wanted)
        data = self._send(sansio.add_issue_labels(self.slug, number, wanted))
        return sansio.label_names(data)

    def _ensure_labels(self, names: Sequence[str]) -> None:
        """Each label read before it is created (a repository's labels are set up once, so
        creating first would answer 422 on every run); a racing job that creates it between
        the read and the create is fine too."""
        for name in names:
            if name in self._labels_ready:
                continue
            try:
                self._send(sansio.get_label(self.slug, name))
            except GitHubNotFoundError:
                try:
                    self._send(sansio.create_label(self.slug, name))
                except GitHubValidationError as exc:
                    if "already_exists" not in exc.codes:
                        raise
            self._labels_ready.add(name)

    def remove_label(self, number: int, label: str) -> None:
        # Not on the PR (any more, 404): taken off by a person or a racing run.
        with contextlib.suppress(GitHubNotFoundError):
            self._send(sansio.remove_issue_label(self.slug, number, label))

    def add_comment(self, number: int, body: str) -> None:
        text = sansio.fit(visible(body, lines=True), sansio.MAX_BODY_CHARS)
        self._send(sansio.create_comment(self.slug, number, text))

    def react(self, comment_id: int, content: str) -> None:
        self._send(sansio.add_reaction(self.slug, comment_id, content))

    def put_comment(self, number: int, comment_id: int | None, body: str) -> int:
        text = sansio.fit(visible(body, lines=True), sansio.MAX_BODY_CHARS)
        if comment_id is not None:
            try:
                self._send(sansio.update_comment(self.slug, comment_id, text))
            except GitHubNotFoundError:
                pass  # a person deleted it: a new one follows
            else:
                return comment_id
        return sansio.comment_id_of(self._send(sansio.create_comment(self.slug, number, text)))

    # ----------------------------------------------------------------- Forge: branches

    def merge_pull(self, number: int, head_sha: str, method: str) -> str:
        """Merge PR `number` at exactly `head_sha` with `method` (merge, squash, rebase);
        the merge commit's sha. GitHub's refusal (not mergeable, checks required, the branch
        moved: 405, 409) is a `ForgeError`/`GitHubError` saying so."""
        data = self._send(sansio.merge_pull(self.slug, number, head_sha, method))
        sha = data.get("sha") if isinstance(data, dict) else None
        if not isinstance(sha, str) or not data.get("merged"):
            raise ForgeError(f"{self.slug}: GitHub did not merge pull request #{number}")
        log.info("merged %s #%d (%s) at %s", self.slug, number, method, sha)
        return sha

    def dispatch_workflow(
        self, workflow: str, ref: str, inputs: Mapping[str, str] | None = None
    ) -> None:
        """Start `workflow` on `ref` with `inputs` (see `github_sansio.dispatch_workflow`)."""
        self._send(sansio.dispatch_workflow(self.slug, workflow, ref, inputs))

    def delete_merged_branches(self) -> tuple[str, ...]:
        """Delete the branch of every merged task PR whose tip is still the commit that was
        merged (the `pull_request.delete_branch` setting); returns the branches deleted.

        A branch somebody pushed to after the merge, or one an open PR uses again, is kept:
        deleting it would lose work or close that PR. One read of the `macoder/*` branches and
        one of the pull requests (paged) per call, then one delete per branch."""
        tips: dict[str, str] = {}
        for page in self.api.pages(sansio.matching_branches(self.slug, BRANCH_PREFIX)):
            tips.update(sansio.branch_tips(page))
        if not tips:
            return ()
        # The listing alone (whether open PRs still merge does not matter here).
        prs = list(self._pulls(sansio.list_pulls(self.slug, state="all", per_page=self.page_size)))
        in_use = {pr.branch for pr in prs if pr.state is PrState.OPEN}
        deleted: list[str] = []
        for pr in prs:
            if pr.state is not PrState.MERGED or pr.branch in in_use or pr.branch in deleted:
                continue
            if tips.get(pr.branch) != pr.head_sha:
                continue
            try:
                self._send(sansio.delete_branch(self.slug, pr.branch))
            except GitHubValidationError:  # gone meanwhile ("Reference does not exist")
                continue
            log.info("deleted %s of merged pull request #%d", pr.branch, pr.number)
            deleted.append(pr.branch)
        return tuple(deleted)

    def publish_branch(self, branch: str, head_sha: str, *, fast_forward: bool = False) -> str:
        """Push the task branch (see `Remote.publish`: lease on the inspected commit, never
        over a person's commits; with `fast_forward`, no force at all). With the setting
        `pull_request.sign_commits`, the branch gets GitHub's own signed copies of the
        commits instead (`_publish_signed`); returns the commit the branch is at now."""
        if not self.options.sign_commits:
            self.remote.publish(branch, head_sha, fast_forward=fast_forward)
            return head_sha
        return self._publish_signed(pushable_branch(branch), head_sha, fast_forward=fast_forward)

    def _publish_signed(self, branch: str, head_sha: str, *, fast_forward: bool) -> str:
        """Each commit from the base (or, `fast_forward`, from the PR's head) to `head_sha`
        made again by GitHub through `createCommitOnBranch`, which signs it.

        What is published is what was checked, or nothing: every commit is first held to
        what the mutation can make exactly (`signing.file_changes`: regular files only),
        the commits are made on a branch of their own (`macoder-signing/<id>`, each on top
        of exactly the one before: `expectedHeadOid`), each new commit's tree must be the
        checked commit's tree (git's tree id: same paths, contents and modes), and only then
        does the task branch move — once, with the same lease on the inspected commit as a
        push (`Remote.push`): a branch that moved meanwhile is refused, never overwritten.

        An update (the default branch merged into the PR's head) is a merge commit, which
        the mutation cannot make: it is pushed as it was checked, unsigned, with a warning.
        """
        lease = self.remote.lease(branch, head_sha)
        if lease.remote_sha == head_sha:
            return head_sha
        commits = self._new_commits(branch, head_sha, lease, fast_forward=fast_forward)
        if not commits:  # nothing beyond the default branch: nothing to make
            self.remote.push(branch, head_sha, lease, fast_forward=fast_forward)
            return head_sha
        if any(len(parents) != 1 for _, parents in commits):
            log.warning(
                "%s: sign_commits: the merge of the default branch into %s cannot be made "
                "through GitHub's API (it makes single-parent commits only); pushed as "
                "checked, not signed",
                self.slug,
                branch,
            )
            self.remote.push(branch, head_sha, lease, fast_forward=fast_forward)
            return head_sha
        start = commits[0][1][0]
        changes = [
            (
                sha,
                signing.file_changes(sha[:10], signing.parse_raw(self._raw_diff(parents[0], sha))),
            )
            for sha, parents in commits
        ]
        self._require_bot()
        task_id = branch.removeprefix("macoder/")
        scratch = SIGNING_PREFIX + task_id
        signed_ref = SIGNED_PREFIX + task_id
        self._fresh_branch(scratch, start)
        try:
            tip = start
            for sha, change in changes:
                tip = self._recreate(scratch, tip, sha, change)
            if not self.remote.fetch_ref(f"refs/heads/{scratch}", into=signed_ref):
                raise ForgeError(f"{self.slug}: the branch {scratch} vanished while in use")
            self.remote.push(branch, tip, lease, fast_forward=fast_forward)
        finally:
            with contextlib.suppress(GitHubError):
                self._send(sansio.delete_branch(self.slug, scratch))
            self.remote.git(["update-ref", "-d", signed_ref])
        log.info("published %s as %d commit(s) GitHub signed, at %s", branch, len(changes), tip)
        return tip

    def _new_commits(
        self, branch: str, head_sha: str, lease: Lease, *, fast_forward: bool
    ) -> list[tuple[str, tuple[str, ...]]]:
        """The commits (oldest first, with their parents) `head_sha` adds to the remote's
        default branch — and, `fast_forward`, to the branch's tip it builds on."""
        task_id = branch.removeprefix("macoder/")
        base_ref = f"{INSPECT_PREFIX}{task_id}/default"
        hide: list[str] = []
        try:
            if lease.default_ref is not None and self.remote.fetch_ref(
                lease.default_ref, into=base_ref
            ):
                hide.append(base_ref)
            if fast_forward and lease.remote_sha is not None:
                hide.append(lease.remote_sha)
            listing = self.remote.git_ok(
                ["rev-list", "--reverse", "--topo-order", "--parents", head_sha, "--not", *hide],
                f"cannot list the commits of {branch}",
            )
        finally:
            self.remote.git(["update-ref", "-d", base_ref])
        found: list[tuple[str, tuple[str, ...]]] = []
        for line in listing.splitlines():
            sha, *parents = line.split()
            found.append((sha, tuple(parents)))
        return found

    def _raw_diff(self, parent: str, sha: str) -> bytes:
        args = ["diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-commit-id", parent, sha]
        return run_git(args, self.repo.root).stdout

    def _require_bot(self) -> str:
        """The no-reply address of the bot whose token this is; `UnsignableError` for a
        person's token (its commits would be that person's: see `signing`)."""
        if self._bot is None:
            login, number = graphql.viewer_of(self._send(graphql.viewer()), slug=self.slug)
            email = signing.bot_email(login, number)
            if email is None:
                raise UnsignableError(
                    f"sign_commits: the token belongs to {login}, a person: GitHub would author "
                    f"every commit as {login}, and macoder could not tell its commits from "
                    f"{login}'s own. Give the publishing job the workflow's GITHUB_TOKEN or a "
                    "GitHub App's token, or turn sign_commits off; nothing was published"
                )
            self._bot = email
        return self._bot

    def _fresh_branch(self, branch: str, sha: str) -> None:
        """`branch` created at `sha`; one a crashed run left behind is deleted first."""
        try:
            self._send(sansio.create_branch(self.slug, branch, sha))
        except GitHubValidationError:  # "Reference already exists"
            self._send(sansio.delete_branch(self.slug, branch))
            self._send(sansio.create_branch(self.slug, branch, sha))

    def _recreate(self, branch: str, tip: str, sha: str, changes: signing.FileChanges) -> str:
        """GitHub's copy of commit `sha`, made on `branch` on top of `tip`; its oid."""
        root = self.repo.root
        message = run_git(["log", "-1", "--format=%B", sha], root).stdout.decode("utf-8", "replace")
        headline, _, body = message.strip().partition("\n")
        additions = [
            (path, run_git(["cat-file", "blob", f"{sha}:{path}"], root).stdout)
            for path in changes.additions
        ]
        new = graphql.NewCommit(branch, tip, headline, body.strip(), additions, changes.deletions)
        oid, tree, verified = graphql.created_commit(
            self._send(graphql.create_commit(self.slug, new)), slug=self.slug
        )
        checked = run_git(["rev-parse", f"{sha}^{{tree}}"], root).stdout.decode().strip()
        if tree != checked:
            raise UnsignableError(
                f"{self.slug}: GitHub's copy {oid[:10]} of commit {sha[:10]} has tree "
                f"{tree[:10]}, not the tree macoder checked ({checked[:10]}); nothing was "
                "published"
            )
        if not verified:
            log.warning("%s: GitHub did not sign its copy %s of %s", self.slug, oid[:10], sha[:10])
        return oid

    def fetch_branch(self, branch: str) -> str | None:
        """Fetched into `refs/macoder/fetched/<branch>`, never into the local branch itself
        (which a worktree may have checked out)."""
        name = branch.removeprefix("refs/heads/")
        into = f"refs/macoder/fetched/{name}"
        if not self.remote.fetch_ref(f"refs/heads/{name}", into=into):
            return None
        return str(self.repo.raw.references[into].target)

    def foreign_commits(self, branch: str, base_sha: str) -> tuple[str, ...]:
        """Commits on the remote task branch that macoder did not write (`base_sha` is not
        needed: the remote's own default branch is what the branch is compared with)."""
        del base_sha
        return self.remote.foreign_commits(branch)
