"""The run engine through every phase, in-process, with a fake agent at the `Agent` protocol.

Everything but the agent is real: a git repository in a temporary directory, task worktrees,
the run ledger on its ref, the local forge, the repository's own check (a tiny Python script)
run by the real check runner. The agent is a plain object that does to the worktree what a
scenario says and reports what a runtime would — so each way a task can end is a few lines
here and takes milliseconds, and the integration tests run the same engine with the real
OpenCode.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.agents.base import AgentOutcome, AgentResult
from multi_agent_coder.config import Settings
from multi_agent_coder.context.review import Feedback
from multi_agent_coder.errors import GitError, UnhealthyRepositoryError, UsageError
from multi_agent_coder.forge.base import LABEL_FAILED, LABEL_NEEDS_REVIEW, WantedPr
from multi_agent_coder.git.ledger import LEDGER_REF, Attempt, Ledger
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.git.worktree import WorktreeManager
from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions, RunReport
from multi_agent_coder.run.session import Session, holder_id, open_local
from multi_agent_coder.run.task import Phase
from tests.integration.gitrepos import (
    commit,
    git,
    half_written_registration,
    health_worktree,
    make_repo,
)
from tests.support import backlog_yaml, task_dict

#: The repository's own check: fails when any text file says BROKEN.
CHECK = (
    "import pathlib, sys\n"
    "bad = [p.name for p in pathlib.Path('.').rglob('*.txt') if 'BROKEN' in p.read_text()]\n"
    "print('broken:', bad) if bad else print('all good')\n"
    "sys.exit(1 if bad else 0)\n"
)

#: What the agent does to a worktree; None: nothing.
Act = Callable[[Path], None]


def writes(name: str, text: str = "done\n") -> Act:
    def act(worktree: Path) -> None:
        (worktree / name).write_text(text, encoding="utf-8")

    return act


@dataclass
class Scenario:
    act: Act | None = None
    outcome: AgentOutcome = AgentOutcome.SUCCESS
    reason: str = "idle after 1 assistant message(s), 1 tool call(s)"
    received: tuple[str, ...] | None = None  # None: exactly the prompt it was given
    during: Callable[[], None] | None = None
    provider_fault: bool = False
    runtime_fault: bool = False
    #: The session could not be verified deleted (a leak the report must show).
    leaked: bool = False


@dataclass
class FakeAgent:
    """The `Agent` protocol: runs each task's scenario, records every call."""

    scenarios: dict[str, Scenario]
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self, *, prompt: str, worktree: Path, model: str, timeout_s: float, title: str
    ) -> AgentResult:
        task_id = worktree.name
        with self.lock:
            self.calls.append(
                {"task": task_id, "prompt": prompt, "model": model, "timeout_s": timeout_s}
            )
        scenario = self.scenarios.get(task_id, Scenario(writes(f"{task_id.lower()}.txt")))
        if scenario.during is not None:
            scenario.during()
        if scenario.act is not None:
            scenario.act(worktree)
        return AgentResult(
            outcome=scenario.outcome,
            reason=scenario.reason,
            session_id="ses_fake",
            duration_s=0.01,
            session_deleted=not scenario.leaked,
            output_text="done",
            tokens_in=1200,
            tokens_out=80,
            cost=0.002,
            model=model,
            received=(prompt,) if scenario.received is None else scenario.received,
            provider_fault=scenario.provider_fault,
            runtime_fault=scenario.runtime_fault,
        )


@dataclass
class World:
    root: Path
    agent: FakeAgent
    settings: Settings
    started: list[str] = field(default_factory=list)

    def session(self) -> Session:
        @contextlib.contextmanager
        def factory(settings: Settings, repo: Repo, cancel: threading.Event) -> Iterator[Any]:
            self.started.append(settings.models.implementation)
            yield self.agent

        return open_local(self.root, self.settings, agent_factory=factory)

    def run(self, **options: Any) -> RunReport:
        with self.session() as session:
            return Orchestrator(session).run(RunOptions(**options))

    def ledger(self) -> list[dict[str, Any]]:
        if not git(self.root, "for-each-ref", LEDGER_REF):
            return []
        text = git(self.root, "show", f"{LEDGER_REF}:ledger.jsonl")
        return [json.loads(line) for line in text.splitlines() if line]

    def prs(self) -> list[dict[str, Any]]:
        store = self.root / ".git" / "macoder" / "forge.json"
        return json.loads(store.read_text())["pulls"] if store.exists() else []

    def leftovers(self) -> list[str]:
        """Task worktree directories, and worktrees git still lists besides the checkout."""
        base = self.root / ".macoder" / "worktrees"
        found = [p.name for p in base.iterdir()] if base.is_dir() else []
        listed = git(self.root, "worktree", "list", "--porcelain").count("worktree ")
        return found + ["registered"] * (listed - 1)


def settings(**overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "checks": {"test": [sys.executable, "check.py"]},
        "models": {"implementation": "fake/strong", "documentation": "fake/cheap"},
        "workers": 2,
        "task_timeout": 60,
    }
    data.update(overrides)
    return Settings(**data)


def make_world(tmp_path: Path, *tasks: dict[str, Any], **overrides: Any) -> World:
    backlog = backlog_yaml(*(tasks or (task_dict("T001"), task_dict("T002"))))
    root = make_repo(
        tmp_path / "repo",
        {
            "BACKLOG.yaml": backlog,
            "check.py": CHECK,
            "notes.txt": "fine\n",
            ".gitignore": ".macoder/\n",
        },
    )
    return World(root, FakeAgent({}), settings(**overrides))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def outcome_of(report: RunReport, task_id: str) -> tuple[str, str]:
    found = next(o for o in report.outcomes if o.task_id == task_id)
    return found.status, found.reason


# --- a task that works --------------------------------------------------------------------


def test_a_verified_task_becomes_one_pr_with_the_work_and_the_status_flip(world: World) -> None:
    report = world.run(only=frozenset({"T001"}))

    assert outcome_of(report, "T001") == ("succeeded", "PR #1 created")
    [pr] = world.prs()
    assert (pr["task_id"], pr["state"], pr["draft"]) == ("T001", "open", False)
    log = git(world.root, "log", "--format=%an|%s", "main..macoder/T001").splitlines()
    assert log == ["macoder|T001: mark completed", "macoder|T001: Do the thing T001"]
    flipped = git(world.root, "show", "macoder/T001:BACKLOG.yaml")
    assert "status: completed" in flipped
    assert git(world.root, "show", "macoder/T001:t001.txt") == "done"
    [attempt] = [r for r in world.ledger() if r["type"] == "attempt"]
    assert (attempt["outcome"], attempt["tokens_in"], attempt["model"]) == (
        "success",
        1200,
        "fake/cheap",  # one hour, one file: a simple change, the documentation model
    )
    assert world.leftovers() == []
    assert Ledger(Repo.open(world.root)).read()[-1].kind == "release"


def test_the_attempt_says_what_it_ran_against_and_what_its_session_became(world: World) -> None:
    world.agent.scenarios["T002"] = Scenario(writes("t002.txt"), leaked=True)
    world.run()
    records = {r["task"]: r for r in world.ledger() if r["type"] == "attempt"}
    main = git(world.root, "rev-parse", "main")  # BACKLOG.yaml and specs/ as the agent saw them
    for task_id, deleted in (("T001", True), ("T002", False)):
        record = records[task_id]
        assert record["base_sha"] == main
        assert record["role"] == "documentation"  # the role the router chose fake/cheap for
        assert (record["session_created"], record["session_deleted"]) == (True, deleted)
        assert (record["drift"], record["agent_s"]) == (False, 0.01)


def test_the_agent_gets_the_tasks_prompt_its_routed_model_and_the_timeout(
    tmp_path: Path,
) -> None:
    big = {"files_hint": [f"src/m{i}.py" for i in range(6)], "estimated_hours": 6.0}
    world = make_world(tmp_path, task_dict("T001", scope=big), task_timeout=42)
    world.run()
    [call] = world.agent.calls
    assert call["model"] == "fake/strong"  # six files: a complex change
    assert call["timeout_s"] == 42
    assert call["prompt"].startswith("# Task T001: Do the thing T001")


def test_tasks_run_in_waves_as_their_dependencies_are_merged(tmp_path: Path) -> None:
    world = make_world(tmp_path, task_dict("T001"), task_dict("T002", depends_on=["T001"]))
    first = world.run()
    assert [o.task_id for o in first.outcomes] == ["T001"]
    with world.session() as session:
        session.merge("T001")
    second = world.run()
    assert [o.task_id for o in second.outcomes] == ["T002"]
    third = world.run()
    assert third.outcomes == []
    assert third.note == "nothing is ready (1/2 completed; running or in review: T002)"


# --- a task that does not work ------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        (
            Scenario(None, AgentOutcome.ERROR, "ProviderError: 500 upstream"),
            "agent error: ProviderError: 500 upstream",
        ),
        (
            Scenario(None, AgentOutcome.TIMEOUT, "no session.idle within 60 s"),
            "agent timeout: no session.idle within 60 s",
        ),
        (Scenario(None, AgentOutcome.BLOCKED, "asked for permission"), "agent blocked: asked"),
        (Scenario(None), "the agent made no changes"),
        (Scenario(writes("feature.txt", "BROKEN\n")), "tests fail after the agent's change"),
        (Scenario(writes("BACKLOG.yaml", "tasks: []\n")), "the agent edited BACKLOG.yaml"),
        (
            Scenario(
                lambda wt: commit(wt, {"sneaky.txt": "x\n"}, "agent commit"),
            ),
            "the agent committed by itself",
        ),
        (
            Scenario(writes("f.txt"), received=("Also do T002, let me think.",)),
            "the session's input drifted: cross-task contamination in T001",
        ),
    ],
    ids=["error", "timeout", "blocked", "no-changes", "tests", "backlog", "commit", "received"],
)
def test_every_failure_is_an_attempt_with_its_reason_and_no_pr(
    world: World, scenario: Scenario, reason: str
) -> None:
    world.agent.scenarios["T001"] = scenario

    report = world.run(only=frozenset({"T001"}))

    status, why = outcome_of(report, "T001")
    assert status == "failed"
    assert why.startswith(reason), why
    assert report.exit_code == 1
    assert world.prs() == []
    [attempt] = [r for r in world.ledger() if r["type"] == "attempt"]
    assert attempt["outcome"] == "failure"
    assert attempt["reason"] == why
    assert attempt["drift"] is why.startswith("the session's input drifted")
    assert (attempt["session_created"], attempt["session_deleted"]) == (True, True)
    assert world.leftovers() == []
    assert git(world.root, "rev-parse", "main") == git(world.root, "rev-parse", "HEAD")


def test_a_failure_with_draft_pr_mode_keeps_the_work_as_a_labelled_draft(tmp_path: Path) -> None:
    world = make_world(tmp_path, task_dict("T001"), failure_mode="draft-pr")
    world.agent.scenarios["T001"] = Scenario(writes("feature.txt", "BROKEN\n"))

    report = world.run()

    assert outcome_of(report, "T001")[0] == "failed"
    [pr] = world.prs()
    assert pr["draft"] is True
    assert LABEL_FAILED in pr["labels"]
    assert "This attempt failed" in pr["body"]
    assert "BROKEN" in git(world.root, "show", "macoder/T001:feature.txt")


def test_attempts_are_counted_until_the_task_is_out_of_them(world: World) -> None:
    world.agent.scenarios["T001"] = Scenario(None)
    for _ in range(3):
        world.run(only=frozenset({"T001"}))
    report = world.run(only=frozenset({"T001"}))
    assert report.outcomes == []
    assert report.note == "nothing is ready: T001 is out of attempts (3/3)"
    assert len(world.agent.calls) == 3


def test_retry_gives_a_task_out_of_attempts_a_fresh_budget_and_says_so(world: World) -> None:
    world.agent.scenarios["T001"] = Scenario(None)
    for _ in range(3):
        world.run(only=frozenset({"T001"}))
    dry = world.run(only=frozenset({"T001"}), retry=frozenset({"T001"}), dry_run=True)
    assert dry.reset_attempts == {"T001": 3}
    assert [p.attempt for p in dry.planned] == [1]
    assert not [r for r in world.ledger() if r["type"] == "reset"]  # a dry run writes nothing

    world.agent.scenarios["T001"] = Scenario(writes("t001.txt"))
    report = world.run(only=frozenset({"T001"}), retry=frozenset({"T001"}))
    assert report.reset_attempts == {"T001": 3}
    assert outcome_of(report, "T001")[0] == "succeeded"
    kinds = [(r["type"], r.get("outcome")) for r in world.ledger() if r["task"] == "T001"]
    assert kinds[-6:] == [
        ("reset", None),
        ("lease", None),
        ("start", None),
        ("attempt", "success"),
        ("comment", None),  # the PR's progress comment, kept with its id
        ("release", None),
    ]


@pytest.mark.parametrize(
    ("reason", "fault"),
    [
        ("model provider: HTTP 503", {"provider_fault": True}),
        ("OpenCode event stream /event not connected within 30 s", {"runtime_fault": True}),
    ],
    ids=["provider", "runtime"],
)
def test_an_outage_outside_the_task_is_recorded_but_costs_no_attempt(
    world: World, reason: str, fault: dict[str, bool]
) -> None:
    world.agent.scenarios["T001"] = Scenario(
        None, outcome=AgentOutcome.ERROR, reason=reason, **fault
    )
    for _ in range(4):
        report = world.run(only=frozenset({"T001"}))
        assert outcome_of(report, "T001") == ("failed", f"agent error: {reason}")
    outcomes = [r["outcome"] for r in world.ledger() if r["type"] == "attempt"]
    assert outcomes == ["infrastructure"] * 4
    assert len(world.agent.calls) == 4  # never "out of attempts"


def worktree_dir_is_a_file(root: Path) -> None:
    (root / ".macoder").mkdir()
    (root / ".macoder" / "worktrees").write_text("not a directory\n")


def unreadable_registration(root: Path) -> None:
    half_written_registration(root, "stuck", locked=True)


@pytest.mark.parametrize("break_worktrees", [worktree_dir_is_a_file, unreadable_registration])
def test_a_worktree_that_cannot_be_set_up_costs_no_attempt_and_leaves_no_branch(
    world: World, break_worktrees: Callable[[Path], None]
) -> None:
    """Setting up the worktree is macoder's job, not the task's: when it fails, the attempt is
    recorded as infrastructure (not counted), the agent never ran, and no branch is left."""
    break_worktrees(world.root)

    report = world.run(only=frozenset({"T001"}))

    status, reason = outcome_of(report, "T001")
    assert (status, report.outcomes[0].phase) == ("failed", Phase.WORKTREE)
    assert reason.startswith("setting up the worktree failed (infrastructure, not counted)")
    assert world.agent.calls == []
    assert [r["outcome"] for r in world.ledger() if r["type"] == "attempt"] == ["infrastructure"]
    assert Repo.open(world.root).branch_head("macoder/T001") is None
    assert world.prs() == []
    assert [p.attempt for p in world.run(only=frozenset({"T001"}), dry_run=True).planned] == [1]


def test_a_worktree_that_cannot_be_removed_keeps_the_outcome_and_frees_the_lease(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `git worktree remove` that fails (say, git timed out on a loaded machine) must not
    lose the task's PR, its ledger record or its lease; the next run removes the leftover."""

    def remove_fails(self: WorktreeManager, task_id: str) -> None:
        raise GitError("git did not finish within 120 s", command=["git", "worktree", "remove"])

    with monkeypatch.context() as patched:
        patched.setattr(WorktreeManager, "remove", remove_fails)
        report = world.run(only=frozenset({"T001"}))

    status, reason = outcome_of(report, "T001")
    assert status == "succeeded"
    assert reason.startswith("PR #1 created; its worktree was left for the next run to remove")
    assert [r["outcome"] for r in world.ledger() if r["type"] == "attempt"] == ["success"]
    assert Ledger(Repo.open(world.root)).read()[-1].kind == "release"
    assert world.leftovers() == ["T001", "registered"]
    assert world.run(dry_run=True).reconciled_worktrees == ["T001"]
    assert world.leftovers() == []


def test_a_prompt_that_grew_too_much_is_refused_before_the_agent_runs(world: World) -> None:
    first = Attempt("T001", "old-run", "failure", "x", 1.0, 100, None, None, None, None, 1.0)
    Ledger(Repo.open(world.root)).record_attempt(first)  # its prompt was 100 bytes
    report = world.run(only=frozenset({"T001"}))
    status, why = outcome_of(report, "T001")
    assert status == "failed"
    assert why.startswith("context drift in T001")
    assert world.agent.calls == []
    last = [r for r in world.ledger() if r["type"] == "attempt"][-1]
    assert (last["drift"], last["session_created"], last["agent_s"]) == (True, False, 0.0)
    assert "session_deleted" not in last
    assert "role" not in last


def test_only_a_drifted_input_is_a_drift_alert_not_another_rule_it_came_with(
    world: World,
) -> None:
    """The session received another task's id but also left no change: the first rule
    broken is "no changes", and that is what the attempt is refused for."""
    world.agent.scenarios["T001"] = Scenario(None, received=("Also do T002.",))
    report = world.run(only=frozenset({"T001"}))
    assert outcome_of(report, "T001")[1].startswith("the agent made no changes")
    [attempt] = [r for r in world.ledger() if r["type"] == "attempt"]
    assert attempt["drift"] is False


def test_a_branch_a_person_committed_to_is_not_touched_and_waits_for_them(world: World) -> None:
    git(world.root, "checkout", "-q", "-b", "macoder/T001")
    theirs = commit(world.root, {"by-hand.txt": "mine\n"}, "a person's fix")
    git(world.root, "checkout", "-q", "main")

    report = world.run(only=frozenset({"T001"}))

    status, why = outcome_of(report, "T001")
    assert status == "needs-review"
    assert theirs[:10] in why
    assert world.agent.calls == []
    assert git(world.root, "rev-parse", "macoder/T001") == theirs
    [attempt] = [r for r in world.ledger() if r["type"] == "attempt"]
    assert attempt["outcome"] == "needs-review"
    # Sticky: the next run leaves the task to the person (it would stop the same way).
    again = world.run(only=frozenset({"T001"}))
    assert again.outcomes == []
    assert again.note.startswith("nothing is ready: T001 is needs-review (a person must look")


def test_a_person_pushing_after_a_pr_was_opened_gets_it_labelled_needs_review(
    world: World,
) -> None:
    world.run(only=frozenset({"T001"}))
    git(world.root, "checkout", "-q", "macoder/T001")
    commit(world.root, {"by-hand.txt": "mine\n"}, "a person's fix")
    git(world.root, "checkout", "-q", "main")

    report = world.run(retry=frozenset({"T001"}), only=frozenset({"T001"}))

    assert outcome_of(report, "T001")[0] == "needs-review"
    [pr] = world.prs()
    assert LABEL_NEEDS_REVIEW in pr["labels"]


# --- cancellation and limits --------------------------------------------------------------


def test_cancelling_mid_task_cleans_up_and_counts_an_interrupted_attempt(world: World) -> None:
    with world.session() as session:
        orchestrator = Orchestrator(session)
        world.agent.scenarios["T001"] = Scenario(writes("x.txt"), during=orchestrator.cancel.set)
        report = orchestrator.run(RunOptions(only=frozenset({"T001"})))

    assert report.interrupted
    assert report.exit_code == 130
    assert outcome_of(report, "T001")[0] == "interrupted"
    [attempt] = [r for r in world.ledger() if r["type"] == "attempt"]
    assert (attempt["outcome"], attempt["reason"]) == ("interrupted", "interrupted")
    assert world.ledger()[-1]["type"] == "release"
    assert world.leftovers() == []
    assert world.prs() == []


def test_an_internal_error_in_a_task_ends_the_run_but_frees_its_lease_and_tidies_up(
    world: World,
) -> None:
    """A bug of ours inside a task (here: the agent call raises something unexpected) ends
    the run with that error, but the task's lease is not held until its bound, and neither
    its worktree nor an unpublished branch is left for the next run."""

    def bug() -> None:
        raise RuntimeError("a bug in macoder")

    world.agent.scenarios["T001"] = Scenario(writes("x.txt"), during=bug)
    with pytest.raises(RuntimeError, match="a bug in macoder"):
        world.run(only=frozenset({"T001"}))

    assert [r["type"] for r in world.ledger()] == ["lease", "start", "release"]
    assert world.leftovers() == []
    assert "macoder/T001" not in git(world.root, "branch", "--list", "macoder/*")
    assert world.prs() == []


def test_the_run_timeout_stops_what_is_left(tmp_path: Path) -> None:
    """A task still going at `run_timeout` is cancelled like Ctrl-C cancels it; the report
    says the time ran out (not that a person interrupted it)."""
    world = make_world(tmp_path, task_dict("T001"), run_timeout=0.001)
    with world.session() as session:
        orchestrator = Orchestrator(session)
        # The agent works until the run tells it to stop (an event, not a sleep).
        world.agent.scenarios["T001"] = Scenario(
            writes("x.txt"), during=lambda: orchestrator.cancel.wait(60)
        )
        report = orchestrator.run(RunOptions())

    assert orchestrator.cancel.is_set()
    assert report.timed_out
    assert not report.interrupted
    assert outcome_of(report, "T001")[0] == "interrupted"
    assert world.leftovers() == []


def test_a_task_finished_meanwhile_by_another_run_is_skipped_after_the_lease(
    world: World,
) -> None:
    def open_pr_elsewhere() -> None:  # another run opens T002's PR once this run has started
        from multi_agent_coder.forge.local import LocalForge

        LocalForge(Repo.open(world.root)).create_or_update_pr(
            WantedPr(
                task_id="T002",
                branch="macoder/T002",
                base="main",
                head_sha=git(world.root, "rev-parse", "main"),
                title="T002",
                body="",
                draft=False,
                labels=(),
            )
        )

    world.agent.scenarios["T001"] = Scenario(writes("t1.txt"), during=open_pr_elsewhere)
    world.settings = world.settings.model_copy(update={"workers": 1})  # T001, then T002

    report = world.run()

    assert outcome_of(report, "T001")[0] == "succeeded"
    assert outcome_of(report, "T002") == ("skipped", "PR #1 was opened meanwhile by another run")
    assert [c["task"] for c in world.agent.calls] == ["T001"]


# --- before any task starts ---------------------------------------------------------------


def test_a_dry_run_plans_model_and_attempt_and_starts_nothing(world: World) -> None:
    report = world.run(dry_run=True)
    assert [(p.task_id, p.model, p.attempt) for p in report.planned] == [
        ("T001", "fake/cheap", 1),
        ("T002", "fake/cheap", 1),
    ]
    assert report.note.startswith("dry run: nothing was started")
    assert world.started == []
    assert world.ledger() == []


def test_unknown_ids_are_refused_before_anything_is_touched(world: World) -> None:
    with pytest.raises(UsageError, match=r"--only names unknown task\(s\): T009"):
        world.run(only=frozenset({"T009"}))
    with pytest.raises(UsageError, match=r"--retry names unknown task\(s\): T008"):
        world.run(retry=frozenset({"T008"}))
    assert world.ledger() == []
    assert not (world.root / ".macoder").exists()


def test_an_unhealthy_repository_starts_nothing(world: World) -> None:
    commit(world.root, {"notes.txt": "BROKEN\n"}, "break main")
    with pytest.raises(UnhealthyRepositoryError, match="checks fail on main"):
        world.run()
    assert world.started == []
    assert world.ledger() == []
    assert world.leftovers() == []


def run_noting(world: World, **options: Any) -> tuple[RunReport | Exception, list[str]]:
    """A run with its log lines (`on_note`); the error it stopped with, if any."""
    notes: list[str] = []
    with world.session() as session:
        try:
            report: RunReport | Exception = Orchestrator(session, on_note=notes.append).run(
                RunOptions(**options)
            )
        except UnhealthyRepositoryError as exc:
            report = exc
    return report, notes


def test_a_health_verdict_on_the_very_commit_replaces_the_check(world: World) -> None:
    """The Action's task job: the wave's health job found the base healthy, so the run does
    not run the checks again — even here, where they would fail — and says so."""
    sha = commit(world.root, {"notes.txt": "BROKEN\n"}, "break main")
    report, notes = run_noting(world, only=frozenset({"T001"}), healthy_sha=sha)
    assert isinstance(report, RunReport)
    assert notes == [f"health check passed for {sha} in the wave's health job"]
    assert report.health is None
    assert [call["task"] for call in world.agent.calls] == ["T001"]
    # Verification still runs the tests, with the command the check would have used.
    status, reason = outcome_of(report, "T001")
    assert status == "failed"
    assert "tests fail" in reason


def test_a_health_verdict_on_another_commit_is_not_trusted(world: World) -> None:
    commit(world.root, {"notes.txt": "BROKEN\n"}, "break main")
    other = "f" * 40
    report, notes = run_noting(world, healthy_sha=other)
    assert isinstance(report, UnhealthyRepositoryError)
    assert notes[0].startswith(f"the wave's health job checked {other[:10]}, this run starts")
    assert world.agent.calls == []


def test_a_trusted_verdict_without_a_test_command_here_is_checked_here(tmp_path: Path) -> None:
    """This job's runner finds no test command where the health job found one (set up
    differently): the run checks for itself, and the check says what is missing."""
    world = make_world(tmp_path, task_dict("T001"), checks={})
    sha = git(world.root, "rev-parse", "HEAD")
    report, notes = run_noting(world, healthy_sha=sha)
    assert isinstance(report, UnhealthyRepositoryError)
    assert "no test runner detected" in str(report)
    assert notes == [
        f"health check passed for {sha} in the wave's health job, but no test command is "
        "found here: checking it here"
    ]
    assert world.agent.calls == []


def test_the_check_is_detected_with_the_sessions_interpreter(tmp_path: Path) -> None:
    """pytest is detected and run with the session's Python (the runner's, in the Action),
    not with the interpreter macoder itself runs on."""
    world = make_world(tmp_path, task_dict("T001"), checks={})
    (world.root / "tests").mkdir()
    commit(world.root, {"tests/test_ok.py": "def test_ok() -> None:\n    pass\n"}, "tests")
    with world.session() as session:
        session.python = "/nonexistent/python3"
        with pytest.raises(UnhealthyRepositoryError, match="command not found: /nonexistent"):
            Orchestrator(session).run(RunOptions())


def test_leases_of_dead_local_runs_are_freed_and_their_worktrees_removed(world: World) -> None:
    repo = Repo.open(world.root)
    host = holder_id().rsplit(":", 1)[0]
    Ledger(repo).acquire("T001", "dead-run", f"{host}:999999999", 600)
    stray = world.root / ".macoder" / "worktrees" / "T002"
    stray.mkdir(parents=True)

    report = world.run(dry_run=True)

    assert report.freed_leases == ["T001"]
    assert report.reconciled_worktrees == ["T002"]
    assert report.ready == ["T001", "T002"]
    assert not stray.exists()


def test_a_live_lease_elsewhere_keeps_its_task_and_its_worktree(world: World) -> None:
    repo = Repo.open(world.root)
    Ledger(repo).acquire("T001", "other-run", "ci-runner:1", 600)
    kept = world.root / ".macoder" / "worktrees" / "T001"
    kept.mkdir(parents=True)
    health = health_worktree(world.root, "other-run")

    report = world.run()

    assert [o.task_id for o in report.outcomes] == ["T002"]
    assert kept.exists()
    assert (health / "check.py").exists()
    assert report.reconciled_worktrees == []


def test_the_health_check_worktree_of_a_killed_run_is_removed_by_the_next_run(
    world: World,
) -> None:
    """A run killed during its health check (before it took any lease) left the scratch
    worktree it checked the default branch out in: directory, check output, registration."""
    health_worktree(world.root, "20261129T101010-0badf00d")

    report = world.run(only=frozenset({"T001"}))

    assert report.reconciled_worktrees == [".health-20261129T101010-0badf00d"]
    assert outcome_of(report, "T001")[0] == "succeeded"
    assert world.leftovers() == []


def test_phases_are_reported_in_order(world: World) -> None:
    seen: list[tuple[str, Phase]] = []
    with world.session() as session:
        Orchestrator(session, on_phase=lambda t, p: seen.append((t, p))).run(
            RunOptions(only=frozenset({"T001"}))
        )
    phases = [p for t, p in seen if t == "T001"]
    assert phases == [
        Phase.LEASE,
        Phase.WORKTREE,
        Phase.CONTEXT,
        Phase.AGENT,
        Phase.VERIFY,
        Phase.COMMIT,
        Phase.PUBLISH,
        Phase.CLEANUP,
        Phase.DONE,
    ]


def test_sigterm_mid_task_cancels_cleanly_and_restores_the_handlers(world: World) -> None:
    import os
    import signal

    before = signal.getsignal(signal.SIGTERM)
    with world.session() as session:
        orchestrator = Orchestrator(session)

        def terminated_while_working() -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            orchestrator.cancel.wait(60)  # the agent is still at work when the run winds down

        world.agent.scenarios["T001"] = Scenario(writes("x.txt"), during=terminated_while_working)
        report = orchestrator.run(RunOptions(only=frozenset({"T001"})))

    assert report.interrupted
    assert outcome_of(report, "T001")[0] == "interrupted"
    assert signal.getsignal(signal.SIGTERM) is before
    assert world.leftovers() == []


def test_a_task_completed_on_main_meanwhile_is_skipped_after_the_lease(world: World) -> None:
    def complete_t002_on_main() -> None:
        text = (world.root / "BACKLOG.yaml").read_text()
        marker = "- id: T002"
        head, tail = text.split(marker)
        commit(
            world.root,
            {"BACKLOG.yaml": head + marker + tail.replace("pending", "completed", 1)},
            "T002 done by hand",
        )

    world.agent.scenarios["T001"] = Scenario(writes("t1.txt"), during=complete_t002_on_main)
    world.settings = world.settings.model_copy(update={"workers": 1})

    report = world.run()

    assert outcome_of(report, "T002") == ("skipped", "completed on main meanwhile")


# --- the session --------------------------------------------------------------------------


def test_merging_is_for_the_local_forge_and_known_tasks_only(world: World) -> None:
    from multi_agent_coder.errors import UnknownTaskError
    from multi_agent_coder.run.session import open_github

    with world.session() as session, pytest.raises(UnknownTaskError, match="'T009'"):
        session.merge("T009")
    github = open_github(
        world.root,
        world.settings,
        slug="octo/widgets",
        token="ghs_unused",  # noqa: S106 - made up; nothing is sent
        api_url="http://127.0.0.1:9",
        git_remote_url="http://127.0.0.1:9/octo/widgets.git",
    )
    with github, pytest.raises(UsageError, match="merging is done on github, not by macoder"):
        github.merge("T001")


def test_a_repository_with_no_commit_yet_says_so(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    with open_local(root, settings()) as session, pytest.raises(UsageError, match="no commits"):
        session.head()


def test_without_an_agent_factory_the_session_runs_opencode(world: World) -> None:
    from multi_agent_coder.agents.opencode.runtime import opencode_agent

    with open_local(world.root, world.settings) as session:
        assert session.agent_factory is opencode_agent
        assert session.author == ("macoder", "macoder@localhost")


# --- the sandbox --------------------------------------------------------------------------


@pytest.fixture
def no_user_namespaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where bubblewrap exists but may not create namespaces (Ubuntu 24.04's
    AppArmor rule, a locked-down container): bwrap fails the way it fails there."""
    from multi_agent_coder.sandbox import bwrap

    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(bwrap, "find_bwrap", lambda: fake)
    bwrap.probe.cache_clear()
    yield
    bwrap.probe.cache_clear()


@pytest.mark.usefixtures("no_user_namespaces")
def test_without_a_sandbox_nothing_is_leased_and_the_fix_is_named(world: World) -> None:
    from multi_agent_coder.sandbox import SandboxUnavailableError

    with pytest.raises(SandboxUnavailableError) as caught:
        world.run()
    message = str(caught.value)
    assert "setting up uid map: Permission denied" in message
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in message
    assert "sandbox: off" in message
    assert caught.value.exit_code == 2
    assert world.ledger() == []
    assert world.started == []
    assert world.leftovers() == []


@pytest.mark.usefixtures("no_user_namespaces")
def test_opting_out_runs_but_says_so_on_the_run_and_in_the_pr(tmp_path: Path) -> None:
    from multi_agent_coder.run.orchestrator import SANDBOX_OFF

    world = make_world(tmp_path, task_dict("T001"), sandbox=False)
    report = world.run()
    assert outcome_of(report, "T001")[0] == "succeeded"
    assert report.warnings == [SANDBOX_OFF]
    [pr] = world.prs()
    assert "Not contained:" in pr["body"]
    assert "`sandbox: off`" in pr["body"]


def test_with_the_sandbox_on_no_warning_and_no_note(world: World) -> None:
    report = world.run(only=frozenset({"T001"}))
    assert report.warnings == []
    [pr] = world.prs()
    assert "Not contained" not in pr["body"]


# --- verification that cannot be gamed ----------------------------------------------------

CORE = "def double(x: int) -> int:\n    return 2 * x\n"
CORE_TEST = (
    "from mathlib.core import double\n\n\ndef test_double() -> None:\n    assert double(21) == 42\n"
)
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def pytest_world(tmp_path: Path, **overrides: Any) -> World:
    """A package with a pytest suite: what the cheats below try to fool."""
    root = make_repo(
        tmp_path / "repo",
        {
            "BACKLOG.yaml": backlog_yaml(task_dict("T001"), task_dict("T002")),
            "mathlib/__init__.py": "",
            "mathlib/core.py": CORE,
            "tests/__init__.py": "",
            "tests/test_core.py": CORE_TEST,
            ".gitignore": ".macoder/\n",
        },
    )
    return World(root, FakeAgent({}), settings(checks={"test": PYTEST}, **overrides))


def files(**contents: str) -> Act:
    def act(worktree: Path) -> None:
        for name, text in contents.items():
            path = worktree / name.replace("__", "/").replace("_DOT_", ".")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    return act


def draft(world: World) -> dict[str, Any]:
    [pr] = world.prs()
    assert pr["draft"] is True
    assert LABEL_NEEDS_REVIEW in pr["labels"]
    return pr


def test_breaking_code_and_weakening_its_test_is_not_verified(tmp_path: Path) -> None:
    world = pytest_world(tmp_path)
    world.agent.scenarios["T001"] = Scenario(
        files(
            mathlib__core_DOT_py="def double(x: int) -> int:\n    return x\n",
            tests__test_core_DOT_py="def test_double() -> None:\n    assert True\n",
            mathlib__extra_DOT_py="VALUE = 1\n",
        )
    )

    report = world.run(only=frozenset({"T001"}))

    status, reason = outcome_of(report, "T001")
    assert status == "needs-review"
    assert "tests/test_core.py" in reason
    pr = draft(world)
    assert "tests/test_core.py" in pr["body"]
    assert "fail in their base version" in pr["body"]
    assert report.exit_code == 1
    attempt = [r for r in world.ledger() if r["type"] == "attempt"][-1]
    assert attempt["outcome"] == "needs-review"


def test_extending_a_test_legitimately_is_verified(tmp_path: Path) -> None:
    world = pytest_world(tmp_path)
    world.agent.scenarios["T001"] = Scenario(
        files(
            mathlib__core_DOT_py=CORE + "\n\ndef triple(x: int) -> int:\n    return 3 * x\n",
            tests__test_core_DOT_py=CORE_TEST.replace("import double", "import double, triple")
            + "\n\ndef test_triple() -> None:\n    assert triple(2) == 6\n",
        )
    )
    report = world.run(only=frozenset({"T001"}))
    assert outcome_of(report, "T001")[0] == "succeeded"
    [pr] = world.prs()
    assert pr["draft"] is False


def test_a_conftest_that_forces_success_is_a_protected_change(tmp_path: Path) -> None:
    world = pytest_world(tmp_path)
    world.agent.scenarios["T001"] = Scenario(
        files(
            mathlib__core_DOT_py="def double(x: int) -> int:\n    return x\n",
            conftest_DOT_py=(
                "import os\n\n\ndef pytest_sessionfinish(session, exitstatus):\n    os._exit(0)\n"
            ),
        )
    )
    report = world.run(only=frozenset({"T001"}))
    status, reason = outcome_of(report, "T001")
    assert status == "needs-review"
    assert "protected path changed: conftest.py" in reason
    draft(world)


def test_checks_that_rewrite_the_code_after_they_ran_fail_the_task(tmp_path: Path) -> None:
    """A session-finish hook that edits the tree: what ran is not what would be committed."""
    world = pytest_world(tmp_path, protected_paths=[])
    world.agent.scenarios["T001"] = Scenario(
        files(
            conftest_DOT_py=(
                "import pathlib\n\n\ndef pytest_sessionfinish(session, exitstatus):\n"
                "    pathlib.Path('mathlib/core.py').write_text('BACKDOOR = 1\\n')\n"
            ),
        )
    )
    report = world.run(only=frozenset({"T001"}))
    status, reason = outcome_of(report, "T001")
    assert status == "failed"
    assert reason.startswith("the checks changed the files under test (mathlib/core.py)")
    assert world.prs() == []


def test_a_change_to_ci_is_reviewed_by_a_person(tmp_path: Path) -> None:
    world = pytest_world(tmp_path)
    world.agent.scenarios["T001"] = Scenario(
        files(_DOT_github__workflows__ci_DOT_yml="on: push\n", mathlib__x_DOT_py="X = 1\n")
    )
    report = world.run(only=frozenset({"T001"}))
    assert outcome_of(report, "T001")[0] == "needs-review"
    assert "protected path changed: .github/workflows/ci.yml" in draft(world)["body"]


def test_a_draft_that_needs_review_holds_its_task(tmp_path: Path) -> None:
    world = pytest_world(tmp_path)
    world.agent.scenarios["T001"] = Scenario(files(_DOT_github__x_DOT_yml="x: 1\n"))
    world.run(only=frozenset({"T001"}))
    again = world.run(only=frozenset({"T001"}))
    assert again.outcomes == []
    assert "T001 is in review" in again.note


def test_the_checks_see_no_secret_and_no_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_must_not_leak")
    probe = (
        "import os, socket\n\n\ndef test_contained() -> None:\n"
        "    assert 'GITHUB_TOKEN' not in os.environ\n"
        "    assert not os.path.exists(os.path.expanduser('~/.ssh'))\n"
        "    try:\n"
        "        socket.create_connection(('1.1.1.1', 443), timeout=5)\n"
        "    except OSError:\n"
        "        return\n"
        "    raise AssertionError('the network was reachable')\n"
    )
    world = pytest_world(tmp_path)
    world.agent.scenarios["T001"] = Scenario(files(tests__test_contained_DOT_py=probe))
    report = world.run(only=frozenset({"T001"}))
    assert outcome_of(report, "T001")[0] == "succeeded"


def test_a_failed_attempt_leaves_no_branch(world: World) -> None:
    world.agent.scenarios["T001"] = Scenario(writes("feature.txt", "BROKEN\n"))
    world.run(only=frozenset({"T001"}))
    assert git(world.root, "branch", "--list", "macoder/*") == ""


def test_a_task_stopped_by_its_time_limit_keeps_its_partial_work_as_a_draft(
    world: World,
) -> None:
    world.agent.scenarios["T001"] = Scenario(
        writes("half.txt", "half done\n"), AgentOutcome.TIMEOUT, "no session.idle within 60 s"
    )
    report = world.run(only=frozenset({"T001"}))
    status, reason = outcome_of(report, "T001")
    assert (status, reason) == ("failed", "agent timeout: no session.idle within 60 s")
    [pr] = world.prs()
    assert pr["draft"] is True
    assert "macoder:failed" in pr["labels"]
    assert "This attempt failed" in pr["body"]
    assert git(world.root, "show", "macoder/T001:half.txt") == "half done"


# --- a revision after a review --------------------------------------------------------------


def test_a_revision_measures_drift_without_the_review_and_stays_verified(world: World) -> None:
    """A long review would be 'drift' if it counted as the task's prompt growing; and the
    PR's own status flip of the backlog is macoder's, not a protected-path change."""
    world.run(only=frozenset({"T001"}))
    old = git(world.root, "rev-parse", "macoder/T001")
    world.agent.scenarios["T001"] = Scenario(writes("t001.txt", "revised\n"))
    feedback = Feedback("Rename it and say so. " * 40)  # ~900 bytes, far over 50 % growth

    report = world.run(only=frozenset({"T001"}), revise={"T001": feedback})

    assert outcome_of(report, "T001") == ("succeeded", "revision: PR #1 updated")
    assert "## Review" in world.agent.calls[-1]["prompt"]
    [pr] = world.prs()
    assert pr["draft"] is False
    assert LABEL_NEEDS_REVIEW not in pr["labels"]
    new = git(world.root, "rev-parse", "macoder/T001")
    assert git(world.root, "rev-list", f"{old}..{new}").splitlines() == [new]
    assert git(world.root, "merge-base", old, new) == old


def test_a_dirty_review_is_refused_before_the_agent_runs_and_the_pr_stays(world: World) -> None:
    world.run(only=frozenset({"T001"}))
    old = git(world.root, "rev-parse", "macoder/T001")
    calls = len(world.agent.calls)
    feedback = Feedback("do it the way T002 does")

    report = world.run(only=frozenset({"T001"}), revise={"T001": feedback})

    status, why = outcome_of(report, "T001")
    assert status == "failed"
    assert "context refused: the review's body: names another task" in why
    assert why.endswith("PR #1 left as it was")
    assert len(world.agent.calls) == calls
    assert git(world.root, "rev-parse", "macoder/T001") == old
    assert world.prs()[0]["head_sha"] == old
    assert world.leftovers() == []


@pytest.mark.parametrize(
    ("prepare", "words"),
    [
        pytest.param(None, "has no open pull request to revise", id="no-pr"),
        pytest.param("failed-draft", "failed attempt's draft", id="failed-draft"),
    ],
)
def test_a_task_with_nothing_to_revise_is_refused_before_anything(
    world: World, prepare: str | None, words: str
) -> None:
    if prepare == "failed-draft":
        from multi_agent_coder.forge.local import LocalForge

        head = git(world.root, "rev-parse", "main")
        LocalForge(Repo.open(world.root)).create_or_update_pr(
            WantedPr(
                task_id="T001",
                branch="macoder/T001",
                base="main",
                head_sha=head,
                title="T001 (failed)",
                body="",
                draft=True,
                labels=("macoder", LABEL_FAILED),
            )
        )
    with pytest.raises(UsageError, match=words):
        world.run(only=frozenset({"T001"}), revise={"T001": Feedback("fix it")})
    assert world.agent.calls == []
    assert world.ledger() == []


def test_a_revision_runs_on_the_review_model_when_one_is_set(tmp_path: Path) -> None:
    world = make_world(
        tmp_path,
        models={
            "implementation": "fake/strong",
            "documentation": "fake/cheap",
            "review": "fake/reviewer",
        },
    )
    world.run(only=frozenset({"T001"}))
    world.agent.scenarios["T001"] = Scenario(writes("t001.txt", "revised\n"))

    report = world.run(only=frozenset({"T001"}), revise={"T001": Feedback("say why")})

    assert outcome_of(report, "T001")[0] == "succeeded"
    assert [c["model"] for c in world.agent.calls] == ["fake/cheap", "fake/reviewer"]
    assert [p.model for p in report.planned] == ["fake/reviewer"]
    attempts = [r for r in world.ledger() if r["type"] == "attempt"]
    assert [(a["model"], a.get("role")) for a in attempts] == [
        ("fake/cheap", "documentation"),
        ("fake/reviewer", "review"),
    ]
