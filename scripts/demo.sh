#!/usr/bin/env bash
# The main job on the embedded default, from a fresh clone: bootstrap, then check the example
# backlog, show what is ready, what blocks the rest, and the exact prompt the first task gets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

EXAMPLE=examples/backlogs/good/BACKLOG.yaml
macoder() { .venv/bin/macoder "$@"; }

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step macoder check "$EXAMPLE"
macoder check "$EXAMPLE"
step macoder ready --backlog "$EXAMPLE"
macoder ready --backlog "$EXAMPLE"
step macoder stats --backlog "$EXAMPLE"
macoder stats --backlog "$EXAMPLE"
step macoder context T001 --backlog "$EXAMPLE"
macoder context T001 --backlog "$EXAMPLE"
step macoder check examples/backlogs/bad/unknown-dependency.yaml "(a bad backlog: exit 1)"
if macoder check examples/backlogs/bad/unknown-dependency.yaml; then
  echo "demo: the bad example passed the check; that is a bug" >&2
  exit 1
fi
echo
echo "demo: ok"
