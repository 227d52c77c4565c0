"""A git remote macoder reads from and pushes to: task branches and the run ledger.

Both the GitHub forge (task branches) and the remote ledger (`refs/macoder/ledger`) talk to
the same remote with the same credentials, so the rules live here once:

- the token reaches git only as an `http.<origin>/.extraHeader` given through the environment
  (`GIT_CONFIG_COUNT`/`KEY_n`/`VALUE_n`), never in a URL or argv, and it (and its base64 form,
  which is what the header carries) is scrubbed from every text of git's that macoder quotes;
- reads (`ls-remote`, `fetch`) that fail the way a network fails are retried with the `retry`
  settings; a refusal (bad credentials, a lease that no longer holds) is final at once;
- a task branch is pushed only with a lease on exactly the commit inspected, and never over
  commits someone else wrote (`NeedsReviewError`).
"""

from __future__ import annotations

import base64
import logging
import subprocess
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from multi_agent_coder.config import RetrySettings
from multi_agent_coder.errors import ForgeError, GitError, NeedsReviewError, PushRejectedError
from multi_agent_coder.git.env import run_git
from multi_agent_coder.ids import BRANCH_PREFIX, branch_for, is_plan_branch, pr_subject
from multi_agent_coder.retrying import call_with_retries

log = logging.getLogger(__name__)

#: Where a remote task branch (and the default branch) is fetched to be inspected.
INSPECT_PREFIX: Final = "refs/macoder/inspect/"
#: git's words (in the C locale) for a push whose lease no longer holds.
_LEASE_LOST: Final = ("stale info", "fetch first", "non-fast-forward")
#: git's words for a remote that could not be reached or broke off: worth another try.
_NETWORK: Final = (
    "could not resolve host",
    "failed to connect",
    "couldn't connect to server",
    "connection timed out",
    "connection refused",
    "connection reset",
    "operation timed out",
    "the remote end hung up unexpectedly",
    "early eof",
    "rpc failed",
    "the requested url returned error: 5",
    "gnutls_handshake",
    "ssl_connect",
)
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
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": key,
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": key,
        "GIT_CONFIG_VALUE_1": f"AUTHORIZATION: basic {basic_credential(token)}",
        "GIT_TERMINAL_PROMPT": "0",
    }


def basic_credential(token: str) -> str:
    """What git's Authorization header carries for `token` (and what must be masked too)."""
    return base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")


@dataclass(frozen=True, slots=True)
class Lease:
    """A task branch as inspected before a push: the remote's default branch ref, where the
    branch is (None: it does not exist), and what the push leases on ("" : on its absence)."""

    default_ref: str | None
    remote_sha: str | None
    expected: str


class NetworkError(GitError):
    """git could not reach the remote (or lost it half-way): transient, retried."""


class Remote:
    """One git remote (a URL, a path or a remote name) seen from the repository at `root`."""

    def __init__(
        self,
        root: Path,
        url: str,
        *,
        token: str | None = None,
        macoder_emails: Collection[str] = (),
        also_macoders: Callable[[str, str], bool] | None = None,
        retry: RetrySettings | None = None,
        timeout_s: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if urlsplit(url).password is not None:
            raise ForgeError(
                "the git remote URL carries a password; give the token separately, "
                "never inside a URL"
            )
        self.root = root
        self.url = url
        self.macoder_emails = frozenset(email.lower() for email in macoder_emails)
        #: Whose else commits (author and committer email) are macoder's: those GitHub made
        #: through its API for the token's bot, when macoder publishes that way.
        self.also_macoders = also_macoders
        self.retry = retry if retry is not None else RetrySettings()
        self.timeout_s = timeout_s
        self._sleep = sleep
        self._secrets = (token, basic_credential(token)) if token else ()
        auth = git_auth_env(url, token) if token else {"GIT_TERMINAL_PROMPT": "0"}
        self._env = {**auth, "LC_ALL": "C"}

    def __repr__(self) -> str:
        return f"Remote({self.url!r})"

    # ----------------------------------------------------------------- running git

    def scrub(self, text: str) -> str:
        """`text` without the token in any form it may take in git's output."""
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def git(self, args: Sequence[str]) -> tuple[int, str, str]:
        """`git *args` with the remote's credentials; exit code, stdout and stderr, scrubbed."""
        result: subprocess.CompletedProcess[bytes] = run_git(
            args, self.root, check=False, timeout=self.timeout_s, extra_env=self._env
        )
        out = self.scrub(result.stdout.decode("utf-8", "replace"))
        err = self.scrub(result.stderr.decode("utf-8", "replace"))
        return result.returncode, out, err

    def git_ok(self, args: Sequence[str], what: str) -> str:
        """`git *args`, which must succeed; `GitError` (or `NetworkError`) naming `what`."""
        code, out, err = self.git(args)
        if code != 0:
            kind = NetworkError if _is_network(err) else GitError
            raise kind(what, command=["git", *args], stderr=err, returncode=code)
        return out

    def read(self, args: Sequence[str], what: str) -> str:
        """Like `git_ok` for a command that only reads the remote: network failures are
        retried with the `retry` settings before they are reported."""
        return call_with_retries(
            self.retry,
            lambda: self.git_ok(args, what),
            transient=lambda fault: isinstance(fault, NetworkError),
            sleep=self._sleep,
        )

    # ----------------------------------------------------------------- task branches

    def heads(self, branch: str) -> tuple[str | None, str | None]:
        """The remote's default branch ref and where `branch` is (None: it does not exist)."""
        out = self.read(
            ["ls-remote", "--symref", self.url, "HEAD", f"refs/heads/{branch}"],
            f"cannot read the branches of {self.url}",
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

    def foreign_commits(self, branch: str) -> tuple[str, ...]:
        """Short shas of commits on the remote `branch`, beyond the default branch, that
        macoder did not author (none when the branch does not exist).

        The same check `publish` makes, available before any work starts, so a task whose
        branch a person touched can stop before its agent runs.
        """
        branch = pushable_branch(branch)
        default_ref, remote_sha = self.heads(branch)
        if remote_sha is None:
            return ()
        return self._inspect(branch, default_ref, None)[1]

    def publish(self, branch: str, head_sha: str, *, fast_forward: bool = False) -> None:
        """Push `head_sha` to `branch` with a lease on what the remote holds (`fast_forward`:
        a plain push instead, which the remote refuses unless it only adds commits — what a
        revision of a PR does, never rewriting what its reviewer saw).

        The remote branch is inspected first (`lease`): commits on it, beyond the default
        branch and `head_sha`, that macoder did not author mean a person worked there —
        nothing is pushed and `NeedsReviewError` tells the caller to label the PR. The push
        then leases on exactly the commit inspected (or on the branch not existing), so a
        push that lands in between is never overwritten (`PushRejectedError`).
        """
        branch = pushable_branch(branch)
        lease = self.lease(branch, head_sha)
        if lease.remote_sha == head_sha:
            log.info("%s is already at %s on the remote", branch, head_sha[:10])
            return
        self.push(branch, head_sha, lease, fast_forward=fast_forward)

    def lease(self, branch: str, head_sha: str) -> Lease:
        """Where the remote task `branch` is, once it is known to hold no commit of a person
        (beyond the default branch and `head_sha`; `NeedsReviewError` otherwise): what a push
        of `head_sha` leases on."""
        branch = pushable_branch(branch)
        default_ref, remote_sha = self.heads(branch)
        expected = ""
        if remote_sha is not None and remote_sha != head_sha:
            expected, foreign = self._inspect(branch, default_ref, head_sha)
            if foreign:
                raise NeedsReviewError(branch, foreign)
        return Lease(default_ref, remote_sha, expected)

    def push(self, branch: str, sha: str, lease: Lease, *, fast_forward: bool = False) -> None:
        """Push commit `sha` (present locally) to the task `branch`, leasing on `lease`
        (`fast_forward`: a plain push). Hooks are skipped (`--no-verify`): the content was
        verified by macoder, and a hook that prompts or fails on a CI runner must not decide
        whether a verified task gets its PR."""
        branch = pushable_branch(branch)
        force = [f"--force-with-lease=refs/heads/{branch}:{lease.expected}"]
        args = [
            "push",
            "--porcelain",
            "--no-verify",
            *([] if fast_forward else force),
            self.url,
            f"{sha}:refs/heads/{branch}",
        ]
        code, out, err = self.git(args)
        if code == 0:
            log.info("pushed %s at %s", branch, sha[:10])
            return
        if any(words in out + err for words in _LEASE_LOST):
            raise PushRejectedError(
                f"push of {branch} was rejected: the branch on {self.url} moved "
                "since macoder looked at it (someone else pushed); nothing was overwritten"
            )
        raise GitError(
            f"cannot push {branch} to {self.url}",
            command=["git", *args],
            stderr=err or out,
            returncode=code,
        )

    def _inspect(
        self, branch: str, default_ref: str | None, head_sha: str | None
    ) -> tuple[str, tuple[str, ...]]:
        """Fetch the remote `branch` (and default branch) and list who wrote what is on it.

        Returns the commit inspected (the push's lease expects exactly it) and the short
        shas of commits beyond the default branch and `head_sha` that a person authored or
        committed.
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
            self.read([*fetch, self.url, *specs], f"cannot fetch {branch} from {self.url}")
            tip = self.git_ok(["rev-parse", "--verify", tip_ref], "fetched nothing").strip()
            listing = self.git_ok(
                ["log", "--format=%H%x00%ae%x00%ce", tip, "--not", *hide],
                f"cannot list the commits of {branch}",
            )
        finally:
            for ref in (tip_ref, base_ref):
                self.git(["update-ref", "-d", ref])
        # Author or committer: a person who amends or rebases macoder's commit keeps macoder
        # as its author, and is still a person whose work must not be overwritten.
        foreign = tuple(
            sha[:10]
            for sha, author, committer in (line.split("\x00") for line in listing.splitlines())
            if not self.is_macoders(author, committer)
        )
        return tip, foreign

    def is_macoders(self, author: str, committer: str) -> bool:
        """Whether a commit with these author and committer emails is macoder's."""
        author, committer = author.strip().lower(), committer.strip().lower()
        if not {author, committer} - self.macoder_emails:
            return True
        return self.also_macoders is not None and self.also_macoders(author, committer)

    # ----------------------------------------------------------------- any ref

    def fetch_ref(self, ref: str, *, into: str | None = None) -> bool:
        """Mirror the remote's `ref` locally (`+ref:ref`, or into the local ref `into`); False,
        with the local ref deleted, when the remote has no such ref. Network failures are
        retried."""
        local = into or ref
        args = [
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            self.url,
            f"+{ref}:{local}",
        ]
        try:
            self.read(args, f"cannot fetch {ref} from {self.url}")
        except GitError as exc:
            if "couldn't find remote ref" in exc.stderr.lower():
                self.git(["update-ref", "-d", local])
                return False
            raise
        return True

    def push_ref(self, new: str, ref: str) -> tuple[int, str]:
        """A plain (non-force) push of commit `new` to `ref`: the remote takes fast-forwards
        only. Returns git's exit code and everything it said (scrubbed)."""
        code, out, err = self.git(["push", "--porcelain", "--no-verify", self.url, f"{new}:{ref}"])
        return code, out + err


def task_branch(branch: str) -> str:
    """`macoder/<id>` from `branch` (with or without `refs/heads/`), or a `ForgeError`: macoder
    pushes nothing else, and a bad id never reaches git."""
    short = branch.removeprefix("refs/heads/")
    if not short.startswith(BRANCH_PREFIX):
        raise ForgeError(f"not a task branch: {short!r}; macoder pushes only macoder/<id>")
    return branch_for(short.removeprefix(BRANCH_PREFIX))


def pushable_branch(branch: str) -> str:
    """A branch macoder may push: a task's `macoder/<id>`, a proposed rewrite's
    `macoder/rebase-<id>` (`macoder rebase`), or a track's plan branch `macoder/plan-<track>`
    (the Action's `plan-feature`); a `ForgeError` for anything else."""
    short = branch.removeprefix("refs/heads/")
    subject = pr_subject(short)
    if is_plan_branch(short) or (subject is not None and subject[0] == "rebase"):
        return short
    return task_branch(short)


def _is_network(stderr: str) -> bool:
    lowered = stderr.lower()
    return any(words in lowered for words in _NETWORK)
