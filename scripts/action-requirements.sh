#!/usr/bin/env bash
# Writes action-requirements.txt: every package the GitHub Action installs (macoder's runtime
# dependencies and its build backend), exact versions with their sha256 hashes, from uv.lock.
# The action installs with `pip install --require-hashes` from it, so pinning the action's
# commit pins every byte of Python it runs. Run after changing the dependencies (a test fails
# when the file no longer matches uv.lock).
set -euo pipefail
cd "$(dirname "$0")/.."
.tools/uv/bin/uv export --frozen --no-dev --group build --no-emit-project \
  --format requirements-txt --no-header --quiet >action-requirements.txt
echo "wrote action-requirements.txt ($(grep -c '^[a-z]' action-requirements.txt) packages)" >&2
