"""`OpenCodeAgent`: one task prompt → one OpenCode session → one `AgentResult`, never a leak.

The flow (DESIGN §5 steps 5–7, §6): subscribe to the directory's events, create the session
with `directory=<abs worktree>`, `prompt_async`, then wait for `session.idle` with a hard
timeout. Idle is not success: the messages decide (`info.error`, or no assistant output at all,
are errors OpenCode does not always announce). A permission or question request blocks a
headless session forever, so it is rejected and the session aborted (BLOCKED). On timeout the
session is aborted and given a few seconds to go idle; if it stays busy, `needs_kill` tells the
owner of the server to kill it (abort does not always stop a session: #16721, #14769).

Whatever happens, including exceptions and KeyboardInterrupt, the session is aborted if it may
still be running (deleting a busy session leaves its loop running: measured) and then deleted,
and the deletion is verified (GET → 404), the way the seed plan's `verifyDeleted` does.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, Protocol

from multi_agent_coder.agents.base import AgentOutcome, AgentResult
from multi_agent_coder.agents.opencode import sansio
from multi_agent_coder.agents.opencode.client import (
    EventSubscription,
    OpenCodeClient,
    OpenCodeError,
    StreamGap,
)
from multi_agent_coder.agents.opencode.sansio import Meaning, Signal, Transcript
from multi_agent_coder.agents.opencode.timeouts import stream_connect_timeout
from multi_agent_coder.gateway.sansio import Tally

ABORT_GRACE_S: Final = 5.0
DELETE_VERIFY_S: Final = 2.0
POLL_S: Final = 0.5


class Meter(Protocol):
    """What the agent reads from the run's gateway: the tokens of a session's directory."""

    def tally(self, directory: str | None) -> Tally: ...

    def cap_hit(self, directory: str | None) -> str | None: ...

    def fault(self, directory: str | None) -> str | None: ...


class ServerHandle(Protocol):
    """What the agent needs from the server it runs on (an `OpenCodeServer`)."""

    @property
    def alive(self) -> bool: ...

    def kill(self) -> None: ...


@dataclass
class _Run:
    """Mutable state of one run, read by the cleanup in `finally`."""

    directory: str
    session_id: str | None = None
    settled: bool = False  # known idle (or never started): safe to delete
    aborted: bool = False  # abort sent and waited for: do not wait twice
    outcome: AgentOutcome = AgentOutcome.ERROR
    reason: str = ""
    transcript: Transcript | None = None
    errors: list[str] = field(default_factory=list)
    retry: str = ""
    saw_busy: bool = False
    prompted: bool = False  # the prompt reached the session
    runtime_fault: bool = False  # the runtime failed before it did


@dataclass(frozen=True)
class _Wait:
    kind: Literal["idle", "timeout", "cancelled", "blocked", "died"]
    meaning: Meaning | None = None


class OpenCodeAgent:
    """Implements `agents.base.Agent` on an OpenCode server.

    Thread-safe: parallel `run` calls (one per worker thread) share the agent, its client and
    its server; each run keeps its state to itself. `needs_kill` is sticky: it becomes True once
    any run's session stayed busy after abort, and then the server must be killed before it is
    trusted again (with `kill_when_stuck=True` the agent does it at once; leave that False when
    other runs share the server, and let the server's owner kill it when the run ends).
    `cancel`, when set (run timeout, Ctrl-C in another thread), ends every wait early: the
    session is aborted and deleted and the run reports TIMEOUT with "cancelled".
    """

    def __init__(
        self,
        server: ServerHandle | None,
        client: OpenCodeClient,
        *,
        abort_grace_s: float = ABORT_GRACE_S,
        delete_verify_s: float = DELETE_VERIFY_S,
        kill_when_stuck: bool = False,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        meter: Meter | None = None,
        agent: str = "build",
    ) -> None:
        self._meter = meter
        self._agent = agent
        self._server = server
        self._client = client
        self._abort_grace_s = abort_grace_s
        self._delete_verify_s = delete_verify_s
        self._kill_when_stuck = kill_when_stuck
        self._cancel = cancel
        self._clock = clock
        self._sleep = sleep
        self.needs_kill = False

    @property
    def base_url(self) -> str:
        """Where the agent's OpenCode server listens (it answers only with the run's password)."""
        return self._client.base_url

    @property
    def socket(self) -> str | None:
        """The Unix socket a sandboxed server is reached through (None: a TCP port)."""
        return self._client.uds

    def run(
        self, *, prompt: str, worktree: Path, model: str, timeout_s: float, title: str
    ) -> AgentResult:
        started = self._clock()
        state = _Run(directory=str(Path(worktree).resolve()))
        deleted = True
        try:
            sansio.split_model(model)
        except ValueError as exc:
            state.reason = str(exc)
            return self._result(state, model, started, deleted=True)
        try:
            connect_s = stream_connect_timeout(timeout_s)
            with self._client.subscribe(state.directory, timeout_s=connect_s) as events:
                self._drive(
                    state,
                    events,
                    prompt=prompt,
                    model=model,
                    title=title,
                    deadline=started + timeout_s,
                    timeout_s=timeout_s,
                )
        except OpenCodeError as exc:
            state.outcome, state.reason = AgentOutcome.ERROR, str(exc)
            state.runtime_fault = not state.prompted
        finally:
            if state.session_id is not None:
                if not state.settled and not state.aborted:
                    self._abort_and_settle(state, state.session_id, None)
                deleted = self._delete_verified(state.session_id, state.directory)
        return self._result(state, model, started, deleted=deleted)

    def _result(self, state: _Run, model: str, started: float, *, deleted: bool) -> AgentResult:
        transcript = state.transcript
        tokens_in = transcript.tokens_in if transcript else None
        tokens_out = transcript.tokens_out if transcript else None
        cost = transcript.cost if transcript else None
        cached = reasoning = requests = None
        cap = fault = None
        if self._meter is not None:
            # The gateway's count is the provider's own, every request included: it wins.
            tally = self._meter.tally(state.directory)
            tokens_in, tokens_out = tally.usage.input, tally.usage.output
            cached, reasoning = tally.usage.cached, tally.usage.reasoning
            requests = tally.usage.requests
            cost = tally.cost if tally.cost else cost
            cap = self._meter.cap_hit(state.directory)
            fault = self._meter.fault(state.directory)
        provider_fault = fault is not None and state.outcome is AgentOutcome.ERROR
        if provider_fault:
            state.reason = f"model provider: {fault}"
        if cap is not None:
            state.outcome = AgentOutcome.ERROR
            state.reason = f"cap:{cap} reached (the gateway refused the next model request)"
        return AgentResult(
            outcome=state.outcome,
            reason=state.reason,
            session_id=state.session_id,
            duration_s=round(self._clock() - started, 3),
            session_deleted=deleted,
            output_text=transcript.text if transcript else "",
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost,
            model=model,
            received=transcript.received if transcript else (),
            tokens_cached=cached,
            tokens_reasoning=reasoning,
            requests=requests,
            cap=cap,
            provider_fault=provider_fault and cap is None,
            runtime_fault=state.runtime_fault and not provider_fault and cap is None,
        )

    # the happy path and its branches

    def _drive(
        self,
        state: _Run,
        events: EventSubscription,
        *,
        prompt: str,
        model: str,
        title: str,
        deadline: float,
        timeout_s: float,
    ) -> None:
        client, directory = self._client, state.directory
        session_id = client.create_session(directory, title_or_default(prompt, title))
        state.session_id = session_id
        client.prompt_async(session_id, directory, prompt, model, self._agent)
        state.prompted = True
        wait = self._wait(state, session_id, events, deadline)
        if wait.kind == "idle":
            state.settled = True
            state.transcript = client.transcript(session_id, directory)
            self._judge_idle(state, state.transcript)
            return
        if wait.kind == "died":
            state.settled = True  # nothing left to abort; delete will fail and say so
            state.outcome, state.reason = AgentOutcome.ERROR, "the OpenCode server exited"
            return
        if wait.kind == "blocked" and wait.meaning is not None:
            self._reject(wait.meaning, directory)
            what = "permission" if wait.meaning.signal is Signal.PERMISSION else "answer"
            state.outcome = AgentOutcome.BLOCKED
            state.reason = (
                f"the agent asked for {what}: {wait.meaning.detail or 'no details'}; "
                "nobody can answer in a headless run, so the session was aborted"
            )
        else:
            state.outcome = AgentOutcome.TIMEOUT
            state.reason = (
                "cancelled before session.idle (run timeout or interrupt)"
                if wait.kind == "cancelled"
                else f"no session.idle within {timeout_s:g} s"
            )
            if state.retry:
                state.reason += f"; the provider kept failing: {state.retry}"
        self._abort_and_settle(state, session_id, events)
        if self.needs_kill:
            done = (
                "so the OpenCode server was killed"
                if state.settled
                else "the OpenCode server must be killed"
            )
            state.reason += f"; still busy {self._abort_grace_s:g} s after abort: {done}"
        with contextlib.suppress(OpenCodeError):
            state.transcript = client.transcript(session_id, directory)

    @staticmethod
    def _judge_idle(state: _Run, transcript: Transcript) -> None:
        if transcript.ok:
            state.outcome = AgentOutcome.SUCCESS
            state.reason = (
                f"idle after {transcript.assistant_messages} assistant message(s), "
                f"{transcript.tool_calls} tool call(s)"
            )
            return
        state.outcome = AgentOutcome.ERROR
        if transcript.error_name or not state.errors:
            state.reason = transcript.reason
        else:
            state.reason = f"{state.errors[0]} ({transcript.reason})"

    def _wait(
        self, state: _Run, session_id: str, events: EventSubscription, deadline: float
    ) -> _Wait:
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return _Wait("timeout")
            if self._cancel is not None and self._cancel.is_set():
                return _Wait("cancelled")
            item = events.get(min(remaining, POLL_S))
            if item is None:
                if self._server is not None and not self._server.alive:
                    return _Wait("died")
                continue
            if isinstance(item, StreamGap):
                # Events are not replayed after a reconnect: ask for the state instead.
                meaning = self._client.status(session_id, state.directory)
                if meaning.signal is Signal.IDLE and self._idle_confirmed(state, session_id):
                    return _Wait("idle")
                if meaning.signal is Signal.RETRY:
                    state.retry = meaning.detail
                continue
            found = sansio.interpret(item, session_id)
            if found is None:
                continue
            if found.signal is Signal.IDLE:
                return _Wait("idle")
            if found.signal in (Signal.PERMISSION, Signal.QUESTION):
                return _Wait("blocked", found)
            if found.signal is Signal.ERROR:
                state.errors.append(found.detail)
            elif found.signal is Signal.RETRY:
                state.retry = found.detail
            elif found.signal is Signal.BUSY:
                state.saw_busy = True

    def _idle_confirmed(self, state: _Run, session_id: str) -> bool:
        """After a gap, "not listed" may also mean "not started yet": check it ran at all."""
        if state.saw_busy or state.errors:
            return True
        transcript = self._client.transcript(session_id, state.directory)
        return transcript.assistant_messages > 0

    # cleanup

    def _reject(self, meaning: Meaning, directory: str) -> None:
        """Answer the pending request; after an abort it would otherwise stay pending."""
        if meaning.request_id is None:
            return
        with contextlib.suppress(OpenCodeError):
            if meaning.signal is Signal.PERMISSION:
                self._client.reject_permission(meaning.request_id, directory)
            else:
                self._client.reject_question(meaning.request_id, directory)

    def _abort_and_settle(
        self, state: _Run, session_id: str, events: EventSubscription | None
    ) -> None:
        """Abort, then wait up to the grace period for idle (events if subscribed, else status)."""
        directory = state.directory
        state.aborted = True
        try:
            self._client.abort(session_id, directory)
        except OpenCodeError:
            if self._server is not None and not self._server.alive:
                state.settled = True
                return
        deadline = self._clock() + self._abort_grace_s
        while self._clock() < deadline:
            if events is not None:
                item = events.get(min(POLL_S, max(deadline - self._clock(), 0.0)))
                if isinstance(item, sansio.Event):
                    found = sansio.interpret(item, session_id)
                    if found is not None and found.signal is Signal.IDLE:
                        state.settled = True
                        return
                    continue
            else:
                self._sleep(0.1)
            with contextlib.suppress(OpenCodeError):
                if self._client.status(session_id, directory).signal is Signal.IDLE:
                    state.settled = True
                    return
        self.needs_kill = True
        if self._kill_when_stuck and self._server is not None:
            self._server.kill()
            state.settled = True

    def _delete_verified(self, session_id: str, directory: str) -> bool:
        """DELETE, then GET until 404 (retrying briefly); True only once it is verified gone."""
        deadline = self._clock() + self._delete_verify_s
        delay = 0.05
        while True:
            try:
                self._client.delete_session(session_id, directory)
                if not self._client.session_exists(session_id, directory):
                    return True
            except OpenCodeError:
                if self._server is not None and not self._server.alive:
                    return False
            if self._clock() >= deadline:
                return False
            self._sleep(delay)
            delay = min(delay * 2, 0.5)


def title_or_default(prompt: str, title: str | None) -> str:
    """The session title: the given one, else the prompt's first line (never empty)."""
    if title and title.strip():
        return title.strip()[:200]
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "")
    return first.lstrip("# ")[:200] or "macoder task"
