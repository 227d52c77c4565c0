"""The structured merge: SPEC.md + ARCH.md + QA.md -> PLAN.md, the same bytes every time.

The golden files under tests/golden/planning/ are a whole track: the expected PLAN.md was
written for these inputs and checked line by line against the seed's layout; a change to
the output format must change that file in the same commit, visibly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from multi_agent_coder.errors import EXIT_PROBLEMS, PlanningError
from multi_agent_coder.markdown import atx_heading, fenced, unclosed_fence
from multi_agent_coder.planning.merge import (
    DEFAULT_STEPS,
    Source,
    merge_plan,
    synthesize_steps,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "planning"

SPEC = "## Requirements\n\n1. Log in\n\n## Acceptance Criteria\n\n- GIVEN a user WHEN x THEN y\n"
ARCH = "## Design\n\nOne module.\n\n## API\n\n- `login(user) -> Session`\n"
QA = "## Test Plan\n\n- unit tests\n\n## Risks\n\n- none known\n"


def golden(name: str) -> str:
    return (GOLDEN / name).read_bytes().decode("utf-8")  # bytes: no newline translation


def merge(spec: str = SPEC, arch: str = ARCH, qa: str = QA, track: str = "auth") -> str:
    return merge_plan(
        Source(f"specs/{track}/SPEC.md", spec),
        Source(f"specs/{track}/ARCH.md", arch),
        Source(f"specs/{track}/QA.md", qa),
    )


def problems(spec: str = SPEC, arch: str = ARCH, qa: str = QA) -> list[str]:
    with pytest.raises(PlanningError) as caught:
        merge(spec, arch, qa)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)


def section(plan: str, number: int) -> str:
    """The body of PLAN.md's section `number`: from under its heading to the rule before the
    next section (or the plan's last rule)."""
    start = plan.index(f"\n## {number}. ")
    body = plan[plan.index("\n", start + 1) + 1 :]
    end = body.find(f"\n---\n\n## {number + 1}. ")
    return body[: end if end >= 0 else body.rindex("\n---\n")].strip("\n")


# --- golden ----------------------------------------------------------------------------------


def test_the_golden_track_merges_into_the_golden_plan() -> None:
    plan = merge_plan(*(Source(name, golden(name)) for name in ("SPEC.md", "ARCH.md", "QA.md")))

    assert plan == golden("PLAN.md")


def test_the_plan_has_the_seed_s_seven_numbered_sections_between_rules() -> None:
    plan = merge()

    headings = [line for line in plan.splitlines() if line.startswith("## ")]
    assert headings == [
        "## 1. Requirements",
        "## 2. Acceptance Criteria",
        "## 3. Architecture Design",
        "## 4. API & Data Models",
        "## 5. Test Plan",
        "## 6. Risks & Mitigations",
        "## 7. Implementation Steps",
    ]
    assert plan.startswith("# Unified Implementation Plan\n\n> Auto-generated")
    assert plan.count("\n---\n") == 8
    assert plan.endswith("\n---\n")
    assert section(plan, 4) == "- `login(user) -> Session`"


# --- the same input, the same bytes ----------------------------------------------------------


def test_merging_twice_gives_the_same_bytes_and_no_timestamp() -> None:
    first, second = merge(), merge()

    assert first == second
    assert "Generated" not in first


def test_the_output_depends_on_the_texts_not_on_the_file_names() -> None:
    assert merge(track="auth") == merge(track="billing")


def test_crlf_and_cr_line_endings_and_a_bom_give_the_same_plan_as_lf() -> None:
    crlf = [text.replace("\n", "\r\n") for text in (SPEC, ARCH, QA)]
    old_mac = [text.replace("\n", "\r") for text in (SPEC, ARCH, QA)]

    assert merge(*crlf) == merge()
    assert merge(*old_mac) == merge()
    assert merge("\ufeff" + SPEC) == merge()
    assert "\r" not in merge(*crlf)


def test_a_different_input_gives_a_different_plan() -> None:
    assert merge(qa=QA.replace("none known", "the token expires")) != merge()


# --- headings --------------------------------------------------------------------------------


def test_a_missing_heading_is_an_error_naming_the_file_and_the_heading() -> None:
    said = problems(spec=SPEC.replace("## Requirements", "## Goals"))

    assert said == ['specs/auth/SPEC.md: missing heading "## Requirements"']


def test_every_problem_of_the_three_files_is_reported_at_once_in_file_order() -> None:
    said = problems(
        spec="## Acceptance Criteria\n\nx\n",
        arch="## API\n\nx\n",
        qa="## Test Plan\n\nx\n",
    )

    assert said == [
        'specs/auth/SPEC.md: missing heading "## Requirements"',
        'specs/auth/ARCH.md: missing heading "## Design"',
        'specs/auth/QA.md: missing heading "## Risks"',
    ]


def test_a_near_miss_heading_is_named_in_the_error() -> None:
    said = problems(spec=SPEC.replace("## Acceptance Criteria", "## Acceptance"))

    assert said == [
        'specs/auth/SPEC.md: missing heading "## Acceptance Criteria" (line 5 has "## Acceptance")'
    ]


def test_an_empty_section_is_an_error_naming_file_line_and_heading() -> None:
    said = problems(qa="## Test Plan\n\n- unit tests\n\n## Risks\n\n   \n\n")

    assert said == ['specs/auth/QA.md:5: empty section "## Risks"']


def test_a_section_ended_at_once_by_the_next_heading_is_empty() -> None:
    said = problems(arch="## Design\n## API\n\n- x\n")

    assert said == ['specs/auth/ARCH.md:1: empty section "## Design"']


def test_a_heading_twice_is_an_error_rather_than_a_silent_choice() -> None:
    said = problems(qa=QA + "\n## risks\n\n- another list\n")

    assert said == [
        'specs/auth/QA.md:9: heading "## Risks" a second time (first at line 5): '
        "keep one section of that name"
    ]


def test_a_heading_inside_a_code_fence_is_not_a_heading() -> None:
    arch = "## API\n\n- x\n\n```markdown\n## Design\n\nnot here\n```\n"

    said = problems(arch=arch)

    assert said == [
        'specs/auth/ARCH.md: missing heading "## Design" '
        "(line 6 has it inside a code block, where it is not a heading)"
    ]


def test_a_heading_inside_a_tilde_fence_does_not_end_a_section() -> None:
    arch = "## Design\n\n~~~~\n## API\n~~~~\n\n## API\n\n- x\n"

    assert section(merge(arch=arch), 3) == "~~~~\n## API\n~~~~"


def test_a_code_fence_never_closed_is_an_error_not_a_plan_that_swallows_the_rest() -> None:
    said = problems(qa="## Test Plan\n\n- x\n\n## Risks\n\n```\nnever closed\n")

    assert said == [
        'specs/auth/QA.md:7: a code fence in section "## Risks" is never closed; '
        "close it before the next heading"
    ]


@pytest.mark.parametrize(
    "line",
    [
        "## requirements",
        "## REQUIREMENTS",
        "## Requirements   ",
        "   ## Requirements",
        "## Requirements ##",
    ],
)
def test_headings_match_ignoring_case_trailing_spaces_indentation_and_closing_hashes(
    line: str,
) -> None:
    assert merge(spec=SPEC.replace("## Requirements", line)) == merge()


@pytest.mark.parametrize(
    "line",
    [
        "### Requirements",
        "# Requirements",
        "##Requirements",
        "    ## Requirements",
        "## Requirements!",
    ],
)
def test_only_a_level_two_atx_heading_with_exactly_that_text_counts(line: str) -> None:
    said = problems(spec=SPEC.replace("## Requirements", line))

    assert said[0].startswith('specs/auth/SPEC.md: missing heading "## Requirements"')


def test_sub_headings_stay_in_their_section_and_a_level_one_heading_ends_it() -> None:
    spec = SPEC.replace(
        "1. Log in\n", "1. Log in\n\n### Security\n\n- hash passwords\n\n# Notes\nx\n"
    )

    assert section(merge(spec=spec), 1) == "1. Log in\n\n### Security\n\n- hash passwords"


def test_a_section_s_own_text_is_kept_as_written() -> None:
    body = "Some text  \n\twith a tab\n\n| a | b |\n| - | - |\n\n---\n\nafter a rule"
    arch = f"## Design\n\n\n{body}\n\n\n## API\n\n- x\n"

    assert section(merge(arch=arch), 3) == body


def test_sections_not_asked_for_are_left_out() -> None:
    plan = merge(spec=SPEC + "\n## Out of Scope\n\nMobile apps.\n")

    assert "Mobile apps" not in plan


# --- implementation steps --------------------------------------------------------------------


def test_steps_are_the_numbered_items_of_spec_then_arch_each_once_in_order() -> None:
    spec = "## Requirements\n\n1. Store items\n2. List items\n\n## Acceptance Criteria\n\n- x\n"
    arch = "## Design\n\n1) Add the storage module\n2. store  ITEMS\n\n## API\n\n3. List items\n"

    steps = section(merge(spec=spec, arch=arch), 7)

    assert steps == "1. Store items\n2. List items\n3. Add the storage module"


def test_numbered_items_in_code_fences_and_in_qa_are_not_steps() -> None:
    arch = "## Design\n\n```\n1. not a step\n```\n\n## API\n\n1. Expose login\n"
    qa = "## Test Plan\n\n1. Test login\n\n## Risks\n\n- none\n"

    steps = section(merge(arch=arch, qa=qa), 7)

    assert steps == "1. Log in\n2. Expose login"


def test_without_numbered_items_the_steps_are_the_seed_s_default() -> None:
    spec = SPEC.replace("1. Log in", "- Log in")

    steps = section(merge(spec=spec), 7)

    assert steps == "\n".join(f"{n}. {step}" for n, step in enumerate(DEFAULT_STEPS, 1))


def test_an_item_with_no_text_is_no_step() -> None:
    assert synthesize_steps([["1.", "2. ", "3. Real", "10) Also real", "1.5 not an item"]]) == [
        "Real",
        "Also real",
    ]


# --- the error's kind ------------------------------------------------------------------------


def test_a_planning_error_is_a_problem_with_the_input_exit_1() -> None:
    assert PlanningError(["x"]).exit_code == EXIT_PROBLEMS


# --- the Markdown rules underneath -----------------------------------------------------------


def test_fences_close_only_with_the_same_character_at_least_as_long() -> None:
    lines = ["````", "```", "~~~~", "````", "after"]

    assert fenced(lines) == [0, 0, 0, 0, None]
    assert unclosed_fence(lines) is None
    assert unclosed_fence(["text", "```py", "code"]) == 1


def test_a_heading_line_is_read_in_one_pass_however_long() -> None:
    hostile = "## " + " #" * 200_000 + "x"

    heading = atx_heading(hostile)

    assert heading is not None
    assert heading.text.endswith("x")
