"""A file another process may read is written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from multi_agent_coder.atomicfile import write_atomically


def test_the_file_gets_the_new_text_and_nothing_is_left_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    target.write_text("old")
    write_atomically(target, '{"new": true}')
    assert target.read_text() == '{"new": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    target = tmp_path / "record.json"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(target, "half" * 10_000 + "\udc80")  # a lone surrogate: not UTF-8
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]
