"""Context drift: growth over the first attempt, and what the session really received."""

from __future__ import annotations

import pytest

from multi_agent_coder.context.build import ContextSettings, build_prompt
from multi_agent_coder.run.drift import DriftReport, check_drift, check_session_input
from tests.support import task

IDS = frozenset({"T001", "T002", "AUTH-012"})

# --- growth -------------------------------------------------------------------------------------


def test_the_first_attempt_has_no_baseline_and_cannot_drift() -> None:
    assert check_drift("T001", None, 9_999, 0.5) == DriftReport(ok=True, growth=None, reason=None)


def test_growth_up_to_the_limit_is_fine() -> None:
    assert check_drift("T001", 2000, 2000, 0.5) == DriftReport(ok=True, growth=0.0, reason=None)
    assert check_drift("T001", 2000, 3000, 0.5) == DriftReport(ok=True, growth=0.5, reason=None)


def test_growth_beyond_the_limit_is_drift_and_says_by_how_much() -> None:
    report = check_drift("T001", 2000, 3001, 0.5)
    assert not report.ok
    assert report.growth == pytest.approx(0.5005)
    assert report.reason == (
        "context drift in T001: the prompt is 3001 bytes, 50.0% more than the 2000 bytes"
        " of its first attempt (the limit is 50%)"
    )


def test_the_limit_is_the_configured_one() -> None:
    assert check_drift("T001", 1000, 1150, 0.1).ok is False
    assert check_drift("T001", 1000, 1150, 0.2).ok is True


def test_a_shrinking_prompt_is_not_drift() -> None:
    report = check_drift("T001", 3000, 1000, 0.5)
    assert report.ok
    assert report.growth == pytest.approx(-2 / 3)


def test_a_zero_baseline_is_skipped_as_the_seed_did() -> None:
    assert check_drift("T001", 0, 500, 0.5) == DriftReport(ok=True, growth=None, reason=None)


@pytest.mark.parametrize(
    ("baseline", "current", "limit"), [(-1, 10, 0.5), (10, -1, 0.5), (10, 10, -0.1)]
)
def test_negative_numbers_are_a_programming_error(
    baseline: int, current: int, limit: float
) -> None:
    with pytest.raises(ValueError, match="negative"):
        check_drift("T001", baseline, current, limit)


# --- what the session received ------------------------------------------------------------------


def test_the_prompt_we_build_for_a_clean_task_is_clean() -> None:
    t = task("T001")
    assert check_session_input(t, [build_prompt(t).text], IDS) == []


def test_the_task_own_id_is_not_contamination() -> None:
    assert check_session_input(task("T001"), ["# Task T001: do it. T001 again."], IDS) == []


def test_another_task_id_in_a_message_is_contamination() -> None:
    reasons = check_session_input(task("T001"), ["fine", "also do T002 and AUTH-012, T002"], IDS)
    assert reasons == [
        "cross-task contamination in T001: message 2 sent to the session names tasks T002, AUTH-012"
    ]


def test_id_shaped_words_that_name_no_task_are_not_contamination() -> None:
    assert check_session_input(task("T001"), ["encode as UTF-16, hash with SHA256"], IDS) == []


def test_planning_debris_in_a_message_is_reported_whatever_its_case() -> None:
    reasons = check_session_input(
        task("T001"), ["Let me think. On second thought, we explored"], IDS
    )
    assert reasons == [
        'planning debris in T001: message 1 sent to the session holds "we explored",'
        ' "let me think", "on second thought"'
    ]


def test_typographic_apostrophes_are_debris_too() -> None:
    reasons = check_session_input(task("T001"), ["Let\u2019s reconsider"], IDS)
    assert reasons == [
        'planning debris in T001: message 1 sent to the session holds "let\'s reconsider"'
    ]


def test_debris_phrases_come_from_the_settings() -> None:
    custom = ContextSettings(debris_phrases=("as discussed",))
    t = task("T001")
    assert check_session_input(t, ["As discussed: let me think"], IDS, custom) == [
        'planning debris in T001: message 1 sent to the session holds "as discussed"'
    ]


def test_each_message_and_kind_gets_its_own_reason_in_order() -> None:
    reasons = check_session_input(task("T001"), ["T002 let me think", "clean", "AUTH-012"], IDS)
    assert [reason.split(":")[0] for reason in reasons] == [
        "cross-task contamination in T001",
        "planning debris in T001",
        "cross-task contamination in T001",
    ]
    assert "message 3" in reasons[2]


def test_no_messages_is_nothing_to_report() -> None:
    assert check_session_input(task("T001"), [], IDS) == []
