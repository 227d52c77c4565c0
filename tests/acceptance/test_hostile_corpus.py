"""A generated corpus of hostile backlogs through every command that reads one.

Hypothesis starts from a valid two-task backlog and puts one hostile value somewhere in it: a
raw YAML snippet (non-finite and out-of-range numbers, integers past Python's digit limit,
deep flow nesting, aliases, explicit tags, duplicate keys, a second document) or generated
text (control characters, bidi overrides, huge fields, id look-alikes), at a field of the
schema or as an unknown key. Every command must answer with exit 0, 1 or 2 and no traceback
(`tests.cli.macoder` fails on either), leave the file byte-identical unless `mark` reported
success, and finish: the test's timeout bounds the whole corpus, so a hang or a runaway
fails instead of stalling CI. (`test_hostile_files.py` covers what is hostile about the file
itself: FIFOs, devices, symlinks, sizes; `test_hostile_values.py` each value rule by name.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.cli import macoder
from tests.support import backlog_dict, task_dict

HOLE = "HOSTILE-HOLE"

#: Raw YAML that a generator of Python values would never write.
SNIPPETS = [
    ".inf",
    "-.inf",
    ".nan",
    "1e400",
    "-1",
    "0",
    "9" * 5000,
    "0x" + "f" * 300,
    "0o" + "7" * 400,
    "1_000",
    "[" * 3000 + "]" * 3000,
    "{a: " * 500 + "1" + "}" * 500,
    "&a [*a, *a]",
    "!!python/object/apply:os.system [echo pwned]",
    "!!binary aGVsbG8=",
    "{status: done, status: pending}",
    "|\n      " + "x" * 200_000,
    '"' + "\\x1b[31m" * 1000 + '"',
    '"\\u202e\\u0007\\u0000"',
    "'T0001'",
    "[.git/hooks/post-commit, ../../etc/passwd, /etc/passwd]",
    "null",
    "~",
    "yes",
    "2026-13-45",
    "\n---\nsecond: document",
]

#: Where the hostile value goes: (path of keys/indexes into the backlog, or a new key).
PLACES: list[tuple[str | int, ...]] = [
    ("version",),
    ("track_id",),
    ("created_at",),
    ("tasks", 0, "id"),
    ("tasks", 0, "title"),
    ("tasks", 0, "description"),
    ("tasks", 0, "status"),
    ("tasks", 0, "attempts"),
    ("tasks", 0, "depends_on"),
    ("tasks", 0, "acceptance", 0),
    ("tasks", 0, "scope", "estimated_hours"),
    ("tasks", 0, "scope", "files_hint", 0),
    ("tasks", 1, "depends_on", 0),
    ("tasks", 1, "unknown_key"),
    ("extra",),
]

HOSTILE_CHARS = st.characters(
    codec="utf-8",
    categories=("Cc", "Cf", "Zl", "Zp", "Lu", "Nd", "Zs", "Po"),
)
TEXTS = st.one_of(
    st.text(HOSTILE_CHARS, max_size=300),
    st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["A", "A1", "T002 ", "\n", "# file: x\n"]),
        st.integers(1, 60_000),
    ),
)


def place(document: dict[str, object], where: tuple[str | int, ...], value: object) -> None:
    target: object = document
    for key in where[:-1]:
        target = target[key]  # type: ignore[index]
    target[where[-1]] = value  # type: ignore[index]


def hostile_yaml(where: tuple[str | int, ...], snippet: str | None, text: str | None) -> str:
    document = backlog_dict(task_dict("T001"), task_dict("T002", depends_on=["T001"]))
    place(document, where, HOLE if snippet is not None else text)
    dumped = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=10**9)
    return dumped.replace(HOLE, snippet) if snippet is not None else dumped


COMMANDS = [
    ["check", "BACKLOG.yaml"],
    ["ready", "--backlog-only"],
    ["stats"],
    ["context", "T001"],
    ["mark", "T001", "completed"],
]


@pytest.mark.timeout(900)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same corpus on every run: a failure is reproduced by re-running
)
# The sweep's own cases, always in the corpus whatever hypothesis draws.
@example(where=("tasks", 0, "attempts"), snippet="9" * 5000, text="")
@example(where=("tasks", 0, "scope", "estimated_hours"), snippet="1e400", text="")
@example(where=("tasks", 1, "id"), snippet="'T0001'", text="")
@example(where=("tasks", 0, "scope", "files_hint", 0), snippet=".git/hooks/post-commit", text="")
@example(where=("tasks", 0, "title"), snippet=None, text="\x1b[31mred\u202e\x07")
@example(where=("tasks", 0, "title"), snippet=None, text="A" * 40_000)
@given(
    where=st.sampled_from(PLACES),
    snippet=st.one_of(st.none(), st.sampled_from(SNIPPETS)),
    text=TEXTS,
)
def test_every_command_answers_a_hostile_backlog_with_a_clear_exit(
    where: tuple[str | int, ...], snippet: str | None, text: str
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        path = root / "BACKLOG.yaml"
        path.write_text(hostile_yaml(where, snippet, text), encoding="utf-8")
        before = path.read_bytes()
        for command in COMMANDS:
            run = macoder(*command, cwd=root)  # fails on a traceback or exit 3
            assert run.code in (0, 1, 2), (command, run.code, run.output[-2000:])
            changed = path.read_bytes() != before
            if command[0] == "mark" and run.code == 0 and changed:
                assert "T001: set to completed" in run.stdout
            else:
                assert not changed, (command, run.output[-2000:])
