"""Status writes: one scalar changes, every other byte stays, invalid results are refused whole."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from multi_agent_coder.backlog.model import TaskStatus
from multi_agent_coder.backlog.write import atomic_write, replace_scalar, set_task_status
from multi_agent_coder.errors import (
    BacklogInvalidError,
    InvalidTaskIdError,
    UnknownTaskError,
    WriteRefusedError,
)

ODD = """\
# Backlog of the odd kind: comments everywhere, mixed quoting, flow and block styles.
version:    "2"     # spaced out on purpose
track_id: 'odd'
created_at: 2026-11-01
updated_at: "2026-11-02T10:00:00+02:00"
tasks:
    # first task, four-space indent
    -   id: T001
        title: "Título con acentos — ünïcödé"
        description: |
            Several lines
              with indentation kept.
        status: "pending"   # quoted on purpose
        depends_on: []
        acceptance: [ "works",   'really works' ]
        scope: {files_hint: [src/a.py], estimated_hours: 2}
    -   {id: T002, title: Flow task, description: x, status: pending,
         depends_on: [T001], acceptance: [ok], scope: {estimated_hours: 0.5}}
    -   id: T003
        title: >-
          folded
          title
        description: plain
        status: pending
        acceptance:
          - ok
        scope:
          estimated_hours: 1
"""


@pytest.fixture
def odd_backlog(tmp_path: Path) -> Path:
    path = tmp_path / "BACKLOG.yaml"
    path.write_bytes(ODD.encode("utf-8"))
    return path


def changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_only_the_status_scalar_changes_and_its_quotes_are_kept(odd_backlog: Path) -> None:
    before = odd_backlog.read_bytes()
    assert set_task_status(odd_backlog, "T001", TaskStatus.COMPLETED)
    assert changed_lines(before, odd_backlog.read_bytes()) == [
        (
            b'        status: "pending"   # quoted on purpose\n',
            b'        status: "completed"   # quoted on purpose\n',
        )
    ]


def test_a_status_inside_a_flow_mapping_is_edited_in_place(odd_backlog: Path) -> None:
    set_task_status(odd_backlog, "T001", TaskStatus.COMPLETED)
    before = odd_backlog.read_bytes()
    set_task_status(odd_backlog, "T002", TaskStatus.REVIEW)
    [(old, new)] = changed_lines(before, odd_backlog.read_bytes())
    assert old.replace(b"status: pending", b"status: review") == new


def test_crlf_line_endings_and_a_bom_survive(tmp_path: Path) -> None:
    path = tmp_path / "BACKLOG.yaml"
    original = b"\xef\xbb\xbf" + ODD.replace("\n", "\r\n").encode("utf-8")
    path.write_bytes(original)
    set_task_status(path, "T003", TaskStatus.IN_PROGRESS)
    after = path.read_bytes()
    assert after.startswith(b"\xef\xbb\xbf")
    assert after.count(b"\r\n") == original.count(b"\r\n")
    assert after == original.replace(
        b"        status: pending\r\n        acceptance:\r\n          - ok",
        b"        status: in_progress\r\n        acceptance:\r\n          - ok",
    )


def test_setting_the_same_status_writes_nothing(odd_backlog: Path) -> None:
    mtime = odd_backlog.stat().st_mtime_ns
    assert not set_task_status(odd_backlog, "T001", TaskStatus.PENDING)
    assert odd_backlog.stat().st_mtime_ns == mtime


def test_a_write_that_would_invalidate_the_backlog_is_refused_whole(odd_backlog: Path) -> None:
    before = odd_backlog.read_bytes()
    with pytest.raises(WriteRefusedError) as caught:
        set_task_status(odd_backlog, "T002", TaskStatus.COMPLETED)
    assert [problem.code for problem in caught.value.problems] == ["completed-before-dependency"]
    assert str(caught.value).endswith("would make the backlog invalid (1 problem above)")
    assert odd_backlog.read_bytes() == before
    assert sorted(p.name for p in odd_backlog.parent.iterdir()) == ["BACKLOG.yaml"]


def test_an_invalid_backlog_is_not_written_at_all(tmp_path: Path) -> None:
    path = tmp_path / "BACKLOG.yaml"
    path.write_text(ODD.replace("depends_on: [T001]", "depends_on: [T404]"))
    before = path.read_bytes()
    with pytest.raises(BacklogInvalidError):
        set_task_status(path, "T001", TaskStatus.COMPLETED)
    assert path.read_bytes() == before


def test_unknown_and_malformed_ids_are_usage_errors(odd_backlog: Path) -> None:
    with pytest.raises(UnknownTaskError):
        set_task_status(odd_backlog, "T999", TaskStatus.COMPLETED)
    with pytest.raises(InvalidTaskIdError):
        set_task_status(odd_backlog, "../T001", TaskStatus.COMPLETED)


def test_file_mode_is_kept(odd_backlog: Path) -> None:
    odd_backlog.chmod(0o640)
    set_task_status(odd_backlog, "T001", TaskStatus.COMPLETED)
    assert odd_backlog.stat().st_mode & 0o777 == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"old")

    def boom(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.yaml"]


def test_concurrent_writers_lose_no_update(tmp_path: Path) -> None:
    tasks = "".join(
        f"  - {{id: T{i:03d}, title: t, description: d, status: pending, acceptance: [a],"
        f" scope: {{estimated_hours: 1}}}}\n"
        for i in range(1, 21)
    )
    path = tmp_path / "BACKLOG.yaml"
    path.write_text(
        "version: '1'\ntrack_id: x\ncreated_at: 2026-01-01\nupdated_at: 2026-01-01\ntasks:\n"
        + tasks
    )
    threads = [
        threading.Thread(target=set_task_status, args=(path, f"T{i:03d}", TaskStatus.REVIEW))
        for i in range(1, 21)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_text().count("status: review") == 20


def test_replace_scalar_keeps_single_and_double_quotes() -> None:
    assert replace_scalar("a: 'x' # c", 3, 6, "yy") == "a: 'yy' # c"
    assert replace_scalar('a: "x"', 3, 6, "yy") == 'a: "yy"'
    assert replace_scalar("a: x", 3, 4, "yy") == "a: yy"


@pytest.mark.parametrize("boms", [0, 1, 2, 3])
def test_the_loader_and_the_writer_treat_byte_order_marks_alike(boms: int) -> None:
    """One rule (`yamlread.split_bom`): one BOM is dropped and written back, more refused."""
    from multi_agent_coder.backlog.load import load_bytes
    from multi_agent_coder.backlog.write import with_task_status

    raw = b"\xef\xbb\xbf" * boms + ODD.encode("utf-8")
    loaded = load_bytes(raw, "BACKLOG.yaml")
    if boms > 1:
        expected = (
            f"BACKLOG.yaml:1:1: the file starts with {boms} byte order marks (U+FEFF); "
            "keep one at most [encoding]"
        )
        assert [p.render() for p in loaded.problems] == [expected]
        with pytest.raises(BacklogInvalidError) as caught:
            with_task_status(raw, "T001", TaskStatus.COMPLETED, "BACKLOG.yaml")
        assert [p.render() for p in caught.value.problems] == [expected]
        return
    assert loaded.ok
    written = with_task_status(raw, "T001", TaskStatus.COMPLETED, "BACKLOG.yaml")
    assert written is not None
    assert written.startswith(b"\xef\xbb\xbf" * boms + b"#")


def test_a_write_the_system_refuses_is_a_usage_error_and_leaves_the_file(
    odd_backlog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the mode bits say, the system may still refuse (a read-only mount, a full
    disk, an ACL): that is a clear exit 2, never an internal error."""
    import tempfile

    from multi_agent_coder.errors import NotWritableError

    def refused(**_: object) -> tuple[int, str]:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    before = odd_backlog.read_bytes()
    with pytest.raises(NotWritableError) as caught:
        set_task_status(odd_backlog, "T001", TaskStatus.COMPLETED, display="BACKLOG.yaml")
    assert str(caught.value) == "BACKLOG.yaml: not written: Read-only file system"
    assert caught.value.exit_code == 2
    assert odd_backlog.read_bytes() == before
