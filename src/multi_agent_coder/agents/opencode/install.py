"""Installing the pinned OpenCode from npm, where no binary is configured (CI runners).

`npm install opencode-ai@<version> --ignore-scripts` into a prefix gives the platform binary
under `node_modules/opencode-<platform>/bin/opencode` (DESIGN §6), which is what macoder runs;
install scripts never run. For the version macoder is tested with, every package npm
installed is then checked against the lockfile committed next to this module
(`npm/package-lock.json`, written by npm): same version, same sha512 integrity — npm has
checked each tarball against the integrity it recorded, so the two agreeing means the bytes
are the pinned ones, and pinning the action's commit pins the agent's code too. (Why not
`npm ci`: npm writes into a lockfile only the platform builds its registry offers, and `npm
ci` refuses a lockfile that lacks any optional dependency — so no lockfile could be `npm ci`ed
everywhere. A platform build the lockfile does not have is refused, naming `opencode_bin`.)

Another version (the `opencode_version` setting) is installed unpinned, and said to be.
Either way the binary must then report exactly the version asked for.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final, TextIO

from multi_agent_coder.agents.opencode.server import find_binary
from multi_agent_coder.errors import MacoderError, UsageError
from multi_agent_coder.limits import OPENCODE_INSTALL_TIMEOUT_S, OPENCODE_VERSION_CHECK_S

#: Where the install goes under its home, the same layout scripts/opencode.sh uses, so
#: `find_binary(project_root=home)` picks the platform build the same way.
PREFIX: Final = Path(".tools") / "opencode"
NPM_TIMEOUT_S: Final = OPENCODE_INSTALL_TIMEOUT_S
#: The pinned OpenCode's lockfile (and the package.json npm made it from).
LOCK: Final = Path(__file__).parent / "npm" / "package-lock.json"


class UnpinnedPackageError(MacoderError):
    """npm installed something the lockfile does not pin."""


def _packages(path: Path) -> dict[str, Any]:
    packages: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["packages"]
    return packages


def locked_version(lock: Path = LOCK) -> str:
    """The opencode-ai version the committed lockfile pins."""
    return str(_packages(lock)["node_modules/opencode-ai"]["version"])


def check_pinned(prefix: Path, lock: Path = LOCK) -> int:
    """Every package npm installed under `prefix` (its `node_modules/.package-lock.json`) is
    in `lock` at the same version and integrity; how many were checked."""
    installed = _packages(prefix / "node_modules" / ".package-lock.json")
    pinned = _packages(lock)
    checked = 0
    for path, entry in sorted(installed.items()):
        if not path.startswith("node_modules/"):
            continue
        want = pinned.get(path)
        name = path.removeprefix("node_modules/")
        if want is None:
            raise UnpinnedPackageError(
                f"npm installed {name}@{entry.get('version')}, which {lock.name} does not pin "
                "(a platform it was not made on?); set `opencode_bin` to a binary instead"
            )
        for key in ("version", "integrity"):
            if entry.get(key) != want.get(key):
                raise UnpinnedPackageError(
                    f"npm installed {name} with {key} {entry.get(key)!r}; {lock.name} pins "
                    f"{want.get(key)!r}"
                )
        checked += 1
    if checked == 0:
        raise UnpinnedPackageError(f"npm installed nothing under {prefix} to check")
    return checked


def install_opencode(
    home: Path, version: str, out: TextIO, *, lock: Path = LOCK, cache: Path | None = None
) -> Path:
    """Install `opencode-ai@version` under `home` and return its checked binary. `cache`:
    npm's cache directory, preferred over the registry (`--prefer-offline`) — the Action
    keeps it between jobs; what it holds is checked like a download (npm's integrity
    check of every tarball, then the lockfile's)."""
    npm = shutil.which("npm")
    if npm is None:
        raise UsageError(
            "npm is needed to install OpenCode (opencode-ai from npm); GitHub's hosted "
            "runners have it, a self-hosted runner needs Node.js >= 18"
        )
    prefix = home / PREFIX
    prefix.mkdir(parents=True, exist_ok=True)
    pinned = version == locked_version(lock)
    how = "checked against the lockfile" if pinned else f"unpinned: {lock.name} pins another"
    print(f"installing opencode-ai@{version} into {prefix} ({how})", file=out, flush=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    if cache is not None:
        command += ["--cache", str(cache), "--prefer-offline"]
    installed = subprocess.run(
        [*command, "--ignore-scripts", "--loglevel=error", f"opencode-ai@{version}"],
        check=False,
        timeout=NPM_TIMEOUT_S,
    )
    if installed.returncode != 0:
        raise MacoderError(f"npm install opencode-ai@{version} failed ({installed.returncode})")
    if pinned:
        check_pinned(prefix, lock)
    binary = find_binary(project_root=home)
    reported = binary_version(binary)
    if reported != version:
        raise MacoderError(
            f"installed opencode-ai@{version}, but {binary} reports version {reported!r}"
        )
    return binary


def main(argv: list[str] | None = None) -> int:
    """`python -m multi_agent_coder.agents.opencode.install PREFIX`: check an install made by
    scripts/opencode.sh against the lockfile (exit 1 with the reason when it does not hold)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m multi_agent_coder.agents.opencode.install PREFIX", file=sys.stderr)
        return 2
    try:
        checked = check_pinned(Path(args[0]))
    except (MacoderError, OSError, KeyError, ValueError) as exc:
        print(f"opencode install check: {exc}", file=sys.stderr)
        return 1
    print(f"opencode install check: {checked} package(s) match {LOCK.name}", file=sys.stderr)
    return 0


def binary_version(binary: Path) -> str:
    """What `opencode --version` prints (stripped)."""
    result = subprocess.run(
        [str(binary), "--version"],
        capture_output=True,
        text=True,
        timeout=OPENCODE_VERSION_CHECK_S,
        check=False,
    )
    return result.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
