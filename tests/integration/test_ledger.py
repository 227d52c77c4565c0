"""The run ledger on a real ref: concurrent processes, leases, torn lines, identity."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from multi_agent_coder.errors import InvalidTaskIdError, LedgerBusyError, UsageError
from multi_agent_coder.git.ledger import (
    LEDGER_FILE,
    LEDGER_REF,
    Attempt,
    Lease,
    Ledger,
    Release,
    Skipped,
    Start,
    attempts,
    dumps,
    live_leases,
    settled,
)
from multi_agent_coder.git.repo import Repo
from tests.integration.gitrepos import git, git_env, make_repo, snapshot

SRC = Path(__file__).resolve().parents[2] / "src"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(root: Path, clock: Clock) -> Ledger:
    return Ledger(Repo.open(root), clock=clock)


def attempt(task: str, run_id: str, outcome: str = "failed", at: float = 1.0) -> Attempt:
    return Attempt(task, run_id, outcome, "tests failed", 3.5, 1200, "m", None, None, None, at)


def run_children(root: Path, script: str, args: list[list[str]], go: Path) -> list[str]:
    """Start one Python process per argument list, release them together, return their stdout."""
    env = {**git_env(), "PYTHONPATH": str(SRC)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(root), str(go), *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra in args
    ]
    go.touch()
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        outputs.append(out.strip())
    return outputs


CHILD_PRELUDE = """
import sys, time
from pathlib import Path
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.git.ledger import Attempt, Ledger
ledger = Ledger(Repo.open(sys.argv[1]))
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
"""


# --------------------------------------------------------------------- basics


def test_an_absent_ledger_reads_as_empty(ledger: Ledger, root: Path) -> None:
    assert ledger.read() == []
    assert git(root, "rev-parse", "--verify", "-q", LEDGER_REF, check=False) == ""


def test_appends_are_commits_of_one_file_on_the_ref_never_checked_out(
    ledger: Ledger, root: Path
) -> None:
    before = snapshot(root)
    first = attempt("T001", "run-a")
    ledger.append(first)
    ledger.append(attempt("T002", "run-a"), Release("T002", "run-a", 2.0))

    assert ledger.read() == [first, attempt("T002", "run-a"), Release("T002", "run-a", 2.0)]
    assert git(root, "ls-tree", "--name-only", LEDGER_REF) == LEDGER_FILE
    assert git(root, "rev-list", "--count", LEDGER_REF) == "2"  # its own history
    assert git(root, "show", f"{LEDGER_REF}:{LEDGER_FILE}").splitlines()[0] == dumps(first)
    assert git(root, "log", "-1", "--format=%s", LEDGER_REF) == "ledger: attempt T002, release T002"
    assert snapshot(root) == before  # HEAD, index, status: untouched
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""


def test_ledger_commits_carry_macoders_identity_not_the_users(
    ledger: Ledger, root: Path, clock: Clock
) -> None:
    clock.now = 1_700_000_000
    ledger.append(attempt("T001", "run-a"))
    who = git(root, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%at", LEDGER_REF)
    assert who == "macoder <macoder@localhost>|macoder <macoder@localhost>|1700000000"


def test_append_of_nothing_writes_nothing(ledger: Ledger, root: Path) -> None:
    ledger.append()
    assert git(root, "rev-parse", "--verify", "-q", LEDGER_REF, check=False) == ""


def test_a_custom_ref(root: Path) -> None:
    ledger = Ledger(Repo.open(root), ref="refs/macoder/ledger-test")
    ledger.append(attempt("T001", "r"))
    assert git(root, "rev-parse", "--verify", "-q", LEDGER_REF, check=False) == ""
    assert len(ledger.read()) == 1


# --------------------------------------------------------------------- torn lines


def write_raw_ledger(root: Path, text: str) -> None:
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=root,
        env=git_env(),
        input=text,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = subprocess.run(
        ["git", "mktree"],
        cwd=root,
        env=git_env(),
        input=f"100644 blob {blob}\t{LEDGER_FILE}\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    commit = git(root, "commit-tree", tree, "-m", "hand-written ledger")
    git(root, "update-ref", LEDGER_REF, commit)


def test_a_torn_line_is_skipped_reported_and_appends_still_work(
    ledger: Ledger, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = attempt("T001", "run-a")
    torn = dumps(attempt("T002", "run-b"))[:30]
    write_raw_ledger(root, f"{dumps(good)}\n{torn}")

    skipped: list[Skipped] = []
    with caplog.at_level(logging.WARNING):
        assert ledger.read(skipped) == [good]
    assert [(s.line, s.text) for s in skipped] == [(2, torn)]
    assert f"{LEDGER_FILE}:2: skipped: not JSON" in caplog.text

    later = attempt("T003", "run-c")
    ledger.append(later)
    assert ledger.read() == [good, later]
    lines = git(root, "show", f"{LEDGER_REF}:{LEDGER_FILE}").splitlines()
    assert lines == [dumps(good), torn, dumps(later)]  # history is never rewritten


# --------------------------------------------------------------------- leases


def test_acquire_then_someone_else_cannot(ledger: Ledger, clock: Clock) -> None:
    won = ledger.acquire("T001", "run-a", "host-a:1", ttl_s=60)
    assert won == Lease("T001", "run-a", "host-a:1", 1_000.0, 1_060.0)
    clock.now += 30
    assert ledger.acquire("T001", "run-b", "host-b:2", ttl_s=60) is None
    assert live_leases(ledger.read(), clock.now) == {"T001": won}


def test_an_expired_lease_frees_the_task(ledger: Ledger, clock: Clock) -> None:
    ledger.acquire("T001", "run-a", "host-a", ttl_s=60)  # then run-a is killed -9
    clock.now += 61
    assert live_leases(ledger.read(), clock.now) == {}
    taken = ledger.acquire("T001", "run-b", "host-b", ttl_s=60)
    assert taken is not None
    assert taken.run_id == "run-b"
    ledger.release("T001", "run-a")  # the zombie comes back: no effect on run-b
    assert live_leases(ledger.read(), clock.now)["T001"].run_id == "run-b"


def test_the_holder_reacquiring_extends_its_lease(ledger: Ledger, clock: Clock) -> None:
    first = ledger.acquire("T001", "run-a", "host-a", ttl_s=60)
    clock.now += 50
    renewed = ledger.acquire("T001", "run-a", "host-a", ttl_s=60)
    assert first is not None
    assert renewed == Lease("T001", "run-a", "host-a", first.acquired_at, clock.now + 60)
    clock.now += 30  # past the first expiry, inside the renewed one
    assert ledger.acquire("T001", "run-b", "host-b", ttl_s=60) is None


def test_a_lease_taken_for_an_attempt_is_written_with_its_start_in_one_commit(
    ledger: Ledger, clock: Clock, root: Path
) -> None:
    won = ledger.acquire("T001", "run-a", "host-a", ttl_s=60, start=True)
    ledger.acquire("T001", "run-a", "host-a", ttl_s=60, start=True)  # a renewal: no new start
    assert ledger.read() == [won, Start("T001", "run-a", "host-a", 1_000.0), ledger.read()[2]]
    assert git(root, "log", "--format=%s", LEDGER_REF).splitlines()[-1] == (
        "ledger: lease T001, start T001"
    )
    clock.now += 61  # run-a is gone without a word: its attempt counts, interrupted
    assert attempts(settled(ledger.read(), clock.now)) == {"T001": 1}


def test_release_frees_the_task_at_once(ledger: Ledger, clock: Clock) -> None:
    ledger.acquire("T001", "run-a", "host-a", ttl_s=600)
    ledger.release("T001", "run-a")
    assert live_leases(ledger.read(), clock.now) == {}
    assert ledger.acquire("T001", "run-b", "host-b", ttl_s=600) is not None


def test_acquire_refuses_bad_input(ledger: Ledger) -> None:
    with pytest.raises(InvalidTaskIdError):
        ledger.acquire("../T001", "run-a", "h", ttl_s=60)
    with pytest.raises(UsageError, match="positive"):
        ledger.acquire("T001", "run-a", "h", ttl_s=0)
    with pytest.raises(InvalidTaskIdError):
        ledger.release("nope", "run-a")
    with pytest.raises(InvalidTaskIdError):
        ledger.record_attempt(attempt("nope", "run-a"))
    assert ledger.read() == []


def test_record_attempt_feeds_the_attempt_count(ledger: Ledger) -> None:
    ledger.record_attempt(attempt("T001", "run-a"))
    ledger.record_attempt(attempt("T001", "run-b", "success"))
    assert attempts(ledger.read()) == {"T001": 2}


# --------------------------------------------------------------------- lost races


def interleave(ledger: Ledger, before_first_cas: Callable[[], object]) -> list[int]:
    """Run `before_first_cas` between the ledger's first read and its first ref update,
    the way a concurrent writer would; return the number of CAS attempts made."""
    original = ledger.repo.update_ref
    calls: list[int] = []

    def update_ref(name: str, new: str, old: str | None, message: str) -> None:
        calls.append(1)
        if len(calls) == 1:
            before_first_cas()
        original(name, new, old, message)

    ledger.repo.update_ref = update_ref  # type: ignore[method-assign]
    return calls


def test_a_lost_race_re_appends_on_the_new_tip(root: Path, clock: Clock) -> None:
    ours = Ledger(Repo.open(root), clock=clock, sleep=lambda _s: None)
    theirs = Ledger(Repo.open(root), clock=clock)
    calls = interleave(ours, lambda: theirs.append(attempt("T002", "run-b")))
    ours.append(attempt("T001", "run-a"))
    assert len(calls) == 2
    assert ours.read() == [attempt("T002", "run-b"), attempt("T001", "run-a")]


def test_a_lost_race_for_a_lease_is_decided_again(root: Path, clock: Clock) -> None:
    ours = Ledger(Repo.open(root), clock=clock, sleep=lambda _s: None)
    theirs = Ledger(Repo.open(root), clock=clock)
    interleave(ours, lambda: theirs.acquire("T001", "run-b", "host-b", ttl_s=60))
    assert ours.acquire("T001", "run-a", "host-a", ttl_s=60) is None
    assert live_leases(ours.read(), clock.now)["T001"].run_id == "run-b"
    assert len([r for r in ours.read() if isinstance(r, Lease)]) == 1


def test_a_stale_lock_makes_writes_give_up_with_a_clear_error(ledger: Ledger, root: Path) -> None:
    ledger.append(attempt("T001", "run-a"))
    tip = git(root, "rev-parse", LEDGER_REF)
    (root / ".git" / "refs" / "macoder" / "ledger.lock").write_text("")
    ledger.max_tries = 3
    sleeps: list[float] = []
    ledger._sleep = sleeps.append

    with pytest.raises(LedgerBusyError, match="gave up after 3 tries") as caught:
        ledger.append(attempt("T002", "run-a"))

    assert "stale lock" in str(caught.value)
    assert len(sleeps) == 3
    assert git(root, "rev-parse", LEDGER_REF) == tip


# --------------------------------------------------------------------- separate processes


@pytest.mark.slow
def test_twenty_concurrent_writer_processes_lose_no_record(root: Path, tmp_path: Path) -> None:
    script = CHILD_PRELUDE + (
        "writer = sys.argv[3]\n"
        "for i in range(10):\n"
        "    ledger.record_attempt(Attempt(f'T{int(writer):03d}', f'w{writer}-{i}', 'failed',"
        " '', 0.0, 0, None, None, None, None, time.time()))\n"
    )
    run_children(root, script, [[str(w)] for w in range(1, 21)], tmp_path / "go")

    ledger = Ledger(Repo.open(root))
    records = ledger.read()
    assert len(records) == 200
    assert {r.run_id for r in records} == {f"w{w}-{i}" for w in range(1, 21) for i in range(10)}
    assert attempts(records) == {f"T{w:03d}": 10 for w in range(1, 21)}
    for w in range(1, 21):  # each writer's own records stay in its order
        mine = [r.run_id for r in records if r.task == f"T{w:03d}"]
        assert mine == [f"w{w}-{i}" for i in range(10)]
    assert git(root, "rev-list", "--count", LEDGER_REF) == "200"  # one commit per append
    assert git(root, "rev-list", "--count", "--merges", LEDGER_REF) == "0"
    git(root, "fsck", "--no-dangling")


ACQUIRE_SCRIPT = CHILD_PRELUDE + (
    "lease = ledger.acquire(sys.argv[3], sys.argv[4], 'host', ttl_s=600)\n"
    "print('won' if lease is not None else 'lost')\n"
)


@pytest.mark.slow
@pytest.mark.parametrize(("race", "runs"), [(1, 2), (2, 2), (3, 2), (4, 8)])
def test_runs_racing_for_one_task_exactly_one_wins(
    root: Path, tmp_path: Path, race: int, runs: int
) -> None:
    args = [["T001", f"run-{n}"] for n in range(runs)]
    outcomes = run_children(root, ACQUIRE_SCRIPT, args, tmp_path / "go")

    assert sorted(outcomes) == ["lost"] * (runs - 1) + ["won"]
    winner = f"run-{outcomes.index('won')}"
    records = Ledger(Repo.open(root)).read()
    leases = [r for r in records if isinstance(r, Lease)]
    assert [lease.run_id for lease in leases] == [winner], f"race {race}"
    assert live_leases(records, now=leases[0].acquired_at + 1)["T001"].run_id == winner
