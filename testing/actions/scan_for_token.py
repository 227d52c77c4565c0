"""What an agent that escaped its sandbox would do in the task job: look for a write token.

Reads every process's environment and command line it can (`/proc/<pid>/environ`,
`cmdline`), and every file under the runner's temp directory and the workspace's git config,
and prints how often the write token occurs. The token comes in two halves (two arguments),
so that no command line — this script's own included — holds it whole. Used by the act test only.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def main() -> None:
    # The token, given in two halves so that no command line holds it whole.
    marker = "".join(sys.argv[1:3]).encode()
    if len(marker) < 16:
        raise SystemExit("usage: scan_for_token.py FIRST-HALF SECOND-HALF")
    processes = hits = files = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        processes += 1
        for name in ("environ", "cmdline"):
            with contextlib.suppress(OSError):
                hits += (entry / name).read_bytes().count(marker)
    roots = [Path(os.environ.get("RUNNER_TEMP", "/nonexistent"))]
    roots.append(Path(os.environ.get("GITHUB_WORKSPACE", "/nonexistent")) / ".git" / "config")
    for root in roots:
        paths = [root] if root.is_file() else root.rglob("*") if root.is_dir() else []
        for path in paths:
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    files += 1
                    hits += path.read_bytes().count(marker)
    print(f"token scan: {processes} processes, {files} files, write token found {hits} times")


if __name__ == "__main__":
    main()
