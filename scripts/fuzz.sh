#!/usr/bin/env bash
# Runs every libFuzzer target for N seconds on a scratch copy of its corpus.
set -euo pipefail
build=${1:-build-fuzz}; secs=${2:-60}
for f in "$build"/fuzz_*; do
  name=$(basename "$f"); parser=${name#fuzz_}
  work=$(mktemp -d)
  cp -r "fuzz/corpus/$parser/." "$work/" 2>/dev/null || true
  echo "fuzz: $parser for ${secs}s"
  "$f" -max_total_time="$secs" -print_final_stats=1 "$work" 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|crash' || true
  rm -rf "$work"
done
