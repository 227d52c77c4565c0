"""The Action's `rebase` and `publish-rebase`: a failing task's entry rewritten by the rebase
model in a job that can write nothing, handed off as one commit, checked, and opened as the
task's one rewrite pull request.

Each job is the action's entry called as action.yml calls it, on its own fresh clone of
"GitHub" (a bare repository as the git remote, `FakeGitHub` as the REST API); the artifact
between the jobs is a copy of the hand-off directory. The rebase model is a fake at the
`Agent` protocol answering `# Rebase: <id>` with a YAML mapping; everything else is real: the
ledger on the remote, the judge, the commit, the bundle, the publish job's checks, the push,
the pull request and the `Rewrite` record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from multi_agent_coder.agents.base import AgentOutcome, AgentResult
from multi_agent_coder.config import Settings
from multi_agent_coder.errors import EXIT_OK, EXIT_PROBLEMS
from multi_agent_coder.git.ledger import LEDGER_REF, Attempt, Ledger
from multi_agent_coder.git.repo import Repo
from tests.integration import actionworld
from tests.integration.actionworld import agent_factory, github, hand_over, handoff_dir
from tests.integration.gitrepos import git, make_repo
from tests.integration.test_action_entry import SLUG, TOKEN, Job
from tests.support import backlog_yaml, task_dict

MACODER = (Settings().git_author_name, Settings().git_author_email)
BRANCH = "macoder/rebase-T001"
REWRITE = {
    "description": "Add calc/sub.py with sub(a, b) returning a - b; the attempts edited "
    "calc/add.py, which the tests do not import.",
    "acceptance": ["sub(5, 3) == 2"],
}
SETTINGS = "models: {implementation: fake/strong, rebase: fake/rewriter}\n"


@dataclass
class RebaseAgent:
    """Answers `# Rebase: <id>` with `answer` (YAML text)."""

    answer: str = yaml.safe_dump(REWRITE, sort_keys=False)
    calls: list[str] = field(default_factory=list)

    def run(
        self, *, prompt: str, worktree: Path, model: str, timeout_s: float, title: str
    ) -> AgentResult:
        self.calls.append(prompt.split("\n", 1)[0])
        return AgentResult(
            AgentOutcome.SUCCESS, "idle", "ses_1", 0.01, True, self.answer, 10, 5, None, model
        )


class World(actionworld.World):
    def branch_sha(self) -> str:
        """Where the rewrite's branch is on the remote ("" before it is pushed)."""
        return self.ref_sha(BRANCH)

    def rewrites(self) -> list[dict[str, Any]]:
        text = git(self.remote, "show", f"{LEDGER_REF}:ledger.jsonl")
        return [r for r in map(json.loads, text.splitlines()) if r.get("type") == "rewrite"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    tasks = (task_dict("T001", status="failed", attempts=2), task_dict("T002"))
    author = make_repo(
        tmp_path / "author",
        {
            "BACKLOG.yaml": backlog_yaml(*tasks),
            ".macoder.yaml": SETTINGS,
            ".gitignore": ".macoder/\n",
        },
    )
    ledger = Ledger(Repo.open(author))
    for number, reason in enumerate(("tests fail: sub is missing", "tests fail again"), 1):
        ledger.record_attempt(
            Attempt(
                "T001",
                f"run-{number}",
                "failure",
                reason,
                1.0,
                100,
                None,
                None,
                None,
                None,
                time.time(),
            )
        )
    with github(tmp_path, author, f"{LEDGER_REF}:{LEDGER_REF}") as (fake, server):
        yield World(tmp_path, fake, server, git(author, "rev-parse", "HEAD"))


def rebase(world: World, agent: Any, task_id: str = "T001") -> tuple[int, str, Job]:
    job = world.job("rebase")
    code, out = job.run(agent=agent_factory(agent), mode="rebase", task_id=task_id)
    return code, out, job


def publish(
    world: World, rebased: Job, task_id: str = "T001", **inputs: str
) -> tuple[int, str, Job]:
    job = world.job("publish-rebase")
    hand_over(rebased, job)
    code, out = job.run(mode="publish-rebase", task_id=task_id, base_sha=world.base_sha, **inputs)
    return code, out, job


def pushes_and_writes(world: World) -> list[str]:
    """What the fake GitHub was asked to change (anything but a read)."""
    return [e.method for e in world.fake.exchanges if e.method not in ("GET", "HEAD")]


# --------------------------------------------------------------------------- the flow


def test_a_rewrite_is_handed_off_by_a_job_that_writes_nothing_and_published_as_one_pr(
    world: World,
) -> None:
    agent = RebaseAgent()
    ledger_before = git(world.remote, "rev-parse", LEDGER_REF)
    code, out, rebased = rebase(world, agent)

    assert code == EXIT_OK, out
    assert agent.calls == ["# Rebase: T001"]
    # The rebase job read GitHub and wrote nothing: no branch, no PR, no ledger record.
    assert pushes_and_writes(world) == []
    assert world.branch_sha() == ""
    assert git(world.remote, "rev-parse", LEDGER_REF) == ledger_before
    assert rebased.outputs["base-sha"] == world.base_sha
    assert rebased.outputs["result"] == "proposed"
    handed = json.loads((handoff_dir(rebased) / "rebase-T001" / "rebase.json").read_text())
    assert handed["model"] == "fake/rewriter"
    assert handed["why"] == "it failed 2 times"

    code, out, job = publish(world, rebased)

    assert code == EXIT_OK, out
    assert world.branch_sha() == handed["head_sha"] == job.outputs["head-sha"]
    changed = git(world.remote, "diff", "--name-only", world.base_sha, BRANCH).split()
    assert changed == ["BACKLOG.yaml"]
    backlog = yaml.safe_load(git(world.remote, "show", f"{BRANCH}:BACKLOG.yaml"))
    first = backlog["tasks"][0]
    assert (first["status"], first["attempts"]) == ("pending", 0)
    assert first["acceptance"] == REWRITE["acceptance"]
    [pr] = world.fake.pulls(SLUG)
    assert (pr["head"]["ref"], pr["base"]["ref"], pr["draft"]) == (BRANCH, "main", False)
    assert {label["name"] for label in pr["labels"]} == {"macoder", "macoder:rebase"}
    assert pr["title"] == "Rewrite T001: Do the thing T001"
    assert "it failed 2 times" in pr["body"]
    assert job.outputs["operation"] == "created"
    assert job.outputs["result"] == "published"
    [record] = world.rewrites()
    assert (record["task"], record["outcome"], record["pr"]) == ("T001", "proposed", pr["number"])


def test_with_sign_commits_the_rewrite_pr_is_opened_on_githubs_signed_copy(
    world: World,
) -> None:
    world.fake.viewers[TOKEN] = ("macoder-app[bot]", 4242)
    code, out, rebased = rebase(world, RebaseAgent())
    assert code == EXIT_OK, out
    handed = json.loads((handoff_dir(rebased) / "rebase-T001" / "rebase.json").read_text())

    code, out, job = publish(world, rebased, sign_commits="true")

    assert code == EXIT_OK, out
    signed = world.branch_sha()
    assert signed != handed["head_sha"]
    assert signed in world.fake.signed
    assert git(world.remote, "rev-parse", f"{signed}^{{tree}}") == git(
        job.checkout, "rev-parse", f"{handed['head_sha']}^{{tree}}"
    )
    [pr] = world.fake.pulls(SLUG)
    assert pr["head"]["sha"] == signed == job.outputs["head-sha"]


def test_a_rerun_updates_the_same_pr_never_a_second(world: World) -> None:
    code, out, first = rebase(world, RebaseAgent())
    assert code == EXIT_OK, out
    assert publish(world, first)[0] == EXIT_OK
    other = {**REWRITE, "acceptance": ["sub(5, 3) == 2", "sub(0, 0) == 0"]}

    code, out, again = rebase(world, RebaseAgent(yaml.safe_dump(other)))
    assert code == EXIT_OK, out
    code, out, job = publish(world, again)

    assert code == EXIT_OK, out
    [pr] = world.fake.pulls(SLUG)
    assert pr["state"] == "open"
    assert pr["head"]["sha"] == world.branch_sha() == job.outputs["head-sha"]
    assert job.outputs["operation"] == "updated"
    assert "sub(0, 0) == 0" in git(world.remote, "show", f"{BRANCH}:BACKLOG.yaml")


def test_a_task_that_does_not_qualify_ends_with_nothing_and_a_notice(world: World) -> None:
    agent = RebaseAgent()
    code, out, job = rebase(world, agent, task_id="T002")

    assert code == EXIT_OK, out
    assert job.outputs["result"] == "nothing"
    assert "::notice" in out
    assert "T002 has no failed attempt since it was last asked for" in out
    assert agent.calls == []
    assert not handoff_dir(job).exists()
    code, out, published = publish(world, job, task_id="T002")
    assert code == EXIT_OK, out
    assert published.outputs["result"] == "nothing"


def test_an_answer_that_never_passes_is_recorded_and_nothing_is_pushed(world: World) -> None:
    code, out, rebased = rebase(world, RebaseAgent("title: a new title\n"))
    assert code == EXIT_OK, out
    assert rebased.outputs["result"] == "invalid"

    code, out, job = publish(world, rebased)

    assert code == EXIT_OK, out
    assert job.outputs["result"] == "recorded"
    assert world.branch_sha() == ""
    assert world.fake.pulls(SLUG) == []
    [record] = world.rewrites()
    assert record["outcome"] == "invalid"


# --------------------------------------------------------------------------- refused


def tamper(job: Job, files: dict[str, bytes]) -> None:
    """The hand-off replaced by another commit of macoder's on the base: the rewrite's
    backlog plus `files` (what an escaped agent could hand over), bundled the same way."""
    folder = handoff_dir(job) / "rebase-T001"
    handed = json.loads((folder / "rebase.json").read_text())
    base, head = handed["base_sha"], handed["head_sha"]
    repo = Repo.open(job.checkout)
    content = {"BACKLOG.yaml": repo.file_at(head, "BACKLOG.yaml") or b"", **files}
    ref = "refs/macoder/handoff/rebase-T001"
    new = repo.commit_files(base, content, "tampered", MACODER, ref=ref)
    (folder / "rebase.bundle").unlink()
    git(job.checkout, "bundle", "create", "-q", str(folder / "rebase.bundle"), ref, f"^{base}")
    (folder / "rebase.json").write_text(json.dumps({**handed, "head_sha": new}))


def test_a_hostile_hand_off_that_edits_a_workflow_is_refused(world: World) -> None:
    code, out, rebased = rebase(world, RebaseAgent())
    assert code == EXIT_OK, out
    tamper(rebased, {".github/workflows/steal.yml": b"on: push\n"})

    code, out, job = publish(world, rebased)

    assert code == EXIT_PROBLEMS
    assert "changes .github/workflows/steal.yml: a rewrite changes only BACKLOG.yaml" in out
    assert world.branch_sha() == ""
    assert world.fake.pulls(SLUG) == []
    assert job.outputs["result"] == "refused"
    [record] = world.rewrites()
    assert record["outcome"] == "invalid"


def test_a_hand_off_that_changes_the_tasks_title_is_refused(world: World) -> None:
    code, out, rebased = rebase(world, RebaseAgent())
    assert code == EXIT_OK, out
    handed = json.loads((handoff_dir(rebased) / "rebase-T001" / "rebase.json").read_text())
    backlog = Repo.open(rebased.checkout).file_at(handed["head_sha"], "BACKLOG.yaml") or b""
    tamper(rebased, {"BACKLOG.yaml": backlog.replace(b"Do the thing T001", b"Anything", 1)})

    code, out, _ = publish(world, rebased)

    assert code == EXIT_PROBLEMS
    assert "T001's title changed" in out
    assert world.branch_sha() == ""
