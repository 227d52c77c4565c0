"""Input tokens per task of the two agent profiles on the demo: the README's `scripts/demo.sh`
(three tasks in two waves, each verified and merged), once with `agent_profile: lean` and once
with `agent_profile: opencode`, counted by the run's gateway and read from the ledger's
attempts.

The scripted model reports `prompt_tokens` as a quarter of each request's bytes (about what a
real tokenizer gives for English and JSON), so the ratio is the ratio of what OpenCode sends:
its system prompt and tool definitions, repeated with every request, plus the conversation.
Target: lean at most 0.5x the default profile, the same tasks verified.

Run with `scripts/bench.sh` (or `pytest tests/bench/test_bench_profiles.py --benchmark-only`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.acceptance.test_demo import run_demo

TARGET_LEAN_SHARE = 0.5


def demo_attempts(profile: str) -> dict[str, dict[str, Any]]:
    """The demo's attempt records under `profile`, by task."""
    done = run_demo(MACODER_AGENT_PROFILE=profile, KEEP="1")
    kept = re.search(r"demo repository kept at (\S+)", done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert kept is not None
    repo = Path(kept[1])
    try:
        ledger = subprocess.run(
            ["git", "show", "refs/macoder/ledger:ledger.jsonl"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
    records = [json.loads(line) for line in ledger.splitlines() if line.strip()]
    return {r["task"]: r for r in records if r["type"] == "attempt"}


def test_lean_profile_input_tokens_per_task(benchmark: Any, results: Any) -> None:
    benchmark.group = "agent profiles"
    seen: dict[str, dict[str, dict[str, Any]]] = {}

    def both() -> None:
        for profile in ("lean", "opencode"):
            seen[profile] = demo_attempts(profile)

    benchmark.pedantic(both, rounds=1, iterations=1, warmup_rounds=0)
    lean, full = seen["lean"], seen["opencode"]
    assert set(lean) == set(full) == {"T001", "T002", "T003"}
    assert all(r["outcome"] == "success" for r in [*lean.values(), *full.values()])
    for task in sorted(lean):
        results.notes.append(
            f"{task}: input tokens lean {lean[task]['tokens_in']:,} / opencode "
            f"{full[task]['tokens_in']:,} ({lean[task]['requests']} requests each)"
        )
    share = max(lean[t]["tokens_in"] / full[t]["tokens_in"] for t in lean)
    verdict = results.ratio(
        benchmark, "lean / opencode input tokens per task (worst task)", share, TARGET_LEAN_SHARE
    )
    assert verdict.ok, f"the lean profile sends {share:.2f}x the default profile's tokens"
