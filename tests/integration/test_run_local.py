"""`macoder run` end to end on the embedded default: the real CLI in a subprocess, real git, the
real OpenCode binary, and a scripted model playing the LLM.

Every test builds its own target repository (`runs.make_target`); one `ScriptedModel` serves the
whole module and each test scripts the tasks it uses before it runs them. Needs the pinned
OpenCode binary from `bash scripts/opencode.sh`; skipped with that hint when it is missing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing import scripted_model as sm
from tests.conftest import MakeTarget
from tests.integration import runs
from tests.integration.runs import MACODER, Result, Target

pytestmark = pytest.mark.e2e

HANG_TIMEOUT = 5.0
#: Allowed on top of a task timeout: abort, session delete, clean-up.
SLACK = 5.0

#: What a run with no ready task says (the wording differs when everything is completed).
NOTHING = re.compile(r"nothing (is ready|to do)")


# --- helpers --------------------------------------------------------------------------------------


def only_task(result: Result, task_id: str = "T001") -> dict[str, Any]:
    data = result.json()
    found = [t for t in data["tasks"] if t["id"] == task_id]
    assert len(found) == 1, result
    task: dict[str, Any] = found[0]
    return task


def backlog_status(target: Target, rev: str, task_id: str) -> str:
    data = yaml.safe_load(target.git("show", f"{rev}:BACKLOG.yaml"))
    return str(next(t["status"] for t in data["tasks"] if t["id"] == task_id))


def kinds(records: list[dict[str, Any]]) -> list[str]:
    return [r["type"] for r in records]


def sessions(model: sm.ScriptedModel, task_id: str, since: float = 0.0) -> int:
    """Agent sessions the model saw for `task_id`: each starts with a request at step 0."""
    return sum(
        1 for r in model.task_requests(task_id) if r.step_index == 0 and r.received_at >= since
    )


_PHASE_LINE = re.compile(r"^\[\s*([0-9.]+)s\] (\S+): (\w+)$", re.MULTILINE)


def phase_times(stderr: str, task_id: str) -> dict[str, float]:
    """When (seconds since the run started, by macoder's own progress lines) each phase began."""
    return {m[3]: float(m[1]) for m in _PHASE_LINE.finditer(stderr) if m[2] == task_id}


def assert_clean(target: Target) -> None:
    """No worktree, no OpenCode process left by any run on this target."""
    assert target.no_worktree_left(), (target.worktrees(), target.worktree_dirs())
    assert target.opencode_pids() == []


def assert_no_pr(target: Target) -> None:
    assert target.pulls() == []
    assert runs.wait_for(lambda: target.opencode_pids() == [], 15)


# --- 1. success -----------------------------------------------------------------------------------


def test_success_opens_one_verified_pr_and_leaves_nothing_behind(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", runs.feature("triple", 3))
    target = make_target(runs.tasks("T001"))
    (target.root / "notes.txt").write_text("the user's own notes\n")
    before = target.checkout()
    main_before = target.git("rev-parse", "main")

    result = target.macoder("run", "--json")

    assert result.code == 0, result
    task = only_task(result)
    assert task["status"] == "succeeded", result
    assert task["pr"]["operation"] == "created"
    assert task["session_deleted"] is True
    # the branch: the agent's work and the status flip, two commits, both macoder's
    assert target.branches() == ["macoder/T001"]
    head = target.git("rev-parse", "macoder/T001")
    me = f"{MACODER[0]} <{MACODER[1]}>"
    commits = target.commits("main", "macoder/T001")
    assert [(a, c) for a, c, _ in commits] == [(me, me), (me, me)], commits
    assert commits[1][2] == "T001: mark completed"
    first = target.git("rev-parse", "macoder/T001~1")
    assert sorted(target.files_changed("main", first)) == [
        "mathlib/triple.py",
        "tests/test_triple.py",
    ]
    assert target.files_changed(first, head) == ["BACKLOG.yaml"]
    assert backlog_status(target, "macoder/T001", "T001") == "completed"
    assert backlog_status(target, "main", "T001") == "pending"
    assert "return 3 * x" in target.git("show", "macoder/T001:mathlib/triple.py")
    # exactly one open PR, with the verification report
    prs = target.macoder("prs", "--json")
    assert prs.code == 0, prs
    pulls = prs.json()
    assert len(pulls) == 1, pulls
    pr = pulls[0]
    assert (pr["task_id"], pr["branch"], pr["base"], pr["state"]) == (
        "T001",
        "macoder/T001",
        "main",
        "open",
    )
    assert pr["head_sha"] == head
    assert pr["draft"] is False
    assert "### Verification" in pr["body"]
    assert "-m pytest -q -p no:cacheprovider`: passed" in pr["body"]
    # nothing left behind, the user's checkout untouched
    assert_clean(target)
    assert target.checkout() == before
    assert target.git("rev-parse", "main") == main_before
    assert (target.root / "notes.txt").read_text() == "the user's own notes\n"
    # the ledger: lease, the attempt's start and its end (success), release, all by this run
    records = target.records("T001")
    assert kinds(records) == ["lease", "start", "attempt", "comment", "release"], records
    assert {r["run_id"] for r in records} == {result.json()["run_id"]}
    assert records[2]["outcome"] == "success"


# --- 2. dependency waves --------------------------------------------------------------------------


@pytest.mark.slow
def test_dependency_waves_then_nothing_to_do(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", runs.feature("triple", 3))
    model.set_scenario("T002", runs.feature("quadruple", 4))
    target = make_target(runs.tasks("T001", "T002", depends={"T002": ["T001"]}))

    first = target.macoder("run", "--json")
    assert first.code == 0, first
    assert first.json()["ready"] == ["T001"]
    assert [t["id"] for t in first.json()["tasks"]] == ["T001"]
    assert target.branches() == ["macoder/T001"]

    merged = target.macoder("merge", "T001")
    assert merged.code == 0, merged
    assert backlog_status(target, "main", "T001") == "completed"
    assert backlog_status(target, "main", "T002") == "pending"
    branch, head, status = target.checkout()
    assert (branch, head, status) == ("refs/heads/main", target.git("rev-parse", "main"), "")

    second = target.macoder("run", "--json")
    assert second.code == 0, second
    assert second.json()["ready"] == ["T002"]
    assert only_task(second, "T002")["status"] == "succeeded", second
    # the second wave starts from the merged first one
    assert "return 3 * x" in target.git("show", "macoder/T002:mathlib/triple.py")
    assert target.macoder("merge", "T002").code == 0
    assert backlog_status(target, "main", "T002") == "completed"

    refs, forge = target.refs(), target.forge_bytes()
    sessions_before = len(model.task_requests())
    third = target.macoder("run")
    assert third.code == 0, third
    assert NOTHING.search(third.stdout), third
    assert target.refs() == refs
    assert target.forge_bytes() == forge
    assert len(model.task_requests()) == sessions_before
    assert_clean(target)
    status_rows = target.macoder("status", "--json").json()
    assert [(s["task_id"], s["state"]) for s in status_rows] == [
        ("T001", "completed"),
        ("T002", "completed"),
    ]


# --- 3. re-runs -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_rerun_skips_open_pr_and_retry_updates_the_same_pr(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", runs.feature("triple", 3))
    target = make_target(runs.tasks("T001"))
    first = target.macoder("run", "--json")
    assert first.code == 0, first
    number = only_task(first)["pr"]["number"]

    started = time.time()
    again = target.macoder("run", "--json")
    assert again.code == 0, again
    assert again.json()["ready"] == []
    assert again.json()["tasks"] == []
    assert NOTHING.search(again.json()["note"]), again
    assert "T001" in again.json()["note"]  # named as in review
    assert sessions(model, "T001", since=started) == 0

    model.set_scenario("T001", runs.feature("triple", 3))
    retried = target.macoder("run", "--retry", "T001", "--json")
    assert retried.code == 0, retried
    task = only_task(retried)
    assert task["status"] == "succeeded", retried
    assert task["pr"]["number"] == number
    assert task["pr"]["operation"] == "updated"
    assert sessions(model, "T001", since=started) == 1
    pulls = target.pulls()
    assert [(p["number"], p["task_id"], p["state"]) for p in pulls] == [(number, "T001", "open")]
    assert target.branches() == ["macoder/T001"]
    assert pulls[0]["head_sha"] == target.git("rev-parse", "macoder/T001")
    assert len(target.commits("main", "macoder/T001")) == 2  # reset, not stacked
    # One progress comment on the PR, edited after each attempt (a reset between them).
    [comment] = target.comments(number)
    assert "2 attempts so far" in comment
    assert "a person asked again" in comment
    assert_clean(target)


# --- 4. wrong code --------------------------------------------------------------------------------


def test_wrong_code_fails_without_a_pr(make_target: MakeTarget, model: sm.ScriptedModel) -> None:
    model.set_scenario("T001", runs.wrong_code())
    target = make_target(runs.tasks("T001"))
    result = target.macoder("run", "--json")
    assert result.code == 1, result
    task = only_task(result)
    assert task["status"] == "failed"
    assert "tests fail" in task["reason"], task
    assert task["pr"] is None
    assert target.pulls() == []
    assert_clean(target)
    records = target.records("T001")
    assert kinds(records) == ["lease", "start", "attempt", "release"], records
    assert records[2]["outcome"] == "failure"
    assert records[2]["reason"] == task["reason"]
    status = target.macoder("status", "--json")
    assert status.code == 0, status
    row = status.json()[0]
    assert row["attempts"] == 1
    assert "tests fail" in row["detail"]


# --- 5. hang --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_hang_is_bounded_by_the_task_timeout(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", sm.Scenario([sm.hang()]))
    target = make_target(runs.tasks("T001"), task_timeout=HANG_TIMEOUT)
    result = target.macoder("run", "--json")
    assert result.code == 1, result
    task = only_task(result)
    assert task["status"] == "failed"
    assert f"no session.idle within {HANG_TIMEOUT:g} s" in task["reason"], task
    assert task["agent_s"] <= HANG_TIMEOUT + SLACK
    phases = phase_times(result.stderr, "T001")
    assert phases["cleanup"] - phases["agent"] <= HANG_TIMEOUT + SLACK, phases
    assert task["session_deleted"] is True
    assert_no_pr(target)
    assert_clean(target)


# --- 6. provider errors ---------------------------------------------------------------------------


def test_provider_400_fails_with_the_providers_message(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", sm.Scenario([sm.error(400, "bad request: scripted")]))
    target = make_target(runs.tasks("T001"))
    result = target.macoder("run", "--json")
    assert result.code == 1, result
    task = only_task(result)
    assert task["status"] == "failed"
    assert "bad request: scripted" in task["reason"], task
    assert "400" in task["reason"]
    assert task["agent_s"] < 30  # not a timeout: the error ends the session
    assert_no_pr(target)
    assert_clean(target)


@pytest.mark.slow
def test_provider_500_retried_by_opencode_without_the_gateway_is_bounded_by_the_task_timeout(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    """With `sandbox: off` there is no gateway to give up on a failing provider (see
    test_gateway_run.py for that): OpenCode retries on its own, and the task's hard timeout is
    what bounds it."""
    model.set_scenario("T001", sm.Scenario([sm.error(500, "scripted overload")]))
    # Long enough for OpenCode's first request to arrive on a loaded machine.
    timeout = 20.0
    target = make_target(runs.tasks("T001"), task_timeout=timeout, settings={"sandbox": False})
    started = time.time()
    result = target.macoder("run", "--json")
    assert result.code == 1, result
    task = only_task(result)
    assert task["status"] == "failed"
    assert f"no session.idle within {timeout:g} s" in task["reason"], task
    assert task["agent_s"] <= timeout + SLACK
    asked = [r for r in model.task_requests("T001") if r.received_at >= started]
    assert [r.answer for r in asked][:1] == ["error:500"]
    if len(asked) >= 2:  # OpenCode retried (its first retry waits ~2 s: not always in time)
        assert "the provider kept failing: scripted overload" in task["reason"], task
    assert_no_pr(target)
    assert_clean(target)


# --- 7. permission / escape -----------------------------------------------------------------------


def test_reading_or_writing_outside_the_worktree_is_denied(
    make_target: MakeTarget, model: sm.ScriptedModel, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    model.set_scenario(
        "T001",
        sm.Scenario(
            [
                sm.permission(str(outside)),
                sm.write(str(outside), "pwned\n"),
                sm.text("I could not touch it."),
            ]
        ),
    )
    target = make_target(runs.tasks("T001"))
    result = target.macoder("run", "--json")
    assert result.code == 1, result
    task = only_task(result)
    assert task["status"] == "failed"
    assert "no changes" in task["reason"] or "asked for permission" in task["reason"], task
    assert task["agent_s"] < 30  # nobody waited for a human
    assert outside.read_text() == "not yours\n"
    tool_results = [
        m["content"]
        for m in (model.task_requests("T001")[-1].body or {})["messages"]
        if m["role"] == "tool"
    ]
    assert len(tool_results) == 2
    assert all("prevents you from using this specific tool call" in str(t) for t in tool_results)
    assert_no_pr(target)
    assert_clean(target)


# --- 8. the agent edits the backlog ---------------------------------------------------------------


def test_agent_editing_the_backlog_fails_the_task(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    backlog = runs.tasks("T001")
    cheat = backlog.replace("status: pending", "status: completed")
    model.set_scenario(
        "T001",
        sm.Scenario(
            [
                sm.write("{worktree}/mathlib/triple.py", "def triple(x):\n    return 3 * x\n"),
                sm.write("{worktree}/BACKLOG.yaml", cheat),
                sm.text("Done, and marked it completed."),
            ]
        ),
    )
    target = make_target(backlog)
    result = target.macoder("run", "--json")
    assert result.code == 1, result
    task = only_task(result)
    assert task["status"] == "failed"
    assert "only macoder may" in task["reason"], task
    assert_no_pr(target)
    assert_clean(target)
    assert backlog_status(target, "main", "T001") == "pending"


# --- 9. unhealthy repository ----------------------------------------------------------------------


def test_unhealthy_repository_touches_nothing(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", runs.feature())
    broken = "def test_broken() -> None:\n    assert 1 == 2\n"
    target = make_target(runs.tasks("T001"), files={"tests/test_broken.py": broken})
    refs, before = target.refs(), target.checkout()
    started = time.time()
    result = target.macoder("run")
    assert result.code == 1, result
    assert "the repository's own checks fail on main" in result.stderr
    # A message of several lines keeps them (control characters are escaped, line breaks not).
    assert "no task was started:\nthe repository's own checks on the default branch: FAILED" in (
        result.stderr
    )
    assert "FAILED" in result.stderr
    assert "1 failed" in result.stderr
    assert target.refs() == refs
    assert target.ledger() is None
    assert target.branches() == []
    assert target.forge_bytes() is None
    assert target.checkout() == before
    assert sessions(model, "T001", since=started) == 0
    assert_clean(target)


# --- 10. Ctrl-C -----------------------------------------------------------------------------------


def start_hanging_run(target: Target, model: sm.ScriptedModel) -> Any:
    """`macoder run` whose agent is stuck in a session (waits until the model is asked);
    `--debug`: an unexpected error shows its traceback."""
    started = time.time()
    process = target.start("--debug", "run", "--json")
    running = runs.wait_for(
        lambda: sessions(model, "T001", since=started) > 0 or process.poll() is not None, 60
    )
    assert running, "the agent never asked the model"
    assert process.poll() is None, runs.finish(process)
    assert target.worktree_dirs() == ["T001"]
    return process


@pytest.mark.slow
def test_sigint_cleans_up_and_exits_130(make_target: MakeTarget, model: sm.ScriptedModel) -> None:
    model.set_scenario("T001", sm.Scenario([sm.hang()]))
    target = make_target(runs.tasks("T001"), task_timeout=120)
    process = start_hanging_run(target, model)
    assert target.opencode_pids() != []

    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    result = runs.finish(process, timeout=30)
    took = time.monotonic() - sent
    # str(): the whole output, with the --debug traceback of an unexpected error (pytest cuts
    # a non-string message to a few hundred characters).
    assert result.code == 130, str(result)
    assert took < 60, str(result)  # not the 120 s task timeout: Ctrl-C ended it
    task = only_task(result)
    assert task["status"] == "interrupted"
    assert task["session_deleted"] is True
    assert_clean(target)
    assert target.pulls() == []
    records = target.records("T001")
    # An interrupted attempt still counts: it began, and may have spent tokens.
    assert kinds(records) == ["lease", "start", "attempt", "release"], records
    assert records[2]["outcome"] == "interrupted"

    model.set_scenario("T001", runs.feature())
    again = target.macoder("run", "--json")
    assert again.code == 0, again
    assert again.json()["reconciled_worktrees"] == []
    assert only_task(again)["status"] == "succeeded"
    assert len(target.pulls()) == 1
    assert_clean(target)


# --- 11. kill -9 ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_after_kill_9_the_next_run_reconciles(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    """A SIGKILLed run leaves a stray worktree and a live lease; its sandboxed `opencode
    serve` dies with it (the sandbox dies with its parent: nothing of the agent outlives
    the run). The next run removes and frees what was left, then does the task."""
    model.set_scenario("T001", sm.Scenario([sm.hang()]))
    target = make_target(runs.tasks("T001"), task_timeout=120)
    try:
        process = start_hanging_run(target, model)
        assert target.opencode_pids() != []
        process.kill()
        killed = runs.finish(process, timeout=30)
        assert killed.code == -signal.SIGKILL
        assert runs.wait_for(lambda: target.opencode_pids() == [], 15), target.opencode_pids()
        assert target.worktree_dirs() == ["T001"]
        assert len(target.worktrees()) == 2
        assert kinds(target.records("T001")) == ["lease", "start"]
        [server_record] = (target.git_dir / "macoder" / "servers").glob("*.json")
        sockets = Path(json.loads(server_record.read_text())["sockets"])
        assert sockets.is_dir()  # nothing removes it but the next run

        model.set_scenario("T001", runs.feature())
        result = target.macoder("run", "--json")
        assert result.code == 0, result
        assert not sockets.exists()
        data = result.json()
        assert data["reconciled_worktrees"] == ["T001"]
        assert data["freed_leases"] == ["T001"]
        assert data["planned"][0]["attempt"] == 2  # the killed run's attempt counts
        assert only_task(result)["status"] == "succeeded"
        [killed_attempt, done] = [r for r in target.records("T001") if r["type"] == "attempt"]
        assert killed_attempt["outcome"] == "interrupted"
        assert done["outcome"] == "success"
        assert target.branches() == ["macoder/T001"]
        assert [p["task_id"] for p in target.pulls()] == ["T001"]
        assert target.no_worktree_left()
        assert target.opencode_pids() == []
    finally:
        runs.kill_all(target.opencode_pids())


# --- 12. hostile and unknown ids ------------------------------------------------------------------


def test_hostile_and_unknown_ids_are_usage_errors(make_target: MakeTarget) -> None:
    target = make_target(runs.tasks("T001"))
    refs, before = target.refs(), target.checkout()
    exclude = (target.git_dir / "info" / "exclude").read_bytes()
    calls = [
        ("run", "--retry", "../x"),
        ("run", "--only", "T001;rm -rf /"),
        ("run", "--retry", "T999"),
        ("merge", "T999"),
        ("merge", "T001"),
        ("merge", "../../etc/passwd"),
    ]
    for args in calls:
        result = target.macoder(*args)
        assert result.code == 2, (args, str(result))
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("macoder: error:") or "usage:" in result.stderr, result
    assert target.refs() == refs
    assert target.checkout() == before
    assert target.forge_bytes() is None
    assert target.ledger() is None
    assert target.branches() == []
    assert (target.git_dir / "info" / "exclude").read_bytes() == exclude
    assert_clean(target)


# --- 13. two runs at once -------------------------------------------------------------------------


@pytest.mark.slow
def test_two_runs_at_once_run_each_task_once(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", runs.feature("triple", 3, delay_s=1.0))
    model.set_scenario("T002", runs.feature("quadruple", 4, delay_s=1.0))
    target = make_target(runs.tasks("T001", "T002"))
    started = time.time()
    first, second = target.start("run", "--json"), target.start("run", "--json")
    results = [runs.finish(first, timeout=120), runs.finish(second, timeout=120)]
    for result in results:
        assert result.code == 0, str(result)  # whole: with the crash report, if any
    for task_id in ("T001", "T002"):
        outcomes = [t["status"] for r in results for t in r.json()["tasks"] if t["id"] == task_id]
        assert sorted(outcomes) in (["succeeded"], ["skipped", "succeeded"]), (task_id, results)
        assert sessions(model, task_id, since=started) == 1
    assert sorted(p["task_id"] for p in target.pulls()) == ["T001", "T002"]
    assert target.branches() == ["macoder/T001", "macoder/T002"]
    assert_clean(target)


@pytest.mark.slow
def test_a_task_finished_by_another_run_meanwhile_is_not_run_again(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    # Run A works on T001 with one worker, its agent waiting for a flag file, so T002 waits in
    # its queue; run B does T002 in the meantime and the PR is merged; then the flag is set.
    flag = "go.flag"
    model.set_scenario(
        "T001",
        sm.Scenario(
            [
                sm.bash(f"while [ ! -e {flag} ]; do sleep 0.1; done; rm {flag}", "Wait"),
                *runs.feature("triple", 3).steps,
            ]
        ),
    )
    model.set_scenario("T002", runs.feature("quadruple", 4))
    target = make_target(runs.tasks("T001", "T002"), task_timeout=90)
    started = time.time()
    slow = target.start("run", "--json", "--workers", "1")
    try:
        # It has decided what is ready once T001's session starts (its health check leaves
        # nothing to wait for: it runs on an export, not in a worktree).
        decided = runs.wait_for(lambda: sessions(model, "T001", since=started) > 0, 60, step=0.01)
        assert decided
        other = target.macoder("run", "--json", "--only", "T002")
        assert only_task(other, "T002")["status"] == "succeeded", other
        assert target.macoder("merge", "T002").code == 0
        assert runs.wait_for(lambda: sessions(model, "T001", since=started) > 0, 60)
        (target.root / ".macoder" / "worktrees" / "T001" / flag).touch()
        result = runs.finish(slow, timeout=90)
    finally:
        if slow.poll() is None:
            os.killpg(slow.pid, signal.SIGKILL)
            slow.wait()
    assert result.code == 0, result
    assert sessions(model, "T002", since=started) == 1
    assert [p["task_id"] for p in target.pulls()].count("T002") == 1
