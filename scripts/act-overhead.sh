#!/usr/bin/env bash
# Measures the per-task job overhead of the macoder workflow under act (docs/benchmarks.md):
# the first run of tests/integration/test_action_act.py's scenario (four ready tasks, jobs
# three at a time), ROUNDS times, act's output as JSON stamped with this machine's clock,
# then the medians.
#   scripts/act-overhead.sh [ROUNDS] [OUT_DIR]        (defaults: 3, .cache/act-overhead)
# About two minutes a round on two cores. Needs what the act test needs (act, the
# wheelhouse, the OpenCode binary, the webhook examples).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
out="$(realpath -m "${2:-.cache/act-overhead}")"
mkdir -p "$out"
harness="$(mktemp -d)"
trap 'rm -rf "$harness"' EXIT
cat >"$harness/act-json" <<SH
#!/usr/bin/env bash
"$PWD/.venv/bin/act" "\$@" --json 2>&1 | python3 "$PWD/scripts/act_overhead.py" stamp
exit "\${PIPESTATUS[0]}"
SH
chmod +x "$harness/act-json"
cat >"$harness/test_act_overhead.py" <<'PY'
import os
import shutil
from pathlib import Path

import pytest

from tests.integration import test_action_act as act
from tests.integration.test_action_act import world  # noqa: F401 - the fixture


def test_one_round(world: act.World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(act, "ACT", Path(__file__).parent / "act-json")
    done = act.run_act(world, "first")
    shutil.copy(world.base / "act-first.log", os.environ["ACT_OVERHEAD_LOG"])
    print(f"act exit {done.code} after {done.seconds:.1f} s")
PY
for round in $(seq 1 "$rounds"); do
  ACT_OVERHEAD_LOG="$out/round-$round.jsonl" .venv/bin/python -m pytest -q -s \
    -p no:cacheprovider --rootdir=. -c pyproject.toml "$harness/test_act_overhead.py" | tail -2
done
python3 scripts/act_overhead.py summarize "$out"/round-*.jsonl
