"""The ready set and statistics: pure, in file order."""

from __future__ import annotations

from multi_agent_coder.backlog.model import Backlog
from multi_agent_coder.backlog.ready import longest_chain, ready_tasks, stats
from tests.support import backlog_dict, task, task_dict


def ids(tasks: list) -> list[str]:  # type: ignore[type-arg]
    return [t.id for t in tasks]


def test_pending_and_ready_tasks_with_completed_dependencies_are_ready_in_file_order() -> None:
    tasks = [
        task("T003", status="ready"),
        task("T001", status="completed"),
        task("T002", depends_on=["T001"]),
        task("T004", depends_on=["T002"]),
    ]
    assert ids(ready_tasks(tasks, max_attempts=3)) == ["T003", "T002"]


def test_other_statuses_are_never_ready() -> None:
    tasks = [
        task(f"T00{i}", status=s)
        for i, s in enumerate(["in_progress", "review", "completed", "failed"])
    ]
    assert ready_tasks(tasks, max_attempts=3) == []


def test_tasks_out_of_attempts_are_not_ready() -> None:
    tasks = [task("T001", attempts=3), task("T002", attempts=2)]
    assert ids(ready_tasks(tasks, max_attempts=3)) == ["T002"]


def test_ledger_attempts_count_when_higher_than_the_file() -> None:
    tasks = [task("T001", attempts=0)]
    assert ready_tasks(tasks, max_attempts=3, ledger_attempts={"T001": 3}) == []


def test_leased_tasks_are_not_ready() -> None:
    tasks = [task("T001"), task("T002")]
    assert ids(ready_tasks(tasks, max_attempts=3, leased={"T001"})) == ["T002"]


def test_a_dependency_on_an_unknown_task_blocks() -> None:
    assert ready_tasks([task("T001", depends_on=["T404"])], max_attempts=3) == []


def test_stats_count_statuses_and_say_what_blocks_each_task() -> None:
    backlog = Backlog.model_validate(
        backlog_dict(
            task_dict("T001", status="completed"),
            task_dict("T002", status="in_progress"),
            task_dict("T003", depends_on=["T001", "T002"]),
            task_dict("T004", attempts=5),
            task_dict("T005"),
        )
    )
    result = stats(backlog, max_attempts=3, leased={"T005"})
    assert result.total == 5
    assert result.by_status["pending"] == 3
    assert result.by_status["completed"] == 1
    assert result.ready == []
    blocked = {b.task_id: b for b in result.blocked}
    assert blocked["T003"].waiting_on == (("T002", "in_progress"),)
    assert blocked["T004"].attempts_exhausted
    assert blocked["T005"].leased


def test_longest_chain_follows_the_deepest_path() -> None:
    tasks = [
        task("T001"),
        task("T002", depends_on=["T001"]),
        task("T003", depends_on=["T002"]),
        task("T004", depends_on=["T001"]),
        task("T005", depends_on=["T003", "T004"]),
    ]
    assert longest_chain(tasks) == ["T001", "T002", "T003", "T005"]


def test_longest_chain_of_independent_tasks_is_one_task() -> None:
    assert longest_chain([task("T001"), task("T002")]) == ["T001"]
    assert longest_chain([]) == []


def test_ready_tasks_and_blocked_reason_agree_on_every_task() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from multi_agent_coder.backlog.ready import _completed_ids, blocked_reason

    statuses = st.sampled_from(["pending", "ready", "completed", "failed", "in_progress"])
    ids = [f"T{i:03d}" for i in range(8)]

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.tuples(
                statuses, st.lists(st.sampled_from([*ids, "T999"]), max_size=3), st.integers(0, 4)
            ),
            min_size=len(ids),
            max_size=len(ids),
        ),
        st.sets(st.sampled_from(ids)),
    )
    def agree(rows: list, leased: set) -> None:  # type: ignore[type-arg]
        tasks = [
            task(task_id, status=status, depends_on=deps, attempts=attempts)
            for task_id, (status, deps, attempts) in zip(ids, rows, strict=True)
        ]
        ready = {t.id for t in ready_tasks(tasks, max_attempts=3, leased=leased)}
        completed = _completed_ids(tasks)
        status_of = {t.id: t.status for t in tasks}
        expected = {
            t.id
            for t in tasks
            if t.status.value in ("pending", "ready")
            and blocked_reason(
                t, completed, status_of, max_attempts=3, leased=leased, ledger_attempts={}
            )
            is None
        }
        assert ready == expected

    agree()
