"""What a sandboxed process may see, write and reach, as a bubblewrap command line. Pure.

The agent (and the code it writes, when the checks run it) is untrusted: a prompt injection
in any file it reads can make it run anything its shell allows. So what it can reach is
decided by the process tree it lives in (DESIGN §9), expressed here as a `Policy`:

- the whole file system read-only (programs and libraries must run), then
- `hidden` paths covered by an empty tmpfs (the user's home, the main checkout, the shared
  `.git`, the CI runner's files) — invisible, not merely unwritable;
- `readable` paths bound back read-only on top (the interpreter, the agent's binary, the
  repository's history), and `writable` ones read-write (the task's worktree, a private home
  and temp dir, the directory of the bridge sockets);
- its own PID namespace (nothing outside is visible in `/proc`, and when its first process
  ends every process in it is killed, double-forked and `setsid` ones too), IPC and UTS
  namespaces, no network at all unless `network` (the model is reached through a socket
  bridged in, never by an open route), a new session (no terminal to inject keys into),
  death with its parent (a `kill -9` of macoder leaves nothing behind), no capabilities;
- an environment built from scratch (`env`), nothing inherited. It is handed to bwrap as its
  own environment (bwrap passes it on), never as `--setenv` arguments: a command line is
  readable by every user of the machine (`ps`), an environment only by its owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Policy:
    """One sandbox: what is hidden, readable, writable, and the environment inside (spawn
    bwrap with exactly `env`; see the module docstring)."""

    writable: tuple[Path, ...] = ()
    readable: tuple[Path, ...] = ()
    hidden: tuple[Path, ...] = ()
    #: Files shown empty (/dev/null bound over them), e.g. the machine's password hashes.
    masked: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    chdir: Path | None = None
    network: bool = False


def _depth(path: Path) -> int:
    return len(path.parts)


def _distinct(paths: Iterable[Path]) -> list[Path]:
    """Absolute, deduplicated, shallowest first: a bind inside a hidden or bound directory
    must come after it, or the outer mount would cover it."""
    seen = {Path(p).absolute() for p in paths}
    return sorted(seen, key=lambda p: (_depth(p), str(p)))


def bwrap_argv(bwrap: str, policy: Policy, command: Sequence[str], *, as_root: bool) -> list[str]:
    """The full `bwrap ... -- command` argv for `policy`.

    `as_root`: macoder runs as uid 0 (a container, a CI runner with sudo): bwrap then keeps
    no capability (`--cap-drop ALL`), so a read-only bind stays read-only for it too.
    """
    if not command:
        raise ValueError("a sandbox needs a command to run")
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    argv += ["--tmpfs", "/tmp"]  # noqa: S108 - a private, empty /tmp inside the sandbox
    for path in _distinct(policy.hidden):
        argv += ["--tmpfs", str(path)]
    mounts = [(p, "--ro-bind") for p in _distinct(policy.readable)]
    mounts += [(p, "--bind") for p in _distinct(policy.writable)]
    for path, flag in sorted(mounts, key=lambda m: (_depth(m[0]), m[1] == "--bind")):
        argv += [flag, str(path), str(path)]
    for path in _distinct(policy.masked):
        argv += ["--ro-bind", "/dev/null", str(path)]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not policy.network:
        argv.append("--unshare-net")
    argv += ["--die-with-parent", "--new-session"]
    if as_root:
        argv += ["--cap-drop", "ALL"]
    if policy.chdir is not None:
        argv += ["--chdir", str(policy.chdir)]
    return [*argv, "--", *command]


def exposed_again(hidden: Iterable[Path], wanted: Iterable[Path]) -> list[Path]:
    """The `wanted` paths that lie under a hidden one (they must be bound back read-only to
    stay usable, e.g. an interpreter installed in the user's home)."""
    covers = [Path(h).absolute() for h in hidden]
    return [
        Path(w).absolute()
        for w in wanted
        if any(Path(w).absolute().is_relative_to(h) for h in covers)
    ]
