"""Loading a backlog: valid files load fast; every problem is reported with line and column."""

from __future__ import annotations

import pytest

from multi_agent_coder.backlog.load import LoadResult, load_bytes, require_valid
from multi_agent_coder.errors import BacklogInvalidError
from tests.support import backlog_yaml, task_dict


def load(text: str) -> LoadResult:
    return load_bytes(text.encode("utf-8"), "BACKLOG.yaml")


def codes(result: LoadResult) -> list[tuple[int, int, str]]:
    return [(p.line, p.col, p.code) for p in result.problems]


def test_a_valid_backlog_loads_with_no_problems() -> None:
    result = load(backlog_yaml(task_dict("T001"), task_dict("T002", depends_on=["T001"])))
    assert result.ok
    assert result.problems == []
    assert result.backlog is not None
    assert [t.id for t in result.backlog.tasks] == ["T001", "T002"]
    assert result.positions is None  # the fast path needed none


def test_a_problem_is_rendered_as_path_line_col_field_message_code() -> None:
    text = backlog_yaml(task_dict("T001", depends_on=["T099"]))
    [problem] = load(text).problems
    line = text.splitlines().index("  - T099") + 1
    assert problem.render() == (
        f"BACKLOG.yaml:{line}:5: tasks[0].depends_on[0]: "
        "unknown task 'T099' in depends_on [unknown-dependency]"
    )


def test_one_malformed_task_does_not_hide_problems_in_the_others() -> None:
    text = backlog_yaml(
        task_dict("T001", scope={"estimated_hours": 0}),
        task_dict("T002", depends_on=["T404"]),
    )
    result = load(text)
    assert [p.code for p in result.problems] == ["invalid-value", "unknown-dependency"]
    assert result.backlog is None


def test_a_dependency_on_a_malformed_but_identified_task_is_not_unknown() -> None:
    text = backlog_yaml(task_dict("T001", title=""), task_dict("T002", depends_on=["T001"]))
    assert [p.code for p in load(text).problems] == ["invalid-value"]


def test_unknown_keys_point_at_the_key_and_suggest_the_close_name() -> None:
    text = backlog_yaml(task_dict("T001", dependson=["T002"]))
    [problem] = load(text).problems
    assert problem.code == "unknown-key"
    assert problem.message == "unknown key 'dependson'; did you mean 'depends_on'?"
    assert problem.line == text.splitlines().index("  dependson:") + 1
    assert problem.col == 3


def test_unknown_keys_without_a_close_name_list_the_allowed_ones() -> None:
    text = backlog_yaml(task_dict("T001", scope={"estimated_hours": 1, "owner": "x"}))
    [problem] = load(text).problems
    assert problem.message == "unknown key 'owner'; allowed: files_hint, estimated_hours"


def test_a_missing_field_points_at_the_mapping_that_lacks_it() -> None:
    data = task_dict("T001")
    del data["acceptance"]
    text = backlog_yaml(data)
    [problem] = load(text).problems
    assert (problem.code, problem.field) == ("missing-field", "tasks[0].acceptance")
    assert problem.line == text.splitlines().index("- id: T001") + 1
    assert problem.message == "required field 'acceptance' is missing"


def test_a_number_where_a_string_belongs_asks_for_quotes() -> None:
    text = backlog_yaml(task_dict("T001")).replace("version: '1.0'", "version: 1.10")
    [problem] = load(text).problems
    assert problem.code == "wrong-type"
    assert (
        problem.message == "expected a string, got a number; quote it to keep it as written: '1.1'"
    )
    assert (problem.line, problem.col) == (1, 10)


def test_a_status_typo_gets_a_suggestion() -> None:
    [problem] = load(backlog_yaml(task_dict("T001", status="complete"))).problems
    assert problem.code == "invalid-value"
    assert "did you mean 'completed'?" in problem.message


@pytest.mark.parametrize("bad_id", ["t001", "T1", "T001;ls", "../T01", "T 001", "T٠٠١"])
def test_malformed_task_ids_are_refused(bad_id: str) -> None:
    [problem] = load(backlog_yaml(task_dict(bad_id))).problems
    assert (problem.code, problem.field) == ("invalid-task-id", "tasks[0].id")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd", "absolute"),
        ("../outside.py", "leaves the repository"),
        ("C:\\x", "absolute"),
    ],
)
def test_files_hint_must_stay_inside_the_repository(path: str, reason: str) -> None:
    [problem] = load(
        backlog_yaml(task_dict("T001", scope={"files_hint": [path], "estimated_hours": 1}))
    ).problems
    assert problem.code == "invalid-path"
    assert reason in problem.message


def test_timestamps_must_be_iso_8601() -> None:
    [problem] = load(backlog_yaml(task_dict("T001"), created_at="last tuesday")).problems
    assert (problem.code, problem.field) == ("invalid-value", "created_at")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("- a\n- b\n", "not-a-mapping"),
        ("just words\n", "not-a-mapping"),
        ("version: '1'\n", "missing-field"),
    ],
)
def test_top_level_shape_problems(text: str, code: str) -> None:
    assert code in [p.code for p in load(text).problems]


def test_tasks_that_is_not_a_list_is_a_wrong_type() -> None:
    text = backlog_yaml().replace("tasks: []", "tasks:\n  T001: {}")
    problems = load(text).problems
    assert [(p.code, p.field) for p in problems] == [("wrong-type", "tasks")]


def test_problems_come_in_file_order() -> None:
    text = backlog_yaml(
        task_dict("T001", depends_on=["T009"]),
        task_dict("T001"),
        task_dict("T002", status="nope"),
    )
    lines = [p.line for p in load(text).problems]
    assert lines == sorted(lines)
    assert [p.code for p in load(text).problems] == [
        "unknown-dependency",
        "duplicate-id",
        "invalid-value",
    ]


def test_require_valid_raises_with_the_problems() -> None:
    result = load(backlog_yaml(task_dict("T001", depends_on=["T001"])))
    with pytest.raises(BacklogInvalidError) as caught:
        require_valid(result)
    assert caught.value.problems[0].code == "self-dependency"
    assert caught.value.exit_code == 1


def test_encoding_problems_are_reported_not_raised() -> None:
    result = load_bytes(b"version: '1'\ntitle: caf\xe9\n", "B.yaml")
    assert [(p.line, p.col, p.code) for p in result.problems] == [(2, 11, "encoding")]
