"""Changing BACKLOG.yaml without losing anything.

A status change replaces exactly the characters of that one scalar, keeping its quoting: every
other byte of the file (comments, key order, blank lines, indentation, line endings, a BOM) is
untouched. That is stricter than a round-trip dump, which re-emits the whole document and may
re-wrap or re-indent lines nobody asked to change, and it keeps task PRs mergeable side by side:
each flips only its own `status:` line.

Every write is: read under a lock, edit in memory, validate the result (refused whole if it does
not validate), refuse a read-only file or directory, write a temp file in the same directory,
fsync, atomic rename, fsync the directory. A crash at any point leaves either the old file or
the new one, never half of either; a refusal leaves the file byte-identical.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from multi_agent_coder.backlog.load import DEFAULT_CHECKS, Check, load_bytes, read_bytes
from multi_agent_coder.backlog.model import TaskStatus
from multi_agent_coder.errors import (
    BacklogInvalidError,
    NotWritableError,
    UnknownTaskError,
    WriteRefusedError,
)
from multi_agent_coder.ids import validate_task_id
from multi_agent_coder.limits import MAX_FILE_BYTES
from multi_agent_coder.problems import errors_in
from multi_agent_coder.userfiles import resolve_user_file
from multi_agent_coder.yamlread import (
    Span,
    YamlError,
    decode,
    locate_scalar,
    parse_with_positions,
    split_bom,
)

_QUOTES = ("'", '"')


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock on the directory itself: no lock file is left behind, and it
    serialises every macoder writer of any file in that directory (lock held across the rename,
    which a lock on the file's own inode would not survive)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` all at once, keeping its permission bits."""
    directory = path.parent
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def replace_scalar(text: str, start: int, end: int, value: str) -> str:
    """`text` with the scalar at [start, end) replaced by `value`, in the same quoting style."""
    old = text[start:end]
    quote = old[0] if old and old[0] in _QUOTES else ""
    return text[:start] + quote + value + quote + text[end:]


def set_task_status(
    path: Path,
    task_id: str,
    status: TaskStatus,
    *,
    display: str | None = None,
    checks: Sequence[Check] = DEFAULT_CHECKS,
    max_bytes: int = MAX_FILE_BYTES,
) -> bool:
    """Set one task's status in the file at `path`. Returns False when it already had it.

    Raises `InvalidTaskIdError` / `UnknownTaskError` (usage), `UnreadableFileError` when the
    path is no regular file in the repository (`userfiles`), `BacklogInvalidError` when the
    file is already invalid, `WriteRefusedError` when the edited file would not validate,
    `NotWritableError` when the file or its directory may not be written. Whatever is
    raised, the file is as it was.
    """
    validate_task_id(task_id)
    shown = display or str(path)
    # Write through a symlinked backlog to its target (kept a link), checked like any read.
    target = resolve_user_file(path, shown=shown)
    try:
        with directory_lock(target.parent):
            raw = read_bytes(target, shown, max_bytes)
            new_raw = with_task_status(raw, task_id, status, shown, checks)
            if new_raw is None:
                return False
            require_writable(target, shown)
            atomic_write(target, new_raw)
            return True
    except OSError as exc:
        raise NotWritableError(f"{shown}: not written: {exc.strerror or exc}") from None


def require_writable(path: Path, shown: str, *, purpose: str = "change a status") -> None:
    """Refuse to replace a read-only file, or one in a read-only directory; `purpose` says,
    in the message, what making it writable would allow.

    The rename that replaces the file asks only the directory, so without this a 0444
    backlog would be replaced silently; and `os.access` says yes to root whatever the mode.
    So the mode bits are read here as well: no write bit means read-only, for root too.
    """
    for place, what in ((path, "the file"), (path.parent, "its directory")):
        mode = place.stat().st_mode
        if not mode & 0o222 or not os.access(place, os.W_OK):
            where = "" if place == path else f" {place}"
            raise NotWritableError(
                f"{shown}: not written: {what}{where} is read-only (mode "
                f"{stat.S_IMODE(mode):o}); make it writable to {purpose}"
            )


def with_task_status(
    raw: bytes,
    task_id: str,
    status: TaskStatus,
    shown: str,
    checks: Sequence[Check] = DEFAULT_CHECKS,
) -> bytes | None:
    """The backlog `raw` with one task's status set (None: it already has it). Pure: the
    writer above and the publish job's check of a task branch's backlog both call it, so
    "only the task's own status changed" means exactly what macoder itself writes.

    Validated once: the file is loaded and checked as `macoder check` does, then the checks
    run again on that model with the one status changed — which is what the edited file
    parses to, since only that scalar's characters are replaced, by a status word in the same
    quoting — and the edit is spliced into the text. Only a refusal re-reads the edited text
    (to point at each problem's line). So `mark` builds no more than `check` does.
    """
    validate_task_id(task_id)
    current = load_bytes(raw, shown, checks)
    backlog = current.backlog
    if backlog is None or errors_in(current.problems):
        raise BacklogInvalidError(errors_in(current.problems) or current.problems)
    index = backlog.task_index().get(task_id)
    if index is None:
        raise UnknownTaskError(task_id, shown, [t.id for t in backlog.tasks])
    if backlog.tasks[index].status is status:
        return None
    tasks = list(backlog.tasks)
    tasks[index] = tasks[index].model_copy(update={"status": status})
    entries, ids = list(enumerate(tasks)), {task.id for task in tasks}
    clean = not any(check(entries, ids) for check in checks)
    del current, backlog, tasks, entries
    text = decode(raw)
    span = locate_scalar(text, ("tasks", index, "status")) or _exact_span(text, index)
    bom, _ = split_bom(raw)  # the loader's own rule; a refused BOM never got this far
    new_raw = bom + replace_scalar(text, span.start, span.end, status.value).encode("utf-8")
    del text
    if clean:
        return new_raw
    errors = errors_in(load_bytes(new_raw, shown, checks).problems)
    if errors:
        raise WriteRefusedError(
            errors,
            f"{shown}: not written: setting {task_id} to {status.value} would make the "
            f"backlog invalid ({len(errors)} problem{'s' if len(errors) > 1 else ''} above)",
        )
    return new_raw


def _exact_span(text: str, index: int) -> Span:
    """The status scalar's span from a full parse with positions: for what the streaming
    `locate_scalar` leaves (a status written through an alias)."""
    try:
        _, positions = parse_with_positions(text)
    except YamlError as exc:  # pragma: no cover - the file validated a moment ago
        raise BacklogInvalidError([]) from exc
    return positions.values[("tasks", index, "status")]
