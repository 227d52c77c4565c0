#!/usr/bin/env bash
# Installs the pinned OpenCode (the agent runtime) from npm into .tools/opencode/ and prints the
# path of its binary. Safe to run again: skipped when that binary already reports the version.
#   MACODER_OPENCODE_VERSION=1.18.33 bash scripts/opencode.sh
# npm 11 skips the package's postinstall; the platform binary is still unpacked under
# node_modules/opencode-<os>-<arch>[-musl]/bin/opencode, which is what we use directly.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${MACODER_OPENCODE_VERSION:-1.18.33}"
PREFIX=".tools/opencode"

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) echo "opencode.sh: unsupported OS $(uname -s)" >&2; exit 2 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "opencode.sh: unsupported CPU $(uname -m)" >&2; exit 2 ;;
esac
libc=""
if [ "$os" = linux ] && { [ -e /etc/alpine-release ] || ldd --version 2>&1 | grep -qi musl; }; then
  libc="-musl"
fi
PKG="opencode-$os-$arch$libc"
BIN="$PREFIX/node_modules/$PKG/bin/opencode"

installed_version() { "$1" --version 2>/dev/null | tr -d '[:space:]' || true; }

# OpenCode installs its plugin SDK (@opencode-ai/plugin, same version) into every fresh config
# directory at start-up, from the npm registry. macoder gives each run a fresh one, so the
# package is installed here once and copied in (hard links) by the server: no run downloads.
PLUGIN_DIR="$PREFIX/plugin"
plugin_version() {
  node -e 'try{process.stdout.write(require(process.argv[1]).version)}catch(e){}' \
    "$PWD/$PLUGIN_DIR/node_modules/@opencode-ai/plugin/package.json" 2>/dev/null || true
}
ensure_plugin() {
  if [ "$(plugin_version)" != "$VERSION" ]; then
    echo "opencode.sh: installing @opencode-ai/plugin@$VERSION into $PLUGIN_DIR/" >&2
    mkdir -p "$PLUGIN_DIR"
    npm install --prefix "$PLUGIN_DIR" --no-audit --no-fund --loglevel=error \
      "@opencode-ai/plugin@$VERSION" >&2
  fi
}

if [ -x "$BIN" ] && [ "$(installed_version "$BIN")" = "$VERSION" ]; then
  ensure_plugin
  echo "$PWD/$BIN"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "opencode.sh: npm is needed to install opencode-ai@$VERSION (install Node.js >= 18)" >&2
  exit 2
fi

echo "opencode.sh: installing opencode-ai@$VERSION into $PREFIX/" >&2
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --ignore-scripts --loglevel=error \
  "opencode-ai@$VERSION" >&2
# The pinned version: every installed package checked against the committed lockfile (the
# same check the Action makes; agents/opencode/install.py says why not `npm ci`).
LOCK="src/multi_agent_coder/agents/opencode/npm/package-lock.json"
locked="$(node -e 'process.stdout.write(require(process.argv[1]).packages["node_modules/opencode-ai"].version)' \
  "$PWD/$LOCK")"
if [ "$VERSION" = "$locked" ]; then
  PYTHONPATH=src .venv/bin/python -m multi_agent_coder.agents.opencode.install "$PREFIX"
fi

if [ ! -x "$BIN" ]; then
  # Some CPUs need the -baseline build (no AVX2); npm picks whichever optional package fits.
  for candidate in "$PREFIX/node_modules/opencode-$os-$arch"*/bin/opencode; do
    if [ -x "$candidate" ] && [ "$(installed_version "$candidate")" = "$VERSION" ]; then
      BIN="$candidate"
      break
    fi
  done
fi
if [ ! -x "$BIN" ] || [ "$(installed_version "$BIN")" != "$VERSION" ]; then
  echo "opencode.sh: installed opencode-ai@$VERSION but found no working $PKG binary" >&2
  exit 1
fi
ensure_plugin
echo "$PWD/$BIN"
