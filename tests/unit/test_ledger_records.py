"""The pure half of the run ledger: records, parsing, and what the records mean."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from multi_agent_coder.git.ledger import (
    INFRASTRUCTURE,
    INTERRUPTED,
    Answer,
    Attempt,
    Lease,
    Record,
    Release,
    Reset,
    Skipped,
    Start,
    appended,
    attempts,
    backoff,
    dumps,
    live_leases,
    parse,
    settled,
)


def lease(task: str = "T001", run: str = "run-a", at: float = 100.0, ttl: float = 60.0) -> Lease:
    return Lease(task, run, f"host:{run}", at, at + ttl)


def attempt(task: str = "T001", outcome: str = "failed", at: float = 200.0) -> Attempt:
    return Attempt(task, "run-a", outcome, "tests failed", 12.5, 2400, "m", 10, 20, 0.01, at)


# --------------------------------------------------------------------- format


@pytest.mark.parametrize(
    "record",
    [
        lease(),
        attempt(),
        Attempt("AUTH-012", "r", "timeout", "", 0.0, 0, None, None, None, None, 1.0),
        Release("T001", "run-a", 300.0),
        Start("T001", "run-a", "host:run-a", 100.0),
        Answer("T001", "run-a", 7, "closed", "0123456789abcdef", 400.0),
    ],
)
def test_every_record_round_trips_through_one_json_line(record: Record) -> None:
    line = dumps(record)
    assert "\n" not in line
    assert json.loads(line)["type"] == record.kind
    assert parse(line) == [record]


def test_non_ascii_text_survives() -> None:
    record = Attempt("T001", "r", "failed", "café ✓ 測試", 1.0, 1, None, None, None, None, 1.0)
    assert parse(dumps(record) + "\n") == [record]


#: An attempt line exactly as macoder wrote it before the optional fields existed.
OLD_ATTEMPT_LINE = (
    '{"type": "attempt", "task": "T001", "run_id": "r", "outcome": "success", "reason": "PR #1 '
    'created", "duration_s": 3.5, "context_bytes": 812, "model": "m/x", "tokens_in": 10, '
    '"tokens_out": 2, "cost": null, "at": 5.0}'
)


def test_an_attempt_written_before_the_optional_fields_parses_with_them_unknown() -> None:
    [record] = parse(OLD_ATTEMPT_LINE)
    assert isinstance(record, Attempt)
    assert (record.outcome, record.context_bytes, record.tokens_in) == ("success", 812, 10)
    unknown = (record.base_sha, record.role, record.session_created, record.session_deleted)
    assert unknown == (None, None, None, None)
    assert (record.drift, record.agent_s, record.tokens_cached) == (None, None, None)


def test_the_optional_fields_are_written_when_known_and_left_out_when_not() -> None:
    known = replace(
        attempt(),
        base_sha="a" * 40,
        role="implementation",
        session_created=True,
        session_deleted=False,
        drift=False,
        agent_s=9.25,
    )
    data = json.loads(dumps(known))
    assert {k: data[k] for k in ("base_sha", "role", "session_created", "drift", "agent_s")} == {
        "base_sha": "a" * 40,
        "role": "implementation",
        "session_created": True,
        "drift": False,  # False is known: it is written, not left out
        "agent_s": 9.25,
    }
    assert data["session_deleted"] is False
    assert parse(dumps(known)) == [known]
    bare = json.loads(dumps(attempt()))
    left_out = ("base_sha", "role", "session_created", "session_deleted", "drift", "agent_s")
    assert [k for k in left_out if k in bare] == []
    assert bare["cost"] == 0.01
    assert "tokens_cached" not in bare
    assert "model" in json.loads(dumps(replace(attempt(), model=None)))  # a field of old: kept


def test_records_are_frozen() -> None:
    record = lease()
    with pytest.raises(AttributeError):
        record.task = "T002"  # type: ignore[misc]


# --------------------------------------------------------------------- tolerant parsing


def test_a_torn_last_line_is_skipped_and_reported() -> None:
    good = dumps(lease())
    skipped: list[Skipped] = []
    assert parse(f"{good}\n{good[:25]}", skipped) == [lease()]
    assert [(s.line, s.text) for s in skipped] == [(2, good[:25])]
    assert skipped[0].reason.startswith("not JSON")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"type": "vote", "task": "T001"}', "unknown record type 'vote'"),
        ('{"task": "T001"}', "unknown record type None"),
        ("[1, 2]", "not a JSON object"),
        ('{"type": "release", "task": "T001", "at": 1}', "release: run_id: Field required"),
        (
            '{"type": "release", "task": "T001", "run_id": "r", "at": "soon"}',
            "release: at: Input should be a valid number",
        ),
        (
            '{"type": "release", "task": "t1", "run_id": "r", "at": 1}',
            "release: task: invalid task id 't1'",
        ),
        ("[" * 100_000, "not JSON"),
        ('{"type": "release", "task": "T001", "at": ' + "9" * 5000 + "}", "not JSON"),
    ],
)
def test_bad_lines_are_skipped_with_a_reason(line: str, reason: str) -> None:
    skipped: list[Skipped] = []
    good = dumps(Release("T002", "r", 5.0))
    assert parse(f"{good}\n{line}\n{good}\n", skipped) == [Release("T002", "r", 5.0)] * 2
    assert len(skipped) == 1
    assert skipped[0].line == 2
    assert skipped[0].reason.startswith(reason)


def test_blank_lines_and_unknown_fields_are_fine() -> None:
    data = json.loads(dumps(lease()))
    data["added_by_a_newer_version"] = {"x": 1}
    skipped: list[Skipped] = []
    assert parse(f"\n  \n{json.dumps(data)}\r\n\n", skipped) == [lease()]
    assert skipped == []


def test_parse_without_a_report_list_just_skips() -> None:
    assert parse("garbage\n" + dumps(lease())) == [lease()]


def test_appended_starts_a_new_line_after_a_torn_one() -> None:
    assert appended("", [lease()]) == dumps(lease()) + "\n"
    assert appended("{torn", [lease()]) == "{torn\n" + dumps(lease()) + "\n"
    text = appended(appended("", [lease()]), [Release("T001", "run-a", 1.0)])
    assert parse(text) == [lease(), Release("T001", "run-a", 1.0)]


# --------------------------------------------------------------------- leases


def test_a_lease_is_live_until_it_expires() -> None:
    records = [lease(at=100, ttl=60)]
    assert live_leases(records, now=159.9) == {"T001": lease(at=100, ttl=60)}
    assert live_leases(records, now=160.0) == {}


def test_a_release_by_the_holder_frees_the_task() -> None:
    assert live_leases([lease(), Release("T001", "run-a", 120.0)], now=130) == {}


def test_a_release_by_another_run_is_ignored() -> None:
    records: list[Record] = [lease(run="run-b"), Release("T001", "run-a", 120.0)]
    assert set(live_leases(records, now=130)) == {"T001"}


def test_a_late_release_by_a_run_that_lost_its_lease_does_not_free_the_new_holder() -> None:
    records: list[Record] = [
        lease(run="run-a", at=100, ttl=10),
        lease(run="run-b", at=200, ttl=60),  # run-a's lease had expired: run-b takes the task
        Release("T001", "run-a", 210.0),
    ]
    assert live_leases(records, now=220)["T001"].run_id == "run-b"


def test_a_lease_over_a_live_lease_of_another_run_does_not_take_the_task() -> None:
    records = [lease(run="run-a", at=100, ttl=60), lease(run="run-b", at=110, ttl=60)]
    assert live_leases(records, now=120)["T001"].run_id == "run-a"
    assert live_leases(records, now=165) == {}  # run-b's never counted, run-a's expired


def test_the_holder_renewing_extends_its_lease() -> None:
    records = [lease(at=100, ttl=60), Lease("T001", "run-a", "host:run-a", 100, 300)]
    assert live_leases(records, now=250)["T001"].expires_at == 300


def test_leases_of_different_tasks_are_independent() -> None:
    records: list[Record] = [
        lease("T001"),
        lease("T002", run="run-b"),
        Release("T001", "run-a", 120.0),
    ]
    assert set(live_leases(records, now=130)) == {"T002"}


# --------------------------------------------------------------------- attempts


def test_attempts_are_counted_per_task() -> None:
    records: list[Record] = [attempt(), lease(), attempt(), attempt("T002")]
    assert attempts(records) == {"T001": 2, "T002": 1}
    assert attempts([]) == {}


def test_an_attempt_that_failed_for_infrastructure_is_kept_but_not_counted() -> None:
    outage = replace(attempt(), outcome=INFRASTRUCTURE, reason="model provider: HTTP 503")
    assert attempts([attempt(), outage, outage]) == {"T001": 1}
    assert attempts([outage]) == {}


def test_a_ledger_written_before_starts_existed_counts_as_it_did() -> None:
    """The previous version's ledger: leases, attempts, releases, resets and no start."""
    old = "\n".join(
        [
            '{"type": "lease", "task": "T001", "run_id": "r1", "holder": "h:1", '
            '"acquired_at": 1.0, "expires_at": 2.0}',
            '{"type": "attempt", "task": "T001", "run_id": "r1", "outcome": "failure", '
            '"reason": "x", "duration_s": 1.0, "context_bytes": 9, "model": "m", '
            '"tokens_in": null, "tokens_out": null, "cost": null, "at": 1.5}',
            '{"type": "release", "task": "T001", "run_id": "r1", "at": 1.6}',
            '{"type": "lease", "task": "T002", "run_id": "r1", "holder": "h:1", '
            '"acquired_at": 1.0, "expires_at": 2.0}',
        ]
    )
    records = parse(old)
    assert len(records) == 4
    assert settled(records, now=10.0) == records  # an expired lease with no start: no attempt
    assert attempts(settled(records, now=10.0)) == {"T001": 1}


# --------------------------------------------------------------------- unfinished attempts


def started(task: str = "T001", run: str = "run-a", at: float = 100.0) -> list[Record]:
    """What taking a lease for an attempt writes: the lease and the attempt's start."""
    return [lease(task, run, at), Start(task, run, f"host:{run}", at)]


def test_a_start_whose_lease_ran_out_with_no_result_is_an_interrupted_attempt() -> None:
    [_, ended] = settled(started(at=100.0), now=161.0)  # lease(ttl=60) ran out at 160
    assert isinstance(ended, Attempt)
    assert (ended.task, ended.run_id, ended.outcome, ended.at) == (
        "T001",
        "run-a",
        INTERRUPTED,
        160.0,
    )
    assert ended.reason.startswith("interrupted: the lease of run run-a (host:run-a) ran out at")
    assert attempts(settled(started(), now=161.0)) == {"T001": 1}


@pytest.mark.parametrize(
    ("after", "now", "counted"),
    [
        ([], 130.0, 0),  # the lease is live: the attempt is under way
        ([attempt(at=150.0)], 200.0, 1),  # it finished: the recorded attempt, once
        ([Release("T001", "run-a", 150.0)], 200.0, 0),  # let go before it began: no attempt
        ([attempt(at=150.0), Release("T001", "run-a", 151.0)], 200.0, 1),
        ([Reset("T001", "someone", 120.0)], 200.0, 1),  # asked again while it ran: counts
        ([Reset("T001", "someone", 170.0)], 200.0, 0),  # asked again after it ran out
        ([], 200.0, 1),
    ],
    ids=[
        "running",
        "finished",
        "let-go",
        "finished-released",
        "reset-while-running",
        "reset-after",
        "ran-out",
    ],
)
def test_every_attempt_that_began_counts_once(
    after: list[Record], now: float, counted: int
) -> None:
    assert attempts(settled([*started(), *after], now)).get("T001", 0) == counted


def test_a_late_result_replaces_the_interrupted_attempt() -> None:
    records = started(at=100.0)
    assert [r.kind for r in settled(records, now=500.0)] == ["lease", "attempt"]
    late = replace(attempt(at=600.0), outcome="success")
    assert settled([*records, late], now=700.0) == [*records, late]


def test_starts_of_other_runs_and_tasks_settle_on_their_own() -> None:
    records = [
        *started("T001", "run-a", at=100.0),
        *started("T002", "run-b", at=100.0),
        replace(attempt("T002", at=150.0), run_id="run-b"),
        *started("T001", "run-c", at=300.0),  # a later run, still holding its lease
    ]
    shown = settled(records, now=320.0)
    assert [(r.kind, r.task, r.run_id) for r in shown if not isinstance(r, Lease)] == [
        ("start", "T002", "run-b"),
        ("attempt", "T002", "run-b"),
        ("attempt", "T001", "run-a"),  # interrupted when its lease ran out, at 160
        ("start", "T001", "run-c"),
    ]


# --------------------------------------------------------------------- backoff


def test_backoff_grows_is_capped_and_is_jittered() -> None:
    assert backoff(0, lambda: 1.0) == pytest.approx(0.005)
    assert backoff(3, lambda: 1.0) == pytest.approx(0.04)
    assert backoff(50, lambda: 1.0) == pytest.approx(0.25)
    assert backoff(5, lambda: 0.0) == 0.0
