#!/usr/bin/env bash
# The revocation demo: revmq-ca + revmq on loopback, ready to try by hand.
#
#   bash scripts/demo.sh [BUILD_DIR]        (`make run` calls it; default BUILD_DIR=build)
#
# - revmq-ca: tenant "demo", CA "mqtt-ca" whose certificates carry a CRL distribution
#   point (revmq-ca's PEM endpoint) and an OCSP URL (revmq-ca's responder); a server
#   certificate for localhost/127.0.0.1 (auto-cert) and two device certificates.
#   Made on the first run in the demo directory and reused afterwards (a revoked or
#   expiring device certificate is re-issued, so the demo always starts clean).
# - `revmq-ca serve` on 127.0.0.1:4664 (CRLs and OCSP).
# - revmq: MQTT on TCP 127.0.0.1:1883 and mutual TLS 127.0.0.1:8883 with CRL checking
#   (from revmq-ca's PEM endpoint) and OCSP stapling (from revmq-ca's responder), both
#   refreshed every 5 s. No listener admits anonymous clients: TLS clients show a
#   certificate, TCP clients a username and password (user `demo`, its random password
#   made on the first run in the demo directory's users.csv, EMQX's bootstrap format).
#   A session belongs to whoever made it: a TCP client cannot take device 1's session.
# - Prints ready-to-paste commands (mosquitto_sub/pub over mutual TLS, openssl s_client
#   -status, and the revmq-ca command that revokes device 2), then follows revmq's log.
#   Ctrl-C (SIGINT) or SIGTERM stops both processes cleanly.
#
# Environment:
#   RMQ_DEMO_DIR       demo directory (default ./demo)
#   RMQ_DEMO_TCP_PORT  default 1883
#   RMQ_DEMO_SSL_PORT  default 8883
#   RMQ_DEMO_CA_PORT   default 4664 (a change re-creates the demo PKI: the URLs are
#                        in the certificates)
#   RMQ_DEMO_FOLLOW    1 (default): follow revmq's log on stdout; 0: only wait
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-build}"
case "$BUILD_DIR" in
  /*) ;;
  *) BUILD_DIR="$ROOT/$BUILD_DIR" ;;
esac
REVMQ="$BUILD_DIR/revmq"
CA_BIN="$BUILD_DIR/revmq-ca"
DEMO="${RMQ_DEMO_DIR:-$PWD/demo}"
TCP_PORT="${RMQ_DEMO_TCP_PORT:-1883}"
SSL_PORT="${RMQ_DEMO_SSL_PORT:-8883}"
CA_PORT="${RMQ_DEMO_CA_PORT:-4664}"
FOLLOW="${RMQ_DEMO_FOLLOW:-1}"
TENANT=demo
CA_NAME=mqtt-ca

say() { printf 'demo: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}

for b in "$REVMQ" "$CA_BIN"; do
  [ -x "$b" ] || die "$b not found; build first (make build)"
done
for p in "$TCP_PORT" "$SSL_PORT" "$CA_PORT"; do
  case "$p" in
    '' | *[!0-9]*) die "port '$p' is not a number" ;;
  esac
done
# A port that is taken: say which and what holds it (ss -ltnp), before starting anything.
holder() { # the process listening on TCP port $1 ("" if none or ss is missing)
  command -v ss > /dev/null || return 0
  ss -ltnpH "sport = :$1" 2> /dev/null |
    sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' | head -1
}
port_taken() { # port_taken PORT
  if command -v ss > /dev/null; then
    [ -n "$(ss -ltnH "sport = :$1" 2> /dev/null)" ]
  else
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null
  fi
}
for spec in "TCP_PORT:$TCP_PORT:MQTT over TCP" "SSL_PORT:$SSL_PORT:MQTT over TLS" \
  "CA_PORT:$CA_PORT:revmq-ca"; do
  var="${spec%%:*}"
  rest="${spec#*:}"
  p="${rest%%:*}"
  if port_taken "$p"; then
    h="$(holder "$p")"
    by="by $h"
    [ -n "$h" ] || by="(run ss -ltnp to see by what)"
    hint=""
    case "$h" in
      *mosquitto*) hint=" (the Debian package mosquitto starts a broker on 1883: systemctl stop mosquitto)" ;;
    esac
    die "port $p (${rest#*:}) is already taken $by; stop it or choose another port with RMQ_DEMO_$var=...$hint"
  fi
done
for tool in openssl mosquitto_sub mosquitto_pub; do
  command -v "$tool" > /dev/null || say "note: $tool is not installed (apt-get install openssl mosquitto-clients); the printed commands need it"
done

mkdir -p "$DEMO"
DEMO="$(cd "$DEMO" && pwd)"
CA_DIR="$DEMO/revmq-ca-data"
ca() { "$CA_BIN" --dir "$CA_DIR" "$@"; }

# ---------------------------------------------------------------- the demo PKI

url_port() { # the port of the CRL URL the CA puts into certificates ("" if no CA)
  ca ca show --ca "$CA_NAME" 2> /dev/null | sed -n 's|^crl-url: http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p'
}

status_of() { # status of a serial in list-certs: good, expired, revoked, or ""
  ca ca list-certs --ca "$CA_NAME" | awk -v s="$1" '$1 == s { print $6 }'
}

serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

cert_ok() { # usable: exists, not revoked, valid for at least another day
  [ -s "$1.pem" ] && [ -s "$1.key" ] || return 1
  openssl x509 -in "$1.pem" -noout -checkend 86400 > /dev/null || return 1
  [ "$(status_of "$(serial_of "$1.pem")")" = good ]
}

make_pki() {
  if [ -d "$CA_DIR" ] && [ "$(url_port)" != "$CA_PORT" ]; then
    say "the demo CA was made for port $(url_port), not $CA_PORT: making a new demo PKI"
    rm -rf "$CA_DIR" "$DEMO/server" "$DEMO/data" "$DEMO"/device-*.pem "$DEMO"/device-*.key \
      "$DEMO"/device-*-ca.pem
  fi
  if [ ! -d "$CA_DIR" ]; then
    say "making the demo PKI in $DEMO"
    ca init --tenant "$TENANT" > /dev/null
    ca ca create --name "$CA_NAME" \
      --crl-dist-url "http://127.0.0.1:$CA_PORT/crl-pem/\${SYS_TENANT_NAME}/\${SYS_CA_NAME}/\${SYS_CA_VERSION}" \
      --ocsp-responder-url "http://127.0.0.1:$CA_PORT/ocsp/\${SYS_TENANT_UUID}/\${SYS_CA_NAME}"
  fi
  # the broker's certificate: renewed when due; a revoked one is replaced
  if [ -s "$DEMO/server/cert.pem" ] && [ "$(status_of "$(serial_of "$DEMO/server/cert.pem")")" = revoked ]; then
    rm -f "$DEMO/server/cert.pem"
  fi
  ca --log-level warning auto-cert --ca "$CA_NAME" --host localhost --host 127.0.0.1 \
    --cert-type server --ttl 30d --refresh-threshold 15d --out-dir "$DEMO/server" --once
  for d in device-1 device-2; do
    if ! cert_ok "$DEMO/$d"; then
      ca ca issue-cert --ca "$CA_NAME" --host "$d" --cert-type client --ttl 365d \
        --out "$DEMO/$d" > /dev/null
    fi
  done
}

make_pki

UUID="$(ca get-tenant-uuid)"
CRL_URL="http://127.0.0.1:$CA_PORT/crl-pem/$TENANT/$CA_NAME/1"
OCSP_URL="http://127.0.0.1:$CA_PORT/ocsp/$UUID/$CA_NAME"
CA_PEM="$DEMO/server/ca-cert.pem"

# ---------------------------------------------------------------- processes

CA_PID=""
REVMQ_PID=""
TAIL_PID=""
STOPPING=0

stop_all() {
  local rc=$?
  [ "$STOPPING" = 1 ] && return
  STOPPING=1
  trap - INT TERM EXIT
  local pid
  for pid in $REVMQ_PID $CA_PID; do
    kill -TERM "$pid" 2> /dev/null || true
  done
  for pid in $REVMQ_PID $CA_PID; do
    wait "$pid" 2> /dev/null || true
  done
  if [ -n "$TAIL_PID" ]; then
    sleep 0.2 # let tail print revmq's last lines
    kill -TERM "$TAIL_PID" 2> /dev/null || true
    wait "$TAIL_PID" 2> /dev/null || true
  fi
  say "stopped (the demo PKI stays in $DEMO)"
  exit "$rc"
}
on_signal() {
  trap - INT TERM
  printf '\n' >&2
  exit 0 # runs stop_all via the EXIT trap with status 0
}
trap stop_all EXIT
trap on_signal INT TERM

wait_for() { # wait_for FILE REGEX SECONDS PID
  local deadline=$((SECONDS + $3))
  until grep -qE "$2" "$1" 2> /dev/null; do
    kill -0 "$4" 2> /dev/null || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

: > "$DEMO/revmq-ca.log"
"$CA_BIN" --dir "$CA_DIR" --log-level info serve --listen "127.0.0.1:$CA_PORT" \
  >> "$DEMO/revmq-ca.log" 2>&1 &
CA_PID=$!
wait_for "$DEMO/revmq-ca.log" '^listening ' 10 "$CA_PID" ||
  die "revmq-ca serve did not start on 127.0.0.1:$CA_PORT (port in use? set RMQ_DEMO_CA_PORT); log: $(tail -5 "$DEMO/revmq-ca.log")"

mkdir -p "$DEMO/data"
# the TCP listener's user (EMQX 5 bootstrap CSV, plain passwords; made once, kept)
USERS="$DEMO/users.csv"
if [ ! -s "$USERS" ]; then
  (
    umask 077
    printf 'user_id,password,is_superuser\ndemo,%s,false\n' "$(openssl rand -hex 12)" > "$USERS"
  )
fi
DEMO_PW="$(awk -F, '$1 == "demo" { print $2 }' "$USERS")"
[ -n "$DEMO_PW" ] || die "$USERS has no user demo (delete it to make a new one)"
cat > "$DEMO/revmq.conf" << CONF
# Written by scripts/demo.sh (every run): the revocation demo.
node.data_dir = "$DEMO/data"
log.level = info
# TCP clients need a username and password (the users of users.csv); TLS clients a
# certificate. Nobody is let in anonymously.
authentication = [
  {
    mechanism = password_based
    backend = built_in_database
    user_id_type = username
    bootstrap_file = "$USERS"
    bootstrap_type = plain
  }
]
listeners.tcp.default {
  bind = "127.0.0.1:$TCP_PORT"
  enable_authn = quick_deny_anonymous
}
listeners.ssl.default {
  bind = "127.0.0.1:$SSL_PORT"
  ssl_options {
    certfile = "$DEMO/server/cert.pem"
    keyfile = "$DEMO/server/cert.key"
    cacertfile = "$CA_PEM"
    verify = verify_peer
    fail_if_no_peer_cert = true
    reload_interval = 5s
    enable_crl_check = true
    crl_cache_urls = ["$CRL_URL"]
    ocsp {
      enable_ocsp_stapling = true
      responder_url = "$OCSP_URL"
      issuer_pem = "$CA_PEM"
      refresh_interval = 5s
      refresh_http_timeout = 5s
    }
  }
}
crl_cache {
  refresh_interval = 5s
  http_timeout = 5s
}
CONF

: > "$DEMO/revmq.log"
"$REVMQ" -c "$DEMO/revmq.conf" >> "$DEMO/revmq.log" 2>&1 &
REVMQ_PID=$!
if ! wait_for "$DEMO/revmq.log" 'broker: running' 30 "$REVMQ_PID"; then
  cat "$DEMO/revmq.log" >&2
  die "revmq did not start (ports $TCP_PORT/$SSL_PORT in use? set RMQ_DEMO_TCP_PORT / RMQ_DEMO_SSL_PORT)"
fi

# ---------------------------------------------------------------- instructions

q() { printf '%q' "$1"; }
D1="--cafile $(q "$CA_PEM") --cert $(q "$DEMO/device-1.pem") --key $(q "$DEMO/device-1.key")"
D2="--cafile $(q "$CA_PEM") --cert $(q "$DEMO/device-2.pem") --key $(q "$DEMO/device-2.key")"
SERIAL2="$(serial_of "$DEMO/device-2.pem")"

cat << EOF

revmq demo is running (config $DEMO/revmq.conf, log $DEMO/revmq.log)
  MQTT over TCP          127.0.0.1:$TCP_PORT  (username demo, password in $USERS)
  MQTT over mutual TLS   127.0.0.1:$SSL_PORT  (CRL checking and OCSP stapling, refreshed every 5 s)
  revmq-ca               http://127.0.0.1:$CA_PORT  CRL $CRL_URL
                                                OCSP $OCSP_URL
  demo PKI               $DEMO (kept for the next run)

Paste these into another terminal:

1. Subscribe as device 1 over mutual TLS:
    mosquitto_sub -h localhost -p $SSL_PORT $D1 -i device-1 -t 'demo/#' -v

2. Publish as device 2:
    mosquitto_pub -h localhost -p $SSL_PORT $D2 -i device-2-pub -t demo/hello -m 'hello from device 2'

3. See the OCSP staple of the broker's certificate ("Cert Status: good"):
    openssl s_client -connect 127.0.0.1:$SSL_PORT -servername localhost -status -CAfile $(q "$CA_PEM") -cert $(q "$DEMO/device-1.pem") -key $(q "$DEMO/device-1.key") < /dev/null 2>&1 | grep -E 'OCSP Response Status|Cert Status'

4. Keep device 2 connected (MQTT 5; it prints what the broker sends):
    mosquitto_sub -h localhost -p $SSL_PORT $D2 -i device-2-sub -t 'demo/#' -V mqttv5 -d

5. Revoke device 2 at the CA:
    $(q "$CA_BIN") --dir $(q "$CA_DIR") ca revoke-cert --ca $CA_NAME --reason keyCompromise $SERIAL2

   Within 5 s revmq fetches the new CRL and disconnects device 2 ("Received DISCONNECT (152)",
   certificate revoked); publishing as device 2 (step 2) now fails.
   The next run of this script issues device 2 a new certificate.

6. See why: the TLS alert device 2 now gets (44, certificate revoked):
    (sleep 1) | openssl s_client -connect 127.0.0.1:$SSL_PORT -servername localhost -CAfile $(q "$CA_PEM") -cert $(q "$DEMO/device-2.pem") -key $(q "$DEMO/device-2.key") 2>&1 | grep -E 'alert'

   revmq's log names it too: "handshake failed listener=ssl:default … error="sent alert 44
   (certificate revoked) …"".

7. Over TCP a password is needed (anonymous clients and wrong passwords are refused):
    mosquitto_pub -h localhost -p $TCP_PORT -u demo -P $DEMO_PW -i tcp-pub -t demo/hello -m 'hello over TCP'

8. With device 1 subscribed (step 1), try to take its session from TCP with its client id:
    mosquitto_sub -h localhost -p $TCP_PORT -u demo -P $DEMO_PW -i device-1 -c -t 'demo/#' -V mqttv5

   revmq refuses it ("Not authorized", CONNACK 0x87) and device 1 stays connected: a
   session belongs to the certificate that made it (docs/access-control.md).

Ctrl-C stops revmq and revmq-ca. Guides: docs/revocation.md, docs/access-control.md.
revmq's log follows.

EOF

if [ "$FOLLOW" = 1 ]; then
  tail -n +1 -f "$DEMO/revmq.log" &
  TAIL_PID=$!
fi
# `wait` returns at once when a trapped signal arrives; otherwise when revmq exits.
set +e
wait "$REVMQ_PID"
rc=$?
REVMQ_PID=""
set -e
# Ctrl-C reaches revmq too (same process group): it may stop (status 0) before this
# shell runs its trap; that is a normal stop, not a failure.
[ "$STOPPING" = 1 ] || [ "$rc" = 0 ] || {
  say "revmq exited with status $rc"
  exit 1
}
exit 0
