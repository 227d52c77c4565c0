"""Graph and status rules over (index, task) entries, pure."""

from __future__ import annotations

from multi_agent_coder.backlog.rules import check_rules, strongly_connected
from multi_agent_coder.problems import Finding
from tests.support import task


def run(*tasks_: object, known: set[str] | None = None) -> list[Finding]:
    entries = list(enumerate(tasks_))
    return check_rules(entries, known)  # type: ignore[arg-type]


def test_a_clean_graph_has_no_findings() -> None:
    assert run(task("T001"), task("T002", depends_on=["T001"])) == []


def test_duplicate_ids_are_reported_at_the_later_task_with_a_ref_to_the_first() -> None:
    [finding] = run(task("T001"), task("T002"), task("T001"))
    assert finding.code == "duplicate-id"
    assert finding.loc == ("tasks", 2, "id")
    assert finding.refs == (("tasks", 0, "id"),)
    assert "tasks[0] ({ref0})" in finding.message


def test_unknown_and_self_dependencies_point_at_the_list_item() -> None:
    findings = run(task("T001", depends_on=["T001", "T404"]))
    assert [(f.code, f.loc) for f in findings] == [
        ("self-dependency", ("tasks", 0, "depends_on", 0)),
        ("unknown-dependency", ("tasks", 0, "depends_on", 1)),
    ]


def test_ids_known_from_malformed_tasks_are_not_unknown() -> None:
    assert run(task("T002", depends_on=["T001"]), known={"T001", "T002"}) == []


def test_a_completed_task_may_not_depend_on_an_unfinished_one() -> None:
    [finding] = run(
        task("T001", status="review"), task("T002", status="completed", depends_on=["T001"])
    )
    assert finding.code == "completed-before-dependency"
    assert "which is review" in finding.message
    assert finding.refs == (("tasks", 0, "status"),)


def test_a_cycle_is_one_finding_naming_every_member_with_a_line_ref_each() -> None:
    findings = run(
        task("T001", depends_on=["T003"]),
        task("T002", depends_on=["T001"]),
        task("T003", depends_on=["T002"]),
        task("T004", depends_on=["T001"]),
    )
    [finding] = findings
    assert finding.code == "dependency-cycle"
    assert finding.loc == ("tasks", 0, "depends_on", 0)
    assert "T001 -> T003 -> T002 -> T001" in finding.message
    assert "members: T001 ({ref0}), T002 ({ref1}), T003 ({ref2})" in finding.message
    assert finding.refs == (("tasks", 0, "id"), ("tasks", 1, "id"), ("tasks", 2, "id"))


def test_two_separate_cycles_are_two_findings() -> None:
    findings = run(
        task("T001", depends_on=["T002"]),
        task("T002", depends_on=["T001"]),
        task("T003", depends_on=["T004"]),
        task("T004", depends_on=["T003"]),
    )
    assert [f.code for f in findings] == ["dependency-cycle", "dependency-cycle"]


def test_cycle_detection_handles_a_very_long_chain_without_recursion() -> None:
    n = 20_000
    edges = {f"N{i}": [f"N{i + 1}"] for i in range(n)}
    edges[f"N{n}"] = ["N0"]
    [component] = strongly_connected(edges, edges)
    assert len(component) == n + 1


def test_a_diamond_is_not_a_cycle() -> None:
    assert (
        run(
            task("T001"),
            task("T002", depends_on=["T001"]),
            task("T003", depends_on=["T001"]),
            task("T004", depends_on=["T002", "T003"]),
        )
        == []
    )


def test_a_completed_task_may_depend_on_a_malformed_but_known_task_without_crashing() -> None:
    assert run(task("T002", status="completed", depends_on=["T001"]), known={"T001", "T002"}) == []
