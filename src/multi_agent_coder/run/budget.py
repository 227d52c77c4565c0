"""How long one task job (and the wave's health job) may take, from the settings: the bound
their own timeouts enforce.

A task's own limits must fire before anything around it gives up. When the agent's time runs
out, macoder aborts the session, keeps the partial work as a draft and records the attempt
with its reason; when the workflow's `timeout-minutes` runs out first, GitHub kills the job and
all of that is lost (the attempt is then only known as interrupted). So the job's timeout must
exceed the sum of every bound the job runs under, and the plan's lease must outlive the job.

The bounds, in the order a task job meets them:

- installing OpenCode: npm's own time limit, then its `--version` check;
- the health check: each of the repository's checks (the test runner, plus a linter and a
  type checker when configured) under `checks_timeout`. In the workflow the wave's health
  job runs it once for the planned base and each task job trusts that verdict, but the
  bound keeps it: a task job given no verdict, or one about another commit (a workflow
  without the health job, an older copy of it), runs the check itself, and GitHub must not
  kill it for that;
- the agent runtime's start and stop, and the session: `task_timeout`, plus the fixed waits
  after it (abort, delete, stop), at most a couple of minutes;
- verification: the tests under `checks_timeout`, twice when the agent changed a test file
  (once as the agent left it, once restored to its base version);
- what macoder does not bound itself (the checkout, installing macoder, uploading the
  hand-off): a fixed allowance.

The health job (`health_job_seconds`) meets only the health check and the unbounded setup;
the plan-feature job (`plan_feature_job_seconds`) the install, the planning and generation
sessions and the unbounded setup.

Pure: settings in, seconds out. The workflow test holds `.github/workflows/macoder.yml` to it.
"""

from __future__ import annotations

from typing import Final

from multi_agent_coder.config import Settings
from multi_agent_coder.limits import (
    MAX_REPAIR_ROUNDS,
    OPENCODE_INSTALL_TIMEOUT_S,
    OPENCODE_VERSION_CHECK_S,
)

#: The runtime's start (60 s), the abort grace (5 s), the delete check (2 s) and its stop
#: (5 s) around a session, rounded up.
RUNTIME_WAITS_S: Final = 120.0
#: The checkout, `pip install` of macoder and the artifact upload: not bounded by macoder.
UNBOUNDED_SETUP_S: Final = 600.0
#: Verification runs the tests at most twice (see `run/verify.py`).
VERIFY_RUNS: Final = 2


def health_checks(settings: Settings) -> int:
    """How many checks the health check runs: the tests, and each configured extra check."""
    return 1 + sum(1 for command in (settings.checks.lint, settings.checks.types) if command)


def task_job_seconds(settings: Settings) -> float:
    """The longest a task job runs before one of its own timeouts has ended it."""
    install = OPENCODE_INSTALL_TIMEOUT_S + OPENCODE_VERSION_CHECK_S
    health = health_checks(settings) * settings.checks_timeout
    agent = settings.task_timeout + RUNTIME_WAITS_S
    verify = VERIFY_RUNS * settings.checks_timeout
    return install + health + agent + verify + UNBOUNDED_SETUP_S


def health_job_seconds(settings: Settings) -> float:
    """The longest the wave's health job runs before one of its own timeouts has ended it:
    the repository's checks on the planned base, and the setup around them (checkout,
    installing macoder)."""
    return health_checks(settings) * settings.checks_timeout + UNBOUNDED_SETUP_S


def plan_feature_job_seconds(settings: Settings) -> float:
    """The longest the Action's plan-feature job runs before one of its own timeouts has
    ended it: installing OpenCode, the three planning agents (in parallel, each under
    `planning_timeout`), then each generation round (at most `MAX_REPAIR_ROUNDS` + 1, each a
    session under `planning_timeout`), every session with the runtime's waits around it, and
    the unbounded setup. It runs none of the repository's checks."""
    install = OPENCODE_INSTALL_TIMEOUT_S + OPENCODE_VERSION_CHECK_S
    session = settings.planning_timeout + RUNTIME_WAITS_S
    return install + session * (1 + MAX_REPAIR_ROUNDS + 1) + UNBOUNDED_SETUP_S


def rebase_job_seconds(settings: Settings) -> float:
    """The longest the Action's rebase job runs before one of its own timeouts has ended it:
    installing OpenCode, then each round of the rebase model (at most `MAX_REPAIR_ROUNDS` +
    1, each a session under `planning_timeout` with the runtime's waits), and the setup."""
    install = OPENCODE_INSTALL_TIMEOUT_S + OPENCODE_VERSION_CHECK_S
    session = settings.planning_timeout + RUNTIME_WAITS_S
    return install + session * (MAX_REPAIR_ROUNDS + 1) + UNBOUNDED_SETUP_S


def task_lease_seconds(settings: Settings) -> float:
    """The longest one task holds its lease in a run that is under way: the session and
    the verification after it, and a minute of bookkeeping (commits, push, PR, ledger)."""
    return settings.task_timeout + RUNTIME_WAITS_S + VERIFY_RUNS * settings.checks_timeout + 60.0
