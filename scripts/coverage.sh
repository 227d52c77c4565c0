#!/usr/bin/env bash
# How much of the run engine and the forges the tests cover with no external tool at all:
# no OpenCode binary, no npm tools, no GitHub OpenAPI description (TESTS_WITHOUT_TOOLS=1),
# from the fast tests of the core alone (unit tests, the forges, the ledger, the Action's
# entry and its hand-off, the planning and rewrite modes, doctor; about four minutes). The core must be testable on its own: fails below FLOOR percent
# (line and branch) for run/ or forge/. scripts/test.sh runs it after the suite.
#   scripts/coverage.sh            measure and check (needs scripts/bootstrap.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
FLOOR="${COVERAGE_FLOOR:-90}"
data="$(mktemp -d "${TMPDIR:-/tmp}/macoder-coverage.XXXXXX")"
trap 'rm -rf "$data"' EXIT
export COVERAGE_FILE="$data/.coverage"
TESTS_WITHOUT_TOOLS=1 .venv/bin/python -m coverage run --branch \
  --source=src/multi_agent_coder/run,src/multi_agent_coder/forge \
  -m pytest -q -p no:cacheprovider -x tests/unit tests/integration/test_local_forge.py \
  tests/integration/test_github_forge.py tests/integration/test_remote_ledger.py \
  tests/integration/test_action_entry.py tests/integration/test_action_handoff.py \
  tests/integration/test_action_plan_feature.py tests/integration/test_action_rebase.py \
  tests/integration/test_action_rebase_auto.py tests/integration/test_github_graphql.py \
  tests/acceptance/test_doctor.py "$@" >"$data/pytest.log" 2>&1 \
  || { tail -40 "$data/pytest.log" >&2; echo "coverage: the tests failed" >&2; exit 1; }
tail -1 "$data/pytest.log" >&2
status=0
for part in run forge; do
  .venv/bin/python -m coverage report --include="src/multi_agent_coder/$part/*" \
    --fail-under="$FLOOR" --skip-empty -m || status=1
done
[ "$status" -eq 0 ] || { echo "coverage: run/ or forge/ below ${FLOOR}% without external tools" >&2; exit 1; }
