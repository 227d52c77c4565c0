"""The README's first command, as a new user runs it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_demo(**settings: str) -> subprocess.CompletedProcess[str]:
    """`scripts/demo.sh` as a new user runs it (no `GIT_*` or `MACODER_*` of ours), with
    `settings` as extra environment (`MACODER_AGENT_PROFILE`, `KEEP`, ...)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MACODER_"))}
    return subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=ROOT,
        env={**env, **settings},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.e2e
def test_the_demo_runs_two_waves_then_a_planned_feature_and_leaves_nothing_behind() -> None:
    result = run_demo()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert out.count("merged PR") == 5
    assert "nothing to do: all 3 tasks are completed" in out
    assert "1024" in out
    # the feature: planned, committed through the hook, generated, run, merged
    assert "wrote specs/division/PLAN.md" in out
    assert "3/3 sessions verified deleted" in out
    assert "added 2 tasks to BACKLOG.yaml: T004, T005" in out
    assert "\n-4 1\n" in out
    assert "demo: ok" in out
