"""A cross-process lock for the work git itself does not make safe to do in parallel.

`git worktree add`, `remove` and `prune` all read and write `.git/worktrees/` without a lock of
their own: a process that lists the registrations while another is half-way through writing
one dies with `fatal: failed to read .git/worktrees/<id>/commondir: Success`, and a `remove`
that deletes the emptied `.git/worktrees` races an `add` creating its entry in it (measured:
three processes, 25 rounds each, fail a few times in every run). Every macoder process (the
worker threads of one run and every other run on the machine) takes this lock around those
commands.

It is an `flock` on a file under `.git/macoder/`: the kernel releases it when the holder dies,
so a crashed or killed run never leaves it held, and no stale lock file needs reaping. The
wait is unbounded, because the holder is not: it only runs git commands that have timeouts.
Each call opens the file anew, so two threads of one process exclude each other too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

#: Where the lock lives, relative to the common git directory.
WORKTREES_LOCK: Final = Path("macoder") / "worktrees.lock"


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if absent) for the `with` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock
