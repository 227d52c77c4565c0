"""The progress comment on a task's pull request: one per PR, edited in place. Pure.

A PR's description is rewritten by every attempt, so a person reading it sees only the last
one. The progress comment keeps the whole story where reviewers look: which attempt is
running now (and where), and every attempt so far — outcome, time, tokens, cost, and why it
ended. It is rendered from the ledger alone (`render`), so any job that holds the write token
can bring it up to date and two jobs render the same text from the same records.

Which comment is macoder's is kept in the ledger too (`comment_id`): a marker in the text
would be found in a person's comment just as well, and macoder must never edit that.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from multi_agent_coder.git.ledger import Attempt, Comment, Record, Reset, settled
from multi_agent_coder.visible import one_line

#: The rows a comment shows (the newest ones); older attempts are counted, not shown.
MAX_ROWS: Final = 20
#: How much of an attempt's reason one row shows (the PR body and the ledger keep it whole).
MAX_REASON_CHARS: Final = 240

_HEADER: Final = (
    "| # | ended (UTC) | outcome | time | tokens in/out | cost | why |",
    "| ---: | --- | --- | ---: | --- | ---: | --- |",
)


def comment_id(records: Sequence[Record], task_id: str, pr: int) -> int | None:
    """The id of the progress comment macoder wrote on `task_id`'s PR `pr`, if any (the
    latest one kept: a comment a person deleted is written again and its new id kept)."""
    found = None
    for record in records:
        if isinstance(record, Comment) and record.task == task_id and record.pr == pr:
            found = record.comment
    return found


def render(
    task_id: str, records: Sequence[Record], now: float, *, running: str | None = None
) -> str:
    """The comment's text: a heading that says where the task is, then one row per attempt
    (a person's reset shown where it happened). `running` says where an attempt runs now (a
    link to the workflow run, a host): the heading then says it is under way."""
    rows: list[str] = []
    number = 0
    for record in settled(records, now):
        if record.task != task_id:
            continue
        if isinstance(record, Attempt):
            number += 1
            rows.append(_row(number, record))
        elif isinstance(record, Reset) and rows:
            rows.append("| | | *a person asked again: the attempts count from zero* | | | | |")
    attempts = number
    if running is not None:
        heading = f"⏳ Attempt {attempts + 1} is running: {one_line(running)}"
    elif attempts:
        heading = f"{attempts} attempt{'s' if attempts != 1 else ''} so far"
    else:
        heading = "no attempt recorded yet"
    lines = [f"### macoder · {task_id}", "", heading]
    if rows:
        shown = rows[-MAX_ROWS:]
        lines += ["", *_HEADER, *shown]
        if len(rows) > len(shown):
            lines += ["", f"{len(rows) - len(shown)} earlier rows not shown (`macoder status`)."]
    lines += ["", "<sub>Edited in place by macoder after every attempt.</sub>"]
    return "\n".join(lines) + "\n"


def _row(number: int, attempt: Attempt) -> str:
    ended = datetime.fromtimestamp(attempt.at, UTC).strftime("%Y-%m-%d %H:%M")
    tokens = f"{_known(attempt.tokens_in)}/{_known(attempt.tokens_out)}"
    cost = "–" if attempt.cost is None else f"{attempt.cost:.4f}"
    cells = (
        str(number),
        ended,
        _cell(attempt.outcome),
        f"{attempt.duration_s:.0f} s",
        tokens,
        cost,
        _cell(_shortened(attempt.reason)),
    )
    return "| " + " | ".join(cells) + " |"


def _shortened(reason: str) -> str:
    text = one_line(reason)
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _cell(text: str) -> str:
    """`text` safe inside one table cell: one line, its pipes escaped, no HTML (a reason may
    quote agent or test output, which must not close the table or open a tag)."""
    return (
        one_line(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def _known(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"
