"""Renderers: the same problems in every format."""

from __future__ import annotations

import json

from multi_agent_coder.problems import CODES, Problem, format_loc
from multi_agent_coder.report import (
    FileReport,
    github_annotation,
    render_json,
    render_markdown,
    render_text,
)

PROBLEM = Problem(
    "BACKLOG.yaml", 12, 5, "unknown-dependency", "unknown task 'T099'", "tasks[3].depends_on[0]"
)
WARNING = Problem(
    "BACKLOG.yaml", 3, 1, "context-truncated", "cut, 60%", "tasks[0].title", "warning"
)


def test_text_lines_are_path_line_col_field_message_code_then_a_summary() -> None:
    out = render_text([FileReport("BACKLOG.yaml", [PROBLEM, WARNING])])
    assert out.splitlines() == [
        "BACKLOG.yaml:12:5: tasks[3].depends_on[0]: unknown task 'T099' [unknown-dependency]",
        "BACKLOG.yaml:3:1: tasks[0].title: warning: cut, 60% [context-truncated]",
        "1 error(s), 1 warning(s) in 1 file",
    ]


def test_a_clean_report_says_so() -> None:
    assert render_text([FileReport("a.yaml", [])]) == "ok: 1 file checked, no problems\n"


def test_json_carries_every_field() -> None:
    document = json.loads(render_json([FileReport("BACKLOG.yaml", [PROBLEM], tasks=4)]))
    assert document["ok"] is False
    assert document["errors"] == 1
    assert document["files"][0]["tasks"] == 4
    assert document["files"][0]["problems"][0] == {
        "path": "BACKLOG.yaml",
        "line": 12,
        "col": 5,
        "code": "unknown-dependency",
        "message": "unknown task 'T099'",
        "field": "tasks[3].depends_on[0]",
        "severity": "error",
    }


def test_github_annotations_escape_properties_and_data() -> None:
    problem = Problem("a,b:c.yaml", 1, 2, "planning-debris", "50% done\nnext", "tasks[0].title")
    assert github_annotation(problem) == (
        "::error file=a%2Cb%3Ac.yaml,line=1,col=2,title=planning-debris::"
        "tasks[0].title: 50%25 done%0Anext"
    )
    assert github_annotation(WARNING).startswith("::warning file=BACKLOG.yaml,line=3,col=1,")


def test_markdown_summary_is_a_table_with_escaped_pipes() -> None:
    problem = Problem("B.yaml", 1, 1, "invalid-value", "a | b", "x")
    out = render_markdown([FileReport("B.yaml", [problem])])
    assert "| `B.yaml:1:1` | `x` | a \\| b | `invalid-value` |" in out


def test_field_paths_read_like_the_yaml() -> None:
    assert format_loc(("tasks", 3, "scope", "files_hint", 0)) == "tasks[3].scope.files_hint[0]"
    assert format_loc(()) == ""


def test_every_code_has_a_meaning() -> None:
    assert all(CODES.values())
    assert all(code == code.lower() and " " not in code for code in CODES)
