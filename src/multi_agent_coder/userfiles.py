"""Reading a file on the user's behalf: a regular file, inside the repository, bounded in size.

Why one module: every file macoder reads because a user named it or keeps it in the repository
(the backlog, `.macoder.yaml`, `pyproject.toml`, the opencode.json of `opencode_config`, the
build files a check is detected from) can be anything a path can be. A sweep found a FIFO named
BACKLOG.yaml hanging every command, a symlink to /dev/zero growing to 6 GB before it was
killed, and a symlink loop ending in "internal error". macoder's own files (the ledger,
forge.json, its package data) are written by macoder and read as they are.

The rules: a regular file only (a FIFO, device, socket or directory is refused, named by its
kind); a symlink is followed only to a file inside the repository (else refused, naming both
paths); a symlink loop is reported as one; at most `max_bytes` bytes (more is refused with the
limit in the message, and never more than `max_bytes + 1` bytes are read).

How, without a check-then-open race: the path is opened first, with `O_NONBLOCK` so that a
FIFO with no writer cannot block the open (it is never read), and every decision is then taken
on the open descriptor: `fstat` for its kind and size, `/proc/self/fd` for where the path really
led. Only then is it read. That costs one syscall more than `Path.read_bytes` (the readlink).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Final

from multi_agent_coder.errors import UnreadableFileError

_FLAGS: Final = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC

_KINDS: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)

#: Where the limit comes from, for the message.
LIMIT_SETTING: Final = "max_file_bytes"


def read_user_file(
    path: Path, *, max_bytes: int, shown: str | None = None, root: Path | None = None
) -> bytes:
    """The bytes of the regular file at `path`, or `UnreadableFileError` saying why not.

    `shown` is how messages name the file (default: `path`). `root` is the repository a
    symlink must stay inside; by default the nearest directory above `path` holding `.git`
    (else `path`'s own directory). A path that reaches a file outside `root` without any
    symlink was named by the user and is read.
    """
    name = shown if shown is not None else str(path)
    fd, status, _ = _open_regular(path, name, root)
    try:
        check_size(name, status.st_size, max_bytes)
        data = _read_at_most(fd, max_bytes + 1, status.st_size)
    finally:
        os.close(fd)
    check_size(name, len(data), max_bytes, grew=True)
    return data


def resolve_user_file(path: Path, *, shown: str | None = None, root: Path | None = None) -> Path:
    """Where `path` really leads, checked as `read_user_file` checks it (a regular file, a
    symlink only into the repository) but not read: the file a writer locks and replaces."""
    fd, _, real = _open_regular(path, shown if shown is not None else str(path), root)
    os.close(fd)
    return real


def check_size(shown: str, size: int, max_bytes: int, *, grew: bool = False) -> None:
    """Refuse `size` over `max_bytes` (also for a git blob, whose size is known unread)."""
    if size > max_bytes:
        what = "grew past" if grew else f"is {size:,} bytes, over"
        raise UnreadableFileError(
            shown,
            f"{what} the limit of {max_bytes:,} bytes (setting {LIMIT_SETTING}); nothing was "
            "read past it",
        )


def kind_of_mode(mode: int) -> str:
    """`a named pipe (FIFO)`, `a character device`, ...: what a non-regular file is."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "not a regular file"  # pragma: no cover - every kind POSIX has is listed


def _open_regular(path: Path, name: str, root: Path | None) -> tuple[int, os.stat_result, Path]:
    """An open descriptor of the regular file `path` leads to, its status and real path."""
    fd = _open(path, name)
    try:
        status = os.fstat(fd)
        real = _real_path(fd, path)
        if not stat.S_ISREG(status.st_mode):
            raise UnreadableFileError(
                name,
                f"{_what_is(path, real)} {kind_of_mode(status.st_mode)}, not a regular file; "
                "macoder reads only regular files",
            )
        _require_inside(path, real, name, root)
    except BaseException:
        os.close(fd)
        raise
    return fd, status, real


def _open(path: Path, name: str) -> int:
    try:
        return os.open(path, _FLAGS)
    except OSError as exc:
        raise _open_error(path, name, exc) from None


def _open_error(path: Path, name: str, exc: OSError) -> UnreadableFileError:
    """Why `open` failed, in words; the few cases that need a second look at the path."""
    if exc.errno == errno.ELOOP:
        return UnreadableFileError(name, "is a symlink loop (too many levels of symbolic links)")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        if os.path.islink(path):
            return UnreadableFileError(
                name, f"is a symlink to {os.readlink(path)}, which does not exist"
            )
        return UnreadableFileError(name, "no such file", missing=True)
    if exc.errno == errno.ENXIO:  # a socket, or a device with no driver behind it
        try:
            kind = kind_of_mode(os.stat(path).st_mode)
        except OSError:
            kind = "not a regular file"
        return UnreadableFileError(name, f"is {kind}; macoder reads only regular files")
    return UnreadableFileError(name, f"cannot read: {exc.strerror or exc}")


def _real_path(fd: int, path: Path) -> Path:
    """Where the open descriptor really is: the kernel's word for it (race-free), or the
    resolved path where there is no /proc."""
    try:
        link = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        link = ""
    if link.startswith("/") and not link.endswith(" (deleted)"):
        return Path(link)
    return Path(os.path.realpath(path))  # pragma: no cover - Linux has /proc


def _what_is(path: Path, real: Path) -> str:
    """`is`, or `is a symlink to /dev/zero, which is` when one was followed: the message
    names both paths."""
    return "is" if real == Path(os.path.abspath(path)) else f"is a symlink to {real}, which is"


def _require_inside(path: Path, real: Path, name: str, root: Path | None) -> None:
    lexical = Path(os.path.abspath(path))
    if real == lexical:
        return  # no symlink on the way: the user named this file
    base = Path(os.path.realpath(root if root is not None else repository_of(lexical)))
    if real.is_relative_to(base):
        return
    raise UnreadableFileError(
        name,
        f"is a symlink to {real}, outside the repository at {base}; macoder follows a "
        "symlink only to a file inside the repository",
    )


def repository_of(path: Path) -> Path:
    """The nearest directory above `path` that holds `.git`, else `path`'s own directory."""
    for parent in path.parents:
        if os.path.lexists(parent / ".git"):
            return parent
    return path.parent


def _read_at_most(fd: int, limit: int, expected: int) -> bytes:
    """At most `limit` bytes. The first read asks for the size `fstat` gave and one byte
    more, so a regular file comes whole and its end shows in a second, one-byte read (as
    `Path.read_bytes` does); a file that keeps growing is asked for twice as much each time."""
    chunks: list[bytes] = []
    total = 0
    target = min(expected + 1, limit)
    while True:
        if total >= target:
            if target >= limit:
                break
            target = min(target * 2, limit)
        chunk = os.read(fd, target - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
