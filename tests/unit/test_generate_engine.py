"""`macoder generate` through every outcome, in-process, with a fake agent answering per round.

Everything but the agent is real: a git repository in a temporary directory, its default
branch exported for the agent, the backlog checked by `macoder check`'s own checks and written
atomically under its lock. The agent answers each round's session with a scripted text, and
records what it was given; the end-to-end test runs the same path with the real OpenCode.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from multi_agent_coder.agents.base import AgentOutcome, AgentResult
from multi_agent_coder.backlog.load import load_file
from multi_agent_coder.backlog.rules import check_rules
from multi_agent_coder.cli.main import main
from multi_agent_coder.config import Settings, load_settings
from multi_agent_coder.context.hygiene import hygiene_check
from multi_agent_coder.errors import (
    BacklogChangedError,
    FixBacklogFirstError,
    SessionLeakError,
    UnreadableFileError,
)
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.run import session as session_module
from multi_agent_coder.run.generate import GenerateReport, GenerateRequest, generate
from multi_agent_coder.run.session import open_local
from tests.integration.gitrepos import make_repo
from tests.pids import unused_pid

BACKLOG = """\
# The calculator's backlog. This comment, the blank lines and the quoting must survive.
version: "1.0"
track_id: calc
created_at: 2026-11-25T09:00:00Z
updated_at: 2026-11-25T09:00:00Z

tasks:
  - id: T001
    title: Add integer addition   # keep me
    description: Add calc/add.py with add(a, b) returning the sum of two integers.
    status: completed
    depends_on: []
    acceptance:
      - add(2, 3) == 5
    attempts: 0
    scope:
      files_hint: [calc/add.py]
      estimated_hours: 0.5

  - id: T002
    title: 'Add integer multiplication'
    description: Add calc/mul.py with mul(a, b).
    status: pending
    depends_on: [T001]
    acceptance:
      - mul(4, 5) == 20
    attempts: 0
    scope:
      files_hint: [calc/mul.py]
      estimated_hours: 0.5
"""

PLAN = "# Plan: subtraction\n\n1. sub(a, b) in calc/sub.py\n2. neg(a) built on it\n"


def task(task_id: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": task_id,
        "title": f"Add the {task_id} part",
        "description": "Add calc/sub.py with sub(a, b) returning a - b.",
        "depends_on": [],
        "acceptance": ["sub(5, 3) == 2"],
        "scope": {"files_hint": ["calc/sub.py", "tests/test_sub.py"], "estimated_hours": 1},
    }
    data.update(fields)
    return data


def fenced(*tasks: dict[str, Any]) -> str:
    return (
        "Here are the tasks.\n\n```yaml\n" + yaml.safe_dump(list(tasks), sort_keys=False) + "```\n"
    )


GOOD = fenced(task("T003", depends_on=["T002"]), task("T004", depends_on=["T003"]))


@dataclass
class RoundAgent:
    """The `Agent` protocol: round *n* answers `answers[n]` (a text, or a result to return)."""

    answers: list[str | AgentResult]
    deleted: bool = True
    during: Callable[[int], None] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def run(
        self, *, prompt: str, worktree: Path, model: str, timeout_s: float, title: str
    ) -> AgentResult:
        number = len(self.calls) + 1
        files = sorted(str(p.relative_to(worktree)) for p in worktree.rglob("*") if p.is_file())
        self.calls.append(
            {
                "prompt": prompt,
                "worktree": worktree,
                "files": files,
                "model": model,
                "timeout_s": timeout_s,
                "title": title,
            }
        )
        (worktree / "agent-scratch.txt").write_text("written by the agent, never kept\n")
        if self.during is not None:
            self.during(number)
        answer = self.answers[number - 1]
        if isinstance(answer, AgentResult):
            return answer
        return result(answer, f"ses_{number}", deleted=self.deleted)


def result(
    text: str,
    session_id: str = "ses_1",
    *,
    deleted: bool = True,
    outcome: AgentOutcome = AgentOutcome.SUCCESS,
    reason: str = "idle after 1 assistant message(s), 0 tool call(s)",
) -> AgentResult:
    return AgentResult(
        outcome=outcome,
        reason=reason,
        session_id=session_id,
        duration_s=0.01,
        session_deleted=deleted,
        output_text=text,
        tokens_in=900,
        tokens_out=120,
        cost=None,
        model="fake/strong",
    )


@dataclass
class World:
    root: Path
    settings: Settings
    started: list[str] = field(default_factory=list)

    @property
    def backlog(self) -> Path:
        return self.root / "BACKLOG.yaml"

    def factory(self, agent: RoundAgent) -> Any:
        @contextlib.contextmanager
        def make(settings: Settings, repo: Repo, cancel: threading.Event) -> Iterator[Any]:
            self.started.append(settings.models.implementation)
            yield agent

        return make

    def request(self, *, dry_run: bool = False, plan: str = "specs/calc/PLAN.md") -> Any:
        checks = (check_rules, hygiene_check(self.settings.context_settings()))
        return GenerateRequest(
            plan=self.root / plan,
            plan_display=plan,
            backlog=self.backlog,
            backlog_display="BACKLOG.yaml",
            checks=checks,
            dry_run=dry_run,
        )

    def generate(self, agent: RoundAgent, *, dry_run: bool = False) -> GenerateReport:
        with open_local(self.root, self.settings, agent_factory=self.factory(agent)) as session:
            return generate(session, self.request(dry_run=dry_run))

    def exports_left(self) -> list[str]:
        base = self.root / ".macoder" / "worktrees"
        return [p.name for p in base.iterdir()] if base.is_dir() else []


@pytest.fixture
def world(tmp_path: Path) -> World:
    root = make_repo(
        tmp_path / "repo",
        {
            "BACKLOG.yaml": BACKLOG,
            "specs/calc/PLAN.md": PLAN,
            "calc/__init__.py": "",
            "calc/add.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
            ".gitignore": ".macoder/\n",
            ".macoder.yaml": "models:\n  implementation: fake/strong\nplanning_timeout: 42\n",
        },
    )
    return World(root, load_settings(root, env={}))


def check_passes(path: Path) -> bool:
    result = load_file(path, "BACKLOG.yaml", (check_rules, hygiene_check()))
    return result.ok and not result.problems


# --- a first answer that is clean ---------------------------------------------------------------


def test_a_clean_answer_is_appended_with_continued_ids_and_the_old_bytes_kept(world: World) -> None:
    agent = RoundAgent([GOOD])
    report = world.generate(agent)

    assert (report.status, report.added, len(report.rounds)) == ("added", ["T003", "T004"], 1)
    assert report.written
    written = world.backlog.read_text()
    assert written.startswith(BACKLOG)  # every old byte, comments included, in place
    appended = written[len(BACKLOG) :]
    assert appended.startswith("\n  - id: T003\n    title: Add the T003 part\n")
    assert "    status: pending\n    depends_on: [T002]\n" in appended
    assert "  - id: T004\n" in appended
    assert "    depends_on: [T003]\n" in appended
    assert "    attempts: 0\n" in appended  # the file writes attempts: so do the new tasks
    assert check_passes(world.backlog)
    # one session on the implementation model, bounded by the task timeout, in an export of
    # the default branch under the worktree dir (where the agent's sandbox may write)
    [call] = agent.calls
    assert call["prompt"].startswith("# Generate: calc\n")
    assert PLAN.strip() in call["prompt"]
    assert (call["model"], call["timeout_s"]) == ("fake/strong", 42)
    assert call["title"] == "macoder generate calc"
    assert call["worktree"].parent == (world.root / ".macoder" / "worktrees").resolve()
    assert call["worktree"].name.startswith(".export-")
    assert {"BACKLOG.yaml", "calc/add.py", "specs/calc/PLAN.md"} <= set(call["files"])
    assert ".git" not in {Path(f).parts[0] for f in call["files"]}
    # nothing the agent wrote is kept, the export is gone
    assert world.exports_left() == []
    assert not (world.root / "agent-scratch.txt").exists()
    assert world.started == ["fake/strong"]


def test_an_export_a_killed_generation_left_is_removed_and_a_live_ones_kept(
    world: World,
) -> None:
    base = world.root / ".macoder" / "worktrees"
    gone = base / f".export-{unused_pid()}-abc"
    alive = base / f".export-{os.getppid()}-def"
    for path in (gone, alive):
        (path / "calc").mkdir(parents=True)
        (path / "calc" / "add.py").write_text("x\n")

    assert world.generate(RoundAgent([GOOD])).status == "added"

    assert not gone.exists()
    assert alive.is_dir()


# --- repaired answers ----------------------------------------------------------------------------


def test_invalid_yaml_first_then_a_clean_answer_takes_two_rounds(world: World) -> None:
    agent = RoundAgent(["```yaml\n- id: T003\n  title: [never closed\n```\n", GOOD])
    report = world.generate(agent)

    assert (report.status, report.added) == ("added", ["T003", "T004"])
    assert [r.problems for r in report.rounds] == [1, 0]
    repair = agent.calls[1]["prompt"]
    assert repair.startswith("# Generate: calc (repair 1 of 2)\n")
    assert "answer:4:1: invalid YAML" in repair
    assert "title: [never closed" in repair  # the previous answer, shown again
    assert PLAN.strip() in repair
    assert check_passes(world.backlog)


def test_planning_debris_in_a_description_is_repaired_in_the_second_round(world: World) -> None:
    dirty = fenced(task("T003", description="Let me think: sub(a, b) in calc/sub.py."))
    agent = RoundAgent([dirty, fenced(task("T003"))])
    report = world.generate(agent)

    assert (report.status, report.added, len(report.rounds)) == ("added", ["T003"], 2)
    repair = agent.calls[1]["prompt"]
    [line] = [ln for ln in repair.splitlines() if "[planning-debris]" in ln]
    assert line.startswith("BACKLOG.yaml:")
    assert 'tasks[2].description: planning debris "let me think"' in line
    # the line number is the description's line in the backlog as it would have been written
    number = int(line.split(":")[1])
    section = repair.split("## Your tasks as appended to BACKLOG.yaml\n")[1]
    assert section.startswith(f"They start at line {len(BACKLOG.splitlines()) + 2}.")
    block = section.split("```yaml\n")[1].split("\n```")[0]
    candidate = BACKLOG + "\n" + block
    assert candidate.splitlines()[number - 1] == (
        "    description: 'Let me think: sub(a, b) in calc/sub.py.'"
    )
    assert "Let me think" not in world.backlog.read_text()


def test_a_dependency_on_a_missing_task_is_repaired_in_the_second_round(world: World) -> None:
    agent = RoundAgent([fenced(task("T003", depends_on=["T099"])), GOOD])
    report = world.generate(agent)

    assert report.status == "added"
    repair = agent.calls[1]["prompt"]
    assert "tasks[2].depends_on[0]: unknown task 'T099' in depends_on" in repair
    assert "T099" not in world.backlog.read_text()


def test_still_broken_after_the_last_round_writes_nothing_and_fails(world: World) -> None:
    bad = fenced(task("T003", depends_on=["T099"]))
    agent = RoundAgent([bad, "not yaml: [", bad, GOOD])
    report = world.generate(agent)

    assert (report.status, report.exit_code, report.written) == ("invalid", 1, False)
    assert len(agent.calls) == 3  # the first answer and two repairs, no more
    assert agent.calls[2]["prompt"].startswith("# Generate: calc (repair 2 of 2)\n")
    assert [p.code for p in report.problems] == ["unknown-dependency"]
    assert world.backlog.read_text() == BACKLOG
    assert world.exports_left() == []


# --- what is never lost ------------------------------------------------------------------------


def test_a_backlog_edited_during_generation_is_not_written_and_the_edit_stays(
    world: World,
) -> None:
    edited = BACKLOG.replace("# keep me", "# a person's edit, made meanwhile")

    def edit(number: int) -> None:
        world.backlog.write_text(edited)

    with pytest.raises(BacklogChangedError, match="changed on disk") as caught:
        world.generate(RoundAgent([GOOD], during=edit))

    assert "BACKLOG.yaml" in str(caught.value)
    assert world.backlog.read_text() == edited


def test_a_dry_run_prints_the_diff_and_writes_nothing(world: World) -> None:
    report = world.generate(RoundAgent([GOOD]), dry_run=True)

    assert (report.status, report.written, report.exit_code) == ("would-add", False, 0)
    assert world.backlog.read_text() == BACKLOG
    assert report.diff.startswith("--- a/BACKLOG.yaml\n+++ b/BACKLOG.yaml\n@@ ")
    added = [ln for ln in report.diff.splitlines() if ln.startswith("+") and ln[1:2] != "+"]
    assert "+  - id: T003" in added
    assert not [ln for ln in report.diff.splitlines() if ln.startswith("-") and ln[1:2] != "-"]


def test_a_session_not_verified_deleted_fails_the_command_naming_it(world: World) -> None:
    with pytest.raises(SessionLeakError, match="ses_1 could not be verified deleted"):
        world.generate(RoundAgent([GOOD], deleted=False))

    assert world.backlog.read_text() == BACKLOG
    assert world.exports_left() == []


def test_an_agent_that_fails_stops_the_generation_without_a_repair(world: World) -> None:
    timeout = result("", outcome=AgentOutcome.TIMEOUT, reason="no session.idle within 42 s")
    agent = RoundAgent([timeout, GOOD])
    report = world.generate(agent)

    assert (report.status, report.exit_code) == ("agent-failed", 1)
    assert (
        report.failure
        == "round 1: the agent's session ended with timeout: no session.idle within 42 s"
    )
    assert len(agent.calls) == 1
    assert world.backlog.read_text() == BACKLOG


def test_a_backlog_that_fails_its_checks_is_refused_before_any_agent(world: World) -> None:
    world.backlog.write_text(BACKLOG.replace("depends_on: [T001]", "depends_on: [T009]"))
    agent = RoundAgent([GOOD])

    with pytest.raises(FixBacklogFirstError) as caught:
        world.generate(agent)

    assert caught.value.exit_code == 2
    assert [p.code for p in caught.value.problems] == ["unknown-dependency"]
    assert (agent.calls, world.started) == ([], [])


def test_a_missing_plan_is_a_usage_error_before_any_agent(world: World) -> None:
    agent = RoundAgent([GOOD])
    with (
        open_local(world.root, world.settings, agent_factory=world.factory(agent)) as session,
        pytest.raises(UnreadableFileError, match=r"specs/none/PLAN\.md") as caught,
    ):
        generate(session, world.request(plan="specs/none/PLAN.md"))

    assert caught.value.exit_code == 2
    assert agent.calls == []


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture
def command(world: World, monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """`macoder generate` in-process, its agent the fake one (OpenCode's own never starts)."""
    agents: list[RoundAgent] = []

    def run(*args: str, answers: list[str | AgentResult]) -> int:
        agent = RoundAgent(answers)
        agents.append(agent)
        monkeypatch.setattr(session_module, "_default_agent", lambda: world.factory(agent))
        monkeypatch.setattr(session_module, "_default_preflight", lambda factory: None)
        return main(["-C", str(world.root), "generate", *args])

    return run


def test_the_command_says_what_it_added(
    command: Callable[..., int], world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code = command("specs/calc/PLAN.md", answers=["[", GOOD])
    out, err = capsys.readouterr()

    assert code == 0
    assert out == "added 2 tasks to BACKLOG.yaml: T003, T004 (2 rounds of 3)\n"
    assert "round 1 of 3: fake/strong turns specs/calc/PLAN.md into tasks" in err
    assert "round 1: 1 problem(s) in the answer" in err
    assert check_passes(world.backlog)


def test_the_commands_dry_run_prints_a_diff_git_apply_would_take(
    command: Callable[..., int], world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code = command("specs/calc/PLAN.md", "--dry-run", answers=[GOOD])
    out, err = capsys.readouterr()

    assert code == 0
    assert out.startswith("--- a/BACKLOG.yaml\n+++ b/BACKLOG.yaml\n")
    assert "would add 2 tasks to BACKLOG.yaml: T003, T004 (1 round of 3); nothing written" in err
    assert world.backlog.read_text() == BACKLOG


def test_the_command_prints_the_problems_left_and_exits_1(
    command: Callable[..., int], world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = fenced(task("T003", depends_on=["T099"]))
    code = command("specs/calc/PLAN.md", answers=[bad, bad, bad])
    _, err = capsys.readouterr()

    assert code == 1
    assert "BACKLOG.yaml:36:18: tasks[2].depends_on[0]: unknown task 'T099'" in err
    assert (
        "macoder: error: the generated tasks still have 1 problem after 3 rounds of 3; "
        "BACKLOG.yaml was not changed"
    ) in err
    assert world.backlog.read_text() == BACKLOG


def test_the_commands_json_names_the_rounds_and_the_ids(
    command: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    code = command("specs/calc/PLAN.md", "--json", answers=["nope: [", GOOD])
    document = json.loads(capsys.readouterr().out)

    assert code == 0
    assert document["status"] == "added"
    assert document["added"] == ["T003", "T004"]
    assert [r["session_id"] for r in document["rounds"]] == ["ses_1", "ses_2"]
    assert document["max_rounds"] == 3
    assert document["written"] is True


def test_the_command_refuses_an_invalid_backlog_with_exit_2(
    command: Callable[..., int], world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.backlog.write_text(BACKLOG.replace("depends_on: [T001]", "depends_on: [T009]"))
    code = command("specs/calc/PLAN.md", answers=[GOOD])
    _, err = capsys.readouterr()

    assert code == 2
    assert "BACKLOG.yaml:24:18: tasks[1].depends_on[0]: unknown task 'T009'" in err
    assert "fix BACKLOG.yaml first" in err
