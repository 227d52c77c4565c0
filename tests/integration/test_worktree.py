"""`WorktreeManager` on real repositories: task worktrees come and go, the user's checkout stays."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.errors import ConfigError, GitError, InvalidTaskIdError
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.git.worktree import WorktreeManager
from tests.integration.gitrepos import (
    commit,
    git,
    git_env,
    half_written_registration,
    health_worktree,
    make_repo,
    registered_worktrees,
    snapshot,
    write,
)

BOT = ("macoder bot", "bot@macoder.test")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def manager(root: Path) -> WorktreeManager:
    return WorktreeManager(Repo.open(root))


def assert_gone(root: Path, path: Path) -> None:
    assert not os.path.lexists(path)
    assert path.resolve() not in registered_worktrees(root)
    assert not git(root, "worktree", "prune", "--dry-run", "--verbose")


# --------------------------------------------------------------------- create


def test_create_checks_out_the_task_branch_from_the_base(
    manager: WorktreeManager, root: Path
) -> None:
    base = git(root, "rev-parse", "main")
    path = manager.create("T001", "main", reset_branch=False)

    assert path == (root / ".macoder" / "worktrees" / "T001").resolve()
    assert git(path, "symbolic-ref", "HEAD") == "refs/heads/macoder/T001"
    assert git(path, "rev-parse", "HEAD") == base
    assert (path / "src" / "app.py").read_text() == "print('hi')\n"
    assert path in registered_worktrees(root)
    assert git(root, "config", "--get", "branch.macoder/T001.merge", check=False) == ""


def test_create_hides_the_base_dir_without_editing_gitignore(
    manager: WorktreeManager, root: Path
) -> None:
    commit(root, {".gitignore": "*.log\n"})
    manager.create("T001", "main", reset_branch=False)
    manager.create("T002", "main", reset_branch=False)

    exclude = (root / ".git" / "info" / "exclude").read_text()
    assert exclude.splitlines().count("/.macoder/worktrees/") == 1
    assert (root / ".gitignore").read_text() == "*.log\n"
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""


def test_create_appends_to_an_exclude_file_without_final_newline(
    manager: WorktreeManager, root: Path
) -> None:
    exclude = root / ".git" / "info" / "exclude"
    exclude.write_text("*.swp")
    manager.create("T001", "main", reset_branch=False)
    assert exclude.read_text().splitlines()[0] == "*.swp"
    assert "/.macoder/worktrees/" in exclude.read_text().splitlines()


def test_create_keeps_an_existing_branch_unless_told_to_reset_it(
    manager: WorktreeManager, root: Path
) -> None:
    repo = manager.repo
    path = manager.create("T001", "main", reset_branch=False)
    write(path, {"work.txt": "earlier attempt\n"})
    earlier = repo.commit_all(path, "earlier attempt", BOT)
    manager.remove("T001")
    main_tip = commit(root, {"b.txt": "b\n"})

    path = manager.create("T001", "main", reset_branch=False)
    assert git(path, "rev-parse", "HEAD") == earlier
    manager.remove("T001")

    path = manager.create("T001", "main", reset_branch=True)
    assert git(path, "rev-parse", "HEAD") == main_tip
    assert git(path, "symbolic-ref", "HEAD") == "refs/heads/macoder/T001"


def test_create_accepts_a_sha_as_base(manager: WorktreeManager, root: Path) -> None:
    first = git(root, "rev-parse", "HEAD")
    commit(root, {"b.txt": "b\n"})
    path = manager.create("AUTH-012", first, reset_branch=True)
    assert git(path, "rev-parse", "HEAD") == first


def test_create_replaces_whatever_an_earlier_run_left(manager: WorktreeManager) -> None:
    path = manager.create("T001", "main", reset_branch=False)
    write(path, {"leftover.txt": "from a crashed run\n", "README.md": "dirty\n"})
    path = manager.create("T001", "main", reset_branch=False)
    assert not (path / "leftover.txt").exists()
    assert (path / "README.md").read_text() == "hello\n"


def test_create_over_a_stray_directory(manager: WorktreeManager) -> None:
    stray = manager.path_for("T001")
    write(stray, {"junk.txt": "not a worktree\n"})
    path = manager.create("T001", "main", reset_branch=False)
    assert not (path / "junk.txt").exists()
    assert (path / ".git").is_file()


@pytest.mark.parametrize("bad", ["t001", "T1", "../T001", "T001/../..", "-rf", "T001 ", ""])
def test_create_refuses_an_invalid_task_id_before_touching_anything(
    manager: WorktreeManager, root: Path, bad: str
) -> None:
    before = snapshot(root)
    with pytest.raises(InvalidTaskIdError):
        manager.create(bad, "main", reset_branch=False)
    assert not (root / ".macoder").exists()
    assert snapshot(root) == before


def test_create_refuses_an_unknown_base(manager: WorktreeManager, root: Path) -> None:
    with pytest.raises(GitError, match="does not name a commit"):
        manager.create("T001", "--orphan", reset_branch=False)
    assert registered_worktrees(root) == []


def test_create_refuses_a_task_branch_the_user_has_checked_out(
    manager: WorktreeManager, root: Path
) -> None:
    git(root, "switch", "-q", "-c", "macoder/T001")
    write(root, {"README.md": "user is editing\n"})
    before = snapshot(root)
    with pytest.raises(GitError, match="already checked out"):
        manager.create("T001", "main", reset_branch=True)
    assert snapshot(root) == before


def test_base_dir_may_not_contain_the_repository(root: Path) -> None:
    with pytest.raises(ConfigError, match="contains the repository"):
        WorktreeManager(Repo.open(root), base_dir=".")
    with pytest.raises(ConfigError):
        WorktreeManager(Repo.open(root), base_dir="..")


def test_base_dir_outside_the_repository_needs_no_exclude(root: Path, tmp_path: Path) -> None:
    manager = WorktreeManager(Repo.open(root), base_dir=tmp_path / "elsewhere")
    path = manager.create("T001", "main", reset_branch=False)
    assert path == (tmp_path / "elsewhere" / "T001").resolve()
    assert "macoder" not in (root / ".git" / "info" / "exclude").read_text()
    manager.remove("T001")
    assert_gone(root, path)


# --------------------------------------------------------------------- remove


def test_remove_leaves_no_directory_no_registration_and_keeps_the_branch(
    manager: WorktreeManager, root: Path
) -> None:
    path = manager.create("T001", "main", reset_branch=False)
    write(path, {"untracked.txt": "u\n", "README.md": "modified\n"})
    manager.remove("T001")
    assert_gone(root, path)
    assert manager.repo.branch_head("macoder/T001") is not None


def test_remove_of_nothing_succeeds(manager: WorktreeManager) -> None:
    manager.remove("T001")
    manager.remove("T001")


def test_remove_after_the_directory_was_deleted_by_hand(
    manager: WorktreeManager, root: Path
) -> None:
    path = manager.create("T001", "main", reset_branch=False)
    shutil.rmtree(path)
    manager.remove("T001")
    assert_gone(root, path)


def test_remove_of_a_registration_locked_by_an_interrupted_add(
    manager: WorktreeManager, root: Path
) -> None:
    """`git worktree add` locks the new entry ("initializing") until it is done; killed in
    between, the lock stays and `git worktree prune` skips the entry forever."""
    path = manager.create("T001", "main", reset_branch=False)
    git(root, "worktree", "lock", "--reason", "initializing", str(path))
    shutil.rmtree(path)
    assert git(root, "worktree", "prune", "--dry-run", "--verbose") == ""  # prune won't
    manager.remove("T001")
    assert_gone(root, path)


def test_remove_of_a_locked_worktree_with_files(manager: WorktreeManager, root: Path) -> None:
    path = manager.create("T001", "main", reset_branch=False)
    git(root, "worktree", "lock", str(path))
    manager.remove("T001")
    assert_gone(root, path)


@pytest.fixture
def permissions_as_for_a_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting in a directory without write permission fails, as it does for every user
    but root. Tests run as root in CI, where the kernel would let any delete through and a
    test of the read-only fallback could not fail; this puts the rule back for our process
    (git, a child process, is not affected)."""
    import stat

    def guarded(real: Any) -> Any:
        def call(path: Any, *args: Any, dir_fd: int | None = None, **kwargs: Any) -> Any:
            parent = os.fstat(dir_fd) if dir_fd is not None else os.stat(Path(path).parent)
            if not parent.st_mode & stat.S_IWUSR:
                raise PermissionError(13, "Permission denied", str(path))
            if dir_fd is not None:
                kwargs["dir_fd"] = dir_fd
            return real(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "unlink", guarded(os.unlink))
    monkeypatch.setattr(os, "rmdir", guarded(os.rmdir))


@pytest.mark.usefixtures("permissions_as_for_a_user")
def test_remove_handles_read_only_directories(manager: WorktreeManager, root: Path) -> None:
    """A tool in the worktree may leave a read-only directory, and git may refuse to remove
    the worktree (its `.git` clobbered): the fallback makes the directory writable, deletes,
    and prunes the registration."""
    path = manager.create("T001", "main", reset_branch=False)
    write(path / "cache", {"entry": "x"})
    (path / ".git").unlink()
    (path / ".git").mkdir()
    (path / "cache").chmod(0o500)
    manager.remove("T001")
    assert_gone(root, path)


def test_remove_falls_back_when_git_refuses(manager: WorktreeManager, root: Path) -> None:
    """An agent that clobbers the worktree's `.git` file makes `git worktree remove` refuse;
    the directory is deleted anyway and the registration pruned."""
    path = manager.create("T001", "main", reset_branch=False)
    (path / ".git").unlink()
    (path / ".git").mkdir()
    assert git(root, "worktree", "remove", "--force", "--force", str(path), check=False) == ""
    assert path.exists()  # git refused
    manager.remove("T001")
    assert_gone(root, path)


@pytest.mark.usefixtures("permissions_as_for_a_user")
def test_remove_deletes_a_stray_read_only_tree(manager: WorktreeManager, root: Path) -> None:
    stray = manager.path_for("T001")
    write(stray / "deep", {"entry": "x"})
    (stray / "deep").chmod(0o500)
    manager.remove("T001")
    assert_gone(root, stray)


def test_remove_never_touches_the_users_checkout(manager: WorktreeManager, root: Path) -> None:
    write(root, {"README.md": "user edit\n", "notes.txt": "untracked\n"})
    git(root, "add", "notes.txt")
    git(root, "switch", "-q", "-c", "user-feature")
    before = snapshot(root)

    path = manager.create("T001", "main", reset_branch=True)
    write(path, {"a.txt": "agent output\n"})
    manager.repo.commit_all(path, "task", BOT)
    manager.remove("T001")
    manager.reconcile(keep=())

    assert snapshot(root) == before
    assert (root / "README.md").read_text() == "user edit\n"


def test_remove_ignores_the_hook_environment(
    manager: WorktreeManager, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = make_repo(tmp_path / "decoy")
    before = snapshot(decoy)
    monkeypatch.setenv("GIT_DIR", str(decoy / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(decoy / ".git" / "index"))
    monkeypatch.setenv("GIT_WORK_TREE", str(decoy))
    path = manager.create("T001", "main", reset_branch=False)
    assert path in registered_worktrees(root)
    manager.remove("T001")
    assert_gone(root, path)
    assert snapshot(decoy) == before
    assert registered_worktrees(decoy) == []


# --------------------------------------------------------------------- list / reconcile


def test_list_shows_directories_and_registrations(manager: WorktreeManager, root: Path) -> None:
    manager.create("T002", "main", reset_branch=False)
    shutil.rmtree(manager.create("T001", "main", reset_branch=False))  # registered only
    write(manager.path_for("T003"), {"x": "directory only"})
    write(manager.base / "not-a-task", {"x": "ignored"})
    git(root, "worktree", "add", "-q", "-b", "user-wt", str(root.parent / "user-wt"))
    assert manager.list() == ["T001", "T002", "T003"]


def test_reconcile_removes_what_no_live_lease_keeps(manager: WorktreeManager, root: Path) -> None:
    for task in ("T001", "T002", "T003"):
        manager.create(task, "main", reset_branch=False)
    user_wt = root.parent / "user-wt"
    git(root, "worktree", "add", "-q", "-b", "user-wt", str(user_wt))

    removed = manager.reconcile(keep={"T002"})

    assert removed == ["T001", "T003"]
    assert manager.list() == ["T002"]
    assert registered_worktrees(root) == sorted([manager.path_for("T002"), user_wt.resolve()])


def test_reconcile_cleans_up_after_a_killed_process(manager: WorktreeManager, root: Path) -> None:
    """A run killed with SIGKILL mid-task leaves its worktree (directory and registration)."""
    script = (
        "import os, signal, sys\n"
        "from multi_agent_coder.git.repo import Repo\n"
        "from multi_agent_coder.git.worktree import WorktreeManager\n"
        "path = WorktreeManager(Repo.open(sys.argv[1])).create('T007', 'main', reset_branch=True)\n"
        "(path / 'half-done.txt').write_text('work in progress')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**git_env(), "PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", script, str(root)], env=env, check=False)
    assert result.returncode == -signal.SIGKILL
    path = manager.path_for("T007")
    assert (path / "half-done.txt").exists()
    assert path in registered_worktrees(root)

    assert manager.reconcile(keep=()) == ["T007"]
    assert_gone(root, path)


def lock_registration(root: Path, path: Path) -> None:
    git(root, "worktree", "lock", "--reason", "initializing", str(path))
    shutil.rmtree(path)


@pytest.mark.parametrize(
    "then",
    [lambda root, path: None, lambda root, path: shutil.rmtree(path), lock_registration],
    ids=["killed during the check", "directory deleted", "killed during its add"],
)
def test_reconcile_removes_the_health_check_worktree_of_a_dead_run(
    manager: WorktreeManager, root: Path, then: Callable[[Path, Path], None]
) -> None:
    path = health_worktree(root, "20261129T101010-0badf00d")
    then(root, path)

    assert manager.reconcile(keep=()) == [".health-20261129T101010-0badf00d"]
    assert_gone(root, path)


def test_reconcile_keeps_what_a_live_run_holds_and_nothing_else(
    manager: WorktreeManager, root: Path
) -> None:
    for task in ("T001", "T002"):
        manager.create(task, "main", reset_branch=False)
    alive, dead = health_worktree(root, "run-alive"), health_worktree(root, "run-dead")
    user_wt = root.parent / "user-wt"
    git(root, "worktree", "add", "-q", "-b", "user-wt", str(user_wt))
    write(manager.base / ".health-notes", {"x": "not a worktree"})  # ours by name: removed

    removed = manager.reconcile(keep={"T001"}, live_runs={"run-alive"})

    assert removed == [".health-notes", ".health-run-dead", "T002"]
    assert_gone(root, dead)
    assert sorted(registered_worktrees(root)) == sorted(
        [manager.path_for("T001"), alive, user_wt.resolve()]
    )


def test_reconcile_with_nothing_to_do(manager: WorktreeManager) -> None:
    assert manager.reconcile(keep={"T001"}) == []


# --------------------------------------------------------------------- load


#: One worker: waits for "go" on stdin, then creates and removes its own task's worktree
#: `rounds` times through `WorktreeManager`; prints each failure, exits 1 if there was any.
STRESS_WORKER = """
import sys
from multi_agent_coder.errors import MacoderError
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.git.worktree import WorktreeManager

root, task, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
manager = WorktreeManager(Repo.open(root))
print("ready", flush=True)
sys.stdin.readline()
failures = 0
for round in range(rounds):
    try:
        path = manager.create(task, "main", reset_branch=True)
        (path / "work.txt").write_text(str(round))
        manager.remove(task)
    except MacoderError as exc:
        failures += 1
        print(f"round {round}: {exc}", flush=True)
sys.exit(1 if failures else 0)
"""


def test_create_gets_past_a_registration_caught_half_written(
    manager: WorktreeManager, root: Path
) -> None:
    """git dies on it (`failed to read .git/worktrees/<id>/commondir: Success`); it is what
    another git leaves for a moment, or a killed one for good: pruned, and the add retried."""
    half_written_registration(root, "elsewhere", locked=False)
    plain = subprocess.run(
        ["git", "worktree", "add", "-q", "--detach", "../x"],
        cwd=root,
        env={**git_env(), "LC_ALL": "C"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "elsewhere/commondir" in plain.stderr
    path = manager.create("T001", "main", reset_branch=True)
    assert git(path, "symbolic-ref", "HEAD") == "refs/heads/macoder/T001"
    assert registered_worktrees(root) == [path]


def test_create_gives_up_on_a_registration_that_stays_unreadable(
    manager: WorktreeManager, root: Path
) -> None:
    """Locked (by an add that was killed), `git worktree prune` keeps it: the add fails after
    a few tries with git's own words, and leaves nothing behind."""
    half_written_registration(root, "stuck", locked=True)
    with pytest.raises(GitError, match=r"failed to read \S*stuck/commondir"):
        manager.create("T001", "main", reset_branch=True)
    assert not os.path.lexists(manager.path_for("T001"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_three_processes_create_and_remove_worktrees_at_once_without_a_failure(
    manager: WorktreeManager, root: Path
) -> None:
    """git itself races here (`failed to read .git/worktrees/<id>/commondir`, a `.git/worktrees`
    deleted under a concurrent add): three processes, 25 rounds each, must all succeed."""
    env = {**git_env(), "PYTHONPATH": str(SRC)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", STRESS_WORKER, str(root), task, "25"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for task in ("T001", "T002", "T003")
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline() == "ready\n"
        for worker in workers:  # all three are loaded: start them together
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=540)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    assert manager.list() == []
    assert registered_worktrees(root) == []
