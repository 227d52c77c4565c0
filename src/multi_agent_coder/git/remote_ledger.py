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
import time
from collections.abc import Callable
from typing import ClassVar, Final

from multi_agent_coder.errors import GitError, LedgerBusyError, RefMovedError
from multi_agent_coder.git.ledger import LEDGER_REF, Ledger
from multi_agent_coder.git.remote import Remote
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
_LOCAL_LOCK_TRIES: Final = 20


class RemoteLedger(Ledger):
    """The run ledger whose truth is `ref` on `remote`."""

    #: A round trip to a remote takes longer than a local ref update: back off further.
    backoff_base: ClassVar[float] = 0.02
    backoff_cap: ClassVar[float] = 1.0

    def __init__(
        self,
        repo: Repo,
        remote: Remote,
        *,
        ref: str = LEDGER_REF,
        clock: Callable[[], float] = time.time,
        max_tries: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(repo, ref, clock, max_tries=max_tries, sleep=sleep, rng=rng)
        self.remote = remote

    def _refresh(self) -> None:
        """Mirror the remote's ledger ref locally (a concurrent local fetch: try again)."""
        for attempt in range(_LOCAL_LOCK_TRIES):
            try:
                self.remote.fetch_ref(self.ref)
            except GitError as exc:
                if "lock" not in exc.stderr:
                    raise type(exc)(
                        f"cannot fetch the run ledger {self.ref} from {self.remote.url}",
                        command=exc.command,
                        stderr=exc.stderr,
                        returncode=exc.returncode,
                    ) from None
                self._sleep(0.01 * (attempt + 1) * self._rng())
                continue
            return
        raise LedgerBusyError(f"{self.ref}: the local ref stayed locked while fetching it")

    def _swap(self, new: str, old: str | None, message: str) -> None:
        """A plain push of `new` (a descendant of `old`): the remote takes fast-forwards only."""
        code, said = self.remote.push_ref(new, self.ref)
        if code == 0:
            self.remote.git(["update-ref", "-m", message, self.ref, new])
            return
        kind = RefMovedError if any(words in said for words in _LOST_RACE) else GitError
        raise kind(
            f"cannot push the run ledger {self.ref} to {self.remote.url}",
            command=["git", "push", self.remote.url, f"{new}:{self.ref}"],
            stderr=said,
            returncode=code,
        )
