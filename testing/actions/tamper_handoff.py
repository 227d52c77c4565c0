"""What an agent that escaped its sandbox could do to the hand-off: replace the task's bundle
with one of the whole history (no prerequisite: "based on" any commit it likes). The
publish job must refuse it. Used by the act test only, in the job of the task it names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def main() -> None:
    task = sys.argv[1]
    folder = Path(os.environ["RUNNER_TEMP"]) / "macoder-handoff" / task
    bundle = folder / "task.bundle"
    if not bundle.is_file():
        print(f"tamper: no bundle for {task}")
        return
    bundle.unlink()
    subprocess.run(
        ["git", "bundle", "create", "-q", str(bundle), f"refs/macoder/handoff/{task}"],
        cwd=os.environ["GITHUB_WORKSPACE"],
        check=True,
    )
    print(f"tamper: {task}'s bundle now holds the whole history")


if __name__ == "__main__":
    main()
