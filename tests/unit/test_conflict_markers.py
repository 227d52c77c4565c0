"""An update is not verified while a file that had a conflict still holds git's markers."""

from __future__ import annotations

from multi_agent_coder.run.verify import conflict_markers_left


def test_files_with_an_opening_or_closing_marker_are_named() -> None:
    files = {
        "b.py": b"x = 1\n<<<<<<< ours\ny = 2\n=======\ny = 3\n>>>>>>> theirs\n",
        "a.py": b">>>>>>> theirs\n",
        "c.py": b"<<<<<<<\n",
        "clean.py": b"y = 2\n",
    }
    assert conflict_markers_left(files) == ["a.py", "b.py", "c.py"]


def test_look_alikes_are_not_markers() -> None:
    files = {
        "title.md": b"Title\n=======\n",  # a heading's underline
        "shift.py": b"x = a <<<<<<<< b\n",
        "quote.txt": b"  >>>>>>> indented\n",
        "eight.txt": b"<<<<<<<< eight\n",
    }
    assert conflict_markers_left(files) == []
