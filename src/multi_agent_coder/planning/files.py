"""A track's planning files on disk: read SPEC.md, ARCH.md and QA.md, write PLAN.md.

The I/O around the pure merge (`merge.py`). Reads go through `userfiles` (a regular file, a
symlink only into the repository, bounded in size), since a track's files are the user's; the
write is the backlog's: under the directory's lock, to a temp file in the same directory,
fsync, rename. A crash or a refusal leaves the old PLAN.md or none, never half of one, and a
merge that finds a problem writes nothing at all.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from multi_agent_coder.backlog.write import atomic_write, directory_lock, require_writable
from multi_agent_coder.errors import NotWritableError, PlanningError, UsageError
from multi_agent_coder.ids import validate_track
from multi_agent_coder.planning.merge import (
    ARCH_FILE,
    PLAN_FILE,
    QA_FILE,
    SPEC_FILE,
    Source,
    merge_plan,
)
from multi_agent_coder.userfiles import kind_of_mode, read_user_file

#: A file of a track, as `macoder spec show` takes it: one name, no directory, no '..'.
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Track:
    """Where a track's files live: `directory` on disk, `relative` from the project root
    (`specs/auth`, also how messages name it)."""

    name: str
    relative: PurePosixPath
    directory: Path

    def shown(self, file_name: str) -> str:
        return (self.relative / file_name).as_posix()


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    """The PLAN.md a merge made: its path as shown, and whether the file changed."""

    shown: str
    changed: bool


def track_of(root: Path, specs_dir: str, name: str) -> Track:
    """The track `name` under the specs directory of the project at `root`; the name is
    validated before it is joined to any path."""
    relative = PurePosixPath(specs_dir) / validate_track(name)
    return Track(name, relative, root / relative)


def validate_file_name(value: str) -> str:
    """A track file's name, refused if it could name anything but one file of the track."""
    if _FILE_NAME.fullmatch(value) is None or ".." in value:
        raise UsageError(
            f"invalid file name {value!r}: name one file of the track, such as "
            f"{PLAN_FILE}, {SPEC_FILE}, {ARCH_FILE} or {QA_FILE}"
        )
    return value


def merge_track(root: Path, specs_dir: str, name: str, *, max_bytes: int) -> MergeOutcome:
    """Merge the track's SPEC.md, ARCH.md and QA.md into its PLAN.md.

    Raises `UsageError` when the track's directory is missing or leads out of the project,
    `UnreadableFileError` for a source that is no readable regular file, `PlanningError` for
    sources that do not merge, `NotWritableError` when PLAN.md may not be replaced. PLAN.md is
    left as it was on any error, and not rewritten when the merge gives the same bytes.
    """
    track = track_of(root, specs_dir, name)
    directory = _directory(root, track, specs_dir)
    with directory_lock(directory):
        sources = [
            _read(root, track, file_name, max_bytes)
            for file_name in (SPEC_FILE, ARCH_FILE, QA_FILE)
        ]
        plan = merge_plan(*_decoded(sources)).encode("utf-8")
        target = directory / PLAN_FILE
        shown = track.shown(PLAN_FILE)
        if _current(target, shown, max_bytes) == plan:
            return MergeOutcome(shown, changed=False)
        try:
            if target.exists():
                require_writable(target, shown, purpose="merge the plan into it")
            atomic_write(target, plan)
        except OSError as exc:
            raise NotWritableError(f"{shown}: not written: {exc.strerror or exc}") from None
    return MergeOutcome(shown, changed=True)


def _directory(root: Path, track: Track, specs_dir: str) -> Path:
    """The track's directory, which must exist and stay inside the project."""
    directory = track.directory
    if not directory.is_dir():
        specs = root / specs_dir
        known = sorted(p.name for p in specs.iterdir() if p.is_dir()) if specs.is_dir() else []
        where = f"tracks in {specs_dir}/: {', '.join(known)}" if known else "no tracks yet"
        raise UsageError(f"{track.relative.as_posix()}: no such track ({where}; setting specs_dir)")
    real, inside = directory.resolve(), root.resolve()
    if not real.is_relative_to(inside):
        raise UsageError(f"{track.relative.as_posix()}: leads outside the project (to {real})")
    return directory


@dataclass(frozen=True, slots=True)
class _Raw:
    shown: str
    data: bytes


def _read(root: Path, track: Track, file_name: str, max_bytes: int) -> _Raw:
    shown = track.shown(file_name)
    data = read_user_file(track.directory / file_name, max_bytes=max_bytes, shown=shown, root=root)
    return _Raw(shown, data)


def _decoded(raws: list[_Raw]) -> list[Source]:
    """The sources as text; every file that is not UTF-8 is named at once."""
    sources: list[Source] = []
    problems: list[str] = []
    for raw in raws:
        try:
            sources.append(Source(raw.shown, raw.data.decode("utf-8")))
        except UnicodeDecodeError as exc:
            problems.append(f"{raw.shown}: not valid UTF-8 (byte {exc.start + 1} of the file)")
    if problems:
        raise PlanningError(problems)
    return sources


def _current(target: Path, shown: str, max_bytes: int) -> bytes | None:
    """The PLAN.md there now (None: none yet). Anything but a regular file is refused: the
    rename would replace a symlink or a FIFO named PLAN.md, not write where it leads."""
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else kind_of_mode(mode)
        raise NotWritableError(
            f"{shown}: not written: it is {kind}, not a regular file; remove it and merge again"
        )
    with open(target, "rb", opener=_no_follow) as handle:
        return handle.read(max_bytes + 1)


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)
