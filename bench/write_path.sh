#!/usr/bin/env bash
# bench/write_path.sh — broker CPU and syscalls per message, TCP 1 -> 1 QoS 0
# (64-byte payloads), at several publish rates (see docs/benchmarks.md).
#
#   bench/write_path.sh [REVMQ_BUILD_DIR] [RATES...]     (rates per second, 0 = unpaced)
#   WP_SECONDS=5 WP_STRACE=1 bench/write_path.sh build 10000 100000 200000 0
#   WP_BENCH_ARGS="--qos 1" bench/write_path.sh build 10000 100000 0
#
# For each rate: broker CPU (utime+stime from /proc/<pid>/stat) over the run
# divided by messages received; with WP_STRACE=1 a second run under
# `strace -c -f` gives the syscalls per message received.
set -euo pipefail
bdir=$(cd "${1:-build}" && pwd)
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(10000 100000 200000 0)
secs=${WP_SECONDS:-5}
dir=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
printf 'node.data_dir = "%s/data"\nlog.level = warning\nlisteners.tcp.default.bind = "127.0.0.1:%s"\n' \
    "$dir" "$port" > "$dir/conf"
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start() {
    "$bdir/revmq" -c "$dir/conf" > "$dir/log" 2>&1 &
    bpid=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "broker did not start" >&2; cat "$dir/log" >&2; exit 1
}
# WP_BENCH_ARGS: more revmq-bench pubsub options, e.g. "--qos 1" or "--publishers 10 --subscribers 10"
run() {
    # shellcheck disable=SC2086
    "$bdir/revmq-bench" pubsub --port "$port" --duration "${secs}s" --pub-rate "$1" ${WP_BENCH_ARGS:-} --json --quiet
}
recv() { /usr/bin/python3 -c 'import json,sys;print(json.load(sys.stdin)["received"])'; }
printf '%-9s %12s %10s %14s %12s\n' rate received cpu_s cpu_us_per_msg syscalls/msg
for r in "${rates[@]}"; do
    start
    pid=$bpid
    c0=$(cpu "$pid")
    n=$(run "$r" | recv)
    c1=$(cpu "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    sc=-
    if [ "${WP_STRACE:-0}" = 1 ]; then
        start
        strace -c -f -p "$bpid" -o "$dir/strace" 2>/dev/null &
        spid=$!
        sleep 0.5
        ns=$(run "$r" | recv)
        kill -INT "$spid"; wait "$spid" 2>/dev/null || true
        kill "$bpid"; wait "$bpid" 2>/dev/null || true
        sc=$(/usr/bin/python3 - "$dir/strace" "$ns" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l[:1] == " " or l[:1].isdigit()]
calls = {r[-1]: int(r[3]) for r in rows if len(r) >= 5 and r[3].isdigit()}
n = max(int(sys.argv[2]), 1)
top = sorted(((v, k) for k, v in calls.items() if k != "total"), reverse=True)[:5]
print(f"{calls.get('total', 0) / n:.2f}", file=sys.stdout)
print("    " + ", ".join(f"{k} {v / n:.2f}" for v, k in top), file=sys.stderr)
PY
)
    fi
    /usr/bin/python3 -c "t=($c1-$c0)/$tck; print(f'{\"$r\":<9} {$n:>12} {t:>10.2f} {t*1e6/max($n,1):>14.2f} {\"$sc\":>12}')"
done
rm -rf "$dir"
