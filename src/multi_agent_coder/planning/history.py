"""A track's history: `specs/` is versioned by git itself, and this reads it.

No store of its own (the seed had a SpecRepository class keeping versions): every version of
a spec is a commit that changed `specs/<track>/`, and every earlier PLAN.md is that file at a
commit. `macoder spec log` and `macoder spec show` are these two functions; the CLI calls
them, so it never touches the git layer itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from multi_agent_coder.errors import UsageError
from multi_agent_coder.git import history
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.planning.files import Track, track_of, validate_file_name

#: How a commit is named in output, as elsewhere in macoder.
SHORT_SHA = 10


@dataclass(frozen=True, slots=True)
class SpecChange:
    """One commit that changed a track's files."""

    sha: str
    #: The author's date, in the author's own UTC offset (ISO 8601).
    date: str
    author: str
    email: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:SHORT_SHA]

    @property
    def day(self) -> str:
        return self.date[:10]

    def as_json(self) -> dict[str, str]:
        return {
            "sha": self.sha,
            "date": self.date,
            "author": self.author,
            "email": self.email,
            "subject": self.subject,
        }


@dataclass(frozen=True, slots=True)
class SpecFile:
    """A track's file as one commit has it."""

    shown: str
    commit: str
    data: bytes


def spec_log(root: Path, specs_dir: str, name: str) -> list[SpecChange]:
    """The commits of the current branch that changed the track's files, newest first."""
    track = track_of(root, specs_dir, name)
    repo = Repo.open(root)
    return [
        SpecChange(
            sha=commit.sha,
            date=_iso_date(commit.author_time, commit.author_offset),
            author=commit.author_name,
            email=commit.author_email,
            subject=commit.subject,
        )
        for commit in history.path_history(repo, "HEAD", _in_repository(repo, root, track))
    ]


def spec_file(
    root: Path, specs_dir: str, name: str, *, at: str, file_name: str, max_bytes: int
) -> SpecFile:
    """The track's file `file_name` in commit `at` (a sha, branch, tag, `HEAD~2`...).

    `UsageError` when that commit has no such file (naming the files it does have), or when
    the file is a link or a directory there; `GitError` when `at` names no commit.
    """
    track = track_of(root, specs_dir, name)
    validate_file_name(file_name)
    repo = Repo.open(root)
    sha = str(repo.commit(at).id)
    directory = _in_repository(repo, root, track)
    shown = track.shown(file_name)
    entries = history.listing(repo, sha, directory)
    where = f"commit {sha[:SHORT_SHA]}"
    if entries is None:
        raise UsageError(f"{track.relative.as_posix()}/: not in {where} (`macoder spec log`)")
    kind = entries.get(file_name)
    data = None
    if kind == history.FILE:
        data = repo.file_at(sha, f"{directory}/{file_name}", max_bytes=max_bytes)
    if data is None:
        files = [entry for entry, what in entries.items() if what == history.FILE]
        has = f"it has {', '.join(files)}" if files else "it has no files"
        what = "not in" if kind in (None, history.FILE) else f"a {kind}, not a file, in"
        raise UsageError(f"{shown}: {what} {where} ({has})")
    return SpecFile(shown, sha, data)


def _in_repository(repo: Repo, root: Path, track: Track) -> str:
    """The track's directory as a path from the repository's root (the project may be a
    subdirectory of it)."""
    try:
        return (root.resolve() / track.relative).relative_to(repo.root).as_posix()
    except ValueError:
        raise UsageError(
            f"{track.relative.as_posix()}: not inside the repository at {repo.root}"
        ) from None


def _iso_date(seconds: int, offset_minutes: int) -> str:
    """A git signature's time in its own offset: `2026-11-20T17:30:00+01:00`."""
    zone = timezone(timedelta(minutes=offset_minutes))
    return datetime.fromtimestamp(seconds, UTC).astimezone(zone).isoformat()
