#!/usr/bin/env bash
# Fills .cache/wheelhouse/ with wheels of everything `pip install .` of this project needs:
# the runtime dependencies exactly as locked in uv.lock, plus the build backend (hatchling and
# its dependencies, as [build-system] requires them).
#
# Why: pre-commit's `language: python` builds a virtualenv for our hooks and pip-installs this
# repository into it. Tests run that offline with
#     PIP_NO_INDEX=1 PIP_FIND_LINKS=.cache/wheelhouse
# so this script is the install step that reaches the package registry, once.
#
# Safe to run again: skipped in well under a second when the wheelhouse matches the current
# uv.lock, build requirements and Python (a stamp file records the sha256 of those).
# Needs scripts/bootstrap.sh to have run (.tools/uv/bin/uv and its python).
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=".cache/wheelhouse"
STAMP="$DEST/.complete"
UV=".tools/uv/bin/uv"
PY=".tools/uv/bin/python"

if [ ! -x "$UV" ] || [ ! -x "$PY" ]; then
  echo "wheelhouse: $UV or $PY is missing; run scripts/bootstrap.sh first" >&2
  exit 2
fi

# The build requirements, one a line, straight from pyproject.toml (one place per fact).
build_requires="$("$PY" -c '
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["build-system"]["requires"]))
')"

# What the wheelhouse is built from: if any of it changes, the wheelhouse is rebuilt.
key="$("$PY" - "$build_requires" <<'EOF'
import hashlib, sys
lock = hashlib.sha256(open("uv.lock", "rb").read()).hexdigest()
build = hashlib.sha256(sys.argv[1].encode()).hexdigest()
print(f"uv.lock sha256 {lock}")
print(f"build-system.requires sha256 {build}")
print(f"python {sys.implementation.cache_tag} {sys.platform}")
EOF
)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ]; then
  echo "wheelhouse: $DEST is up to date" >&2
  exit 0
fi

echo "wheelhouse: downloading wheels into $DEST" >&2
mkdir -p .cache
work="$(mktemp -d .cache/wheelhouse.tmp.XXXXXX)"
trap 'rm -rf "$work"' EXIT

"$UV" export --frozen --no-dev --no-hashes --no-emit-project --quiet >"$work/requirements.txt"
printf '%s\n' "$build_requires" >"$work/build-requirements.txt"

mkdir "$work/wheels"
for requirements in requirements.txt build-requirements.txt; do
  "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --dest "$work/wheels" --requirement "$work/$requirements" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
done
printf '%s\n' "$key" >"$work/wheels/.complete"

# Swap in whole: an interrupted run never leaves a wheelhouse that looks complete.
rm -rf "$DEST"
mv "$work/wheels" "$DEST"
echo "wheelhouse: $(find "$DEST" -name '*.whl' | wc -l | tr -d ' ') wheels in $DEST" >&2
