"""The local forge: one PR per task, found before it is created; merging completes the task."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from multi_agent_coder.errors import ForgeError, InvalidTaskIdError, UsageError
from multi_agent_coder.forge.base import PrState, WantedPr
from multi_agent_coder.forge.local import LocalForge
from multi_agent_coder.git.repo import Repo
from tests.integration.gitrepos import commit, git, make_repo

AUTHOR = ("macoder", "macoder@localhost")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    root = make_repo(tmp_path / "repo")
    git(root, "checkout", "-q", "-b", "macoder/T001")
    commit(root, {"feature.py": "x = 1\n"}, "T001: work")
    git(root, "checkout", "-q", "main")
    return Repo.open(root)


def open_pr(forge: LocalForge, repo: Repo, **changes: object) -> object:
    fields: dict[str, object] = {
        "task_id": "T001",
        "branch": "macoder/T001",
        "base": "main",
        "head_sha": repo.branch_head("macoder/T001"),
        "title": "T001: work",
        "body": "report",
        "draft": False,
        "labels": ("macoder",),
    }
    fields.update(changes)
    return forge.create_or_update_pr(WantedPr(**fields))  # type: ignore[arg-type]


def test_the_first_call_creates_the_next_one_updates_and_an_identical_one_does_nothing(
    repo: Repo,
) -> None:
    forge = LocalForge(repo)
    created = open_pr(forge, repo)
    updated = open_pr(forge, repo, body="new report")
    unchanged = open_pr(forge, repo, body="new report")
    assert [created.operation, updated.operation, unchanged.operation] == [  # type: ignore[attr-defined]
        "created",
        "updated",
        "none",
    ]
    assert len(forge.list_prs()) == 1
    assert forge.find_open_pr("T001").body == "new report"  # type: ignore[union-attr]


def test_racing_creators_still_make_one_pr(repo: Repo) -> None:
    results: list[object] = []

    def create() -> None:
        results.append(open_pr(LocalForge(Repo.open(repo.root)), repo))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(LocalForge(repo).list_prs()) == 1
    assert sorted(r.operation for r in results) == ["created"] + ["none"] * 7  # type: ignore[attr-defined]


def test_records_live_in_the_git_directory_not_the_working_tree(repo: Repo) -> None:
    open_pr(LocalForge(repo), repo)
    assert (repo.git_dir / "macoder" / "forge.json").is_file()
    assert git(repo.root, "status", "--porcelain") == ""


def test_a_pr_must_use_the_tasks_own_branch(repo: Repo) -> None:
    with pytest.raises(ForgeError, match="must use branch macoder/T001"):
        open_pr(LocalForge(repo), repo, branch="feature/x")
    with pytest.raises(InvalidTaskIdError):
        LocalForge(repo).find_open_pr("../T001")


def test_merge_brings_the_branch_into_main_and_closes_the_pr(repo: Repo) -> None:
    forge = LocalForge(repo)
    open_pr(forge, repo)
    merged = forge.merge("T001", AUTHOR)
    assert merged.state is PrState.MERGED
    assert (repo.root / "feature.py").read_text() == "x = 1\n"  # the clean checkout followed
    assert forge.find_open_pr("T001") is None
    with pytest.raises(UsageError, match="no open pull request"):
        forge.merge("T001", AUTHOR)


def test_close_says_no_the_pr_stays_closed_and_the_branch_stays(repo: Repo) -> None:
    forge = LocalForge(repo)
    open_pr(forge, repo)
    head = repo.branch_head("macoder/T001")

    closed = forge.close_pr("T001")

    assert (closed.number, closed.state) == (1, PrState.CLOSED)
    assert forge.find_open_pr("T001") is None
    assert [pr.state for pr in forge.list_prs(include_closed=True)] == [PrState.CLOSED]
    assert repo.branch_head("macoder/T001") == head
    assert repo.branch_head("main") != head  # nothing merged
    with pytest.raises(UsageError, match="no open pull request"):
        forge.close_pr("T001")
    assert open_pr(forge, repo).number == 2  # a later attempt opens a new one


def test_a_label_is_taken_off_one_pr_and_only_that_label(repo: Repo) -> None:
    forge = LocalForge(repo)
    open_pr(forge, repo, labels=("macoder", "macoder:retry", "team:web"))

    forge.remove_label(1, "macoder:retry")
    forge.remove_label(1, "macoder:retry")  # not there any more: nothing to do
    forge.remove_label(2, "macoder")  # no such PR: nothing to do

    [pr] = forge.list_prs()
    assert pr.labels == ("macoder", "team:web")


def test_macoders_comment_on_a_pr_is_edited_in_place(repo: Repo) -> None:
    forge = LocalForge(repo)
    open_pr(forge, repo)

    first = forge.put_comment(1, None, "attempt 1")
    assert forge.put_comment(1, first, "attempt 2 \x1b[2J") == first
    assert forge.comments(1) == ["attempt 2 \\x1b[2J"]
    assert forge.put_comment(1, 99, "a comment that is gone") != 99  # written anew
    assert len(forge.comments(1)) == 2
    with pytest.raises(ForgeError, match="no pull request #7"):
        forge.put_comment(7, None, "nowhere")


def test_a_draft_is_not_merged(repo: Repo) -> None:
    forge = LocalForge(repo)
    open_pr(forge, repo, draft=True)
    with pytest.raises(UsageError, match="draft"):
        forge.merge("T001", AUTHOR)
    assert repo.branch_head("main") != repo.branch_head("macoder/T001")


def test_a_branch_that_moved_after_the_pr_is_not_merged_blindly(repo: Repo) -> None:
    forge = LocalForge(repo)
    open_pr(forge, repo)
    git(repo.root, "checkout", "-q", "macoder/T001")
    commit(repo.root, {"other.py": "y = 2\n"}, "someone pushed")
    git(repo.root, "checkout", "-q", "main")
    before = repo.branch_head("main")
    with pytest.raises(ForgeError, match="moved since PR"):
        forge.merge("T001", AUTHOR)
    assert repo.branch_head("main") == before


def test_damaged_records_are_a_clear_error_not_a_crash(repo: Repo) -> None:
    store = repo.git_dir / "macoder" / "forge.json"
    store.parent.mkdir(parents=True)
    store.write_text("{not json")
    with pytest.raises(ForgeError, match="damaged"):
        LocalForge(repo).list_prs()
    store.write_text(json.dumps({"pulls": "nope"}))
    with pytest.raises(ForgeError, match="damaged"):
        LocalForge(repo).list_prs()


# --- the rest of the Forge protocol ------------------------------------------------------


def test_open_prs_are_listed_by_default_and_every_pr_on_request(repo: Repo) -> None:
    forge = LocalForge(repo)
    open_pr(forge, repo)
    forge.merge("T001", AUTHOR)
    assert forge.list_prs() == []
    [merged] = forge.list_prs(include_closed=True)
    assert (merged.task_id, merged.state) == ("T001", PrState.MERGED)


def test_a_pr_changes_its_draft_state_in_place(repo: Repo) -> None:
    """Locally a failed attempt's draft becomes the verified PR with the same number: there is
    no REST limit to work around, so nothing is closed and reopened."""
    forge = LocalForge(repo)
    draft = open_pr(forge, repo, draft=True)
    ready = open_pr(forge, repo, draft=False)
    assert (ready.number, ready.operation) == (draft.number, "updated")  # type: ignore[attr-defined]
    [pr] = forge.list_prs(include_closed=True)
    assert pr.draft is False


def test_foreign_commits_are_the_branch_commits_macoder_did_not_write(repo: Repo) -> None:
    forge = LocalForge(repo, macoder_emails=("macoder@localhost",))
    base = repo.branch_head("main")
    assert base is not None
    assert forge.foreign_commits("macoder/T009", base) == ()  # no such branch
    assert forge.foreign_commits("macoder/T001", base) != ()  # the fixture's commit is the dev's
    git(repo.root, "checkout", "-q", "-b", "macoder/T002", "main")
    git(
        repo.root,
        "-c",
        "user.name=macoder",
        "-c",
        "user.email=MACODER@localhost",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "T002: work",
    )
    git(repo.root, "checkout", "-q", "main")
    assert forge.foreign_commits("refs/heads/macoder/T002", base) == ()  # emails: any case


def test_the_ledger_is_the_repositorys_own_ref(repo: Repo) -> None:
    from multi_agent_coder.git.ledger import LEDGER_REF, Ledger

    ledger = LocalForge(repo).ledger(lambda: 100.0)
    assert type(ledger) is Ledger
    assert ledger.acquire("T001", "run-1", "host:1", 60) is not None
    assert git(repo.root, "rev-parse", "--verify", "-q", LEDGER_REF)
    LocalForge(repo).close()  # nothing held: closing is harmless, also twice
