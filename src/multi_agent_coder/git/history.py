"""A path's history, as `git log -- PATH` tells it, and a directory's listing at a commit.

Why not `git log` itself: the rest of the git layer reads objects in-process with pygit2, and
this needs no porcelain to parse, no subprocess and no care about the user's log config
(`log.follow`, `log.showSignature`, a pager). The walk is git's default history
simplification, the part of it a log of one directory needs:

- a commit is shown when the path's tree (or blob) differs from that of every parent (a
  root commit: when the path exists in it) — an ordinary commit that changed the path, or a
  merge that changed it beyond what either side brought;
- at a merge whose path equals that of one parent, only that parent is followed (the side
  branch's changes were not taken, or were already on the followed side);
- newest first by committer time, ties broken by sha so the order is the same every time.
"""

from __future__ import annotations

import heapq
from pathlib import PurePosixPath
from typing import NamedTuple

import pygit2
from pygit2.enums import FileMode

from multi_agent_coder.git.repo import Repo


class PathCommit(NamedTuple):
    """One commit of a path's history: who wrote it, when (their clock and UTC offset), why."""

    sha: str
    author_name: str
    author_email: str
    #: Seconds since the epoch, and the author's UTC offset in minutes.
    author_time: int
    author_offset: int
    subject: str


#: How a directory's entries are named by kind.
FILE, LINK, DIRECTORY, OTHER = "file", "link", "directory", "other"


def path_history(repo: Repo, rev: str, path: str) -> list[PathCommit]:
    """The commits reachable from `rev` that changed `path` (a POSIX path from the root),
    newest first. An unborn `HEAD` (no commit yet) has no history."""
    if rev == "HEAD" and repo.raw.head_is_unborn:
        return []
    where = PurePosixPath(path).as_posix()
    start = repo.commit(rev)
    queue: list[tuple[int, str, pygit2.Commit]] = [(-start.commit_time, str(start.id), start)]
    queued = {str(start.id)}
    found: list[PathCommit] = []
    while queue:
        _, _, commit = heapq.heappop(queue)
        mine = _entry_id(commit, where)
        parents = list(commit.parents)
        same = [parent for parent in parents if _entry_id(parent, where) == mine]
        if same:
            follow = same[:1]
        else:
            follow = parents
            if parents or mine is not None:
                found.append(_facts(commit))
        for parent in follow:
            sha = str(parent.id)
            if sha not in queued:
                queued.add(sha)
                heapq.heappush(queue, (-parent.commit_time, sha, parent))
    return found


def listing(repo: Repo, rev: str, path: str) -> dict[str, str] | None:
    """The entries of directory `path` in commit `rev`, name -> kind (`FILE`, `LINK`,
    `DIRECTORY`, `OTHER`), sorted by name; None when the commit has no directory there."""
    tree = repo.commit(rev).tree
    where = PurePosixPath(path).as_posix()
    try:
        entry = tree[where]
    except KeyError:
        return None
    if entry.filemode != FileMode.TREE:
        return None
    directory = repo.raw[entry.id]
    if not isinstance(directory, pygit2.Tree):  # a TREE entry names a tree; for mypy
        return None
    return {item.name or "": _kind(item.filemode) for item in sorted(directory, key=_name)}


def _name(entry: pygit2.Object) -> str:
    return entry.name or ""


def _kind(mode: int) -> str:
    if mode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
        return FILE
    if mode == FileMode.LINK:
        return LINK
    if mode == FileMode.TREE:
        return DIRECTORY
    return OTHER  # a submodule


def _entry_id(commit: pygit2.Commit, path: str) -> pygit2.Oid | None:
    try:
        return commit.tree[path].id
    except KeyError:
        return None


def _facts(commit: pygit2.Commit) -> PathCommit:
    """What a log line shows; names and messages decoded leniently (git stores bytes)."""
    author = commit.author
    message = commit.raw_message.decode("utf-8", "replace")
    return PathCommit(
        sha=str(commit.id),
        author_name=author.raw_name.decode("utf-8", "replace"),
        author_email=author.raw_email.decode("utf-8", "replace"),
        author_time=author.time,
        author_offset=author.offset,
        subject=message.strip().split("\n", 1)[0].strip(),
    )
