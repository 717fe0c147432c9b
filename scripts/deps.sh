#!/usr/bin/env bash
# Installs every Debian package revmq's build, tests and benchmarks need.
# Idempotent: packages already present are not reinstalled; apt is not even
# consulted when everything is there.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libssl-dev libevent-dev libcurl4-openssl-dev libsqlite3-dev libcmocka-dev
  libjansson-dev libcrypt-dev
  openssl curl valgrind strace  # strace: test_net_write_path (epoll_ctl per write)
  python3 python3-pytest python3-paho-mqtt
  mosquitto mosquitto-clients
  haproxy libwslay-dev libsystemd-dev
  chromium man-db systemd  # dashboard test (headless), man pages and unit checks (test_install)
)

missing=()
for p in "${PKGS[@]}"; do
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
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
