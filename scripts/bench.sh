#!/usr/bin/env bash
# Runs the benchmarks (tests/bench) and prints the timings and the ratios against their targets.
# They are skipped in the normal test run; this is the one way to run them, no make needed.
#   scripts/bench.sh                 everything (a few minutes: check-jsonschema is slow)
#   scripts/bench.sh -k ready        any extra pytest options go through
# Results also go to .benchmarks/latest.json (pytest-benchmark's JSON, with the ratios in
# each benchmark's extra_info); compare two runs with `.venv/bin/pytest-benchmark compare`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh

mkdir -p .benchmarks
exec .venv/bin/python -m pytest tests/bench \
  --benchmark-only \
  -p no:cacheprovider \
  --timeout=1800 \
  --benchmark-sort=name \
  --benchmark-columns=min,median,mean,stddev,rounds \
  --benchmark-json=.benchmarks/latest.json \
  -q "$@"
