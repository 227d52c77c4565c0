"""What the orchestrator needs from an agent runtime, and nothing more.

One call runs one task prompt in one worktree and returns a result that says how it ended. The
runtime (OpenCode today) stays behind this protocol so the orchestrator and its tests never
depend on how sessions, events or processes work.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class AgentOutcome(StrEnum):
    """How an agent run ended. Only SUCCESS means the worktree is worth verifying."""

    SUCCESS = "success"
    #: No answer within the hard timeout (a hang, or a provider that keeps failing and is retried).
    TIMEOUT = "timeout"
    #: The runtime or the model failed: provider error, unknown model, no output at all.
    ERROR = "error"
    #: The agent asked for a permission or asked a question; a headless run cannot answer.
    BLOCKED = "blocked"


@dataclass(frozen=True)
class AgentResult:
    """The result of one run, as recorded in the ledger's `attempt` record.

    `session_deleted` is False when the session could not be verified gone (a leak to report);
    tokens and cost are None when the runtime did not report them.
    """

    outcome: AgentOutcome
    reason: str
    session_id: str | None
    duration_s: float
    session_deleted: bool
    output_text: str
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    model: str
    #: The texts the session received as user messages, read back from the runtime: checked
    #: again for drift, since they are what the agent really worked from.
    received: tuple[str, ...] = ()
    #: Cached input and reasoning tokens and model calls, as the gateway counted them (None:
    #: not counted, e.g. the sandbox and its gateway are off).
    tokens_cached: int | None = None
    tokens_reasoning: int | None = None
    requests: int | None = None
    #: The cap that stopped the session (`tokens-per-task`, ...), if one did.
    cap: str | None = None
    #: The session failed because the model provider did (unreachable, errors the gateway
    #: gave up on): infrastructure, not the task — such an attempt is not counted.
    provider_fault: bool = False
    #: The runtime failed before the prompt reached a session (its event stream did not
    #: connect, the session could not be created): nothing of the task ran — not counted.
    runtime_fault: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is AgentOutcome.SUCCESS

    @property
    def infrastructure(self) -> bool:
        """Failed for a reason outside the task: recorded, but it uses up no attempt."""
        return self.provider_fault or self.runtime_fault


class Agent(Protocol):
    """Runs one prompt to completion (or to its hard timeout) in a worktree."""

    def run(
        self, *, prompt: str, worktree: Path, model: str, timeout_s: float, title: str
    ) -> AgentResult:
        """Never raises for what the agent or the model did; that is in the result.

        Raises only for what the caller must handle (the runtime is not reachable at all, or
        KeyboardInterrupt after cleaning up).
        """
        ...
