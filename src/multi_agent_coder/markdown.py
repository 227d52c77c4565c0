"""The little of Markdown (CommonMark) macoder reads: code fences and ATX headings.

Why here and not in a Markdown library: two checks need exactly the same answer to "is this
line inside a code block?" — the hygiene scan of pasted files and the structured merge of
planning files, where a `## Design` line inside a fence is an example, not a heading. A
parser with extensions would answer differently from one version to the next; these few
rules are CommonMark's, written down once.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

#: A code fence opening (CommonMark: up to 3 spaces, then at least three ``` or ~~~).
FENCE_OPENING: Final = re.compile(r" {0,3}(`{3,}|~{3,})")

#: An ATX heading's opening (CommonMark: up to 3 spaces, 1 to 6 '#', then a space, a tab or
#: the line's end). The rest is taken apart without a regex, so a long line costs one pass.
_ATX_OPENING: Final = re.compile(r" {0,3}(#{1,6})(?=[ \t]|$)", re.ASCII)


def closes_fence(line: str, opening: str) -> bool:
    """Whether `line` closes a fence opened by `opening` (its run of ``` or ~~~): the same
    character, at least as many, nothing else on the line but spaces."""
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3
        and len(stripped) >= len(opening)
        and stripped == opening[0] * len(stripped)
    )


def fenced(lines: Sequence[str]) -> list[int | None]:
    """For each line, the 0-based index of the opening line of the fence it belongs to (the
    opening and closing lines included), or None for a line outside every fence.

    A fence never closed runs to the end of the text, as CommonMark has it.
    """
    return _scan(lines)[0]


def unclosed_fence(lines: Sequence[str]) -> int | None:
    """The 0-based index of the line opening a fence that is still open after the last
    line, or None when every fence of `lines` is closed."""
    return _scan(lines)[1]


def _scan(lines: Sequence[str]) -> tuple[list[int | None], int | None]:
    marks: list[int | None] = []
    opening: tuple[str, int] | None = None  # (the fence's run of characters, its line)
    for index, line in enumerate(lines):
        if opening is not None:
            marks.append(opening[1])
            if closes_fence(line, opening[0]):
                opening = None
            continue
        found = FENCE_OPENING.match(line)
        if found is not None:
            opening = (found.group(1), index)
            marks.append(index)
        else:
            marks.append(None)
    return marks, None if opening is None else opening[1]


@dataclass(frozen=True, slots=True)
class Heading:
    """An ATX heading: its level (1-6) and its text (trailing spaces and '#'s removed)."""

    level: int
    text: str


def atx_heading(line: str) -> Heading | None:
    """The heading `line` is, or None. Setext headings (a line underlined with === or ---)
    are not recognised: the planning prompts ask for `## Heading` lines."""
    found = _ATX_OPENING.match(line)
    if found is None:
        return None
    text = line[found.end() :].strip(" \t")
    closing = text.rstrip("#")
    if closing != text and (not closing or closing[-1] in " \t"):
        text = closing.rstrip(" \t")  # the optional closing sequence: `## Design ##`
    return Heading(len(found.group(1)), text)
