"""Real git repositories in temporary directories, built with the `git` binary.

The tests check macoder's pygit2 code against what git itself sees, so the fixtures and the
assertions go through `git` (with a scrubbed environment and no user or system config, so a
developer's `commit.gpgSign` or a hook's `GIT_DIR` cannot change the outcome).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

USER = ("Repo Owner", "owner@example.com")


def git_env() -> dict[str, str]:
    """The environment of the tests' own git calls: no GIT_* from outside, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    return env


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run git in `cwd` and return its stdout (stripped)."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def write(root: Path, files: Mapping[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def commit(root: Path, files: Mapping[str, str], message: str = "change") -> str:
    """Write `files`, commit everything, return the new HEAD."""
    write(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def make_repo(path: Path, files: Mapping[str, str] | None = None, branch: str = "main") -> Path:
    """A repository with one commit on `branch` holding `files` and its own user identity."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    git(path, "config", "user.name", USER[0])
    git(path, "config", "user.email", USER[1])
    commit(path, files or {"README.md": "hello\n", "src/app.py": "print('hi')\n"}, "initial")
    return path


def snapshot(root: Path) -> tuple[str, str, str, str]:
    """Everything of the user's checkout that macoder must leave alone: current branch, HEAD,
    the index file's bytes and the status git reports (read without refreshing the index)."""
    index = (root / ".git" / "index").read_bytes()
    return (
        git(root, "symbolic-ref", "-q", "HEAD", check=False),
        git(root, "rev-parse", "HEAD"),
        hashlib.sha256(index).hexdigest(),
        git(root, "--no-optional-locks", "status", "--porcelain=v1", "--untracked-files=all"),
    )


def registered_worktrees(root: Path) -> list[Path]:
    """Paths git lists as linked worktrees (the main checkout excluded)."""
    lines = git(root, "worktree", "list", "--porcelain").splitlines()
    paths = [Path(line.removeprefix("worktree ")) for line in lines if line.startswith("worktree ")]
    return [p.resolve() for p in paths[1:]]


def half_written_registration(root: Path, name: str, *, locked: bool) -> None:
    """`.git/worktrees/<name>` as a concurrent (or killed) `git worktree add` leaves it between
    two writes: its `gitdir` written, its `commondir` still empty."""
    entry = root / ".git" / "worktrees" / name
    entry.mkdir(parents=True)
    (entry / "gitdir").write_text(f"{root.parent / name}/.git\n")
    (entry / "HEAD").write_text("ref: refs/heads/main\n")
    (entry / "commondir").write_text("")
    if locked:
        (entry / "locked").write_text("initializing")


def health_worktree(root: Path, run_id: str) -> Path:
    """The scratch worktree macoder's health check used to check the default branch out in,
    as a run killed during that check leaves it: registered, with what the checks wrote."""
    path = root / ".macoder" / "worktrees" / f".health-{run_id}"
    git(root, "worktree", "add", "-q", "--detach", str(path), "HEAD")
    write(path, {".pytest_cache/v/lastfailed": "{}\n"})
    return path.resolve()
