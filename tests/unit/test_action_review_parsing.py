"""The pure parts of revisions on GitHub: `/macoder fix`, review events, and the feedback
GitHub's answers become (`action/commands.py`, `action/feedback.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from multi_agent_coder.action.commands import (
    Command,
    CommentEvent,
    Refusal,
    ReviewEvent,
    comment_event,
    fix_text,
    parse,
    parse_review,
    review_event,
)
from multi_agent_coder.action.feedback import Source, comment_feedback, review_feedback
from multi_agent_coder.errors import FeedbackRefusedError

PR = "https://api.github.com/repos/o/r/pulls/7"


def test_fix_on_a_pull_request_is_a_command_without_echoing_its_text() -> None:
    event = CommentEvent(1, 7, "OWNER", "/macoder fix make it faster", on_pull=True)
    assert parse(event) == Command("fix")


def test_fix_on_an_issue_is_refused() -> None:
    refusal = parse(CommentEvent(1, 7, "OWNER", "/macoder fix it", on_pull=False))
    assert isinstance(refusal, Refusal)
    assert "not on an issue" in refusal.reason


def test_a_comment_event_knows_whether_it_is_on_a_pull_request() -> None:
    payload: dict[str, Any] = {
        "action": "created",
        "issue": {"number": 7, "pull_request": {"url": "x"}},
        "comment": {"id": 3, "author_association": "OWNER", "body": "/macoder fix"},
    }
    assert comment_event(payload) == CommentEvent(3, 7, "OWNER", "/macoder fix", True)
    del payload["issue"]["pull_request"]
    event = comment_event(payload)
    assert event is not None
    assert not event.on_pull


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("/macoder fix make it faster", "make it faster"),
        ("Thanks!\n/macoder fix rename it\nand add a test", "rename it\nand add a test"),
        ("/macoder fix", ""),
        ("/macoder FIX   spaced", "spaced"),
        ("no command here", ""),
    ],
)
def test_fix_text_is_what_follows_fix(body: str, text: str) -> None:
    assert fix_text(body) == text


def review_payload(**review: Any) -> dict[str, Any]:
    base = {"id": 9, "state": "changes_requested", "author_association": "COLLABORATOR"}
    return {
        "action": "submitted",
        "review": {**base, **review},
        "pull_request": {"number": 7, "head": {"ref": "macoder/T001"}},
    }


def test_a_review_requesting_changes_on_a_task_pr_is_a_fix() -> None:
    event = review_event(review_payload())
    assert event == ReviewEvent(9, 7, "COLLABORATOR", "changes_requested", "macoder/T001")
    assert parse_review(event) == Command("fix")


@pytest.mark.parametrize(
    "payload",
    [
        review_payload(state="approved"),
        review_payload(state="commented"),
        {**review_payload(), "action": "edited"},
        {**review_payload(), "pull_request": {"number": 7, "head": {"ref": "feature/x"}}},
        {**review_payload(), "pull_request": {"number": 7, "head": {"ref": "macoder/../x"}}},
    ],
    ids=["approved", "commented", "edited", "other-branch", "bad-id"],
)
def test_other_reviews_are_nothing(payload: dict[str, Any]) -> None:
    event = review_event(payload)
    assert event is None or parse_review(event) is None


@pytest.mark.parametrize("association", ["NONE", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR"])
def test_a_review_by_someone_without_standing_is_refused(association: str) -> None:
    event = review_event(review_payload(author_association=association))
    assert event is not None
    assert isinstance(parse_review(event), Refusal)


@pytest.mark.parametrize("text", ["review:12", "comment:3", " review:9 "])
def test_a_source_round_trips(text: str) -> None:
    assert str(Source.parse(text)) == text.strip()


@pytest.mark.parametrize("text", ["review:", "review:0", "pr:1", "review:1;rm", "review:1\n"])
def test_a_source_is_ids_only(text: str) -> None:
    if text.endswith("\n"):  # strip() makes a trailing newline harmless
        assert Source.parse(text) == Source("review", 1)
        return
    with pytest.raises(ValueError, match="review:<id>"):
        Source.parse(text)


def review(**fields: Any) -> dict[str, Any]:
    return {
        "id": 9,
        "body": "Please make it faster.",
        "state": "CHANGES_REQUESTED",
        "author_association": "MEMBER",
        "pull_request_url": PR,
        **fields,
    }


def line(path: str, number: int | None, body: str, **fields: Any) -> dict[str, Any]:
    return {
        "path": path,
        "line": number,
        "body": body,
        "author_association": "MEMBER",
        "pull_request_review_id": 9,
        "created_at": "2026-11-29T10:00:00Z",
        **fields,
    }


def test_a_review_becomes_its_body_and_its_permitted_line_comments() -> None:
    feedback = review_feedback(
        review(),
        [
            line("a.py", 3, "slow"),
            line("b.py", None, "whole file", original_line=5),
            line("c.py", 1, "mine", author_association="NONE"),
            line("d.py", 1, "another review's", pull_request_review_id=10),
        ],
        7,
    )
    assert feedback.body == "Please make it faster."
    assert [(c.where, c.text) for c in feedback.comments] == [
        ("a.py:3", "slow"),
        ("b.py:5", "whole file"),
    ]


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"pull_request_url": PR.replace("/7", "/8")}, "not one of pull request #7"),
        ({"author_association": "CONTRIBUTOR"}, "owners, members and collaborators"),
        ({"state": "DISMISSED"}, "does not ask for changes"),
        ({"body": "  "}, "nothing to change"),
    ],
)
def test_a_review_that_is_no_ask_for_changes_is_refused(fields: dict[str, Any], said: str) -> None:
    with pytest.raises(FeedbackRefusedError, match=said):
        review_feedback(review(**fields), [], 7)


def test_a_fix_comment_becomes_the_text_after_fix() -> None:
    comment = {
        "body": "/macoder fix make it faster",
        "author_association": "OWNER",
        "issue_url": "https://api.github.com/repos/o/r/issues/7",
    }
    assert comment_feedback(comment, 7).body == "make it faster"
    with pytest.raises(FeedbackRefusedError, match="not one on pull request #8"):
        comment_feedback(comment, 8)
    with pytest.raises(FeedbackRefusedError, match="owners, members"):
        comment_feedback({**comment, "author_association": "NONE"}, 7)
