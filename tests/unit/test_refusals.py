"""What cannot be right is refused with its code and field: non-finite, absurd and over-long
numbers, ids that differ only in leading zeros, paths into VCS metadata, control characters.
The look-alikes that are fine stay fine, on the fast path (no positions) as on the slow one."""

from __future__ import annotations

import pytest

from multi_agent_coder.backlog.load import LoadResult, load_bytes
from multi_agent_coder.ids import id_key
from multi_agent_coder.visible import first_unsafe
from multi_agent_coder.yamlread import IntegerTooLongError, resolve_plain
from tests.hostile import ACCEPTED, HOSTILE, Case


def load(text: str) -> LoadResult:
    return load_bytes(text.encode("utf-8"), "BACKLOG.yaml")


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_each_hostile_value_is_refused_with_its_code_and_field(case: Case) -> None:
    result = load(case.text)

    assert not result.ok
    found = [(p.code, p.field) for p in result.problems]
    assert found == [(case.code, case.field)], [p.render() for p in result.problems]
    [problem] = result.problems
    assert problem.line > 1
    assert first_unsafe(problem.render()) is None, "the message must not carry the character"


@pytest.mark.parametrize("text", ACCEPTED.values(), ids=list(ACCEPTED))
def test_look_alikes_that_are_fine_load_on_the_fast_path(text: str) -> None:
    result = load(text)

    assert result.ok, [p.render() for p in result.problems]
    assert result.positions is None, "a valid file must not need the slow path"


def test_a_confusable_id_names_both_ids_and_both_lines() -> None:
    case = next(c for c in HOSTILE if c.name == "t001-t0001")
    lines = case.text.splitlines()
    first, second = lines.index("- id: T001") + 1, lines.index("- id: T0001") + 1

    [problem] = load(case.text).problems

    assert problem.line == second
    assert f"'T0001' differs from 'T001' (tasks[0], line {first})" in problem.message


def test_an_over_long_integer_is_refused_before_python_converts_it() -> None:
    with pytest.raises(IntegerTooLongError, match="5,000 digits is too large"):
        resolve_plain("9" * 5000)
    assert resolve_plain("9" * 100) == int("9" * 100)


@pytest.mark.parametrize(
    ("task_id", "key"),
    [
        ("T001", "T1"),
        ("T0001", "T1"),
        ("T1001", "T1001"),
        ("T10001", "T10001"),
        ("AUTH-012", "AUTH-12"),
        ("AUTH-00", "AUTH-0"),
        ("A1B07", "A1B7"),
    ],
)
def test_an_ids_key_is_its_prefix_and_the_value_of_its_number(task_id: str, key: str) -> None:
    assert id_key(task_id) == key
