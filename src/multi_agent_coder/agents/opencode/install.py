"""Installing the pinned OpenCode from npm, where no binary is configured (CI runners).

`npm install opencode-ai@<version>` into a prefix gives the platform binary under
`node_modules/opencode-<platform>/bin/opencode` (DESIGN §6); the binary must then report
exactly the pinned version, or the install is refused: pinning the action pins the agent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Final, TextIO

from multi_agent_coder.agents.opencode.server import find_binary
from multi_agent_coder.errors import MacoderError, UsageError

#: Where the install goes under its home, the same layout scripts/opencode.sh uses, so
#: `find_binary(project_root=home)` picks the platform build the same way.
PREFIX: Final = Path(".tools") / "opencode"
NPM_TIMEOUT_S: Final = 900


def install_opencode(home: Path, version: str, out: TextIO) -> Path:
    """Install `opencode-ai@version` under `home` and return its checked binary."""
    npm = shutil.which("npm")
    if npm is None:
        raise UsageError(
            "npm is needed to install OpenCode (opencode-ai from npm); GitHub's hosted "
            "runners have it, a self-hosted runner needs Node.js >= 18"
        )
    prefix = home / PREFIX
    prefix.mkdir(parents=True, exist_ok=True)
    print(f"installing opencode-ai@{version} into {prefix}", file=out, flush=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    installed = subprocess.run(
        [*command, "--loglevel=error", f"opencode-ai@{version}"],
        check=False,
        timeout=NPM_TIMEOUT_S,
    )
    if installed.returncode != 0:
        raise MacoderError(f"npm install opencode-ai@{version} failed ({installed.returncode})")
    binary = find_binary(project_root=home)
    reported = binary_version(binary)
    if reported != version:
        raise MacoderError(
            f"installed opencode-ai@{version}, but {binary} reports version {reported!r}"
        )
    return binary


def binary_version(binary: Path) -> str:
    """What `opencode --version` prints (stripped)."""
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    return result.stdout.strip()
