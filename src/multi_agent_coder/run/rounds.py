"""Ask a model, judge its answer, ask again with the problems: the rounds `macoder generate` and
`macoder rebase` share.

Each round is one agent session in a fresh export of the default branch's commit (the agent
may read the code; nothing it writes is kept), bounded by `planning_timeout`, and must be
verified deleted — a session that may still exist stops everything (`SessionLeakError`), as a
leaked session would keep spending. An answer that is not accepted goes back with its problems,
at most `MAX_REPAIR_ROUNDS` times; a session that ends without an answer (a timeout, a provider
failure) stops the rounds with why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from multi_agent_coder.agents.base import AgentResult
from multi_agent_coder.errors import EXIT_OK, EXIT_PROBLEMS, SessionLeakError
from multi_agent_coder.git.worktree import WorktreeManager
from multi_agent_coder.limits import MAX_REPAIR_ROUNDS
from multi_agent_coder.problems import Problem
from multi_agent_coder.run.session import Session


@dataclass(frozen=True)
class Round:
    """One agent session of a generation or a rebase."""

    number: int
    session_id: str | None
    outcome: str
    reason: str
    duration_s: float
    #: Errors its answer came to (None: the session gave no answer to judge).
    problems: int | None


class Judged(Protocol):
    """What judging an answer gives: accepted, or the problems to send back."""

    @property
    def ok(self) -> bool: ...

    @property
    def problems(self) -> Sequence[Problem]: ...


V = TypeVar("V", bound=Judged)


@dataclass(kw_only=True)
class Rounds(Generic[V]):
    """How the rounds went: each round, the last answer's verdict, and why they stopped
    before an answer could be judged (empty: they did not).

    The reports of `macoder generate` and `macoder rebase` extend it, so what the rounds came
    to (accepted or not, the problems left, the JSON of the rounds) is said one way for both.
    Keyword-only: a report's own fields come first in its constructor."""

    rounds: list[Round] = field(default_factory=list)
    verdict: V | None = None
    failure: str = ""

    @property
    def ok(self) -> bool:
        """An answer passed every check, and no session failed after it."""
        return self.verdict is not None and self.verdict.ok and not self.failure

    @property
    def problems(self) -> list[Problem]:
        return [] if self.verdict is None else list(self.verdict.problems)

    @property
    def stopped(self) -> Literal["agent-failed", "invalid"] | None:
        """Why no answer was accepted: a session ended without one (`agent-failed`), or the
        repairs were used up (`invalid`); None when one was."""
        if self.failure:
            return "agent-failed"
        return None if self.ok else "invalid"

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_PROBLEMS

    def rounds_json(self) -> dict[str, Any]:
        """The rounds' part of a report's `--json`: each round, how many there may be, why
        they stopped, the problems left."""
        return {
            "rounds": [asdict(r) for r in self.rounds],
            "max_rounds": MAX_REPAIR_ROUNDS + 1,
            "failure": self.failure or None,
            "problems": [asdict(p) for p in self.problems],
        }


@dataclass(frozen=True)
class Asking(Generic[V]):
    """What the rounds ask and how they judge: the first prompt, a repair prompt from the
    last verdict and the repair's number, and the judge of an answer's text."""

    first: Callable[[], str]
    repair: Callable[[V, int], str]
    judge: Callable[[str], V]
    #: The session's title, and what a progress line says the model does (`turns X into
    #: tasks`), and what a leaked session leaves unchanged (`BACKLOG.yaml was not changed`).
    title: str
    doing: str
    unchanged: str


def ask_in_rounds(
    session: Session,
    sha: str,
    model: str,
    asking: Asking[V],
    *,
    into: Rounds[V],
    cancel: threading.Event | None = None,
    on_event: Callable[[str], None] = lambda message: None,
) -> None:
    """Ask until an answer is accepted, the repairs are used up, or a session fails; how
    the rounds went is written into `into` (the command's report)."""
    settings = session.settings
    worktrees = WorktreeManager(session.repo, settings.worktree_dir)
    worktrees.sweep_exports()
    total = MAX_REPAIR_ROUNDS + 1
    with session.agent_factory(settings, session.repo, cancel or threading.Event()) as agent:
        for number in range(1, total + 1):
            verdict = into.verdict
            prompt = asking.first() if verdict is None else asking.repair(verdict, number - 1)
            on_event(f"round {number} of {total}: {model} {asking.doing}")
            with worktrees.scratch_export(sha) as directory:
                result = agent.run(
                    prompt=prompt,
                    worktree=directory,
                    model=model,
                    timeout_s=settings.planning_timeout,
                    title=asking.title,
                )
            if not result.session_deleted:
                raise SessionLeakError(
                    f"round {number}: the agent session {result.session_id} could not be "
                    f"verified deleted; {asking.unchanged}"
                )
            if not result.ok:
                into.failure = (
                    f"round {number}: the agent's session ended with {result.outcome.value}: "
                    f"{result.reason}"
                )
                into.rounds.append(_round(number, result, None))
                return
            into.verdict = asking.judge(result.output_text)
            problems = len(into.verdict.problems)
            into.rounds.append(_round(number, result, problems))
            if into.verdict.ok:
                return
            on_event(f"round {number}: {problems} problem(s) in the answer")


def _round(number: int, result: AgentResult, problems: int | None) -> Round:
    return Round(
        number, result.session_id, result.outcome.value, result.reason, result.duration_s, problems
    )
