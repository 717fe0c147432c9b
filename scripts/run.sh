#!/usr/bin/env bash
# Runs the broker in the foreground on TCP 127.0.0.1:1883 with a default configuration
# (`make run` calls this as `bash scripts/run.sh BUILD_DIR`). Ctrl-C stops it.
# Override the config with REVMQ_CONFIG=FILE; REVMQ_* / EMQX_* environment
# variables overlay it as usual.
set -euo pipefail

BUILD_DIR="${1:-build}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "$BUILD_DIR" in
  /*) ;;
  *) BUILD_DIR="$ROOT/$BUILD_DIR" ;;
esac
BIN="$BUILD_DIR/revmq"
if [ ! -x "$BIN" ]; then
  echo "run.sh: $BIN not found; build first (make build)" >&2
  exit 1
fi

RUN_DIR="$BUILD_DIR/run"
mkdir -p "$RUN_DIR/data"
CONF="${REVMQ_CONFIG:-$RUN_DIR/revmq.conf}"
if [ -z "${REVMQ_CONFIG:-}" ]; then
  cat > "$CONF" <<CONF
# Written by scripts/run.sh: the default broker for a quick try.
node.data_dir = "$RUN_DIR/data"
log.level = info
listeners.tcp.default.bind = "127.0.0.1:1883"
CONF
fi

echo "run.sh: revmq on tcp 127.0.0.1:1883, loopback only, no authentication (config $CONF); Ctrl-C stops it" >&2
exec "$BIN" -c "$CONF"
