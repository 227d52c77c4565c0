"""`macoder doctor`: everything a run needs, checked without starting one.

The same checks a run makes before it leases anything, one after another, each reported
whether it passes or not (a run stops at the first): git, the OpenCode binary at the pinned
version, the OS sandbox, every configured model answering (the preflight), and the
repository's own checks on the default branch's head. Nothing is leased, written or counted.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from multi_agent_coder.errors import MacoderError
from multi_agent_coder.run.session import Session


@dataclass(frozen=True, slots=True)
class Finding:
    name: str
    ok: bool
    detail: str


def diagnose(session: Session) -> Iterator[Finding]:
    """One finding per check, in the order a run meets them."""
    checks: list[tuple[str, Callable[[Session], str]]] = [
        ("git", _git),
        ("opencode", _opencode),
        ("sandbox", _sandbox),
        ("models", _models),
        ("checks", _repository_checks),
    ]
    for name, check in checks:
        try:
            yield Finding(name, True, check(session))
        except (MacoderError, OSError, subprocess.SubprocessError) as exc:
            yield Finding(name, False, str(exc))


def _git(session: Session) -> str:
    del session
    done = subprocess.run(
        ["git", "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()


def _opencode(session: Session) -> str:
    from multi_agent_coder.agents.opencode.install import binary_version
    from multi_agent_coder.agents.opencode.server import find_binary

    settings = session.settings
    binary = find_binary(settings.opencode_bin, project_root=session.repo.root)
    version = binary_version(binary)
    if version != settings.opencode_version:
        raise MacoderError(
            f"{binary} reports version {version!r}; opencode_version is "
            f"{settings.opencode_version!r}"
        )
    return f"{binary} {version}"


def _sandbox(session: Session) -> str:
    jail = session.jail()
    return "bubblewrap starts here" if jail.enabled else "off (sandbox: false): not contained"


def _models(session: Session) -> str:
    refs = sorted(session.settings.models.refs())
    if session.preflight is not None:
        session.preflight(session.settings, session.repo, refs)
    return ", ".join(refs) + " answer"


def _repository_checks(session: Session) -> str:
    from multi_agent_coder.run.checks import CheckRunner
    from multi_agent_coder.run.health import check_health
    from multi_agent_coder.run.verify import exported

    head = session.head()
    runner = CheckRunner(session.jail(), dict(os.environ))
    with exported(session.repo, head.sha) as tree:
        report = check_health(tree, session.settings, runner=runner, python=session.python)
    if not report.healthy:
        raise MacoderError(report.describe())
    ran = ", ".join(" ".join(c.argv) for c in report.checks) or "none configured or detected"
    return f"pass on {head.branch} ({head.sha[:10]}): {ran}"
