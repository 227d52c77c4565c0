"""The OS sandbox around everything the agent runs: its server, its shell, the checks.

`policy.py` says what a sandbox may see, write and reach (pure); `bwrap.py` finds bubblewrap
and checks, fail-closed, that it can start; `inside.py` is the sandbox's first process (the
socket bridges). This module puts them together for the two sandboxes a run uses:

- the agent's: OpenCode and every command it runs. Writable: the run's task worktrees and a
  private home and temp dir; readable: the system, the interpreters and tools on PATH, the
  agent's binary, the repository's history (its git directory, read-only); invisible: the
  user's home, the main checkout, the runner's files, other sockets under /run. No network:
  macoder reaches the server through a socket, and the server reaches its model only through
  the run's gateway;
- the checks': the repository's own tests run on a copy of the agent's committed tree, with
  nothing writable but that copy and a private temp dir, and no network.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from multi_agent_coder.sandbox.bwrap import SandboxUnavailableError, probe, require
from multi_agent_coder.sandbox.policy import Policy, bwrap_argv

__all__ = [
    "INSIDE",
    "SOCKET_DIR_PREFIX",
    "Jail",
    "Policy",
    "SandboxUnavailableError",
    "jail_for",
    "probe",
    "require",
    "socket_directory",
]

#: The first process inside the sandbox (standard library only; see inside.py).
INSIDE: Final = Path(__file__).with_name("inside.py")
#: Files with secrets that every process may otherwise read as root: shown empty.
MASKED: Final = (Path("/etc/shadow"), Path("/etc/gshadow"))
#: System places that must never be visible: sockets of other services (a Docker socket is a
#: root shell), the runner's own state.
ALWAYS_HIDDEN: Final = (Path("/run"), Path("/var/run"))
#: Variables GitHub's runner sets that point at its private files (env, outputs, summaries).
RUNNER_PATHS: Final = ("RUNNER_TEMP", "GITHUB_WORKSPACE", "RUNNER_WORKSPACE")


def _interpreter_paths() -> list[Path]:
    """This Python (so inside.py runs) and the package it comes with."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    paths.add(Path(__file__).resolve().parent)
    return sorted(paths)


def _path_dirs(env: Mapping[str, str]) -> list[Path]:
    return [Path(part) for part in env.get("PATH", "").split(os.pathsep) if part.startswith("/")]


@dataclass(frozen=True, slots=True)
class Jail:
    """How a run confines its agent and checks; `bwrap` None: the sandbox is off."""

    bwrap: Path | None
    repo_root: Path
    git_dir: Path
    home: Path
    extra_read: tuple[Path, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.bwrap is not None

    def hidden(self, environ: Mapping[str, str]) -> list[Path]:
        """What the sandbox covers with an empty tmpfs: existing directories, each once,
        by their real path (`/var/run` is a link to `/run`)."""
        runner = [Path(environ[name]) for name in RUNNER_PATHS if environ.get(name)]
        found = {p.resolve() for p in (self.home, self.repo_root, *ALWAYS_HIDDEN, *runner)}
        return sorted(p for p in found if p.is_dir() and p != Path("/"))

    def _readable(self, env: Mapping[str, str], extra: Iterable[Path]) -> list[Path]:
        wanted = [*_interpreter_paths(), *_path_dirs(env), *self.extra_read, *extra]
        return [p for p in wanted if p.exists()]

    def agent_policy(
        self,
        *,
        env: Mapping[str, str],
        writable: Sequence[Path],
        readable: Sequence[Path],
        environ: Mapping[str, str],
    ) -> Policy:
        """The agent's sandbox: `writable` (worktrees, private home, sockets), the history
        read-only, the rest of `readable` (the agent's binary) read-only."""
        return Policy(
            writable=tuple(writable),
            readable=tuple(self._readable(env, [*readable, self.git_dir])),
            hidden=tuple(self.hidden(environ)),
            masked=tuple(p for p in MASKED if p.exists()),
            env=dict(env),
        )

    def checks_policy(
        self, *, copy: Path, scratch: Path, env: Mapping[str, str], environ: Mapping[str, str]
    ) -> Policy:
        """The checks' sandbox: only `copy` (the tree under test) and `scratch` writable,
        run in `copy`, no network, the repository's git directory invisible too."""
        return Policy(
            writable=(copy, scratch),
            readable=tuple(self._readable(env, ())),
            hidden=(*self.hidden(environ), self.git_dir),
            masked=tuple(p for p in MASKED if p.exists()),
            env=dict(env),
            chdir=copy,
        )

    def wrap(self, policy: Policy, command: Sequence[str]) -> list[str]:
        """`command` inside `policy`'s sandbox (unchanged when the sandbox is off)."""
        if self.bwrap is None:
            return list(command)
        return bwrap_argv(str(self.bwrap), policy, command, as_root=os.geteuid() == 0)

    def inside(
        self,
        command: Sequence[str],
        *,
        serve: tuple[Path, int] | None,
        egress: Sequence[tuple[int, Path]],
    ) -> list[str]:
        """`command` preceded by the bridge launcher: `serve` = (socket, port inside),
        `egress` = (port inside, socket outside) pairs."""
        launcher = [sys.executable, "-I", str(INSIDE)]
        if serve is not None:
            launcher += ["--serve", f"{serve[0]}:{serve[1]}"]
        for port, socket in egress:
            launcher += ["--egress", f"{port}:{socket}"]
        return [*launcher, "--", *command]


def jail_for(*, enabled: bool, extra_read: Iterable[str], repo_root: Path, git_dir: Path) -> Jail:
    """The run's jail: bubblewrap checked to start here (or `SandboxUnavailableError` naming
    the cause and the fix), or a jail that is off when the user opted out."""
    bwrap = require() if enabled else None
    return Jail(
        bwrap=bwrap,
        repo_root=repo_root,
        git_dir=git_dir,
        home=Path.home(),
        extra_read=tuple(Path(p) for p in extra_read),
    )


@contextlib.contextmanager
def socket_directory() -> Iterator[Path]:
    """A private directory for the run's Unix sockets, with a short path (a socket's name is
    at most 107 bytes, and a deep TMPDIR would not leave room), removed afterwards."""
    base = tempfile.gettempdir()
    where = base if len(base) <= SOCKET_BASE_MAX else "/tmp"  # noqa: S108 - a private mkdtemp
    path = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX, dir=where))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


#: How the name of a run's socket directory starts (kept short: see `socket_directory`).
SOCKET_DIR_PREFIX: Final = "mc-"

#: Longest temp dir under which the run's sockets still fit in a Unix socket's name.
SOCKET_BASE_MAX: Final = 60
