"""People's answers are respected and every attempt counts: the rules through the run engine.

The engine runs for real (git repository, worktrees, ledger, local forge, the repository's
check) with the fake agent of `test_run_engine`; a person's acts are what a person does
locally: `macoder close` (the local forge's "no"), `macoder merge`, a commit on the default
branch, a commit on the task branch, a run killed mid-task.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from multi_agent_coder.git.ledger import Ledger, Start
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.run.state import Standing
from tests.integration.gitrepos import commit, git
from tests.support import task_dict
from tests.unit.test_run_engine import World, make_world, outcome_of

ONE = frozenset({"T001"})


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path, task_dict("T001"), task_dict("T002"))


def close_first_pr(world: World) -> None:
    """A verified PR for T001, which a person then closes unmerged."""
    assert outcome_of(world.run(only=ONE), "T001") == ("succeeded", "PR #1 created")
    with world.session() as session:
        session.close_pr("T001")


def standing(world: World, task_id: str = "T001") -> tuple[Standing, str]:
    with world.session() as session:
        state = session.snapshot().state
    view = state.view(task_id)
    return view.standing, view.detail(state.max_attempts)


def edit_entry(world: World, old: str, new: str, message: str = "a person edits T001") -> None:
    text = (world.root / "BACKLOG.yaml").read_text()
    marker = "- id: T002"
    head, tail = text.split(marker)
    assert old in head
    commit(world.root, {"BACKLOG.yaml": head.replace(old, new, 1) + marker + tail}, message)


# --- a PR closed unmerged is a "no" -------------------------------------------------------


def test_a_closed_pr_rejects_its_task_run_after_run(world: World) -> None:
    close_first_pr(world)

    for _ in range(2):
        report = world.run(only=ONE)
        assert report.outcomes == []
        assert report.note.startswith("nothing is ready: T001 is rejected (PR #1 was closed")
    assert [pr["state"] for pr in world.prs()] == ["closed"]
    assert len(world.agent.calls) == 1
    [answer] = [r for r in world.ledger() if r["type"] == "answer"]  # kept once, not per run
    assert (answer["task"], answer["pr"], answer["answer"]) == ("T001", 1, "closed")
    assert standing(world)[0] is Standing.REJECTED
    assert outcome_of(world.run(), "T002")[0] == "succeeded"  # the others carry on


@pytest.mark.parametrize(
    ("old", "new", "runs"),
    [
        ("Implement the behaviour", "Implement, in a smaller way, the behaviour", True),
        ("status: pending", "status: ready", False),  # a status is not a new question
    ],
    ids=["entry-changed", "only-status-changed"],
)
def test_a_changed_entry_lifts_the_rejection(
    world: World, old: str, new: str, *, runs: bool
) -> None:
    close_first_pr(world)
    world.run(only=ONE)  # the answer is kept with the hash of the entry as it was rejected
    edit_entry(world, old, new)

    report = world.run(only=ONE)

    assert bool(report.outcomes) is runs
    if runs:
        assert outcome_of(report, "T001") == ("succeeded", "PR #2 created")
        assert [pr["state"] for pr in world.prs()] == ["closed", "open"]


def test_retry_asks_again_and_the_next_answer_counts_again(world: World) -> None:
    close_first_pr(world)
    assert world.run(only=ONE).outcomes == []

    report = world.run(only=ONE, retry=ONE)

    assert outcome_of(report, "T001") == ("succeeded", "PR #2 created")
    kinds = [r["type"] for r in world.ledger() if r["task"] == "T001"]
    assert kinds[-7:] == ["answer", "reset", "lease", "start", "attempt", "comment", "release"]
    with world.session() as session:
        session.close_pr("T001")  # and no again
    assert world.run(only=ONE).outcomes == []
    assert standing(world)[1].startswith("PR #2 was closed unmerged")


def test_a_merged_pr_whose_status_flip_was_reverted_is_reported_not_redone(world: World) -> None:
    world.run(only=ONE)
    with world.session() as session:
        session.merge("T001")
    edit_entry(world, "status: completed", "status: pending", "revert T001's status flip")

    report = world.run(only=ONE)

    assert report.outcomes == []
    state, detail = standing(world)
    assert state is Standing.MERGED
    assert detail.startswith("PR #1 was merged, but the default branch's backlog does not say")
    assert len(world.agent.calls) == 1


# --- a person's commit is theirs, whoever the author -------------------------------------


def test_a_person_amending_macoders_commit_is_a_persons_commit(world: World) -> None:
    world.run(only=ONE)
    with world.session() as session:
        session.close_pr("T001")
    git(world.root, "checkout", "-q", "macoder/T001")
    # Amended by a person: the author stays macoder, the committer is the person.
    (world.root / "t001.txt").write_text("done better\n")
    git(world.root, "commit", "-q", "-a", "--amend", "--no-edit")
    assert git(world.root, "log", "-1", "--format=%ae %ce") == "macoder@localhost owner@example.com"
    amended = git(world.root, "rev-parse", "HEAD")
    git(world.root, "checkout", "-q", "main")

    report = world.run(only=ONE, retry=ONE)

    status, why = outcome_of(report, "T001")
    assert status == "needs-review"
    assert amended[:10] in why
    assert git(world.root, "rev-parse", "macoder/T001") == amended


# --- every attempt counts -----------------------------------------------------------------


def test_an_attempt_whose_process_died_counts_as_interrupted(world: World) -> None:
    """A `kill -9` mid-task leaves the lease and the start, no result: the next run on this
    host sees the process is gone and records the attempt as interrupted."""
    ledger = Ledger(Repo.open(world.root))
    holder = f"{socket.gethostname()}:999999999"
    ledger.acquire("T001", "killed-run", holder, 600, start=True)

    report = world.run(only=ONE, dry_run=True)

    assert report.freed_leases == ["T001"]
    [attempt] = [r for r in world.ledger() if r["type"] == "attempt"]
    assert attempt["outcome"] == "interrupted"
    assert (
        attempt["reason"] == f"interrupted: its run's process ({holder}) ended before the task did"
    )
    assert [p.attempt for p in report.planned] == [2]


def test_an_attempt_whose_lease_ran_out_elsewhere_counts_as_interrupted(world: World) -> None:
    """A CI job that was cancelled, timed out or lost its runner never reports back: when
    its lease runs out, its start is an interrupted attempt (derived, not written)."""
    ledger = Ledger(Repo.open(world.root), clock=lambda: 1_000.0)
    for run in ("job-1", "job-2", "job-3"):
        ledger.append(Start("T001", run, "github-actions:1", 1_000.0))

    report = world.run(only=ONE)

    assert report.outcomes == []
    assert report.note == "nothing is ready: T001 is out of attempts (3/3)"
    state, detail = standing(world)
    assert state is Standing.EXHAUSTED
    assert "last: interrupted: the lease of run job-3" in detail
    assert not [r for r in world.ledger() if r["type"] == "attempt"]


def test_close_status_and_ready_on_the_command_line(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from multi_agent_coder.cli.main import main

    world.run(only=ONE)
    monkeypatch.chdir(world.root)
    capsys.readouterr()

    assert main(["close", "T001"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("closed PR #1 (macoder/T001) unmerged; T001 is rejected until")
    assert main(["status", "--json"]) == 0
    rows = {row["task_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows["T001"]["state"], rows["T001"]["pr"]) == ("rejected", 1)
    assert main(["ready"]) == 0
    assert capsys.readouterr().out.split("\t")[0] == "T002"
