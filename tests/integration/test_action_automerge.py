"""`pull_request.auto_merge`: the publish job merges the verified PR it just published, at
exactly the head it checked, and — because a merge made with the workflow's own GITHUB_TOKEN
starts no `push` workflow — starts the next wave itself (`workflow_dispatch` on the default
branch). A merge GitHub refuses (branch protection) leaves the PR open for a person.

The real action entry, forge and engine against the fake GitHub (see test_action_handoff.py).
"""

from __future__ import annotations

import json

from tests.integration.gitrepos import git
from tests.integration.test_action_entry import SLUG
from tests.integration.test_action_handoff import SETTINGS, World, plan_again, publish, world
from tests.integration.test_action_update import push_to_main, wave
from tests.support import backlog_yaml, task_dict

__all__ = ["world"]  # the fixture, shared with test_action_handoff.py


def with_auto_merge(world: World, method: str = "squash") -> None:
    """The repository turns auto_merge on and adds T003, which waits on T001 (the fixture's
    first wave ends with no task job: its publish jobs release the leases)."""
    for task_id in ("T001", "T002"):
        publish(world, None, task_id)
    push_to_main(
        world,
        {
            ".macoder.yaml": SETTINGS + f"pull_request:\n  auto_merge: {method}\n",
            "BACKLOG.yaml": backlog_yaml(
                task_dict("T001"), task_dict("T002"), task_dict("T003", depends_on=["T001"])
            ),
        },
    )


def test_a_verified_pr_is_merged_and_the_next_wave_is_started(world: World) -> None:
    with_auto_merge(world)

    _, done, out = wave(world, "8001", "T001", None)

    assert done.outputs["result"] == "succeeded", out
    number = int(done.outputs["pr-number"])
    [pull] = [p for p in world.fake.pulls(SLUG) if p["number"] == number]
    assert pull["merged_at"] is not None, out
    main = world.remote_refs()["refs/heads/main"]
    assert "status: completed" in git(world.remote, "show", f"{main}:BACKLOG.yaml")
    # squash: one commit on main, whose tree is the verified head's
    assert git(world.remote, "rev-list", "--count", f"{main}^..{main}") == "1"
    assert git(world.remote, "rev-parse", f"{main}^{{tree}}") == git(
        world.remote, "rev-parse", f"{pull['head']['sha']}^{{tree}}"
    )
    assert f"merged PR #{number}" in out
    assert world.fake.dispatches == [("macoder.yml", "main")]
    assert "the next wave is started: macoder.yml on main" in out
    # The dispatched run plans the next wave: T003, whose dependency is now completed.
    plan, _ = plan_again(world, "8002")
    assert "T003" in json.loads(plan.outputs["ready"])


def test_a_merge_branch_protection_refuses_leaves_the_pr_open_and_starts_nothing(
    world: World,
) -> None:
    with_auto_merge(world, "merge")
    world.fake.merges_blocked = (
        "At least 1 approving review is required by reviewers with write access."
    )

    _, done, out = wave(world, "8101", "T001", None)

    assert done.outputs["result"] == "succeeded", out
    number = int(done.outputs["pr-number"])
    [pull] = [p for p in world.fake.pulls(SLUG) if p["number"] == number]
    assert (pull["state"], pull["merged_at"]) == ("open", None)
    assert "is left open for a person: not merged" in out
    assert "approving review is required" in out
    assert world.fake.dispatches == []


def test_off_by_default_nothing_is_merged(world: World) -> None:
    publish(world, None, "T001")
    _, done, out = wave(world, "8201", "T001", None)
    assert done.outputs["result"] == "succeeded", out
    assert all(p["merged_at"] is None for p in world.fake.pulls(SLUG))
    assert world.fake.dispatches == []
