"""The metrics report, counted from hand-written ledgers: every number checked by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from multi_agent_coder.git.ledger import Attempt, Lease, Record, Reset, Start
from multi_agent_coder.run.metrics import (
    OUTCOMES,
    Report,
    Spread,
    Usage,
    build_report,
    parse_since,
)
from multi_agent_coder.run.metrics_render import render_json, render_markdown, render_text

NOW = 1_000_000.0


def att(
    task: str,
    outcome: str = "success",
    *,
    at: float = 100.0,
    run: str = "r1",
    context: int = 800,
    duration: float = 10.0,
    model: str | None = "p/strong",
    role: str | None = "implementation",
    tokens_in: int | None = None,
    tokens_out: int | None = None,
    cached: int | None = None,
    cost: float | None = None,
    created: bool | None = True,
    deleted: bool | None = True,
    drift: bool | None = False,
    agent_s: float | None = 5.0,
) -> Attempt:
    return Attempt(
        task=task,
        run_id=run,
        outcome=outcome,
        reason="",
        duration_s=duration,
        context_bytes=context,
        model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost,
        at=at,
        tokens_cached=cached,
        base_sha="a" * 40,
        role=role,
        session_created=created,
        session_deleted=deleted if created else None,
        drift=drift,
        agent_s=agent_s,
    )


def old(task: str, outcome: str = "failure", *, at: float = 50.0) -> Attempt:
    """An attempt as a ledger written before the optional fields has it."""
    return Attempt(task, "r0", outcome, "", 4.0, 600, "p/strong", None, None, None, at)


def report(records: list[Record], **filters: Any) -> Report:
    return build_report(records, NOW, **filters)


# --------------------------------------------------------------------------- first attempts


def test_first_attempt_success_is_judged_on_each_task_s_first_attempt() -> None:
    found = report(
        [
            att("T001"),
            att("T002", "failure"),
            att("T002"),  # a second attempt that succeeded: not a first-attempt success
            att("T003", "infrastructure"),  # cost the task nothing: not its first attempt
            att("T003"),
            att("T004", "needs-review"),  # a person still has to look: not a success
            att("T005", "infrastructure"),  # no attempt that counts: not judged at all
        ]
    )
    first = found.first_attempt
    assert (first.tasks, first.succeeded, first.rate, first.met) == (4, 2, 0.5, False)
    by_task = {line.task: line.first_attempt for line in found.tasks}
    assert by_task == {
        "T001": "success",
        "T002": "failure",
        "T003": "success",
        "T004": "needs-review",
        "T005": None,
    }


@pytest.mark.parametrize(
    ("succeeded", "tasks", "met"),
    [(3, 4, True), (7, 10, False), (8, 10, True), (0, 1, False)],
    ids=["75%", "exactly-70%", "80%", "none"],
)
def test_the_seed_target_is_above_70_percent(succeeded: int, tasks: int, met: bool) -> None:
    records: list[Record] = [
        att(f"T{n:03d}", "success" if n < succeeded else "failure") for n in range(tasks)
    ]
    assert report(records).first_attempt.met is met


def test_a_reset_does_not_make_a_later_attempt_the_first() -> None:
    records: list[Record] = [att("T001", "failure", at=1), Reset("T001", "p", 2), att("T001", at=3)]
    assert report(records).first_attempt.succeeded == 0


def test_since_judges_only_tasks_first_tried_in_the_window() -> None:
    records: list[Record] = [
        att("T001", "failure", at=10),  # first tried before the window
        att("T001", at=200),
        att("T002", at=300),
    ]
    found = report(records, since=100.0)
    assert (found.attempts, found.first_attempt.tasks, found.first_attempt.succeeded) == (2, 1, 1)
    assert {line.task: line.first_attempt for line in found.tasks} == {
        "T001": None,
        "T002": "success",
    }
    assert found.outcomes["failure"] == 0


def test_only_keeps_the_tasks_asked_for() -> None:
    found = report([att("T001"), att("T002", "failure")], only={"T002"})
    assert [line.task for line in found.tasks] == ["T002"]
    assert (found.attempts, found.first_attempt.rate, found.only) == (1, 0.0, ("T002",))


def test_an_attempt_whose_run_died_counts_as_interrupted_and_one_under_way_does_not() -> None:
    records: list[Record] = [
        Lease("T001", "dead", "h", 10, 20),
        Start("T001", "dead", "h", 10),
        Lease("T002", "alive", "h", 10, NOW + 60),
        Start("T002", "alive", "h", 10),
    ]
    found = report(records)
    assert found.attempts == 1
    assert found.outcomes["interrupted"] == 1
    assert [line.task for line in found.tasks] == ["T001"]
    # Nothing is known of it but that it ended: no session, drift or time is made up.
    assert (found.sessions.unknown, found.drift.unknown, found.durations.attempts) == (1, 1, 0)
    assert found.first_attempt.tasks == 1
    assert (found.tasks[0].duration_s, found.usage.duration_s) == (None, None)


# --------------------------------------------------------------------------- the rest


def test_nothing_recorded_is_no_data_not_zero_percent() -> None:
    found = report([])
    assert found.attempts == 0
    assert found.outcomes == dict.fromkeys(OUTCOMES, 0)
    assert (found.first_attempt.rate, found.first_attempt.met) == (None, None)
    assert (found.sessions.rate, found.sessions.met) == (None, None)
    assert found.context_first == Spread(0, None, None)
    assert (found.durations.median, found.durations.total) == (None, None)
    assert found.durations.agent_total is None
    assert found.usage == Usage(0, 0, 0, None, None, None, None, None, None)
    assert (found.by_model, found.by_role, found.tasks) == ({}, {}, ())


def test_medians_of_even_counts_are_the_mean_of_the_middle_two() -> None:
    found = report(
        [
            att("T001", context=100, duration=1.0),
            att("T001", context=900, duration=2.0),  # T001: first 100, largest 900
            att("T002", context=300, duration=3.0),
            att("T003", context=0, duration=10.0),  # a prompt never built: no context
            att("T004", context=500, duration=0.0),  # a run that never said how long
        ]
    )
    assert found.context_first == Spread(3, 300, 500)  # 100, 300, 500
    assert found.context_largest == Spread(3, 500, 900)  # 300, 500, 900
    lines = {line.task: (line.context_first, line.context_max) for line in found.tasks}
    assert lines == {
        "T001": (100, 900),
        "T002": (300, 300),
        "T003": (None, None),
        "T004": (500, 500),
    }
    # 1, 2, 3, 10: the median is (2 + 3) / 2; the 0 s attempt is not averaged in.
    durations = found.durations
    assert (durations.attempts, durations.median, durations.max, durations.total) == (
        4,
        2.5,
        10.0,
        16.0,
    )
    assert found.context_first.median == 300
    assert report([att("T001", context=100), att("T002", context=400)]).context_first == Spread(
        2, 250.0, 400
    )


def test_tokens_and_cost_are_summed_where_reported_and_unknown_where_not() -> None:
    found = report(
        [
            att("T001", tokens_in=1000, tokens_out=50, cost=0.1, model="p/strong"),
            att("T002", tokens_in=500, tokens_out=25, cached=200, cost=0.2, model="p/strong"),
            att("T003", model="p/cheap", role="documentation", outcome="failure"),
            att("T004", model=None, role=None, created=False, agent_s=0.0),  # no agent
            old("T005"),  # model known, role not
        ]
    )
    total = found.usage
    assert (total.attempts, total.reported, total.succeeded) == (5, 2, 3)
    assert (total.tokens_in, total.tokens_out, total.tokens_cached) == (1500, 75, 200)
    assert total.cost == 0.3  # rounded: 0.1 + 0.2 is 0.30000000000000004 in floats
    assert total.agent_s == 15.0  # 5 + 5 + 5 + 0; the old record does not say
    assert found.durations.agent_unknown == 1
    assert list(found.by_model) == ["p/cheap", "p/strong"]
    cheap = found.by_model["p/cheap"]
    assert (cheap.attempts, cheap.reported, cheap.tokens_in, cheap.cost) == (1, 0, None, None)
    assert (cheap.succeeded, cheap.agent_s) == (0, 5.0)
    strong = found.by_model["p/strong"]
    assert (strong.attempts, strong.tokens_in, strong.tokens_cached) == (3, 1500, 200)
    assert list(found.by_role) == ["documentation", "implementation", "unknown"]
    assert found.by_role["implementation"].attempts == 2
    assert found.by_role["unknown"].agent_s is None


def test_sessions_created_against_verified_deleted() -> None:
    found = report(
        [
            att("T001"),
            att("T002", run="r2", deleted=False),  # a leak
            att("T003"),
            att("T004", created=False),  # never reached the agent: none created
            old("T005"),  # does not say
        ]
    )
    sessions = found.sessions
    assert (sessions.created, sessions.deleted, sessions.unknown) == (3, 2, 1)
    assert sessions.not_deleted == (("T002", "r2"),)
    assert (sessions.rate, sessions.met) == (2 / 3, False)
    assert report([att("T001"), att("T002")]).sessions.met is True


def test_drift_alerts_name_their_tasks() -> None:
    found = report(
        [
            att("T002", "failure", drift=True),
            att("T001", "failure", drift=True),
            att("T002", "failure", drift=True),
            att("T003"),
            old("T004"),
        ]
    )
    assert (found.drift.alerts, found.drift.tasks, found.drift.unknown) == (3, ("T001", "T002"), 1)
    assert {line.task: line.drift_alerts for line in found.tasks}["T002"] == 2


def test_every_outcome_is_counted_under_its_own_name() -> None:
    found = report([att("T001"), att("T002", "failure"), att("T003", "failed"), old("T004")])
    assert found.outcomes == {
        "success": 1,
        "failure": 2,
        "needs-review": 0,
        "interrupted": 0,
        "infrastructure": 0,
        "failed": 1,  # a name another version or a hand wrote: kept, not dropped
    }
    assert sum(found.outcomes.values()) == found.attempts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - 7 * 86_400),
        ("12h", NOW - 12 * 3600),
        ("30m", NOW - 1800),
        ("2w", NOW - 14 * 86_400),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC).timestamp()),
        ("2026-01-31T12:00", datetime(2026, 1, 31, 12, tzinfo=UTC).timestamp()),
        ("2026-01-31T12:00+02:00", datetime(2026, 1, 31, 10, tzinfo=UTC).timestamp()),
    ],
)
def test_since_takes_a_date_or_a_time_back_from_now(text: str, expected: float) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7", "d7", "-7d", "7 days", ""])
def test_since_refuses_anything_else_and_says_what_it_takes(text: str) -> None:
    with pytest.raises(ValueError, match=r"30m, 12h, 7d, 2w"):
        parse_since(text, NOW)


# --------------------------------------------------------------------------- renderers

MIXED: list[Record] = [
    att("T001", tokens_in=1000, tokens_out=50, cost=0.25),
    att("T002", "failure", drift=True, created=False, agent_s=0.0, model=None, role=None),
    old("T003"),
]


def test_the_json_document_has_stable_keys_and_null_for_unknown() -> None:
    document = json.loads(render_json(report(MIXED)))
    assert list(document) == [
        "version",
        "since",
        "tasks_filter",
        "skipped_lines",
        "attempts",
        "outcomes",
        "first_attempt_success",
        "context_bytes",
        "sessions",
        "drift",
        "durations_s",
        "usage",
        "tasks",
    ]
    assert document["first_attempt_success"] == {
        "tasks": 3,
        "succeeded": 1,
        "rate": 0.3333,
        "target": 0.7,
        "met": False,
    }
    assert document["sessions"] == {
        "created": 1,
        "verified_deleted": 1,
        "not_deleted": [],
        "unknown": 1,
        "rate": 1.0,
        "target": 1.0,
        "met": True,
    }
    assert document["drift"] == {"alerts": 1, "tasks": ["T002"], "unknown": 1}
    assert document["usage"]["by_role"]["unknown"]["tokens_in"] is None
    assert document["usage"]["total"] == {
        "attempts": 3,
        "succeeded": 1,
        "reported": 1,
        "tokens_in": 1000,
        "tokens_out": 50,
        "tokens_cached": None,
        "cost": 0.25,
        "duration_s": 24.0,
        "agent_s": 5.0,
    }
    assert document["tasks"][0] == {
        "task": "T001",
        "attempts": 1,
        "outcomes": ["success"],
        "first_attempt": "success",
        "context_bytes_first": 800,
        "context_bytes_max": 800,
        "duration_s": 10.0,
        "drift_alerts": 0,
    }
    assert json.loads(render_json(report(MIXED, since=0.0)))["since"] == "1970-01-01T00:00:00Z"


def test_the_text_says_unknown_where_the_ledger_does_not_say() -> None:
    text = render_text(report(MIXED))
    assert text.startswith("macoder report: 3 attempt(s) on 3 task(s)\n")
    assert "first-attempt success: 1/3 tasks, 33.3 % (target > 70 %: not met)" in text
    assert "tokens:                in 1,000, out 50, cached unknown; cost 0.2500" in text
    assert "1/1 verified deleted, 100.0 % (target 100 %: met); 1 attempt(s) do not say" in text
    assert "drift alerts:          1 (T002); 1 attempt(s) do not say" in text
    row = next(line for line in text.splitlines() if line.startswith("unknown "))
    assert row.split() == ["unknown", "1", "0", *["unknown"] * 5]  # the old record says nothing
    assert render_text(report([])).endswith("no attempts recorded\n")


def test_the_markdown_is_a_job_summary_section() -> None:
    hostile = att("T004", model="p/x|<b>`y`</b>\x1b[31m")
    markdown = render_markdown(report([*MIXED, hostile]), heading="### metrics")
    assert markdown.startswith("### metrics: 4 attempt(s) on 4 task(s)\n")
    assert "| first-attempt success | 2/4 tasks, 50.0 % | > 70 % ❌ |" in markdown
    assert "| sessions verified deleted | 2/2, 100.0 %; 1 attempt(s) do not say | 100 % ✅ |" in (
        markdown
    )
    assert "| model `p/x\\|&lt;b&gt;'y'&lt;/b&gt;\\x1b[31m` | 1 | 1 |" in markdown
    assert "\x1b" not in markdown
    assert "\x1b" not in render_text(report([hostile]))
    assert "p/x|<b>`y`</b>\\x1b[31m" in render_text(report([hostile]))
    assert "| `T003` | failure | failure | 600 / 600 | 4.0 s |" in markdown
    assert render_markdown(report([])).endswith("No attempts recorded.\n")
