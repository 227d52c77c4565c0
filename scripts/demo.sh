#!/usr/bin/env bash
# The main job on the embedded default, end to end, from a fresh clone, with no API key:
# bootstrap, install the pinned OpenCode, make a throwaway target repository from
# examples/demo/repo, start the scripted model, then `macoder run` -> two PRs, merge them,
# `macoder run` -> the dependent task's PR, merge it, `macoder run` -> nothing to do. Then a
# feature from its context to PRs: `macoder plan` -> the track's specs, committed through the
# git hook, `macoder generate` -> two more tasks, `macoder run` -> their PRs, merged.
#   KEEP=1 scripts/demo.sh     keep the demo repository afterwards (its path is printed)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

bash scripts/bootstrap.sh
OPENCODE_BIN="$(bash scripts/opencode.sh)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/macoder-demo.XXXXXX")"
MODEL_PID=""
cleanup() {
  if [ -n "$MODEL_PID" ]; then kill "$MODEL_PID" 2>/dev/null || true; wait "$MODEL_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "demo repository kept at $WORK/repo"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
macoder() { "$ROOT/.venv/bin/macoder" "$@"; }

# 1. A target repository macoder has never seen: a tiny Python package, its tests, a backlog.
cp -R examples/demo/repo "$WORK/repo"
cd "$WORK/repo"
git init --quiet --initial-branch=main
git add -A
commit() { git -c user.name="Demo User" -c user.email=demo@example.com commit --quiet "$@"; }
commit -m "A tiny calculator and its backlog"

# 2. The scripted model (an OpenAI-compatible server on 127.0.0.1) plays the LLM; OpenCode is real.
PYTHONPATH="$ROOT" "$ROOT/.venv/bin/python" -m testing.scripted_model \
  --scenarios "$ROOT/examples/demo/scenarios.yaml" >"$WORK/model.json" 2>"$WORK/model.log" &
MODEL_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/model.json" ] && break; sleep 0.1; done
mkdir -p .macoder
"$ROOT/.venv/bin/python" - "$WORK/model.json" .macoder/opencode.json <<'PY'
import json, sys
info = json.loads(open(sys.argv[1]).readline())
json.dump({"provider": info["provider"]}, open(sys.argv[2], "w"), indent=2)
PY
export MACODER_OPENCODE_BIN="$OPENCODE_BIN"
# The agent servers' homes (their working directories) go under $WORK, so a server this demo
# left behind is told apart from other OpenCode processes on the machine.
mkdir -p "$WORK/tmp"
export TMPDIR="$WORK/tmp"
export PATH="$ROOT/.venv/bin:$PATH"   # `python` in the demo's checks.test is the project's venv

step macoder check
macoder check
step macoder status
macoder status
step macoder context T001
macoder context T001

step "macoder run                      # T001 and T002 are ready; T003 waits for both"
macoder run
step macoder prs
macoder prs
step git log --oneline main..macoder/T001
git log --oneline main..macoder/T001

step "macoder merge T001 && macoder merge T002"
macoder merge T001
macoder merge T002
step "macoder run                      # the next wave: T003"
macoder run
step macoder merge T003
macoder merge T003
step "macoder run                      # nothing is ready; nothing changes"
before="$(git for-each-ref)"
macoder run
[ "$before" = "$(git for-each-ref)" ] || { echo "demo: a run with nothing ready changed refs" >&2; exit 1; }

# What a user would check: the code works on main, nothing is left behind.
step 'python -c "from calc.power import power; print(power(2, 10))"'
python -c "from calc.power import power; print(power(2, 10))"

# 3. From a feature to pull requests. A person writes the feature's context; three planning
# agents turn it into the track's specs; one session turns the plan into tasks; `run` does
# them. Every commit goes through the plain git hook (hooks/pre-commit): it checks the specs
# for planning debris and the backlog, as it would in your repository.
waves_s=$SECONDS
git config core.hooksPath "$ROOT/hooks"
step "cp examples/demo/feature.md FEATURE.md     # the feature's context, as a person writes it"
cp "$ROOT/examples/demo/feature.md" FEATURE.md
step "macoder plan FEATURE.md --track division   # three planning agents, in parallel"
macoder plan FEATURE.md --track division
step "git add FEATURE.md specs/division && git commit -m 'division: plan'   # the hook checks the specs"
git add FEATURE.md specs/division
commit -m "division: plan"
step "macoder generate specs/division/PLAN.md    # the plan becomes tasks, numbered after T003"
macoder generate specs/division/PLAN.md
step "git commit -am 'division: tasks' && macoder ready"
commit -am "division: tasks"
macoder ready
step "macoder run                      # T004 and T005, from the plan"
macoder run
step "macoder merge T004 && macoder merge T005"
macoder merge T004
macoder merge T005
step 'python -c "from calc.div import div; from calc.mod import mod; print(div(-7, 2), mod(-7, 2))"'
python -c "from calc.div import div; from calc.mod import mod; print(div(-7, 2), mod(-7, 2))"
step macoder status
macoder status
[ "$(git worktree list | wc -l)" -eq 1 ] || { echo "demo: a worktree was left behind" >&2; exit 1; }
left=""
for pid in $(pgrep -f "$OPENCODE_BIN" || true); do
  case "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" in "$WORK"/*) left="$left $pid" ;; esac
done
[ -z "$left" ] || { echo "demo: an opencode process was left running: $left" >&2; exit 1; }
[ -z "$(git status --porcelain --untracked-files=no)" ] || { echo "demo: the checkout is dirty" >&2; exit 1; }
echo
echo "demo: ok — three tasks, three verified PRs, merged in two waves; a feature planned into"
echo "two more tasks, two more verified PRs, merged; no worktree or agent left"
echo "($SECONDS s in all: $waves_s s to the two waves' end, installs included, $((SECONDS - waves_s)) s for the feature)"
