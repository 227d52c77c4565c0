"""Where every task stands is decided once, from the backlog, the ledger and the PRs: a spec.

`decide` is pure, so every rule is a table row here; `macoder run`, `ready`, `status` and the
Action's plan job all read its answer (tests elsewhere hold them to it).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pytest

from multi_agent_coder.backlog.model import Backlog
from multi_agent_coder.forge.base import (
    LABEL_NEEDS_REVIEW,
    LABEL_RETRY,
    LABEL_SUPERSEDED,
    PrState,
    PullRequest,
)
from multi_agent_coder.git.ledger import Answer, Attempt, Lease, Record, Release, Reset, Start
from multi_agent_coder.run.state import RunState, Standing, decide, entry_hash, retry_requests
from tests.support import backlog_dict, task_dict

NOW = 1_000.0


def pr(
    task_id: str,
    *,
    number: int = 7,
    draft: bool = False,
    state: PrState = PrState.OPEN,
    labels: tuple[str, ...] = (),
    conflicts: bool = False,
) -> PullRequest:
    return PullRequest(
        number=number,
        task_id=task_id,
        branch=f"macoder/{task_id}",
        base="main",
        title="t",
        body="b",
        state=state,
        draft=draft,
        head_sha="0" * 40,
        url=f"local:x#pr-{number}",
        labels=labels,
        conflicts=conflicts,
    )


def attempt(
    task_id: str, reason: str = "tests fail", *, outcome: str = "failure", size: int = 100
) -> Attempt:
    return Attempt(task_id, "run-1", outcome, reason, 1.0, size, "m/x", None, None, None, NOW - 50)


def lease(
    task_id: str, *, holder: str = "ci:42", expires: float = NOW + 60, run: str = "run-9"
) -> Lease:
    return Lease(task_id, run, holder, NOW - 10, expires)


def backlog(*tasks: dict[str, object]) -> Backlog:
    return Backlog.model_validate(backlog_dict(*tasks))


SEVEN = backlog(
    task_dict("T001", status="completed"),
    task_dict("T002"),
    task_dict("T003"),
    task_dict("T004", depends_on=["T002"]),
    task_dict("T005"),
    task_dict("T006", attempts=3),
    task_dict("T007", status="review"),
)


def state(
    records: Sequence[Record] = (),
    prs: Sequence[PullRequest] = (),
    *,
    of: Backlog = SEVEN,
    retry: Collection[str] = (),
    only: Collection[str] | None = None,
) -> RunState:
    return decide(of, records, prs, NOW, max_attempts=3, retry=retry, only=only)


def standings(result: RunState) -> dict[str, str]:
    return {v.task_id: v.label for v in result.views}


def test_each_standing_comes_from_where_its_truth_lives() -> None:
    result = state([lease("T003"), attempt("T005")], [pr("T002"), pr("T005", number=8, draft=True)])
    assert standings(result) == {
        "T001": "completed",
        "T002": "pr-open",
        "T003": "running",
        "T004": "waiting",
        "T005": "ready",  # a draft PR holds a failed attempt: it may be tried again
        "T006": "failed",  # out of attempts (the backlog's own count)
        "T007": "review",  # marked by hand: not macoder's to schedule
    }
    assert result.ready_ids == ["T005"]
    assert result.busy == ["T002", "T003"]


@pytest.mark.parametrize(
    ("records", "prs", "task", "detail"),
    [
        ([lease("T003", holder="ci-runner-7:4242")], [], "T003", "lease held by ci-runner-7:4242"),
        ([], [pr("T002", number=12)], "T002", "PR #12"),
        ([], [], "T004", "on T002"),
        ([], [], "T006", "attempts used up (3/3)"),
        ([attempt("T002", "no changes")], [], "T002", "last attempt failed: no changes"),
        (
            [attempt("T002")],
            [pr("T002", number=3, draft=True)],
            "T002",
            "last attempt failed: tests fail (draft PR #3)",
        ),
        ([attempt("T002", outcome="success")], [], "T002", ""),
    ],
)
def test_every_standing_says_why(
    records: list[Record], prs: list[PullRequest], task: str, detail: str
) -> None:
    result = state(records, prs)
    assert result.view(task).detail(result.max_attempts) == detail


def test_attempts_are_the_larger_of_the_backlogs_and_the_ledgers_count() -> None:
    result = state([attempt("T002"), attempt("T002"), attempt("T002")])
    assert result.view("T002").attempts == 3
    assert result.view("T002").standing is Standing.EXHAUSTED
    assert "T002" not in result.ready_ids
    assert result.view("T006").attempts == 3  # from the file


def test_an_expired_or_released_lease_frees_the_task() -> None:
    expired = lease("T002", expires=NOW - 1)
    released = [lease("T003", run="r1"), Release("T003", "r1", NOW - 5)]
    result = state([expired, *released])
    assert {"T002", "T003"} <= set(result.ready_ids)


# --- a person's answer: a PR closed unmerged, or merged without the task completed -------


def closed(task_id: str = "T002", number: int = 7, labels: tuple[str, ...] = ()) -> PullRequest:
    return pr(task_id, number=number, state=PrState.CLOSED, labels=labels)


def answer_to(task_id: str, number: int = 7, *, of: Backlog = SEVEN) -> Answer:
    task = of.tasks[of.task_index()[task_id]]
    return Answer(task_id, "run-1", number, "closed", entry_hash(task), NOW - 20)


def test_a_pr_closed_unmerged_rejects_its_task_and_says_how_to_lift_it() -> None:
    result = state([], [closed("T002", number=12)])
    view = result.view("T002")
    assert view.standing is Standing.REJECTED
    assert "T002" not in result.ready_ids
    assert view.detail(3) == (
        "PR #12 was closed unmerged; held until its backlog entry changes or a person asks "
        f"again (--retry, or the label {LABEL_RETRY} on the PR)"
    )
    assert "rejected (PR closed unmerged; change the entry or --retry): T002 (PR #12)" in (
        state([lease("T003"), lease("T005")], [closed("T002", number=12)]).note
    )
    # The ledger does not keep the answer yet: it is handed back to be recorded, with the
    # hash of the entry that was rejected.
    assert result.new_answers == (
        Answer("T002", "macoder", 12, "closed", entry_hash(SEVEN.tasks[1]), NOW),
    )


def test_a_recorded_answer_is_not_handed_back_again() -> None:
    result = state([answer_to("T002")], [closed("T002")])
    assert result.view("T002").standing is Standing.REJECTED
    assert result.new_answers == ()


def changed(task_id: str = "T002", **fields: object) -> Backlog:
    """SEVEN with `task_id`'s entry changed."""
    return backlog(
        *(
            task_dict(t.id, **fields) if t.id == task_id else t.model_dump(mode="json")
            for t in SEVEN.tasks
        )
    )


@pytest.mark.parametrize(
    ("edit", "standing"),
    [
        ({"description": "Do it the other way."}, Standing.READY),
        ({"acceptance": ["a different test passes"]}, Standing.READY),
        ({"attempts": 1}, Standing.REJECTED),  # macoder's own count: not a new question
        ({"status": "ready"}, Standing.REJECTED),  # a status is not a new question either
    ],
    ids=["description", "acceptance", "attempts", "status"],
)
def test_a_rejection_lasts_until_the_entry_itself_changes(
    edit: dict[str, object], standing: Standing
) -> None:
    after = changed("T002", **edit)
    result = state([answer_to("T002")], [closed("T002")], of=after)
    assert result.view("T002").standing is standing
    assert result.new_answers == ()


@pytest.mark.parametrize(
    ("records", "prs", "retry"),
    [
        ([answer_to("T002"), Reset("T002", "r", NOW - 5)], [closed("T002")], ()),  # --retry
        ([answer_to("T002")], [closed("T002", labels=(LABEL_RETRY,))], ()),  # the label
        ([answer_to("T002")], [closed("T002")], ("T002",)),  # this run's --retry
        ([], [closed("T002"), pr("T002", number=9, draft=True)], ()),  # a newer draft PR
    ],
    ids=["reset-after-the-answer", "retry-label", "retry-now", "newer-pr"],
)
def test_a_person_asking_again_lifts_the_rejection(
    records: list[Record], prs: list[PullRequest], retry: tuple[str, ...]
) -> None:
    result = state(records, prs, retry=retry)
    assert result.view("T002").standing is Standing.READY
    assert result.new_answers == ()


def test_a_pr_macoder_closed_for_its_successor_is_nobodys_answer() -> None:
    """The GITHUB_TOKEN fallback closes the old PR before it opens the new one: a run that
    reads it in between (or after a crash there) must not take it for a person's no."""
    result = state([], [closed("T002", labels=(LABEL_SUPERSEDED,))])
    assert result.view("T002").standing is Standing.READY
    assert result.new_answers == ()


def test_the_retry_label_is_kept_as_the_answer_then_a_reset_after_it() -> None:
    asked, records = retry_requests(
        SEVEN, [], [closed("T002", number=7, labels=(LABEL_RETRY,))], NOW, "run-5"
    )
    assert list(asked) == ["T002"]
    assert records == (
        Answer("T002", "run-5", 7, "closed", entry_hash(SEVEN.tasks[1]), NOW),
        Reset("T002", "run-5", NOW),
    )
    # With those records kept and the label taken off, the task is free and its budget fresh.
    used = [attempt("T002"), attempt("T002"), attempt("T002")]
    result = state([*used, *records], [closed("T002", number=7)])
    assert result.view("T002").standing is Standing.READY
    assert result.view("T002").attempts == 0


@pytest.mark.parametrize(
    ("records", "prs"),
    [
        ([], [closed("T002")]),  # no label
        ([], [pr("T002", labels=(LABEL_RETRY,))]),  # on an open PR: nothing to ask again
        ([], [closed("T002", 7, (LABEL_RETRY,)), pr("T002", number=9)]),  # not the latest
        ([], [closed("T001", 7, (LABEL_RETRY,))]),  # T001 is completed
    ],
    ids=["no-label", "open-pr", "older-pr", "completed-task"],
)
def test_the_retry_label_asks_only_on_the_latest_answered_pr_of_an_unfinished_task(
    records: list[Record], prs: list[PullRequest]
) -> None:
    assert retry_requests(SEVEN, records, prs, NOW, "run-5") == ({}, ())


def test_an_answer_already_kept_is_not_kept_twice_by_the_retry_label() -> None:
    _, records = retry_requests(
        SEVEN, [answer_to("T002")], [closed("T002", labels=(LABEL_RETRY,))], NOW, "run-5"
    )
    assert records == (Reset("T002", "run-5", NOW),)


def test_a_reset_from_before_the_answer_does_not_lift_it() -> None:
    result = state([Reset("T002", "r", NOW - 90), answer_to("T002")], [closed("T002")])
    assert result.view("T002").standing is Standing.REJECTED


def test_only_the_latest_pr_is_the_answer() -> None:
    reopened = state([], [closed("T002", number=3), pr("T002", number=2)])
    assert reopened.view("T002").standing is Standing.PR_OPEN
    superseded = state([], [closed("T002", number=3), pr("T002", number=4)])
    assert superseded.view("T002").standing is Standing.PR_OPEN


def test_a_merged_pr_whose_task_is_not_completed_is_reported_not_run_again() -> None:
    merged = pr("T002", number=5, state=PrState.MERGED)
    result = state([], [merged])
    view = result.view("T002")
    assert (view.standing, view.label) == (Standing.MERGED, "merged")
    assert "T002" not in result.ready_ids
    assert view.detail(3).startswith("PR #5 was merged, but the default branch's backlog")
    assert result.new_answers[0].answer == "merged"
    assert state([], [pr("T001", state=PrState.MERGED)]).view("T001").label == "completed"


# --- every attempt counts; a stop for a person is sticky ----------------------------------


def ran_out(task_id: str, run: str) -> list[Record]:
    """An attempt that began, and whose lease ran out with no result."""
    return [lease(task_id, expires=NOW - 1, run=run), Start(task_id, run, "ci:42", NOW - 10)]


def test_an_attempt_whose_lease_ran_out_counts_as_interrupted() -> None:
    view = state(ran_out("T002", "r1")).view("T002")
    assert view.attempts == 1
    assert view.standing is Standing.READY
    assert view.detail(3).startswith("last attempt failed: interrupted: the lease of run r1")
    three = [*ran_out("T002", "r1"), *ran_out("T002", "r2"), *ran_out("T002", "r3")]
    assert state(three).view("T002").standing is Standing.EXHAUSTED


def test_a_task_that_stopped_for_a_person_waits_for_one() -> None:
    review = attempt(
        "T002", "branch macoder/T002 has commits by someone else", outcome="needs-review"
    )
    result = state([review])
    view = result.view("T002")
    assert view.standing is Standing.NEEDS_REVIEW
    assert "T002" not in result.ready_ids
    assert view.detail(3) == (
        "a person must look first: branch macoder/T002 has commits by someone else; "
        "--retry runs it again"
    )
    # Its draft PR, labelled for review, holds it as a PR in review; a reset lets it go.
    draft = pr("T002", draft=True, labels=(LABEL_NEEDS_REVIEW,))
    assert state([review], [draft]).view("T002").standing is Standing.PR_OPEN
    assert state([review, Reset("T002", "r", NOW)]).view("T002").standing is Standing.READY
    assert state([review], retry={"T002"}).view("T002").standing is Standing.READY


def test_a_verified_pr_that_no_longer_merges_is_brought_up_to_date_by_the_next_run() -> None:
    result = state([attempt("T002", "PR #7", outcome="success")], [pr("T002", conflicts=True)])
    view = result.view("T002")
    assert view.standing is Standing.READY
    assert "T002" in result.ready_ids
    assert result.updates == {"T002"}
    assert view.detail(3) == (
        "PR #7 no longer merges into main: its branch is brought up to date and verified again"
    )
    # A PR that still merges waits for its person; --retry starts over, it updates nothing.
    assert state([], [pr("T002")]).view("T002").standing is Standing.PR_OPEN
    assert state([], [pr("T002")]).updates == frozenset()
    assert state([], [pr("T002", conflicts=True)], retry={"T002"}).updates == frozenset()


def test_a_pr_that_no_longer_merges_is_not_updated_while_a_person_must_act_on_it() -> None:
    stopped = pr("T002", draft=True, labels=(LABEL_NEEDS_REVIEW,), conflicts=True)
    assert state([], [stopped]).view("T002").standing is Standing.PR_OPEN
    assert state([], [stopped]).updates == frozenset()
    held = state([lease("T002")], [pr("T002", conflicts=True)])
    assert held.view("T002").standing is Standing.RUNNING
    assert held.updates == frozenset()


def test_a_pr_that_no_longer_merges_waits_for_a_person_once_its_attempts_are_used_up() -> None:
    used = [attempt("T002", outcome="success"), attempt("T002"), attempt("T002")]
    result = state(used, [pr("T002", conflicts=True)])
    view = result.view("T002")
    assert view.standing is Standing.PR_OPEN
    assert result.updates == frozenset()
    assert view.detail(3) == (
        "PR #7 no longer merges into main and its attempts are used up: a person resolves "
        "it, or --retry"
    )


def test_retry_runs_a_task_in_review_again_but_never_one_a_run_holds() -> None:
    result = state([lease("T003")], [pr("T002")], retry={"T002", "T003"})
    assert "T002" in result.ready_ids
    assert "T003" not in result.ready_ids


def test_ready_tasks_are_in_file_order_and_only_narrows_them_not_the_picture() -> None:
    assert state().ready_ids == ["T002", "T003", "T005"]
    narrowed = state(only={"T005", "T002"})
    assert narrowed.ready_ids == ["T002", "T005"]
    assert len(narrowed.views) == 7


def test_the_baseline_is_the_first_attempts_context_size() -> None:
    result = state([attempt("T002", size=900), attempt("T002", size=1500), attempt("T003", size=0)])
    assert result.baseline == {"T002": 900}


# --- why nothing is ready ----------------------------------------------------------------


def test_nothing_ready_names_what_each_waiting_task_waits_for() -> None:
    result = state([lease("T003"), attempt("T005"), attempt("T005"), attempt("T005")], [pr("T002")])
    assert result.ready_ids == []
    assert result.note == (
        "nothing is ready (1/7 completed; running or in review: T002, T003; "
        "waiting: T004 on T002; out of attempts: T005, T006; marked by hand: T007 (review))"
    )


def test_only_explains_each_named_task_that_cannot_start() -> None:
    result = state([lease("T003")], [pr("T002")], only={"T002", "T003", "T004", "T006"})
    assert result.ready_ids == []
    assert result.note == (
        "nothing is ready: T002 is in review (PR #7; --retry runs it again); "
        "T003 is running (lease held by ci:42); T004 waits on T002; "
        "T006 is out of attempts (3/3)"
    )


def test_only_with_some_ready_still_explains_the_others() -> None:
    result = state(only={"T002", "T004"})
    assert result.ready_ids == ["T002"]
    assert result.note == "not started: T004 waits on T002"


def test_all_completed_and_empty_backlogs_say_there_is_nothing_to_do() -> None:
    done = backlog(task_dict("T001", status="completed"), task_dict("T002", status="completed"))
    assert state(of=done).note == "nothing to do: all 2 tasks are completed"
    assert state().note == ""
