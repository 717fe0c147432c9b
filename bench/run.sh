#!/usr/bin/env bash
# bench/run.sh — run revmq and Mosquitto side by side (see docs/benchmarks.md).
#
#   bench/run.sh                         full run (~15 min on 2 cores)
#   BENCH_QUICK=1 bench/run.sh           quick run (~5 min)
#   BENCH_SCENARIOS="handshake" BENCH_CRL_SIZES="0 10000" bench/run.sh
#
# Needs: build/revmq and build/revmq-bench (or RMQ_BUILD_DIR), Debian's
# mosquitto, openssl, taskset, /usr/bin/python3. Every knob is an environment
# variable documented at the top of bench/compare.py. Not a test: it runs on
# demand, never in the test suite.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export RMQ_BUILD_DIR=${RMQ_BUILD_DIR:-$(dirname "$here")/build}
# 10,000 idle connections need as many descriptors in the broker and in
# revmq-bench: raise the soft limit to the hard one (compare.py checks it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec /usr/bin/python3 "$here/compare.py" "$@"
