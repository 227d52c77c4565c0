"""A reviewer's feedback as GitHub holds it: the REST calls that read it and the checks that
turn GitHub's answers into a `Feedback`. Pure (no I/O): the action sends the requests
through `GitHubForge.read`.

Why the task job reads the feedback itself, by ids, instead of being handed the text: a
review's body is anyone-with-access's text, and a workflow output or a matrix value is
expanded into the workflow's expressions. So the plan job passes on only a `Source` — a kind
and a number it validated — and the text travels from GitHub's API straight into the
hygiene-checked Review section of the agent's context (`context/review.py`), nowhere else.

Everything GitHub answers is checked again here, where it is used: the review or comment
belongs to this task's open PR, its author is the repository's owner, a member or a
collaborator (`author_association`, which GitHub computes), a review asks for changes, and
there is something to change. Line comments by anyone else are left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from multi_agent_coder.action.commands import ALLOWED, fix_text
from multi_agent_coder.context.review import Feedback, LineComment
from multi_agent_coder.errors import FeedbackRefusedError
from multi_agent_coder.limits import MAX_REVIEW_COMMENTS

SourceKind = Literal["review", "comment"]

#: How a source is written as the action's `revise` input / the plan's `revise` output.
SOURCE_PATTERN: Final = re.compile(r"(review|comment):([1-9][0-9]{0,15})", re.ASCII)

#: GitHub's REST `state` of a review that asks for changes.
CHANGES_REQUESTED: Final = "CHANGES_REQUESTED"


@dataclass(frozen=True, slots=True)
class Source:
    """Where the feedback is: a submitted review, or a `/macoder fix` issue comment."""

    kind: SourceKind
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Source:
        """`review:123` or `comment:456`; a `ValueError` for anything else."""
        match = SOURCE_PATTERN.fullmatch(text.strip())
        if match is None:
            raise ValueError("must be 'review:<id>' or 'comment:<id>'")
        kind: SourceKind = "review" if match[1] == "review" else "comment"
        return cls(kind, int(match[2]))


# ===================================================================== answers


def _on(url: object, number: int, kind: str) -> bool:
    """`url` (GitHub's `pull_request_url` / `issue_url`) is pull request / issue `number`."""
    return isinstance(url, str) and url.endswith(f"/{kind}/{number}")


def _allowed(item: Mapping[str, Any]) -> bool:
    return item.get("author_association") in ALLOWED


def _text(item: Mapping[str, Any]) -> str:
    body = item.get("body")
    return body if isinstance(body, str) else ""


def _at(value: object) -> float:
    if not isinstance(value, str):
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def line_comment(item: Mapping[str, Any]) -> LineComment | None:
    """A review comment as the Review section shows it (None: no path, so nowhere)."""
    path = item.get("path")
    if not isinstance(path, str) or not path:
        return None
    line = item.get("line")
    if not isinstance(line, int) or isinstance(line, bool) or line < 1:
        line = item.get("original_line")
    if not isinstance(line, int) or isinstance(line, bool) or line < 1:
        line = None
    return LineComment(path, line, _text(item), _at(item.get("created_at")))


def review_feedback(review: object, comments: object, number: int) -> Feedback:
    """The feedback of a review on PR `number`: its body and its line comments by people
    who may command macoder. `FeedbackRefusedError` unless it is such a person's review of
    that PR asking for changes, with something in it."""
    if not isinstance(review, Mapping):
        raise FeedbackRefusedError("GitHub sent a review that is not an object")
    if not _on(review.get("pull_request_url"), number, "pulls"):
        raise FeedbackRefusedError(f"the review is not one of pull request #{number}")
    if not _allowed(review):
        raise FeedbackRefusedError(
            "only the repository's owners, members and collaborators may ask macoder for changes"
        )
    if review.get("state") != CHANGES_REQUESTED:
        raise FeedbackRefusedError("the review does not ask for changes (any more)")
    items: Sequence[object] = comments if isinstance(comments, list) else []
    lines = tuple(
        found
        for item in items[:MAX_REVIEW_COMMENTS]
        if isinstance(item, Mapping)
        and _allowed(item)
        and item.get("pull_request_review_id") in (None, review.get("id"))
        and (found := line_comment(item)) is not None
    )
    return _not_empty(Feedback(_text(review), lines))


def comment_feedback(comment: object, number: int) -> Feedback:
    """The feedback of a `/macoder fix` comment on PR `number`: the text after `fix`."""
    if not isinstance(comment, Mapping):
        raise FeedbackRefusedError("GitHub sent a comment that is not an object")
    if not _on(comment.get("issue_url"), number, "issues"):
        raise FeedbackRefusedError(f"the comment is not one on pull request #{number}")
    if not _allowed(comment):
        raise FeedbackRefusedError(
            "only the repository's owners, members and collaborators may command macoder"
        )
    return _not_empty(Feedback(fix_text(_text(comment))))


def _not_empty(feedback: Feedback) -> Feedback:
    if feedback.empty:
        raise FeedbackRefusedError(
            "there is nothing to change: say what, e.g. `/macoder fix rename the flag`, or "
            "write it in the review"
        )
    return feedback
