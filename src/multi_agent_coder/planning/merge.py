"""The structured merge: a track's SPEC.md, ARCH.md and QA.md into one PLAN.md, no model.

The three planning agents each answer under fixed headings (the seed's prompts, kept in
`REQUIRED`); the merge copies each section under its place in the seed's PLAN.md layout and
adds "Implementation Steps", the numbered items of SPEC.md's and ARCH.md's sections, each
once, in order.

Doing this without a model is the point: the same three files always give the same PLAN.md,
byte for byte, so a re-run changes nothing and a diff of PLAN.md shows only what a person
or an agent changed in the sources.

Where this departs from the seed (`structuredMerge.ts`), and why:

- A required heading that is missing, empty or there twice is an error naming the file and
  the heading (the seed wrote "_Section not found in planning output_" into the plan, which
  then reached the backlog generator as if it were a requirement). Every problem of the three
  files is reported at once.
- A heading is a level-2 ATX heading whose text equals the required one, ignoring case and
  trailing spaces (the seed took any line *containing* the marker, so `## Acceptance` matched
  `### Acceptance notes` or a sentence quoting it). A heading inside a fenced code block is
  not a heading. A section runs to the next level-1 or level-2 heading: its own `###`
  sub-headings stay in it (the seed cut a section at its first `###`). SPEC.md's second
  heading is the prompt's `## Acceptance Criteria` (the seed's extractor looked for
  `## Acceptance`, a prefix of it).
- No "Generated: <timestamp>" line: it made two merges of the same input differ.
- Line endings are normalised to LF and a byte order mark is dropped; output ends with one LF.
- Steps come from the numbered lists of the sections PLAN.md holds (Requirements, Acceptance
  Criteria, Design, API), not from the whole of SPEC.md and ARCH.md: the seed also made steps
  of a "## Out of Scope" list. Items inside code fences are not steps; `1.` and `1)` both
  count. They are deduplicated ignoring case and runs of spaces, keeping the first spelling.

Pure: strings in, a string out; no I/O, no clock.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from multi_agent_coder.errors import PlanningError
from multi_agent_coder.markdown import atx_heading, fenced, unclosed_fence

#: The level of the headings the planning prompts ask for (`## Requirements`).
SECTION_LEVEL: Final = 2

SPEC_FILE: Final = "SPEC.md"
ARCH_FILE: Final = "ARCH.md"
QA_FILE: Final = "QA.md"
PLAN_FILE: Final = "PLAN.md"

#: Each planning file's required headings, as the seed's planning-agent prompts ask for them.
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    SPEC_FILE: ("Requirements", "Acceptance Criteria"),
    ARCH_FILE: ("Design", "API"),
    QA_FILE: ("Test Plan", "Risks"),
}

#: PLAN.md's numbered sections: (title, source file, heading in it), in the seed's order.
LAYOUT: Final = (
    ("Requirements", SPEC_FILE, "Requirements"),
    ("Acceptance Criteria", SPEC_FILE, "Acceptance Criteria"),
    ("Architecture Design", ARCH_FILE, "Design"),
    ("API & Data Models", ARCH_FILE, "API"),
    ("Test Plan", QA_FILE, "Test Plan"),
    ("Risks & Mitigations", QA_FILE, "Risks"),
)
STEPS_TITLE: Final = "Implementation Steps"
#: The files whose sections' numbered lists make the steps (the seed's
#: `synthesizeSteps(spec, arch)`).
STEP_SOURCES: Final = (SPEC_FILE, ARCH_FILE)

TITLE: Final = "# Unified Implementation Plan"
NOTE: Final = "> Auto-generated from parallel planning agents. No LLM used for merge."
SEPARATOR: Final = "---"

#: The seed's steps when neither file has a numbered list.
DEFAULT_STEPS: Final = (
    "Review requirements",
    "Implement core functionality",
    "Add tests",
    "Review and refactor",
)

#: An ordered-list item (CommonMark: 1-9 digits, then '.' or ')', then a space or the end).
_LIST_ITEM: Final = re.compile(r"[ \t]*[0-9]{1,9}[.)](?:[ \t]+(.*)|$)", re.ASCII)


class Source(NamedTuple):
    """One planning file: how errors name it (`specs/auth/SPEC.md`) and its text."""

    shown: str
    text: str


@dataclass(frozen=True, slots=True)
class Section:
    """A level-2 section: its heading's 1-based line and the lines under it, blank lines at
    either end left out."""

    line: int
    body: tuple[str, ...]
    #: The 1-based line of a code fence opened in the section and still open at its end.
    open_fence: int | None = None


def merge_plan(spec: Source, arch: Source, qa: Source) -> str:
    """PLAN.md for these three files, or `PlanningError` listing every problem found.

    The output depends on the texts alone (not on `shown`): identical input, identical bytes.
    """
    sources = {SPEC_FILE: spec, ARCH_FILE: arch, QA_FILE: qa}
    lines = {name: split_lines(source.text) for name, source in sources.items()}
    sections: dict[tuple[str, str], Section] = {}
    problems: list[str] = []
    for name, source in sources.items():
        found, said = required_sections(source.shown, lines[name], REQUIRED[name])
        problems += said
        sections.update(((name, heading), section) for heading, section in found.items())
    if problems:
        raise PlanningError(problems)
    bodies = [sections[name, heading].body for _, name, heading in LAYOUT]
    steps = synthesize_steps(
        [body for body, (_, name, _) in zip(bodies, LAYOUT, strict=True) if name in STEP_SOURCES]
    )
    return render_plan(bodies, steps)


def split_lines(text: str) -> list[str]:
    """`text` as lines without their endings: CRLF, CR and LF all end a line (CommonMark),
    and a leading byte order mark is not part of the first line."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def required_sections(
    shown: str, lines: Sequence[str], headings: Sequence[str]
) -> tuple[dict[str, Section], list[str]]:
    """Each of `headings` found as a level-2 section of `lines`, and a sentence per problem
    (missing, there twice, empty, a fence left open), in the order of `headings`."""
    outline = _Outline.of(lines)
    found: dict[str, Section] = {}
    problems: list[str] = []
    for heading in headings:
        wanted = f'"## {heading}"'
        starts = outline.sections_named(heading)
        if not starts:
            problems.append(f"{shown}: missing heading {wanted}{outline.hint(heading)}")
            continue
        if len(starts) > 1:
            problems.append(
                f"{shown}:{starts[1][0] + 1}: heading {wanted} a second time (first at line "
                f"{starts[0][0] + 1}): keep one section of that name"
            )
            continue
        section = outline.section(*starts[0])
        if not section.body:
            problems.append(f"{shown}:{section.line}: empty section {wanted}")
        elif section.open_fence is not None:
            problems.append(
                f"{shown}:{section.open_fence}: a code fence in section {wanted} is never "
                "closed; close it before the next heading"
            )
        else:
            found[heading] = section
    return found, problems


@dataclass(frozen=True, slots=True)
class _Outline:
    """A file's lines, which of them are in code fences, and its level-1 and level-2
    headings outside fences (where sections start and end), read once."""

    lines: Sequence[str]
    marks: Sequence[int | None]
    #: (line index, level, text) of each level-1 or level-2 heading, in order.
    breaks: Sequence[tuple[int, int, str]]

    @classmethod
    def of(cls, lines: Sequence[str]) -> _Outline:
        marks = fenced(lines)
        breaks: list[tuple[int, int, str]] = []
        for index, line in enumerate(lines):
            if marks[index] is None and line.lstrip(" ").startswith("#"):
                heading = atx_heading(line)
                if heading is not None and heading.level <= SECTION_LEVEL:
                    breaks.append((index, heading.level, heading.text))
        return cls(lines, marks, breaks)

    def sections_named(self, wanted: str) -> list[tuple[int, int]]:
        """(line index, position in `breaks`) of each level-2 heading reading `wanted`."""
        folded = wanted.casefold()
        return [
            (index, position)
            for position, (index, level, text) in enumerate(self.breaks)
            if level == SECTION_LEVEL and text.casefold() == folded
        ]

    def section(self, start: int, position: int) -> Section:
        """The section whose heading is at line `start` (`breaks[position]`): up to the next
        level-1 or level-2 heading outside a fence, or the end; blank lines at either end
        left out."""
        lines = self.lines
        following = position + 1
        end = self.breaks[following][0] if following < len(self.breaks) else len(lines)
        first, last = start + 1, end
        while first < last and not lines[first].strip():
            first += 1
        while last > first and not lines[last - 1].strip():
            last -= 1
        # Headings inside a fence do not end a section, so a fence opened here and not
        # closed here is never closed: in PLAN.md it would swallow the sections after it.
        opened = unclosed_fence(lines[first:last])
        open_fence = None if opened is None else first + opened + 1
        return Section(start + 1, tuple(lines[first:last]), open_fence)

    def hint(self, wanted: str) -> str:
        """Why a heading may be missing: the same words inside a code block, or a near miss."""
        folded = wanted.casefold()
        for index, line in enumerate(self.lines):
            if self.marks[index] is not None and line.lstrip(" ").startswith("#"):
                heading = atx_heading(line.strip())
                if heading is not None and heading.text.casefold() == folded:
                    return (
                        f" (line {index + 1} has it inside a code block, where it is not a heading)"
                    )
        present: dict[str, int] = {}  # each level-2 heading's text -> its first line
        for index, level, text in self.breaks:
            if level == SECTION_LEVEL:
                present.setdefault(text, index)
        near = difflib.get_close_matches(wanted, list(present), n=1, cutoff=0.6)
        if near:
            return f' (line {present[near[0]] + 1} has "## {near[0]}")'
        return ""


def synthesize_steps(documents: Sequence[Sequence[str]]) -> list[str]:
    """The numbered-list items of `documents` outside code fences, in order, each once
    (compared ignoring case and runs of spaces; the first spelling is kept)."""
    seen: set[str] = set()
    steps: list[str] = []
    for lines in documents:
        marks = fenced(lines)
        for index, line in enumerate(lines):
            if marks[index] is not None:
                continue
            item = _LIST_ITEM.fullmatch(line)
            text = (item.group(1) or "").strip() if item is not None else ""
            key = " ".join(text.split()).casefold()
            if key and key not in seen:
                seen.add(key)
                steps.append(text)
    return steps


def render_plan(bodies: Sequence[Sequence[str]], steps: Sequence[str]) -> str:
    """The seed's PLAN.md: title, note, then the numbered sections between `---` lines."""
    chosen = steps or DEFAULT_STEPS
    numbered = [f"{number}. {step}" for number, step in enumerate(chosen, start=1)]
    titles = [title for title, _, _ in LAYOUT] + [STEPS_TITLE]
    parts = [TITLE, "", NOTE, "", SEPARATOR, ""]
    for number, (title, body) in enumerate(zip(titles, [*bodies, numbered], strict=True), 1):
        parts += [f"## {number}. {title}", "", *body, "", SEPARATOR, ""]
    return "\n".join(parts[:-1]) + "\n"
