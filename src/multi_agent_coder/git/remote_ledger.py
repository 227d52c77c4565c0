"""The run ledger shared through a git remote (DESIGN §4), for parallel CI jobs.

Each matrix job has its own clone, so the local compare-and-swap of `Ledger` cannot see the
other jobs. `RemoteLedger` keeps all of `Ledger`'s record logic (parsing, leases, the retry
loop) and only swaps its two hooks:

- before every read, the ref is fetched explicitly (`actions/checkout` never fetches
  `refs/macoder/*`): `git fetch <remote> +refs/macoder/ledger:refs/macoder/ledger`. The local
  ref is a mirror of the remote one; when the remote has none, the local one is dropped too;
- the compare-and-swap is a plain, non-force push of the new commit. The remote refuses it
  unless it is a fast-forward of what the remote holds, i.e. unless nobody appended since our
  fetch. A refusal is a lost race: `Ledger` re-fetches, re-decides (a lease may be taken now),
  re-appends on the new tip and retries with jittered backoff — bounded.

So several processes, each with its own clone of one remote, never lose a record and never
both take one lease. Credentials reach git only through `git_env` (see
`forge.github.git_auth_env`), never through argv.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Final

from multi_agent_coder.errors import GitError, LedgerBusyError, RefMovedError
from multi_agent_coder.git.env import run_git
from multi_agent_coder.git.ledger import LEDGER_REF, Ledger
from multi_agent_coder.git.repo import Repo

#: git's words (in the C locale) for "the remote ref moved" or "someone holds its lock".
_LOST_RACE: Final = (
    "fetch first",
    "non-fast-forward",
    "stale info",
    "failed to update ref",
    "failed to lock",
    "cannot lock ref",
    "incorrect old value",
)
_ABSENT: Final = "couldn't find remote ref"
_LOCAL_LOCK_TRIES: Final = 20


class RemoteLedger(Ledger):
    """The run ledger whose truth is `ref` on `remote` (a URL, a path or a remote name)."""

    #: A round trip to a remote takes longer than a local ref update: back off further.
    backoff_base: ClassVar[float] = 0.02
    backoff_cap: ClassVar[float] = 1.0

    def __init__(
        self,
        repo: Repo,
        remote: str,
        *,
        git_env: Mapping[str, str] | None = None,
        ref: str = LEDGER_REF,
        clock: Callable[[], float] = time.time,
        max_tries: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        timeout_s: float = 120.0,
    ) -> None:
        super().__init__(repo, ref, clock, max_tries=max_tries, sleep=sleep, rng=rng)
        self.remote = remote
        self.timeout_s = timeout_s
        self._env = {**(git_env or {}), "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}

    def _git(self, args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        return run_git(
            args, self.repo.root, check=False, timeout=self.timeout_s, extra_env=self._env
        )

    def _refresh(self) -> None:
        """Mirror the remote's ledger ref locally (a concurrent local fetch: try again)."""
        args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", self.remote]
        args.append(f"+{self.ref}:{self.ref}")
        for attempt in range(_LOCAL_LOCK_TRIES):
            result = self._git(args)
            if result.returncode == 0:
                return
            stderr = result.stderr.decode("utf-8", "replace")
            if _ABSENT in stderr:
                self._git(["update-ref", "-d", self.ref])
                return
            if "lock" not in stderr:
                raise GitError(
                    f"cannot fetch the run ledger {self.ref} from {self.remote}",
                    command=["git", *args],
                    stderr=stderr,
                    returncode=result.returncode,
                )
            self._sleep(0.01 * (attempt + 1) * self._rng())
        raise LedgerBusyError(f"{self.ref}: the local ref stayed locked while fetching it")

    def _swap(self, new: str, old: str | None, message: str) -> None:
        """A plain push of `new` (a descendant of `old`): the remote takes fast-forwards only."""
        args = ["push", "--porcelain", "--no-verify", self.remote, f"{new}:{self.ref}"]
        result = self._git(args)
        if result.returncode == 0:
            self._git(["update-ref", "-m", message, self.ref, new])
            return
        said = (result.stdout + result.stderr).decode("utf-8", "replace")
        kind = RefMovedError if any(words in said for words in _LOST_RACE) else GitError
        raise kind(
            f"cannot push the run ledger {self.ref} to {self.remote}",
            command=["git", *args],
            stderr=said,
            returncode=result.returncode,
        )
