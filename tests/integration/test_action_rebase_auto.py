"""`rebase.automatic` in the Action: the wave's plan job starts the rewrite of a task that
keeps failing — a workflow run of its own, dispatched with `rebase: <id>` (the manual path,
whose rebase job holds no write token) — instead of the task's next attempt, and leases the
task for it, so neither this wave nor the next starts the task or a second rewrite.

The real action entry, forge and engine against the fake GitHub (see test_action_handoff.py).
"""

from __future__ import annotations

import json

from tests.integration.test_action_entry import SLUG
from tests.integration.test_action_handoff import SETTINGS, World, plan_again, publish, world
from tests.integration.test_action_update import push_to_main, wave
from tests.support import backlog_yaml, task_dict
from tests.unit.test_run_engine import Scenario, writes

__all__ = ["world"]  # the fixture, shared with test_action_handoff.py

BROKEN = Scenario(writes("t.txt", "BROKEN\n"))  # the repository's check fails on it


def fail_twice(world: World, *, automatic: bool) -> None:
    """T001's agent breaks the check in two waves; T002 is done with (published, no job)."""
    publish(world, None, "T001")
    publish(world, None, "T002")
    # five attempts: the fixture's first wave left T001 one (its task job never ran)
    settings = (
        SETTINGS + "max_attempts: 5\n" + ("rebase:\n  automatic: true\n" if automatic else "")
    )
    push_to_main(
        world,
        {".macoder.yaml": settings, "BACKLOG.yaml": backlog_yaml(task_dict("T001"))},
    )
    for run in ("7001", "7002"):
        _, done, out = wave(world, run, "T001", BROKEN)
        assert done.outputs["result"] == "failed", out


def test_a_task_that_failed_twice_gets_its_rewrite_started_instead_of_a_third_attempt(
    world: World,
) -> None:
    fail_twice(world, automatic=True)
    world.fake.dispatches.clear()
    world.fake.dispatch_inputs.clear()

    plan, out = plan_again(world, "7003")

    assert json.loads(plan.outputs["rewrites"]) == ["T001"], out
    assert json.loads(plan.outputs["ready"]) == [], out  # no third attempt at the old entry
    assert world.fake.dispatches == [("macoder.yml", "main")]
    assert world.fake.dispatch_inputs == [{"rebase": "T001"}]
    assert "T001: it failed 2 times; its rewrite is started (macoder.yml, rebase: T001)" in out
    # leased for the rewrite, with no attempt's start: a rewrite is no attempt
    records = [r for r in world.ledger() if r["task"] == "T001" and "7003" in r["run_id"]]
    assert [r["type"] for r in records] == ["lease"], records

    # the next wave (a push meanwhile) neither starts the task nor a second rewrite
    again, out = plan_again(world, "7004")
    assert json.loads(again.outputs["rewrites"]) == [], out
    assert json.loads(again.outputs["ready"]) == [], out
    assert world.fake.dispatch_inputs == [{"rebase": "T001"}]


def test_without_the_setting_the_third_attempt_starts_as_usual(world: World) -> None:
    fail_twice(world, automatic=False)
    world.fake.dispatches.clear()

    plan, out = plan_again(world, "7003")

    assert json.loads(plan.outputs["ready"]) == ["T001"], out
    assert json.loads(plan.outputs["rewrites"]) == [], out
    assert world.fake.dispatches == []


def test_the_plan_chooses_the_rewrites_from_what_it_already_read(
    world: World, backlog_reads: list[str]
) -> None:
    """The plan job lists the pull requests (every page, and one more request for each open
    one) and reads the backlog once: choosing which tasks' rewrites to start, and planning
    after they were started, use what it read."""
    fail_twice(world, automatic=True)
    world.fake.clear_exchanges()
    backlog_reads.clear()  # counted from here: the plan job alone

    plan, out = plan_again(world, "7003")

    assert json.loads(plan.outputs["rewrites"]) == ["T001"], out
    listings = [
        e for e in world.fake.exchanges if e.method == "GET" and e.path == f"/repos/{SLUG}/pulls"
    ]
    assert len(listings) == 1, [e.query for e in listings]
    assert len(backlog_reads) == 1, backlog_reads
