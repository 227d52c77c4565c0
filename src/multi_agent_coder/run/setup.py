"""What a run needs on the machine before it starts: the agent runtime, and a sandbox.

The Action's first step calls this (`install-opencode`): a configured binary is used as it
is (`opencode_bin`, e.g. `MACODER_OPENCODE_BIN` on an offline runner); otherwise the pinned
OpenCode is installed from npm under `home`. On a runner that forbids unprivileged user
namespaces (Ubuntu 24.04's AppArmor rule, GitHub's hosted runners among them) the sandbox
cannot start; `allow_sandbox` lifts that rule where it may (passwordless sudo), as the
documented fix says.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Final, TextIO

from multi_agent_coder.config import Settings


def ensure_opencode(
    settings: Settings, home: Path, out: TextIO, *, npm_cache: Path | None = None
) -> Path:
    """The OpenCode binary a run will use: the configured one, or a fresh pinned install
    (with npm's cache at `npm_cache` when given: the Action's, which actions/cache keeps)."""
    from multi_agent_coder.agents.opencode.install import install_opencode
    from multi_agent_coder.agents.opencode.server import find_binary

    if settings.opencode_bin is not None:
        binary = find_binary(settings.opencode_bin)
        print(f"using the configured OpenCode binary {binary}", file=out)
        return binary
    return install_opencode(home, settings.opencode_version, out, cache=npm_cache)


def opencode_cache_key(settings: Settings, system: str, machine: str) -> str | None:
    """The key npm's cache of the OpenCode install is kept under between jobs: the version,
    the lockfile it is checked against and the platform (npm fetches the platform's build
    only). None — nothing is restored or saved — when no install runs (a configured binary)
    or for a version the lockfile does not pin: a restored cache may have been written by any
    workflow run of the repository, so only what the install checks against the lockfile
    afterwards may come from one."""
    import hashlib

    from multi_agent_coder.agents.opencode.install import LOCK, locked_version

    if settings.opencode_bin is not None or settings.opencode_version != locked_version():
        return None
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    return f"macoder-npm-{system}-{machine}-opencode-ai@{settings.opencode_version}-{digest}"


def install_into_repository(path: Path, settings: Settings, out: TextIO) -> Path:
    """The pinned OpenCode in the repository's `.tools/opencode` (where `find_binary` looks
    first), with `/.tools/` excluded in the clone so it is never committed."""
    from multi_agent_coder.agents.opencode.install import PREFIX, install_opencode
    from multi_agent_coder.git.repo import Repo

    repo = Repo.open(path)
    binary = install_opencode(repo.root, settings.opencode_version, out)
    tools = f"/{PREFIX.parts[0]}/"
    if repo.exclude_locally(tools, "macoder: installed tools"):
        print(f"added {tools} to .git/info/exclude", file=out)
    return binary


#: Ubuntu 23.10 and later: 1 = unprivileged user namespaces are refused (bubblewrap fails).
APPARMOR_USERNS: Final = Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")


def allow_sandbox(flag: Path = APPARMOR_USERNS) -> str:
    """Lift AppArmor's ban on unprivileged user namespaces when it is set and sudo works
    without a password (a CI runner); what was done, in one line. The sandbox's own check
    still decides, fail-closed, whether a run may start."""
    try:
        restricted = flag.read_text().strip() == "1"
    except OSError:
        return "sandbox: no AppArmor user-namespace restriction on this machine"
    if not restricted:
        return "sandbox: unprivileged user namespaces are allowed"
    try:
        done = subprocess.run(
            ["sudo", "-n", "sysctl", "-w", f"{_sysctl_name(flag)}=0"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is not None and done.returncode == 0:
        return "sandbox: allowed unprivileged user namespaces (AppArmor restriction lifted)"
    return "sandbox: AppArmor restricts user namespaces and sudo is not available to lift it"


def _sysctl_name(flag: Path) -> str:
    """`/proc/sys/kernel/x` -> `kernel.x` (the name sysctl takes)."""
    parts = flag.parts
    return ".".join(parts[parts.index("sys") + 1 :] if "sys" in parts else parts[-2:])


def token_forms(token: str) -> list[str]:
    """The token as it is and as git's basic credential carries it."""
    from multi_agent_coder.git.remote import basic_credential

    return [token, basic_credential(token)]
