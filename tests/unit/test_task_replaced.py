"""Replacing one task's entry in BACKLOG.yaml (`macoder rebase`): every byte outside that entry
stays — the header, the comments and blank lines after it, the other tasks, a BOM, CRLF line
ends — and the result reads back as the old data with that one task replaced."""

from __future__ import annotations

import pytest
import yaml

from multi_agent_coder.backlog.write import AppendError, entry_span, with_task_replaced

TEXT = """\
# head comment
version: "1.0"
tasks:
  - id: T001   # old comment, goes with the old entry
    title: a
  # about T002: stays
  - id: T002
    title: b

  - id: T003
    title: c
# tail
"""
NEW = {"id": "T002", "title": "new", "description": "two\nlines", "acceptance": ["a: b"]}


def test_only_the_entry_is_replaced_and_every_other_byte_kept() -> None:
    out = with_task_replaced(TEXT.encode(), 1, NEW).decode()
    start, end = entry_span(TEXT, 1) or (0, 0)
    new_start, new_end = entry_span(out, 1) or (0, 0)
    assert out[:new_start] == TEXT[:start]
    assert out[new_end:] == TEXT[end:]
    assert yaml.safe_load(out)["tasks"][1] == NEW
    assert "  # about T002: stays\n  - id: T002\n" in out
    assert "\n\n  - id: T003\n" in out  # the blank line after the entry is the next one's


def test_the_last_entry_and_the_first_one_too() -> None:
    last = with_task_replaced(TEXT.encode(), 2, {"id": "T003", "title": "z"}).decode()
    assert last.endswith("  - id: T003\n    title: z\n# tail\n")
    first = with_task_replaced(TEXT.encode(), 0, {"id": "T001", "title": "z"}).decode()
    assert first.startswith('# head comment\nversion: "1.0"\ntasks:\n  - id: T001\n    title: z\n')


def test_crlf_and_a_bom_are_kept() -> None:
    raw = b"\xef\xbb\xbf" + TEXT.replace("\n", "\r\n").encode()
    out = with_task_replaced(raw, 1, NEW)
    assert out.startswith(b"\xef\xbb\xbf# head comment\r\n")
    assert b"\n" not in out.replace(b"\r\n", b"")
    assert yaml.safe_load(out.decode("utf-8-sig"))["tasks"][1] == NEW


def test_a_flow_list_or_a_missing_task_is_refused() -> None:
    with pytest.raises(AppendError, match="flow style"):
        with_task_replaced(b"tasks: [{id: T001, title: a}]\n", 0, {"id": "T001"})
    with pytest.raises(AppendError, match="no task number 4"):
        with_task_replaced(TEXT.encode(), 3, NEW)
    assert entry_span(TEXT, 3) is None
