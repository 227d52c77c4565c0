"""The action's entry on real git repositories: check, plan and a dry-run task.

The setting is what a GitHub job sees: a bare repository plays GitHub's git remote (its URL
is `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git`, here a `file://` URL), the job's checkout is
a fresh clone of it (so, like `actions/checkout`, it has no `refs/macoder/ledger`), and the
forge is the local one, injected where the GitHub forge would be. The outputs and the summary
are read back from the files GitHub would read.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.action.inputs import RunnerContext
from multi_agent_coder.action.main import fetch_ledger, main, ready_now
from multi_agent_coder.config import Settings
from multi_agent_coder.errors import EXIT_OK, EXIT_PROBLEMS, GitError
from multi_agent_coder.forge.local import LocalForge
from multi_agent_coder.git.ledger import LEDGER_REF, Attempt, Ledger
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.ids import branch_for
from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions
from tests.integration.gitrepos import git, make_repo
from tests.support import backlog_yaml, task_dict

SLUG = "octo/target"
TOKEN = "ghs_FAKE0123456789abcdef"  # noqa: S105 - a made-up token


def local_forge(runner: RunnerContext, token: str) -> Any:
    """Stands in for `github_forge_factory`: same shape, the local forge."""
    assert token == TOKEN
    assert runner.repository == SLUG
    return LocalForge


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

    def __init__(self, tmp_path: Path, checkout: Path, server: Path) -> None:
        self.checkout = checkout
        self.output = tmp_path / "github_output"
        self.summary = tmp_path / "step_summary"
        self.env = {
            "GITHUB_REPOSITORY": SLUG,
            "GITHUB_SERVER_URL": server.as_uri(),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "RUNNER_TEMP": str(tmp_path / "runner-temp"),
            "GITHUB_ACTIONS": "true",
        }

    def run(self, *, token: bool = True, **inputs: str) -> tuple[int, str]:
        """The entry with these inputs (`task_id=` is `task-id`); the token unless told not."""
        environ = dict(self.env)
        if token:
            environ["ACTION_INPUT_GITHUB_TOKEN"] = TOKEN
        for name, value in inputs.items():
            environ["ACTION_INPUT_" + name.upper()] = value
        out = io.StringIO()
        code = main(
            ["run"],
            environ,
            root=self.checkout,
            make_forge=local_forge,
            agent_factory=no_agent,
            stdout=out,
        )
        return code, out.getvalue()

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
def world(tmp_path: Path) -> Job:
    """GitHub's remote with a backlog and a ledger; the job's fresh clone of it."""
    server = tmp_path / "server"
    remote = server / f"{SLUG}.git"
    remote.parent.mkdir(parents=True)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
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
    git(author, "push", "-q", str(remote), "main", f"{LEDGER_REF}:{LEDGER_REF}")
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(remote), str(checkout))
    assert git(checkout, "for-each-ref", LEDGER_REF) == ""
    forge = LocalForge(Repo.open(checkout))
    for task_id, draft in (("T004", False), ("T005", True)):
        forge.create_or_update_pr(
            task_id=task_id,
            branch=branch_for(task_id),
            base="main",
            head_sha="0" * 40,
            title=task_id,
            body="",
            draft=draft,
            labels=(),
        )
    return Job(tmp_path, checkout, server)


# --------------------------------------------------------------------------- plan


def test_plan_outputs_the_ready_set_after_fetching_the_ledger(world: Job) -> None:
    code, out = world.run(mode="plan")
    assert code == EXIT_OK, out
    assert world.outputs == {"ready": '["T001","T005"]', "result": "ready"}
    assert git(world.checkout, "for-each-ref", "--format=%(refname)", LEDGER_REF) == LEDGER_REF
    summary = world.summary.read_text()
    assert "### macoder plan: 2 task(s) ready" in summary
    assert "| `T005` |" in summary


def test_plan_and_the_orchestrator_agree_on_what_is_ready(world: Job) -> None:
    """One rule, two callers: the read-only plan must match what a task job would start."""
    fetch_ledger(world.checkout, world.env["GITHUB_SERVER_URL"] + f"/{SLUG}.git", {})
    repo = Repo.open(world.checkout)
    settings = Settings()
    planned, _ = ready_now(repo, settings, LocalForge(repo), time.time())
    orchestrator = Orchestrator(repo, settings, LocalForge, no_agent)
    report = orchestrator.run(RunOptions(dry_run=True))
    assert [t.id for t in planned] == report.ready == ["T001", "T005"]


def test_plan_with_a_task_id_plans_that_task_only_if_it_is_ready(world: Job) -> None:
    code, _ = world.run(mode="plan", task_id="T004")
    assert code == EXIT_OK
    assert world.outputs == {"ready": "[]", "result": "nothing-ready"}
    assert "T004 is not ready now" in world.summary.read_text()


def test_plan_without_a_ledger_on_the_remote_treats_it_as_empty(tmp_path: Path) -> None:
    server = tmp_path / "server"
    remote = server / f"{SLUG}.git"
    remote.parent.mkdir(parents=True)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    author = make_repo(tmp_path / "author", {"BACKLOG.yaml": backlog_yaml(task_dict("T001"))})
    git(author, "push", "-q", str(remote), "main")
    git(tmp_path, "clone", "-q", str(remote), str(tmp_path / "checkout"))
    job = Job(tmp_path, tmp_path / "checkout", server)
    code, out = job.run(mode="plan")
    assert code == EXIT_OK, out
    assert job.outputs["ready"] == '["T001"]'


def test_a_remote_that_cannot_be_read_is_an_error_not_an_empty_ledger(tmp_path: Path) -> None:
    checkout = make_repo(tmp_path / "checkout")
    with pytest.raises(GitError, match="cannot fetch the run ledger"):
        fetch_ledger(checkout, (tmp_path / "nowhere.git").as_uri(), {})


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
        "MACODER_OPENCODE_BIN": str(binary),
    }
    out = io.StringIO()
    assert main(["install-opencode"], environ, root=world.checkout, stdout=out) == EXIT_OK
    assert world.outputs == {"opencode-bin": str(binary.resolve())}


# --------------------------------------------------------------------------- check


def check_job(tmp_path: Path, backlog: str | None) -> Job:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    if backlog is not None:
        (checkout / "BACKLOG.yaml").write_text(backlog, encoding="utf-8")
    return Job(tmp_path, checkout, tmp_path / "server")


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
