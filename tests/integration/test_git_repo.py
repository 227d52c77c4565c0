"""`git.repo` and `git.env` on real repositories, checked against what `git` itself reports."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from multi_agent_coder.errors import (
    DirtyCheckoutError,
    GitError,
    MergeConflictError,
    NotAGitRepositoryError,
    RefMovedError,
)
from multi_agent_coder.git.env import clean_env, run_git
from multi_agent_coder.git.repo import CheckoutState, Repo
from tests.integration.gitrepos import commit, git, make_repo, snapshot, write

BOT = ("macoder bot", "bot@macoder.test")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def repo(root: Path) -> Repo:
    return Repo.open(root)


def linked_worktree(root: Path, branch: str, base: str = "main") -> Path:
    """A worktree the way a task gets one, made with git itself."""
    path = root.parent / f"wt-{branch.replace('/', '-')}"
    git(root, "worktree", "add", "-q", "-b", branch, str(path), base)
    return path


# --------------------------------------------------------------------- env


def test_clean_env_drops_every_git_variable_and_keeps_the_rest() -> None:
    base = {"GIT_DIR": "/x", "GIT_INDEX_FILE": "/i", "GIT_SSH_COMMAND": "ssh", "PATH": "/bin"}
    assert clean_env(base, LC_ALL="C") == {"PATH": "/bin", "LC_ALL": "C"}


def test_clean_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_WORK_TREE", "/elsewhere")
    monkeypatch.setenv("MACODER_PROBE", "1")
    env = clean_env()
    assert "GIT_WORK_TREE" not in env
    assert env["MACODER_PROBE"] == "1"


def test_run_git_failure_names_the_command_and_gits_words(root: Path) -> None:
    with pytest.raises(GitError) as caught:
        run_git(["rev-parse", "--verify", "no-such-branch"], root)
    message = str(caught.value)
    assert "git rev-parse --verify no-such-branch" in message
    assert caught.value.returncode == 128
    assert "Needed a single revision" in caught.value.stderr


def test_run_git_unchecked_returns_the_failure(root: Path) -> None:
    result = run_git(["rev-parse", "--verify", "nope"], root, check=False)
    assert result.returncode != 0


def test_run_git_passes_input(root: Path) -> None:
    sha = run_git(["hash-object", "--stdin"], root, input=b"hello\n").stdout.decode().strip()
    assert sha == git(root, "hash-object", "README.md")


def test_run_git_in_a_missing_directory_is_a_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="cannot run git"):
        run_git(["status"], tmp_path / "absent")


def test_hook_environment_does_not_leak_into_our_git_calls(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a git hook GIT_DIR / GIT_INDEX_FILE / GIT_WORK_TREE point at another repository;
    every operation must still act on the repository it was opened on."""
    decoy = make_repo(tmp_path / "decoy")
    decoy_before = snapshot(decoy)
    decoy_refs = git(decoy, "for-each-ref")
    monkeypatch.setenv("GIT_DIR", str(decoy / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(decoy))
    monkeypatch.setenv("GIT_INDEX_FILE", str(decoy / ".git" / "index"))
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(decoy / ".git" / "objects"))

    assert run_git(["rev-parse", "--show-toplevel"], root).stdout.decode().strip() == str(root)
    repo = Repo.open(root)
    assert repo.root == root.resolve()
    work = linked_worktree(root, "feature")
    write(work, {"new.txt": "x\n"})
    sha = repo.commit_all(work, "add new", BOT)
    assert sha is not None
    merged = repo.merge_into("main", "feature", "merge", BOT)
    repo.update_ref("refs/macoder/probe", merged, None, "probe")

    assert git(root, "rev-parse", "refs/macoder/probe") == merged
    assert (root / "new.txt").read_text() == "x\n"  # main was checked out and clean: updated
    assert snapshot(decoy) == decoy_before
    assert git(decoy, "for-each-ref") == decoy_refs


# --------------------------------------------------------------------- open


def test_open_discovers_the_repository_from_a_subdirectory(root: Path) -> None:
    repo = Repo.open(root / "src")
    assert repo.root == root.resolve()
    assert repo.git_dir == (root / ".git").resolve()


def test_open_outside_a_repository_is_a_clear_usage_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotAGitRepositoryError, match="not a git repository") as caught:
        Repo.open(plain)
    assert caught.value.exit_code == 2


def test_open_from_a_linked_worktree_shares_the_common_git_dir(root: Path) -> None:
    work = linked_worktree(root, "feature")
    repo = Repo.open(work)
    assert repo.root == work.resolve()
    assert repo.git_dir == (root / ".git").resolve()


# --------------------------------------------------------------------- branches


def test_default_branch_prefers_origin_head(root: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    git(clone, "switch", "-q", "-c", "elsewhere")
    git(clone, "branch", "-q", "-D", "main")
    assert Repo.open(clone).default_branch() == "main"


def test_default_branch_uses_init_default_branch_when_it_exists(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", branch="trunk")
    git(root, "branch", "main")
    git(root, "config", "init.defaultBranch", "trunk")
    git(root, "switch", "-q", "main")
    assert Repo.open(root).default_branch() == "trunk"


@pytest.mark.parametrize("branch", ["main", "master"])
def test_default_branch_falls_back_to_main_or_master(tmp_path: Path, branch: str) -> None:
    root = make_repo(tmp_path / "r", branch=branch)
    git(root, "switch", "-q", "-c", "topic")
    assert Repo.open(root).default_branch() == branch


def test_default_branch_last_resort_is_the_current_branch(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", branch="develop")
    assert Repo.open(root).default_branch() == "develop"


def test_default_branch_on_a_detached_head_with_no_candidates_is_an_error(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", branch="develop")
    git(root, "switch", "-q", "--detach")
    with pytest.raises(GitError, match="default branch"):
        Repo.open(root).default_branch()


def test_branch_head(repo: Repo, root: Path) -> None:
    assert repo.branch_head("main") == git(root, "rev-parse", "main")
    assert repo.branch_head("absent") is None
    assert repo.branch_head("..bad..") is None


def test_commit_names_any_revision_and_refuses_garbage(repo: Repo, root: Path) -> None:
    assert str(repo.commit("HEAD").id) == git(root, "rev-parse", "HEAD")
    with pytest.raises(GitError, match="does not name a commit"):
        repo.commit("no-such-thing")


def test_update_ref_is_a_compare_and_swap(repo: Repo, root: Path) -> None:
    first = git(root, "rev-parse", "HEAD")
    second = commit(root, {"b.txt": "b\n"})
    repo.update_ref("refs/macoder/x", first, None, "create")
    with pytest.raises(RefMovedError):
        repo.update_ref("refs/macoder/x", second, None, "create again")
    with pytest.raises(RefMovedError):
        repo.update_ref("refs/macoder/x", second, second, "wrong old value")
    assert git(root, "rev-parse", "refs/macoder/x") == first
    repo.update_ref("refs/macoder/x", second, first, "move")
    assert git(root, "rev-parse", "refs/macoder/x") == second


def test_update_ref_other_failures_are_plain_git_errors(repo: Repo, root: Path) -> None:
    with pytest.raises(GitError) as caught:
        repo.update_ref("refs/macoder/x", "0" * 39 + "1", None, "no such object")
    assert not isinstance(caught.value, RefMovedError)


# --------------------------------------------------------------------- commit_all


def test_commit_all_stages_new_modified_and_deleted_files_but_not_ignored(
    repo: Repo, root: Path
) -> None:
    commit(root, {".gitignore": "*.log\n"})
    work = linked_worktree(root, "task")
    write(work, {"README.md": "changed\n", "pkg/new.py": "x = 1\n", "debug.log": "noise\n"})
    (work / "src" / "app.py").unlink()

    sha = repo.commit_all(work, "task: do it", BOT)

    assert sha == git(work, "rev-parse", "HEAD") == git(root, "rev-parse", "task")
    files = git(work, "show", "--name-status", "--format=", sha).splitlines()
    assert sorted(files) == ["A\tpkg/new.py", "D\tsrc/app.py", "M\tREADME.md"]
    assert git(work, "status", "--porcelain") == ""  # the worktree's index was written


def test_commit_all_uses_the_given_identity_not_the_users(repo: Repo, root: Path) -> None:
    work = linked_worktree(root, "task")
    write(work, {"a.txt": "a\n"})
    sha = repo.commit_all(work, "msg", BOT)
    assert sha is not None
    who = git(work, "show", "-s", "--format=%an <%ae>|%cn <%ce>|%s", sha)
    assert who == "macoder bot <bot@macoder.test>|macoder bot <bot@macoder.test>|msg"


def test_commit_all_with_nothing_changed_is_none(repo: Repo, root: Path) -> None:
    work = linked_worktree(root, "task")
    head = git(work, "rev-parse", "HEAD")
    assert repo.commit_all(work, "nothing", BOT) is None
    write(work, {"ignored.log": "x"})
    (work / ".gitignore").write_text("*.log\n")
    git(work, "add", ".gitignore")
    git(work, "commit", "-q", "-m", "ignore logs")
    assert repo.commit_all(work, "only ignored files", BOT) is None
    assert git(work, "rev-list", "--count", f"{head}..HEAD") == "1"


def test_commit_all_never_touches_the_users_checkout(repo: Repo, root: Path) -> None:
    write(root, {"README.md": "user edit\n", "scratch.txt": "mine\n"})
    git(root, "add", "scratch.txt")
    before = snapshot(root)
    work = linked_worktree(root, "task")
    write(work, {"a.txt": "a\n"})
    repo.commit_all(work, "task", BOT)
    assert snapshot(root) == before


def test_commit_all_runs_external_filter_drivers_through_git(repo: Repo, root: Path) -> None:
    """libgit2 cannot run a `filter.<x>.clean` command (git-lfs is one): git must commit."""
    git(root, "config", "filter.upper.clean", "tr a-z A-Z")
    git(root, "config", "filter.upper.smudge", "cat")
    commit(root, {".gitattributes": "*.up filter=upper\n"})
    work = linked_worktree(root, "task")
    write(work, {"note.up": "quiet words\n"})
    sha = repo.commit_all(work, "filtered", BOT)
    assert sha is not None
    assert git(work, "show", f"{sha}:note.up") == "QUIET WORDS"
    assert git(work, "show", "-s", "--format=%an <%ae>", sha) == "macoder bot <bot@macoder.test>"
    assert repo.commit_all(work, "again", BOT) is None


def test_changed_files_lists_staged_unstaged_and_new_paths(repo: Repo, root: Path) -> None:
    commit(root, {".gitignore": "*.log\n"})
    work = linked_worktree(root, "task")
    write(work, {"README.md": "changed\n", "new/file.txt": "n\n", "x.log": "ignored\n"})
    (work / "src" / "app.py").unlink()
    assert repo.changed_files(work) == ["README.md", "new/file.txt", "src/app.py"]


# --------------------------------------------------------------------- history


def test_diffstat_counts_like_git(repo: Repo, root: Path) -> None:
    base = git(root, "rev-parse", "HEAD")
    head = commit(root, {"README.md": "hello\nworld\n", "b.txt": "1\n2\n3\n"})
    stat = repo.diffstat(base, head)
    assert (stat.files, stat.insertions, stat.deletions) == (2, 4, 0)
    assert "README.md" in stat.text
    assert "2 files changed, 4 insertions(+)" in stat.text
    files, insertions, deletions, _text = stat  # unpacks like the tuple it is
    assert (files, insertions, deletions) == (2, 4, 0)


def test_commits_between_lists_new_commits_oldest_first(repo: Repo, root: Path) -> None:
    base = git(root, "rev-parse", "HEAD")
    first = commit(root, {"a.txt": "a\n"}, "first")
    second = commit(root, {"b.txt": "b\n"}, "second\n\nbody")
    found = repo.commits_between(base, second)
    assert [(sha, email) for sha, email, _ in found] == [
        (first, "owner@example.com"),
        (second, "owner@example.com"),
    ]
    assert found[1][2] == "second\n\nbody\n"
    assert repo.commits_between(second, second) == []


# --------------------------------------------------------------------- merge_into


def test_merge_into_fast_forwards_a_branch_nobody_has_checked_out(repo: Repo, root: Path) -> None:
    git(root, "switch", "-q", "-c", "elsewhere")
    work = linked_worktree(root, "task")
    write(work, {"a.txt": "a\n"})
    tip = repo.commit_all(work, "task", BOT)
    before = snapshot(root)

    assert repo.merge_into("main", "task", "merge task", BOT) == tip
    assert git(root, "rev-parse", "main") == tip
    assert snapshot(root) == before  # the user's own branch, index and files are untouched


def test_merge_into_makes_a_real_merge_commit_when_both_moved(repo: Repo, root: Path) -> None:
    work = linked_worktree(root, "task")
    write(work, {"a.txt": "a\n"})
    task_tip = repo.commit_all(work, "task", BOT)
    main_tip = commit(root, {"b.txt": "b\n"}, "user work")
    git(root, "switch", "-q", "-c", "elsewhere")

    merged = repo.merge_into("main", "task", "Merge task", BOT)

    assert git(root, "rev-parse", "main") == merged
    assert git(root, "rev-parse", f"{merged}^1", f"{merged}^2").split() == [main_tip, task_tip]
    assert git(root, "show", "-s", "--format=%an|%s", merged) == "macoder bot|Merge task"
    assert git(root, "ls-tree", "--name-only", merged).split() == [
        "README.md",
        "a.txt",
        "b.txt",
        "src",
    ]
    assert git(root, "reflog", "-1", "--format=%gs", "main") == "Merge task"


def test_merge_into_refuses_conflicts_and_changes_nothing(repo: Repo, root: Path) -> None:
    work = linked_worktree(root, "task")
    write(work, {"README.md": "theirs\n"})
    repo.commit_all(work, "task", BOT)
    main_tip = commit(root, {"README.md": "ours\n"}, "user work")
    before = snapshot(root)

    with pytest.raises(MergeConflictError, match=r"conflicts in README\.md") as caught:
        repo.merge_into("main", "task", "merge", BOT)

    assert caught.value.paths == ["README.md"]
    assert git(root, "rev-parse", "main") == main_tip
    assert snapshot(root) == before


def test_merge_into_updates_a_clean_checkout_of_the_target(repo: Repo, root: Path) -> None:
    work = linked_worktree(root, "task")
    write(work, {"a.txt": "from task\n"})
    repo.commit_all(work, "task", BOT)
    commit(root, {"b.txt": "b\n"}, "user work")

    merged = repo.merge_into("main", "task", "merge", BOT)

    assert git(root, "rev-parse", "HEAD") == merged
    assert (root / "a.txt").read_text() == "from task\n"
    assert git(root, "status", "--porcelain") == ""
    assert repo.checkout_state(repo.root) == CheckoutState("main", clean=True)


def test_merge_into_keeps_untracked_files_of_a_clean_checkout(repo: Repo, root: Path) -> None:
    work = linked_worktree(root, "task")
    write(work, {"a.txt": "a\n"})
    repo.commit_all(work, "task", BOT)
    write(root, {"notes.txt": "mine\n"})
    repo.merge_into("main", "task", "merge", BOT)
    assert (root / "notes.txt").read_text() == "mine\n"
    assert git(root, "status", "--porcelain") == "?? notes.txt"


def test_merge_into_refuses_a_dirty_checkout_of_the_target(repo: Repo, root: Path) -> None:
    work = linked_worktree(root, "task")
    write(work, {"a.txt": "a\n"})
    repo.commit_all(work, "task", BOT)
    main_tip = git(root, "rev-parse", "main")
    write(root, {"README.md": "uncommitted\n"})
    before = snapshot(root)
    objects = sorted(os.listdir(root / ".git" / "objects"))

    with pytest.raises(DirtyCheckoutError, match="uncommitted changes") as caught:
        repo.merge_into("main", "task", "merge", BOT)

    assert caught.value.path == str(root.resolve())
    assert git(root, "rev-parse", "main") == main_tip
    assert snapshot(root) == before
    assert sorted(os.listdir(root / ".git" / "objects")) == objects  # not even an object
    assert repo.checkout_state(repo.root) == CheckoutState("main", clean=False)


def test_merge_into_refuses_a_staged_change_too(repo: Repo, root: Path) -> None:
    work = linked_worktree(root, "task")
    write(work, {"a.txt": "a\n"})
    repo.commit_all(work, "task", BOT)
    write(root, {"staged.txt": "s\n"})
    git(root, "add", "staged.txt")
    with pytest.raises(DirtyCheckoutError):
        repo.merge_into("main", "task", "merge", BOT)


def test_merge_into_a_target_checked_out_in_a_linked_worktree(repo: Repo, root: Path) -> None:
    git(root, "switch", "-q", "-c", "elsewhere")
    target_wt = root.parent / "main-wt"
    git(root, "worktree", "add", "-q", str(target_wt), "main")
    work = linked_worktree(root, "task")
    write(work, {"a.txt": "a\n"})
    tip = repo.commit_all(work, "task", BOT)

    assert repo.merge_into("main", "task", "merge", BOT) == tip
    assert (target_wt / "a.txt").read_text() == "a\n"
    assert git(target_wt, "status", "--porcelain") == ""


def test_merge_into_when_already_merged_changes_nothing(repo: Repo, root: Path) -> None:
    git(root, "branch", "old")
    commit(root, {"b.txt": "b\n"})
    main_tip = git(root, "rev-parse", "main")
    assert repo.merge_into("main", "old", "merge", BOT) == main_tip
    assert git(root, "rev-parse", "main") == main_tip


def test_merge_into_an_unknown_branch_is_a_clear_error(repo: Repo) -> None:
    with pytest.raises(GitError, match="no branch named 'nope'"):
        repo.merge_into("main", "nope", "merge", BOT)


# --------------------------------------------------------------------- checkouts


def partial_work(root: Path, repo: Repo) -> str:
    """An earlier attempt's commit on `macoder/T001`: one file changed, one added, one
    deleted, one made executable."""
    earlier = linked_worktree(root, "macoder/T001")
    write(earlier, {"README.md": "partial\n", "new.py": "x = 1\n", "run.sh": "echo\n"})
    (earlier / "run.sh").chmod(0o755)
    (earlier / "src" / "app.py").unlink()
    tip = repo.commit_all(earlier, "partial", BOT)
    assert tip is not None
    git(root, "worktree", "remove", "--force", str(earlier))
    return tip


def test_carry_over_brings_partial_work_as_uncommitted_changes(repo: Repo, root: Path) -> None:
    tip = partial_work(root, repo)
    fresh = linked_worktree(root, "fresh")

    paths = repo.carry_over(tip, fresh, BOT)

    assert sorted(paths) == ["README.md", "new.py", "run.sh", "src/app.py"]
    assert (fresh / "README.md").read_text() == "partial\n"
    assert (fresh / "new.py").read_text() == "x = 1\n"
    assert os.access(fresh / "run.sh", os.X_OK)
    assert not (fresh / "src" / "app.py").exists()
    assert git(fresh, "rev-parse", "HEAD") == git(root, "rev-parse", "main")  # not committed
    assert repo.changed_files(fresh) == ["README.md", "new.py", "run.sh", "src/app.py"]


def test_carry_over_onto_a_newer_base_merges_the_partial_work(repo: Repo, root: Path) -> None:
    tip = partial_work(root, repo)
    commit(root, {"b.txt": "main moved\n"}, "user work")
    fresh = linked_worktree(root, "fresh")

    repo.carry_over(tip, fresh, BOT)

    assert (fresh / "b.txt").read_text() == "main moved\n"  # the new base stays
    assert (fresh / "README.md").read_text() == "partial\n"  # the partial work comes along
    assert "b.txt" not in repo.changed_files(fresh)


def test_carry_over_that_conflicts_changes_nothing(repo: Repo, root: Path) -> None:
    tip = partial_work(root, repo)
    commit(root, {"README.md": "main's own\n"}, "user work")
    fresh = linked_worktree(root, "fresh")

    with pytest.raises(MergeConflictError, match=r"README\.md"):
        repo.carry_over(tip, fresh, BOT)

    assert repo.changed_files(fresh) == []
    assert (fresh / "README.md").read_text() == "main's own\n"


def test_checkout_state_reports_branch_and_cleanliness(repo: Repo, root: Path) -> None:
    assert repo.checkout_state(repo.root) == CheckoutState("main", clean=True)
    write(root, {"untracked.txt": "u\n"})
    assert repo.checkout_state(repo.root).clean  # untracked files do not make it dirty
    git(root, "switch", "-q", "--detach")
    assert repo.checkout_state(repo.root) == CheckoutState(None, clean=True)


def test_checkouts_lists_main_then_linked_worktrees(repo: Repo, root: Path) -> None:
    work = linked_worktree(root, "task")
    shutil.rmtree(linked_worktree(root, "gone"))
    found = [(c.path, c.branch) for c in repo.checkouts()]
    assert found == [(root.resolve(), "main"), (work.resolve(), "task")]


def test_run_git_extra_env_is_added_to_the_clean_environment(root: Path) -> None:
    result = run_git(["var", "GIT_AUTHOR_IDENT"], root, extra_env={"GIT_AUTHOR_NAME": "Extra"})
    assert result.stdout.decode().startswith("Extra <")


def test_update_ref_detects_a_lost_race_in_any_user_locale(
    repo: Repo, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGUAGE", "de")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    repo.update_ref("refs/macoder/x", git(root, "rev-parse", "HEAD"), None, "create")
    with pytest.raises(RefMovedError):
        repo.update_ref("refs/macoder/x", git(root, "rev-parse", "HEAD"), None, "again")


# ----------------------------------------------------------------- bringing a branch up to date


def diverged(root: Path, repo: Repo, main_readme: str) -> tuple[Path, str]:
    """A task branch that changed README.md and src/app.py while main changed README.md to
    `main_readme` and added b.txt; its worktree, at the branch's head."""
    work = linked_worktree(root, "task")
    write(work, {"README.md": "task's\n", "src/app.py": "print('task')\n"})
    assert repo.commit_all(work, "task", BOT) is not None
    main = commit(root, {"README.md": main_readme, "b.txt": "main moved\n"}, "main moves")
    return work, main


def test_a_branch_that_conflicts_with_its_base_does_not_merge_cleanly(
    repo: Repo, root: Path
) -> None:
    work, main = diverged(root, repo, "main's own\n")
    assert not repo.merges_cleanly(repo.head_of(work), main)
    assert repo.merges_cleanly(main, main)
    assert repo.merges_cleanly(repo.head_of(work), git(root, "rev-parse", "main~1"))


def test_merging_the_base_into_a_worktree_leaves_conflict_markers_for_the_agent(
    repo: Repo, root: Path
) -> None:
    work, main = diverged(root, repo, "main's own\n")
    head = repo.head_of(work)

    state = repo.merge_into_worktree(work, main, {})

    assert state.conflicted == ("README.md",)
    assert (
        repo.file_at(state.staged, "README.md", max_bytes=1000) == (work / "README.md").read_bytes()
    )
    text = (work / "README.md").read_text()
    assert text.startswith("<<<<<<<")
    assert "task's\n=======\nmain's own\n>>>>>>>" in text
    assert (work / "b.txt").read_text() == "main moved\n"  # main's side comes along
    assert (work / "src/app.py").read_text() == "print('task')\n"  # the task's side stays
    assert repo.head_of(work) == head  # nothing committed yet

    write(work, {"README.md": "both\n"})
    merge = repo.commit_all(work, "bring up to date", BOT, merging=main)
    assert merge is not None
    assert git(root, "rev-list", "--parents", "-n1", merge).split()[1:] == [head, main]
    assert repo.merges_cleanly(merge, main)
    assert repo.descends_from(merge, head)  # a fast-forward of the task branch


def test_a_conflict_macoder_resolves_itself_is_not_left_to_the_agent(
    repo: Repo, root: Path
) -> None:
    work, main = diverged(root, repo, "main's own\n")

    state = repo.merge_into_worktree(work, main, {"README.md": b"resolved\n"})

    assert state.conflicted == ()
    assert (work / "README.md").read_text() == "resolved\n"
    merge = repo.commit_all(work, "bring up to date", BOT, merging=main)
    assert merge is not None
    assert repo.file_at(merge, "README.md", max_bytes=100) == b"resolved\n"
