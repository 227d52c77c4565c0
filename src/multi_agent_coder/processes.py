"""Local processes: start them with a chosen environment, bound them in time, and end them
with everything they started.

One module for what the OpenCode server, the repository's checks and the clean-up of a killed
run all need, because each got it wrong in its own way before:

- a command may start children that outlive it (a test server, `sleep` under `sh`, an agent's
  `setsid` command); ending only the leader leaves them running. `process_tree` finds them by
  parent links *and* by session, and `signal_tree` signals every one and every group they lead;
- a pid can be reused once its process is reaped; each signalled process is checked against
  the start time it had when it was found (`ProcessInfo.start`), and a command's leader is
  killed while it is still unreaped, so its pid cannot name a stranger;
- a pipe fills up or is held open by a grandchild; output goes to a file instead
  (`run_bounded`), and only its tail is kept.

Linux facts (`/proc`) are read where they exist; elsewhere `process_table` is empty and the
process-group kill is what remains.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

#: What `run_bounded` keeps of a command's output (the end is where tools put their summary).
OUTPUT_TAIL_BYTES: Final = 4096
#: How often a running command is polled for exit, at most (polling starts at 1 ms).
_POLL_MAX_S: Final = 0.05


# --------------------------------------------------------------------------- facts


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process as /proc shows it; `start` (clock ticks since boot) guards against pid reuse."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    start: int


def read_process(pid: int) -> ProcessInfo | None:
    """`pid`'s parent, group, session and start time, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid pgrp session ... starttime is field 22; comm may hold spaces.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return ProcessInfo(pid, int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def process_table() -> list[ProcessInfo]:
    """Every process visible in /proc (empty where there is no /proc)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    found = (read_process(int(e.name)) for e in proc.iterdir() if e.name.isdigit())
    return [info for info in found if info is not None]


def process_tree(root: int, table: Iterable[ProcessInfo] | None = None) -> list[ProcessInfo]:
    """`root` and everything below it by parent pid, plus members of its session.

    OpenCode starts each bash command in a new session and process group (measured: setsid),
    so neither killpg on the server's group nor its session id reaches them; only the parent
    links do, and only while the server is alive (its orphans are reparented).
    """
    rows = list(process_table() if table is None else table)
    children: dict[int, list[ProcessInfo]] = {}
    for info in rows:
        children.setdefault(info.ppid, []).append(info)
    found: dict[int, ProcessInfo] = {i.pid: i for i in rows if root in (i.pid, i.sid)}
    queue = list(found)
    while queue:
        for child in children.get(queue.pop(), []):
            if child.pid not in found:
                found[child.pid] = child
                queue.append(child.pid)
    return sorted(found.values(), key=lambda i: i.pid)


def command_line(pid: int) -> bytes:
    """`pid`'s argv as /proc has it (NUL-separated), empty when unreadable."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# --------------------------------------------------------------------------- ending


def signal_tree(leader: int, tree: Iterable[ProcessInfo], sig: signal.Signals) -> None:
    """Signal `leader`'s group and every process of `tree` still alive (and its group).

    A process whose start time changed since `tree` was read is a new process under a reused
    pid and is left alone. Our own process group is never signalled.
    """
    groups = [leader]
    for info in tree:
        now = read_process(info.pid)
        if now is not None and now.start == info.start:
            groups.append(now.pgid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(info.pid, sig)
    for group in groups_to_signal(groups, own=os.getpgid(0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)


def groups_to_signal(groups: Iterable[int], *, own: int) -> list[int]:
    """The process groups of `groups` that may be signalled, each once, in order.

    `killpg(g)` is `kill(-g)`, so two numbers must never reach it: 0 (the caller's own
    group) and 1 (`kill(-1)`: every process the caller may signal). The numbers come from
    /proc rows of processes that may be exiting as they are read; nothing else rules those
    two out. Our own group is left alone by its number too.
    """
    return [g for g in dict.fromkeys(groups) if g > 1 and g != own]


def terminate_tree(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """End `process` and everything it started: SIGTERM, up to `grace_s` to exit, SIGKILL.

    The tree is read before the first signal: once the leader is gone its children are
    orphans and no parent link leads to them any more.
    """
    tree = process_tree(process.pid)
    signal_tree(process.pid, tree, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    if process.poll() is None:
        tree += process_tree(process.pid)
    signal_tree(process.pid, tree, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=max(grace_s, 1.0))


def kill_tree(root: int) -> list[int]:
    """SIGKILL `root` and everything below it at once; the pids signalled."""
    tree = process_tree(root)
    signal_tree(root, tree, signal.SIGKILL)
    return [info.pid for info in tree]


# --------------------------------------------------------------------------- starting


def allowed_environment(
    source: Mapping[str, str], allowed: Iterable[str], **fixed: str
) -> dict[str, str]:
    """Only the variables named in `allowed` (those present in `source`), then `fixed`.

    An allowlist, not a deny-list: whatever a parent process holds (a token, a key the user
    exported for something else) reaches a child only when it was named on purpose.
    """
    env = {name: source[name] for name in allowed if name in source}
    env.update(fixed)
    return env


@dataclass(frozen=True, slots=True)
class Finished:
    """How a bounded command ended.

    `exit_code` is None when the command never exited on its own (not found, timed out);
    `failure` then says why. A negative `exit_code` is the signal that killed it.
    """

    exit_code: int | None
    duration_s: float
    output_tail: str
    failure: str | None = None


def run_bounded(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout_s: float
) -> Finished:
    """Run `argv` (no shell) in `cwd` to its end or `timeout_s`, whichever comes first.

    It runs in a session of its own, and the whole group is killed when it ends or times out,
    so a stuck grandchild cannot outlive it or hold the caller. Output (stdout and stderr
    together) goes to a file, not a pipe: nothing can block on a full pipe, and a grandchild
    that keeps the output open cannot make us wait for an end-of-file that never comes.
    """
    if not argv:
        raise ValueError("an empty command cannot run")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be above zero, not {timeout_s!r}")
    started = time.monotonic()
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            return Finished(None, time.monotonic() - started, "", f"command not found: {argv[0]}")
        except OSError as exc:
            why = f"cannot run {argv[0]}: {exc.strerror or exc}"
            return Finished(None, time.monotonic() - started, "", why)
        try:
            exited = _wait_unreaped(process.pid, timeout_s)
        finally:
            # The leader is not reaped yet, so its pid still names this group: the kill
            # cannot hit an unrelated process that reused the number.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            code = process.wait()
        duration = time.monotonic() - started
        tail = _tail(output)
    if not exited:
        return Finished(None, duration, tail, f"timed out after {timeout_s:g}s")
    return Finished(code, duration, tail)


def _wait_unreaped(pid: int, timeout_s: float) -> bool:
    """Wait up to `timeout_s` for `pid` to exit, leaving it unreaped; True if it exited."""
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))
        delay = min(delay * 2, _POLL_MAX_S)


def _tail(output: IO[bytes]) -> str:
    """The last `OUTPUT_TAIL_BYTES` of the output, not starting inside a UTF-8 character."""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - OUTPUT_TAIL_BYTES))
    data = output.read()
    if size > OUTPUT_TAIL_BYTES:
        skip = 0
        while skip < min(3, len(data)) and data[skip] & 0xC0 == 0x80:
            skip += 1
        data = data[skip:]
    return data.decode("utf-8", "replace")
