"""A verified PR that no longer merges is brought up to date by the next run: the default
branch merged into its branch (macoder resolves the backlog, the agent the rest), verified
again, one merge commit on top of what the reviewer saw — same PR, nothing rewritten.

The run engine in-process with the fake agent (see test_run_engine.py): real git, worktrees,
ledger, local forge and check runner.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from multi_agent_coder.forge.base import LABEL_NEEDS_REVIEW
from multi_agent_coder.run.state import Standing
from tests.integration.gitrepos import commit, git
from tests.unit.test_run_engine import Scenario, World, make_world, outcome_of, writes


@pytest.fixture
def world(tmp_path: Path) -> World:
    """T001's PR is open and verified: t001.txt says "done"."""
    world = make_world(tmp_path)
    report = world.run(only=frozenset({"T001"}))
    assert outcome_of(report, "T001") == ("succeeded", "PR #1 created")
    return world


def head(world: World) -> str:
    return git(world.root, "rev-parse", "macoder/T001")


def parents(world: World, sha: str) -> list[str]:
    return git(world.root, "rev-list", "--parents", "-n1", sha).split()[1:]


def conflicts_on_main(world: World) -> str:
    """A person's commit on main that conflicts with the PR (the same new file)."""
    return commit(world.root, {"t001.txt": "main's own\n"}, "a person adds t001.txt too")


def test_a_pr_that_still_merges_is_left_alone(world: World) -> None:
    commit(world.root, {"other.txt": "unrelated\n"}, "main moves on")
    report = world.run(only=frozenset({"T001"}))
    assert report.outcomes == []
    with world.session() as session:
        assert session.snapshot().state.view("T001").standing is Standing.PR_OPEN


def test_the_agent_resolves_the_conflict_and_the_pr_gets_one_merge_commit(world: World) -> None:
    old = head(world)
    main = conflicts_on_main(world)
    with world.session() as session:
        state = session.snapshot().state
    assert state.updates == {"T001"}
    world.agent.scenarios["T001"] = Scenario(writes("t001.txt", "done, and main's own\n"))

    report = world.run(only=frozenset({"T001"}))

    assert outcome_of(report, "T001") == ("succeeded", "update: PR #1 updated")
    prompt = world.agent.calls[-1]["prompt"]
    assert "## Update" in prompt
    assert "- t001.txt\n" in prompt
    assert prompt.index("## Update") < prompt.index("## Instructions")
    [pr] = world.prs()
    assert (pr["number"], pr["state"], pr["draft"]) == (1, "open", False)
    new = head(world)
    assert pr["head_sha"] == new
    assert parents(world, new) == [old, main]  # on top of what the reviewer saw
    assert git(world.root, "show", f"{new}:t001.txt") == "done, and main's own"
    assert "status: completed" in git(world.root, "show", f"{new}:BACKLOG.yaml")
    assert "### Brought up to date" in pr["body"]
    with world.session() as session:
        assert session.snapshot().state.view("T001").standing is Standing.PR_OPEN
    attempts = [r for r in world.ledger() if r["type"] == "attempt"]
    assert [a["outcome"] for a in attempts] == ["success", "success"]
    assert world.leftovers() == []
    # Merged now, the task is completed on main.
    with world.session() as session:
        session.merge("T001")
    assert "status: completed" in git(world.root, "show", "main:BACKLOG.yaml")


def test_a_conflict_only_in_the_backlog_needs_no_agent(world: World) -> None:
    """A person edits the line next to T001's status on main: git cannot merge the two,
    but the backlog is macoder's to resolve — main's, with T001 marked completed."""
    backlog = (world.root / "BACKLOG.yaml").read_text()
    edited = backlog.replace(
        "  description: Implement the behaviour described in the acceptance criteria.\n"
        "  status: pending",
        "  description: Implement the behaviour the acceptance criteria describe.\n"
        "  status: pending",
        1,
    )
    assert edited != backlog
    main = commit(world.root, {"BACKLOG.yaml": edited}, "a person rewords T001")
    old, calls = head(world), len(world.agent.calls)

    report = world.run(only=frozenset({"T001"}))

    assert outcome_of(report, "T001") == ("succeeded", "update: PR #1 updated")
    assert len(world.agent.calls) == calls
    new = head(world)
    assert parents(world, new) == [old, main]
    merged = git(world.root, "show", f"{new}:BACKLOG.yaml")
    assert "the acceptance criteria describe" in merged
    assert merged.count("status: completed") == 1
    assert git(world.root, "show", f"{new}:t001.txt") == "done"


def test_markers_left_behind_fail_the_update_and_the_pr_stays_as_it_was(world: World) -> None:
    old = head(world)
    conflicts_on_main(world)
    world.agent.scenarios["T001"] = Scenario(writes("notes.txt", "unrelated\n"))

    report = world.run(only=frozenset({"T001"}))

    status, why = outcome_of(report, "T001")
    assert status == "failed"
    assert why.startswith("update: conflict markers left in t001.txt")
    assert why.endswith("PR #1 left as it was")
    assert head(world) == old
    [pr] = world.prs()
    assert (pr["head_sha"], pr["draft"], pr["state"]) == (old, False, "open")
    assert world.leftovers() == []


def test_a_pr_a_person_committed_to_is_never_rewritten(world: World) -> None:
    git(world.root, "checkout", "-q", "macoder/T001")
    theirs = commit(world.root, {"by-hand.txt": "mine\n"}, "a person's fix")
    git(world.root, "checkout", "-q", "main")
    conflicts_on_main(world)

    report = world.run(only=frozenset({"T001"}))

    status, why = outcome_of(report, "T001")
    assert status == "needs-review"
    assert theirs[:10] in why
    assert head(world) == theirs
    [pr] = world.prs()
    assert LABEL_NEEDS_REVIEW in pr["labels"]
