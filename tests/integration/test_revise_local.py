"""`macoder revise` end to end on the local forge: the real CLI, real git, the real OpenCode
binary and the scripted model. A task runs and opens its PR; a reviewer's feedback then runs it
again on the PR's branch, and the PR gets new commits on top of what the reviewer saw.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from testing import scripted_model as sm
from tests.conftest import MakeTarget
from tests.integration import runs
from tests.integration.runs import MACODER, Result, Target

pytestmark = pytest.mark.e2e

FEEDBACK = "Please give triple a docstring that says zebra-crossing."
DOCSTRING = '    """Three times x (zebra-crossing)."""\n'


def only_task(result: Result, task_id: str = "T001") -> dict[str, Any]:
    found = [t for t in result.json()["tasks"] if t["id"] == task_id]
    assert len(found) == 1, result
    task: dict[str, Any] = found[0]
    return task


def revision(*, breaks_tests: bool = False) -> sm.Scenario:
    """The agent answering the review: a docstring (and, when told to, a broken triple)."""
    body = "    return 2 * x\n" if breaks_tests else "    return 3 * x\n"
    return sm.Scenario(
        [
            sm.write(
                "{worktree}/mathlib/triple.py",
                "def triple(x: int) -> int:\n" + DOCSTRING + body,
            ),
            sm.text("Added the docstring the reviewer asked for."),
        ]
    )


def first_run(target: Target, model: sm.ScriptedModel) -> tuple[int, str]:
    """T001 run to its PR: the PR's number and head."""
    model.set_scenario("T001", runs.feature("triple", 3))
    result = target.macoder("run", "--json")
    assert result.code == 0, result
    task = only_task(result)
    assert task["status"] == "succeeded", result
    head = target.git("rev-parse", "macoder/T001")
    return int(task["pr"]["number"]), head


def prompts_since(model: sm.ScriptedModel, since: float) -> list[str]:
    """The user messages of each T001 session the model saw since `since` (first request)."""
    return [
        "\n".join(
            sm.message_text(m)
            for m in (r.body or {}).get("messages", [])
            if isinstance(m, dict) and m.get("role") == "user"
        )
        for r in model.task_requests("T001")
        if r.step_index == 0 and r.received_at >= since
    ]


def test_revise_adds_a_verified_commit_on_top_of_the_same_pr(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    target = make_target(runs.tasks("T001"))
    number, old_head = first_run(target, model)
    before = target.checkout()

    model.set_scenario("T001", revision())
    started = time.time()
    result = target.macoder("revise", "T001", "-m", FEEDBACK, "--json")

    assert result.code == 0, result
    task = only_task(result)
    assert task["status"] == "succeeded", result
    assert task["pr"]["number"] == number
    assert task["pr"]["operation"] == "updated"
    assert task["reason"].startswith("revision: "), task
    # the model was sent the usual context and the Review section with the feedback
    prompts = prompts_since(model, started)
    assert len(prompts) == 1, prompts
    prompt = prompts[0]
    assert "# Task T001: " in prompt
    assert "## Review\n" in prompt
    assert FEEDBACK in prompt
    assert prompt.index("## Review") < prompt.index("## Instructions")
    # new commits on top of the PR's old head: fast-forward, macoder's, the agent's file only
    new_head = target.git("rev-parse", "macoder/T001")
    assert new_head != old_head
    assert target.git("merge-base", old_head, new_head) == old_head
    me = f"{MACODER[0]} <{MACODER[1]}>"
    commits = target.commits(old_head, new_head)
    assert [(a, c) for a, c, _ in commits] == [(me, me)], commits
    assert target.files_changed(old_head, new_head) == ["mathlib/triple.py"]
    assert DOCSTRING in target.git("show", "macoder/T001:mathlib/triple.py")
    # the same PR, at the new head, its body saying what the revision changed and verified
    pulls = target.pulls()
    assert [(p["number"], p["state"]) for p in pulls] == [(number, "open")]
    pr = pulls[0]
    assert pr["head_sha"] == new_head
    assert pr["draft"] is False
    assert "### Revision" in pr["body"]
    assert old_head[:10] in pr["body"]
    assert "-m pytest -q -p no:cacheprovider`: passed" in pr["body"]
    assert FEEDBACK in pr["body"]  # the context sent, Review section included
    # the attempt is in the ledger like any other: its start, then its outcome
    revise_run = result.json()["run_id"]
    records = [r for r in target.records("T001") if r["run_id"] == revise_run]
    kinds = [r["type"] for r in records]
    assert kinds[-4:] == ["lease", "start", "attempt", "release"], records
    assert records[-2]["outcome"] == "success"
    # nothing left behind; the user's checkout untouched
    assert target.no_worktree_left()
    assert runs.wait_for(lambda: target.opencode_pids() == [], 15)
    assert target.checkout() == before


def test_a_revision_whose_tests_fail_leaves_the_pr_as_it_was(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    target = make_target(runs.tasks("T001"))
    number, old_head = first_run(target, model)
    pr_before = target.pulls()

    model.set_scenario("T001", revision(breaks_tests=True))
    result = target.macoder("revise", "T001", "-m", FEEDBACK, "--json")

    assert result.code == 1, result
    task = only_task(result)
    assert task["status"] == "failed", result
    assert "tests fail" in task["reason"], task
    assert f"PR #{number} left as it was" in task["reason"], task
    # verification ran on the revision and refused it: the branch is back at the old head
    assert target.git("rev-parse", "macoder/T001") == old_head
    assert target.pulls() == pr_before
    records = target.records("T001")
    assert records[-2]["type"] == "attempt"
    assert records[-2]["outcome"] == "failure"
    assert target.no_worktree_left()


def test_revise_refuses_a_branch_a_person_pushed_to_and_overwrites_nothing(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    target = make_target(runs.tasks("T001"))
    number, old_head = first_run(target, model)
    # a person adds a commit to the PR's branch (as a push to it would)
    tree = target.git("rev-parse", f"{old_head}^{{tree}}")
    theirs = target.git("commit-tree", "-p", old_head, "-m", "my own fix", tree)
    target.git("update-ref", "refs/heads/macoder/T001", theirs, old_head)

    model.set_scenario("T001", revision())
    started = time.time()
    result = target.macoder("revise", "T001", "-m", FEEDBACK, "--json")

    assert result.code == 1, result
    task = only_task(result)
    assert task["status"] == "needs-review", result
    assert "someone else" in task["reason"], task
    assert "not overwritten" in task["reason"], task
    assert prompts_since(model, started) == []  # no agent session began
    assert target.git("rev-parse", "macoder/T001") == theirs
    (pr,) = target.pulls()
    assert pr["number"] == number
    assert pr["head_sha"] == old_head
    assert "macoder:needs-review" in pr["labels"]
    assert target.no_worktree_left()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["revise", "T001"], "exactly one of -m TEXT and --feedback-file"),
        (["revise", "T001", "-m", "x", "--feedback-file", "f.md"], "exactly one of"),
        (["revise", "T001", "-m", "   "], "the feedback is empty"),
        (["revise", "T001", "-m", "fix it"], "task T001 has no open pull request to revise"),
        (["revise", "T099", "-m", "fix it"], "T099"),
        (["revise", "../T001", "-m", "fix it"], "task id"),
        (["revise", "T001", "--feedback-file", "missing.md"], "missing.md"),
    ],
)
def test_revise_usage_errors_name_the_problem_and_change_nothing(
    make_target: MakeTarget, args: list[str], words: str
) -> None:
    target = make_target(runs.tasks("T001"))
    refs = target.refs()
    result = target.macoder(*args)
    assert result.code == 2, result
    assert words in result.stderr, result
    assert target.refs() == refs
    assert target.pulls() == []
