"""Plan to tasks, the pure part: the prompts, reading the answer, new ids, the checks."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from multi_agent_coder.backlog.rules import check_rules
from multi_agent_coder.context.build import ContextSettings
from multi_agent_coder.context.hygiene import hygiene_check
from multi_agent_coder.errors import FixBacklogFirstError, UsageError
from multi_agent_coder.planning import generate as g
from tests.support import backlog_yaml, task_dict

CHECKS = (check_rules, hygiene_check())
PLAN = "# Plan: subtraction\n\nAdd sub(a, b) and neg(a) to calc.\n"


def base_of(*tasks: dict[str, Any], text: str | None = None, checks: Any = CHECKS) -> g.Base:
    raw = (text if text is not None else backlog_yaml(*tasks)).encode()
    return g.read_base(raw, "BACKLOG.yaml", checks)


def three() -> g.Base:
    return base_of(task_dict("T001"), task_dict("T002"), task_dict("T003", status="completed"))


def source(base: g.Base, settings: ContextSettings | None = None) -> g.PlanInput:
    return g.PlanInput(
        "calc",
        "specs/calc/PLAN.md",
        PLAN,
        base,
        settings or ContextSettings(),
        base.new_ids(1)[0],
    )


def new(task_id: str = "N1", **fields: Any) -> dict[str, Any]:
    """A task as a model would answer it (no status, no attempts)."""
    data: dict[str, Any] = {
        "id": task_id,
        "title": f"Add the part {task_id}",
        "description": "Add calc/sub.py with sub(a, b) returning a - b.",
        "depends_on": [],
        "acceptance": ["sub(5, 3) == 2"],
        "scope": {"files_hint": ["calc/sub.py"], "estimated_hours": 1.0},
    }
    data.update(fields)
    return data


def answer(*tasks: dict[str, Any], prose: bool = True) -> str:
    body = yaml.safe_dump(list(tasks), sort_keys=False)
    return f"I read the code.\n\n```yaml\n{body}```\n\nDone.\n" if prose else body


def line_of(verdict: g.Verdict, number: int) -> str:
    assert verdict.appended is not None
    return verdict.appended.text.splitlines()[number - 1]


# --- the prompt ----------------------------------------------------------------------------------


def test_the_prompt_says_the_plan_the_task_shape_the_limits_and_what_to_answer() -> None:
    settings = ContextSettings(max_bytes=2500, spec_budget=500, debris_phrases=("zebra think",))
    prompt = g.generation_prompt(source(three(), settings))

    assert prompt.startswith("# Generate: calc\n")
    assert "## The plan (specs/calc/PLAN.md)\n# Plan: subtraction\n\nAdd sub(a, b)" in prompt
    assert "\n- id: T004\n" in prompt
    for key in ("title:", "description:", "status: pending", "depends_on: [T003]", "acceptance:"):
        assert f"\n  {key}" in prompt
    for key in ("files_hint:", "estimated_hours:", "constraints:", "patterns:", "gotchas:"):
        assert f"\n    {key}" in prompt
    # the limits are the configured ones
    assert "at most 2500 bytes" in prompt
    assert "description: at most 500 bytes" in prompt
    assert '"zebra think"' in prompt
    assert '"let me think"' not in prompt
    assert "at most 1000; split bigger work" in prompt
    assert "No task id in any text" in prompt
    assert "more than 50 lines in one code block" in prompt
    # the tasks a new one may depend on, and where the numbering goes on
    assert "- T001 (pending): Do the thing T001\n" in prompt
    assert "- T003 (completed): Do the thing T003\n" in prompt
    assert "Number the new tasks from T004 on." in prompt
    assert prompt.rstrip().endswith("in one ```yaml fence or bare.")


def test_an_empty_backlog_is_numbered_from_t001_and_a_long_one_lists_its_newest_tasks() -> None:
    empty = g.generation_prompt(source(base_of()))
    assert "has no task yet" in empty
    assert "Number them from T001." in empty

    many = base_of(*(task_dict(f"T{n:03d}", acceptance=[f"case {n}"]) for n in range(1, 251)))
    prompt = g.generation_prompt(source(many))
    assert "- ... 50 older tasks, T001 and on\n- T051 (pending)" in prompt
    assert "- T250 (pending)" in prompt
    assert "- T050 (pending)" not in prompt
    assert "from T251 on" in prompt


def test_the_track_is_the_plans_directory_or_the_backlogs_track_id() -> None:
    assert g.track_of("specs/auth-v1/PLAN.md", "todo") == "auth-v1"
    assert g.track_of("PLAN.md", "todo-cli") == "todo-cli"
    assert g.track_of("./PLAN.md", "todo cli") == "todo-cli"
    assert g.track_of("specs/my feature: v2/PLAN.md", "x") == "my-feature-v2"
    assert g.header("auth") == "# Generate: auth"
    assert g.header("auth", 1, 2) == "# Generate: auth (repair 1 of 2)"


# --- reading the answer ---------------------------------------------------------------------------


def test_the_last_yaml_fence_is_the_answer_and_its_lines_are_counted() -> None:
    text = (
        "Let me look.\n```python\nprint('x')\n```\n"
        "```yaml\n- id: OLD\n```\nFinal:\n```yml\n- id: N1\n  title: x\n```\nbye\n"
    )
    assert g.extract_yaml(text) == ("- id: N1\n  title: x", 9)
    assert g.extract_yaml("- id: N1\n") == ("- id: N1\n", 0)
    # a fence indented like a YAML text's content is part of that text, not a fence
    bare = "- id: N1\n  description: |\n      ```yaml\n      code\n      ```\n"
    assert g.extract_yaml(bare) == (bare, 0)
    # an unclosed fence runs to the end (an answer cut short)
    assert g.extract_yaml("```yaml\n- id: N1\n") == ("- id: N1\n", 1)


def test_answer_problems_point_at_the_answers_own_lines() -> None:
    broken = g.parse_answer("Here they are:\n```yaml\n- id: N1\n  title: [unclosed\n```\n")
    assert broken.items == []
    [problem] = broken.problems
    assert (problem.path, problem.code) == ("answer", "yaml-syntax")
    assert problem.line == 5  # the answer's line 5, the fence's closing line
    assert problem.render().startswith("answer:5:")

    [mapping] = g.parse_answer("id: N1\ntitle: x\n").problems
    assert (mapping.code, mapping.message) == (
        "wrong-type",
        "the answer must be a YAML list of tasks ('- id: ...'), not a mapping",
    )
    [empty] = g.parse_answer("```yaml\n[]\n```").problems
    assert (empty.line, empty.code) == (2, "invalid-value")
    [big] = g.parse_answer("- x\n" * 100, max_bytes=100).problems
    assert "400 bytes, over the 100-byte limit" in big.message
    # the backlog's own shape is taken for its list
    assert g.parse_answer("tasks:\n  - id: N1\n").items == [{"id": "N1"}]


# --- new ids --------------------------------------------------------------------------------------


def test_new_ids_continue_the_numbering_in_the_backlogs_format() -> None:
    assert g.new_ids(["T001", "T007", "T003"], "", 2) == ["T008", "T009"]
    assert g.new_ids(["T001", "AUTH-012"], "", 1) == ["AUTH-013"]
    assert g.new_ids(["T0099"], "", 1) == ["T0100"]
    assert g.new_ids([], "", 2) == ["T001", "T002"]
    assert g.new_ids(["T99"], "", 1) == ["T100"]


def test_new_ids_skip_ids_the_file_already_uses_or_names() -> None:
    text = "# T004 was dropped; see also T05\ntasks: []\n"
    assert g.new_ids(["T001", "T003"], text, 3) == ["T006", "T007", "T008"]
    assert g.new_ids(["AUTH-012", "T0013"], "", 1) == ["T0014"]
    with pytest.raises(UsageError, match="no task id is left after T99999"):
        g.new_ids(["T99999"], "", 1)


# --- renumbering ----------------------------------------------------------------------------------


def test_dependencies_among_new_tasks_follow_the_renumbering_and_existing_ones_stay() -> None:
    items = [new("N1", depends_on=["T002"]), new("N2", depends_on=["N1", "T001"])]
    result = g.renumber(items, ["T004", "T005"], {"T001", "T002", "T003"}, attempts=False)

    assert [t["id"] for t in result.tasks] == ["T004", "T005"]
    assert [t["depends_on"] for t in result.tasks] == [["T002"], ["T004", "T001"]]
    assert result.renamed == {"N1": "T004", "N2": "T005"}
    assert result.findings == []


def test_an_unknown_or_ambiguous_dependency_is_a_finding_at_its_entry() -> None:
    items = [
        new("N1", depends_on=["T099"]),
        new("N2", depends_on=["DUP", 7]),
        new("DUP"),
        new("DUP"),
        new("T001", depends_on=["T001"]),
    ]
    ids = ["T004", "T005", "T006", "T007", "T008"]
    result = g.renumber(items, ids, {"T001"}, attempts=False)

    found = [(f.loc, f.code) for f in result.findings]
    assert found == [
        ((0, "depends_on", 0), "unknown-dependency"),
        ((1, "depends_on", 0), "duplicate-id"),
        ((4, "depends_on", 0), "duplicate-id"),
    ]
    assert "unknown task 'T099' in depends_on" in result.findings[0].message
    # entries it cannot resolve are kept as written (a number is the schema check's to report)
    assert result.tasks[1]["depends_on"] == ["DUP", 7]


def test_macoder_owns_ids_status_and_attempts_and_writes_fields_in_schema_order() -> None:
    item = {
        "scope": {"estimated_hours": 1},
        "extra": "kept for the schema check to name",
        "acceptance": ["ok"],
        "status": "completed",
        "attempts": 5,
        "title": "T",
        "id": "N1",
        "description": "D",
    }
    [task] = g.renumber([item, "not a task"], ["T004", "T005"], set(), attempts=True).tasks[:1]
    assert list(task) == [
        "id",
        "title",
        "description",
        "status",
        "depends_on",
        "acceptance",
        "attempts",
        "scope",
        "extra",
    ]
    assert (task["id"], task["status"], task["attempts"], task["depends_on"]) == (
        "T004",
        "pending",
        0,
        [],
    )
    without = g.renumber([item], ["T004"], set(), attempts=False).tasks[0]
    assert "attempts" not in without


# --- judging an answer ----------------------------------------------------------------------------


def test_a_clean_answer_is_appended_with_new_ids_and_nothing_else_changes() -> None:
    base = three()
    verdict = g.judge(answer(new("N1", depends_on=["T003"]), new("N2", depends_on=["N1"])), base)

    assert verdict.ok, [p.render() for p in verdict.problems]
    assert verdict.ids == ["T004", "T005"]
    assert verdict.appended is not None
    assert verdict.appended.raw.startswith(base.raw)
    assert "\n- id: T005\n" in verdict.appended.text
    assert "\n  depends_on: [T004]\n" in verdict.appended.text


def test_a_rule_broken_by_a_new_task_is_reported_at_its_line_of_the_backlog() -> None:
    verdict = g.judge(
        answer(new("N1", description="Let me think. Add calc/sub.py."), new("N2")), three()
    )

    assert not verdict.ok
    [problem] = verdict.problems
    assert (problem.path, problem.code, problem.field) == (
        "BACKLOG.yaml",
        "planning-debris",
        "tasks[3].description",
    )
    assert line_of(verdict, problem.line) == "  description: Let me think. Add calc/sub.py."
    assert problem.render().startswith(f"BACKLOG.yaml:{problem.line}:")


def test_an_unknown_dependency_is_reported_even_where_it_matches_a_new_id() -> None:
    """The answer's `T005` names no task of it; after renumbering, T005 is its second task:
    kept silently it would become a dependency nobody asked for."""
    verdict = g.judge(answer(new("A", depends_on=["T005"]), new("B")), three())

    assert verdict.ids == ["T004", "T005"]
    [problem] = verdict.problems
    assert (problem.code, problem.field) == ("unknown-dependency", "tasks[3].depends_on[0]")
    assert "'T005'" in problem.message
    assert line_of(verdict, problem.line) == "  depends_on: [T005]"


def test_schema_and_graph_problems_are_the_checks_own_words() -> None:
    verdict = g.judge(
        answer(
            new("N1", depends_on=["N2"]),
            new("N2", depends_on=["N1"]),
            {"id": "N3", "title": "No scope", "description": "x", "acceptance": ["ok"]},
        ),
        three(),
    )
    codes = sorted(p.code for p in verdict.problems)
    assert codes == ["dependency-cycle", "missing-field"]
    missing = next(p for p in verdict.problems if p.code == "missing-field")
    assert missing.message == "required field 'scope' is missing"


def test_an_answer_that_is_no_list_is_judged_without_touching_the_backlog() -> None:
    verdict = g.judge("I could not do it.\n```yaml\n- [\n```", three())

    assert verdict.appended is None
    assert [p.path for p in verdict.problems] == ["answer"]


def test_only_the_new_tasks_warnings_are_reported() -> None:
    long = "Add it. " * 100  # over the 600-byte description budget: cut, a warning
    base = base_of(task_dict("T001", description=long))
    verdict = g.judge(answer(new("N1", description=long)), base)

    assert verdict.ok
    assert [(w.code, w.field) for w in verdict.warnings] == [
        ("context-truncated", "tasks[1].description")
    ]


def test_an_old_task_that_names_a_future_id_is_not_turned_into_a_cross_reference() -> None:
    base = base_of(task_dict("T001", description="Leave room for what T002 will add."))
    verdict = g.judge(answer(new("N1")), base)

    assert verdict.ok, [p.render() for p in verdict.problems]
    assert verdict.ids == ["T003"]


def test_a_backlog_that_fails_its_checks_is_refused_before_any_model() -> None:
    text = backlog_yaml(task_dict("T001", depends_on=["T009"]))
    with pytest.raises(FixBacklogFirstError, match=r"fix BACKLOG\.yaml first") as caught:
        base_of(text=text)

    assert caught.value.exit_code == 2
    assert [p.code for p in caught.value.problems] == ["unknown-dependency"]


# --- the repair prompt ----------------------------------------------------------------------------


def test_the_repair_prompt_repeats_the_plan_and_gives_the_problems_and_the_answer() -> None:
    base = three()
    given = answer(new("N1", depends_on=["T099"]))
    verdict = g.judge(given, base)
    prompt = g.repair_prompt(source(base), verdict, 1, 2)
    [problem] = verdict.problems

    assert prompt.startswith("# Generate: calc (repair 1 of 2)\n")
    assert "## The plan (specs/calc/PLAN.md)\n# Plan: subtraction" in prompt
    assert problem.render() in prompt
    assert f"They start at line {verdict.appended.first_line if verdict.appended else 0}." in prompt
    assert "New ids: N1 is T004." in prompt
    assert "```yaml\n- id: T004\n" in prompt
    assert "## Your previous answer\n````\nI read the code.\n\n```yaml\n- id: N1\n" in prompt
    assert prompt.rstrip().endswith("every task, not only those with problems.")
    # the problems come after the rules and before what to answer
    assert prompt.index("## Rules") < prompt.index("## Problems") < prompt.index("## Your answer")


def test_a_repair_of_an_unreadable_answer_shows_the_answers_own_lines() -> None:
    verdict = g.judge("- id: [\n", three())
    prompt = g.repair_prompt(source(three()), verdict, 2, 2)

    assert prompt.startswith("# Generate: calc (repair 2 of 2)\n")
    assert "answer:2:1: invalid YAML" in prompt
    assert "## Your tasks as appended" not in prompt
