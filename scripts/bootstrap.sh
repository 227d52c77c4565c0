#!/usr/bin/env bash
# Installs everything the project needs, from the lock, into project-local directories:
#   .tools/   a tiny venv holding the pinned uv
#   .venv/    the project and its locked dependencies (uv sync --frozen)
# Safe to run again: each step is skipped or is a no-op when already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.8"
PYTHON="${MACODER_PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "bootstrap: need Python >= 3.11 as '$PYTHON' (set MACODER_PYTHON to another interpreter)" >&2
  exit 2
fi

if [ ! -x .tools/bin/uv ] || [ "$(.tools/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "bootstrap: installing uv $UV_VERSION into .tools/" >&2
  rm -rf .tools
  "$PYTHON" -m venv .tools
  .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

export UV_PYTHON_DOWNLOADS=never
export UV_PROJECT_ENVIRONMENT="$PWD/.venv"
.tools/bin/uv sync --frozen --quiet --python "$PYTHON"
