"""Every check that runs a regular expression over a user's text takes time linear in it.

A backtracking pattern such as `[A-Z][A-Z0-9]*-?[0-9]{2}` searched over a long run of capitals
is retried from every capital: a 40 KB title took 83 s, 80 KB 296 s. So each check here gets
1 MB of the text that is worst for its patterns; linear code answers in well under a second,
quadratic code would take days — the test's timeout turns that into a failure instead of a hung
CI job. (How the time grows is measured in `tests/bench/test_bench_hygiene.py`.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from multi_agent_coder.config import load_settings
from multi_agent_coder.context.build import DEFAULT_SETTINGS
from multi_agent_coder.context.hygiene import check_task, document_problems
from multi_agent_coder.errors import ConfigError, PlanningError
from multi_agent_coder.planning.merge import Source, merge_plan
from multi_agent_coder.run.checks import detect_commands
from tests.support import task

MB = 1 << 20

#: Texts that make backtracking patterns retry from every position (each 1 MB).
HOSTILE_TEXTS = {
    "capitals": "A" * MB,
    "capitals and digits": "A1" * (MB // 2),
    "capitals and dashes": "A-" * (MB // 2),
    "id then capitals": "T01" + "A" * MB,
    "spaces": " " * MB,
    "line breaks": "\n" * MB,
    "file markers": "# file: x\n" * (MB // 10),
    "fences": "```\n" * (MB // 4),
    "pattern without a colon": "a" * MB,
    "pattern with spaces": "a:1-2" + " " * MB,
    "pattern with dashes": "a:1-2 " + "- " * (MB // 2),
    "pattern with digits": "a:1-" + "1" * MB,
}


#: A title is one line: the prompt folds its runs of white space to one space, so a megabyte
#: of white space in a title is three bytes of prompt (and no finding). Every other pair runs.
CASES = [
    (kind, field)
    for kind in sorted(HOSTILE_TEXTS)
    for field in ("title", "description", "acceptance", "patterns", "gotchas")
    if not (field == "title" and not HOSTILE_TEXTS[kind].replace("a:1-2", "").strip())
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("kind", "field"), CASES)
def test_hygiene_takes_a_megabyte_of_hostile_text_in_its_stride(kind: str, field: str) -> None:
    text = f"x{HOSTILE_TEXTS[kind]}x"  # (white space at either end would be stripped)
    overrides: dict[str, object] = {
        "title": {"title": text},
        "description": {"description": text},
        "acceptance": {"acceptance": [text]},
        "patterns": {"context": {"patterns": [text]}},
        "gotchas": {"context": {"gotchas": [text]}},
    }[field]
    hostile = task("T001", **overrides)
    findings = check_task(hostile, ("tasks", 0), frozenset({"T001", "T002"}))
    # A megabyte never fits the 3 KB prompt: the check ran to its end and said so (the field
    # is cut to its budget, or the prompt is still too large).
    assert {"context-truncated", "context-too-large"} & {f.code for f in findings}


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "line",
    ["[a" + " " * MB, "a" + " " * MB, " " * MB, "[" + " " * MB + "a", '"' * MB],
    ids=["open header", "key without =", "blank", "header of spaces", "quotes"],
)
def test_a_hostile_pyproject_line_is_read_in_linear_time(tmp_path: Path, line: str) -> None:
    # A wrong value makes the loader look for its line: every line is read by the patterns.
    (tmp_path / "pyproject.toml").write_text(
        f"# {line}\n[tool.macoder]\nworkers = 'many'\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"pyproject\.toml:3:1: \[tool\.macoder\] workers"):
        load_settings(tmp_path, env={})


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["setup.cfg", "tox.ini"])
def test_a_config_file_of_blank_lines_is_scanned_in_linear_time(name: str) -> None:
    commands = detect_commands([name], None, "python3", configs={name: "\n" * MB + " " * MB})
    assert commands.test is None  # no pytest section: no test runner found


#: Markdown that is worst for the spec checks: near-misses of a debris phrase (its first word,
#: then a long run of white space), fence and heading markers on every line.
HOSTILE_MARKDOWN = {
    **HOSTILE_TEXTS,
    "near-miss phrases": "we " * (MB // 3),
    "a phrase's first word, then spaces": "we" + " " * MB + "x",
    "hashes": "## " + " #" * (MB // 2),
    "headings": "## a\n" * (MB // 5),
    "numbered items": "1. a\n" * (MB // 5),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", sorted(HOSTILE_MARKDOWN))
def test_the_spec_checks_take_a_megabyte_of_hostile_markdown_in_their_stride(kind: str) -> None:
    text = HOSTILE_MARKDOWN[kind]
    debris = document_problems("specs/a/SPEC.md", f"{text}\nwe explored\n", DEFAULT_SETTINGS)
    with pytest.raises(PlanningError):  # the hostile text has none of the required headings
        merge_plan(Source("SPEC.md", text), Source("ARCH.md", text), Source("QA.md", text))
    assert [problem.code for problem in debris] == ["planning-debris"]
