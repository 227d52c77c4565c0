"""The progress comment on a task PR is rendered from the ledger alone: a spec of its text."""

from __future__ import annotations

from multi_agent_coder.git.ledger import Attempt, Comment, Lease, Reset, Start
from multi_agent_coder.run.pr_comment import MAX_ROWS, comment_id, render

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def attempt(
    reason: str = "tests fail", *, task: str = "T001", outcome: str = "failure", at: float = NOW
) -> Attempt:
    return Attempt(task, "run-1", outcome, reason, 312.4, 900, "m/x", 1200, 300, 0.0213, at)


def test_each_attempt_is_a_row_with_its_outcome_time_tokens_cost_and_reason() -> None:
    text = render("T001", [attempt(), attempt("PR #4 is ready", outcome="success")], NOW)

    assert text.startswith("### macoder · T001\n\n2 attempts so far\n")
    assert "| 1 | 2027-01-15 08:00 | failure | 312 s | 1,200/300 | 0.0213 | tests fail |" in text
    assert (
        "| 2 | 2027-01-15 08:00 | success | 312 s | 1,200/300 | 0.0213 | PR #4 is ready |" in text
    )


def test_other_tasks_records_are_not_shown() -> None:
    text = render("T001", [attempt(task="T002"), attempt()], NOW)
    assert "1 attempt so far" in text
    assert text.count("| failure |") == 1


def test_a_running_attempt_is_announced_with_where_it_runs() -> None:
    records = [
        attempt(),
        Lease("T001", "gha-7", "github-actions:7", NOW, NOW + 3600),
        Start("T001", "gha-7", "github-actions:7", NOW),
    ]
    text = render("T001", records, NOW + 10, running="https://github.com/o/r/actions/runs/7")

    assert "⏳ Attempt 2 is running: https://github.com/o/r/actions/runs/7" in text
    assert "| 1 |" in text
    assert "| 2 |" not in text


def test_an_attempt_whose_lease_ran_out_shows_as_interrupted() -> None:
    records = [
        Lease("T001", "gha-7", "github-actions:7", NOW, NOW + 60),
        Start("T001", "gha-7", "github-actions:7", NOW),
    ]
    text = render("T001", records, NOW + 120)
    assert "| interrupted |" in text


def test_a_persons_reset_is_shown_where_it_happened() -> None:
    text = render("T001", [attempt(), Reset("T001", "r", NOW), attempt()], NOW)
    lines = text.splitlines()
    reset = next(i for i, line in enumerate(lines) if "asked again" in line)
    assert lines[reset - 1].startswith("| 1 |")
    assert lines[reset + 1].startswith("| 2 |")


def test_a_hostile_reason_cannot_break_the_table_or_open_a_tag() -> None:
    reason = "a | b\n| x | y |\n<img src=x onerror=alert(1)> \x1b[31m red \u202e"
    text = render("T001", [attempt(reason)], NOW)
    [row] = [line for line in text.splitlines() if line.startswith("| 1 |")]

    assert row.count(" | ") == 6  # seven cells: every pipe of the reason escaped
    assert "<img" not in text
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in row


def test_a_long_reason_is_shortened_and_old_rows_are_counted_not_shown() -> None:
    records = [attempt("x" * 1000, at=NOW + i) for i in range(MAX_ROWS + 5)]
    text = render("T001", records, NOW + 100)

    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == MAX_ROWS + 1  # the header and the newest MAX_ROWS
    assert rows[1].startswith("| 6 |")
    assert "5 earlier rows not shown" in text
    assert max(len(line) for line in rows) < 400


def test_the_comment_kept_is_the_latest_for_that_pr() -> None:
    records = [
        Comment("T001", "r", 4, 100, NOW),
        Comment("T001", "r", 5, 200, NOW),
        Comment("T001", "r", 4, 101, NOW),  # a person deleted 100: macoder wrote 101
        Comment("T002", "r", 4, 300, NOW),
    ]
    assert comment_id(records, "T001", 4) == 101
    assert comment_id(records, "T001", 5) == 200
    assert comment_id(records, "T001", 6) is None
