"""`visible`: the one function every string from a user's file passes on its way out."""

from __future__ import annotations

import re

import pytest

from multi_agent_coder.forge.base import WantedPr
from multi_agent_coder.visible import UNSAFE_CLASS, describe, first_unsafe, one_line, visible

#: Accents, an emoji joined by ZWJ, a zero-width space: text, not terminal commands.
KEPT = "caf\u00e9 \U0001f469\u200d\U0001f4bb \u200b"
UNSAFE = [chr(c) for c in range(0x3000) if re.match(f"[{UNSAFE_CLASS}]", chr(c))]


def test_the_set_is_c0_del_c1_bidi_controls_and_line_separators() -> None:
    expected = {
        *range(0x20),
        *range(0x7F, 0xA0),
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    }
    assert {ord(c) for c in UNSAFE} == expected


@pytest.mark.parametrize("char", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_each_unsafe_character_is_written_as_its_escape(char: str) -> None:
    shown = visible(f"a{char}b")

    assert first_unsafe(shown) is None
    assert shown == f"a{describe(char).split('(')[1].rstrip(')')}b"


@pytest.mark.parametrize(
    ("text", "lines", "shown"),
    [
        ("\x1b[31mred\x1b[0m", False, "\\x1b[31mred\\x1b[0m"),
        ("tab\tand\nline", False, "tab\\x09and\\x0aline"),
        ("tab\tand\nline", True, "tab\tand\nline"),
        ("cr\r\nlf", True, "cr\\x0d\nlf"),
        ("evil \u202etxt", True, "evil \\u202etxt"),
        ("\x9b31m", False, "\\x9b31m"),
        (
            "caf\u00e9 \U0001f469\u200d\U0001f4bb \u200b",
            False,
            "caf\u00e9 \U0001f469\u200d\U0001f4bb \u200b",
        ),
        ("[bold]x[/]", False, "[bold]x[/]"),
    ],
)
def test_visible_escapes_only_what_a_terminal_would_act_on(
    text: str, lines: bool, shown: str
) -> None:
    assert visible(text, lines=lines) == shown
    assert visible(shown, lines=lines) == shown  # escaping twice changes nothing


def test_one_line_joins_every_whitespace_run_then_escapes() -> None:
    assert one_line("Add the\n  login page\n") == "Add the login page"
    assert one_line("a\tb\x1b[0m") == "a b\\x1b[0m"


def test_describe_names_the_code_point_and_its_escape() -> None:
    assert describe("\x1b") == "U+001B (\\x1b)"
    assert describe("\u202e") == "U+202E (\\u202e)"


def test_a_wanted_pull_request_carries_its_title_and_body_escaped() -> None:
    wanted = WantedPr(
        task_id="T001",
        branch="macoder/T001",
        base="main",
        head_sha="0" * 40,
        title="T001: \x1b]0;x\x07",
        body="a\n\tb \u2066",
        draft=False,
        labels=(),
    )

    assert wanted.title == "T001: \\x1b]0;x\\x07"
    assert wanted.body == "a\n\tb \\u2066"
