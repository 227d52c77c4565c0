"""Context hygiene: is what a task's agent would be sent clean and small enough?

The seed's context verifier refused a session whose context was too large, held planning
chatter, named another task or carried a pasted whole file; each is a known way to derail an
agent. Here the same checks run on the task's own fields, before any agent exists (pre-commit,
`macoder check`, and again right before a run), and every finding points at the offending item.

`macoder check` runs this over whole backlogs inside a sub-second budget, so the common case
(a clean task) is made cheap: all fields are joined and scanned once, and only a task with a
possible hit is examined field by field to say where.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Container, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Final

from multi_agent_coder.backlog.model import Task
from multi_agent_coder.context.build import (
    DEFAULT_SETTINGS,
    INSTRUCTIONS,
    ContextSettings,
    biggest_sections,
    build_prompt,
    build_sections,
    truncate,
    utf8_size,
)
from multi_agent_coder.ids import TASK_ID_IN_TEXT
from multi_agent_coder.markdown import FENCE_OPENING, closes_fence
from multi_agent_coder.problems import Finding, Loc, Problem

#: Joins a task's fields for the one-pass scan. No phrase and no task id contains it, so no
#: match can span two fields.
_SEPARATOR: Final = "\x00"

#: Cheap first pass for task ids: every `TASK_ID_IN_TEXT` match contains a match of this (the
#: last letter or digit before the number, an optional dash, two digits), and it has neither
#: a look-behind nor a repeat, so the regex engine can skip ahead and each try is a few steps.
#: (A repeat here, such as `[A-Z][A-Z0-9]*`, is retried from every capital of a long run:
#: quadratic, 83 s for a 40 KB title.)
_ID_HINT: Final = re.compile(r"[A-Z0-9]-?[0-9]{2}", re.ASCII)

#: The seed's pattern form, `path:45-78 - description` (ASCII digits: `\d` would take U+0663).
_PATTERN: Final = re.compile(r"[\w/.\-]+:(\d+)-(\d+)\s*-\s*.+", re.ASCII)
_PATTERN_FORM: Final = "'path:45-78 - description'"

#: A line that announces a file's content, as the seed recognised it: `// File: x`, `# file: x`.
_FILE_MARKER: Final = re.compile(r"[ \t]*(?://|#)[ \t]*file:[ \t]*\S", re.IGNORECASE | re.ASCII)

#: Typographic apostrophes are folded to ASCII so "let’s reconsider" is caught too.
_APOSTROPHES: Final = str.maketrans({"\u2019": "'", "\u2018": "'"})


#: The loader's check signature (`backlog.load.Check`): the tasks that validated, with their
#: positions in the file, and every readable id of the file.
LoaderCheck = Callable[[Sequence[tuple[int, Task]], Collection[str]], list[Finding]]


def hygiene_check(settings: ContextSettings = DEFAULT_SETTINGS) -> LoaderCheck:
    """`check_task` as a loader check, so `macoder check` runs hygiene beside the graph rules.

    `known_ids` includes ids of tasks that did not validate: naming one is still a reference.
    """

    def check(entries: Sequence[tuple[int, Task]], known_ids: Collection[str]) -> list[Finding]:
        ids = known_ids if isinstance(known_ids, set | frozenset) else frozenset(known_ids)
        findings: list[Finding] = []
        for index, task in entries:
            findings.extend(check_task(task, ("tasks", index), ids, settings))
        return findings

    return check


def check_task(
    task: Task,
    task_loc: Loc,
    other_ids: Container[str],
    settings: ContextSettings = DEFAULT_SETTINGS,
) -> list[Finding]:
    """Hygiene findings of one task, each at `task_loc` + the offending item's loc.

    `other_ids` are the backlog's other task ids; the task's own id is never a finding, so a
    caller may pass one set of all ids. Order: per-field errors in field order, then
    `context-too-large`, then the compressor's `context-truncated` warnings.
    """
    findings: list[Finding] = []
    phrases = folded_phrases(settings.debris_phrases)
    texts = _texts(task)
    joined = _SEPARATOR.join(texts)
    if _may_be_dirty(task, joined, other_ids, phrases, settings.max_pasted_lines):
        for loc, text in _fields(task):
            findings.extend(
                _field_findings(
                    task, task_loc + loc, loc, text, other_ids=other_ids, settings=settings
                )
            )
    elif task.context is not None:
        for index, pattern in enumerate(task.context.patterns):
            finding = _pattern_finding((*task_loc, "context", "patterns", index), pattern)
            if finding is not None:
                findings.append(finding)

    if _surely_fits(task, joined, len(texts), settings):
        return findings  # nothing is cut and the prompt is under the limit: no need to build it
    built = build_prompt(task, settings)
    if built.size > settings.max_bytes:
        findings.append(_too_large(task, task_loc, built.size, settings))
    findings.extend(replace(note, loc=task_loc + note.loc) for note in built.truncations)
    return findings


# --- the size shortcut ---------------------------------------------------------------------

#: More than the prompt's fixed text around the fields can take: the instructions, the
#: headings, the id line and the blank lines between sections.
_FIXED_OVERHEAD: Final = utf8_size(INSTRUCTIONS) + 256


def _surely_fits(task: Task, joined: str, count: int, settings: ContextSettings) -> bool:
    """True when every field is within its budget and count (so nothing is cut) and an upper
    bound of the prompt's size is under the limit: then `build_prompt` would find nothing.

    `joined` is every field's text joined by one separator, `count` how many fields. Each
    list item adds at most '- ', a newline, and two spaces per continuation line; the bound
    also counts the title and description that way, and the separators, so it only errs high.
    Most tasks pass this in a few microseconds, which is what lets `macoder check` skip
    building 10,000 prompts; anything else takes the exact path.
    """
    size: Callable[[str], int] = len if joined.isascii() else utf8_size
    bound = _FIXED_OVERHEAD + size(joined) + 3 * count + 2 * joined.count("\n")
    if bound > settings.max_bytes:
        return False
    if size(task.title) > settings.title_budget or size(task.description) > settings.spec_budget:
        return False
    if sum(map(size, task.acceptance)) > settings.acceptance_budget:
        return False
    if len(task.scope.files_hint) > settings.max_files:
        return False
    context = task.context
    if context is None:
        return True
    return all(
        len(items) <= limit and all(size(item) <= budget for item in items)
        for items, limit, budget in (
            (context.constraints, settings.max_constraints, settings.constraint_budget),
            (context.patterns, settings.max_patterns, settings.pattern_budget),
            (context.gotchas, settings.max_gotchas, settings.gotcha_budget),
        )
    )


# --- the one-pass scan ----------------------------------------------------------------------


def _texts(task: Task) -> list[str]:
    """Every checked field's text, in field order (the fast path needs no locs)."""
    texts = [task.title, task.description, *task.acceptance, *task.scope.files_hint]
    context = task.context
    if context is not None:
        texts += context.constraints
        texts += context.patterns
        texts += context.gotchas
    return texts


def _fields(task: Task) -> Iterator[tuple[Loc, str]]:
    """Every checked field with its loc relative to the task, in field order."""
    yield ("title",), task.title
    yield ("description",), task.description
    for index, text in enumerate(task.acceptance):
        yield ("acceptance", index), text
    for index, text in enumerate(task.scope.files_hint):
        yield ("scope", "files_hint", index), text
    context = task.context
    if context is not None:
        for name, items in (
            ("constraints", context.constraints),
            ("patterns", context.patterns),
            ("gotchas", context.gotchas),
        ):
            for index, text in enumerate(items):
                yield ("context", name, index), text


def _may_be_dirty(
    task: Task,
    joined: str,
    other_ids: Container[str],
    phrases: tuple[tuple[str, str], ...],
    max_lines: int,
) -> bool:
    """False only if no field can hold debris, another task's id or a pasted file.

    One scan of all fields joined; it may say True for a clean task (then the per-field pass
    finds nothing) but never False for a dirty one. Patterns are checked separately.
    `joined` is every field's text joined by `_SEPARATOR`.
    """
    if joined.count("\n") > max_lines:
        return True
    if phrases:
        folded = _fold(joined)
        for _, phrase in phrases:
            if phrase in folded:
                return True
    if _ID_HINT.search(joined) is not None:
        own = task.id
        for match in TASK_ID_IN_TEXT.finditer(joined):
            word = match.group()
            if word != own and word in other_ids:
                return True
    return False


@lru_cache(maxsize=16)
def folded_phrases(phrases: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(phrase as configured, phrase as matched), once per distinct phrase list."""
    return tuple((phrase, _fold(phrase)) for phrase in dict.fromkeys(phrases))


def _fold(text: str) -> str:
    """Case-insensitive matching by plain substring search: casefold (so `ß` = `ss`) and fold
    typographic apostrophes. Far faster than an IGNORECASE regex alternation in CPython."""
    folded = text.casefold()
    if "\u2019" in folded or "\u2018" in folded:
        folded = folded.translate(_APOSTROPHES)
    return folded


# --- per-field checks -------------------------------------------------------------------------


def _field_findings(
    task: Task,
    loc: Loc,
    field: Loc,
    text: str,
    *,
    other_ids: Container[str],
    settings: ContextSettings,
) -> Iterator[Finding]:
    """The findings of one field, in code order: debris, reference, paste, pattern form."""
    yield from text_findings(task.id, loc, text, other_ids=other_ids, settings=settings)
    if field[:2] == ("context", "patterns"):
        finding = _pattern_finding(loc, text)
        if finding is not None:
            yield finding


def text_findings(
    own_id: str,
    loc: Loc,
    text: str,
    *,
    other_ids: Container[str],
    settings: ContextSettings,
) -> Iterator[Finding]:
    """The rules every free text sent to `own_id`'s agent obeys, wherever it comes from (a
    task field, a reviewer's comment): no planning debris, no other task's id, no pasted
    whole file — in that order."""
    debris = debris_in(text, folded_phrases(settings.debris_phrases))
    if debris:
        quoted = ", ".join(f'"{phrase}"' for phrase in debris)
        yield Finding(
            loc,
            "planning-debris",
            f"planning debris {quoted}: give the agent the decision, not how it was reached",
            needle=debris[0],
        )
    names = other_task_ids(text, own_id, other_ids)
    if names:
        which = f"another task of this backlog ({names[0]})"
        if len(names) > 1:
            which = f"other tasks of this backlog ({', '.join(names)})"
        yield Finding(
            loc,
            "cross-task-reference",
            f"names {which}: the agent sees only this task, so state what it needs instead",
            needle=names[0],
        )
    pasted = _pasted_block(text, settings.max_pasted_lines)
    if pasted is not None:
        yield Finding(loc, "full-file-paste", pasted.describe(settings.max_pasted_lines))


def debris_in(text: str, phrases: tuple[tuple[str, str], ...]) -> list[str]:
    """The configured phrases found in `text`, case-insensitively, in configured order."""
    if not phrases:
        return []
    folded = _fold(text)
    return [phrase for phrase, needle in phrases if needle in folded]


def document_problems(shown: str, text: str, settings: ContextSettings) -> list[Problem]:
    """The hygiene findings of a whole document an agent will read (a track's SPEC.md,
    PLAN.md...): planning debris, each occurrence at its line and column of `shown`.

    A phrase may be broken across lines in Markdown; any run of spaces or line breaks in the
    text matches the phrase's space. Other tasks' ids and code blocks are a spec's business.
    """
    message = "planning debris {}: give the agent the decision, not how it was reached"
    return [
        Problem(shown, line, col, "planning-debris", message.format(f'"{phrase}"'))
        for line, col, phrase in debris_positions(text, folded_phrases(settings.debris_phrases))
    ]


def debris_positions(text: str, phrases: tuple[tuple[str, str], ...]) -> list[tuple[int, int, str]]:
    """(line, column, phrase), 1-based, for every occurrence of a configured phrase in
    `text`, in text order. A clean text costs one folded substring scan per phrase."""
    present = debris_in(" ".join(text.split()), phrases)
    found: list[tuple[int, int, str]] = []
    for phrase in present:
        pattern = _phrase_pattern(phrase)
        places = [_line_and_column(text, match.start()) for match in pattern.finditer(text)]
        # Case folding may match where a case-insensitive regex does not ("ß" and "ss"):
        # the phrase is there, so it is reported, at the top of the file.
        found += [(line, col, phrase) for line, col in places or [(1, 1)]]
    return sorted(found, key=lambda item: (item[0], item[1]))


@lru_cache(maxsize=64)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """`phrase` with any run of white space between words, either apostrophe for `'`."""
    words = [re.escape(word).replace("'", "['\u2018\u2019]") for word in phrase.split()]
    return re.compile(r"\s+".join(words), re.IGNORECASE)


def _line_and_column(text: str, at: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, at) + 1
    return text.count("\n", 0, at) + 1, at - start + 1


def other_task_ids(text: str, own: str, other_ids: Container[str]) -> list[str]:
    """Id-shaped words of `text` that are other tasks of the backlog, first occurrence order.

    Only real tasks count: `UTF-16` or `SHA256` are id-shaped but name no task.
    """
    found = (match.group() for match in TASK_ID_IN_TEXT.finditer(text))
    return list(dict.fromkeys(word for word in found if word != own and word in other_ids))


def _pattern_finding(loc: Loc, pattern: str) -> Finding | None:
    """A context pattern must point at real lines: `path:first-last - description`."""
    text = pattern.strip()
    match = _PATTERN.fullmatch(text)
    quoted = repr(truncate(text, 80))
    if match is None:
        message = f"pattern {quoted} is not in the form {_PATTERN_FORM}"
    elif int(match.group(1)) == 0:
        message = f"pattern {quoted}: lines are numbered from 1"
    elif int(match.group(1)) > int(match.group(2)):
        message = f"pattern {quoted}: the line range runs backwards; write first-last"
    else:
        return None
    return Finding(loc, "invalid-pattern", message)


@dataclass(frozen=True, slots=True)
class _Block:
    """A run of lines under one file marker, or inside one code fence."""

    label: str  # the marker line, or "" for a fence
    start: int  # 1-based line of the marker or opening fence, within the field
    lines: int

    def describe(self, max_lines: int) -> str:
        where = (
            f"{self.lines} lines under the file marker {truncate(self.label, 60)!r}"
            if self.label
            else f"a fenced code block of {self.lines} lines"
        )
        return (
            f"{where} (from line {self.start} of the text): more than {max_lines} lines is a"
            " pasted whole file; give its path and a line range instead"
        )


def _pasted_block(text: str, max_lines: int) -> _Block | None:
    """The first block of more than `max_lines` lines, or None.

    A file marker's block runs to the next marker (or to the end of the fence it sits in),
    not counting trailing blank lines or fence lines; a fence's block is the lines between
    its opening and closing fence (or the end of the text, if never closed).
    """
    if text.count("\n") <= max_lines:  # a block needs its opening line + max_lines + 1
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    blocks: list[_Block] = []
    marker: tuple[str, int, bool] | None = None  # (label, start, opened inside a fence)
    marker_lines = 0  # through the last non-blank line
    marker_seen = 0
    fence: tuple[str, int] | None = None  # (fence text, start)
    fence_lines = 0

    def end_marker() -> None:
        if marker is not None and marker_lines > max_lines:
            blocks.append(_Block(marker[0], marker[1], marker_lines))

    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        if fence is not None:
            if closes_fence(line, fence[0]):
                if fence_lines > max_lines:
                    blocks.append(_Block("", fence[1], fence_lines))
                fence = None
                if marker is not None and marker[2]:
                    end_marker()
                    marker = None
                continue
            fence_lines += 1
        else:
            opening = FENCE_OPENING.match(line)
            if opening is not None:
                fence, fence_lines = (opening.group(1), number), 0
                continue
        if _FILE_MARKER.match(line):
            end_marker()
            marker, marker_lines, marker_seen = (line.strip(), number, fence is not None), 0, 0
            continue
        if marker is not None:
            marker_seen += 1
            if line.strip():
                marker_lines = marker_seen
    if fence is not None and fence_lines > max_lines:
        blocks.append(_Block("", fence[1], fence_lines))
    end_marker()
    return min(blocks, key=lambda block: block.start, default=None)


# --- size -------------------------------------------------------------------------------------


def _too_large(task: Task, task_loc: Loc, size: int, settings: ContextSettings) -> Finding:
    """The prompt is over the limit even after the budgets: say which parts to shorten."""
    sections, _ = build_sections(task, settings)
    parts = ", ".join(f"{name} ({bytes_} bytes)" for name, bytes_ in biggest_sections(sections))
    return Finding(
        task_loc,
        "context-too-large",
        f"the prompt built for this task is {size} bytes, over the {settings.max_bytes}-byte"
        f" limit; shorten the biggest parts: {parts}",
    )
