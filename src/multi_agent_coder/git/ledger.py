"""The run ledger (DESIGN §4): runtime state as append-only JSON lines on a git ref.

`refs/macoder/ledger` points at a commit whose tree holds one file, `ledger.jsonl`; every
write is a new commit on top of the previous one (its own history, never checked out). A
write is a compare-and-swap of the ref: build the new commit on the tip we read, then
`git update-ref REF NEW OLD`. Losing the race means someone else appended first: re-read,
re-decide (a lease may now be taken), re-append on the new tip, back off with jitter, retry —
bounded. So parallel runs never lose a record and never both hold one task.

The first half of this module is pure (records, parsing, and what they mean: live leases,
attempt counts); the `Ledger` class at the end is the only part that does I/O.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Final

import pygit2
from pydantic import TypeAdapter, ValidationError
from pygit2.enums import FileMode

from multi_agent_coder.errors import LedgerBusyError, RefMovedError, UsageError
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.ids import is_task_id, validate_task_id

LEDGER_REF: Final = "refs/macoder/ledger"
LEDGER_FILE: Final = "ledger.jsonl"

#: Ledger commits are macoder's bookkeeping, not the user's work: never the user's identity.
LEDGER_IDENTITY: Final = ("macoder", "macoder@localhost")

log = logging.getLogger(__name__)

# ===================================================================== pure: records


@dataclass(frozen=True, slots=True)
class Lease:
    """`run_id` (on `holder`, e.g. host:pid or a CI job) works on `task` until `expires_at`."""

    kind: ClassVar[str] = "lease"
    task: str
    run_id: str
    holder: str
    acquired_at: float
    expires_at: float

    def live(self, now: float) -> bool:
        """True until the expiry: a crashed run's lease frees its task by itself."""
        return now < self.expires_at


@dataclass(frozen=True, slots=True)
class Attempt:
    """One finished try at a task; tokens and cost are None when the provider did not say.

    The fields with a default came later: a ledger written before them parses, and each such
    field is None when the record does not say (unknown — never read as 0 or False). `dumps`
    leaves them out when None, so the JSON line stays short.
    """

    kind: ClassVar[str] = "attempt"
    task: str
    run_id: str
    outcome: str
    reason: str
    duration_s: float
    context_bytes: int
    model: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    at: float
    #: Counted by the gateway (absent in records written before it, or with it off).
    tokens_cached: int | None = None
    tokens_reasoning: int | None = None
    requests: int | None = None
    #: The default branch's commit the attempt ran against. `BACKLOG.yaml` and `specs/` are
    #: versioned in that repository, so this one commit names the task's entry and its spec as
    #: the agent was given them.
    base_sha: str | None = None
    #: The model role the router chose the model for (`ModelSettings`: `implementation`,
    #: `documentation`); None when no model was chosen (the attempt ended before its agent).
    role: str | None = None
    #: An agent session was created for the attempt (False: it never reached the agent), and,
    #: when one was, whether it was verified deleted (the seed's "session cleanup: 100 %").
    session_created: bool | None = None
    session_deleted: bool | None = None
    #: The attempt was refused for context drift (`run/drift.py`: the prompt grew past its
    #: limit, or the session received another task's ids or planning debris).
    drift: bool | None = None
    #: Seconds the agent's session ran (0 when the attempt never reached it).
    agent_s: float | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """`run_id` is done with `task` (only frees the task if that run still holds its lease)."""

    kind: ClassVar[str] = "release"
    task: str
    run_id: str
    at: float


@dataclass(frozen=True, slots=True)
class Reset:
    """A person asked for `task` again (`--retry`): its attempts start counting from zero."""

    kind: ClassVar[str] = "reset"
    task: str
    run_id: str
    at: float


@dataclass(frozen=True, slots=True)
class Start:
    """`run_id` (on `holder`) began an attempt at `task`: written when its lease is taken for
    the work, so an attempt whose run dies before it records how it ended (a cancelled job, a
    lost runner, a killed process) still counts — see `settled`."""

    kind: ClassVar[str] = "start"
    task: str
    run_id: str
    holder: str
    at: float


#: How a person answered a task's pull request without the task becoming completed.
CLOSED: Final = "closed"
MERGED: Final = "merged"


@dataclass(frozen=True, slots=True)
class Answer:
    """A person answered `task`'s pull request `pr`: closed it unmerged (`closed`), or merged
    it while the default branch's backlog does not say the task is completed (`merged`).
    `entry` is the hash of the task's backlog entry when macoder first saw the answer: the
    answer holds the task until the entry changes or a reset (a person asking again) follows.
    """

    kind: ClassVar[str] = "answer"
    task: str
    run_id: str
    pr: int
    answer: str
    entry: str
    at: float


@dataclass(frozen=True, slots=True)
class Comment:
    """`comment` is the id of the progress comment macoder keeps on `task`'s pull request
    `pr`. Kept here, not found by a marker in the PR's comments: anyone can write a marker,
    and macoder must never edit a person's comment."""

    kind: ClassVar[str] = "comment"
    task: str
    run_id: str
    pr: int
    comment: int
    at: float


@dataclass(frozen=True, slots=True)
class Rewrite:
    """`macoder rebase` asked the rebase model to rewrite `task`'s entry (the one whose hash
    is `entry`): `proposed` in pull request `pr`, or not (`failed`: the session ended without
    an answer; `invalid`: no answer passed the checks), with why. A rewrite tried for an entry
    is not tried again automatically until the entry changes: a model that cannot rewrite it
    would otherwise be paid again by every run."""

    kind: ClassVar[str] = "rewrite"
    task: str
    run_id: str
    outcome: str
    reason: str
    entry: str
    pr: int | None
    model: str
    at: float


Record = Lease | Attempt | Release | Reset | Start | Answer | Comment | Rewrite

_TYPES: Final[dict[str, type[Record]]] = {
    cls.kind: cls for cls in (Lease, Attempt, Release, Reset, Start, Answer, Comment, Rewrite)
}
_ADAPTERS: Final[dict[str, TypeAdapter[Any]]] = {
    kind: TypeAdapter(cls) for kind, cls in _TYPES.items()
}


@dataclass(frozen=True, slots=True)
class Skipped:
    """A ledger line that was not understood (torn write, hand edit, newer macoder)."""

    line: int
    reason: str
    text: str


def dumps(record: Record) -> str:
    """One JSON line (without newline): `{"type": "lease", "task": ..., ...}`. A field that
    defaults to None is left out while it is None (absent means unknown, as in a record
    written before the field existed): the ledger grows by one such line per attempt."""
    data = asdict(record)
    for item in fields(record):
        if item.default is None and data[item.name] is None:
            del data[item.name]
    return json.dumps({"type": record.kind, **data}, ensure_ascii=False)


def parse(text: str, skipped: list[Skipped] | None = None) -> list[Record]:
    """The records in `text`, in order. Lines that are not a valid record are left out and,
    when `skipped` is given, reported there: one bad line must not hide every other record.
    Unknown extra fields are ignored so an older macoder can read a newer ledger.
    """
    records: list[Record] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record, reason = _parse_line(line)
        if record is not None:
            records.append(record)
        elif skipped is not None:
            skipped.append(Skipped(number, reason, line))
    return records


def _parse_line(line: str) -> tuple[Record | None, str]:
    """A record, or None and the reason it is not one."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} (column {exc.colno})"
    except RecursionError:
        return None, "not JSON: nested too deeply"
    except ValueError:  # past Python's 4,300-digit limit for int(): no record has such a number
        return None, "not JSON macoder writes: a number too long to read"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    kind = data.get("type")
    adapter = _ADAPTERS.get(kind) if isinstance(kind, str) else None
    if adapter is None:
        return None, f"unknown record type {kind!r}"
    try:
        record: Record = adapter.validate_json(line, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return None, f"{kind}: {where}: {first['msg']}"
    if not is_task_id(record.task):
        return None, f"{kind}: task: invalid task id {record.task!r}"
    return record, ""


# ===================================================================== pure: meaning


def live_leases(records: Iterable[Record], now: float) -> dict[str, Lease]:
    """The lease that holds each task at `now`.

    Replayed in ledger order: a lease takes a task that is free, already its run's (renewal)
    or held by a lease that had expired when it was taken; a release frees a task only when it
    comes from the run that holds it (a late release by a run that lost its lease is ignored).
    """
    held: dict[str, Lease] = {}
    for record in records:
        current = held.get(record.task)
        if isinstance(record, Lease) and _may_take(current, record):
            held[record.task] = record
        elif isinstance(record, Release) and current and current.run_id == record.run_id:
            del held[record.task]
    return {task: lease for task, lease in held.items() if lease.live(now)}


def _may_take(current: Lease | None, lease: Lease) -> bool:
    """A lease replaces none, its own run's, or one that had expired when it was taken."""
    return current is None or current.run_id == lease.run_id or not current.live(lease.acquired_at)


#: The outcome of an attempt that failed for a reason outside the task (its model provider
#: unreachable or failing): kept in the history with its reason, never counted.
INFRASTRUCTURE: Final = "infrastructure"


def attempts(records: Iterable[Record]) -> dict[str, int]:
    """How many attempts each task has used since its last reset: every recorded attempt but
    those that failed for infrastructure (a provider outage must not use up a task's attempts)."""
    used: Counter[str] = Counter()
    for record in records:
        if isinstance(record, Reset):
            used.pop(record.task, None)
        elif isinstance(record, Attempt) and record.outcome != INFRASTRUCTURE:
            used[record.task] += 1
    return dict(used)


#: The outcome of an attempt that began and never said how it ended (counted).
INTERRUPTED: Final = "interrupted"


def settled(records: Sequence[Record], now: float) -> list[Record]:
    """`records` with every attempt that began and never finished settled: a `Start` with no
    attempt and no release from its run afterwards, whose run no longer holds the task's lease
    at `now` (it ran out: the job was cancelled, timed out or lost its runner), becomes an
    interrupted `Attempt` in the start's place — so it counts against the task's attempts and
    its reason is shown. A start whose run still holds its lease is left as it is (the attempt
    is under way). Derived, never stored: a late record of the real outcome replaces it.
    A release without an attempt is a run that let the task go before it began (it found the
    task done meanwhile): not an attempt.
    """
    expiry = {(r.task, r.run_id): r.expires_at for r in records if isinstance(r, Lease)}
    live = live_leases(records, now)
    ended = {
        position: _interrupted(start, expiry.get(key))
        for key, (position, start) in unfinished(records).items()
        if not (key[0] in live and live[key[0]].run_id == key[1])
    }
    # Each interrupted attempt goes where its lease ran out, among the records by time: a
    # reset written after that clears it, one written while it ran does not.
    out: list[Record] = []
    waiting: list[Attempt] = []
    for position, record in enumerate(records):
        out += [a for a in waiting if a.at <= record_time(record)]
        waiting = [a for a in waiting if a.at > record_time(record)]
        if position in ended:
            waiting.append(ended[position])
        else:
            out.append(record)
    return out + waiting


def record_time(record: Record) -> float:
    """When `record` was written (a lease: when it was taken)."""
    return record.acquired_at if isinstance(record, Lease) else record.at


def unfinished(records: Sequence[Record]) -> dict[tuple[str, str], tuple[int, Start]]:
    """(task, run id) -> the position and the `Start` of each attempt that began and has no
    attempt record and no release of its run after it (yet)."""
    begun: dict[tuple[str, str], tuple[int, Start]] = {}
    for position, record in enumerate(records):
        key = (record.task, record.run_id)
        if isinstance(record, Start):
            begun[key] = (position, record)
        elif isinstance(record, Attempt | Release):
            begun.pop(key, None)
    return begun


def _interrupted(start: Start, until: float | None) -> Attempt:
    """The interrupted attempt a start that never finished stands for."""
    when = f" at {_utc(until)}" if until is not None else ""
    reason = (
        f"interrupted: the lease of run {start.run_id} ({start.holder}) ran out{when} "
        "with no result (cancelled, timed out, or its runner or process lost)"
    )
    return interrupted_attempt(
        start.task, start.run_id, reason, until if until is not None else start.at
    )


def interrupted_attempt(task: str, run_id: str, reason: str, at: float) -> Attempt:
    """An attempt that began and never said how it ended: it counts, with `reason`, and
    nothing else is known of it (no time, tokens or cost)."""
    return attempt_without_facts(task, run_id, INTERRUPTED, reason, at)


def attempt_without_facts(
    task: str, run_id: str, outcome: str, reason: str, at: float, *, base_sha: str | None = None
) -> Attempt:
    """An attempt recorded by someone other than the run that made it (a later run, the
    publish job): its outcome and reason, and the base it ran against when that is known;
    nothing else of it is (no time, context, tokens or cost)."""
    return Attempt(
        task=task,
        run_id=run_id,
        outcome=outcome,
        reason=reason,
        duration_s=0.0,
        context_bytes=0,
        model=None,
        tokens_in=None,
        tokens_out=None,
        cost=None,
        at=at,
        base_sha=base_sha,
    )


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def appended(text: str, records: Sequence[Record]) -> str:
    """`text` with `records` added as new lines; a torn last line is closed first."""
    lines = "".join(dumps(record) + "\n" for record in records)
    separator = "\n" if text and not text.endswith("\n") else ""
    return text + separator + lines


def backoff(
    attempt: int, rng: Callable[[], float], base: float = 0.005, cap: float = 0.25
) -> float:
    """Full-jitter exponential backoff: contending writers spread out instead of colliding."""
    return min(cap, base * 2.0**attempt) * rng()


# ===================================================================== I/O

#: Decides, from the records at the current tip, what to append (None: append nothing).
Plan = Callable[[list[Record]], Sequence[Record] | None]


class Ledger:
    """The run ledger of one repository, on `ref` (default `refs/macoder/ledger`)."""

    #: Bounds of the jittered pause after a lost compare-and-swap (see `backoff`).
    backoff_base: ClassVar[float] = 0.005
    backoff_cap: ClassVar[float] = 0.25

    def __init__(
        self,
        repo: Repo,
        ref: str = LEDGER_REF,
        clock: Callable[[], float] = time.time,
        *,
        max_tries: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.repo = repo
        self.ref = ref
        self.clock = clock
        self.max_tries = max_tries
        self._sleep = sleep
        self._rng = rng

    # ----------------------------------------------------------------- reading

    def read(self, skipped: list[Skipped] | None = None) -> list[Record]:
        """Every record on the ledger's tip (none when the ref does not exist yet).

        Lines that do not parse are skipped, logged, and appended to `skipped` if given.
        """
        self._refresh()
        bad: list[Skipped] = []
        records = parse(self._load()[1], bad)
        for item in bad:
            log.warning("%s:%s:%d: skipped: %s", self.ref, LEDGER_FILE, item.line, item.reason)
        if skipped is not None:
            skipped.extend(bad)
        return records

    def _load(self) -> tuple[str | None, str]:
        """The tip commit id (None when the ref is absent) and the text of the ledger file."""
        try:
            commit = self.repo.raw.lookup_reference(self.ref).peel(pygit2.Commit)
        except KeyError:
            return None, ""
        try:
            blob = self.repo.raw[commit.tree[LEDGER_FILE].id]
        except KeyError:
            return str(commit.id), ""
        data = blob.data if isinstance(blob, pygit2.Blob) else b""
        return str(commit.id), data.decode("utf-8", errors="replace")

    # ----------------------------------------------------------------- writing

    def append(self, *records: Record) -> None:
        """Append `records` in one commit, whatever else is appended concurrently."""
        if records:
            self._update(lambda _current: records)

    def acquire(
        self, task: str, run_id: str, holder: str, ttl_s: float, *, start: bool = False
    ) -> Lease | None:
        """Take (or, for the run that holds it, extend) the lease on `task` for `ttl_s` seconds.

        Returns the lease written, or None when another run holds a live lease. The check and
        the write happen on the same tip, so two racing runs cannot both win. With `start`, a
        lease newly taken is written with the `Start` of the attempt it is taken for (in the
        same commit: there is no moment when the lease is held and the attempt not begun).
        """
        validate_task_id(task)
        if ttl_s <= 0:
            raise UsageError(f"lease time-to-live must be positive, got {ttl_s!r}")

        def plan(current: list[Record]) -> list[Record] | None:
            now = self.clock()
            held = live_leases(current, now).get(task)
            if held is not None and held.run_id != run_id:
                return None
            since = held.acquired_at if held is not None else now
            taken = Lease(task, run_id, holder, since, now + ttl_s)
            return [taken, Start(task, run_id, holder, now)] if start and held is None else [taken]

        written = self._update(plan)
        return written[0] if written and isinstance(written[0], Lease) else None

    def release(self, task: str, run_id: str) -> None:
        """Give up `run_id`'s lease on `task` (harmless when it no longer holds it)."""
        self.append(Release(validate_task_id(task), run_id, self.clock()))

    def record_attempt(self, attempt: Attempt) -> None:
        """Add one attempt; attempt counts are derived from these records."""
        validate_task_id(attempt.task)
        self.append(attempt)

    def _update(self, plan: Plan) -> Sequence[Record] | None:
        """Compare-and-swap loop: read tip, decide, write on that tip, retry if it moved."""
        for attempt in range(self.max_tries):
            self._refresh()
            tip, text = self._load()
            records = plan(parse(text))
            if not records:
                return records
            new = self._commit(tip, appended(text, records), records)
            try:
                self._swap(new, tip, _summary(records))
            except RefMovedError:
                self._sleep(backoff(attempt, self._rng, self.backoff_base, self.backoff_cap))
                continue
            return records
        raise LedgerBusyError(
            f"{self.ref}: gave up after {self.max_tries} tries; the ledger kept changing "
            "(or a stale lock file is left in the repository's refs directory)"
        )

    # Hooks for a ledger kept elsewhere (`git/remote_ledger.py`): bring the ref up to date
    # before each read, and move it by compare-and-swap. Locally the ref is the truth.

    def _refresh(self) -> None:
        """Make the local ref current before it is read; a local ledger already is."""

    def _swap(self, new: str, old: str | None, message: str) -> None:
        """Move the ref from `old` to `new`, or raise `RefMovedError` if it moved meanwhile."""
        self.repo.update_ref(self.ref, new, old, message)

    def _commit(self, tip: str | None, text: str, records: Sequence[Record]) -> str:
        """A commit holding `text` as the ledger file, on top of `tip` (not yet on any ref)."""
        raw = self.repo.raw
        builder = raw.TreeBuilder()
        builder.insert(LEDGER_FILE, raw.create_blob(text.encode("utf-8")), FileMode.BLOB)
        name, email = LEDGER_IDENTITY
        sig = pygit2.Signature(name, email, int(self.clock()), 0)
        parents = [tip] if tip is not None else []
        return str(raw.create_commit(None, sig, sig, _summary(records), builder.write(), parents))


def _summary(records: Sequence[Record]) -> str:
    """A commit / reflog message naming what was appended, e.g. `ledger: lease T001`."""
    return "ledger: " + ", ".join(f"{r.kind} {r.task}" for r in records)
