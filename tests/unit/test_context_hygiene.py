"""Context hygiene: every finding code, at the loc of the offending item."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multi_agent_coder.backlog.model import Backlog, Task
from multi_agent_coder.context import hygiene
from multi_agent_coder.context.build import ContextSettings, build_prompt
from multi_agent_coder.context.hygiene import check_task, hygiene_check
from multi_agent_coder.problems import CODES, Finding
from tests.support import backlog_dict, task, task_dict

AT = ("tasks", 4)
IDS = frozenset({"T001", "T002", "AUTH-012"})


def check(t: Task, ids: frozenset[str] = IDS, **overrides: Any) -> list[Finding]:
    return check_task(t, AT, ids, ContextSettings(**overrides))


def codes(findings: list[Finding]) -> list[tuple[str, tuple[str | int, ...]]]:
    return [(f.code, f.loc) for f in findings]


def test_a_clean_task_has_no_findings() -> None:
    assert check(task("T001")) == []


# --- planning-debris ----------------------------------------------------------------------------


def test_planning_debris_is_found_whatever_its_case() -> None:
    findings = check(task(description="We tried things. LET ME THINK about it."))
    assert findings == [
        Finding(
            (*AT, "description"),
            "planning-debris",
            'planning debris "let me think": give the agent the decision, not how it was reached',
            needle="let me think",  # the position resolver points at it in the source
        )
    ]


def test_debris_is_reported_at_the_item_that_holds_it() -> None:
    t = task(
        acceptance=["ok", "fine", "On second thought, return 404"],
        context={"gotchas": ["after much discussion we chose X"]},
    )
    assert codes(check(t)) == [
        ("planning-debris", (*AT, "acceptance", 2)),
        ("planning-debris", (*AT, "context", "gotchas", 0)),
    ]


def test_several_phrases_in_one_field_are_one_finding_quoting_each() -> None:
    [finding] = check(task(title="Another possibility: we explored caching"))
    assert finding.loc == (*AT, "title")
    assert finding.message.startswith('planning debris "we explored", "another possibility": ')


def test_a_typographic_apostrophe_does_not_hide_debris() -> None:
    [finding] = check(task(description="Let’s reconsider the cache."))
    assert '"let\'s reconsider"' in finding.message


def test_debris_phrases_come_from_the_settings() -> None:
    t = task(description="TODO: decide later. We explored nothing.")
    assert codes(check(t, debris_phrases=("todo:",))) == [("planning-debris", (*AT, "description"))]
    assert check(t, debris_phrases=()) == []


def test_a_phrase_split_across_two_fields_is_not_debris() -> None:
    assert check(task(title="all we", description="explored is fine")) == []


# --- cross-task-reference -----------------------------------------------------------------------


def test_naming_another_task_of_the_backlog_is_a_cross_task_reference() -> None:
    findings = check(task("T001", description="Reuse the parser from T002."))
    assert findings == [
        Finding(
            (*AT, "description"),
            "cross-task-reference",
            "names another task of this backlog (T002): the agent sees only this task,"
            " so state what it needs instead",
            needle="T002",
        )
    ]


def test_the_tasks_own_id_is_not_a_reference() -> None:
    assert check(task("T001", title="T001: parser", description="T001 does it")) == []


def test_id_shaped_words_that_name_no_task_are_fine() -> None:
    t = task("T001", description="Decode UTF-16 and SHA256 digests; see RFC-7231 and T999.")
    assert check(t) == []


def test_several_ids_in_one_field_are_one_finding_in_order_of_appearance() -> None:
    [finding] = check(task("T001", title="After AUTH-012 and T002 (and T002 again)"))
    assert finding.message.startswith("names other tasks of this backlog (AUTH-012, T002): ")


def test_ids_inside_longer_words_are_not_references() -> None:
    assert check(task("T001", description="XT002 T002X T002_1 T0021 -T002")) == []


def test_references_are_found_in_files_and_context_items() -> None:
    t = task(
        "T001",
        scope={"files_hint": ["src/a.py", "specs/T002.md"], "estimated_hours": 1},
        context={"constraints": ["as in AUTH-012"]},
    )
    assert codes(check(t)) == [
        ("cross-task-reference", (*AT, "scope", "files_hint", 1)),
        ("cross-task-reference", (*AT, "context", "constraints", 0)),
    ]


# --- full-file-paste ----------------------------------------------------------------------------


def pasted(marker: str, lines: int) -> str:
    return "Context:\n" + marker + "\n" + "".join(f"line {i}\n" for i in range(lines))


def fenced(fence: str, lines: int, *, closed: bool = True) -> str:
    body = "".join(f"code {i}\n" for i in range(lines))
    return "See:\n" + fence + "python\n" + body + (fence + "\nafter\n" if closed else "")


@pytest.mark.parametrize(
    "marker", ["// File: src/a.py", "# File: src/a.py", "# file: a.py", "  //FILE: a.py"]
)
def test_more_than_50_lines_under_a_file_marker_is_a_pasted_file(marker: str) -> None:
    assert check(task(description=pasted(marker, 51))) == [
        Finding(
            (*AT, "description"),
            "full-file-paste",
            f"51 lines under the file marker {marker.strip()!r} (from line 2 of the text): more"
            " than 50 lines is a pasted whole file; give its path and a line range instead",
        )
    ]


def test_50_lines_under_a_file_marker_are_fine() -> None:
    assert check(task(description=pasted("// File: a.py", 50))) == []


def test_trailing_blank_lines_do_not_count_toward_a_marker_block() -> None:
    text = pasted("// File: a.py", 50) + "\n\n\n"
    assert "full-file-paste" not in {f.code for f in check(task(description=text))}


def test_a_marker_block_ends_at_the_next_marker() -> None:
    text = pasted("// File: a.py", 30) + pasted("// File: b.py", 30)
    assert "full-file-paste" not in {f.code for f in check(task(description=text))}


def test_a_marker_inside_a_fence_ends_with_the_fence() -> None:
    text = "```\n// File: a.py\n" + "x\n" * 30 + "```\n" + "prose\n" * 30
    assert "full-file-paste" not in {f.code for f in check(task(description=text))}


@pytest.mark.parametrize("fence", ["```", "~~~", "````"])
def test_more_than_50_lines_in_one_fenced_block_is_a_pasted_file(fence: str) -> None:
    [finding] = check(task(description=fenced(fence, 51)))
    assert finding.loc == (*AT, "description")
    assert finding.message == (
        "a fenced code block of 51 lines (from line 2 of the text): more than 50 lines is a"
        " pasted whole file; give its path and a line range instead"
    )


def test_50_lines_in_a_fenced_block_are_fine() -> None:
    assert check(task(description=fenced("```", 50))) == []


def test_an_unclosed_fence_runs_to_the_end_of_the_text() -> None:
    text = fenced("```", 51, closed=False)
    assert "full-file-paste" in {f.code for f in check(task(description=text))}


def test_a_shorter_fence_does_not_close_a_longer_one() -> None:
    text = "````\n" + "x\n" * 30 + "```\n" + "y\n" * 30 + "````\n"
    assert "full-file-paste" in {f.code for f in check(task(description=text))}


def test_pastes_are_found_in_acceptance_and_context_items() -> None:
    t = task(acceptance=["ok", fenced("```", 60)], context={"gotchas": [pasted("# File: x", 60)]})
    assert codes([f for f in check(t) if f.code == "full-file-paste"]) == [
        ("full-file-paste", (*AT, "acceptance", 1)),
        ("full-file-paste", (*AT, "context", "gotchas", 0)),
    ]


def test_the_pasted_line_limit_comes_from_the_settings() -> None:
    text = pasted("// File: a.py", 11)
    assert "full-file-paste" in {f.code for f in check(task(description=text), max_pasted_lines=10)}
    assert "full-file-paste" not in {
        f.code for f in check(task(description=text), max_pasted_lines=11)
    }


# --- invalid-pattern ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "src/a.py:45-78 - the retry loop",
        "src/a.py:45-78-the retry loop",
        "src/a.py:7-7 - one line",
        "  lib/b-c_d.ts:1-200  -  spaced out  ",
    ],
)
def test_well_formed_patterns_pass(pattern: str) -> None:
    assert check(task(context={"patterns": [pattern]})) == []


@pytest.mark.parametrize(
    "pattern",
    [
        "src/a.py - the retry loop",
        "src/a.py:45 - one number",
        "src/a.py:45-78",
        "src/a.py:45-78 - ",
        "src/a.py:٤٥-78 - arabic-indic digits",
        "see src/a.py:45-78 - prose first",
        "src/a.py:45-78 - two\nlines",
    ],
)
def test_malformed_patterns_are_invalid(pattern: str) -> None:
    [finding] = check(task(context={"patterns": ["src/ok.py:1-2 - fine", pattern]}))
    assert finding.code == "invalid-pattern"
    assert finding.loc == (*AT, "context", "patterns", 1)
    assert finding.message == (
        f"pattern {pattern.strip()!r} is not in the form 'path:45-78 - description'"
    )


def test_a_backwards_line_range_is_an_invalid_pattern() -> None:
    [finding] = check(task(context={"patterns": ["src/a.py:78-45 - loop"]}))
    assert finding == Finding(
        (*AT, "context", "patterns", 0),
        "invalid-pattern",
        "pattern 'src/a.py:78-45 - loop': the line range runs backwards; write first-last",
    )


def test_line_zero_is_an_invalid_pattern() -> None:
    [finding] = check(task(context={"patterns": ["src/a.py:0-5 - header"]}))
    assert finding.message == "pattern 'src/a.py:0-5 - header': lines are numbered from 1"


def test_invalid_patterns_are_found_next_to_other_findings_in_the_same_item() -> None:
    t = task("T001", context={"patterns": ["see T002, we explored it"]})
    assert [f.code for f in check(t)] == [
        "planning-debris",
        "cross-task-reference",
        "invalid-pattern",
    ]


# --- context-too-large --------------------------------------------------------------------------


def test_a_prompt_over_the_byte_limit_is_too_large_and_names_the_biggest_parts() -> None:
    files = [f"src/{'deep/' * 50}m{i}.py" for i in range(10)]  # paths are never cut
    t = task(scope={"files_hint": files, "estimated_hours": 1})
    built = build_prompt(t)
    assert built.size > 3000
    [finding] = check(t)
    assert finding == Finding(
        AT,
        "context-too-large",
        f"the prompt built for this task is {built.size} bytes, over the 3000-byte limit;"
        " shorten the biggest parts: scope.files_hint (2628 bytes), description (78 bytes),"
        " acceptance (39 bytes)",
    )


def test_a_prompt_exactly_at_the_limit_is_fine_and_one_byte_over_is_not() -> None:
    t = task()
    size = build_prompt(t).size
    assert check(t, max_bytes=size) == []
    assert codes(check(t, max_bytes=size - 1)) == [("context-too-large", AT)]


# --- context-truncated --------------------------------------------------------------------------


def test_truncation_warnings_of_the_compressor_are_reported_at_absolute_locs() -> None:
    t = task(title="x" * 101, acceptance=["a" * 500])
    assert [(f.code, f.loc, f.severity) for f in check(t)] == [
        ("context-truncated", (*AT, "title"), "warning"),
        ("context-truncated", (*AT, "acceptance", 0), "warning"),
    ]


# --- order and the whole backlog ----------------------------------------------------------------


def test_findings_are_field_errors_in_field_order_then_size_then_warnings() -> None:
    t = task(
        "T001",
        title="Let me think " + "x" * 100,
        description="Like T002",
        acceptance=["on second thought"],
        context={"patterns": ["nope"]},
    )
    assert codes(check(t, max_bytes=500)) == [
        ("planning-debris", (*AT, "title")),
        ("cross-task-reference", (*AT, "description")),
        ("planning-debris", (*AT, "acceptance", 0)),
        ("invalid-pattern", (*AT, "context", "patterns", 0)),
        ("context-too-large", AT),
        ("context-truncated", (*AT, "title")),
    ]


def test_every_code_is_known_and_only_truncation_is_a_warning() -> None:
    t = task(
        "T001",
        title="let me think T002 " + "x" * 100,
        description=pasted("# File: a", 60),
        context={"patterns": ["nope"]},
    )
    findings = check(t, max_bytes=100)
    assert {f.code for f in findings} == {
        "planning-debris",
        "cross-task-reference",
        "full-file-paste",
        "invalid-pattern",
        "context-too-large",
        "context-truncated",
    }
    assert all(f.code in CODES for f in findings)
    assert all((f.severity == "warning") == (f.code == "context-truncated") for f in findings)


def backlog(*tasks: dict[str, Any]) -> Backlog:
    return Backlog.model_validate(backlog_dict(*tasks))


def check_backlog(b: Backlog, settings: ContextSettings | None = None) -> list[Finding]:
    """Hygiene of a whole backlog, the way the loader runs it."""
    check = hygiene_check(settings) if settings is not None else hygiene_check()
    return check(list(enumerate(b.tasks)), [t.id for t in b.tasks])


def test_check_backlog_checks_every_task_in_file_order_against_the_other_ids() -> None:
    b = backlog(
        task_dict("T001", description="Needs T002 first."),
        task_dict("T002", description="Standalone; T009 is no task of this backlog."),
        task_dict("T003", description="Uses T001 and let me think."),
    )
    assert codes(check_backlog(b)) == [
        ("cross-task-reference", ("tasks", 0, "description")),
        ("planning-debris", ("tasks", 2, "description")),
        ("cross-task-reference", ("tasks", 2, "description")),
    ]


def test_check_backlog_passes_its_settings_on() -> None:
    b = backlog(task_dict("T001", title="x" * 20))
    [finding] = check_backlog(b, ContextSettings(title_budget=10))
    assert finding.loc == ("tasks", 0, "title")


def test_as_a_loader_check_it_uses_file_positions_and_every_readable_id() -> None:
    check_entries = hygiene_check(ContextSettings(title_budget=10))
    entries = [(0, task("T001", title="see T003")), (2, task("T002", title="x" * 20))]
    assert codes(check_entries(entries, ["T001", "T002", "T003"])) == [
        ("cross-task-reference", ("tasks", 0, "title")),
        ("context-truncated", ("tasks", 2, "title")),
    ]


# --- the fast path hides nothing ----------------------------------------------------------------

FRAGMENTS = ["plain words", "We Explored", "T002", "T001", "UTF-16", "\n", "// File: a\n", "```\n"]
field_text = st.lists(st.sampled_from(FRAGMENTS), max_size=12).map(" ".join).filter(str.strip)


@settings(max_examples=150, deadline=None)
@given(
    title=field_text,
    description=field_text,
    acceptance=st.lists(field_text, min_size=1, max_size=3),
    gotchas=st.lists(field_text, max_size=2),
)
def test_the_one_pass_scan_never_hides_a_finding(
    title: str, description: str, acceptance: list[str], gotchas: list[str]
) -> None:
    t = task(
        "T001",
        title=title,
        description=description,
        acceptance=acceptance,
        context={"gotchas": gotchas},
    )
    fast = check(t, max_pasted_lines=2)
    original = hygiene._may_be_dirty
    try:
        hygiene._may_be_dirty = lambda *args: True
        slow = check(t, max_pasted_lines=2)
    finally:
        hygiene._may_be_dirty = original
    assert fast == slow


def test_the_size_shortcut_never_hides_a_finding() -> None:
    """Whatever the shortcut skips, building the prompt would have found nothing either."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from multi_agent_coder.context import hygiene
    from multi_agent_coder.context.build import DEFAULT_SETTINGS, build_prompt
    from tests.support import task

    text = st.text(st.sampled_from("ab é\n漢"), min_size=1, max_size=160).filter(str.strip)

    @settings(max_examples=300, deadline=None)
    @given(
        title=text,
        description=st.text(st.sampled_from("ab é\n漢"), min_size=1, max_size=700).filter(
            str.strip
        ),
        acceptance=st.lists(text, min_size=1, max_size=6),
        constraints=st.lists(text, max_size=7),
    )
    def check(title: str, description: str, acceptance: list[str], constraints: list[str]) -> None:
        t = task(
            "T001",
            title=title,
            description=description,
            acceptance=acceptance,
            context={"constraints": constraints},
        )
        texts = hygiene._texts(t)
        joined = hygiene._SEPARATOR.join(texts)
        if hygiene._surely_fits(t, joined, len(texts), DEFAULT_SETTINGS):
            built = build_prompt(t, DEFAULT_SETTINGS)
            assert built.truncations == ()
            assert built.size <= DEFAULT_SETTINGS.max_bytes

    check()
