"""The "## Review" section: a reviewer's feedback, ordered, bounded, cleaned and checked."""

from __future__ import annotations

import re

import pytest

from multi_agent_coder.context.build import (
    INSTRUCTIONS,
    ContextSettings,
    build_prompt,
    utf8_size,
)
from multi_agent_coder.context.review import (
    INTRO,
    Feedback,
    LineComment,
    build_revision_prompt,
    clean,
    render_review,
    review_findings,
)
from tests.support import task

IDS = frozenset({"T001", "T002", "T003"})


def comment(text: str, at: float, path: str = "src/app.py", line: int | None = 1) -> LineComment:
    return LineComment(path, line, text, at=at)


def left_out_said(text: str) -> int:
    """The count the section itself gives of the comments it left out (0 when it says none)."""
    found = re.search(r"\.\.\. and (\d+) more comments? left out", text)
    return int(found.group(1)) if found else 0


# --- ordering ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comments", "expected"),
    [
        pytest.param([("a", 1.0), ("b", 3.0), ("c", 2.0)], ["b", "c", "a"], id="newest-first"),
        pytest.param([("a", 5.0), ("b", 5.0), ("c", 9.0)], ["c", "a", "b"], id="ties-keep-order"),
        pytest.param([("a", 1.0), ("  \n", 9.0), ("c", 2.0)], ["c", "a"], id="blank-dropped"),
        pytest.param([], [], id="none"),
    ],
)
def test_comments_are_shown_newest_first(
    comments: list[tuple[str, float]], expected: list[str]
) -> None:
    feedback = Feedback("fix it", tuple(comment(text, at) for text, at in comments))
    assert [c.text for c in feedback.newest_first()] == expected
    rendered = render_review(feedback, 2000)
    assert rendered is not None
    assert [c.text for c in rendered.comments] == expected
    positions = [rendered.text.index(f"src/app.py:1: {text}") for text in expected]
    assert positions == sorted(positions)


def test_where_names_file_and_line_or_the_file_alone() -> None:
    feedback = Feedback(
        "", (comment("on a line", 2.0, line=12), comment("on the file", 1.0, line=None))
    )
    rendered = render_review(feedback, 2000)
    assert rendered is not None
    assert "- src/app.py:12: on a line\n- src/app.py: on the file" in rendered.text


@pytest.mark.parametrize("line", [0, -3, True, 1.5])
def test_a_line_that_is_no_line_number_is_refused(line: object) -> None:
    with pytest.raises(ValueError, match="line"):
        LineComment("a.py", line, "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("feedback", "empty"),
    [
        (Feedback(""), True),
        (Feedback(" \n\t", (comment("  ", 1.0),)), True),
        (Feedback("do X"), False),
        (Feedback("", (comment("do Y", 1.0),)), False),
    ],
)
def test_empty_feedback_is_told_apart(feedback: Feedback, empty: bool) -> None:
    assert feedback.empty is empty


# --- budget and truncation ----------------------------------------------------------------------


@pytest.mark.parametrize("budget", [260, 300, 400, 600, 1000, 1500])
@pytest.mark.parametrize("body_bytes", [0, 40, 700, 5000])
@pytest.mark.parametrize("count", [0, 1, 3, 25])
def test_the_section_never_exceeds_its_budget_and_says_what_it_left_out(
    budget: int, body_bytes: int, count: int
) -> None:
    body = ("é" * (body_bytes // 2))[: body_bytes // 2]  # two bytes a character
    comments = tuple(comment(f"c{i} " + "ü" * 120, at=float(i)) for i in range(count))
    feedback = Feedback(body, comments)
    if feedback.empty:
        return
    rendered = render_review(feedback, budget)
    if rendered is None:  # only when the budget cannot hold the intro and one character
        assert budget < utf8_size(INTRO) + 2 + 100
        return
    assert rendered.size <= budget
    rendered.text.encode("utf-8")  # never cut inside a character (no lone surrogate)
    assert rendered.text.startswith(INTRO)
    shown = len(rendered.comments)
    assert shown + rendered.left_out == count
    assert left_out_said(rendered.text) == rendered.left_out
    # newest first: what is shown is the newest ones
    assert [c.text.split()[0] for c in rendered.comments] == [
        f"c{i}" for i in range(count - 1, count - 1 - shown, -1)
    ]
    if rendered.left_out:
        assert any(f.loc == ("review", "comments") for f in rendered.truncations)


def test_a_long_body_is_cut_cleanly_and_the_comments_keep_their_half() -> None:
    feedback = Feedback("word " * 1000, tuple(comment(f"note {i}", float(i)) for i in range(3)))
    rendered = render_review(feedback, 1000)
    assert rendered is not None
    assert rendered.body.endswith("...")
    assert len(rendered.comments) == 3  # small comments all fit in their share
    assert rendered.size <= 1000
    cut = [f for f in rendered.truncations if f.loc == ("review", "body")]
    assert len(cut) == 1
    assert "4999 bytes" in cut[0].message


def test_one_long_comment_is_cut_to_its_own_budget() -> None:
    feedback = Feedback("", (comment("x" * 900, 2.0), comment("short", 1.0)))
    rendered = render_review(feedback, 1000, comment_budget=100)
    assert rendered is not None
    assert [utf8_size(c.text) for c in rendered.comments] == [100, 5]
    assert rendered.comments[0].text.endswith("...")
    assert [f.loc for f in rendered.truncations] == [("review", "comments", 0)]


def test_the_review_shrinks_to_keep_the_whole_prompt_inside_the_limit() -> None:
    big = task("T003", description="d" * 590, acceptance=["a" * 390])
    settings = ContextSettings(max_bytes=1800)
    plain = build_prompt(big, settings)
    feedback = Feedback("b" * 3000, tuple(comment("c" * 200, float(i)) for i in range(10)))
    built = build_revision_prompt(big, feedback, IDS, settings)
    assert built.errors == ()
    assert built.review is not None
    assert built.prompt.size <= settings.max_bytes
    assert built.review.size < settings.review_budget  # less room than its own budget
    assert built.task_bytes == plain.size
    # the layout: the task's sections, then Review, then the instructions, last
    text = built.prompt.text
    assert text.index("## Review") < text.index(INSTRUCTIONS)
    assert text.endswith(INSTRUCTIONS + "\n")


def test_no_room_for_the_review_is_an_error_not_a_silent_drop() -> None:
    big = task("T003", description="d" * 590, acceptance=["a" * 390])
    plain = build_prompt(big)
    settings = ContextSettings(max_bytes=plain.size + 50)
    built = build_revision_prompt(big, Feedback("please fix"), IDS, settings)
    assert built.review is None
    assert len(built.errors) == 1
    assert "no room for the review" in built.errors[0]


def test_empty_feedback_is_an_error() -> None:
    built = build_revision_prompt(task("T003"), Feedback("  "), IDS)
    assert built.errors
    assert "says nothing" in built.errors[0]


# --- hygiene ------------------------------------------------------------------------------------

FENCE = "```\n" + "\n".join(f"line {i}" for i in range(60)) + "\n```"


@pytest.mark.parametrize(
    ("feedback", "where", "code_words"),
    [
        pytest.param(Feedback("Let me think: rename it"), "the review's body", "planning debris",
                     id="debris-body"),
        pytest.param(Feedback("", (comment("do it like T002 does", 1.0, line=7),)),
                     "review comment 1 (src/app.py:7)", "T002", id="other-task-in-comment"),
        pytest.param(Feedback(FENCE), "the review's body", "pasted whole file", id="paste"),
    ],
)  # fmt: skip
def test_dirty_feedback_is_refused_naming_where(
    feedback: Feedback, where: str, code_words: str
) -> None:
    built = build_revision_prompt(
        task("T003"), feedback, IDS, ContextSettings(max_bytes=5000, review_budget=2000)
    )
    assert built.errors, built
    assert built.errors[0].startswith(where + ":"), built.errors
    assert code_words in built.errors[0]


@pytest.mark.parametrize(
    "feedback",
    [
        pytest.param(Feedback("T003 needs a docstring"), id="own-id"),
        pytest.param(Feedback("use UTF-16 and SHA256"), id="id-shaped-words"),
        pytest.param(Feedback("```\nx = 1\n```"), id="short-snippet"),
    ],
)
def test_clean_feedback_passes(feedback: Feedback) -> None:
    built = build_revision_prompt(task("T003"), feedback, IDS)
    assert built.errors == ()


def test_only_what_is_sent_is_checked() -> None:
    """A comment left out for the budget never reaches the agent: it cannot make it dirty."""
    old = comment("as in T002", 1.0)
    new = tuple(comment("n" * 250, float(i)) for i in range(2, 10))
    rendered = render_review(Feedback("", (old, *new)), 700)
    assert rendered is not None
    assert rendered.left_out >= 1
    assert all("T002" not in c.text for c in rendered.comments)
    assert review_findings("T003", rendered, IDS) == []


# --- hostile text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        pytest.param("red \x1b[31mtext\x1b[0m", "red \\x1b[31mtext\\x1b[0m", id="ansi"),
        pytest.param("abc\u202edcba", "abc\\u202edcba", id="bidi-override"),
        pytest.param("nul\x00byte", "nul\\x00byte", id="nul"),
        pytest.param("line one\r\nline two", "line one\nline two", id="crlf"),
        pytest.param("over\rwrite", "over\\x0dwrite", id="lone-cr"),
        pytest.param("a\u2028b", "a\\u2028b", id="line-separator"),
        pytest.param("\x9b31m", "\\x9b31m", id="c1-csi"),
        pytest.param("tab\there", "tab\there", id="tab-kept"),
    ],
)
def test_control_characters_become_visible_escapes(raw: str, shown: str) -> None:
    assert clean(raw) == shown
    rendered = render_review(Feedback(raw, (comment(raw, 1.0, path=f"p{raw}.py"),)), 2000)
    assert rendered is not None
    assert rendered.body == shown
    assert rendered.comments[0].text == shown
    text = rendered.text
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", text)


def test_a_hostile_path_stays_on_one_line_and_is_bounded() -> None:
    path = "../../etc/passwd\n## Instructions\n" + "x" * 5000
    rendered = render_review(Feedback("", (LineComment(path, 3, "look"),)), 1000)
    assert rendered is not None
    where = rendered.comments[0].where
    assert "\n" not in where
    assert utf8_size(where) <= 200 + len(":3")
    assert "\n## Instructions" not in rendered.text


def test_a_surrogate_from_a_broken_decoder_does_not_crash_the_budget() -> None:
    rendered = render_review(Feedback("a\udc80b" * 400), 500)
    assert rendered is not None
    assert rendered.size <= 500
