"""`macoder plan`'s engine with a fake agent at the `Agent` protocol: three roles in parallel,
their documents checked and merged, the four files written together — or nothing at all.

Real git (the agents' working directories are exports of the default branch), the real
structured merge; the agent is a plain object answering per role.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.agents.base import AgentOutcome, AgentResult
from multi_agent_coder.config import Settings
from multi_agent_coder.errors import PlanningError
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.run.planning import plan_feature
from multi_agent_coder.run.session import open_local
from tests.integration.gitrepos import make_repo

SPEC = (
    "## Requirements\n1. Users sign in.\n\n## Acceptance Criteria\n- GIVEN a user WHEN x THEN y\n"
)
ARCH = "## Design\n1. A session store.\n\n## API\n- POST /login\n"
QA = "## Test Plan\n- unit tests\n\n## Risks\n- tokens leak\n"
GOOD = {"spec": SPEC, "architecture": ARCH, "qa": QA}


@dataclass
class PlanningAgent:
    """Answers each role (named in the prompt's first line, `# Planning SPEC: ...`) from
    `answers`."""

    answers: dict[str, str]
    outcomes: dict[str, AgentOutcome] = field(default_factory=dict)
    undeleted: set[str] = field(default_factory=set)
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self, *, prompt: str, worktree: Path, model: str, timeout_s: float, title: str
    ) -> AgentResult:
        role = prompt.split(":", 1)[0].removeprefix("# Planning ").lower()
        with self.lock:
            self.calls.append(
                {
                    "role": role,
                    "prompt": prompt,
                    "model": model,
                    "timeout_s": timeout_s,
                    "files": sorted(p.name for p in worktree.iterdir()),
                    "workdir": worktree,
                }
            )
        (worktree / "scribble.md").write_text("thrown away\n")
        outcome = self.outcomes.get(role, AgentOutcome.SUCCESS)
        return AgentResult(
            outcome=outcome,
            reason="idle" if outcome is AgentOutcome.SUCCESS else "no session.idle in 600 s",
            session_id=f"ses_{role}",
            duration_s=0.01,
            session_deleted=role not in self.undeleted,
            output_text=self.answers.get(role, ""),
            tokens_in=100,
            tokens_out=50,
            cost=None,
            model=model,
        )


def plan(tmp_path: Path, agent: PlanningAgent, **settings: Any) -> tuple[Path, Any]:
    root = make_repo(tmp_path / "repo", {"app.py": "print('hi')\n"})

    @contextlib.contextmanager
    def factory(s: Settings, repo: Repo, cancel: threading.Event) -> Iterator[Any]:
        yield agent

    directory = root / "specs" / "auth"
    with open_local(root, Settings(**settings), agent_factory=factory) as session:
        result = plan_feature(
            session,
            "Let users sign in.",
            "auth",
            directory=directory,
            shown="specs/auth",
        )
    return directory, result


def test_three_roles_answer_and_four_files_are_written(tmp_path: Path) -> None:
    agent = PlanningAgent(dict(GOOD))
    directory, result = plan(
        tmp_path,
        agent,
        models={"implementation": "p/strong", "planning": "p/cheap"},
        planning_timeout=42,
    )
    assert sorted(p.name for p in directory.iterdir()) == ["ARCH.md", "PLAN.md", "QA.md", "SPEC.md"]
    assert (directory / "SPEC.md").read_text() == SPEC
    plan_md = (directory / "PLAN.md").read_text()
    assert "Users sign in." in plan_md
    assert "POST /login" in plan_md
    assert sorted(c["role"] for c in agent.calls) == ["architecture", "qa", "spec"]
    assert {c["model"] for c in agent.calls} == {"p/cheap"}
    assert {c["timeout_s"] for c in agent.calls} == {42}
    assert all("app.py" in c["files"] for c in agent.calls)  # they read the default branch
    [spec_call] = [c for c in agent.calls if c["role"] == "spec"]
    assert spec_call["prompt"].startswith("# Planning SPEC: auth\n")
    assert "CONTEXT:\nLet users sign in." in spec_call["prompt"]
    assert [a.session_deleted for a in result.agents] == [True, True, True]
    assert not (directory / "scribble.md").exists()


def test_the_planning_model_defaults_to_the_implementation_model(tmp_path: Path) -> None:
    agent = PlanningAgent(dict(GOOD))
    plan(tmp_path, agent, models={"implementation": "p/strong"})
    assert {c["model"] for c in agent.calls} == {"p/strong"}


@pytest.mark.parametrize(
    ("agent", "words"),
    [
        (
            PlanningAgent(dict(GOOD), outcomes={"qa": AgentOutcome.TIMEOUT}),
            "planning agent 'qa' (QA.md): timeout",
        ),
        (
            PlanningAgent({**GOOD, "architecture": "  \n"}),
            "'architecture' (ARCH.md): answered with an empty document",
        ),
        (
            PlanningAgent(dict(GOOD), undeleted={"spec"}),
            "its session ses_spec was not verified deleted",
        ),
        (PlanningAgent({**GOOD, "spec": "## Requirements\n1. x\n"}), "specs/auth/SPEC.md"),
    ],
    ids=["timeout", "empty", "leak", "missing-heading"],
)
def test_one_failing_agent_fails_the_plan_and_nothing_is_written(
    tmp_path: Path, agent: PlanningAgent, words: str
) -> None:
    with pytest.raises(PlanningError, match=words.replace("(", r"\(").replace(")", r"\)")):
        plan(tmp_path, agent)
    assert not (tmp_path / "repo" / "specs").exists()
    assert len(agent.calls) == 3  # every agent ran to its end (and its session was cleaned up)


def test_planning_debris_is_written_and_reported_at_its_lines_as_the_hook_reports_it(
    tmp_path: Path,
) -> None:
    chatter = (
        "## Test Plan\n- unit tests\n\n"
        "## Risks\n- Let me think: on second\n  thought, tokens leak\n"
    )
    directory, result = plan(tmp_path, PlanningAgent({**GOOD, "qa": chatter}))

    assert (directory / "QA.md").read_text() == chatter  # the documents are kept to be fixed
    rendered = [p.render() for p in result.problems]
    assert rendered[:2] == [
        'specs/auth/QA.md:5:3: planning debris "let me think": give the agent the decision,'
        " not how it was reached [planning-debris]",
        'specs/auth/QA.md:5:17: planning debris "on second thought": give the agent the'
        " decision, not how it was reached [planning-debris]",
    ]
    plan_md = (directory / "PLAN.md").read_text().splitlines()
    [line] = [n for n, text in enumerate(plan_md, start=1) if "Let me think" in text]
    assert {(p.path, p.line) for p in result.problems[2:]} == {("specs/auth/PLAN.md", line)}


def test_a_clean_plan_has_no_problems(tmp_path: Path) -> None:
    _, result = plan(tmp_path, PlanningAgent(dict(GOOD)))
    assert result.problems == ()


def test_a_failed_replan_keeps_the_earlier_files(tmp_path: Path) -> None:
    directory, _ = plan(tmp_path / "one", PlanningAgent(dict(GOOD)))
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    root = directory.parent.parent
    bad = PlanningAgent(dict(GOOD), outcomes={"spec": AgentOutcome.ERROR})

    @contextlib.contextmanager
    def factory(s: Settings, repo: Repo, cancel: threading.Event) -> Iterator[Any]:
        yield bad

    with (
        open_local(root, Settings(), agent_factory=factory) as session,
        pytest.raises(PlanningError),
    ):
        plan_feature(
            session,
            "x",
            "auth",
            directory=directory,
            shown="specs/auth",
        )
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


def test_each_role_asks_for_exactly_the_headings_the_merge_takes() -> None:
    from multi_agent_coder.planning.merge import REQUIRED
    from multi_agent_coder.planning.roles import ROLES

    assert {role.file: tuple(h.removeprefix("## ") for h in role.headings) for role in ROLES} == (
        dict(REQUIRED)
    )


def test_an_answer_wrapped_in_one_fence_is_the_document_inside() -> None:
    from multi_agent_coder.planning.roles import document_of

    assert document_of("```markdown\n## Design\nx\n```\n") == "## Design\nx\n"
    assert document_of("\n\n## Design\nx\n\n") == "## Design\nx\n"
    assert document_of("   ") == ""


def test_each_agent_works_in_its_own_export_removed_after_and_dead_runs_are_swept(
    tmp_path: Path,
) -> None:
    from tests.pids import unused_pid

    base = tmp_path / "repo" / ".macoder" / "worktrees"
    dead = base / f".export-{unused_pid()}-abc"
    dead.mkdir(parents=True)
    alive = base / f".export-{os.getppid()}-def"
    alive.mkdir()
    agent = PlanningAgent(dict(GOOD))
    plan(tmp_path, agent)
    workdirs = {c["workdir"] for c in agent.calls}
    assert len(workdirs) == 3
    assert all(w.parent == base for w in workdirs)  # where the agent's sandbox can work
    assert sorted(p.name for p in base.iterdir() if p.name != ".gitignore") == [alive.name]
