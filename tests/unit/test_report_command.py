"""`macoder report` on ledgers the run engine really wrote: its numbers match the ledger.

The engine runs for real (git, worktrees, ledger, local forge, the repository's check) with
the fake agent of `test_run_engine`; the expected numbers are counted here straight from the
ledger's JSON lines, apart from `run/metrics.py`, and must be what the command prints.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.git.ledger import LEDGER_REF
from tests.cli import macoder
from tests.integration.gitrepos import git
from tests.integration.test_ledger import write_raw_ledger
from tests.support import task_dict
from tests.unit.test_run_engine import Scenario, World, make_world, outcome_of, writes


def report_json(world: World, *args: str) -> dict[str, Any]:
    ran = macoder("report", "--format", "json", *args, cwd=world.root)
    assert ran.code == 0, ran.output
    document: dict[str, Any] = json.loads(ran.stdout)
    return document


@pytest.fixture
def ran(tmp_path: Path) -> World:
    """Three tasks through two runs: T001 succeeds at once; T002 fails (its change breaks
    the check), then succeeds; T003's session received another task's id (a drift alert)."""
    bigger = {"files_hint": [f"src/m{i}.py" for i in range(3)], "estimated_hours": 3.0}
    world = make_world(
        tmp_path, task_dict("T001"), task_dict("T002", scope=bigger), task_dict("T003")
    )
    agent = world.agent
    agent.scenarios["T002"] = Scenario(writes("t002.txt", "BROKEN\n"))
    agent.scenarios["T003"] = Scenario(writes("t003.txt"), received=("Also do T001.",))
    first = world.run()
    assert [outcome_of(first, t)[0] for t in ("T001", "T002", "T003")] == [
        "succeeded",
        "failed",
        "failed",
    ]
    agent.scenarios["T002"] = Scenario(writes("t002.txt"))
    assert outcome_of(world.run(only=frozenset({"T002"})), "T002")[0] == "succeeded"
    return world


def test_the_report_s_numbers_are_the_ledger_s(ran: World) -> None:
    attempts = [r for r in ran.ledger() if r["type"] == "attempt"]
    # The first run's tasks ran side by side (two workers): their order is the ledger's.
    assert sorted((a["task"], a["outcome"]) for a in attempts[:3]) == [
        ("T001", "success"),
        ("T002", "failure"),
        ("T003", "failure"),
    ]
    assert (attempts[3]["task"], attempts[3]["outcome"]) == ("T002", "success")
    document = report_json(ran)

    assert document["attempts"] == len(attempts) == 4
    assert document["outcomes"] == {
        "success": sum(a["outcome"] == "success" for a in attempts),
        "failure": sum(a["outcome"] == "failure" for a in attempts),
        "needs-review": 0,
        "interrupted": 0,
        "infrastructure": 0,
    }
    firsts: dict[str, str] = {}
    for a in attempts:
        firsts.setdefault(a["task"], a["outcome"])
    assert firsts == {"T001": "success", "T002": "failure", "T003": "failure"}
    assert document["first_attempt_success"] == {
        "tasks": 3,
        "succeeded": 1,
        "rate": 0.3333,
        "target": 0.7,
        "met": False,
    }
    created = [a for a in attempts if a["session_created"]]
    assert document["sessions"] == {
        "created": len(created),
        "verified_deleted": sum(a["session_deleted"] for a in created),
        "not_deleted": [],
        "unknown": 0,
        "rate": 1.0,
        "target": 1.0,
        "met": True,
    }
    assert len(created) == 4
    assert document["drift"] == {"alerts": 1, "tasks": ["T003"], "unknown": 0}

    by_task: dict[str, list[dict[str, Any]]] = {}
    for a in attempts:
        by_task.setdefault(a["task"], []).append(a)
    first_context = [rows[0]["context_bytes"] for rows in by_task.values()]
    largest = [max(r["context_bytes"] for r in rows) for rows in by_task.values()]
    assert document["context_bytes"] == {
        "first": {
            "tasks": 3,
            "median": statistics.median(first_context),
            "max": max(first_context),
        },
        "largest": {"tasks": 3, "median": statistics.median(largest), "max": max(largest)},
    }
    durations = [a["duration_s"] for a in attempts]
    assert document["durations_s"] == {
        "attempts": 4,
        "median": statistics.median(durations),
        "max": max(durations),
        "total": round(sum(durations), 3),
        "agent_total": round(sum(a["agent_s"] for a in attempts), 3),
        "agent_unknown": 0,
    }
    total = document["usage"]["total"]
    assert (total["tokens_in"], total["tokens_out"]) == (
        sum(a["tokens_in"] for a in attempts),
        sum(a["tokens_out"] for a in attempts),
    )
    assert total["tokens_in"] == 4 * 1200  # what the fake agent reports per session
    assert total["tokens_cached"] is None  # nothing counted them (no gateway): unknown
    assert total["cost"] == round(sum(a["cost"] for a in attempts), 6)
    # T001 and T003 are simple changes (the documentation model), T002 is not.
    usage = document["usage"]
    assert {m: u["attempts"] for m, u in usage["by_model"].items()} == {
        "fake/cheap": 2,
        "fake/strong": 2,
    }
    assert {r: (u["attempts"], u["succeeded"]) for r, u in usage["by_role"].items()} == {
        "documentation": (2, 1),
        "implementation": (2, 1),
    }
    tasks = {t["task"]: t for t in document["tasks"]}
    assert tasks["T002"]["outcomes"] == ["failure", "success"]
    assert tasks["T002"]["first_attempt"] == "failure"
    assert tasks["T002"]["context_bytes_first"] == by_task["T002"][0]["context_bytes"]
    assert tasks["T003"]["drift_alerts"] == 1


def test_the_filters_narrow_the_attempts_counted(ran: World) -> None:
    only = report_json(ran, "--task", "T002")
    assert (only["attempts"], only["tasks_filter"]) == (2, ["T002"])
    assert only["first_attempt_success"]["rate"] == 0.0
    assert report_json(ran, "--since", "1h")["attempts"] == 4
    later = report_json(ran, "--since", "2999-01-01")
    assert (later["attempts"], later["first_attempt_success"]["rate"]) == (0, None)
    refused = macoder("report", "--since", "yesterday", cwd=ran.root)
    assert refused.code == 2
    assert "--since 'yesterday': not a date" in refused.stderr
    assert macoder("report", "--task", "t-2", cwd=ran.root).code == 2


def test_the_three_formats_say_the_same_numbers(ran: World) -> None:
    text = macoder("report", cwd=ran.root)
    assert text.code == 0
    assert text.stdout.startswith("macoder report: 4 attempt(s) on 3 task(s)\n")
    assert "first-attempt success: 1/3 tasks, 33.3 % (target > 70 %: not met)" in text.stdout
    assert "drift alerts:          1 (T003)" in text.stdout
    markdown = macoder("report", "--format", "markdown", cwd=ran.root)
    assert markdown.code == 0
    assert "| first-attempt success | 1/3 tasks, 33.3 % | > 70 % ❌ |" in markdown.stdout
    assert "| sessions verified deleted | 4/4, 100.0 % | 100 % ✅ |" in markdown.stdout
    assert "| `T002` | failure, success | failure |" in markdown.stdout


#: A ledger as macoder wrote it before attempts said their session, drift, role and base.
OLD_LEDGER = "".join(
    line + "\n"
    for line in (
        '{"type": "lease", "task": "T001", "run_id": "r0", "holder": "h", "acquired_at": 1.0, '
        '"expires_at": 61.0}',
        '{"type": "start", "task": "T001", "run_id": "r0", "holder": "h", "at": 1.0}',
        '{"type": "attempt", "task": "T001", "run_id": "r0", "outcome": "failure", "reason": '
        '"tests fail", "duration_s": 12.5, "context_bytes": 900, "model": "fake/strong", '
        '"tokens_in": null, "tokens_out": null, "cost": null, "at": 20.0}',
        '{"type": "release", "task": "T001", "run_id": "r0", "at": 21.0}',
        '{"type": "attempt", "task": "T002", "run_id": "r0", "outcome": "success", "reason": '
        '"PR #1 created", "duration_s": 7.5, "context_bytes": 700, "model": "fake/strong", '
        '"tokens_in": 100, "tokens_out": 10, "cost": null, "at": 30.0}',
        "{torn",
    )
)


def test_a_ledger_written_before_the_new_fields_still_reports_them_as_unknown(
    tmp_path: Path,
) -> None:
    world = make_world(tmp_path, task_dict("T001"), task_dict("T002"))
    write_raw_ledger(world.root, OLD_LEDGER)
    assert git(world.root, "for-each-ref", LEDGER_REF)
    document = report_json(world)
    assert document["skipped_lines"] == 1
    assert document["attempts"] == 2
    assert document["first_attempt_success"]["succeeded"] == 1
    assert document["sessions"] == {
        "created": 0,
        "verified_deleted": 0,
        "not_deleted": [],
        "unknown": 2,
        "rate": None,
        "target": 1.0,
        "met": None,
    }
    assert document["drift"] == {"alerts": 0, "tasks": [], "unknown": 2}
    assert document["durations_s"]["agent_total"] is None
    assert document["usage"]["total"]["tokens_in"] == 100
    assert document["usage"]["total"]["reported"] == 1
    assert document["usage"]["total"]["cost"] is None
    assert list(document["usage"]["by_role"]) == ["unknown"]
    text = macoder("report", cwd=world.root).stdout
    assert "0/0 verified deleted, unknown (target 100 %: no data); 2 attempt(s) do not say" in text
    assert "cached unknown; cost unknown (1 of 2 attempt(s) reported)" in text
