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

from multi_agent_coder.ids import is_task_id

PREFIX: Final = "/macoder"
#: Who may command macoder: people with a standing in the repository.
ALLOWED: Final = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
#: A comment body longer than this is not read for a command (GitHub allows 65,536).
MAX_BODY_CHARS: Final = 65_536

Verb = Literal["run", "retry", "status"]

USAGE: Final = (
    "`/macoder run T003` (run a ready task now), `/macoder retry T003` (a fresh attempt "
    "budget, free of an earlier answer), `/macoder status` (the table of tasks)"
)


@dataclass(frozen=True, slots=True)
class CommentEvent:
    """The parts of an `issue_comment` event macoder reads."""

    comment_id: int
    number: int  # the issue's or pull request's
    association: str
    body: str


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
    return CommentEvent(comment_id, number, association, body)


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
    if verb in ("run", "retry"):
        if len(args) != 1 or not is_task_id(args[0]):
            return Refusal(f"`/macoder {verb}` takes one task id, e.g. `/macoder {verb} T003`")
        return Command("run" if verb == "run" else "retry", args[0])
    return Refusal(f"not a command macoder knows; it knows {USAGE}")
