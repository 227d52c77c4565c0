"""The context compressor: the exact prompt an agent is sent, and what the budgets cut."""

from __future__ import annotations

import pytest

from multi_agent_coder.context.build import (
    INSTRUCTIONS,
    ContextSettings,
    build_prompt,
    share_budget,
    truncate,
    utf8_size,
)
from multi_agent_coder.ids import TASK_ID_IN_TEXT
from multi_agent_coder.limits import PLANNING_DEBRIS_PHRASES
from multi_agent_coder.problems import CODES, Finding
from tests.support import task

INSTRUCTIONS_TEXT = (
    "## Instructions\n"
    "1. Implement the task as the specification above describes.\n"
    "2. Create or modify the files you need, and write tests for new behaviour.\n"
    "3. Run the project's tests and make them pass.\n"
    "4. Do not commit, push or open pull requests: macoder verifies and commits your work.\n"
)


def warning(loc: tuple[str | int, ...], message: str) -> Finding:
    return Finding(loc, "context-truncated", message, severity="warning")


def cut(size: int, budget: int, kept: int) -> str:
    return (
        f"{size} bytes, over its {budget}-byte budget:"
        f" the agent sees only the first {kept} bytes and '...'"
    )


# --- layout -------------------------------------------------------------------------------------


def test_prompt_is_heading_specification_acceptance_files_then_instructions() -> None:
    built = build_prompt(
        task(
            "AUTH-012",
            title="Add login",
            description="Users log in with a password.\nLock after 5 failures.\n",
            acceptance=["a wrong password is refused", "the 6th try is locked"],
            scope={"files_hint": ["src/auth.py", "tests/test_auth.py"], "estimated_hours": 2},
        )
    )
    assert built.text == (
        "# Task AUTH-012: Add login\n"
        "\n"
        "## Specification\n"
        "Users log in with a password.\n"
        "Lock after 5 failures.\n"
        "\n"
        "## Acceptance Criteria\n"
        "- a wrong password is refused\n"
        "- the 6th try is locked\n"
        "\n"
        "## Files\n"
        "- src/auth.py\n"
        "- tests/test_auth.py\n"
        "\n" + INSTRUCTIONS_TEXT
    )
    assert built.truncations == ()


def test_constraints_patterns_and_gotchas_follow_files_in_that_order() -> None:
    built = build_prompt(
        task(
            title="T",
            description="D",
            acceptance=["A"],
            scope={"files_hint": ["src/a.py"], "estimated_hours": 1},
            context={
                "constraints": ["no new dependencies"],
                "patterns": ["src/b.py:10-20 - how retries are done"],
                "gotchas": ["the clock is injected"],
            },
        )
    )
    assert built.text == (
        "# Task T001: T\n\n"
        "## Specification\nD\n\n"
        "## Acceptance Criteria\n- A\n\n"
        "## Files\n- src/a.py\n\n"
        "## Constraints\n- no new dependencies\n\n"
        "## Patterns\n- src/b.py:10-20 - how retries are done\n\n"
        "## Gotchas\n- the clock is injected\n\n" + INSTRUCTIONS_TEXT
    )


def test_empty_optional_sections_are_left_out() -> None:
    built = build_prompt(
        task(
            title="T",
            description="D",
            acceptance=["A"],
            scope={"files_hint": ["src/a.py"], "estimated_hours": 1},
            context={"constraints": [], "patterns": [], "gotchas": ["only this"]},
        )
    )
    assert "## Constraints" not in built.text
    assert "## Patterns" not in built.text
    assert "## Files\n- src/a.py\n\n## Gotchas\n- only this\n\n## Instructions\n" in built.text


def test_a_task_without_files_or_context_has_no_files_section() -> None:
    built = build_prompt(
        task(
            title="T",
            description="D",
            acceptance=["A"],
            scope={"files_hint": [], "estimated_hours": 1},
        )
    )
    assert built.text == (
        "# Task T001: T\n\n## Specification\nD\n\n## Acceptance Criteria\n- A\n\n"
        + INSTRUCTIONS_TEXT
    )


def test_the_title_is_one_line_and_fields_lose_surrounding_whitespace() -> None:
    built = build_prompt(
        task(
            title="  Add\n  login \t now ",
            description="\n  Spec body.\n\n",
            acceptance=["  refused  "],
        )
    )
    assert built.text.startswith(
        "# Task T001: Add login now\n\n## Specification\nSpec body.\n\n"
        "## Acceptance Criteria\n- refused\n\n"
    )


def test_a_multi_line_list_item_stays_one_markdown_item() -> None:
    built = build_prompt(task(acceptance=["first line\nsecond line"]))
    assert "## Acceptance Criteria\n- first line\n  second line\n\n" in built.text


def test_size_is_the_utf8_byte_count_of_the_text() -> None:
    built = build_prompt(task(title="日本語のタイトル 😀", description="Größe"))
    assert built.size == len(built.text.encode("utf-8"))
    assert built.size > len(built.text)


def test_instructions_forbid_committing_pushing_and_opening_pull_requests() -> None:
    built = build_prompt(task())
    assert built.text.endswith(INSTRUCTIONS_TEXT)
    assert INSTRUCTIONS + "\n" == INSTRUCTIONS_TEXT
    assert "Do not commit, push or open pull requests" in INSTRUCTIONS


def test_the_fixed_text_holds_no_debris_phrase_and_no_task_id() -> None:
    built = build_prompt(task("T001", title="x", description="x", acceptance=["x"]))
    fixed = built.text.replace("T001", "")
    for phrase in PLANNING_DEBRIS_PHRASES:
        assert phrase not in fixed.casefold()
    assert TASK_ID_IN_TEXT.findall(fixed) == []


def test_the_prompt_names_no_working_directory() -> None:
    text = build_prompt(task()).text.casefold()
    assert "directory" not in text
    assert "worktree" not in text


# --- byte budgets -------------------------------------------------------------------------------


def test_a_title_exactly_at_its_budget_is_whole() -> None:
    built = build_prompt(task(title="x" * 100))
    assert built.text.startswith("# Task T001: " + "x" * 100 + "\n")
    assert built.truncations == ()


def test_a_title_one_byte_over_is_cut_to_fit_with_the_ellipsis() -> None:
    built = build_prompt(task(title="x" * 101))
    assert built.text.startswith("# Task T001: " + "x" * 97 + "...\n")
    assert built.truncations == (warning(("title",), cut(101, 100, 97)),)


def test_cjk_text_is_cut_on_a_character_boundary() -> None:
    built = build_prompt(task(title="日" * 40))  # 120 bytes, 3 per character
    assert built.text.startswith("# Task T001: " + "日" * 32 + "...\n")  # 96 + 3 bytes
    assert built.truncations == (warning(("title",), cut(120, 100, 96)),)


def test_emoji_are_never_split() -> None:
    built = build_prompt(task(description="😀" * 200))  # 800 bytes, 4 per emoji
    assert "## Specification\n" + "😀" * 149 + "...\n" in built.text  # 596 + 3 bytes
    assert built.truncations == (warning(("description",), cut(800, 600, 596)),)


def test_the_specification_keeps_its_lines_up_to_600_bytes() -> None:
    description = ("a" * 49 + "\n") * 13  # 650 bytes, 649 without the final newline
    built = build_prompt(task(description=description))
    assert "## Specification\n" + description[:597] + "...\n\n## Acceptance" in built.text
    assert built.truncations == (warning(("description",), cut(649, 600, 597)),)


@pytest.mark.parametrize(
    ("text", "budget", "expected"),
    [
        ("abc", 3, "abc"),
        ("abcd", 4, "abcd"),
        ("abcde", 4, "a..."),
        ("é" * 3, 6, "ééé"),
        ("é" * 4, 6, "é..."),  # 8 bytes; 3 kept would split the second é
        ("aé" * 4, 7, "aéa..."),
        ("aaééé", 6, "aa..."),  # 3 kept bytes would split the first é
        ("𝄞abc", 6, "..."),  # the 4-byte clef does not fit in 3 bytes
        ("\ud800" * 3, 8, "\ud800..."),  # a lone surrogate is counted as 3 bytes, not fatal
    ],
)
def test_truncate_fits_the_budget_in_bytes_without_splitting_a_character(
    text: str, budget: int, expected: str
) -> None:
    result = truncate(text, budget)
    assert result == expected
    assert utf8_size(result) <= budget


# --- acceptance: one budget shared fairly -------------------------------------------------------


def test_acceptance_within_the_budget_is_whole() -> None:
    items = ["a" * 200, "b" * 200]  # 400 bytes exactly
    built = build_prompt(task(acceptance=items))
    assert "- " + "a" * 200 + "\n- " + "b" * 200 + "\n" in built.text
    assert built.truncations == ()


def test_acceptance_budget_is_shared_so_short_items_stay_whole() -> None:
    items = ["short one", "x" * 500, "also short"]
    built = build_prompt(task(acceptance=items))
    # 400 - 9 - 10 = 381 bytes left for the long item: 378 + "..."
    assert "- short one\n- " + "x" * 378 + "...\n- also short\n" in built.text
    assert built.truncations == (
        warning(
            ("acceptance", 1),
            "500 bytes, over the 381 bytes it gets of the 400-byte budget shared by 3 criteria:"
            " the agent sees only the first 378 bytes and '...'",
        ),
    )


def test_long_acceptance_items_split_the_leftover_equally_odd_bytes_first() -> None:
    items = ["a" * 300, "b" * 11, "c" * 300, "d" * 300]
    built = build_prompt(task(acceptance=items))
    # 400 - 11 = 389 = 130 + 130 + 129
    assert (
        "- "
        + "a" * 127
        + "...\n- "
        + "b" * 11
        + "\n- "
        + "c" * 127
        + "...\n- "
        + "d" * 126
        + "...\n"
    ) in built.text
    assert [f.loc for f in built.truncations] == [
        ("acceptance", 0),
        ("acceptance", 2),
        ("acceptance", 3),
    ]


def test_acceptance_one_byte_over_cuts_only_the_longest_item() -> None:
    built = build_prompt(task(acceptance=["a" * 200, "b" * 201]))
    assert "- " + "a" * 200 + "\n- " + "b" * 197 + "...\n" in built.text
    assert [f.loc for f in built.truncations] == [("acceptance", 1)]


@pytest.mark.parametrize(
    ("sizes", "budget", "expected"),
    [
        ([], 400, []),
        ([100, 100], 400, [100, 100]),
        ([500], 400, [400]),
        ([10, 500, 20], 400, [10, 370, 20]),
        ([300, 300, 300], 400, [134, 133, 133]),
        ([150, 140, 300], 400, [134, 133, 133]),  # all above the 133-byte fair share
    ],
)
def test_share_budget_is_water_filling(sizes: list[int], budget: int, expected: list[int]) -> None:
    allowances = share_budget(sizes, budget)
    assert allowances == expected
    assert sum(allowances) <= budget


def test_criteria_too_many_to_show_one_character_each_are_dropped_with_a_warning() -> None:
    built = build_prompt(task(acceptance=["x" * 10] * 101))  # 400 = 97 x 4 + 4 x 3 bytes
    assert "## Acceptance Criteria\n" + "- x...\n" * 97 + "\n## Files" in built.text
    dropped = "not sent to the agent: its share of the 400-byte budget shared by 101 criteria is"
    assert built.truncations[96] == warning(
        ("acceptance", 96),
        "10 bytes, over the 4 bytes it gets of the 400-byte budget shared by 101 criteria:"
        " the agent sees only the first 1 byte and '...'",
    )
    assert built.truncations[97:] == tuple(
        warning(("acceptance", i), dropped + " 3 bytes, too few to show any of it")
        for i in range(97, 101)
    )


def test_when_no_criterion_can_be_shown_the_section_is_left_out() -> None:
    built = build_prompt(task(acceptance=["x" * 10] * 200))
    assert "## Acceptance Criteria" not in built.text
    assert len(built.truncations) == 200


# --- files and context lists --------------------------------------------------------------------


def test_ten_files_are_all_listed() -> None:
    files = [f"src/m{i}.py" for i in range(10)]
    built = build_prompt(task(scope={"files_hint": files, "estimated_hours": 1}))
    assert "## Files\n" + "".join(f"- {f}\n" for f in files) + "\n## Instructions" in built.text
    assert built.truncations == ()


def test_more_than_ten_files_end_in_one_line_counting_the_rest() -> None:
    files = [f"src/m{i}.py" for i in range(13)]
    built = build_prompt(task(scope={"files_hint": files, "estimated_hours": 1}))
    listed = "".join(f"- {f}\n" for f in files[:10])
    assert "## Files\n" + listed + "- ... and 3 more files\n\n" in built.text
    assert built.truncations == tuple(
        warning(
            ("scope", "files_hint", i),
            "not sent to the agent: the prompt lists only the first 10 files",
        )
        for i in (10, 11, 12)
    )


def test_one_file_over_the_limit_is_counted_in_the_singular() -> None:
    files = [f"src/m{i}.py" for i in range(11)]
    built = build_prompt(task(scope={"files_hint": files, "estimated_hours": 1}))
    assert "- src/m9.py\n- ... and 1 more file\n" in built.text


def test_file_paths_are_never_cut() -> None:
    path = "src/" + "deep/" * 40 + "module.py"
    built = build_prompt(task(scope={"files_hint": [path], "estimated_hours": 1}))
    assert f"## Files\n- {path}\n" in built.text


def test_only_the_first_five_constraints_are_sent_each_within_100_bytes() -> None:
    constraints = ["c" * 101, "two", "three", "four", "five", "six"]
    built = build_prompt(task(context={"constraints": constraints}))
    assert (
        "## Constraints\n- " + "c" * 97 + "...\n- two\n- three\n- four\n- five\n\n"
    ) in built.text
    assert built.truncations == (
        warning(("context", "constraints", 0), cut(101, 100, 97)),
        warning(
            ("context", "constraints", 5),
            "not sent to the agent: only the first 5 constraints go into the prompt",
        ),
    )


def test_patterns_get_120_bytes_each_and_at_most_five() -> None:
    exact = "src/a.py:1-2 - " + "p" * 105  # 120 bytes
    over = exact + "!"
    built = build_prompt(
        task(context={"patterns": [exact, over, *[f"src/b.py:{i}-9 - x" for i in range(1, 5)]]})
    )
    assert f"## Patterns\n- {exact}\n- {over[:117]}...\n- src/b.py:1-9 - x\n" in built.text
    assert "src/b.py:4-9" not in built.text
    assert [(f.loc, f.message) for f in built.truncations] == [
        (("context", "patterns", 1), cut(121, 120, 117)),
        (
            ("context", "patterns", 5),
            "not sent to the agent: only the first 5 patterns go into the prompt",
        ),
    ]


def test_only_three_gotchas_are_sent() -> None:
    built = build_prompt(task(context={"gotchas": ["g1", "g2", "g3", "g4", "g5"]}))
    assert "## Gotchas\n- g1\n- g2\n- g3\n\n## Instructions" in built.text
    assert [f.loc for f in built.truncations] == [
        ("context", "gotchas", 3),
        ("context", "gotchas", 4),
    ]


def test_every_truncation_is_a_context_truncated_warning() -> None:
    built = build_prompt(
        task(
            title="t" * 200,
            description="d" * 700,
            acceptance=["a" * 500],
            scope={"files_hint": [f"f{i}" for i in range(11)], "estimated_hours": 1},
            context={"constraints": ["c" * 200], "patterns": ["p" * 200], "gotchas": ["g" * 200]},
        )
    )
    assert {f.code for f in built.truncations} == {"context-truncated"}
    assert {f.severity for f in built.truncations} == {"warning"}
    assert "context-truncated" in CODES


# --- settings -----------------------------------------------------------------------------------


def test_settings_change_the_budgets() -> None:
    settings = ContextSettings(title_budget=10, max_files=1)
    built = build_prompt(
        task(title="a longer title", scope={"files_hint": ["a", "b"], "estimated_hours": 1}),
        settings,
    )
    assert built.text.startswith("# Task T001: a longe...\n")
    assert "## Files\n- a\n- ... and 1 more file\n" in built.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title_budget", 3),
        ("acceptance_budget", 0),
        ("gotcha_budget", -1),
        ("max_files", -1),
        ("max_bytes", 0),
        ("max_pasted_lines", 0),
        ("spec_budget", True),
        ("debris_phrases", ("ok", "  ")),
        ("debris_phrases", ["a list"]),
    ],
)
def test_settings_the_builder_cannot_honour_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        ContextSettings(**{field: value})  # type: ignore[arg-type]


def test_settings_may_send_no_items_of_a_list() -> None:
    built = build_prompt(task(context={"gotchas": ["g"]}), ContextSettings(max_gotchas=0))
    assert "## Gotchas" not in built.text
    assert [f.loc for f in built.truncations] == [("context", "gotchas", 0)]
