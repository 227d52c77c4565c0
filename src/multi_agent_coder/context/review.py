"""A reviewer's feedback on a task's pull request, and the "## Review" section it becomes.

When a person asks for changes (`macoder revise`, or on GitHub a review asking for changes or
a `/macoder fix` comment), the task runs again on its PR branch and its agent is sent the
usual context plus what the reviewer said. That text is written by whoever can comment on the
PR, so it is untrusted input and is held to the same rules as the rest of the context:

- it reaches the agent only as this one section of the prompt — never a shell, a path or a
  branch name (nothing here returns anything else);
- control characters become visible escapes (`visible`, as everywhere macoder shows outside
  text), Windows line ends (GitHub's comment bodies have them) become plain ones;
- the section has its own byte budget inside the prompt's limit (`MAX_CONTEXT_BYTES`), and
  shrinks further when the task's own prompt leaves less room: the body and the line comments
  (newest first: the latest word on a line is what the reviewer wants now) are cut cleanly,
  never inside a character, and the section says how many comments were left out;
- what is sent is checked by hygiene's free-text rules (planning debris, another task's id, a
  pasted whole file), so the session-input check after the run cannot disagree with it.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass
from typing import Final

from multi_agent_coder.backlog.model import Task
from multi_agent_coder.context.build import (
    DEFAULT_SETTINGS,
    ELLIPSIS,
    MIN_BUDGET,
    SECTION_GAP,
    BuiltPrompt,
    ContextSettings,
    Section,
    assemble,
    before_instructions,
    build_sections,
    truncate,
    utf8_size,
)
from multi_agent_coder.context.hygiene import text_findings
from multi_agent_coder.problems import Finding, Loc
from multi_agent_coder.visible import one_line, visible

#: The section's fixed opening: where the agent's earlier work is and what to do with it.
INTRO: Final = (
    "## Review\n"
    "A reviewer asked for changes to the earlier work on this task, which is already "
    "committed in your working directory. Make the changes they ask for below and keep the "
    "rest; the task above still applies."
)

#: Introduces the line comments.
COMMENTS_HEADING: Final = "Line comments, newest first:"

#: A path in a comment is shown whole up to this many bytes (a path cut short still says
#: where; a 4 KB "path" is someone's trick).
PATH_BUDGET: Final = 200


@dataclass(frozen=True, slots=True)
class LineComment:
    """A comment on one line of one file (`line` None: on the file as a whole). `at` is when
    it was written, in seconds since the epoch: what "newest first" orders by."""

    path: str
    line: int | None
    text: str
    at: float = 0.0

    def __post_init__(self) -> None:
        """A line number is a whole number from 1: anything else is a caller's bug."""
        if self.line is not None and (
            isinstance(self.line, bool) or not isinstance(self.line, int) or self.line < 1
        ):
            raise ValueError(f"a comment's line is a whole number >= 1, not {self.line!r}")

    @property
    def where(self) -> str:
        """`path:line` (or the path alone), on one line, control characters made visible."""
        path = truncate(one_line(self.path), PATH_BUDGET) or "?"
        return path if self.line is None else f"{path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Feedback:
    """What the reviewer said: the review's body and its line comments (in any order)."""

    body: str
    comments: tuple[LineComment, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to act on: no body text and no comment with text."""
        return not self.body.strip() and not any(c.text.strip() for c in self.comments)

    def newest_first(self) -> tuple[LineComment, ...]:
        """The comments with text, newest first; comments written at the same moment keep the
        order they were given in (a stable sort)."""
        kept = [c for c in self.comments if c.text.strip()]
        return tuple(sorted(kept, key=lambda c: -c.at))


@dataclass(frozen=True, slots=True)
class ShownComment:
    """A comment as the agent sees it: where, and its text after cleaning and cutting."""

    where: str
    text: str


@dataclass(frozen=True, slots=True)
class RenderedReview:
    """The "## Review" section and what of the feedback it holds.

    `left_out` counts the comments that did not fit; `truncations` are `context-truncated`
    warnings at `("review", ...)` locs, like the compressor's."""

    text: str
    body: str
    comments: tuple[ShownComment, ...]
    left_out: int
    truncations: tuple[Finding, ...]

    @property
    def size(self) -> int:
        return utf8_size(self.text)


#: A line a Markdown reader takes for a heading: up to three spaces, then `#`.
_HEADING: Final = re.compile(r"^( {0,3})#", re.MULTILINE)


def clean(text: str) -> str:
    """Reviewer text as the agent may see it: Windows line ends made plain, every other
    control character a visible escape (tab and line feed kept), outer blank space gone,
    and a line that would read as a heading escaped (`\\#`) — a review saying
    "## Instructions" must not look like a section of macoder's own prompt."""
    shown = visible(text.replace("\r\n", "\n"), lines=True).strip()
    return _HEADING.sub(lambda m: m[1] + "\\#", shown)


def _item(where: str, text: str) -> str:
    """One comment as a Markdown list item; its continuation lines indented to stay in it."""
    return f"- {where}: " + text.replace("\n", "\n  ")


def _left_out_line(count: int, budget: int) -> str:
    noun = "comment" if count == 1 else "comments"
    return f"- ... and {count} more {noun} left out (over the review's {budget}-byte budget)"


def render_review(
    feedback: Feedback, budget: int, comment_budget: int = DEFAULT_SETTINGS.review_comment_budget
) -> RenderedReview | None:
    """The section for `feedback` in at most `budget` UTF-8 bytes, or None when `budget`
    cannot hold the intro and one character of what the reviewer said.

    How the budget is spent: the intro first; each comment is cut to `comment_budget` bytes
    of text; the comments may take up to half of what is left (all of it that the body does
    not need), newest first, whole items only; the body gets the rest. Room for the line
    saying how many comments were left out is kept whenever one may be.
    """
    comments = feedback.newest_first()
    body = clean(feedback.body)
    notes: list[Finding] = []
    room = budget - utf8_size(INTRO) - len(SECTION_GAP)
    if room < MIN_BUDGET:
        return None

    items: list[tuple[ShownComment, str]] = []
    for index, comment in enumerate(comments):
        text = clean(comment.text)
        cut = truncate(text, comment_budget)
        if cut != text:
            notes.append(_cut(("review", "comments", index), utf8_size(text), comment_budget))
        where = comment.where
        items.append((ShownComment(where, cut), _item(where, cut)))

    heading = COMMENTS_HEADING + "\n"
    want = utf8_size(heading) + sum(utf8_size(line) + 1 for _, line in items) if items else 0
    body_size = utf8_size(body)
    gap = len(SECTION_GAP) if body and items else 0
    share = min(want, max(room - body_size - gap, room // 2)) if items else 0

    # The comments, newest first, while they fit their share with the left-out line after.
    chosen: list[tuple[ShownComment, str]] = list(items) if want <= share else []
    used = utf8_size(heading)
    for position, (item, line) in enumerate(items if want > share else ()):
        rest = len(items) - position - 1
        reserve = utf8_size(_left_out_line(rest, budget)) + 1 if rest else 0
        if used + utf8_size(line) + 1 + reserve > share:
            if position == 0:  # the newest comment is cut to fit rather than left out
                prefix = utf8_size(_item(item.where, ""))
                available = share - used - 1 - reserve - prefix
                if available >= MIN_BUDGET:
                    cut = truncate(item.text, available)
                    chosen.append((ShownComment(item.where, cut), _item(item.where, cut)))
            break
        chosen.append((item, line))
        used += utf8_size(line) + 1
    left_out = len(items) - len(chosen)
    lines = [line for _, line in chosen]
    if left_out:
        lines.append(_left_out_line(left_out, budget))
        notes.append(
            Finding(
                ("review", "comments"),
                "context-truncated",
                f"{left_out} of {len(items)} line comments left out: over the review's"
                f" {budget}-byte budget (the newest are sent)",
                severity="warning",
            )
        )
    block = (heading + "\n".join(lines)) if lines else ""
    if utf8_size(block) > room:  # not even one comment fits: only say how many there are
        chosen, left_out = [], len(items)
        block = _left_out_line(left_out, budget)
        if utf8_size(block) > room:
            return None

    body_room = room - (utf8_size(block) + gap if block else 0)
    shown_body = body
    if body_size > body_room:
        shown_body = truncate(body, body_room) if body_room >= MIN_BUDGET else ""
        notes.append(_cut(("review", "body"), body_size, body_room))
    if not shown_body and not chosen:
        return None
    parts = [INTRO, *(part for part in (shown_body, block) if part)]
    return RenderedReview(
        text=SECTION_GAP.join(parts),
        body=shown_body,
        comments=tuple(shown for shown, _ in chosen),
        left_out=left_out,
        truncations=tuple(notes),
    )


def _cut(loc: Loc, size: int, budget: int) -> Finding:
    """The warning for a body or comment cut to `budget` bytes (or left out: too little)."""
    if budget < MIN_BUDGET:
        message = f"{size} bytes, and no room is left for it in the review section"
    else:
        kept = budget - len(ELLIPSIS)
        message = f"{size} bytes, over the {budget} bytes it gets: the agent sees only the"
        message += f" first {kept} bytes and '...'"
    return Finding(loc, "context-truncated", message, severity="warning")


def review_findings(
    task_id: str,
    review: RenderedReview,
    other_ids: Container[str],
    settings: ContextSettings = DEFAULT_SETTINGS,
) -> list[Finding]:
    """The hygiene errors of what the review section sends (the body, each comment shown),
    at `("review", "body")` / `("review", "comments", i)` (i in newest-first order)."""
    findings: list[Finding] = []
    pieces: list[tuple[Loc, str]] = [(("review", "body"), review.body)]
    pieces += [
        (("review", "comments", index), comment.text)
        for index, comment in enumerate(review.comments)
    ]
    for loc, text in pieces:
        findings.extend(text_findings(task_id, loc, text, other_ids=other_ids, settings=settings))
    return findings


def describe_loc(loc: Loc, review: RenderedReview) -> str:
    """Where a finding of `review_findings` is, in words: `the review's body`, `review
    comment 2 (src/app.py:12)`."""
    if len(loc) >= 3 and loc[1] == "comments" and isinstance(loc[2], int):
        index = loc[2]
        where = review.comments[index].where if index < len(review.comments) else "?"
        return f"review comment {index + 1} ({where})"
    if loc[1:2] == ("comments",):
        return "the review's comments"
    return "the review's body"


@dataclass(frozen=True, slots=True)
class RevisionPrompt:
    """The prompt of a task re-run after a review: the usual context with the Review section
    before the instructions. `review` is None when the task's own prompt leaves no room for
    it; `errors` are why the prompt must not be sent (no room, hygiene), in words."""

    prompt: BuiltPrompt
    review: RenderedReview | None
    errors: tuple[str, ...]

    @property
    def task_bytes(self) -> int:
        """The prompt's size without the review section: what context drift is measured on
        (a reviewer's words are not the task's spec growing)."""
        if self.review is None:
            return self.prompt.size
        return self.prompt.size - self.review.size - len(SECTION_GAP)


def build_revision_prompt(
    task: Task,
    feedback: Feedback,
    other_ids: Container[str],
    settings: ContextSettings = DEFAULT_SETTINGS,
) -> RevisionPrompt:
    """The prompt for `task` with `feedback` as its Review section, never over
    `settings.max_bytes`: the section gets `review_budget` bytes, or less when the task's
    own prompt leaves less room under the limit."""
    sections, notes = build_sections(task, settings)
    plain = assemble(sections, notes)
    room = settings.max_bytes - plain.size - len(SECTION_GAP)
    budget = min(settings.review_budget, room)
    if feedback.empty:
        return RevisionPrompt(plain, None, ("the review says nothing: give the agent feedback",))
    review = render_review(feedback, budget, settings.review_comment_budget)
    if review is None:
        return RevisionPrompt(
            plain,
            None,
            (
                f"no room for the review: the task's own prompt is {plain.size} bytes of the"
                f" {settings.max_bytes}-byte limit; shorten the task",
            ),
        )
    errors = tuple(
        f"{describe_loc(f.loc, review)}: {f.message}"
        for f in review_findings(task.id, review, other_ids, settings)
        if f.severity == "error"
    )
    prompt = assemble(
        before_instructions(sections, Section("review", review.text)),
        (*notes, *review.truncations),
    )
    return RevisionPrompt(prompt, review, errors)
