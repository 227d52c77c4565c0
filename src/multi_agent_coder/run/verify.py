"""Verification of an agent's result: its claim of success is checked, never believed — and
the check cannot be talked round by the code it checks.

Two steps. First, facts about the worktree and the session (pure rules, `broken_rule`): the
agent left changes, did not commit by itself (only macoder commits), did not touch the
backlog (only macoder flips the task's status), and the session received exactly the task it
was given. Then the tree is committed — **the tree that is verified is the tree that is
committed** — and the repository's own checks run on an export of that commit, in the checks
sandbox (no network, no secret, nothing writable but the copy):

- the checks must pass; and they must leave the committed files as they were (a test that
  rewrites the code after it ran, or a `conftest.py` that edits the tree, is caught);
- every test file the agent modified or deleted is put back as the base commit has it, and
  the tests must still pass against the agent's code (breaking code and weakening its test
  is caught, adding tests and extending them stays possible);
- no file under `protected_paths` changed.

A failing check is a failed task. A result whose checks pass but that breaks one of the last
two rules is not dropped: it becomes a draft PR labelled `macoder:needs-review` whose body
names the rule and the files (`Verdict.review`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from multi_agent_coder.backlog.model import Task
from multi_agent_coder.context.build import ContextSettings
from multi_agent_coder.git.repo import Change, Repo
from multi_agent_coder.globs import matching
from multi_agent_coder.run.checks import TEST, CheckRunner, CommandResult
from multi_agent_coder.run.drift import check_session_input


class VerificationFailed(Exception):
    """The result is not verified; `reason` says which rule it broke."""

    def __init__(
        self, reason: str, tests: Sequence[CommandResult] = (), *, drift: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tests = list(tests)
        #: The rule broken is the session's input drifting (kept apart in the ledger).
        self.drift = drift


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


def refusal(facts: Facts) -> VerificationFailed | None:
    """`broken_rule` as the failure to raise, marked as drift when the session's input is
    what broke it (the last rule: it is the one broken exactly when the others hold)."""
    broken = broken_rule(facts)
    if broken is None:
        return None
    others = broken_rule(replace(facts, session_findings=()))
    return VerificationFailed(broken, drift=others is None)


#: The lines git writes around a conflict (`=======` alone is a common underline: with the
#: other two only it counts).
_OPENING, _CLOSING = re.compile(rb"^<{7}(?: |$)", re.M), re.compile(rb"^>{7}(?: |$)", re.M)


def conflict_markers_left(files: Mapping[str, bytes]) -> list[str]:
    """The paths among `files` (path -> content) that still hold a conflict's opening or
    closing marker line. Pure."""
    return sorted(
        path for path, data in files.items() if _OPENING.search(data) or _CLOSING.search(data)
    )


def check_worktree(
    task: Task,
    *,
    repo: Repo,
    worktree: Path,
    base_sha: str,
    backlog_path: str,
    received: Sequence[str],
    all_ids: Collection[str],
    context: ContextSettings,
) -> None:
    """The first step: `VerificationFailed` naming the first broken rule, else nothing."""
    facts = Facts(
        own_commits=len(repo.commits_between(base_sha, repo.head_of(worktree))),
        changed=repo.changed_files(worktree),
        backlog_path=backlog_path,
        session_findings=check_session_input(task, received, all_ids, context),
    )
    refused = refusal(facts)
    if refused is not None:
        raise refused


@dataclass(frozen=True, slots=True)
class Verdict:
    """The checks passed on the committed tree; `review` lists what a person must look at
    (empty: verified)."""

    tests: list[CommandResult]
    review: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Rules:
    """What verification enforces beyond the checks passing (the settings' values)."""

    test_command: Sequence[str] | None
    timeout_s: float
    protected: Sequence[str]
    test_globs: Sequence[str]
    #: Paths only macoder changes on the branch (a revision's base holds its status flip of
    #: the backlog): not the agent's change, so no protected-path finding.
    macoder_paths: Collection[str] = ()


def review_reasons(changes: Sequence[Change], protected: Sequence[str]) -> list[str]:
    """One sentence per protected path the agent changed (pure)."""
    touched = matching([c.path for c in changes], protected)
    return [f"protected path changed: {path}" for path in touched]


def tests_to_restore(changes: Sequence[Change], test_globs: Sequence[str]) -> list[str]:
    """Test files the agent modified or deleted (an added test is never restored). Pure."""
    candidates = [c.path for c in changes if c.kind in ("modified", "deleted")]
    return matching(candidates, test_globs)


@contextlib.contextmanager
def exported(repo: Repo, rev: str) -> Iterator[Path]:
    """The files of commit `rev` in a fresh temporary directory, removed afterwards.

    The directory's name carries this process's id, so that the export of a process killed
    before it could clean up (`kill -9`, a lost runner) is found and removed by the next run
    (`sweep_stale_exports`)."""
    with tempfile.TemporaryDirectory(prefix=f"{EXPORT_PREFIX}{os.getpid()}-") as name:
        tree = Path(name) / "tree"
        repo.export(rev, tree)
        yield tree


#: The exports' names: `macoder-verify-<pid>-<random>`.
EXPORT_PREFIX = "macoder-verify-"


def sweep_stale_exports(directory: Path | None = None) -> list[Path]:
    """Remove the exports (`exported`) whose process is gone; the paths removed."""
    from multi_agent_coder.processes import pid_alive

    where = Path(tempfile.gettempdir()) if directory is None else directory
    removed = []
    for path in where.glob(f"{EXPORT_PREFIX}*-*"):
        pid = path.name.removeprefix(EXPORT_PREFIX).split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def verify_commit(
    repo: Repo, *, base_sha: str, commit: str, rules: Rules, runner: CheckRunner
) -> Verdict:
    """Run the checks on an export of `commit` and apply the rules (see the module doc)."""
    if rules.test_command is None:
        raise VerificationFailed("no test command to verify with (set checks.test)")
    commands = {TEST: list(rules.test_command)}
    with exported(repo, commit) as tree:
        tests = runner.run(tree, commands, rules.timeout_s)
        failed = [r for r in tests if not r.passed]
        if failed:
            tail = failed[0].output_tail.strip().splitlines()[-1:] or [""]
            why = failed[0].failure or f"exit {failed[0].exit_code}"
            raise VerificationFailed(
                f"tests fail after the agent's change ({why}): {tail[0]}", tests
            )
        moved = repo.tree_differences(commit, tree)
        if moved:
            raise VerificationFailed(
                "the checks changed the files under test (" + ", ".join(moved[:10]) + "): "
                "what ran is not what would be committed",
                tests,
            )
    changes = [c for c in repo.changes(base_sha, commit) if c.path not in rules.macoder_paths]
    review = review_reasons(changes, rules.protected)
    restore = tests_to_restore(changes, rules.test_globs)
    if restore:
        with exported(repo, commit) as tree:
            repo.restore(base_sha, restore, tree)
            again = runner.run(tree, commands, rules.timeout_s)
        if not all(r.passed for r in again):
            shown = ", ".join(restore[:10])
            review.append(
                f"the tests the agent changed or deleted ({shown}) fail in their base "
                "version against the new code"
            )
    return Verdict(tests, review)
