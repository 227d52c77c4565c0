"""The task-id rule guards branch names, paths and command lines; the track rule guards the
specs directory and git paths."""

from __future__ import annotations

import pytest

from multi_agent_coder.errors import InvalidTaskIdError, InvalidTrackError
from multi_agent_coder.ids import (
    TASK_ID_IN_TEXT,
    branch_for,
    is_task_id,
    validate_task_id,
    validate_track,
)


@pytest.mark.parametrize("good", ["T001", "T01", "AUTH-012", "A1B2-99999", "X00"])
def test_valid_ids(good: str) -> None:
    assert validate_task_id(good) == good
    assert branch_for(good) == f"macoder/{good}"


@pytest.mark.parametrize(
    "bad",
    [
        "t001",
        "T1",
        "T001;ls",
        "../x",
        "$(touch pwned)",
        "T 001",
        "T001\n",
        "T٠٠١",
        "T-",
        "",
        "-T01",
        "T01/../../x",
        "T０１",
    ],
)
def test_hostile_or_malformed_ids_are_refused(bad: str) -> None:
    assert not is_task_id(bad)
    with pytest.raises(InvalidTaskIdError) as caught:
        branch_for(bad)
    assert caught.value.exit_code == 2


def test_non_strings_are_not_ids() -> None:
    assert not is_task_id(101)
    assert not is_task_id(None)


def test_ids_are_found_inside_text_as_whole_words_only() -> None:
    text = "see T002, AUTH-012 and T003.x but not xT004 or T005_a or T0"
    assert TASK_ID_IN_TEXT.findall(text) == ["T002", "AUTH-012", "T003"]


# --- track names ------------------------------------------------------------------------------

HOSTILE_TRACKS = [
    "",
    ".",
    "..",
    "../etc",
    "a/../../b",
    "a..b",
    "a/b",
    "/abs",
    ".hidden",
    "-rf",
    "_private",
    "Auth",
    "a b",
    "a\nb",
    "auth\n",
    "a\\b",
    "tr\u0430ck",  # Cyrillic a
    "a" * 65,
    "a\x00b",
    "$(touch pwned)",
]


@pytest.mark.parametrize("good", ["auth", "search-v2", "a", "v1.2_rc", "0day", "a" * 64])
def test_valid_track_names(good: str) -> None:
    assert validate_track(good) == good


@pytest.mark.parametrize("bad", HOSTILE_TRACKS)
def test_hostile_or_malformed_track_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidTrackError) as caught:
        validate_track(bad)
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"invalid track name {bad!r}: ")
