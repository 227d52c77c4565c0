"""The metrics report (`macoder report`): the seed's success metrics, measured on the ledger.

The seed set targets and never measured them (implementation-plan-v3, "Success Metrics"):
first-attempt success above 70 %, every agent session verified deleted, context small and
not drifting. The run ledger records every attempt, so each number here is counted from it —
nothing is sampled, estimated or kept anywhere else, and `macoder report --format json` can
be checked against `git show refs/macoder/ledger:ledger.jsonl` line by line.

What counts, and why:

- the ledger is read *settled* (`git/ledger.py`): an attempt whose run died before it said
  how it ended is an interrupted attempt, as it is for the attempt budget;
- **first-attempt success**: of the tasks whose first attempt lies in the window, those whose
  first attempt succeeded. An `infrastructure` attempt (the provider or macoder's machinery
  failed) cost the task nothing and is not its first attempt; a reset (a person asked again)
  does not make a later attempt the first one. `needs-review` is not a success: a person
  still has to look;
- **sessions**: of the attempts that created an agent session, those whose session was
  verified deleted (`GET` answered 404 after `DELETE`). An attempt that never reached the
  agent created none;
- **unknown is not zero**: a field a record does not carry (written before the field
  existed, or a run that was lost) is counted as unknown and shown as such. A context of 0
  bytes is a prompt that was never built, a duration of 0 s a run that never said — neither
  is averaged in;
- **tokens and cost** are summed over the attempts that reported them, with the number that
  did, so a partial sum is never taken for a whole one.

Pure: records, the time now and the filters in, a `Report` out (`run/metrics_render.py`
turns it into text, JSON or markdown).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeVar

from multi_agent_coder.git.ledger import INFRASTRUCTURE, INTERRUPTED, Attempt, Record, settled

#: The seed's target for first-attempt success: above 70 % ("tracked", not enforced).
FIRST_ATTEMPT_TARGET: Final = 0.70
#: The seed's target for session cleanup: every session verified deleted.
SESSION_CLEANUP_TARGET: Final = 1.0

SUCCESS: Final = "success"
#: The outcomes an attempt record names, in the order a report lists them (a ledger may hold
#: others, written by hand or by another version: they are counted under their own name).
OUTCOMES: Final = (SUCCESS, "failure", "needs-review", INTERRUPTED, INFRASTRUCTURE)

#: What the grouping by role shows for an attempt whose record predates the role field.
UNKNOWN_ROLE: Final = "unknown"

_N = TypeVar("_N", int, float)
#: Names the group an attempt belongs to (None: none).
_Key = Callable[[Attempt], str | None]


@dataclass(frozen=True, slots=True)
class Spread:
    """How some numbers spread: how many, their median and their largest (None: no number)."""

    count: int
    median: float | None
    max: float | None


def spread(values: Sequence[float]) -> Spread:
    if not values:
        return Spread(0, None, None)
    return Spread(len(values), statistics.median(values), max(values))


@dataclass(frozen=True, slots=True)
class FirstAttempt:
    """Tasks whose first attempt lies in the window, and how many of those succeeded."""

    tasks: int
    succeeded: int
    target: float = FIRST_ATTEMPT_TARGET

    @property
    def rate(self) -> float | None:
        return self.succeeded / self.tasks if self.tasks else None

    @property
    def met(self) -> bool | None:
        """Above the target (the seed's "> 70 %"); None with no task to judge."""
        rate = self.rate
        return None if rate is None else rate > self.target


@dataclass(frozen=True, slots=True)
class Sessions:
    """Agent sessions created and verified deleted; `unknown` counts the attempts whose
    record does not say whether they created one."""

    created: int
    deleted: int
    #: (task, run id) of each attempt whose session was not verified deleted: a leak.
    not_deleted: tuple[tuple[str, str], ...]
    unknown: int
    target: float = SESSION_CLEANUP_TARGET

    @property
    def rate(self) -> float | None:
        return self.deleted / self.created if self.created else None

    @property
    def met(self) -> bool | None:
        rate = self.rate
        return None if rate is None else rate >= self.target


@dataclass(frozen=True, slots=True)
class Drift:
    """Attempts refused for context drift, the tasks they were for, and the attempts whose
    record does not say."""

    alerts: int
    tasks: tuple[str, ...]
    unknown: int


@dataclass(frozen=True, slots=True)
class Durations:
    """Wall-clock seconds of the attempts that recorded one, and the agent's share."""

    attempts: int
    median: float | None
    max: float | None
    total: float | None
    #: Seconds the agent's sessions ran, summed over the attempts that say (None: none did).
    agent_total: float | None
    agent_unknown: int


@dataclass(frozen=True, slots=True)
class Usage:
    """What a group of attempts used. Tokens and cost are sums over the `reported` attempts
    that carry them (None: no attempt of the group did)."""

    attempts: int
    succeeded: int
    reported: int
    tokens_in: int | None
    tokens_out: int | None
    tokens_cached: int | None
    cost: float | None
    duration_s: float | None
    agent_s: float | None


@dataclass(frozen=True, slots=True)
class TaskLine:
    """One task's attempts in the window."""

    task: str
    #: Every attempt's outcome, oldest first.
    outcomes: tuple[str, ...]
    #: The outcome of the task's first attempt (infrastructure aside), when that lies in the
    #: window; None when it lies before or the task has only infrastructure attempts.
    first_attempt: str | None
    #: Bytes of the first prompt built in the window, and of the largest (None: none built).
    context_first: int | None
    context_max: int | None
    duration_s: float | None
    drift_alerts: int


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `macoder report` shows, counted from the ledger's attempts."""

    since: float | None
    only: tuple[str, ...]
    attempts: int
    outcomes: Mapping[str, int]
    first_attempt: FirstAttempt
    #: Over tasks: each task's first prompt, and each task's largest.
    context_first: Spread
    context_largest: Spread
    sessions: Sessions
    drift: Drift
    durations: Durations
    usage: Usage
    by_model: Mapping[str, Usage]
    by_role: Mapping[str, Usage]
    tasks: tuple[TaskLine, ...]
    #: Ledger lines that were not records (torn, hand-edited): not in any number here.
    skipped_lines: int = 0


def build_report(
    records: Sequence[Record],
    now: float,
    *,
    since: float | None = None,
    only: Collection[str] = (),
    skipped_lines: int = 0,
) -> Report:
    """The report of the attempts in `records` (a ledger, in order) at `now`: those at or
    after `since` (every one when None), of the tasks in `only` (every task when empty)."""
    everything = [r for r in settled(records, now) if isinstance(r, Attempt)]
    if only:
        everything = [a for a in everything if a.task in only]
    chosen = [a for a in everything if since is None or a.at >= since]
    by_task: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in chosen:
        by_task[attempt.task].append(attempt)
    firsts = _first_attempts(everything)
    in_window = {t: a for t, a in firsts.items() if since is None or a.at >= since}
    lines = tuple(_task_line(t, by_task[t], in_window.get(t)) for t in sorted(by_task))
    return Report(
        since=since,
        only=tuple(sorted(only)),
        attempts=len(chosen),
        outcomes=_outcomes(chosen),
        first_attempt=FirstAttempt(
            tasks=len(in_window),
            succeeded=sum(1 for a in in_window.values() if a.outcome == SUCCESS),
        ),
        context_first=spread([x.context_first for x in lines if x.context_first is not None]),
        context_largest=spread([x.context_max for x in lines if x.context_max is not None]),
        sessions=_sessions(chosen),
        drift=Drift(
            alerts=sum(1 for a in chosen if a.drift),
            tasks=tuple(sorted({a.task for a in chosen if a.drift})),
            unknown=sum(1 for a in chosen if a.drift is None),
        ),
        durations=_durations(chosen),
        usage=usage(chosen),
        by_model=_grouped(chosen, lambda a: a.model or None),
        by_role=_grouped(chosen, lambda a: (a.role or UNKNOWN_ROLE) if a.model else None),
        tasks=lines,
        skipped_lines=skipped_lines,
    )


def _first_attempts(attempts: Iterable[Attempt]) -> dict[str, Attempt]:
    """Each task's first attempt that counts (infrastructure aside), in ledger order."""
    first: dict[str, Attempt] = {}
    for attempt in attempts:
        if attempt.outcome != INFRASTRUCTURE:
            first.setdefault(attempt.task, attempt)
    return first


def _task_line(task: str, attempts: Sequence[Attempt], first: Attempt | None) -> TaskLine:
    built = [a.context_bytes for a in attempts if a.context_bytes > 0]
    return TaskLine(
        task=task,
        outcomes=tuple(a.outcome for a in attempts),
        first_attempt=first.outcome if first is not None else None,
        context_first=built[0] if built else None,
        context_max=max(built) if built else None,
        duration_s=_known_seconds(attempts),
        drift_alerts=sum(1 for a in attempts if a.drift),
    )


def _outcomes(attempts: Iterable[Attempt]) -> dict[str, int]:
    """Every known outcome (0 when none), then any other name a record used."""
    counted = Counter(a.outcome for a in attempts)
    return {name: counted.pop(name, 0) for name in OUTCOMES} | dict(sorted(counted.items()))


def _sessions(attempts: Sequence[Attempt]) -> Sessions:
    created = [a for a in attempts if a.session_created]
    return Sessions(
        created=len(created),
        deleted=sum(1 for a in created if a.session_deleted),
        not_deleted=tuple((a.task, a.run_id) for a in created if not a.session_deleted),
        unknown=sum(1 for a in attempts if a.session_created is None),
    )


def _durations(attempts: Sequence[Attempt]) -> Durations:
    known = [a.duration_s for a in attempts if a.duration_s > 0]
    found = spread(known)
    agent = [a.agent_s for a in attempts if a.agent_s is not None]
    return Durations(
        attempts=found.count,
        median=found.median,
        max=found.max,
        total=_known_seconds(attempts),
        agent_total=_seconds(sum(agent)) if agent else None,
        agent_unknown=len(attempts) - len(agent),
    )


def usage(attempts: Sequence[Attempt]) -> Usage:
    """What `attempts` used, unknowns kept apart (see `Usage`)."""
    agent = [a.agent_s for a in attempts if a.agent_s is not None]
    cost = _total([a.cost for a in attempts])
    return Usage(
        attempts=len(attempts),
        succeeded=sum(1 for a in attempts if a.outcome == SUCCESS),
        reported=sum(1 for a in attempts if a.tokens_in is not None or a.tokens_out is not None),
        tokens_in=_total([a.tokens_in for a in attempts]),
        tokens_out=_total([a.tokens_out for a in attempts]),
        tokens_cached=_total([a.tokens_cached for a in attempts]),
        cost=round(cost, 6) if cost is not None else None,
        duration_s=_known_seconds(attempts),
        agent_s=_seconds(sum(agent)) if agent else None,
    )


def _grouped(attempts: Sequence[Attempt], key: _Key) -> dict[str, Usage]:
    """`usage` per group (`key` None: the attempt is in no group — it chose no model)."""
    groups: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        name = key(attempt)
        if name is not None:
            groups[name].append(attempt)
    return {name: usage(groups[name]) for name in sorted(groups)}


def _total(values: Iterable[_N | None]) -> _N | None:
    """The sum of the values that are known; None when none is."""
    known = [v for v in values if v is not None]
    return sum(known[1:], known[0]) if known else None


def _known_seconds(attempts: Iterable[Attempt]) -> float | None:
    """The seconds of the attempts that recorded how long they took (0 s: one that never
    said), summed; None when none did."""
    known = [a.duration_s for a in attempts if a.duration_s > 0]
    return _seconds(sum(known)) if known else None


def _seconds(value: float) -> float:
    """Seconds as the ledger keeps them (milliseconds): sums of floats add no noise digits."""
    return round(value, 3)


# --------------------------------------------------------------------------- filters

_AGO: Final = re.compile(r"([0-9]{1,6})([mhdw])", re.ASCII)
_UNIT_S: Final = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_since(text: str, now: float) -> float:
    """`--since`: a duration back from `now` (`30m`, `12h`, `7d`, `2w`) or an ISO date or
    time (`2026-01-31`, `2026-01-31T12:00`, UTC unless it names its zone). ValueError with
    the forms it takes when `text` is neither."""
    ago = _AGO.fullmatch(text.strip())
    if ago is not None:
        return now - int(ago[1]) * _UNIT_S[ago[2]]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: not a date (2026-01-31, 2026-01-31T12:00) or a time back "
            "from now (30m, 12h, 7d, 2w)"
        ) from None
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()


def utc(timestamp: float) -> str:
    """`2026-01-31T12:00:00Z`: how the report names a moment."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
