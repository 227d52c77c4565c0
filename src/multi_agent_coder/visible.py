"""Text from a user's files made safe to show: control characters become visible escapes.

A backlog title reaches a terminal (`macoder ready`, `status`, `context`), a GitHub workflow
command (`::error ...::`), a job summary, a commit message and a pull request. A raw ESC starts
a terminal escape sequence (colours, cursor moves, window titles, OSC 8 links, on some
terminals clipboard writes), BEL rings, CR rewrites the line, and the bidi overrides and
isolates reorder what a reader sees (Trojan Source, CVE-2021-42574). The backlog rules refuse
such characters (`control-character`), but output must not depend on that: an old ledger, a
forge's stored PR, a hand-off file or a backlog that was never checked can still hold them. So
every string from outside goes through `visible` on its way out, and comes out as `\\x1b`,
`\\u202e`... — unambiguous to a reader, inert to a terminal.

Which characters, defined once here and used by the model's patterns too:

- C0 controls U+0000-U+001F (tab and line feed are kept only where text may span lines),
  DEL U+007F and the C1 controls U+0080-U+009F (U+009B is a one-byte CSI on some terminals);
- the bidi embeddings and overrides U+202A-U+202E and isolates U+2066-U+2069;
- the line and paragraph separators U+2028/U+2029, which some viewers and JavaScript treat as
  line breaks (a one-line field that breaks a line is how fake output lines are forged).

Zero-width characters (U+200B-U+200D, U+2060, U+FEFF) are *not* in the set: ZWJ and ZWNJ are
needed to write Persian, the Indic scripts and emoji sequences, and none of them moves, hides
or recolours other text on a terminal. Where invisibility itself misleads — a path that looks
like another path — the path rule refuses them (`backlog/model.py`).
"""

from __future__ import annotations

import re
from typing import Final

#: The characters described above, as a regex class body (no brackets) that Python's `re`,
#: Rust's `regex` (pydantic's patterns) and ECMA-262 (the JSON Schema) all read the same way.
UNSAFE_CLASS: Final = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069"
#: The same without tab and line feed: what a multi-line field may not hold.
UNSAFE_IN_BLOCK_CLASS: Final = (
    "\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069"
)

_UNSAFE: Final = re.compile(f"[{UNSAFE_CLASS}]")
_UNSAFE_IN_BLOCK: Final = re.compile(f"[{UNSAFE_IN_BLOCK_CLASS}]")


def _escape(char: str) -> str:
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def _table(pattern: re.Pattern[str]) -> dict[int, str]:
    return {point: _escape(chr(point)) for point in range(0x2070) if pattern.match(chr(point))}


#: `str.translate` tables: one C-speed pass, whatever the length of the text.
_LINE_TABLE: Final = _table(_UNSAFE)
_BLOCK_TABLE: Final = _table(_UNSAFE_IN_BLOCK)


def visible(text: str, *, lines: bool = False) -> str:
    """`text` with every unsafe character written as an escape (`\\x1b`, `\\u202e`).

    `lines=True` keeps tab and line feed, for text shown as several lines (a prompt, a PR
    body, a message that is escaped again for its transport). The result never holds an
    unsafe character, and `visible(visible(t)) == visible(t)`.
    """
    return text.translate(_BLOCK_TABLE if lines else _LINE_TABLE)


def one_line(text: str) -> str:
    """`text` for a one-line display — a title in `ready`, a PR title, a commit subject: every
    run of whitespace, line breaks included, as one space (`title: >` ends with a line break),
    then `visible`."""
    return visible(" ".join(text.split()))


def first_unsafe(text: str, *, lines: bool = False) -> int | None:
    """Index of the first character `visible` would escape, or None."""
    found = (_UNSAFE_IN_BLOCK if lines else _UNSAFE).search(text)
    return found.start() if found is not None else None


def describe(char: str) -> str:
    """How a refused character is named in a message: `U+001B (\\x1b)`."""
    return f"U+{ord(char):04X} ({_escape(char)})"
