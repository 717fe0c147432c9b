#!/usr/bin/env bash
# Installs the Debian packages revmq needs, by purpose:
#
#   scripts/deps.sh build   compile revmq (what `make build` needs)
#   scripts/deps.sh run     build + what `make run` (scripts/demo.sh) runs: openssl,
#                           mosquitto-clients (NOT the mosquitto broker: Debian starts it
#                           on port 1883, where the demo listens), ss (iproute2)
#   scripts/deps.sh test    run + unit/integration/sanitizer/fuzz/valgrind tooling, the
#                           Mosquitto broker the tests compare with, haproxy, chromium, …
#   scripts/deps.sh bench   run + the Mosquitto broker the benchmarks compare with,
#                           liblmdb-dev (bench_store_engines: SQLite vs LMDB)
#   scripts/deps.sh all     every set (the default without an argument)
#
# Several purposes may be given. Idempotent: packages already present are not
# reinstalled; apt is not even consulted when everything is there.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config
  libssl-dev libevent-dev libcurl4-openssl-dev libsqlite3-dev
  libjansson-dev libcrypt-dev libwslay-dev libsystemd-dev
)
RUN_PKGS=(openssl mosquitto-clients iproute2)
TEST_PKGS=(
  clang clang-format-15 libclang-rt-14-dev libcmocka-dev  # clang-format 15: InsertBraces
  curl valgrind strace gdb  # strace: test_net_write_path; gdb: stacks of a broker that hangs
  python3 python3-pytest python3-paho-mqtt
  mosquitto haproxy
  chromium man-db systemd  # dashboard test (headless), man pages and unit checks (test_install)
)
BENCH_PKGS=(mosquitto python3 liblmdb-dev)  # liblmdb-dev: bench_store_engines (optional target)

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

purposes=("$@")
[ ${#purposes[@]} -eq 0 ] && purposes=(all)
PKGS=()
for p in "${purposes[@]}"; do
  case "$p" in
    build) PKGS+=("${BUILD_PKGS[@]}") ;;
    run) PKGS+=("${BUILD_PKGS[@]}" "${RUN_PKGS[@]}") ;;
    test) PKGS+=("${BUILD_PKGS[@]}" "${RUN_PKGS[@]}" "${TEST_PKGS[@]}") ;;
    bench) PKGS+=("${BUILD_PKGS[@]}" "${RUN_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
    all) PKGS+=("${BUILD_PKGS[@]}" "${RUN_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
    list) ;;
    -h|--help) usage ;;
    *) echo "deps: unknown purpose '$p' (build, run, test, bench, all)" >&2; usage ;;
  esac
done

# `scripts/deps.sh list PURPOSE…`: print the packages, install nothing (tests, docs).
if [ "${purposes[0]}" = list ]; then
  printf '%s\n' "${PKGS[@]}" | sort -u
  exit 0
fi

missing=()
for p in $(printf '%s\n' "${PKGS[@]}" | sort -u); do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "deps (${purposes[*]}): installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
