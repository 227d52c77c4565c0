"""A track's history read with pygit2 says what `git log -- specs/<track>` says.

Each repository is built with the git binary, every commit at its own time (so the order of
`git log` is fixed), and the answer of `path_history` is compared with git's own.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from multi_agent_coder.git.history import DIRECTORY, FILE, LINK, listing, path_history
from multi_agent_coder.git.repo import Repo
from tests.integration.gitrepos import git, git_env, make_repo, write

START = 1_790_000_000


class Clock:
    """Commit times one minute apart, as a person's commits would be."""

    def __init__(self) -> None:
        self.now = START

    def commit(self, root: Path, files: Mapping[str, str | None], message: str) -> str:
        for name, content in files.items():
            if content is None:
                (root / name).unlink()
            else:
                write(root, {name: content})
        self.now += 60
        git(root, "add", "-A")
        env = {
            **git_env(),
            "GIT_AUTHOR_DATE": f"{self.now} +0100",
            "GIT_COMMITTER_DATE": f"{self.now} +0100",
        }
        subprocess.run(
            ["git", "commit", "-q", "--allow-empty", "-m", message],
            cwd=root,
            env=env,
            check=True,
        )
        return git(root, "rev-parse", "HEAD")

    def merge(self, root: Path, branch: str, *options: str) -> str:
        self.now += 60
        env = {**git_env(), "GIT_COMMITTER_DATE": f"{self.now} +0100"}
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"]
        subprocess.run(
            ["git", "merge", "-q", "--no-ff", "-m", f"merge {branch}", *options, branch],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        return git(root, "rev-parse", "HEAD")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def git_log(root: Path, path: str) -> list[str]:
    return git(root, "log", "--format=%H", "--", path).split()


def ours(root: Path, path: str) -> list[str]:
    return [commit.sha for commit in path_history(Repo.open(root), "HEAD", path)]


def test_a_straight_history_lists_the_commits_that_touched_the_track(
    tmp_path: Path, clock: Clock
) -> None:
    root = make_repo(tmp_path / "repo")
    first = clock.commit(root, {"specs/auth/SPEC.md": "one\n"}, "spec: first")
    clock.commit(root, {"specs/billing/SPEC.md": "other track\n"}, "billing")
    clock.commit(root, {"README.md": "unrelated\n"}, "readme")
    second = clock.commit(root, {"specs/auth/QA.md": "qa\n"}, "qa")
    gone = clock.commit(root, {"specs/auth/SPEC.md": None, "specs/auth/QA.md": None}, "drop")
    back = clock.commit(root, {"specs/auth/SPEC.md": "again\n"}, "spec: again")

    assert ours(root, "specs/auth") == git_log(root, "specs/auth") == [back, gone, second, first]


def test_a_merged_branch_s_commits_appear_and_the_plain_merge_does_not(
    tmp_path: Path, clock: Clock
) -> None:
    root = make_repo(tmp_path / "repo")
    base = clock.commit(root, {"specs/auth/SPEC.md": "one\n"}, "spec")
    git(root, "checkout", "-q", "-b", "side")
    side = clock.commit(root, {"specs/auth/ARCH.md": "arch\n"}, "arch on a branch")
    git(root, "checkout", "-q", "main")
    clock.commit(root, {"README.md": "main moves on\n"}, "readme")
    clock.merge(root, "side")

    assert ours(root, "specs/auth") == git_log(root, "specs/auth") == [side, base]


def test_a_merge_that_changes_the_track_beyond_both_sides_is_listed(
    tmp_path: Path, clock: Clock
) -> None:
    root = make_repo(tmp_path / "repo")
    clock.commit(root, {"specs/auth/SPEC.md": "one\n"}, "spec")
    git(root, "checkout", "-q", "-b", "side")
    clock.commit(root, {"specs/auth/ARCH.md": "arch\n"}, "arch")
    git(root, "checkout", "-q", "main")
    clock.commit(root, {"specs/auth/QA.md": "qa\n"}, "qa")
    merged = clock.merge(root, "side")

    history = ours(root, "specs/auth")

    assert history == git_log(root, "specs/auth")
    assert merged in history  # differs from each parent: it holds both sides


def test_a_branch_whose_changes_a_merge_threw_away_is_not_history(
    tmp_path: Path, clock: Clock
) -> None:
    root = make_repo(tmp_path / "repo")
    base = clock.commit(root, {"specs/auth/SPEC.md": "one\n"}, "spec")
    git(root, "checkout", "-q", "-b", "side")
    discarded = clock.commit(root, {"specs/auth/SPEC.md": "rejected idea\n"}, "rejected")
    git(root, "checkout", "-q", "main")
    clock.merge(root, "side", "-s", "ours")

    history = ours(root, "specs/auth")

    assert history == git_log(root, "specs/auth") == [base]
    assert discarded not in history


def test_the_facts_of_each_commit_are_the_author_s(tmp_path: Path, clock: Clock) -> None:
    root = make_repo(tmp_path / "repo")
    sha = clock.commit(root, {"specs/auth/SPEC.md": "x\n"}, "Spec: first draft\n\nThe body.")

    (commit,) = path_history(Repo.open(root), "HEAD", "specs/auth")

    assert commit.sha == sha
    assert commit.subject == "Spec: first draft"
    assert (commit.author_name, commit.author_email) == ("Repo Owner", "owner@example.com")
    assert (commit.author_time, commit.author_offset) == (clock.now, 60)


def test_a_repository_without_commits_has_no_history(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")

    assert path_history(Repo.open(root), "HEAD", "specs/auth") == []


def test_a_listing_names_each_entry_s_kind(tmp_path: Path, clock: Clock) -> None:
    root = make_repo(tmp_path / "repo")
    write(root, {"specs/auth/notes/a.md": "a\n", "specs/auth/SPEC.md": "s\n"})
    os.symlink("SPEC.md", root / "specs/auth/LINK.md")
    sha = clock.commit(root, {}, "files")
    repo = Repo.open(root)

    assert listing(repo, sha, "specs/auth") == {
        "LINK.md": LINK,
        "SPEC.md": FILE,
        "notes": DIRECTORY,
    }
    assert listing(repo, sha, "specs/auth/SPEC.md") is None
    assert listing(repo, sha, "specs/none") is None
