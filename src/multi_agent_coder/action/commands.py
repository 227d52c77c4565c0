"""`/macoder` commands in issue and pull-request comments: read from the event, checked. Pure.

A comment is untrusted input from anyone who can comment on the repository. So: only the
first line that starts with `/macoder` is read; only people GitHub calls the repository's
`OWNER`, `MEMBER` or `COLLABORATOR` may command (`author_association`, which GitHub computes;
the comment cannot claim it); a task id is validated before it is used for anything; and no
word of the comment is ever echoed back, run, or put in a path — the replies are built from
this module's own sentences and validated ids alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from multi_agent_coder.ids import BRANCH_PREFIX, is_task_id

PREFIX: Final = "/macoder"
#: Who may command macoder: people with a standing in the repository.
ALLOWED: Final = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
#: A comment body longer than this is not read for a command (GitHub allows 65,536).
MAX_BODY_CHARS: Final = 65_536

Verb = Literal["run", "retry", "status", "fix"]

USAGE: Final = (
    "`/macoder run T003` (run a ready task now), `/macoder retry T003` (a fresh attempt "
    "budget, free of an earlier answer), `/macoder status` (the table of tasks), "
    "`/macoder fix what to change` on a task's pull request (new commits on it)"
)

#: A review that asks for changes, as the `pull_request_review` event names its state.
CHANGES_REQUESTED: Final = "changes_requested"


@dataclass(frozen=True, slots=True)
class CommentEvent:
    """The parts of an `issue_comment` event macoder reads."""

    comment_id: int
    number: int  # the issue's or pull request's
    association: str
    body: str
    #: The comment is on a pull request (GitHub's issue has a `pull_request` key), not an issue.
    on_pull: bool = False


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    """The parts of a submitted `pull_request_review` event macoder reads. The review's text
    is not among them: the task job reads it from the API by these ids (see `feedback`)."""

    review_id: int
    number: int  # the pull request's
    association: str
    state: str
    head_ref: str


@dataclass(frozen=True, slots=True)
class Command:
    verb: Verb
    task_id: str | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a `/macoder` comment is not carried out, in macoder's own words."""

    reason: str


def comment_event(payload: object) -> CommentEvent | None:
    """The comment of a newly created comment's event, or None when the event is anything
    else (an edit, a deletion, a payload without the fields) — never acted on."""
    if not isinstance(payload, dict) or payload.get("action") != "created":
        return None
    comment, issue = payload.get("comment"), payload.get("issue")
    if not isinstance(comment, dict) or not isinstance(issue, dict):
        return None
    comment_id, number = comment.get("id"), issue.get("number")
    association, body = comment.get("author_association"), comment.get("body")
    if not (isinstance(comment_id, int) and isinstance(number, int)):
        return None
    if not (isinstance(association, str) and isinstance(body, str)):
        return None
    return CommentEvent(comment_id, number, association, body, "pull_request" in issue)


def review_event(payload: object) -> ReviewEvent | None:
    """The review of a `pull_request_review` event that was just submitted, or None for any
    other action or a payload without the fields — never acted on."""
    if not isinstance(payload, dict) or payload.get("action") != "submitted":
        return None
    review, pull = payload.get("review"), payload.get("pull_request")
    if not isinstance(review, dict) or not isinstance(pull, dict):
        return None
    head = pull.get("head")
    review_id, number = review.get("id"), pull.get("number")
    association, state = review.get("author_association"), review.get("state")
    ref = head.get("ref") if isinstance(head, dict) else None
    if not (isinstance(review_id, int) and isinstance(number, int)):
        return None
    if not (isinstance(association, str) and isinstance(state, str) and isinstance(ref, str)):
        return None
    return ReviewEvent(review_id, number, association, state.lower(), ref)


def parse_review(event: ReviewEvent) -> Command | Refusal | None:
    """A review asking for changes on a task's PR is a `fix` (None: any other review, or a
    PR of someone else's branch — no answer); a refusal when its author may not command."""
    task_id = event.head_ref.removeprefix(BRANCH_PREFIX)
    if event.state != CHANGES_REQUESTED or event.head_ref == task_id or not is_task_id(task_id):
        return None
    if event.association not in ALLOWED:
        return Refusal(
            "only the repository's owners, members and collaborators may ask macoder for changes"
        )
    return Command("fix")


def fix_text(body: str) -> str:
    """What a `/macoder fix` comment asks for: everything after `fix` on its command line and
    the lines after it ("" when nothing). Only ever sent to the agent as review feedback."""
    lines = body.splitlines()
    for index, line in enumerate(lines):
        words = line.strip().split(maxsplit=2)
        if len(words) >= 2 and words[0] == PREFIX and words[1].lower() == "fix":
            rest = words[2] if len(words) == 3 else ""
            return "\n".join([rest, *lines[index + 1 :]]).strip()
    return ""


def command_line(body: str) -> str | None:
    """The first line of `body` that is a `/macoder` command (`/macoder` alone or followed
    by a space), or None: a comment that merely mentions `/macoderish` is not one."""
    if len(body) > MAX_BODY_CHARS:
        return None
    for line in body.splitlines():
        stripped = line.strip()
        if stripped == PREFIX or stripped.startswith(PREFIX + " "):
            return stripped
    return None


def parse(event: CommentEvent) -> Command | Refusal | None:
    """What the comment asks, a refusal to say why not, or None when it is no command."""
    line = command_line(event.body)
    if line is None:
        return None
    if event.association not in ALLOWED:
        return Refusal(
            "only the repository's owners, members and collaborators may command macoder"
        )
    words = line.split()[1:]
    if not words:
        return Refusal(f"say what to do: {USAGE}")
    verb, args = words[0].lower(), words[1:]
    if verb == "status" and not args:
        return Command("status")
    if verb == "fix":  # the text is feedback, read again where it is used (`fix_text`)
        if not event.on_pull:
            return Refusal("`/macoder fix` works on a task's pull request, not on an issue")
        return Command("fix")
    if verb in ("run", "retry"):
        if len(args) != 1 or not is_task_id(args[0]):
            return Refusal(f"`/macoder {verb}` takes one task id, e.g. `/macoder {verb} T003`")
        return Command("run" if verb == "run" else "retry", args[0])
    return Refusal(f"not a command macoder knows; it knows {USAGE}")
