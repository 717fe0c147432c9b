#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD for SECONDS each, with its seed corpus
# (tests/fuzz/corpus/<target>/) when there is one. Fails on any finding.
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-60}
here=$(cd "$(dirname "$0")/.." && pwd)
found=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  found=1
  name=$(basename "$bin")
  work=$(mktemp -d)
  seeds="$here/tests/fuzz/corpus/$name"
  args=("$work")
  [ -d "$seeds" ] && args+=("$seeds")
  echo "fuzz: $name for ${secs}s"
  log=$(mktemp)
  status=0
  "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
         -artifact_prefix="$work/" "${args[@]}" >"$log" 2>&1 || status=$?
  # on a finding, the sanitizer's report (error line and stacks) first
  [ "$status" -eq 0 ] || sed -n '/^==[0-9]*==ERROR\|runtime error\|^SUMMARY/,$p' "$log" | head -n 80
  tail -n 15 "$log"
  rm -rf "$work" "$log"
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $name FAILED (exit $status)" >&2
    exit 1
  fi
done
[ "$found" -eq 1 ] || { echo "fuzz: no targets in $build" >&2; exit 1; }
