"""The Action's `plan-feature` and `publish-feature`: a feature planned with no token at all,
handed off as one commit, checked, and opened as the one pull request of its track.

Each job is the action's entry called as action.yml calls it, on its own fresh clone of
"GitHub" (a bare repository as the git remote, `FakeGitHub` as the REST API); the artifact
between the jobs is a copy of the hand-off directory. The fast tests answer the agents with a
fake at the `Agent` protocol (planning by role, generation with tasks); everything else is
real: the structured merge, the generator's checks, the commit, the bundle, the publish job's
checks, the push and the pull request. The slow test runs the real OpenCode binary against the
scripted model instead.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from multi_agent_coder.agents.base import AgentOutcome, AgentResult
from multi_agent_coder.config import Settings
from multi_agent_coder.errors import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from multi_agent_coder.git.repo import Repo
from testing import scripted_model as sm
from tests.integration import actionworld
from tests.integration.actionworld import agent_factory, github, hand_over, handoff_dir
from tests.integration.gitrepos import git, make_repo
from tests.integration.test_action_entry import SLUG, Job
from tests.support import backlog_yaml, task_dict

MACODER = (Settings().git_author_name, Settings().git_author_email)
TRACK = "sign-in"
BRANCH = f"macoder/plan-{TRACK}"
CONTEXT_PATH = "docs/sign-in.md"
CONTEXT = "# Sign-in\n\nLet users sign in with a password.\n"
SPEC = (
    "## Requirements\n1. Users sign in.\n\n## Acceptance Criteria\n- GIVEN a user WHEN x THEN y\n"
)
ARCH = "## Design\n1. A session store.\n\n## API\n- POST /login\n"
QA = "## Test Plan\n- unit tests\n\n## Risks\n- tokens leak\n"
PLANNING = {"SPEC": SPEC, "ARCHITECTURE": ARCH, "QA": QA}
TASKS = """\
```yaml
- id: N1
  title: Add the session store
  description: Add app/sessions.py with a dict-backed store of signed-in users.
  depends_on: []
  acceptance:
    - a stored session is found again
  scope:
    files_hint: [app/sessions.py, tests/test_sessions.py]
    estimated_hours: 1
- id: N2
  title: Add POST /login
  description: Check the password and start a session in the store.
  depends_on: [N1]
  acceptance:
    - the right password starts a session
  scope:
    files_hint: [app/login.py]
    estimated_hours: 1
```
"""
SETTINGS = "models: {implementation: fake/strong, planning: fake/cheap}\n"
FILES = [f"specs/{TRACK}/{name}" for name in ("ARCH.md", "PLAN.md", "QA.md", "SPEC.md")]


@dataclass
class FeatureAgent:
    """Answers the planning agents by role and the generator with `tasks`."""

    tasks: str = TASKS
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self, *, prompt: str, worktree: Path, model: str, timeout_s: float, title: str
    ) -> AgentResult:
        first = prompt.split("\n", 1)[0]
        with self.lock:
            self.calls.append(first)
        answer = self.tasks
        if first.startswith("# Planning "):
            answer = PLANNING[first.removeprefix("# Planning ").split(":", 1)[0]]
        return AgentResult(
            AgentOutcome.SUCCESS, "idle", "ses_1", 0.01, True, answer, 10, 5, None, model
        )


class World(actionworld.World):
    def branch_sha(self) -> str:
        """Where the plan's branch is on the remote ("" before it is pushed)."""
        return self.ref_sha(BRANCH)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path, SETTINGS) as opened:
        yield opened


@contextlib.contextmanager
def open_world(
    tmp_path: Path, settings: str, files: dict[str, str] | None = None
) -> Iterator[World]:
    author = make_repo(
        tmp_path / "author",
        {
            "BACKLOG.yaml": backlog_yaml(task_dict("T001"), task_dict("T002")),
            CONTEXT_PATH: CONTEXT,
            ".gitignore": ".macoder/\n",
            ".macoder.yaml": settings,
            **(files or {}),
        },
    )
    with github(tmp_path, author) as (fake, server):
        yield World(tmp_path, fake, server, git(author, "rev-parse", "HEAD"))


def plan_feature(world: World, agent: Any, **inputs: str) -> tuple[int, str, Job]:
    job = world.job("plan-feature")
    given = {"track": TRACK, "context": CONTEXT_PATH, **inputs}
    code, out = job.run(token=False, agent=agent_factory(agent), mode="plan-feature", **given)
    return code, out, job


def publish(world: World, planned: Job, **inputs: str) -> tuple[int, str, Job]:
    job = world.job("publish-feature")
    hand_over(planned, job)
    given = {"track": TRACK, "context": CONTEXT_PATH, "base_sha": world.base_sha, **inputs}
    code, out = job.run(mode="publish-feature", **given)
    return code, out, job


# --------------------------------------------------------------------------- the flow


def test_a_feature_is_planned_with_no_token_and_published_as_one_pr(world: World) -> None:
    agent = FeatureAgent()
    code, out, planned = plan_feature(world, agent)

    assert code == EXIT_OK, out
    # The planning job talked to no GitHub at all and changed nothing on the remote.
    assert world.fake.exchanges == []
    assert world.branch_sha() == ""
    assert planned.outputs["base-sha"] == world.base_sha
    assert planned.outputs["tasks"] == '["T003","T004"]'
    assert planned.outputs["result"] == "planned"
    assert sorted(c.split(":")[0] for c in agent.calls[:3]) == [
        "# Planning ARCHITECTURE",
        "# Planning QA",
        "# Planning SPEC",
    ]
    # Its checkout is untouched: the plan is a commit beside it, not in it.
    assert git(planned.checkout, "status", "--porcelain") == ""
    assert git(planned.checkout, "rev-parse", "HEAD") == world.base_sha
    handed = json.loads((handoff_dir(planned) / f"plan-{TRACK}" / "feature.json").read_text())
    assert handed["base_sha"] == world.base_sha
    assert handed["context"] == CONTEXT_PATH

    code, out, job = publish(world, planned)

    assert code == EXIT_OK, out
    head = world.branch_sha()
    assert head == handed["head_sha"] == job.outputs["head-sha"]
    changed = git(world.remote, "diff", "--name-only", world.base_sha, BRANCH).split()
    assert sorted(changed) == sorted(["BACKLOG.yaml", *FILES])
    assert git(world.remote, "log", "--format=%an <%ae>", f"{world.base_sha}..{BRANCH}") == (
        f"{MACODER[0]} <{MACODER[1]}>"
    )
    backlog = yaml.safe_load(git(world.remote, "show", f"{BRANCH}:BACKLOG.yaml"))
    assert [t["id"] for t in backlog["tasks"]] == ["T001", "T002", "T003", "T004"]
    assert backlog["tasks"][3]["depends_on"] == ["T003"]
    [pr] = world.fake.pulls(SLUG)
    assert (pr["head"]["ref"], pr["base"]["ref"], pr["draft"]) == (BRANCH, "main", False)
    assert {label["name"] for label in pr["labels"]} == {"macoder", "macoder:plan"}
    assert pr["title"] == f"macoder plan: {TRACK} (2 new tasks)"
    assert "for a person to review and merge" in pr["body"]
    assert "**T003** Add the session store" in pr["body"]
    assert job.outputs["operation"] == "created"
    assert job.outputs["tasks"] == '["T003","T004"]'
    assert job.outputs["result"] == "published"


def test_planning_again_updates_the_same_pr_never_a_second(world: World) -> None:
    code, out, first = plan_feature(world, FeatureAgent())
    assert code == EXIT_OK, out
    assert publish(world, first)[0] == EXIT_OK
    one_task = TASKS.split("- id: N2", maxsplit=1)[0] + "```\n"

    code, out, again = plan_feature(world, FeatureAgent(tasks=one_task))
    assert code == EXIT_OK, out
    code, out, job = publish(world, again)

    assert code == EXIT_OK, out
    [pr] = world.fake.pulls(SLUG)
    assert pr["state"] == "open"
    assert pr["title"] == f"macoder plan: {TRACK} (1 new task)"
    assert pr["head"]["sha"] == world.branch_sha() == job.outputs["head-sha"]
    assert job.outputs["operation"] == "updated"
    assert job.outputs["pr-number"] == str(pr["number"])


def test_a_persons_commit_on_the_plans_branch_is_never_pushed_over(world: World) -> None:
    code, out, first = plan_feature(world, FeatureAgent())
    assert code == EXIT_OK, out
    assert publish(world, first)[0] == EXIT_OK
    person = world.base / "person"
    git(world.base, "clone", "-q", "-b", BRANCH, str(world.remote), str(person))
    git(person, "config", "user.email", "dev@example.com")
    git(person, "config", "user.name", "Dev")
    (person / "specs" / TRACK / "SPEC.md").write_text(SPEC + "\nA person's note.\n")
    git(person, "commit", "-qam", "a person's edit")
    git(person, "push", "-q", "origin", BRANCH)
    edited = world.branch_sha()

    code, out, again = plan_feature(world, FeatureAgent())
    assert code == EXIT_OK, out
    code, out, job = publish(world, again)

    assert code == EXIT_PROBLEMS
    assert world.branch_sha() == edited
    assert job.outputs["result"] == "refused"
    assert "nothing was pushed" in out
    [pr] = world.fake.pulls(SLUG)
    assert "macoder:needs-review" in {label["name"] for label in pr["labels"]}


# --------------------------------------------------------------------------- refused


def tamper(job: Job, files: dict[str, bytes]) -> None:
    """The hand-off replaced by another commit of macoder's on the base: the plan's own files
    plus `files` (what an escaped agent could hand over), bundled and announced the same way."""
    folder = handoff_dir(job) / f"plan-{TRACK}"
    handed = json.loads((folder / "feature.json").read_text())
    base, head = handed["base_sha"], handed["head_sha"]
    repo = Repo.open(job.checkout)
    names = git(job.checkout, "diff", "--name-only", base, head).split()
    content = {name: repo.file_at(head, name) or b"" for name in names}
    ref = f"refs/macoder/handoff/plan-{TRACK}"
    new = repo.commit_files(base, {**content, **files}, "tampered", MACODER, ref=ref)
    (folder / "feature.bundle").unlink()
    git(job.checkout, "bundle", "create", "-q", str(folder / "feature.bundle"), ref, f"^{base}")
    (folder / "feature.json").write_text(json.dumps({**handed, "head_sha": new}))


def test_a_hand_off_touching_a_file_outside_the_track_is_refused(world: World) -> None:
    code, out, planned = plan_feature(world, FeatureAgent())
    assert code == EXIT_OK, out
    tamper(planned, {".github/workflows/steal.yml": b"on: push\n", "app.py": b"evil()\n"})

    code, out, job = publish(world, planned)

    assert code == EXIT_PROBLEMS
    assert "changes .github/workflows/steal.yml: a plan changes only specs/sign-in/**" in out
    assert "changes app.py" in out
    assert world.branch_sha() == ""
    assert world.fake.pulls(SLUG) == []
    assert job.outputs["result"] == "refused"


def test_a_hand_off_that_edits_an_existing_task_is_refused(world: World) -> None:
    code, out, planned = plan_feature(world, FeatureAgent())
    assert code == EXIT_OK, out
    repo = Repo.open(planned.checkout)
    handed = json.loads((handoff_dir(planned) / f"plan-{TRACK}" / "feature.json").read_text())
    backlog = repo.file_at(handed["head_sha"], "BACKLOG.yaml") or b""
    done = backlog.replace(b"status: pending", b"status: completed", 1)  # T001
    tamper(planned, {"BACKLOG.yaml": done})

    code, out, _ = publish(world, planned)

    assert code == EXIT_PROBLEMS
    assert "BACKLOG.yaml: changed beyond tasks appended at the end of its list" in out
    assert world.branch_sha() == ""
    assert world.fake.pulls(SLUG) == []


def test_a_bad_track_is_an_input_error_before_anything_runs(world: World) -> None:
    agent = FeatureAgent()
    code, out, _ = plan_feature(world, agent, track="../../etc")
    assert code == EXIT_USAGE
    assert "input 'track': invalid track name '../../etc'" in out
    assert agent.calls == []


def test_a_track_planned_already_is_refused_before_any_model_is_asked(tmp_path: Path) -> None:
    files = {f"specs/{TRACK}/PLAN.md": "# Unified Implementation Plan\n"}
    with open_world(tmp_path, SETTINGS, files) as world:
        agent = FeatureAgent()
        code, out, planned = plan_feature(world, agent)
    assert code == EXIT_USAGE
    assert f"track '{TRACK}' is planned already: specs/{TRACK}/PLAN.md is on main" in out
    assert agent.calls == []
    assert not handoff_dir(planned).exists()


def test_a_context_missing_on_the_default_branch_is_named(world: World) -> None:
    code, out, _ = plan_feature(world, FeatureAgent(), context="docs/nope.md")
    assert code == EXIT_USAGE
    assert "input 'context': docs/nope.md is not a file in commit" in out


def test_planning_debris_in_the_specs_hands_off_nothing(world: World) -> None:
    """Hostile or careless planning agents: chatter in a spec would reach every agent that
    reads it, and a CI job has no person to delete it, so nothing is handed off."""

    @dataclass
    class Chatty(FeatureAgent):
        def run(self, **kw: Any) -> AgentResult:
            done = FeatureAgent.run(self, **kw)
            if kw["prompt"].startswith("# Planning SPEC"):
                text = "Let me think about this first.\n\n" + done.output_text
                return AgentResult(
                    AgentOutcome.SUCCESS,
                    "idle",
                    "ses_1",
                    0.01,
                    True,
                    text,
                    10,
                    5,
                    None,
                    kw["model"],
                )
            return done

    code, out, planned = plan_feature(world, Chatty())
    assert code != 0, out
    assert f"specs/{TRACK}/SPEC.md:1:1:" in out
    assert "planning debris" in out
    assert not handoff_dir(planned).exists() or not any(handoff_dir(planned).iterdir())
    assert world.fake.pulls(SLUG) == []


# --------------------------------------------------------------------------- real OpenCode


@pytest.mark.slow
@pytest.mark.e2e
def test_real_opencode_plans_the_feature_and_publish_opens_its_pr(
    tmp_path: Path, binary: Path, model: sm.ScriptedModel
) -> None:
    for role, answer in (("spec", SPEC), ("architecture", ARCH), ("qa", QA)):
        model.set_scenario(f"planning:{role}", sm.Scenario([sm.text(answer)]))
    model.set_scenario(f"generate:{TRACK}", sm.Scenario([sm.text(TASKS)]))
    config = tmp_path / "opencode.json"
    config.write_text(json.dumps({"provider": model.provider_config()}))
    settings = yaml.safe_dump(
        {
            "opencode_config": str(config),
            "opencode_bin": str(binary),
            "models": {"implementation": sm.MODEL_REF, "planning": sm.MODEL_REF},
            "checks": {"test": [sys.executable, "-c", "pass"]},
            "planning_timeout": 120,
        }
    )
    with open_world(tmp_path, settings) as world:
        job = world.job("plan-feature")
        code, out = job.run(
            token=False, agent=None, mode="plan-feature", track=TRACK, context=CONTEXT_PATH
        )
        assert code == EXIT_OK, out
        assert world.fake.exchanges == []
        assert job.outputs["tasks"] == '["T003","T004"]'
        for role in ("spec", "architecture", "qa"):
            [first, *_] = model.task_requests(f"planning:{role}")
            assert "Let users sign in with a password." in json.dumps(first.body)

        code, out, _ = publish(world, job)

        assert code == EXIT_OK, out
        [pr] = world.fake.pulls(SLUG)
        assert pr["head"]["ref"] == BRANCH
        changed = git(world.remote, "diff", "--name-only", world.base_sha, BRANCH).split()
        assert sorted(changed) == sorted(["BACKLOG.yaml", *FILES])
        plan = git(world.remote, "show", f"{BRANCH}:specs/{TRACK}/PLAN.md")
        assert plan.startswith("# Unified Implementation Plan")
