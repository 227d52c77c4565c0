"""The three planning agents of `macoder plan` and what each is asked (pure).

The seed's roles and prompts ("Planning Agents"): a product/spec agent writes SPEC.md, an
architecture agent ARCH.md, a QA/risk agent QA.md, each from the same feature context and in
parallel. Each prompt names the sections its document must have — the structured merge takes
exactly those sections into PLAN.md — and starts with a `# Planning <ROLE>: <track>` line, so
the session is recognisable in OpenCode's list (and to the scripted model in tests).

Unlike the seed, the agent answers with the document as its final message: macoder writes the
file itself, after checking it. The agent may read the repository (an export of the default
branch is its working directory) but what it writes there is thrown away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from multi_agent_coder.planning.merge import ARCH_FILE, QA_FILE, SPEC_FILE


@dataclass(frozen=True, slots=True)
class Role:
    """One planning agent: its name, the file it produces and the sections that file needs."""

    name: str
    file: str
    title: str
    sections: tuple[tuple[str, str], ...]  # (heading, what goes under it)

    @property
    def headings(self) -> tuple[str, ...]:
        return tuple(heading for heading, _ in self.sections)


SPEC: Final = Role(
    "spec",
    SPEC_FILE,
    "Product/Spec Planning Agent",
    (
        (
            "## Requirements",
            "- Clear, numbered requirements\n- Functional and non-functional requirements",
        ),
        (
            "## Acceptance Criteria",
            '- Testable acceptance criteria for each requirement\n- Use "GIVEN/WHEN/THEN" format',
        ),
    ),
)
ARCH: Final = Role(
    "architecture",
    ARCH_FILE,
    "Architecture Planning Agent",
    (
        (
            "## Design",
            "- System architecture overview\n- Component diagram (ASCII)\n- Key design decisions",
        ),
        ("## API", "- API endpoints or interfaces\n- Data models\n- Integration points"),
    ),
)
QA: Final = Role(
    "qa",
    QA_FILE,
    "QA/Risk Planning Agent",
    (
        (
            "## Test Plan",
            "- Unit test strategy\n- Integration test plan\n- Edge cases to cover",
        ),
        (
            "## Risks",
            "- Technical risks and mitigations\n- Dependencies and blockers\n"
            "- Gotchas from similar implementations",
        ),
    ),
)
ROLES: Final = (SPEC, ARCH, QA)

#: The first line of every planning prompt: `# Planning SPEC: <track>`.
HEADER: Final = "# Planning {role}: {track}"


def planning_prompt(role: Role, track: str, context: str) -> str:
    """What the `role` agent is sent: the seed's prompt, with the answer's form made exact."""
    sections = "\n".join(f"{heading}\n{what}" for heading, what in role.sections)
    return (
        f"{HEADER.format(role=role.name.upper(), track=track)}\n\n"
        f"You are the {role.title}.\n\n"
        f"Analyze this context and produce a {role.file} document with:\n"
        f"{sections}\n\n"
        "Be thorough but concise. Your exploration context will be deleted - only your final "
        "document matters. Answer with the document itself as your final message: Markdown, "
        f"with exactly the headings above ({', '.join(role.headings)}), no preamble and no "
        "closing remarks. You may read the repository in your working directory to ground the "
        "plan in it; do not write files (nothing you write there is kept).\n\n"
        f"CONTEXT:\n{context}"
    )


def document_of(answer: str) -> str:
    """The document in an agent's final answer: without a code fence around the whole of it
    (models like to wrap Markdown in one), surrounding blank lines gone, one final newline."""
    text = answer.strip()
    lines = text.splitlines()
    if len(lines) >= 2 and lines[0].startswith("```") and lines[-1].strip() == "```":
        text = "\n".join(lines[1:-1]).strip()
    return text + "\n" if text else ""
