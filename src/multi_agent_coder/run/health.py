"""The instrumentation health check: can the target repository's own checks be trusted?

A task is verified by running the repository's tests in its worktree (DESIGN §5 step 8). That
proves something only if the tests run, and pass, *before* an agent touches anything: with a
broken runner, a missing tool or a suite that is already red, every task would fail, or pass
for the wrong reason. So, like the seed's instrumentation checker, each run first runs the
checks once on the default branch head and stops, touching nothing, when a critical one fails:

- the test runner is critical, and finding no test runner at all is critical too;
- the type checker is critical when one is configured;
- the linter only warns (the seed: "optional").

The seed ran a throw-away smoke test; here the repository's real suite runs, because a green
baseline is what verification later compares against.

Finding and running the commands is `checks.py`'s job; the verdict here is pure (results in,
decision out), and `check_health` ties the two together.

In the Action's workflow the check runs once per wave, in a health job of its own, for the
commit the plan planned on; every task job of the wave starts from that same commit and
trusts the verdict instead of running the suite again (`vouched`). Why a job of its own and
not the plan job: the plan job holds write permissions, and the check runs the repository's
own code — no job that runs repository or agent code holds a write token.
"""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from multi_agent_coder.config import Settings
from multi_agent_coder.run.checks import (
    LABELS,
    NO_TESTS_EXIT,
    TEST,
    TYPES,
    CheckRunner,
    CommandResult,
    detect_for,
)

#: A failing critical check makes the repository unhealthy; any other check only warns.
CRITICAL: Final = frozenset({TEST, TYPES})

NO_TEST_RUNNER: Final = "no test runner detected; set checks.test"
NO_TESTS_COLLECTED: Final = "no tests collected: verification cannot prove anything"


# --- judgement (pure) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The verdict. `checks` are the results it was judged on, in run order."""

    healthy: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    checks: tuple[CommandResult, ...]

    def describe(self, tail_lines: int = 20, *, where: str = "on the default branch") -> str:
        """A text for a log or a job summary: the verdict, every error and warning, and the
        last lines of output of each check that failed. `where`: what was checked."""
        lines = [
            f"the repository's own checks {where}: "
            + ("healthy" if self.healthy else "FAILED (fix these before running any task)")
        ]
        lines += [f"  error: {error}" for error in self.errors]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        for result in self.checks:
            if result.passed or not result.output_tail.strip():
                continue
            lines.append(f"  output of {LABELS.get(result.name, result.name)} (last lines):")
            tail = result.output_tail.rstrip().splitlines()[-tail_lines:]
            lines += [f"    | {line}" for line in tail]
        return "\n".join(lines)


def judge(results: Sequence[CommandResult]) -> HealthReport:
    """The seed's verdict on the checks that ran.

    A missing test result means no test runner was configured or detected, which is critical:
    verification could then prove nothing. "No tests collected" is healthy with a warning, for
    the same reason not an error: a new repository may have no tests yet.
    """
    errors: list[str] = []
    warnings: list[str] = []
    if not any(result.name == TEST for result in results):
        errors.append(f"{LABELS[TEST]}: {NO_TEST_RUNNER}")
    for result in results:
        label = LABELS.get(result.name, result.name)
        if result.name == TEST and _no_tests(result):
            warnings.append(f"{label}: `{result.command}`: {NO_TESTS_COLLECTED}")
        elif not result.passed:
            message = f"{label}: `{result.command}`: {_what_went_wrong(result)}"
            (errors if result.name in CRITICAL else warnings).append(message)
    return HealthReport(
        healthy=not errors, errors=tuple(errors), warnings=tuple(warnings), checks=tuple(results)
    )


_RAN_NO_TESTS: Final = re.compile(r"^Ran 0 tests", re.MULTILINE)


def _no_tests(result: CommandResult) -> bool:
    """pytest or unittest ran and found nothing (unittest before 3.12 exits 0 for that)."""
    if result.failure is not None:
        return False
    words = {PurePosixPath(arg).name for arg in result.argv}
    unittest = "unittest" in words
    if result.exit_code == NO_TESTS_EXIT:
        return unittest or bool(words & {"pytest", "py.test"})
    return unittest and result.exit_code == 0 and bool(_RAN_NO_TESTS.search(result.output_tail))


def _what_went_wrong(result: CommandResult) -> str:
    if result.failure is not None:
        return result.failure
    code = result.exit_code
    if code is not None and code < 0:
        try:
            what = f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            what = f"killed by signal {-code}"
    else:
        what = f"exited with status {code}"
    last = _last_line(result.output_tail)
    return f"{what}: {last}" if last else what


def _last_line(text: str, limit: int = 160) -> str:
    """The last non-blank output line: pytest's "1 failed in 0.02s", python's "No module
    named pytest". Enough to say what happened in one line."""
    for line in reversed(text.splitlines()):
        stripped = line.strip()
        if stripped:
            return stripped if len(stripped) <= limit else stripped[: limit - 3] + "..."
    return ""


def vouched(sha: str, healthy_sha: str | None) -> str | None:
    """What to log instead of checking `sha` when the wave's health job has checked exactly
    that commit and found it healthy (`healthy_sha`, its output); None when this run must
    check `sha` itself: no verdict was given (the CLI, a workflow without the health job),
    or one about another commit. Only the same full commit id counts: the checks' verdict is
    about the files of one commit, nothing else."""
    if healthy_sha is None or healthy_sha != sha:
        return None
    return f"health check passed for {sha} in the wave's health job"


# --- the whole check ---------------------------------------------------------------------


def check_health(
    workdir: Path,
    settings: Settings,
    *,
    runner: CheckRunner,
    python: str = sys.executable,
) -> HealthReport:
    """Run the repository's checks on `workdir` (the files of the default branch head) and
    judge them. Commands come from `settings.checks` where set, detected otherwise (pytest and
    unittest with `python`); each check is bounded by `settings.checks_timeout` and runs where
    `runner` runs checks (the checks sandbox)."""
    commands = detect_for(workdir, settings.checks, python)
    return judge(runner.run(workdir, commands, settings.checks_timeout))
