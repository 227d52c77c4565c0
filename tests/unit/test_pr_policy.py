"""The create-or-update decision for a task's pull request (forge/pr_policy.py), as a table.

Both forges act on this decision, so what it says is the promise: one open PR per task and
kind, brought to what the run wants in place — exactly the fields that differ, macoder's
state labels the new attempt no longer earns taken off, a person's labels never touched, and
`none` when nothing differs, so a re-run reports honestly."""

from __future__ import annotations

from dataclasses import replace

import pytest

from multi_agent_coder.errors import ForgeError
from multi_agent_coder.forge.base import (
    LABEL,
    LABEL_FAILED,
    LABEL_NEEDS_REVIEW,
    PrState,
    PullRequest,
    WantedPr,
)
from multi_agent_coder.forge.pr_policy import Create, Update, plan_pr

HEAD = "a" * 40
WANTED = WantedPr(
    task_id="T001",
    branch="macoder/T001",
    base="main",
    head_sha=HEAD,
    title="T001: add greeting",
    body="what was done",
    draft=False,
    labels=(LABEL,),
)
OPEN = PullRequest(
    number=7,
    task_id="T001",
    branch="macoder/T001",
    base="main",
    title=WANTED.title,
    body=WANTED.body,
    state=PrState.OPEN,
    draft=False,
    head_sha=HEAD,
    url="u",
    labels=(LABEL,),
)


def test_no_open_pull_request_means_create() -> None:
    assert plan_pr(None, WANTED) == Create()


# (what the open PR is, what the run wants) -> (title, body, base, draft, add, remove, operation)
TABLE = [
    pytest.param({}, {}, (None, None, None, None, (), (), "none"), id="identical: none"),
    pytest.param(
        {"head_sha": "b" * 40}, {}, (None, None, None, None, (), (), "updated"), id="head moved"
    ),
    pytest.param(
        {"title": "old"},
        {},
        (WANTED.title, None, None, None, (), (), "updated"),
        id="only the title differs",
    ),
    pytest.param(
        {"body": "old", "base": "develop"},
        {},
        (None, WANTED.body, "main", None, (), (), "updated"),
        id="body and base differ",
    ),
    pytest.param(
        {"draft": True},
        {},
        (None, None, None, False, (), (), "updated"),
        id="draft to ready, in place",
    ),
    pytest.param(
        {},
        {"draft": True, "labels": (LABEL, LABEL_FAILED)},
        (None, None, None, True, (LABEL_FAILED,), (), "updated"),
        id="a failed attempt: back to draft, failed label added",
    ),
    pytest.param(
        {"labels": (LABEL, LABEL_FAILED, LABEL_NEEDS_REVIEW, "team:web")},
        {},
        (None, None, None, None, (), (LABEL_FAILED, LABEL_NEEDS_REVIEW), "updated"),
        id="state labels the attempt no longer earns come off; a person's stay",
    ),
    pytest.param(
        {"labels": ("team:web",)},
        {"labels": (LABEL, LABEL)},
        (None, None, None, None, (LABEL,), (), "updated"),
        id="missing label added once",
    ),
]


@pytest.mark.parametrize(("pr_fields", "wanted_fields", "expected"), TABLE)
def test_an_open_pull_request_is_updated_in_exactly_what_differs(
    pr_fields: dict[str, object],
    wanted_fields: dict[str, object],
    expected: tuple[object, ...],
) -> None:
    existing = replace(OPEN, **pr_fields)  # type: ignore[arg-type]
    plan = plan_pr(existing, replace(WANTED, **wanted_fields))  # type: ignore[arg-type]
    assert isinstance(plan, Update)
    assert plan.pr is existing
    assert (
        plan.title,
        plan.body,
        plan.base,
        plan.draft,
        plan.add_labels,
        plan.remove_labels,
        plan.operation,
    ) == expected


def test_the_wanted_pull_request_is_made_visible_and_bound_to_its_branch() -> None:
    shown = replace(WANTED, title="T001: \x1b]0;x\x07", body="a\u202eb")
    assert "\x1b" not in shown.title
    assert "\u202e" not in shown.body
    with pytest.raises(ForgeError, match="must use branch macoder/T001"):
        replace(WANTED, branch="main")
    with pytest.raises(ForgeError, match="macoder/rebase-T001"):
        replace(WANTED, kind="rebase")
