"""One disposable git worktree per task, under `<root>/.macoder/worktrees/<task-id>`.

Worktrees are created with `git worktree add` rather than libgit2: git runs the repository's
filter drivers (git-lfs smudge), honours its checkout settings and hooks, and writes exactly
the administrative files every other git tool expects; libgit2 would check out LFS pointers.
Everything around it (validation, branch lookup, registrations) is in-process pygit2.

Removal must always succeed, also after a crash: a process killed mid-run leaves a directory,
a registration in `.git/worktrees/`, or a registration still locked by an interrupted
`git worktree add`. `remove` clears all three; `reconcile` does it for every worktree under the
base dir that nothing alive keeps: a task's while no live lease holds the task, a health
check's `.health-<run>` while its run holds none (earlier versions checked the default branch
in such a scratch worktree; the check now runs on an export, so only a killed run of theirs
leaves one). Nothing outside `<base_dir>/<name>` is ever touched: not the user's checkout,
index or branch, and not the user's `.gitignore` (the base dir is excluded in
`.git/info/exclude`, which is local and never committed).

git's worktree commands are not safe to run in parallel (see `git/lock.py`): every command
that reads or writes `.git/worktrees/` here runs under one cross-process lock, and an `add`
that still loses a race with a git outside macoder (the user's own `git worktree add`) is
retried, a few times and at once, on exactly those failures.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Final

import pygit2

from multi_agent_coder.errors import ConfigError, GitError
from multi_agent_coder.git.env import run_git
from multi_agent_coder.git.lock import WORKTREES_LOCK, exclusive
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.ids import branch_for, is_task_id, validate_task_id

DEFAULT_BASE_DIR = ".macoder/worktrees"

#: Names of the health check's scratch worktrees, `.health-<run id>`, directly under the base.
HEALTH_PREFIX: Final = ".health-"

#: Scratch exports of a commit (`.export-<pid>-<random>`, directly under the base dir): where
#: an agent that only reads the code works (`macoder generate`), inside the agent sandbox's
#: writable tree (its own /tmp is private). Not worktrees: no branch, no registration.
EXPORT_PREFIX: Final = ".export-"

#: Pauses before retrying an `add` that lost a race with a git outside macoder (seconds).
RACE_RETRY_PAUSES_S: Final = (0.05, 0.2, 0.5)

#: git's words (C locale) when a concurrent `git worktree` command pulled `.git/worktrees/`
#: out from under it: a registration read while half-written, the directory deleted by a
#: `remove` while an `add` creates its entry in it.
_RACED: Final = re.compile(
    r"failed to read \S*worktrees/[^/\s]+/commondir|could not create directory of '\S*worktrees/"
)


class WorktreeManager:
    """Creates, lists and removes the task worktrees of one repository."""

    def __init__(self, repo: Repo, base_dir: str | Path = DEFAULT_BASE_DIR) -> None:
        self.repo = repo
        self.base = _checked_base(repo.root, Path(base_dir))

    def path_for(self, task_id: str) -> Path:
        """Where the worktree of `task_id` lives (whether or not it exists)."""
        return self.base / validate_task_id(task_id)

    # ----------------------------------------------------------------- create

    def create(self, task_id: str, base_ref: str, *, reset_branch: bool) -> Path:
        """Check out branch `macoder/<id>` in a fresh worktree and return its path.

        The branch is created from `base_ref` when absent; when present it is reset to
        `base_ref` if `reset_branch`, else checked out as it is. Whatever an earlier run left
        at that path is removed first, so the worktree always starts clean.
        """
        path = self.path_for(task_id)
        branch = branch_for(task_id)
        base = str(self.repo.commit(base_ref).id)
        self._ensure_excluded()
        for pause in RACE_RETRY_PAUSES_S:
            try:
                return self._add(path, branch, base, reset_branch=reset_branch)
            except GitError as exc:
                if not raced(exc):
                    raise
            with self._locked():
                self._prune(check=False)  # a registration a killed git left half-written
            time.sleep(pause)
        return self._add(path, branch, base, reset_branch=reset_branch)

    def _add(self, path: Path, branch: str, base: str, *, reset_branch: bool) -> Path:
        """`git worktree add` under the lock, over whatever an earlier run left at `path`."""
        with self._locked():
            if os.path.lexists(path) or self._registrations(path):
                self._remove(path)
            self.base.mkdir(parents=True, exist_ok=True)
            args = self._add_args(branch, path, base, reset_branch=reset_branch)
            run_git(args, self.repo.root, extra_env={"LC_ALL": "C"})  # words matched: `raced`
        return path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Every macoder process's `git worktree` commands on this repository, one at a time."""
        with exclusive(self.repo.git_dir / WORKTREES_LOCK):
            yield

    def _add_args(
        self, branch: str, path: Path, base: str, *, reset_branch: bool
    ) -> builtins.list[str]:
        """`git worktree add` arguments; `--no-track` so no upstream is ever configured."""
        if self.repo.branch_head(branch) is None:
            return ["worktree", "add", "--quiet", "--no-track", "-b", branch, str(path), base]
        if reset_branch:
            return ["worktree", "add", "--quiet", "--no-track", "-B", branch, str(path), base]
        return ["worktree", "add", "--quiet", str(path), branch]

    def _ensure_excluded(self) -> None:
        """Add `/<base_dir>/` to `.git/info/exclude` once, so `git status` never shows it."""
        try:
            relative = self.base.relative_to(self.repo.root)
        except ValueError:
            return  # outside the working tree: nothing to hide
        self.repo.exclude_locally(f"/{relative.as_posix()}/", "macoder task worktrees")

    @contextlib.contextmanager
    def scratch_export(self, rev: str) -> Iterator[Path]:
        """The files of commit `rev` in a fresh directory under the base dir, removed on every
        exit path: the working directory of an agent whose writes are not kept. Its name holds
        this process's id, so one a killed process left is found by `sweep_exports`."""
        self._ensure_excluded()
        self.base.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{EXPORT_PREFIX}{os.getpid()}-", dir=self.base))
        try:
            self.repo.export(rev, path)
            yield path
        finally:
            _delete(path)

    def sweep_exports(self) -> builtins.list[Path]:
        """Remove the scratch exports whose process is gone; the paths removed."""
        from multi_agent_coder.processes import pid_alive

        removed: builtins.list[Path] = []
        if not self.base.is_dir():
            return removed
        for path in self.base.glob(f"{EXPORT_PREFIX}*-*"):
            pid = path.name.removeprefix(EXPORT_PREFIX).split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                _delete(path)
                removed.append(path)
        return removed

    # ----------------------------------------------------------------- remove

    def remove(self, task_id: str) -> None:
        """Leave no directory and no registration for `task_id`, whatever state they are in.

        `git worktree remove -f -f` first (it also removes a locked or dirty worktree), then
        a plain delete of whatever is left on disk, then unlock and prune registrations that
        point nowhere. The branch stays: it is the task's branch forever (DESIGN §2).
        """
        with self._locked():
            self._remove(self.path_for(task_id))

    def _remove(self, path: Path) -> None:
        """`remove` of any path under the base dir; the caller holds the lock."""
        if not self._registrations(path):
            _delete(path)
            return
        remove = ["worktree", "remove", "--force", "--force", str(path)]
        if run_git(remove, self.repo.root, check=False).returncode == 0 and not path.exists():
            return
        _delete(path)
        leftovers = self._registrations(path)
        if leftovers:
            self._unlock(leftovers)
            self._prune()
        if self._registrations(path):
            raise GitError(f"{path}: git still lists this worktree after removing it")

    def _unlock(self, names: Collection[str]) -> None:
        """Drop the lock an interrupted `git worktree add` leaves (prune skips locked ones)."""
        for name in names:
            (self.repo.git_dir / "worktrees" / name / "locked").unlink(missing_ok=True)

    def _prune(self, *, check: bool = True) -> None:
        run_git(["worktree", "prune"], self.repo.root, check=check)

    # ----------------------------------------------------------------- list / reconcile

    def list(self) -> builtins.list[str]:
        """Task ids that have a directory or a registered worktree under the base dir."""
        return [name for name in self._entries() if is_task_id(name)]

    def reconcile(
        self, keep: Collection[str], live_runs: Collection[str] = ()
    ) -> builtins.list[str]:
        """Remove every worktree under the base dir that nothing alive keeps; prune; return
        the names removed (task ids, `.health-<run>`).

        Run at start-up with the tasks that hold a live lease (`keep`) and the runs that hold
        them (`live_runs`): anything else under the base dir was left by a run that is gone
        (crash, kill -9, cancelled job).
        """

        def stale() -> builtins.list[str]:
            return [name for name in self._entries() if not kept(name, keep, live_runs)]

        if not stale():
            return []  # nothing to do: no lock taken, nothing written
        with self._locked():
            removed = stale()
            for name in removed:
                self._remove(self.base / name)
            self._prune()
        return removed

    def _entries(self) -> builtins.list[str]:
        """Names of the task and health-check worktrees under the base dir: a directory, a
        registration, or both."""
        found: set[str] = set(self._registered_under_base())
        if self.base.is_dir():
            found.update(p.name for p in self.base.iterdir() if _ours(p.name))
        return sorted(found)

    # ----------------------------------------------------------------- registrations

    def _registrations(self, path: Path) -> builtins.list[str]:
        """Names of the worktree registrations (`.git/worktrees/<name>`) that point at `path`."""
        raw = self.repo.raw
        names: builtins.list[str] = []
        for name in raw.list_worktrees():
            registered = _registered_path(raw, name)
            if registered is not None and registered == path:
                names.append(name)
        return names

    def _registered_under_base(self) -> builtins.list[str]:
        """Names of the task and health-check worktrees registered directly under the base."""
        raw = self.repo.raw
        paths = (_registered_path(raw, name) for name in raw.list_worktrees())
        return [p.name for p in paths if p is not None and p.parent == self.base and _ours(p.name)]


# --------------------------------------------------------------------- helpers


def kept(name: str, tasks: Collection[str], runs: Collection[str]) -> bool:
    """Whether worktree `name` is still someone's: a task's while the task is in `tasks`, a
    health check's while its run is in `runs`."""
    if name.startswith(HEALTH_PREFIX):
        return name.removeprefix(HEALTH_PREFIX) in runs
    return name in tasks


def _ours(name: str) -> bool:
    """A name macoder gives a worktree under its base dir (anything else there is left be)."""
    return is_task_id(name) or (name.startswith(HEALTH_PREFIX) and name != HEALTH_PREFIX)


def raced(error: GitError) -> bool:
    """The failure is git losing a race with a concurrent `git worktree` command, which a
    retry gets past; anything else (a bad ref, a branch checked out elsewhere) is not."""
    return _RACED.search(error.stderr) is not None


def _checked_base(root: Path, base_dir: Path) -> Path:
    """The absolute base dir; refused when it is the repository root or one of its parents."""
    base = (root / base_dir).resolve()
    if root.is_relative_to(base):
        raise ConfigError(
            f"worktree_dir {str(base_dir)!r} resolves to {base}, which contains the repository; "
            "use a directory of its own such as '.macoder/worktrees'"
        )
    return base


def _registered_path(raw: pygit2.Repository, name: str) -> Path | None:
    """Where registration `name` says its worktree is, or None when it cannot be read."""
    try:
        return Path(raw.lookup_worktree(name).path).resolve()
    except (pygit2.GitError, KeyError, ValueError):
        return None


def _delete(path: Path) -> None:
    """Delete `path` (directory, file or symlink) if present, read-only files included."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir() and sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=_make_writable_and_retry)
    elif path.is_dir():  # Python 3.11 has only the (later deprecated) `onerror`
        shutil.rmtree(path, onerror=_make_writable_and_retry)


def _make_writable_and_retry(func: Callable[[str], object], name: str, _exc: object) -> None:
    """rmtree error hook: a read-only directory (say, a tool's cache) blocks deleting in it."""
    parent = os.path.dirname(name)
    os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
    if os.path.isdir(name) and not os.path.islink(name):
        os.chmod(name, os.stat(name).st_mode | stat.S_IWUSR | stat.S_IXUSR)
    func(name)
