#!/usr/bin/env bash
# Installs everything the project needs, from the lock, into project-local directories:
#   .tools/uv/  a tiny venv holding the pinned uv (scripts/opencode.sh adds .tools/opencode/)
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

# This machine's pip.conf may list local index folders that do not exist; pip warns about
# each on every call. The warning says nothing about us, so it is filtered out.
quiet_pip() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

UV=.tools/uv/bin/uv
if [ ! -x "$UV" ] || [ "$("$UV" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "bootstrap: installing uv $UV_VERSION into .tools/uv/" >&2
  rm -rf .tools/uv
  "$PYTHON" -m venv .tools/uv
  quiet_pip .tools/uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

export UV_PYTHON_DOWNLOADS=never
export UV_PROJECT_ENVIRONMENT="$PWD/.venv"
"$UV" sync --frozen --quiet --python "$PYTHON"
