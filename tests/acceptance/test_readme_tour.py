"""The README's tour is what the commands print: each command is run on a fresh copy of
`examples/` and its output compared line by line (`...` stands for any lines)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from tests.cli import macoder

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROGRAM = ".venv/bin/macoder"


def tour() -> list[tuple[list[str], list[str]]]:
    """(argv, expected output lines) for every `$ .venv/bin/macoder ...` in the tour."""
    match = re.search(r"<!-- tour -->\n```console\n(.*?)```\n<!-- /tour -->", README, re.S)
    assert match, "README lacks the tour markers"
    steps: list[tuple[list[str], list[str]]] = []
    for block in match.group(1).strip().split("\n\n"):
        command, *output = block.splitlines()
        assert command.startswith(f"$ {PROGRAM} "), command
        argv = shlex.split(command.removeprefix(f"$ {PROGRAM} "), comments=True)
        steps.append((argv, output))
    return steps


def matches(expected: list[str], actual: list[str]) -> bool:
    """`expected` equals `actual`, where a `...` line stands for any lines (none included)."""
    pattern = "\n".join(".*?" if line == "..." else re.escape(line) for line in expected)
    return (
        re.fullmatch(pattern.replace("\n.*?\n", "(?:\n.*?)?\n"), "\n".join(actual), re.S)
        is not None
    )


def test_every_command_of_the_tour_prints_what_the_readme_shows(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    steps = tour()
    assert len(steps) >= 5
    for argv, expected in steps:
        run = macoder(*argv, cwd=tmp_path)
        actual = (run.stdout + run.stderr).splitlines()
        assert matches(expected, actual), (argv, expected, actual)


def test_the_tour_comparison_is_strict() -> None:
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert matches(["a", "...", "z"], ["a", "z"])
    assert not matches(["a", "z"], ["a", "b", "z"])
    assert not matches(["a"], ["a", "b"])
