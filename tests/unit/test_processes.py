"""Which process groups the tree-ending code may signal: never our own, never 0 or 1."""

from __future__ import annotations

import pytest

from multi_agent_coder.processes import groups_to_signal


def test_each_group_is_signalled_once_in_the_order_found() -> None:
    assert groups_to_signal([4100, 4200, 4100, 4300], own=999) == [4100, 4200, 4300]


def test_our_own_group_is_never_signalled() -> None:
    assert groups_to_signal([4100, 999, 4200], own=999) == [4100, 4200]


@pytest.mark.parametrize(
    ("group", "why"),
    [
        (0, "killpg(0) is kill(0): our own group"),
        (1, "killpg(1) is kill(-1): every process we may signal"),
    ],
)
def test_group_numbers_that_mean_more_than_one_group_are_never_signalled(
    group: int, why: str
) -> None:
    assert groups_to_signal([4100, group], own=999) == [4100], why
