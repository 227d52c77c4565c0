"""Task states are derived from the backlog, the ledger and the PRs, never stored."""

from __future__ import annotations

from multi_agent_coder.backlog.model import Backlog
from multi_agent_coder.forge.base import PrState, PullRequest
from multi_agent_coder.git.ledger import Attempt, Lease
from multi_agent_coder.run.status import derive
from tests.support import backlog_dict, task_dict


def pr(task_id: str, *, draft: bool = False, state: PrState = PrState.OPEN) -> PullRequest:
    return PullRequest(
        number=7,
        task_id=task_id,
        branch=f"macoder/{task_id}",
        base="main",
        title="t",
        body="b",
        state=state,
        draft=draft,
        head_sha="0" * 40,
        url="local:x#pr-7",
    )


def failure(task_id: str, reason: str) -> Attempt:
    return Attempt(task_id, "run", "failure", reason, 1.0, 100, "m", None, None, None, 0.0)


def states(**kwargs: object) -> dict[str, tuple[str, int, str]]:
    backlog = Backlog.model_validate(
        backlog_dict(
            task_dict("T001", status="completed"),
            task_dict("T002"),
            task_dict("T003"),
            task_dict("T004", depends_on=["T002"]),
            task_dict("T005"),
            task_dict("T006", attempts=3),
            task_dict("T007", status="review"),
        )
    )
    defaults: dict[str, object] = {
        "live": {},
        "attempts": {},
        "last_attempts": {},
        "prs": [],
        "max_attempts": 3,
    }
    defaults.update(kwargs)
    return {s.task_id: (s.state, s.attempts, s.detail) for s in derive(backlog, **defaults)}  # type: ignore[arg-type]


def test_each_state_comes_from_where_its_truth_lives() -> None:
    result = states(
        live={"T003": Lease("T003", "run", "host:1", 0.0, 9e9)},
        prs=[pr("T002"), pr("T005", draft=True)],
        attempts={"T005": 1},
    )
    assert result["T001"][0] == "completed"
    assert result["T002"] == ("pr-open", 0, "PR #7")
    assert result["T003"][0] == "running"
    assert result["T004"] == ("waiting", 0, "on T002")
    assert result["T005"][0] == "ready"  # a draft PR holds a failed attempt; attempts decide
    assert "draft PR #7" in result["T005"][2]
    assert result["T006"][0] == "failed"
    assert "attempts used up (3/3)" in result["T006"][2]
    assert result["T007"][0] == "review"


def test_a_ready_task_says_why_its_last_attempt_failed() -> None:
    result = states(attempts={"T002": 1}, last_attempts={"T002": failure("T002", "tests fail")})
    assert result["T002"] == ("ready", 1, "last attempt failed: tests fail")


def test_a_merged_pr_does_not_count_as_open() -> None:
    assert states(prs=[pr("T002", state=PrState.MERGED)])["T002"][0] == "ready"
