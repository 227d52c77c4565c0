"""Verification of an agent's result: its claim of success is checked, never believed.

A task's result is verified when the agent left changes, did not commit by itself (only
macoder commits), did not touch the backlog (only macoder flips the task's status), the
session received exactly the task it was given (no other task's id, no planning chatter on
the way in), and the repository's own tests pass on the worktree. Each rule that fails is
one sentence the user reads in the run's table, the ledger and (for a draft) the PR body.

`rules` are pure (facts in, the first broken rule out); `verify` gathers the facts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from multi_agent_coder.backlog.model import Task
from multi_agent_coder.context.build import ContextSettings
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.run.checks import TEST, CommandResult, run_checks
from multi_agent_coder.run.drift import check_session_input


class VerificationFailed(Exception):
    """The result is not verified; `reason` says which rule it broke."""

    def __init__(self, reason: str, tests: Sequence[CommandResult] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tests = list(tests)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the worktree and the session show after the agent is done."""

    own_commits: int
    changed: Sequence[str]
    backlog_path: str
    session_findings: Sequence[str]


def broken_rule(facts: Facts) -> str | None:
    """The first rule the result breaks, or None; the tests are judged apart (they are run
    only when everything else holds)."""
    if facts.own_commits:
        return "the agent committed by itself; only macoder commits"
    if not facts.changed:
        return "the agent made no changes"
    if facts.backlog_path in facts.changed:
        return f"the agent edited {facts.backlog_path}; only macoder may"
    if facts.session_findings:
        return "the session's input drifted: " + "; ".join(facts.session_findings)
    return None


def verify(
    task: Task,
    *,
    repo: Repo,
    worktree: Path,
    base_sha: str,
    backlog_path: str,
    received: Sequence[str],
    all_ids: Collection[str],
    context: ContextSettings,
    test_command: Sequence[str] | None,
    timeout_s: float,
) -> list[CommandResult]:
    """The tests that passed on the agent's result; `VerificationFailed` naming the first rule
    it breaks otherwise."""
    head = str(pygit2.Repository(str(worktree)).head.target)
    facts = Facts(
        own_commits=len(repo.commits_between(base_sha, head)),
        changed=repo.changed_files(worktree),
        backlog_path=backlog_path,
        session_findings=check_session_input(task, received, all_ids, context),
    )
    broken = broken_rule(facts)
    if broken is not None:
        raise VerificationFailed(broken)
    if test_command is None:
        raise VerificationFailed("no test command to verify with (set checks.test)")
    tests = run_checks(worktree, {TEST: list(test_command)}, timeout_s)
    failed = [r for r in tests if not r.passed]
    if failed:
        tail = failed[0].output_tail.strip().splitlines()[-1:] or [""]
        why = failed[0].failure or f"exit {failed[0].exit_code}"
        raise VerificationFailed(f"tests fail after the agent's change ({why}): {tail[0]}", tests)
    return tests
