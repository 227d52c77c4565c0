"""`macoder rebase` through its outcomes, in-process, with a fake agent answering per round.

Everything but the agent is real: a git repository in a temporary directory, the run ledger in
it, the local forge, the default branch exported for the agent, the rewrite checked by `macoder
check`'s own checks. The end-to-end test (tests/integration/test_rebase_local.py) runs the
same path with the real OpenCode and a task that really fails twice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from multi_agent_coder.backlog.load import load_bytes
from multi_agent_coder.backlog.rules import check_rules
from multi_agent_coder.cli.main import main
from multi_agent_coder.config import load_settings
from multi_agent_coder.context.hygiene import hygiene_check
from multi_agent_coder.errors import SessionLeakError, UnhealthyRepositoryError, UsageError
from multi_agent_coder.forge.base import Forge, PullRequest
from multi_agent_coder.git.ledger import Attempt, Lease, Rewrite, live_leases
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.run import session as session_module
from multi_agent_coder.run.rebase import candidates, rebase
from multi_agent_coder.run.session import Session, open_local
from multi_agent_coder.run.state import Standing
from tests.integration.gitrepos import git, make_repo
from tests.unit.test_generate_engine import RoundAgent, World

BACKLOG = """\
# The calculator's backlog. This comment and the blank lines must survive a rewrite.
version: "1.0"
track_id: calc
created_at: 2026-11-25T09:00:00Z
updated_at: 2026-11-25T09:00:00Z

tasks:
  - id: T001
    title: Add integer subtraction   # the rewrite replaces this entry
    description: Subtraction.
    status: pending
    depends_on: []
    acceptance:
      - it works
    attempts: 0
    scope:
      files_hint: [calc/sub.py]
      estimated_hours: 0.5

  # T002 comes after: this comment belongs to it
  - id: T002
    title: Add integer multiplication
    description: Add calc/mul.py with mul(a, b).
    status: pending
    depends_on: []
    acceptance:
      - mul(4, 5) == 20
    scope:
      files_hint: [calc/mul.py]
      estimated_hours: 0.5
"""

REWRITE = {
    "description": "Add calc/sub.py with sub(a: int, b: int) -> int returning a - b; the"
    " earlier attempts put it in calc/add.py, which the tests do not import.",
    "acceptance": ["sub(5, 3) == 2", "tests/test_sub.py passes"],
    "context": {"gotchas": ["calc/sub.py is a new module: do not edit calc/add.py"]},
}


def fenced(data: Any) -> str:
    return "The rewrite:\n\n```yaml\n" + yaml.safe_dump(data, sort_keys=False) + "```\n"


@pytest.fixture
def world(tmp_path: Path) -> World:
    root = make_repo(
        tmp_path / "repo",
        {
            "BACKLOG.yaml": BACKLOG,
            "calc/__init__.py": "",
            "calc/add.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
            ".gitignore": ".macoder/\n",
            ".macoder.yaml": "models:\n  implementation: fake/strong\n  rebase: fake/wise\n"
            "planning_timeout: 42\n",
        },
    )
    return World(root, load_settings(root, env={}))


def session_of(world: World, agent: RoundAgent) -> Session:
    return open_local(world.root, world.settings, agent_factory=world.factory(agent))


CHECKS = (check_rules, hygiene_check())


def failed(world: World, task_id: str, *reasons: str, drift: bool = False) -> None:
    """Record failed attempts at `task_id` in the run ledger, as runs would have."""
    with session_of(world, RoundAgent([])) as session:
        ledger = session.ledger()
        for number, reason in enumerate(reasons, start=1):
            ledger.record_attempt(
                Attempt(
                    task_id,
                    f"run-{number}",
                    "failure",
                    reason,
                    3.0,
                    700,
                    "fake/strong",
                    None,
                    None,
                    None,
                    time.time(),
                    drift=drift or None,
                )
            )


def do_rebase(world: World, agent: RoundAgent, task_id: str = "T001", **kw: Any) -> Any:
    with session_of(world, agent) as session:
        return rebase(session, task_id, CHECKS, **kw)


def records(world: World) -> list[Any]:
    with session_of(world, RoundAgent([])) as session:
        return session.ledger().read()


def standing(world: World, task_id: str) -> tuple[Standing, int]:
    with session_of(world, RoundAgent([])) as session:
        view = session.snapshot().state.view(task_id)
        return view.standing, view.attempts


def branch_backlog(world: World, branch: str) -> str:
    return git(world.root, "show", f"{branch}:BACKLOG.yaml")


# --- the proposal -------------------------------------------------------------------------------


def test_a_task_that_failed_twice_is_rewritten_into_its_own_pr(world: World) -> None:
    failed(world, "T001", "tests failed: test_sub: ImportError", "tests failed: sub is missing")
    agent = RoundAgent([fenced(REWRITE)])
    report = do_rebase(world, agent)

    assert (report.status, report.why, len(report.rounds)) == (
        "proposed",
        "it failed 2 times",
        1,
    )
    # one session on the rebase model, in an export of the default branch, bounded by the
    # planning timeout; the prompt has the entry and the attempts' reasons
    [call] = agent.calls
    assert (call["model"], call["timeout_s"], call["title"]) == (
        "fake/wise",
        42,
        "macoder rebase T001",
    )
    assert call["prompt"].startswith("# Rebase: T001\n")
    assert "attempt 1: failure: tests failed: test_sub: ImportError" in call["prompt"]
    assert "attempt 2: failure: tests failed: sub is missing" in call["prompt"]
    assert "description: Subtraction." in call["prompt"]
    assert world.exports_left() == []

    # one PR of its own, on macoder/rebase-T001, whose one commit changes only the backlog
    assert report.branch == "macoder/rebase-T001"
    assert report.pr is not None
    assert report.pr.operation == "created"
    main_head = git(world.root, "rev-parse", "main").strip()
    assert git(world.root, "rev-parse", "macoder/rebase-T001^").strip() == main_head
    changed = git(world.root, "diff", "--name-only", "main", "macoder/rebase-T001").split()
    assert changed == ["BACKLOG.yaml"]
    text = branch_backlog(world, "macoder/rebase-T001")
    header = BACKLOG.split("  - id: T001", maxsplit=1)[0]
    assert text.startswith(header)  # the header and its comment, byte for byte
    assert "  # T002 comes after: this comment belongs to it\n  - id: T002\n" in text
    data = yaml.safe_load(text)["tasks"][0]
    assert data["id"] == "T001"
    assert data["title"] == "Add integer subtraction"
    assert data["description"] == REWRITE["description"]
    assert data["acceptance"] == REWRITE["acceptance"]
    assert data["context"] == REWRITE["context"]
    assert (data["status"], data["attempts"]) == ("pending", 0)
    assert data["scope"] == {"files_hint": ["calc/sub.py"], "estimated_hours": 0.5}
    result_ = load_bytes(text.encode(), "BACKLOG.yaml", CHECKS)
    assert result_.ok
    assert not result_.problems
    # the default branch is untouched; the try is in the ledger, the lease given back
    assert git(world.root, "show", "main:BACKLOG.yaml") == BACKLOG.rstrip("\n")
    rewrites = [r for r in records(world) if isinstance(r, Rewrite)]
    assert [(r.task, r.outcome, r.pr, r.model) for r in rewrites] == [
        ("T001", "proposed", report.pr.number, "fake/wise")
    ]
    assert live_leases(records(world), time.time()) == {}


def test_the_task_waits_for_its_rewrite_and_merging_it_resets_the_attempts(world: World) -> None:
    failed(world, "T001", "tests failed", "tests failed", "tests failed")
    assert standing(world, "T001") == (Standing.EXHAUSTED, 3)
    do_rebase(world, RoundAgent([fenced(REWRITE)]))
    assert standing(world, "T001")[0] is Standing.REWRITE_PROPOSED

    # `macoder merge rebase-T001`: the new entry lands; the task is a new question
    assert main(["-C", str(world.root), "merge", "rebase-T001"]) == 0
    assert "calc/add.py, which the tests do not import" in git(
        world.root, "show", "main:BACKLOG.yaml"
    )
    assert standing(world, "T001") == (Standing.READY, 0)


def test_a_closed_rewrite_leaves_the_task_as_it_was(world: World) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    do_rebase(world, RoundAgent([fenced(REWRITE)]))
    assert main(["-C", str(world.root), "close", "T001"]) != 0  # no task PR is open
    with session_of(world, RoundAgent([])) as session:
        session.forge.close_pr("T001", kind="rebase")  # type: ignore[attr-defined]
    assert standing(world, "T001") == (Standing.READY, 2)


def test_a_second_rebase_updates_the_same_pr(world: World) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    first = do_rebase(world, RoundAgent([fenced(REWRITE)]))
    second_text = {**REWRITE, "acceptance": ["sub(7, 2) == 5"]}
    second = do_rebase(world, RoundAgent([fenced(second_text)]))
    assert second.pr is not None
    assert first.pr is not None
    assert (second.pr.number, second.pr.operation) == (first.pr.number, "updated")
    assert "sub(7, 2) == 5" in branch_backlog(world, "macoder/rebase-T001")


# --- repair rounds and refusals -----------------------------------------------------------------


def test_an_answer_that_breaks_a_rule_is_sent_back_and_repaired(world: World) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    bad = {**REWRITE, "description": "Do what T002 does, but for subtraction."}
    agent = RoundAgent([fenced(bad), fenced({**REWRITE, "title": "x"}), fenced(REWRITE)])
    report = do_rebase(world, agent)
    assert report.status == "proposed"
    assert [r.problems for r in report.rounds] == [1, 1, 0]
    second, third = agent.calls[1]["prompt"], agent.calls[2]["prompt"]
    assert second.startswith("# Rebase: T001 (repair 1 of 2)\n")
    assert "T002" in second
    assert "BACKLOG.yaml:" in second
    assert "only description, acceptance, context may be rewritten, not title" in third


def test_a_rewrite_that_would_be_cut_in_the_prompt_is_refused(world: World) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    long = {**REWRITE, "description": "Add sub. " * 400}
    report = do_rebase(world, RoundAgent([fenced(long)] * 3))
    assert report.status == "invalid"
    assert report.pr is None
    assert any("description" in p.field for p in report.problems)
    assert git(world.root, "branch", "--list", "macoder/rebase-T001").strip() == ""
    [rewrite] = [r for r in records(world) if isinstance(r, Rewrite)]
    assert rewrite.outcome == "invalid"


def test_a_rewrite_that_changes_nothing_is_refused(world: World) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    same = {"description": "Subtraction.", "acceptance": ["it works"]}
    report = do_rebase(world, RoundAgent([fenced(same)] * 3))
    assert report.status == "invalid"
    assert "changes nothing" in report.problems[0].message


def test_the_entry_is_read_from_the_backlog_once_for_every_round(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each round's prompt shows the entry and each answer is judged against it: the backlog's
    text is parsed for it once, not once a prompt and once an answer."""
    from multi_agent_coder.planning import rebase as planning

    failed(world, "T001", "tests failed", "tests failed")
    parsed: list[str] = []
    parse_fast = planning.parse_fast
    monkeypatch.setattr(
        planning, "parse_fast", lambda text: parsed.append(text) or parse_fast(text)
    )
    same = {"description": "Subtraction.", "acceptance": ["it works"]}
    report = do_rebase(world, RoundAgent([fenced(same)] * 3))
    assert (report.status, len(report.rounds)) == ("invalid", 3)
    assert len(parsed) == 1


def test_a_task_with_no_failed_attempt_is_not_sent_to_a_model(world: World) -> None:
    agent = RoundAgent([])
    with pytest.raises(UsageError, match="no failed attempt"):
        do_rebase(world, agent)
    assert agent.calls == []


def test_a_session_that_may_still_exist_stops_the_rebase_and_frees_the_task(
    world: World,
) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    with pytest.raises(SessionLeakError, match="ses_1"):
        do_rebase(world, RoundAgent([fenced(REWRITE)], deleted=False))
    assert git(world.root, "branch", "--list", "macoder/rebase-T001").strip() == ""
    assert live_leases(records(world), time.time()) == {}


def test_a_task_leased_by_a_run_is_not_rewritten_under_it(world: World) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    with session_of(world, RoundAgent([])) as session:
        assert session.ledger().acquire("T001", "other-run", "elsewhere:1", 600) is not None
    agent = RoundAgent([fenced(REWRITE)])
    with pytest.raises(UsageError, match="leased by another run"):
        do_rebase(world, agent)
    assert agent.calls == []


def test_a_dry_run_shows_the_diff_and_proposes_nothing(world: World) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    report = do_rebase(world, RoundAgent([fenced(REWRITE)]), dry_run=True)
    assert report.status == "would-propose"
    assert "-    description: Subtraction." in report.diff
    assert report.pr is None
    assert not [r for r in records(world) if isinstance(r, Rewrite | Lease)]


def test_drift_qualifies_a_task_at_once_and_a_tried_entry_is_not_tried_again(
    world: World,
) -> None:
    failed(world, "T001", "context drift: grew 80 %", drift=True)
    with session_of(world, RoundAgent([])) as session:
        [candidate] = candidates(session, session.snapshot(), ["T001", "T002"])
    assert candidate.task_id == "T001"
    assert "drift" in candidate.why
    do_rebase(world, RoundAgent([fenced({"description": "x"})] * 3))  # invalid: tried
    with session_of(world, RoundAgent([])) as session:
        assert candidates(session, session.snapshot(), ["T001"]) == []


def test_the_cli_proposes_and_reports_json(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    agent = RoundAgent([fenced(REWRITE)])
    monkeypatch.setattr(session_module, "_default_agent", lambda: world.factory(agent))
    monkeypatch.setattr(session_module, "_default_preflight", lambda factory: None)
    code = main(["-C", str(world.root), "rebase", "T001", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert (out["status"], out["branch"], out["operation"]) == (
        "proposed",
        "macoder/rebase-T001",
        "created",
    )
    assert Repo.open(world.root).branch_head("macoder/rebase-T001") is not None


# --- automatic, in `macoder run` ----------------------------------------------------------------


def run_once(world: World, agent: RoundAgent, **settings: Any) -> Any:
    from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions

    world.settings = world.settings.model_copy(
        update={"rebase": world.settings.rebase.model_copy(update=settings)}
    )
    with session_of(world, agent) as session:
        return Orchestrator(session).run(RunOptions(only=frozenset({"T001"})))


def test_a_run_with_automatic_rebase_proposes_the_rewrite_instead_of_a_third_attempt(
    world: World,
) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    agent = RoundAgent([fenced(REWRITE)])
    report = run_once(world, agent, automatic=True)
    assert [(t, s) for t, s, _, _ in report.rewrites] == [("T001", "proposed")]
    assert report.ready == []  # the task waits for its rewrite: no third attempt at the old one
    assert "T001 is rewrite-proposed (a rewrite of its entry waits in PR #1" in report.note
    assert standing(world, "T001")[0] is Standing.REWRITE_PROPOSED
    assert len(agent.calls) == 1
    # the next run does not ask again while the proposal is open
    again = run_once(world, RoundAgent([]), automatic=True)
    assert again.rewrites == []


class CountingForge:
    """The session's forge, counting its full listings of pull requests: the costly read
    (on GitHub, every page of pull requests and one more request for each open one)."""

    def __init__(self, forge: Forge) -> None:
        self.forge = forge
        self.listings = 0

    def list_prs(self, *, include_closed: bool = False) -> list[PullRequest]:
        self.listings += 1
        return self.forge.list_prs(include_closed=include_closed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.forge, name)


def test_a_run_picks_and_prepares_its_rewrites_from_what_it_already_read(
    world: World, backlog_reads: list[str]
) -> None:
    """`rebase.automatic` costs no second read: the run's snapshot (the backlog, the ledger,
    every pull request) is what the candidates are chosen from and the rewrite is prepared
    from. The pull requests are listed again only after the rewrite's PR was opened, to see
    the task wait for it."""
    from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions

    failed(world, "T001", "tests failed", "tests failed")
    world.settings = world.settings.model_copy(
        update={"rebase": world.settings.rebase.model_copy(update={"automatic": True})}
    )
    with session_of(world, RoundAgent([fenced(REWRITE)])) as session:
        forge = CountingForge(session.forge)
        session.forge = forge  # type: ignore[assignment]
        report = Orchestrator(session).run(RunOptions(only=frozenset({"T001"})))
    assert [(t, s) for t, s, _, _ in report.rewrites] == [("T001", "proposed")]
    assert report.ready == []
    assert forge.listings == 2  # the run's snapshot; the one after the PR was opened
    assert len(backlog_reads) == 1


def test_without_automatic_rebase_the_run_goes_on_to_the_task_itself(world: World) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    agent = RoundAgent([])
    # the run goes past the rewrite to the task's third attempt: here it stops at the health
    # check of a repository with no tests, before any agent — and no rewrite was asked for
    with pytest.raises(UnhealthyRepositoryError):
        run_once(world, agent, automatic=False)
    assert agent.calls == []
    assert [r for r in records(world) if isinstance(r, Rewrite)] == []


def test_after_failures_sets_when_a_task_qualifies(world: World) -> None:
    failed(world, "T001", "tests failed", "tests failed")
    world.settings = world.settings.model_copy(
        update={"rebase": world.settings.rebase.model_copy(update={"after_failures": 3})}
    )
    with session_of(world, RoundAgent([])) as session:
        assert candidates(session, session.snapshot(), ["T001"]) == []
    failed(world, "T001", "tests failed")
    with session_of(world, RoundAgent([])) as session:
        [candidate] = candidates(session, session.snapshot(), ["T001"])
    assert candidate.why == "it failed 3 times"


def test_the_actions_task_job_never_rewrites_a_task_itself(world: World, tmp_path: Path) -> None:
    """A task job of the Action hands everything off to its publish job: it may not write the
    ledger nor open a PR, so it runs the task as planned whatever `rebase.automatic` says."""
    from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions
    from multi_agent_coder.run.session import handoff_store

    failed(world, "T001", "tests failed", "tests failed")
    world.settings = world.settings.model_copy(
        update={"rebase": world.settings.rebase.model_copy(update={"automatic": True})}
    )
    agent = RoundAgent([fenced(REWRITE)])
    with session_of(world, agent) as session:
        session.handoff = handoff_store(tmp_path / "handoff", run_id="r", base_sha="0" * 40)
        with pytest.raises(UnhealthyRepositoryError):  # on to the task: no test runner here
            Orchestrator(session).run(RunOptions(only=frozenset({"T001"})))
    assert agent.calls == []
