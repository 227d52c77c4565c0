"""The context compressor: one task in, the exact prompt its agent is sent out.

An agent does its best work on a short, focused prompt (the seed's limit is 3 KB), so every
free-text field has a byte budget and long fields are cut rather than refused: a cut field
still lets the run go on, and `context-truncated` warnings tell the author what the agent
did not see. Whether the result is acceptable (size, debris, references to other tasks) is
decided by `hygiene.py`, which reuses this builder so that it checks what is really sent.

Budgets are UTF-8 bytes, because the limit is bytes; text is never cut inside a character.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Final, NamedTuple

from multi_agent_coder.backlog.model import Task
from multi_agent_coder.limits import (
    ACCEPTANCE_BUDGET,
    CONSTRAINT_BUDGET,
    GOTCHA_BUDGET,
    MAX_CONSTRAINTS,
    MAX_CONTEXT_BYTES,
    MAX_FILES,
    MAX_GOTCHAS,
    MAX_PASTED_LINES,
    MAX_PATTERNS,
    PATTERN_BUDGET,
    PLANNING_DEBRIS_PHRASES,
    REVIEW_BUDGET,
    REVIEW_COMMENT_BUDGET,
    SPEC_BUDGET,
    TITLE_BUDGET,
)
from multi_agent_coder.problems import Finding, Loc

#: Appended to a cut field; counted inside the field's budget.
ELLIPSIS: Final = "..."

#: The smallest budget that still shows one character of a cut field before the ellipsis.
MIN_BUDGET: Final = len(ELLIPSIS) + 1

#: The fixed closing section. The agent's session is opened in the task's worktree, so no
#: path is given; macoder (not the agent) commits, pushes and opens the pull request.
INSTRUCTIONS: Final = (
    "## Instructions\n"
    "1. Implement the task as the specification above describes.\n"
    "2. Create or modify the files you need, and write tests for new behaviour.\n"
    "3. Run the project's tests and make them pass.\n"
    "4. Do not commit, push or open pull requests: macoder verifies and commits your work."
)


#: Said to an agent that continues an earlier attempt (`macoder run --continue`).
CONTINUED: Final = (
    "## Earlier attempt\n"
    "An earlier attempt at this task was stopped before it finished. Its changes are already "
    "in your working directory: review them and continue from them; do not start over."
)


@dataclass(frozen=True, slots=True)
class ContextSettings:
    """Budgets of the compressor and limits of the hygiene checks (bytes, counts, lines).

    Defaults are the seed's (`limits.py`); `config.py` builds one from the user's settings.
    Frozen and hashable, so compiled helpers can be cached per settings.
    """

    max_bytes: int = MAX_CONTEXT_BYTES
    title_budget: int = TITLE_BUDGET
    spec_budget: int = SPEC_BUDGET
    acceptance_budget: int = ACCEPTANCE_BUDGET
    max_files: int = MAX_FILES
    max_constraints: int = MAX_CONSTRAINTS
    constraint_budget: int = CONSTRAINT_BUDGET
    max_patterns: int = MAX_PATTERNS
    pattern_budget: int = PATTERN_BUDGET
    max_gotchas: int = MAX_GOTCHAS
    gotcha_budget: int = GOTCHA_BUDGET
    max_pasted_lines: int = MAX_PASTED_LINES
    debris_phrases: tuple[str, ...] = PLANNING_DEBRIS_PHRASES
    review_budget: int = REVIEW_BUDGET
    review_comment_budget: int = REVIEW_COMMENT_BUDGET

    def __post_init__(self) -> None:
        """Refuse settings the builder cannot honour, naming the setting, at construction."""
        for name in ("title_budget", "spec_budget", "acceptance_budget"):
            _require(name, getattr(self, name), MIN_BUDGET)
        for name in (
            "constraint_budget",
            "pattern_budget",
            "gotcha_budget",
            "review_budget",
            "review_comment_budget",
        ):
            _require(name, getattr(self, name), MIN_BUDGET)
        for name in ("max_files", "max_constraints", "max_patterns", "max_gotchas"):
            _require(name, getattr(self, name), 0)
        _require("max_bytes", self.max_bytes, 1)
        _require("max_pasted_lines", self.max_pasted_lines, 1)
        if not isinstance(self.debris_phrases, tuple):
            raise ValueError("debris_phrases must be a tuple of strings")
        for phrase in self.debris_phrases:
            if not isinstance(phrase, str) or not phrase.strip() or "\x00" in phrase:
                raise ValueError(f"debris_phrases: {phrase!r} is not a non-blank phrase")


def _require(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, not {value!r}")


DEFAULT_SETTINGS: Final = ContextSettings()


@dataclass(frozen=True, slots=True)
class BuiltPrompt:
    """The prompt for one task and what the budgets cut from it.

    `truncations` are `context-truncated` warnings whose locs are relative to the task
    (`("acceptance", 2)`); `hygiene.check_task` makes them absolute.
    """

    text: str
    size: int
    truncations: tuple[Finding, ...]


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8. `isascii()` is O(1) in CPython, so ASCII text is not encoded.

    `surrogatepass` so that a lone surrogate (possible from a YAML escape) is counted, not fatal.
    """
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def truncate(text: str, budget: int) -> str:
    """`text` if it fits `budget` bytes, else its longest prefix that fits with "..." appended.

    The cut never splits a character: if the byte after the cut is a UTF-8 continuation byte,
    the cut moves back to the start of that character.
    """
    if utf8_size(text) <= budget:
        return text
    keep = budget - len(ELLIPSIS)
    if keep <= 0:
        return ELLIPSIS[: max(budget, 0)]
    if text.isascii():
        return text[:keep] + ELLIPSIS
    data = text.encode("utf-8", "surrogatepass")
    while keep > 0 and data[keep] & 0xC0 == 0x80:
        keep -= 1
    return data[:keep].decode("utf-8", "surrogatepass") + ELLIPSIS


def share_budget(sizes: list[int], budget: int) -> list[int]:
    """Split `budget` bytes fairly over items of `sizes` bytes (water-filling).

    Items no bigger than an equal share of what is left keep their full size, smallest first;
    the leftover is split equally among the long items, the odd bytes going to the earliest.
    So one long criterion cannot starve the short ones, and short ones waste nothing.
    """
    if sum(sizes) <= budget:
        return list(sizes)
    allowances = list(sizes)
    remaining = budget
    order = sorted(range(len(sizes)), key=sizes.__getitem__)
    for position, index in enumerate(order):
        left = len(order) - position
        if sizes[index] * left > remaining:
            share, extra = divmod(remaining, left)
            for rank, long_index in enumerate(sorted(order[position:])):
                allowances[long_index] = share + (1 if rank < extra else 0)
            break
        remaining -= sizes[index]
    return allowances


def _one_line(text: str) -> str:
    """A heading must stay on one line: collapse every whitespace run to one space."""
    return " ".join(text.split())


def _bullet(text: str) -> str:
    """A list item; continuation lines are indented so the item stays one Markdown item."""
    return "- " + text.replace("\n", "\n  ") if "\n" in text else "- " + text


def _fit(
    text: str, budget: int, loc: Loc, notes: list[Finding], pool: tuple[int, int] | None = None
) -> str:
    """`text` cut to `budget` bytes; a cut adds one warning saying how big the field is, its
    budget and how much of it the agent sees. `pool` is (shared budget, items sharing it)."""
    size = utf8_size(text)
    if size <= budget:
        return text
    shown = truncate(text, budget)
    kept = utf8_size(shown) - len(ELLIPSIS)
    if pool is None:
        over = f"over its {budget}-byte budget"
    else:
        shared, count = pool
        over = f"over the {budget} bytes it gets of the {shared}-byte budget"
        over += f" shared by {count} criteria"
    first = f"{kept} byte" if kept == 1 else f"{kept} bytes"
    message = f"{size} bytes, {over}: the agent sees only the first {first} and '...'"
    notes.append(Finding(loc, "context-truncated", message, severity="warning"))
    return shown


def _dropped_warning(loc: Loc, reason: str) -> Finding:
    return Finding(loc, "context-truncated", f"not sent to the agent: {reason}", severity="warning")


class Section(NamedTuple):
    """One block of the prompt, named after the task field it comes from (for size advice).

    A NamedTuple, not a frozen dataclass: it is built six times per task on the hot path.
    """

    field: str
    text: str


def _context_items(
    items: list[str], name: str, limit: int, budget: int, notes: list[Finding]
) -> list[str]:
    """The first `limit` items of `context.<name>`, each cut to `budget` bytes; one warning
    for every item cut or dropped."""
    lines = [
        _bullet(_fit(raw.strip(), budget, ("context", name, index), notes))
        for index, raw in enumerate(items[:limit])
    ]
    reason = f"only the first {limit} {name} go into the prompt"
    notes.extend(
        _dropped_warning(("context", name, index), reason) for index in range(limit, len(items))
    )
    return lines


def _acceptance(items: list[str], budget: int, notes: list[Finding]) -> list[str]:
    """Acceptance criteria share one budget (water-filling, see `share_budget`).

    A criterion whose share is too small to show one character (under `MIN_BUDGET` bytes,
    only with very many criteria) is left out with a warning rather than sent as a bare "...".
    """
    texts = [item.strip() for item in items]
    sizes = [utf8_size(text) for text in texts]
    if sum(sizes) <= budget:
        return [_bullet(text) for text in texts]
    pool = (budget, len(texts))
    lines: list[str] = []
    for index, (text, allowance) in enumerate(zip(texts, share_budget(sizes, budget), strict=True)):
        if allowance < MIN_BUDGET and sizes[index] > allowance:
            reason = (
                f"its share of the {budget}-byte budget shared by {len(texts)} criteria is"
                f" {allowance} bytes, too few to show any of it"
            )
            notes.append(_dropped_warning(("acceptance", index), reason))
            continue
        lines.append(_bullet(_fit(text, allowance, ("acceptance", index), notes, pool)))
    return lines


def _files(files: list[str], limit: int, notes: list[Finding]) -> list[str]:
    """The first `limit` paths, whole (a cut path is useless), then one line for the rest."""
    lines = [_bullet(path.strip()) for path in files[:limit]]
    if len(files) > limit:
        more = len(files) - limit
        lines.append(f"- ... and {more} more {'file' if more == 1 else 'files'}")
        reason = f"the prompt lists only the first {limit} files"
        notes.extend(
            _dropped_warning(("scope", "files_hint", index), reason)
            for index in range(limit, len(files))
        )
    return lines


def build_sections(
    task: Task, settings: ContextSettings = DEFAULT_SETTINGS
) -> tuple[tuple[Section, ...], tuple[Finding, ...]]:
    """The prompt's blocks in order and the truncation warnings; `build_prompt` joins them.

    Public so that size advice (`context-too-large`) can name the biggest parts.
    """
    notes: list[Finding] = []

    title = _fit(_one_line(task.title), settings.title_budget, ("title",), notes)
    spec = _fit(task.description.strip(), settings.spec_budget, ("description",), notes)

    acceptance = _acceptance(task.acceptance, settings.acceptance_budget, notes)
    sections = [
        Section("title", f"# Task {task.id}: {title}"),
        Section("description", "## Specification\n" + spec),
    ]
    if acceptance:  # empty only when every criterion was dropped
        sections.append(Section("acceptance", "## Acceptance Criteria\n" + "\n".join(acceptance)))
    files = _files(task.scope.files_hint, settings.max_files, notes)
    if files:
        sections.append(Section("scope.files_hint", "## Files\n" + "\n".join(files)))

    context = task.context
    if context is not None:
        optional = (
            ("constraints", "Constraints", context.constraints, settings.max_constraints,
             settings.constraint_budget),
            ("patterns", "Patterns", context.patterns, settings.max_patterns,
             settings.pattern_budget),
            ("gotchas", "Gotchas", context.gotchas, settings.max_gotchas,
             settings.gotcha_budget),
        )  # fmt: skip
        for name, heading, items, limit, budget in optional:
            lines = _context_items(items, name, limit, budget, notes)
            if lines:
                sections.append(Section(f"context.{name}", f"## {heading}\n" + "\n".join(lines)))

    sections.append(Section("instructions", INSTRUCTIONS))
    return tuple(sections), tuple(notes)


def build_prompt(
    task: Task, settings: ContextSettings = DEFAULT_SETTINGS, *, continued: bool = False
) -> BuiltPrompt:
    """The exact text the agent is sent for `task`, its size in bytes, and what was cut.

    Layout (the seed's): heading with id and title, Specification, Acceptance Criteria, Files,
    then Constraints / Patterns / Gotchas when the task has any, then fixed Instructions.
    `continued` (`macoder run --continue`) adds, before the instructions, that an earlier
    attempt's changes are already in the worktree. Never fails on size:
    `hygiene.check_task` reports an oversized prompt as an error.
    """
    sections, notes = build_sections(task, settings)
    if continued:
        sections = before_instructions(sections, Section("continued", CONTINUED))
    return assemble(sections, notes)


#: Between two sections of a prompt.
SECTION_GAP: Final = "\n\n"


def before_instructions(sections: tuple[Section, ...], extra: Section) -> tuple[Section, ...]:
    """`sections` with `extra` just before the closing instructions (which stay last, so the
    agent reads what to do after everything it is to do it with)."""
    return (*sections[:-1], extra, sections[-1])


def assemble(sections: tuple[Section, ...], notes: tuple[Finding, ...]) -> BuiltPrompt:
    """The prompt text of `sections`, as every kind of prompt (first run, `--continue`, a
    revision after a review) joins them."""
    text = SECTION_GAP.join(section.text for section in sections) + "\n"
    return BuiltPrompt(text=text, size=utf8_size(text), truncations=notes)


def biggest_sections(sections: tuple[Section, ...], count: int = 3) -> list[tuple[str, int]]:
    """The `count` largest blocks a task author can shorten (not the fixed instructions)."""
    sized = [(s.field, utf8_size(s.text)) for s in sections if s.field != "instructions"]
    return heapq.nlargest(count, sized, key=lambda item: item[1])
