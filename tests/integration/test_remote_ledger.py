"""The run ledger shared through a bare git remote: separate clones, racing processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.errors import GitError
from multi_agent_coder.git.ledger import LEDGER_REF, Attempt, Lease, Ledger, attempts, live_leases
from multi_agent_coder.git.remote import Remote
from multi_agent_coder.git.remote_ledger import RemoteLedger
from multi_agent_coder.git.repo import Repo
from tests.integration.gitrepos import git, git_env, make_repo

SRC = Path(__file__).resolve().parents[2] / "src"


def attempt(task: str, run_id: str, at: float = 1.0) -> Attempt:
    return Attempt(task, run_id, "failure", "tests failed", 1.0, 100, None, None, None, None, at)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    seed = make_repo(tmp_path / "seed")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    return bare


def shared(work: Path, remote: Path | str, **options: Any) -> RemoteLedger:
    """The ledger of the clone at `work`, shared through `remote`."""
    repo = Repo.open(work)
    return RemoteLedger(repo, Remote(repo.root, str(remote)), **options)


def clone(tmp_path: Path, remote: Path, name: str) -> Path:
    path = tmp_path / name
    git(tmp_path, "clone", "-q", str(remote), str(path))
    return path


def test_records_travel_through_the_remote_between_clones(tmp_path: Path, remote: Path) -> None:
    a = shared(clone(tmp_path, remote, "a"), remote)
    b = shared(clone(tmp_path, remote, "b"), remote)
    assert a.read() == []
    assert b.read() == []

    a.append(attempt("T001", "run-a"))
    b.append(attempt("T002", "run-b"))

    assert a.read() == b.read() == [attempt("T001", "run-a"), attempt("T002", "run-b")]
    assert git(remote, "rev-list", "--count", LEDGER_REF) == "2"
    assert git(remote, "rev-list", "--count", "--merges", LEDGER_REF) == "0"
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/heads") == "refs/heads/main"


def test_a_lost_push_fetches_and_re_appends_on_the_new_tip(tmp_path: Path, remote: Path) -> None:
    sleeps: list[float] = []
    ours = shared(clone(tmp_path, remote, "a"), remote, sleep=sleeps.append)
    theirs = shared(clone(tmp_path, remote, "b"), remote)
    original = ours._swap
    calls: list[str] = []

    def swap(new: str, old: str | None, message: str) -> None:
        calls.append(new)
        if len(calls) == 1:  # another job appends between our fetch and our push
            theirs.append(attempt("T002", "run-b"))
        original(new, old, message)

    ours._swap = swap  # type: ignore[method-assign]
    ours.append(attempt("T001", "run-a"))

    assert len(calls) == 2
    assert len(sleeps) == 1
    assert Ledger(Repo.open(remote)).read() == [attempt("T002", "run-b"), attempt("T001", "run-a")]


def test_the_local_ref_mirrors_the_remote(tmp_path: Path, remote: Path) -> None:
    work = clone(tmp_path, remote, "a")
    Ledger(Repo.open(work)).append(attempt("T009", "local-only"))  # never pushed

    ledger = shared(work, remote)
    assert ledger.read() == []  # the remote has no ledger: the local one is not the truth
    ledger.append(attempt("T001", "run-a"))

    assert Ledger(Repo.open(remote)).read() == [attempt("T001", "run-a")]
    assert git(work, "rev-parse", LEDGER_REF) == git(remote, "rev-parse", LEDGER_REF)


def test_a_remote_that_does_not_answer_is_retried_with_the_retry_settings(
    tmp_path: Path, remote: Path
) -> None:
    """Refused connections are a network fault: retried `retry.max_retries` times with the
    policy's waits, then reported; a missing repository (below) is not retried at all."""
    from multi_agent_coder.config import RetrySettings
    from multi_agent_coder.git.remote import NetworkError

    work = clone(tmp_path, remote, "a")
    sleeps: list[float] = []
    policy = RetrySettings(max_retries=2, delay=0.25, backoff=2.0, max_delay=10.0)
    repo = Repo.open(work)
    down = Remote(
        repo.root, "http://127.0.0.1:9/octo/widgets.git", retry=policy, sleep=sleeps.append
    )
    with pytest.raises(NetworkError, match="cannot fetch the run ledger refs/macoder/ledger"):
        RemoteLedger(repo, down).read()
    assert len(sleeps) == 2
    assert 0.125 <= sleeps[0] <= 0.25
    assert 0.25 <= sleeps[1] <= 0.5


def test_an_unreachable_remote_is_a_clear_git_error(tmp_path: Path, remote: Path) -> None:
    ledger = shared(clone(tmp_path, remote, "a"), tmp_path / "gone.git")
    with pytest.raises(GitError, match="cannot fetch the run ledger"):
        ledger.append(attempt("T001", "run-a"))


CHILD = """
import sys, time
from pathlib import Path
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.git.ledger import Attempt
from multi_agent_coder.git.remote import Remote
from multi_agent_coder.git.remote import Remote
from multi_agent_coder.git.remote_ledger import RemoteLedger
repo = Repo.open(sys.argv[1])
ledger = RemoteLedger(repo, Remote(repo.root, sys.argv[2]))
go = Path(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
"""

APPEND = CHILD + (
    "writer = int(sys.argv[4])\n"
    "for i in range(10):\n"
    "    ledger.record_attempt(Attempt(f'T{writer:03d}', f'w{writer}-{i}', 'failure', '', 0.0,"
    " 0, None, None, None, None, time.time()))\n"
)

ACQUIRE = CHILD + (
    "lease = ledger.acquire('T001', sys.argv[4], 'host', ttl_s=600)\n"
    "print('won' if lease is not None else 'lost')\n"
)


def run_clones(tmp_path: Path, remote: Path, script: str, args: list[str]) -> list[str]:
    """One process per argument, each with its own clone of `remote`, released together."""
    go = tmp_path / "go"
    env = {**git_env(), "PYTHONPATH": str(SRC)}
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                script,
                str(clone(tmp_path, remote, f"clone-{n}")),
                str(remote),
                str(go),
                arg,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, arg in enumerate(args)
    ]
    go.touch()
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        outputs.append(out.strip())
    return outputs


@pytest.mark.slow
def test_eight_processes_with_their_own_clones_lose_no_record(tmp_path: Path, remote: Path) -> None:
    run_clones(tmp_path, remote, APPEND, [str(w) for w in range(1, 9)])

    records = Ledger(Repo.open(remote)).read()
    assert len(records) == 80
    assert {r.run_id for r in records} == {f"w{w}-{i}" for w in range(1, 9) for i in range(10)}
    assert attempts(records) == {f"T{w:03d}": 10 for w in range(1, 9)}
    for w in range(1, 9):  # each writer's records keep its order
        assert [r.run_id for r in records if r.task == f"T{w:03d}"] == [
            f"w{w}-{i}" for i in range(10)
        ]
    assert git(remote, "rev-list", "--count", LEDGER_REF) == "80"
    assert git(remote, "rev-list", "--count", "--merges", LEDGER_REF) == "0"
    git(remote, "fsck", "--no-dangling")


@pytest.mark.slow
def test_eight_jobs_racing_for_one_task_exactly_one_wins(tmp_path: Path, remote: Path) -> None:
    outcomes = run_clones(tmp_path, remote, ACQUIRE, [f"run-{n}" for n in range(8)])

    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    records = Ledger(Repo.open(remote)).read()
    leases = [r for r in records if isinstance(r, Lease)]
    assert [lease.run_id for lease in leases] == [f"run-{outcomes.index('won')}"]
    assert live_leases(records, leases[0].acquired_at + 1)["T001"] == leases[0]
