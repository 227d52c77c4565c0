"""The action's entry on real git repositories and a fake GitHub: check, plan, dry-run task.

The setting is what a GitHub job sees: a bare repository plays GitHub's git remote (its URL
is `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git`, here a `file://` URL), `FakeGitHub` on
127.0.0.1 plays its REST API (`$GITHUB_API_URL`), and the job's checkout is a fresh clone of
the remote (so, like `actions/checkout`, it has no `refs/macoder/ledger`). The entry builds
its real GitHub session on them; the outputs and the summary are read back from the files
GitHub would read.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.action.main import main
from multi_agent_coder.config import Settings
from multi_agent_coder.errors import EXIT_OK, EXIT_PROBLEMS
from multi_agent_coder.forge.base import WantedPr
from multi_agent_coder.forge.github import GitHubForge
from multi_agent_coder.git.ledger import LEDGER_REF, Attempt, Ledger
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions
from multi_agent_coder.run.session import open_github
from testing.fake_github import FakeGitHub
from tests.integration.gitrepos import commit, git, make_repo
from tests.support import backlog_yaml, task_dict

SLUG = "octo/target"
TOKEN = "ghs_FAKE0123456789abcdef"  # noqa: S105 - a made-up token


def no_agent(*args: object) -> Any:
    raise AssertionError("a dry run must not start an agent")


def read_outputs(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return {
        name: value
        for name, delimiter, value in re.findall(r"^(\S+?)<<(\S+)\n(.*?)\n\2$", text, re.M | re.S)
    }


class Job:
    """One job's files and environment; `run()` calls the entry like action.yml does."""

    def __init__(self, tmp_path: Path, checkout: Path, server: Path, api_url: str) -> None:
        self.checkout = checkout
        self.output = tmp_path / "github_output"
        self.summary = tmp_path / "step_summary"
        self.masked: list[str] = []
        self.env = {
            "GITHUB_REPOSITORY": SLUG,
            "GITHUB_SERVER_URL": server.as_uri(),
            "GITHUB_API_URL": api_url,
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "RUNNER_TEMP": str(tmp_path / "runner-temp"),
            "GITHUB_ACTIONS": "true",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_WORKFLOW_REF": f"{SLUG}/.github/workflows/macoder.yml@refs/heads/main",
        }

    @property
    def remote_url(self) -> str:
        return self.env["GITHUB_SERVER_URL"] + f"/{SLUG}.git"

    def run(
        self, *, token: bool | str = True, agent: Any = no_agent, **inputs: str
    ) -> tuple[int, str]:
        """The entry with these inputs (`task_id=` is `task-id`); the token unless told not
        (or another token, given as a string)."""
        environ = dict(self.env)
        if token:
            environ["ACTION_INPUT_GITHUB_TOKEN"] = TOKEN if token is True else token
        for name, value in inputs.items():
            environ["ACTION_INPUT_" + name.upper()] = value
        out = io.StringIO()
        code = main(["run"], environ, root=self.checkout, agent_factory=agent, stdout=out)
        lines = out.getvalue().splitlines(keepends=True)
        self.masked = [line.split("::", 2)[2].strip() for line in lines if "::add-mask::" in line]
        return code, "".join(line for line in lines if "::add-mask::" not in line)

    @property
    def outputs(self) -> dict[str, str]:
        return read_outputs(self.output)


TASKS = [
    task_dict("T001"),
    task_dict("T002"),  # leased by a live run elsewhere
    task_dict("T003", depends_on=["T001"]),  # waits on T001
    task_dict("T004"),  # has an open pull request: in review
    task_dict("T005"),  # has a draft pull request: a failed attempt, may be retried
    task_dict("T006"),  # out of attempts (ledger)
    task_dict("T007", status="completed"),
]


@pytest.fixture
def github(tmp_path: Path) -> Iterator[tuple[FakeGitHub, Path]]:
    """GitHub: its API (the fake) and its git remote (a bare repository) for SLUG."""
    server = tmp_path / "server"
    remote = server / f"{SLUG}.git"
    remote.parent.mkdir(parents=True)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    with FakeGitHub(TOKEN) as fake:
        fake.add_repo(SLUG, remote)
        yield fake, server


@pytest.fixture
def world(tmp_path: Path, github: tuple[FakeGitHub, Path]) -> Job:
    """GitHub with a backlog, a ledger and two task PRs; the job's fresh clone of it."""
    fake, server = github
    remote = server / f"{SLUG}.git"
    author = make_repo(tmp_path / "author", {"BACKLOG.yaml": backlog_yaml(*TASKS)})
    repo = Repo.open(author)
    ledger = Ledger(repo)
    now = time.time()
    assert ledger.acquire("T002", "run-elsewhere", "ci-runner-7:4242", ttl_s=3600)
    for attempt in range(Settings().max_attempts):
        ledger.record_attempt(
            Attempt(
                "T006",
                f"run-{attempt}",
                "failed",
                "tests fail",
                1.0,
                100,
                None,
                None,
                None,
                None,
                now,
            )
        )
    heads = {}
    for task_id in ("T004", "T005"):
        git(author, "checkout", "-q", "-b", f"macoder/{task_id}", "main")
        heads[task_id] = commit(author, {f"{task_id}.py": "x = 1\n"}, f"{task_id}: work")
        git(author, "checkout", "-q", "main")
    git(
        author, "push", "-q", str(remote), "refs/heads/*:refs/heads/*", f"{LEDGER_REF}:{LEDGER_REF}"
    )
    forge = GitHubForge(SLUG, TOKEN, repo=repo, api_url=fake.api_url, git_remote_url=str(remote))
    for task_id, draft in (("T004", False), ("T005", True)):
        forge.create_or_update_pr(
            WantedPr(
                task_id=task_id,
                branch=f"macoder/{task_id}",
                base="main",
                head_sha=heads[task_id],
                title=task_id,
                body="",
                draft=draft,
                labels=(),
            )
        )
    forge.close()
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(remote), str(checkout))
    assert git(checkout, "for-each-ref", LEDGER_REF) == ""
    return Job(tmp_path, checkout, server, fake.api_url)


# --------------------------------------------------------------------------- plan


def remote_leases(job: Job) -> dict[str, tuple[str, str]]:
    """Task -> (run id, holder) of every lease record on the remote's ledger."""
    remote = Path(job.env["GITHUB_SERVER_URL"].removeprefix("file://")) / f"{SLUG}.git"
    text = git(remote, "show", f"{LEDGER_REF}:ledger.jsonl")
    records = [json.loads(line) for line in text.splitlines()]
    return {r["task"]: (r["run_id"], r["holder"]) for r in records if r["type"] == "lease"}


def test_plan_outputs_the_ready_set_and_leases_it_for_the_workflow_run(world: Job) -> None:
    code, out = world.run(mode="plan")
    assert code == EXIT_OK, out
    base = git(world.checkout, "rev-parse", "origin/main")
    assert world.outputs == {
        "ready": '["T001","T005"]',
        "base-sha": base,
        "result": "ready",
        "rewrites": "[]",  # rebase.automatic is off
    }
    assert git(world.checkout, "for-each-ref", "--format=%(refname)", LEDGER_REF) == LEDGER_REF
    leases = remote_leases(world)
    for task_id in ("T001", "T005"):
        assert leases[task_id] == ("gha-4242", "github-actions:4242")
    assert leases["T002"] == ("run-elsewhere", "ci-runner-7:4242")
    summary = world.summary.read_text()
    assert "### macoder plan: 2 task(s) ready" in summary
    assert "| `T005` |" in summary
    # The whole ledger's metrics, as it stood before this wave's leases: T006's three
    # attempts (written by hand with the outcome "failed"), and nothing else.
    assert "### macoder metrics (the ledger before this wave): 3 attempt(s) on 1 task(s)" in (
        summary
    )
    assert "| first-attempt success | 0/1 tasks, 0.0 % | > 70 % ❌ |" in summary
    assert "| outcomes | 0 success, 0 failure, 0 needs-review, 0 interrupted, " in summary
    assert "0 infrastructure, 3 failed |" in summary


def test_plan_and_the_orchestrator_agree_on_what_is_ready(world: Job) -> None:
    """One rule, two callers: the plan must match what a task job would start."""
    code, _ = world.run(mode="plan", dry_run="true")
    assert code == EXIT_OK
    assert "T001" not in remote_leases(world)  # a dry run leases nothing
    session = open_github(
        world.checkout,
        Settings(),
        slug=SLUG,
        token=TOKEN,
        api_url=world.env["GITHUB_API_URL"],
        git_remote_url=world.remote_url,
        agent_factory=no_agent,
    )
    with session:
        report = Orchestrator(session).run(RunOptions(dry_run=True))
    assert world.outputs["ready"] == '["T001","T005"]'
    assert report.ready == ["T001", "T005"]


def test_tasks_the_plan_leased_are_busy_for_every_other_run_and_ready_for_its_jobs(
    world: Job,
) -> None:
    code, _ = world.run(mode="plan")
    assert code == EXIT_OK
    session = open_github(
        world.checkout,
        Settings(),
        slug=SLUG,
        token=TOKEN,
        api_url=world.env["GITHUB_API_URL"],
        git_remote_url=world.remote_url,
        agent_factory=no_agent,
    )
    with session:
        other = Orchestrator(session).run(RunOptions(dry_run=True))
        own = Orchestrator(session, run_id="gha-4242").run(RunOptions(dry_run=True))
    assert other.ready == []
    assert "T001" in (other.note or "")
    assert own.ready == ["T001", "T005"]
    # A second plan of another workflow run finds them leased.
    world.env["GITHUB_RUN_ID"] = "4343"
    code, _ = world.run(mode="plan")
    assert code == EXIT_OK
    assert world.outputs["ready"] == "[]"


def test_plan_with_a_task_id_plans_that_task_only_if_it_is_ready(world: Job) -> None:
    code, _ = world.run(mode="plan", task_id="T004")
    assert code == EXIT_OK
    assert world.outputs["ready"] == "[]"
    assert world.outputs["result"] == "nothing-ready"
    assert "T004 is in review (PR #1" in world.summary.read_text()


def fresh(tmp_path: Path, github: tuple[FakeGitHub, Path], backlog: str | None) -> Job:
    """A job on a remote with one commit (holding `backlog`, if any) and no ledger."""
    fake, server = github
    files = {"BACKLOG.yaml": backlog} if backlog is not None else {"README.md": "hi\n"}
    author = make_repo(tmp_path / "author", files)
    git(author, "push", "-q", str(server / f"{SLUG}.git"), "main")
    git(tmp_path, "clone", "-q", str(server / f"{SLUG}.git"), str(tmp_path / "checkout"))
    return Job(tmp_path, tmp_path / "checkout", server, fake.api_url)


def test_plan_without_a_ledger_on_the_remote_treats_it_as_empty(
    tmp_path: Path, github: tuple[FakeGitHub, Path]
) -> None:
    job = fresh(tmp_path, github, backlog_yaml(task_dict("T001")))
    code, out = job.run(mode="plan")
    assert code == EXIT_OK, out
    assert job.outputs["ready"] == '["T001"]'


def test_plan_without_a_backlog_on_the_default_branch_warns_and_plans_nothing(
    tmp_path: Path, github: tuple[FakeGitHub, Path]
) -> None:
    job = fresh(tmp_path, github, None)
    code, out = job.run(mode="plan")
    assert code == EXIT_OK, out
    assert out.startswith("::warning title=macoder::BACKLOG.yaml: not found in commit")
    assert job.outputs == {"ready": "[]", "result": "no-backlog"}


def test_a_remote_that_cannot_be_read_is_an_error_not_an_empty_ledger(world: Job) -> None:
    world.env["GITHUB_SERVER_URL"] = (world.checkout.parent / "nowhere").as_uri()
    code, out = world.run(mode="plan")
    assert code == EXIT_PROBLEMS
    assert "cannot fetch the run ledger" in out
    assert world.outputs == {"result": "error"}


def test_a_bad_token_is_reported_as_github_says_it(world: Job) -> None:
    world.env["ACTION_INPUT_GITHUB_TOKEN"] = "ghp_wrong"  # noqa: S105 - made up
    code, out = world.run(mode="plan", token=False)
    assert code == EXIT_PROBLEMS
    assert "bad credentials" in out
    assert "ghp_wrong" not in out


def test_the_token_is_masked_in_the_log_as_git_would_send_it(world: Job) -> None:
    import base64

    code, _ = world.run(mode="plan")
    assert code == EXIT_OK
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert world.masked == [TOKEN, basic]


def test_plan_needs_the_token(world: Job) -> None:
    code, out = world.run(mode="plan", token=False)
    assert code == 2
    assert "input 'github-token': required with mode 'plan'" in out
    assert world.outputs == {"result": "error"}


# --------------------------------------------------------------------------- task (dry run)


def test_a_dry_run_task_job_reports_what_would_run(world: Job) -> None:
    code, out = world.run(mode="task", task_id="T005", dry_run="true")
    assert code == EXIT_OK, out
    assert world.outputs == {
        "ready": '["T005"]',
        "result": "dry-run",
        "pr-number": "",
        "pr-url": "",
        "operation": "none",
        "head-sha": "",
    }
    assert "### macoder: dry-run" in world.summary.read_text()


def test_a_task_job_for_a_task_that_is_not_ready_starts_nothing(world: Job) -> None:
    code, _ = world.run(mode="task", task_id="T003", dry_run="true")
    assert code == EXIT_OK
    assert world.outputs["result"] == "nothing-ready"


def test_the_install_step_installs_nothing_for_a_dry_run(world: Job) -> None:
    environ = {**world.env, "ACTION_INPUT_MODE": "task", "ACTION_INPUT_TASK_ID": "T001"}
    environ["ACTION_INPUT_DRY_RUN"] = "true"
    out = io.StringIO()
    assert main(["install-opencode"], environ, root=world.checkout, stdout=out) == EXIT_OK
    assert "not installed" in out.getvalue()
    assert world.outputs == {"opencode-bin": ""}


def test_the_install_step_uses_a_configured_binary(world: Job, tmp_path: Path) -> None:
    binary = tmp_path / "opencode"
    binary.write_text("#!/bin/sh\necho 1.18.33\n")
    binary.chmod(0o755)
    environ = {
        **world.env,
        "ACTION_INPUT_MODE": "task",
        "ACTION_INPUT_TASK_ID": "T001",
        "ACTION_INPUT_BASE_SHA": "0" * 40,
        "MACODER_OPENCODE_BIN": str(binary),
    }
    out = io.StringIO()
    assert main(["install-opencode"], environ, root=world.checkout, stdout=out) == EXIT_OK
    assert world.outputs == {"opencode-bin": str(binary.resolve())}


def cache_step(world: Job, **inputs: str) -> dict[str, str]:
    """The `opencode-cache` step's outputs for these inputs (and environment entries)."""
    environ = dict(world.env)
    for name, value in inputs.items():
        environ[name if name.isupper() else "ACTION_INPUT_" + name.upper()] = value
    out = io.StringIO()
    assert main(["opencode-cache"], environ, root=world.checkout, stdout=out) == EXIT_OK
    return world.outputs


def test_the_cache_step_keys_npms_downloads_by_the_pinned_version(world: Job) -> None:
    from multi_agent_coder.config import Settings

    task = {"mode": "task", "task_id": "T001", "base_sha": "0" * 40}
    outputs = cache_step(world, **task)
    assert outputs["path"] == str(Path(world.env["RUNNER_TEMP"]) / "macoder-cache" / "npm")
    assert f"-opencode-ai@{Settings().opencode_version}-" in outputs["key"]
    # Nothing to cache where nothing is installed: the action restores and saves nothing.
    assert cache_step(world, mode="plan")["key"] == ""
    assert cache_step(world, **task, dry_run="true")["key"] == ""
    assert cache_step(world, **task, MACODER_OPENCODE_BIN="/opt/opencode")["key"] == ""
    # Nor for a version the action's lockfile does not pin (nothing would check it).
    assert cache_step(world, **task, opencode_version="1.0.0")["key"] == ""


# --------------------------------------------------------------------------- check


def check_job(tmp_path: Path, backlog: str | None) -> Job:
    """Check mode needs neither GitHub nor git: only the checked-out file."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    if backlog is not None:
        (checkout / "BACKLOG.yaml").write_text(backlog, encoding="utf-8")
    return Job(tmp_path, checkout, tmp_path / "server", "http://127.0.0.1:9")


def test_check_of_a_good_backlog(tmp_path: Path) -> None:
    job = check_job(tmp_path, backlog_yaml(task_dict("T001")))
    code, out = job.run(mode="check")
    assert code == EXIT_OK
    assert out == "ok: 1 file checked, no problems\n"
    assert job.outputs == {"result": "ok"}
    assert "### Backlog check: ok" in job.summary.read_text()


def test_check_annotates_the_bad_line_and_fills_the_summary(tmp_path: Path) -> None:
    job = check_job(tmp_path, backlog_yaml(task_dict("T001", depends_on=["T099"])))
    code, out = job.run(mode="check")
    assert code == EXIT_PROBLEMS
    assert re.search(r"^::error file=BACKLOG.yaml,line=\d+,col=\d+,title=[a-z-]+::", out, re.M)
    assert "T099" in out
    assert job.outputs == {"result": "problems"}
    summary = job.summary.read_text()
    assert "| where | field | problem | code |" in summary
    assert "`BACKLOG.yaml:" in summary


def test_check_without_a_backlog_warns_and_passes(tmp_path: Path) -> None:
    job = check_job(tmp_path, None)
    code, out = job.run(mode="check")
    assert code == EXIT_OK
    assert out.startswith("::warning title=macoder::BACKLOG.yaml: no such file in the checkout")
    assert job.outputs == {"result": "no-backlog"}


def test_check_reads_the_backlog_the_input_names(tmp_path: Path) -> None:
    job = check_job(tmp_path, None)
    (job.checkout / "plans").mkdir()
    (job.checkout / "plans" / "work.yaml").write_text(backlog_yaml(task_dict("T001")))
    code, _ = job.run(mode="check", backlog="plans/work.yaml")
    assert code == EXIT_OK
    assert job.outputs == {"result": "ok"}
