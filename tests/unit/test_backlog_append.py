"""Appending tasks to BACKLOG.yaml (`macoder generate`): every old byte stays, the new tasks
read back exactly as given, in the file's own style; a write never goes over a person's edit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.backlog.load import load_bytes
from multi_agent_coder.backlog.write import (
    AppendError,
    replace_if_unchanged,
    tasks_layout,
    with_tasks_appended,
)
from multi_agent_coder.errors import BacklogChangedError, NotWritableError
from multi_agent_coder.yamlread import decode, parse_with_positions
from tests.unit.test_backlog_write import ODD

DEMO = (Path(__file__).resolve().parents[2] / "examples/demo/repo/BACKLOG.yaml").read_bytes()


def new_task(task_id: str = "T004", **fields: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": task_id,
        "title": "Add subtraction",
        "description": "Add calc/sub.py with sub(a, b).\nNegative results are fine.\n",
        "status": "pending",
        "depends_on": ["T001"],
        "acceptance": ["sub(5, 3) == 2"],
        "attempts": 0,
        "scope": {"files_hint": ["calc/sub.py", "tests/test_sub.py"], "estimated_hours": 1.0},
    }
    task.update(fields)
    return task


def data_of(raw: bytes) -> Any:
    return parse_with_positions(decode(raw))[0]


def test_tasks_go_after_the_last_task_and_every_old_byte_stays() -> None:
    appended = with_tasks_appended(DEMO, [new_task("T004"), new_task("T005")])

    text = appended.text
    # the old file is the new one without the inserted block: nothing else moved
    assert text.replace(appended.block, "", 1) == DEMO.decode()
    assert text.startswith(DEMO.decode())  # tasks is the last key: a pure append
    old = data_of(DEMO)
    assert data_of(appended.raw) == {**old, "tasks": [*old["tasks"], new_task(), new_task("T005")]}
    # in the file's style: items at its indentation, a blank line between tasks, short lists
    # of ids and paths in flow style, a multi-line text as a literal block
    assert "\n\n  - id: T004\n    title: Add subtraction\n" in text
    assert "\n\n  - id: T005\n" in text
    assert "    depends_on: [T001]\n" in text
    assert "      files_hint: [calc/sub.py, tests/test_sub.py]\n" in text
    assert "    description: |\n      Add calc/sub.py with sub(a, b).\n" in text
    assert text.splitlines()[appended.first_line - 1] == "  - id: T004"
    assert load_bytes(appended.raw, "BACKLOG.yaml").ok


def test_an_odd_file_keeps_its_comments_quoting_and_flow_items() -> None:
    raw = ODD.encode()
    appended = with_tasks_appended(raw, [new_task("T004", depends_on=["T002"])])

    assert appended.text.replace(appended.block, "", 1) == ODD
    assert appended.text.splitlines()[appended.first_line - 1] == "    - id: T004"
    old = data_of(raw)
    added = new_task("T004", depends_on=["T002"])
    assert data_of(appended.raw) == {**old, "tasks": [*old["tasks"], added]}


def test_comments_and_keys_after_the_tasks_stay_after_the_new_ones() -> None:
    raw = (
        b'version: "1"\n'
        b"tasks:\n"
        b"- id: T001\n"
        b"  scope: {estimated_hours: 1}  # the last value\n"
        b"# the end of the tasks\n"
        b"\n"
        b"track_id: later\n"
    )
    appended = with_tasks_appended(raw, [new_task("T002")])

    text = appended.text
    assert text.index("# the last value") < text.index("- id: T002")
    assert text.index("- id: T002") < text.index("# the end of the tasks")
    assert text.endswith("# the end of the tasks\n\ntrack_id: later\n")
    assert text.replace(appended.block, "", 1) == raw.decode()
    assert data_of(appended.raw)["track_id"] == "later"


def test_an_empty_flow_list_becomes_a_block_list_under_its_key() -> None:
    raw = b'# starter\nversion: "1"\ntasks: []   # nothing yet\nupdated_at: x\n'
    appended = with_tasks_appended(raw, [new_task("T001", depends_on=[])])

    head = '# starter\nversion: "1"\ntasks:   # nothing yet\n  - id: T001\n'
    assert appended.text.startswith(head)
    assert appended.text.endswith("      estimated_hours: 1.0\nupdated_at: x\n")
    assert data_of(appended.raw)["tasks"] == [new_task("T001", depends_on=[])]
    assert appended.first_line == 4


def test_a_flow_list_of_tasks_gets_flow_items() -> None:
    raw = b'{"version": "1", "tasks": [{"id": "T001"}]}\n'
    appended = with_tasks_appended(raw, [new_task("T002")])

    assert appended.text.startswith('{"version": "1", "tasks": [{"id": "T001"}, {id: T002, ')
    assert "\n" not in appended.text.rstrip("\n")
    assert data_of(appended.raw)["tasks"][1] == new_task("T002")


def test_crlf_line_ends_and_a_bom_are_kept() -> None:
    raw = b"\xef\xbb\xbf" + DEMO.replace(b"\n", b"\r\n")
    appended = with_tasks_appended(raw, [new_task()])

    assert appended.raw.startswith(raw)
    assert appended.raw.count(b"\n") == appended.raw.count(b"\r\n")
    assert data_of(appended.raw)["tasks"][-1] == new_task()


@pytest.mark.parametrize("value", ["0o17", "1e3", "true", "null", "", "~", ".inf", "- x", "a: b"])
def test_strings_the_yaml_reader_would_take_for_something_else_are_quoted(value: str) -> None:
    appended = with_tasks_appended(DEMO, [new_task(title=value, acceptance=[value])])

    task = data_of(appended.raw)["tasks"][-1]
    assert (task["title"], task["acceptance"]) == (value, [value])


def test_a_keep_chomped_last_text_keeps_its_line_breaks() -> None:
    """The blank line between tasks would join a `|+` text that ends the last task: the
    tasks are then appended with no blank line, and the old value reads back the same."""
    raw = b'version: "1"\ntasks:\n  - id: T001\n    description: |+\n      kept\n'
    appended = with_tasks_appended(raw, [new_task("T002")])

    tasks = data_of(appended.raw)["tasks"]
    assert tasks[0]["description"] == "kept\n"
    assert tasks[1] == new_task("T002")


def test_any_plain_data_reads_back_as_given_or_the_append_is_refused() -> None:
    odd_items = ["just a string", 3, None, {"id": "T009", "nested": {"a": [1, 2.5, True]}}]
    appended = with_tasks_appended(DEMO, odd_items)

    assert data_of(appended.raw)["tasks"][-4:] == odd_items
    with pytest.raises(AppendError, match="no top-level 'tasks' list"):
        with_tasks_appended(b"version: '1'\n", [new_task()])


def test_the_layout_is_read_where_the_values_are_written_not_where_an_alias_points() -> None:
    text = "tasks:\n- id: T001\n  t: &a [x]\n- id: T002\n  t: *a  # c\nz: 1\n"
    layout = tasks_layout(text)

    assert layout is not None
    assert (layout.flow, layout.column, len(layout.items)) == (False, 0, 2)
    assert text[: layout.content_end].endswith("t: *a")


# --- writing over exactly what was read ---------------------------------------------------------


def test_the_new_bytes_replace_the_file_that_still_holds_the_old_ones(tmp_path: Path) -> None:
    path = tmp_path / "BACKLOG.yaml"
    path.write_bytes(DEMO)
    path.chmod(0o640)
    after = with_tasks_appended(DEMO, [new_task()]).raw

    replace_if_unchanged(path, DEMO, after)

    assert path.read_bytes() == after
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["BACKLOG.yaml"]


def test_a_file_a_person_changed_meanwhile_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "BACKLOG.yaml"
    edited = DEMO + b"# my edit\n"
    path.write_bytes(edited)
    after = with_tasks_appended(DEMO, [new_task()]).raw

    with pytest.raises(BacklogChangedError, match="changed on disk") as caught:
        replace_if_unchanged(path, DEMO, after, display="BACKLOG.yaml")

    assert caught.value.exit_code == 1
    assert "BACKLOG.yaml" in str(caught.value)
    assert path.read_bytes() == edited


def test_a_read_only_file_is_refused_and_left(tmp_path: Path) -> None:
    path = tmp_path / "BACKLOG.yaml"
    path.write_bytes(DEMO)
    path.chmod(0o444)

    with pytest.raises(NotWritableError, match="read-only"):
        replace_if_unchanged(path, DEMO, DEMO + b"# x\n")

    assert path.read_bytes() == DEMO
