"""The split Action brings a task PR that no longer merges up to date: the next plan leases
it, the task job merges the default branch into the PR's head (macoder resolves the backlog,
the agent the conflicts), and the publish job — which reads again from GitHub that the PR no
longer merges — accepts exactly one merge commit of the planned base into the PR's current
head and pushes it as a fast-forward. Same PR, nothing rewritten.

The real action entry, forge and engine against the fake GitHub and a bare repository (see
test_action_handoff.py, whose World and helpers this file uses); the agent is the FakeAgent.
"""

from __future__ import annotations

import json
import shutil

from multi_agent_coder.errors import EXIT_OK, EXIT_PROBLEMS
from tests.integration.actionworld import agent_factory, handoff_dir
from tests.integration.gitrepos import commit, git
from tests.integration.test_action_entry import SLUG, Job
from tests.integration.test_action_handoff import (
    READ_TOKEN,
    World,
    plan_again,
    published_pr,
    world,
)
from tests.unit.test_run_engine import FakeAgent, Scenario, writes

__all__ = ["world"]  # the fixture, shared with test_action_handoff.py


def push_to_main(world: World, files: dict[str, str]) -> str:
    """A person's commit on the default branch, pushed to "GitHub"."""
    clone = world.base / "person"
    if not clone.exists():
        git(world.base, "clone", "-q", str(world.remote), str(clone))
        git(clone, "config", "user.name", "A Person")
        git(clone, "config", "user.email", "person@example.com")
    git(clone, "pull", "-q", "--ff-only")
    sha = commit(clone, files, "a person's change")
    git(clone, "push", "-q", "origin", "main")
    return sha


def wave(
    world: World, run: str, task_id: str, scenario: Scenario | None
) -> tuple[FakeAgent, Job, str]:
    """The plan, task and publish jobs of workflow run `run` for `task_id`: the task job's
    agent, the publish job and its output."""
    plan, out = plan_again(world, run)
    assert task_id in json.loads(plan.outputs["ready"]), out
    base = plan.outputs["base-sha"]
    task = world.job(f"task-{task_id}-{run}")
    task.env["GITHUB_RUN_ID"] = run
    agent = FakeAgent({task_id: scenario} if scenario else {})
    code, out = task.run(
        mode="task", task_id=task_id, base_sha=base, token=READ_TOKEN, agent=agent_factory(agent)
    )
    assert code in (EXIT_OK, EXIT_PROBLEMS), out
    publish = world.job(f"publish-{task_id}-{run}")
    publish.env["GITHUB_RUN_ID"] = run
    if handoff_dir(task).is_dir():
        shutil.copytree(handoff_dir(task), handoff_dir(publish))
    code, out = publish.run(mode="publish", task_id=task_id, base_sha=base)
    return agent, publish, out


def head_of(world: World, task_id: str) -> str:
    return world.remote_refs()[f"refs/heads/macoder/{task_id}"]


def test_the_next_wave_merges_the_default_branch_into_a_pr_that_no_longer_merges(
    world: World,
) -> None:
    number = published_pr(world, "T001")
    old = head_of(world, "T001")
    main = push_to_main(world, {"t001.txt": "main's own\n"})

    agent, publish, out = wave(world, "7001", "T001", Scenario(writes("t001.txt", "both\n")))

    assert publish.outputs["pr-number"] == str(number), out
    assert publish.outputs["result"] == "succeeded", out
    new = head_of(world, "T001")
    parents = git(world.remote, "rev-list", "--parents", "-n1", new).split()[1:]
    assert parents == [old, main]
    assert git(world.remote, "show", f"{new}:t001.txt") == "both"
    [call] = agent.calls
    assert "## Update" in call["prompt"]
    assert "- t001.txt" in call["prompt"]
    [pull] = [p for p in world.fake.pulls(SLUG) if p["number"] == number]
    assert (pull["state"], pull["head"]["sha"], pull["draft"]) == ("open", new, False)
    outcomes = [a["outcome"] for a in world.attempts("T001")]
    assert outcomes == ["success", "success"]
    # Merges again: the next plan leaves it to its person.
    plan, _ = plan_again(world, "7002")
    assert "T001" not in json.loads(plan.outputs["ready"])


def test_a_hand_off_that_claims_an_update_the_pr_does_not_need_is_refused(world: World) -> None:
    """The task job's hand-off is the agent's reach: one that builds on the PR's head while
    the PR merges fine (no revision planned) is refused, and nothing is pushed."""
    number = published_pr(world, "T001")
    push_to_main(world, {"t001.txt": "main's own\n"})
    plan, _ = plan_again(world, "7101")
    base = plan.outputs["base-sha"]
    task = world.job("task-T001-7101")
    task.env["GITHUB_RUN_ID"] = "7101"
    agent = FakeAgent({"T001": Scenario(writes("t001.txt", "both\n"))})
    code, out = task.run(
        mode="task", task_id="T001", base_sha=base, token=READ_TOKEN, agent=agent_factory(agent)
    )
    assert code == EXIT_OK, out
    # Meanwhile a person resolves it on main: the PR merges again.
    push_to_main(world, {"t001.txt": "done\n"})
    before = head_of(world, "T001")
    publish = world.job("publish-T001-7101")
    publish.env["GITHUB_RUN_ID"] = "7101"
    shutil.copytree(handoff_dir(task), handoff_dir(publish))
    code, out = publish.run(mode="publish", task_id="T001", base_sha=base)

    assert code != EXIT_OK
    assert "does not need bringing up to date" in out
    assert head_of(world, "T001") == before
    [attempt] = [a for a in world.attempts("T001") if a["run_id"] == "gha-7101"]
    assert attempt["outcome"] == "failure"
    [pull] = [p for p in world.fake.pulls(SLUG) if p["number"] == number]
    assert (pull["state"], pull["head"]["sha"]) == ("open", before)
