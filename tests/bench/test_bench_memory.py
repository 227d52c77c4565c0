"""Memory in proportion to the backlog: peak RSS of `check`, `ready` and `mark` against the file.

Each command runs as its own process on a generated backlog of 10,000 and of 99,999 tasks
(9 MB and 92 MB; `max_file_bytes` raised for the larger), under a small Python parent that
reports `ru_maxrss` of its one child: the whole process's peak, interpreter included. Targets
(issue 10): peak RSS at most 30x the file's size, and `mark` — which changes one scalar — no
more than `check`, which it must do anyway (within 5 %: `mark` also holds the edited text).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.bench import generate

SIZES = (10_000, 99_999)
#: Peak RSS / file size.
TARGET_RSS_PER_FILE_BYTE = 30.0
#: mark's peak / check's peak on the same file.
TARGET_MARK_OVER_CHECK = 1.05

#: A parent whose one child is the command: its RUSAGE_CHILDREN peak is the command's.
_PEAK = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)
COMMANDS = {
    "check": ["check", "BACKLOG.yaml"],
    "ready": ["ready", "--backlog-only"],
    "mark": ["mark", "T09000", "in_progress"],
}


@pytest.fixture(scope="module")
def big_backlogs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    return {
        size: generate.write(tmp_path_factory.mktemp(f"rss-{size}") / "BACKLOG.yaml", size)
        for size in SIZES
    }


def peak_kib(command: list[str], cwd: Path) -> int:
    """Peak RSS of `macoder <command>` run in `cwd`, in KiB (Linux's ru_maxrss unit)."""
    env = {"MACODER_MAX_FILE_BYTES": str(200 << 20), "PATH": "/usr/bin:/bin"}
    argv = [sys.executable, "-c", _PEAK, sys.executable, "-m", "multi_agent_coder", *command]
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    code, kib = map(int, out.stdout.split())
    assert code == 0, f"macoder {' '.join(command)} exited {code}"
    return kib


@pytest.mark.timeout(1800)  # 99,999 tasks: three processes of ~40 s each on a loaded machine
@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
@pytest.mark.parametrize("size", SIZES, ids=generate.size_id)
def test_peak_memory_is_in_proportion_to_the_file(
    benchmark: Any, results: Any, big_backlogs: dict[int, Path], size: int
) -> None:
    path = big_backlogs[size]
    file_kib = path.stat().st_size / 1024
    peaks: dict[str, int] = {}

    def measure() -> None:
        for name, command in COMMANDS.items():
            peaks[name] = peak_kib(command, path.parent)

    benchmark.group = "peak RSS"
    benchmark.pedantic(measure, rounds=1, iterations=1)
    label = generate.size_id(size)
    for name, kib in peaks.items():
        results.notes.append(
            f"{label} tasks, {file_kib / 1024:.1f} MB file: {name} {kib / 1024:.0f} MB"
        )
        ratio = results.ratio(
            benchmark,
            f"{label} {name}: peak RSS / file size",
            kib / file_kib,
            TARGET_RSS_PER_FILE_BYTE,
        )
        assert ratio.ok, ratio
    mark = results.ratio(
        benchmark,
        f"{label} mark / check peak RSS",
        peaks["mark"] / peaks["check"],
        TARGET_MARK_OVER_CHECK,
    )
    assert mark.ok, mark
