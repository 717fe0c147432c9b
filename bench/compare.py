#!/usr/bin/python3
"""bench/compare.py — revmq, Mosquitto (and NanoMQ) side by side, on loopback.

What it is: the benchmark driver of docs/benchmarks.md. It makes one PKI
(ECDSA P-256, openssl CLI), CRLs of N entries (`revmq-bench gen-crl`), starts
revmq and Debian's Mosquitto 2 with the same certificates and the same CRL,
drives both with the same `revmq-bench` load in A B A B rounds, and prints
medians and ratios revmq/Mosquitto:

  handshake   mutual-TLS 1.3 handshakes/s (and broker CPU per handshake)
              with no CRL and with CRLs of each size in BENCH_CRL_SIZES
  throughput  QoS 0 / QoS 1 messages/s, 64-byte payloads, over each of
              BENCH_PS_TRANSPORTS (plain TCP, mutual TLS 1.3), 1 -> 1 and
              10 -> 10 (10 publisher/subscriber pairs)
  goodput     the highest delivered rate with ZERO loss, found by stepping
              revmq-bench --pub-rate up (x2 per step, then one step back
              half-way) for each throughput test, beside the overload figure
  flood       CONNACK latency of fresh clients (plain TCP) while one raw
              client floods QoS 0 PUBLISHes as fast as its socket takes them
  memory      broker RSS per idle mutual-TLS connection (BENCH_HOLD of them)
  refresh     revmq alone: time and peak memory to fetch, verify and index a
              BENCH_BIG_CRL-entry CRL over HTTP, and the handshake rate while
              that refresh runs
  ceiling     crypto-bound handshake ceiling from `openssl speed`
  persist     QoS 1, 1 -> 1 and 10 -> 10, subscribers with persistent
              sessions (plain TCP, MQTT 3.1.1 clean session 0): revmq in
              memory (durable_sessions.enable = false), revmq with its store
              (the default), Mosquitto with `persistence true`
  restart     revmq (store on) and Mosquitto (persistence true): one offline
              persistent subscriber, BENCH_RESTART_MSGS QoS 1 messages queued
              for it, graceful stop, then the time from exec to the first
              CONNACK, and every message read back after the restart

NanoMQ (BENCH_NANOMQ=/path/to/nanomq, built by /work/shared/tools/
build-nanomq.sh or any NanoMQ 0.2x) joins revmq and Mosquitto in the
throughput, goodput and flood scenarios when given; without it those run
with the two others and say so. Its HOCON configuration is written here.

What it is not: a test. It asserts nothing about the brokers except that a
revoked certificate is refused (otherwise a CRL number would be meaningless).

Brokers are pinned to CPU 0 and revmq-bench to CPU 1 (BENCH_PIN=0 turns it
off) so that the load generator and the broker do not fight for one core.

Environment (defaults; BENCH_QUICK=1 gives a ~5-minute version):
  RMQ_BUILD_DIR        build dir with revmq and revmq-bench (../build)
  MOSQUITTO            mosquitto binary (mosquitto)
  BENCH_NANOMQ         NanoMQ binary (unset: NanoMQ is not measured)
  BENCH_SCENARIOS      "ceiling handshake throughput goodput flood memory refresh"
                       (persist and restart are run when named)
  BENCH_PS_TRANSPORTS  "tcp mtls"       transports of throughput and goodput
  BENCH_RESTART_MSGS   1000000 (quick 100000) messages stored for the restart
  BENCH_GP_DURATION    3 (quick 2)      seconds per goodput step
  BENCH_GP_START       2000 (quick 5000) first --pub-rate per publisher
  BENCH_FLOOD_CLIENTS  20               fresh clients timed during the flood
  BENCH_ROUNDS         3 (quick 1)      A B rounds per measurement
  BENCH_HS_DURATION    10 (quick 2)     seconds per handshake run
  BENCH_HS_CONCURRENCY 32
  BENCH_CRL_SIZES      "0 10000 1000000" (quick "0 10000")
  BENCH_PS_DURATION    5 (quick 2)      seconds per pubsub run
  BENCH_HOLD           10000 (quick 1000) idle connections
  BENCH_BIG_CRL        1000000 (quick 100000) entries for the refresh test
  BENCH_PIN            1
  BENCH_CLIENT_CERTS   100 (quick 20)  distinct client certificates, round robin
  BENCH_OUT            output dir (a new /tmp/revmq-bench.* dir)
Results: printed, and written to $BENCH_OUT/results.json.
"""
import calendar
import itertools
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = os.environ.get("BENCH_QUICK", "0") not in ("", "0")


def env_int(name, full, quick):
    return int(os.environ.get(name, quick if QUICK else full))


BUILD = os.environ.get("RMQ_BUILD_DIR", os.path.join(ROOT, "build"))
REVMQ = os.path.join(BUILD, "revmq")
BENCH = os.path.join(BUILD, "revmq-bench")
MOSQ = os.environ.get("MOSQUITTO", "mosquitto")
NANOMQ = os.environ.get("BENCH_NANOMQ") or None
PS_TRANSPORTS = os.environ.get("BENCH_PS_TRANSPORTS", "tcp mtls").split()
RESTART_MSGS = env_int("BENCH_RESTART_MSGS", 1000000, 100000)
SCENARIOS = os.environ.get("BENCH_SCENARIOS",
                           "ceiling handshake throughput goodput flood memory refresh").split()
GP_DUR = env_int("BENCH_GP_DURATION", 3, 2)
GP_START = env_int("BENCH_GP_START", 2000, 5000)
FLOOD_CLIENTS = env_int("BENCH_FLOOD_CLIENTS", 20, 20)
ROUNDS = env_int("BENCH_ROUNDS", 3, 1)
HS_DUR = env_int("BENCH_HS_DURATION", 10, 2)
HS_CONC = env_int("BENCH_HS_CONCURRENCY", 32, 32)
CRL_SIZES = [int(x) for x in os.environ.get(
    "BENCH_CRL_SIZES", "0 10000" if QUICK else "0 10000 1000000").split()]
PS_DUR = env_int("BENCH_PS_DURATION", 5, 2)
HOLD_N = env_int("BENCH_HOLD", 10000, 1000)
BIG_CRL = env_int("BENCH_BIG_CRL", 1000000, 100000)
PIN = os.environ.get("BENCH_PIN", "1") != "0" and os.cpu_count() >= 2
CLIENT_CERTS = env_int("BENCH_CLIENT_CERTS", 100, 20)
SRC_IPS = "127.0.0.1-127.0.0.16"
CLK_TCK = os.sysconf("SC_CLK_TCK")
REVOKED_SERIAL = "2002"

# The brokers of the throughput, goodput and flood scenarios (NanoMQ when given).
PEERS = ["revmq", "mosquitto"] + (["nanomq"] if NANOMQ else [])

OUT = os.environ.get("BENCH_OUT") or tempfile.mkdtemp(prefix="revmq-bench.")
os.makedirs(OUT, exist_ok=True)
PROCS = []  # every process we started, stopped at exit


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pinned(cpu, argv):
    return (["taskset", "-c", str(cpu)] + argv) if PIN else argv


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def stop(proc, sig=signal.SIGTERM, timeout=20):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in PROCS:
        PROCS.remove(proc)


def stop_all():
    for p in list(PROCS):
        stop(p)


# ---------------------------------------------------------------- PKI, CRLs

def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def make_pki(d):
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt",
         "-subj", "/CN=revmq bench CA", "-days", "30", "-sha256"])
    ext = {
        "server": "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                  "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        "client": "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    }
    for name, kind, serial in (("server", "server", "1001"), ("client", "client", "2001"),
                               ("revoked", "client", REVOKED_SERIAL)):
        with open(f"{d}/{kind}.ext", "w") as f:
            f.write(ext[kind])
        run(["openssl", "req", "-new", *ec, "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr",
             "-subj", f"/CN=bench {name}"])
        run(["openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.crt",
             "-CAkey", f"{d}/ca.key", "-set_serial", "0x" + serial, "-days", "30", "-sha256",
             "-extfile", f"{d}/{kind}.ext", "-out", f"{d}/{name}.crt"])
    # Many clients, as in real life: <dir>/clients/<n>.crt + <n>.key for --cert-dir.
    cd = os.path.join(d, "clients")
    os.makedirs(cd, exist_ok=True)
    for i in range(CLIENT_CERTS):
        run(["openssl", "req", "-new", *ec, "-keyout", f"{cd}/{i}.key", "-out", f"{cd}/{i}.csr",
             "-subj", f"/CN=bench client {i}"])
        run(["openssl", "x509", "-req", "-in", f"{cd}/{i}.csr", "-CA", f"{d}/ca.crt",
             "-CAkey", f"{d}/ca.key", "-set_serial", str(0x10000 + i), "-days", "30", "-sha256",
             "-extfile", f"{d}/client.ext", "-out", f"{cd}/{i}.crt"])
    for top, dirs, files in os.walk(d):  # Mosquitto reads them after dropping to its own user
        os.chmod(top, 0o755)
        for f in files:
            os.chmod(os.path.join(top, f), 0o644)
    return d


# CRL numbers strictly increase: gen-crl's default (the time in seconds) can
# repeat for two CRLs made within a second, and revmq refuses a new CRL that
# reuses the number of the one in force (crl_number_reused).
CRL_NUMBERS = itertools.count(int(time.time()))


def gen_crl(pki, n, out, der=False):
    t = time.time()
    argv = [BENCH, "gen-crl", "--ca-cert", f"{pki}/ca.crt", "--ca-key", f"{pki}/ca.key",
            "--entries", str(n), "--include-serial", REVOKED_SERIAL, "--out", out + ".tmp",
            "--crl-number", str(next(CRL_NUMBERS))]
    run(pinned(1, argv + (["--der"] if der else [])))
    os.replace(out + ".tmp", out)
    os.chmod(out, 0o644)
    return time.time() - t


# ---------------------------------------------------------------- brokers

class Broker:
    def __init__(self, kind, pki, crl, tag, extra=None, log_level="warning"):
        self.kind, self.pki, self.crl, self.tag = kind, pki, crl, tag
        self.port = free_port()
        self.extra = extra or {}
        self.log_level = log_level
        self.dir = os.path.join(OUT, f"{kind}-{tag}")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.logfile = os.path.join(self.dir, "broker.log")
        self.proc = None

    def _revmq_conf(self):
        p = self.pki
        if self.extra.get("tcp"):
            conf = (f'node.data_dir = "{self.dir}/data"\nlog.level = {self.log_level}\n'
                    f'listeners.tcp.default.bind = "127.0.0.1:{self.port}"\n')
            if "durable" in self.extra:
                conf += f"durable_sessions.enable = {'true' if self.extra['durable'] else 'false'}\n"
            if "mqueue" in self.extra:
                conf += f"mqtt.max_mqueue_len = {self.extra['mqueue']}\n"
            if "flush_delay" in self.extra:
                conf += f"durable_sessions.flush_delay = {self.extra['flush_delay']}\n"
            return conf
        lines = [
            f'node.data_dir = "{self.dir}/data"',
            f"log.level = {self.log_level}",
            "listeners.tcp.default.enable = false",
            "listeners.ssl.default {",
            f'  bind = "127.0.0.1:{self.port}"',
            "  ssl_options {",
            f'    certfile = "{p}/server.crt"',
            f'    keyfile = "{p}/server.key"',
            f'    cacertfile = "{p}/ca.crt"',
            "    verify = verify_peer",
            "    fail_if_no_peer_cert = true",
            "    versions = [tlsv1.3]",
            f"    enable_crl_check = {'true' if (self.crl or self.extra.get('urls')) else 'false'}",
        ]
        if self.crl:
            lines.append(f'    crlfile = ["{self.crl}"]')
        if self.extra.get("urls"):
            lines.append("    crl_cache_urls = [" + ", ".join(f'"{u}"' for u in self.extra["urls"]) + "]")
        lines += ["  }", "}", "crl_cache.max_size = 1GB", "crl_cache.discover_from_cert = false",
                  "crl_cache.refresh_interval = 1d", "crl_cache.http_timeout = 2m"]
        return "\n".join(lines) + "\n"

    def _mosq_conf(self):
        p = self.pki
        if self.extra.get("tcp"):
            conf = ("allow_anonymous true\nconnection_messages false\nlog_dest stderr\n"
                    f"log_type error\nlog_type warning\nlistener {self.port} 127.0.0.1\n")
            if self.extra.get("persist"):
                # As root Mosquitto drops to the `mosquitto` user, which could
                # not write its database here; autosave_interval 1800 s is
                # Mosquitto's default, stated so the figure can be read.
                conf += (f"user root\npersistence true\npersistence_location {self.dir}/\n"
                         "autosave_interval 1800\nautosave_on_changes false\n")
            if "mqueue" in self.extra:
                conf += f"max_queued_messages {self.extra['mqueue']}\n"
            return conf
        lines = ["per_listener_settings false", "allow_anonymous true", "connection_messages false",
                 "log_dest stderr", "log_type error", "log_type warning",
                 f"listener {self.port} 127.0.0.1", f"cafile {p}/ca.crt",
                 f"certfile {p}/server.crt", f"keyfile {p}/server.key",
                 "require_certificate true", "tls_version tlsv1.3",
                 "set_tcp_nodelay true"]
        if self.crl:
            lines.append(f"crlfile {self.crl}")
        return "\n".join(lines) + "\n"

    def _nanomq_conf(self):
        """NanoMQ's HOCON: its defaults but for the listener, quiet logs and
        anonymous access (num_taskq_thread = 0: as many task threads as
        cores, NanoMQ's default; under taskset they share CPU 0 like
        revmq's workers)."""
        p = self.pki
        lines = ["system {", "  num_taskq_thread = 0", "  max_taskq_thread = 0", "}",
                 "mqtt {", "  max_mqueue_len = 2048", "}"]
        if self.extra.get("tcp"):
            lines += ["listeners.tcp {", f'  bind = "127.0.0.1:{self.port}"', "}"]
        else:
            # NanoMQ's engine `open` (OpenSSL 3) negotiates TLS 1.3 with
            # revmq-bench --tls-version 1.3; it has no CRL support.
            lines += ["listeners.tcp {", f'  bind = "127.0.0.1:{free_port()}"', "}",
                      "listeners.ssl {", f'  bind = "127.0.0.1:{self.port}"',
                      f'  keyfile = "{p}/server.key"', f'  certfile = "{p}/server.crt"',
                      f'  cacertfile = "{p}/ca.crt"', "  verify_peer = true",
                      "  fail_if_no_peer_cert = true", "}"]
        lines += ["log {", "  to = [console]", "  level = error", "}",
                  "auth {", "  allow_anonymous = true", "  no_match = allow",
                  "  deny_action = ignore", "}"]
        return "\n".join(lines) + "\n"

    def start(self, timeout=180):
        conf = os.path.join(self.dir, "broker.conf")
        with open(conf, "w") as f:
            f.write({"revmq": self._revmq_conf, "mosquitto": self._mosq_conf,
                     "nanomq": self._nanomq_conf}[self.kind]())
        argv = {"revmq": [REVMQ, "-c", conf], "mosquitto": [MOSQ, "-c", conf],
                "nanomq": [NANOMQ or "nanomq", "start", "--conf", conf]}[self.kind]
        # NanoMQ refuses to start while its pid file (/tmp/nanomq/nanomq.pid
        # by default) names a live process: one per broker directory.
        env = dict(os.environ, NANOMQ_PID_FILE=os.path.join(self.dir, "nanomq.pid"))
        lf = open(self.logfile, "a")
        self.t_start = time.time()
        self.proc = subprocess.Popen(pinned(0, argv), stdout=lf, stderr=subprocess.STDOUT,
                                     cwd=self.dir, env=env)
        PROCS.append(self.proc)
        wait_port(self.port, self.proc, timeout)
        self.t_ready = time.time()
        time.sleep(0.3)
        return self

    def stop(self, timeout=20):
        if self.proc:
            stop(self.proc, timeout=timeout)
            self.proc = None

    def pid(self):
        return self.proc.pid

    def cpu_ticks(self):
        with open(f"/proc/{self.pid()}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])  # utime + stime (fields 14, 15)

    def wait_idle(self, timeout=60):
        """Waits until the broker uses no CPU for 0.5 s (work left over from
        connections a timed run abandoned must not bleed into the next run)."""
        end = time.time() + timeout
        last = self.cpu_ticks()
        quiet_since = time.time()
        while time.time() < end:
            time.sleep(0.1)
            now = self.cpu_ticks()
            if now != last:
                last, quiet_since = now, time.time()
            elif time.time() - quiet_since >= 0.5:
                return

    def status_kb(self, key):
        with open(f"/proc/{self.pid()}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def log_text(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()


def bench(args, pki=None, mtls=True, timeout=600, many=False):
    argv = [BENCH] + args + ["--json"]
    if mtls and many:
        argv += ["--cert-dir", f"{pki}/clients", "--tls-version", "1.3"]
    elif mtls:
        argv += ["--cert", f"{pki}/client.crt", "--key", f"{pki}/client.key", "--tls-version", "1.3"]
    p = subprocess.run(pinned(1, argv), capture_output=True, text=True, timeout=timeout)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "{}"
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        raise RuntimeError(f"revmq-bench printed no JSON: {p.stdout!r} {p.stderr[-500:]!r}")


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return (a / b) if (a is not None and b) else None


# ---------------------------------------------------------------- scenarios

def crypto_ceiling():
    out = subprocess.run(pinned(0, ["openssl", "speed", "-seconds", "1", "ecdsap256", "ecdhx25519"]),
                         capture_output=True, text=True).stdout
    m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", out)
    x = re.search(r"253 bits ecdh \(X25519\)\s+\S+\s+([\d.]+)", out)
    sign_us, verify_us, x25519_us = 1e6 / float(m.group(1)), 1e6 / float(m.group(2)), 1e6 / float(x.group(1))
    # Server side of a mutual-TLS 1.3 handshake: sign its CertificateVerify,
    # verify the client certificate's signature and the client's
    # CertificateVerify, X25519 key generation and shared-secret derivation.
    per_hs = sign_us + 2 * verify_us + 2 * x25519_us
    return {"ecdsa_p256_sign_us": sign_us, "ecdsa_p256_verify_us": verify_us,
            "x25519_us": x25519_us, "server_crypto_us_per_handshake": per_hs,
            "ceiling_handshakes_per_sec_per_core": 1e6 / per_hs}


def check_revocation(b, pki):
    good = bench(["connect", "--port", str(b.port), "--count", "20", "--concurrency", "5"], pki)
    bad = bench(["connect", "--port", str(b.port), "--count", "5", "--concurrency", "5",
                 "--cert", f"{pki}/revoked.crt", "--key", f"{pki}/revoked.key"], pki, mtls=False)
    return {"good_ok": good.get("connections_ok"), "revoked_errors": bad.get("errors")}


def handshake_run(b, pki):
    b.wait_idle()
    t0 = b.cpu_ticks()
    r = bench(["connect", "--port", str(b.port), "--count", "100000000", "--duration", f"{HS_DUR}s",
               "--concurrency", str(HS_CONC), "--source-ips", SRC_IPS, "--timeout", "120s",
               "--quiet"], pki, many=True)
    cpu_s = (b.cpu_ticks() - t0) / CLK_TCK
    ok = r.get("connections_ok", 0)
    return {"rate": r.get("connects_per_sec"), "ok": ok, "failed": r.get("connections_failed"),
            "errors": r.get("errors"), "p50_us": r["connect_latency_us"]["p50"],
            "p99_us": r["connect_latency_us"]["p99"],
            "broker_cpu_us_per_hs": (cpu_s * 1e6 / ok) if ok else None}


def scenario_handshake(pki, results):
    res = results.setdefault("handshake", {})
    for n in CRL_SIZES:
        crl = None
        entry = {}
        if n:
            crl = os.path.join(OUT, f"crl-{n}.pem")
            entry["gen_crl_seconds"] = gen_crl(pki, n, crl)
        brokers = {}
        for kind in ("revmq", "mosquitto"):
            b = Broker(kind, pki, crl, f"hs{n}").start()
            entry[f"{kind}_start_seconds"] = b.t_ready - b.t_start
            brokers[kind] = b
        try:
            for kind, b in brokers.items():
                entry[f"{kind}_check"] = check_revocation(b, pki) if n else None
                # warm-up, count-bound so nothing is left in flight (with a big
                # crlfile Mosquitto accepts on its port before it has loaded it)
                t = time.time()
                bench(["connect", "--port", str(b.port), "--count", str(2 * HS_CONC), "--concurrency",
                       str(HS_CONC), "--timeout", "120s", "--quiet"], pki, many=True)
                entry[f"{kind}_first_handshakes_seconds"] = time.time() - t
            runs = {"revmq": [], "mosquitto": []}
            for r in range(ROUNDS):
                for kind in ("revmq", "mosquitto"):
                    x = handshake_run(brokers[kind], pki)
                    runs[kind].append(x)
                    log(f"handshake crl={n} round={r + 1} {kind}: {x['rate']:.0f}/s "
                        f"cpu/hs={x['broker_cpu_us_per_hs'] or 0:.0f}us errors={x['errors']}")
            entry["runs"] = runs
            for kind, b in brokers.items():
                entry[f"{kind}_rss_kb"] = b.status_kb("VmRSS")
            for kind in runs:
                entry[f"{kind}_rate"] = median([x["rate"] for x in runs[kind]])
                entry[f"{kind}_cpu_us_per_hs"] = median([x["broker_cpu_us_per_hs"] for x in runs[kind]])
                entry[f"{kind}_p99_us"] = median([x["p99_us"] for x in runs[kind]])
            entry["ratio_rate"] = ratio(entry["revmq_rate"], entry["mosquitto_rate"])
            entry["ratio_cpu_per_hs"] = ratio(entry["revmq_cpu_us_per_hs"], entry["mosquitto_cpu_us_per_hs"])
        finally:
            for b in brokers.values():
                b.stop()
        res[str(n)] = entry


def ps_cell(x):
    return {k: x.get(k) for k in ("sent_per_sec", "received_per_sec", "lost", "duplicates",
                                  "reordered", "sent", "acked", "received", "errors")} | {
        "p50_us": x.get("latency_us", {}).get("p50"), "p99_us": x.get("latency_us", {}).get("p99")}


def ps_summary(e, runs):
    for kind in runs:
        e[f"{kind}_recv_per_sec"] = median([x["received_per_sec"] for x in runs[kind]])
        e[f"{kind}_p50_us"] = median([x["p50_us"] for x in runs[kind]])
        e[f"{kind}_lost"] = sum(x["lost"] or 0 for x in runs[kind])
        e[f"{kind}_dups"] = sum(x["duplicates"] or 0 for x in runs[kind])
        e[f"{kind}_reordered"] = sum(x["reordered"] or 0 for x in runs[kind])
        e[f"{kind}_errors"] = [x["errors"] for x in runs[kind] if x["errors"]]
    for kind in runs:
        if kind != "revmq":
            e[f"ratio_{kind}"] = ratio(e.get("revmq_recv_per_sec"), e[f"{kind}_recv_per_sec"])
    e["ratio"] = e.get("ratio_mosquitto")


def ps_args(b, transport):
    """revmq-bench options for a broker's listener: TCP, or mutual TLS 1.3."""
    return [] if transport == "tcp" else [
        "--cert", f"{b.pki}/client.crt", "--key", f"{b.pki}/client.key", "--tls-version", "1.3"]


def scenario_throughput(pki, results):
    res = results.setdefault("throughput", {})
    for transport in PS_TRANSPORTS:
        brokers = {k: Broker(k, pki, None, f"ps-{transport}", extra={"tcp": transport == "tcp"})
                   .start() for k in PEERS}
        try:
            for qos in (0, 1):
                for n in (1, 10):
                    key = f"{transport}_qos{qos}_{n}to{n}"
                    runs = {k: [] for k in brokers}
                    for r in range(ROUNDS):
                        for kind, b in brokers.items():
                            b.wait_idle()
                            x = bench(["pubsub", "--port", str(b.port), "--publishers", str(n),
                                       "--subscribers", str(n), "--topics", str(n), "--qos",
                                       str(qos), "--payload", "64", "--duration", f"{PS_DUR}s",
                                       "--quiet"] + ps_args(b, transport), mtls=False)
                            runs[kind].append(ps_cell(x))
                            log(f"throughput {key} round={r + 1} {kind}: recv "
                                f"{x.get('received_per_sec', 0):.0f}/s lost={x.get('lost')} "
                                f"dups={x.get('duplicates')} reordered={x.get('reordered')} "
                                f"errors={x.get('errors')}")
                    e = {"transport": transport, "qos": qos, "n": n, "runs": runs}
                    ps_summary(e, runs)
                    res[key] = e
        finally:
            for b in brokers.values():
                b.stop()


def pubsub_at(b, transport, qos, n, rate):
    """One pubsub run at --pub-rate `rate` per publisher (0 = unpaced)."""
    x = bench(["pubsub", "--port", str(b.port), "--publishers", str(n), "--subscribers", str(n),
               "--topics", str(n), "--qos", str(qos), "--payload", "64", "--duration",
               f"{GP_DUR}s", "--pub-rate", str(rate), "--quiet"] + ps_args(b, transport),
              mtls=False)
    return {k: x.get(k) for k in ("sent_per_sec", "received_per_sec", "lost", "sent", "received",
                                  "duplicates", "reordered", "errors")}


def goodput(b, transport, qos, n):
    """Highest received/s with nothing lost: --pub-rate doubles from GP_START
    while nothing is lost and the delivered rate still grows; after the first
    step with loss, one step half-way back. Returns (best, steps)."""
    steps, best, rate, bad = [], None, GP_START, None
    for _ in range(12):
        b.wait_idle()
        x = pubsub_at(b, transport, qos, n, rate) | {"pub_rate": rate}
        steps.append(x)
        log(f"goodput {transport}_qos{qos}_{n}to{n} {b.kind} pub-rate={rate}/s: recv "
            f"{x['received_per_sec']:.0f}/s lost={x['lost']} errors={x['errors']}")
        if x["lost"] or x["errors"]:
            bad = rate
            break
        if best is not None and x["received_per_sec"] < 1.05 * best["received_per_sec"]:
            best = x if x["received_per_sec"] > best["received_per_sec"] else best
            break  # no longer growing: the broker (or the generator) is the limit
        best = x
        rate *= 2
    if bad is not None and best is not None:
        mid = (best["pub_rate"] + bad) // 2
        b.wait_idle()
        x = pubsub_at(b, transport, qos, n, mid) | {"pub_rate": mid}
        steps.append(x)
        log(f"goodput {transport}_qos{qos}_{n}to{n} {b.kind} pub-rate={mid}/s: recv "
            f"{x['received_per_sec']:.0f}/s lost={x['lost']}")
        if not x["lost"] and not x["errors"] and x["received_per_sec"] > best["received_per_sec"]:
            best = x
    return best, steps


def scenario_goodput(pki, results):
    res = results.setdefault("goodput", {})
    for transport in PS_TRANSPORTS:
        brokers = {k: Broker(k, pki, None, f"gp-{transport}", extra={"tcp": transport == "tcp"})
                   .start() for k in PEERS}
        try:
            for qos in (0, 1):
                for n in (1, 10):
                    key = f"{transport}_qos{qos}_{n}to{n}"
                    e = {"transport": transport, "qos": qos, "n": n}
                    for kind, b in brokers.items():
                        best, steps = goodput(b, transport, qos, n)
                        e[f"{kind}_goodput"] = best["received_per_sec"] if best else 0
                        e[f"{kind}_goodput_pub_rate"] = best["pub_rate"] if best else None
                        e[f"{kind}_steps"] = steps
                    for kind in brokers:
                        if kind != "revmq":
                            e[f"ratio_{kind}"] = ratio(e["revmq_goodput"], e[f"{kind}_goodput"])
                    e["ratio"] = e.get("ratio_mosquitto")
                    res[key] = e
        finally:
            for b in brokers.values():
                b.stop()


FLOODER = r"""
import socket, struct, sys
port = int(sys.argv[1])
def s(x):
    return struct.pack("!H", len(x)) + x
sock = socket.create_connection(("127.0.0.1", port))
connect = s(b"MQTT") + b"\x04\x02\x00\x00" + s(b"flooder")
sock.sendall(b"\x10" + bytes([len(connect)]) + connect)
assert sock.recv(4)[0] == 0x20
body = s(b"flood/x") + b"x" * 16
block = (b"\x30" + bytes([len(body)]) + body) * 2000
print("flooding", flush=True)
while True:
    sock.sendall(block)
"""


def connack_ms(port, timeout=5):
    """ms from connect to CONNACK of a fresh client; None if none came within timeout s."""
    t0 = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
            c.sendall(b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03new")
            got = b""
            while len(got) < 4:
                chunk = c.recv(4 - len(got))
                if not chunk:
                    return None
                got += chunk
    except OSError:  # timed out: counted as failed
        return None
    return (time.perf_counter() - t0) * 1000


def scenario_flood(pki, results):
    res = results.setdefault("flood", {})
    for kind in PEERS:
        b = Broker(kind, pki, None, "flood", extra={"tcp": True}).start()
        fl = None
        try:
            idle = [connack_ms(b.port) for _ in range(5)]
            fl = subprocess.Popen(pinned(1, ["/usr/bin/python3", "-c", FLOODER, str(b.port)]),
                                  stdout=subprocess.PIPE)
            PROCS.append(fl)
            assert fl.stdout.readline().strip() == b"flooding"
            time.sleep(1.0)
            lat = []
            for _ in range(FLOOD_CLIENTS):
                lat.append(connack_ms(b.port))
            lat_ok = sorted(x for x in lat if x is not None)
            res[kind] = {"idle_ms_median": median(idle),
                         "flood_ms_median": median(lat_ok),
                         "flood_ms_max": lat_ok[-1] if lat_ok else None,
                         "flood_failed": sum(1 for x in lat if x is None),
                         "flooder_alive": fl.poll() is None}
            log(f"flood {kind}: CONNACK median {fmt(res[kind]['flood_ms_median'], '.1f')} ms, "
                f"max {fmt(res[kind]['flood_ms_max'], '.1f')} ms (idle "
                f"{fmt(res[kind]['idle_ms_median'], '.2f')} ms)")
        finally:
            if fl is not None:
                stop(fl, signal.SIGKILL)
            b.stop()


# ---------------------------------------------------------------- persistent sessions

PERSIST_BROKERS = {  # name: (kind, Broker extra); plain TCP, defaults otherwise
    "revmq-memory": ("revmq", {"tcp": True, "durable": False}),
    "revmq-store": ("revmq", {"tcp": True}),
    # Every row written at the end of its turn (the store before rows were put off).
    "revmq-store-nodelay": ("revmq", {"tcp": True, "flush_delay": "0"}),
    "mosquitto-persist": ("mosquitto", {"tcp": True, "persist": True}),
}


def scenario_persist(pki, results):
    """QoS 1 with persistent subscriber sessions (MQTT 3.1.1, clean session 0).
    Every run gets fresh brokers with empty data directories: the subscribers
    of an earlier run would otherwise stay as offline persistent sessions on
    the same topics and queue every later run's messages."""
    res = results.setdefault("persist", {})
    for n in (1, 10):
        key = f"qos1_{n}to{n}"
        runs = {k: [] for k in PERSIST_BROKERS}
        for r in range(ROUNDS):
            for name, (kind, extra) in PERSIST_BROKERS.items():
                b = Broker(kind, pki, None, f"{name}-{n}to{n}-r{r}", extra=dict(extra)).start()
                try:
                    x = bench(["pubsub", "--port", str(b.port), "--publishers", str(n),
                               "--subscribers", str(n), "--topics", str(n), "--qos", "1",
                               "--payload", "64", "--duration", f"{PS_DUR}s", "--quiet",
                               "--session-expiry", "1h", "--client-prefix", f"p{r}{n}-"],
                              mtls=False)
                finally:
                    b.stop()
                runs[name].append(ps_cell(x))
                res.setdefault("store_bytes", {})[name] = dir_bytes(b.dir, name)
                log(f"persist {key} round={r + 1} {name}: recv "
                    f"{x.get('received_per_sec', 0):.0f}/s lost={x.get('lost')} "
                    f"dups={x.get('duplicates')} errors={x.get('errors')}")
        e = {"runs": runs}
        ps_summary(e, runs)
        mem = e.get("revmq-memory_recv_per_sec")
        for name in PERSIST_BROKERS:
            e[f"{name}_vs_memory"] = ratio(e.get(f"{name}_recv_per_sec"), mem)
        res[key] = e


def dir_bytes(d, name):
    """Bytes of the broker's persistent files (revmq: data/store.db*; Mosquitto: mosquitto.db)."""
    pats = ("store.db",) if name.startswith("revmq") else ("mosquitto.db",)
    total = 0
    for top, _, files in os.walk(d):
        total += sum(os.path.getsize(os.path.join(top, f)) for f in files
                     if f.startswith(pats))
    return total


def first_connack(port, proc, timeout=600):
    """Seconds until the broker on `port` answers a CONNECT with a CONNACK
    (connection refused while it starts: retried every 5 ms)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
                c.sendall(b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04prob")
                got = c.recv(4)
                if len(got) >= 2 and got[0] == 0x20:
                    return time.time() - t0
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"no CONNACK in {timeout}s")


def drain_offline(port, client_id, want, timeout=600):
    """Resumes client_id's session with mosquitto_sub (an independent client)
    and counts the messages it gets: (count, seconds)."""
    t0 = time.time()
    p = subprocess.run(pinned(1, ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-c",
                                  "-i", client_id, "-q", "1", "-t", "bench/#", "-V", "mqttv311",
                                  "-C", str(want), "-W", "900", "-F", "%t"]),
                       capture_output=True, text=True, timeout=timeout)
    return p.stdout.count("\n"), time.time() - t0


def scenario_restart(pki, results):
    """One offline persistent subscriber, RESTART_MSGS QoS 1 messages queued
    for it, graceful stop, restart timed to the first CONNACK, then every
    message read back. The queue limits are set high enough to keep them all
    (revmq mqtt.max_mqueue_len, Mosquitto max_queued_messages 0 = no limit)."""
    res = results.setdefault("restart", {"messages": RESTART_MSGS})
    cases = {"revmq-store": ("revmq", {"tcp": True, "mqueue": 2 * RESTART_MSGS}),
             "mosquitto-persist": ("mosquitto", {"tcp": True, "persist": True, "mqueue": 0})}
    for name, (kind, extra) in cases.items():
        b = Broker(kind, pki, None, f"restart-{name}", extra=extra, log_level="info")
        e = {}
        try:
            b.start()
            x = bench(["pubsub", "--port", str(b.port), "--publishers", "1", "--subscribers", "1",
                       "--qos", "1", "--messages", "1", "--session-expiry", "1d",
                       "--client-prefix", "rs-", "--quiet"], mtls=False)
            assert x.get("received") == 1, x  # rs-0 subscribed to bench/t0, now offline
            t = time.time()
            x = bench(["pubsub", "--port", str(b.port), "--publishers", "1", "--subscribers", "0",
                       "--qos", "1", "--messages", str(RESTART_MSGS), "--client-prefix", "rw-",
                       "--inflight", "128",
                       "--quiet"], mtls=False, timeout=3600)
            e["publish_seconds"] = time.time() - t
            e["acked"] = x.get("acked")
            e["publish_per_sec"] = x.get("sent_per_sec")
            e["rss_before_stop_kb"] = b.status_kb("VmRSS")
            t = time.time()
            b.stop(timeout=600)  # Mosquitto writes its database on the way out
            e["stop_seconds"] = time.time() - t
            e["store_bytes"] = dir_bytes(b.dir, name)
            conf = os.path.join(b.dir, "broker.conf")
            argv = [REVMQ, "-c", conf] if kind == "revmq" else [MOSQ, "-c", conf]
            lf = open(b.logfile, "a")
            t = time.time()
            b.proc = subprocess.Popen(pinned(0, argv), stdout=lf, stderr=subprocess.STDOUT,
                                      cwd=b.dir)
            PROCS.append(b.proc)
            e["restart_to_connack_seconds"] = first_connack(b.port, b.proc)
            e["restart_wall"] = time.time() - t
            loaded = [l for l in b.log_text().splitlines() if "store: loaded" in l]
            e["store_loaded_line"] = loaded[-1] if loaded else None
            e["rss_after_start_kb"] = b.status_kb("VmRSS")
            got, secs = drain_offline(b.port, "rs-0", RESTART_MSGS)
            e["received_after_restart"] = got
            e["drain_seconds"] = secs
            log(f"restart {name}: {RESTART_MSGS} stored, acked={e['acked']}, restart to CONNACK "
                f"{e['restart_to_connack_seconds']:.2f}s, got back {got} in {secs:.1f}s, "
                f"store {e['store_bytes'] / 1e6:.0f} MB")
        finally:
            b.stop()
        res[name] = e


def hold_once(b, pki, tls=True):
    rss0 = b.status_kb("VmRSS")
    argv = pinned(1, [BENCH, "hold", "--port", str(b.port), "--count", str(HOLD_N), "--concurrency",
                      "64", "--source-ips", SRC_IPS, "--json", "--quiet"] +
                  (["--cert-dir", f"{pki}/clients", "--tls-version", "1.3"] if tls else []))
    errf = open(os.path.join(b.dir, "hold.err"), "w+")
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf, text=True)
    PROCS.append(p)
    end = time.time() + 600
    line = None
    while time.time() < end and p.poll() is None:
        errf.seek(0)
        m = re.search(r"hold: all attempted open=(\d+) failed=(\d+)", errf.read())
        if m:
            line = m
            break
        time.sleep(0.2)
    time.sleep(2)  # let the broker settle (buffers released after the handshake)
    rss1 = b.status_kb("VmRSS")
    stop(p, signal.SIGINT)
    out = p.stdout.read()
    opened = int(line.group(1)) if line else 0
    return {"rss_before_kb": rss0, "rss_after_kb": rss1, "open": opened,
            "failed": int(line.group(2)) if line else None,
            "bytes_per_conn": ((rss1 - rss0) * 1024 / opened) if opened else None,
            "report": out.strip()[-300:]}


def scenario_memory(pki, results):
    for transport in ("mtls", "tcp"):  # TCP: to tell the TLS share from the MQTT share
        runs = {"revmq": [], "mosquitto": []}
        for r in range(ROUNDS):
            for kind in ("revmq", "mosquitto"):
                b = Broker(kind, pki, None, f"mem-{transport}{r}",
                           extra={"tcp": transport == "tcp"}).start()
                try:
                    x = hold_once(b, pki, tls=transport == "mtls")
                finally:
                    b.stop()
                runs[kind].append(x)
                log(f"memory {transport} round={r + 1} {kind}: open={x['open']} failed={x['failed']} "
                    f"{(x['bytes_per_conn'] or 0) / 1024:.1f} KiB/conn")
        e = {"connections": HOLD_N, "runs": runs}
        for kind in runs:
            e[f"{kind}_bytes_per_conn"] = median([x["bytes_per_conn"] for x in runs[kind]])
        e["ratio"] = ratio(e["revmq_bytes_per_conn"], e["mosquitto_bytes_per_conn"])
        results["memory" if transport == "mtls" else "memory_tcp"] = e


def log_time(line):
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z", line)
    if not m:
        return None
    y, mo, d, h, mi, s, ms = (int(g) for g in m.groups())
    return calendar.timegm((y, mo, d, h, mi, s)) + ms / 1000.0


def wait_log(b, pattern, after, timeout):
    end = time.time() + timeout
    while time.time() < end:
        hits = [l for l in b.log_text().splitlines() if re.search(pattern, l)]
        if len(hits) > after:
            return hits[after]
        time.sleep(0.05)
    raise RuntimeError(f"no log line /{pattern}/ #{after + 1} in {timeout}s")


def progress_rate(progress, t0, a, z):
    """Handshake rate in wall-clock window [a, z] from revmq-bench progress lines."""
    pts = [(t0 + float(t), int(ok)) for t, ok in progress]
    inside = [p for p in pts if a <= p[0] <= z]
    before = [p for p in pts if p[0] < a]
    after = [p for p in pts if p[0] > z]
    lo = before[-1] if before else (inside[0] if inside else None)
    hi = after[0] if after else (inside[-1] if inside else None)
    if not lo or not hi or hi[0] <= lo[0]:
        return None
    return (hi[1] - lo[1]) / (hi[0] - lo[0])


def scenario_refresh(pki, results):
    srv = os.path.join(OUT, "www")
    os.makedirs(srv, exist_ok=True)
    e = {"entries": BIG_CRL}
    e["gen_crl_seconds"] = gen_crl(pki, BIG_CRL, os.path.join(srv, "crl.der"), der=True)
    e["crl_bytes"] = os.path.getsize(os.path.join(srv, "crl.der"))
    hport = free_port()
    http = subprocess.Popen(pinned(1, ["/usr/bin/python3", "-m", "http.server", str(hport), "--bind",
                                       "127.0.0.1", "--directory", srv]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(http)
    wait_port(hport, http, 10)
    url = f"http://127.0.0.1:{hport}/crl.der"
    b = Broker("revmq", pki, None, "refresh", extra={"urls": [url]}, log_level="info")
    try:
        b.start(timeout=300)
        first = wait_log(b, r"crl_cache: refresh OK url=.*entries=", 0, 300)
        e["start_to_first_crl_seconds"] = log_time(first) - b.t_start
        time.sleep(1)
        e["rss_idle_kb"] = b.status_kb("VmRSS")
        base = bench(["connect", "--port", str(b.port), "--count", "100000000", "--duration",
                      f"{HS_DUR}s", "--concurrency", str(HS_CONC), "--source-ips", SRC_IPS,
                      "--quiet"], pki, many=True)
        e["handshake_rate_idle"] = base.get("connects_per_sec")
        # 1. Idle refresh: time and peak memory of fetch + verify + index
        #    (+ saving it under node.data_dir), nothing else running.
        e["gen_crl2_seconds"] = gen_crl(pki, BIG_CRL, os.path.join(srv, "crl.der"), der=True)
        with open(f"/proc/{b.pid()}/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        rss0 = b.status_kb("VmRSS")
        os.kill(b.pid(), signal.SIGHUP)
        a = log_time(wait_log(b, r"crl_cache: refreshing every source now", 0, 30))
        z = log_time(wait_log(b, r"crl_cache: refresh OK url=.*entries=", 1, 300))
        time.sleep(0.5)  # the old index is freed after the new snapshot is published
        e["refresh_seconds"] = z - a
        e["rss_before_kb"] = rss0
        e["peak_rss_kb"] = b.status_kb("VmHWM")
        e["peak_extra_kb"] = e["peak_rss_kb"] - rss0
        e["rss_after_kb"] = b.status_kb("VmRSS")
        # 2. Refresh under handshake load: the rate while it runs.
        e["gen_crl3_seconds"] = gen_crl(pki, BIG_CRL, os.path.join(srv, "crl.der"), der=True)
        dur = max(HS_DUR, 10) + 10
        errf = open(os.path.join(b.dir, "refresh-bench.err"), "w+")
        argv = pinned(1, [BENCH, "connect", "--port", str(b.port), "--count", "100000000",
                          "--duration", f"{dur}s", "--concurrency", str(HS_CONC), "--source-ips",
                          SRC_IPS, "--cert-dir", f"{pki}/clients",
                          "--tls-version", "1.3", "--json", "--progress-interval", "250ms"])
        t0 = time.time()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf, text=True)
        PROCS.append(p)
        time.sleep(3)
        os.kill(b.pid(), signal.SIGHUP)
        a = log_time(wait_log(b, r"crl_cache: refreshing every source now", 1, 30))
        z = log_time(wait_log(b, r"crl_cache: refresh OK url=.*entries=", 2, 300))
        p.wait(dur + 60)
        errf.seek(0)
        prog = re.findall(r"progress: t=([\d.]+)s started=\d+ ok=(\d+)", errf.read())
        e["refresh_seconds_under_load"] = z - a
        e["handshake_rate_during_refresh"] = progress_rate(prog, t0, a, z)
        e["bench_report"] = p.stdout.read().strip()[-400:]
        stop(p)
        log(f"refresh: {e['refresh_seconds']:.2f}s peak +{e['peak_extra_kb'] / 1024:.0f} MiB, "
            f"under load {e['refresh_seconds_under_load']:.2f}s, handshakes/s "
            f"idle={e['handshake_rate_idle']:.0f} during={e['handshake_rate_during_refresh'] or 0:.0f}")
    finally:
        b.stop()
        stop(http)
    results["refresh"] = e


# ---------------------------------------------------------------- report

def fmt(x, spec=".0f"):
    return "n/a" if x is None else format(x, spec)


def print_summary(res):
    print("\n## revmq vs %s (medians of %d rounds; ratio = revmq / other)\n"
          % (", ".join(PEERS[1:]), ROUNDS))
    if "ceiling" in res:
        c = res["ceiling"]
        print(f"crypto ceiling (server side, one core): {c['server_crypto_us_per_handshake']:.0f} us "
              f"per handshake = {c['ceiling_handshakes_per_sec_per_core']:.0f} handshakes/s "
              f"(sign {c['ecdsa_p256_sign_us']:.1f} + 2 x verify {c['ecdsa_p256_verify_us']:.1f} "
              f"+ 2 x X25519 {c['x25519_us']:.1f} us)\n")
    if "handshake" in res:
        print("| mTLS 1.3, CRL entries | handshakes/s revmq | Mosquitto | ratio | broker CPU us/handshake "
              "revmq | Mosquitto | ratio | RSS MiB revmq | Mosquitto |")
        print("|---|---|---|---|---|---|---|---|---|")
        for n, e in res["handshake"].items():
            rss = [e.get(f"{k}_rss_kb") for k in ("revmq", "mosquitto")]
            rss = [fmt(x / 1024 if x else None) for x in rss]
            print(f"| {int(n):,} | {fmt(e.get('revmq_rate'))} | {fmt(e.get('mosquitto_rate'))} | "
                  f"{fmt(e.get('ratio_rate'), '.2f')} | {fmt(e.get('revmq_cpu_us_per_hs'))} | "
                  f"{fmt(e.get('mosquitto_cpu_us_per_hs'))} | {fmt(e.get('ratio_cpu_per_hs'), '.2f')} | "
                  f"{rss[0]} | {rss[1]} |")
        print()
    for sc in ("throughput", "goodput"):
        if sc not in res:
            continue
        cols = [k for k in PEERS]
        print(f"| {sc}, messages/s (64 B) | " + " | ".join(cols) + " | ratios revmq/x | lost |")
        print("|---" * (len(cols) + 3) + "|")
        for k, e in res[sc].items():
            val = "goodput" if sc == "goodput" else "recv_per_sec"
            vals = " | ".join(fmt(e.get(f"{c}_{val}")) for c in cols)
            rats = " ".join(f"{c}:{fmt(e.get(f'ratio_{c}'), '.2f')}" for c in cols if c != "revmq")
            lost = " / ".join(str(e.get(f"{c}_lost", "-")) for c in cols)
            print(f"| {k} | {vals} | {rats} | {lost} |")
        print()
    if "persist" in res:
        for k, e in res["persist"].items():
            if k.startswith("qos"):
                print(f"persistent sessions {k}: " + ", ".join(
                    f"{name} {fmt(e.get(f'{name}_recv_per_sec'))}/s "
                    f"(x{fmt(e.get(f'{name}_vs_memory'), '.2f')} of memory, lost "
                    f"{e.get(f'{name}_lost')})" for name in PERSIST_BROKERS))
        print()
    if "restart" in res:
        for name, e in res["restart"].items():
            if isinstance(e, dict):
                print(f"restart {name}: {res['restart']['messages']} stored, restart to CONNACK "
                      f"{fmt(e.get('restart_to_connack_seconds'), '.2f')} s, got back "
                      f"{e.get('received_after_restart')}")
        print()
    if "flood" in res:
        print("| CONNACK of a fresh client during a QoS 0 flood (TCP) | median ms | max ms | "
              "failed | idle median ms |")
        print("|---|---|---|---|---|")
        for kind, e in res["flood"].items():
            print(f"| {kind} | {fmt(e['flood_ms_median'], '.1f')} | {fmt(e['flood_ms_max'], '.1f')} | "
                  f"{e['flood_failed']} | {fmt(e['idle_ms_median'], '.2f')} |")
        print()
    for key, what in (("memory", "mTLS"), ("memory_tcp", "plain TCP")):
        if key in res:
            e = res[key]
            print(f"memory per idle {what} connection ({e['connections']:,}): revmq "
                  f"{fmt((e['revmq_bytes_per_conn'] or 0) / 1024, '.1f')} KiB, Mosquitto "
                  f"{fmt((e['mosquitto_bytes_per_conn'] or 0) / 1024, '.1f')} KiB, "
                  f"ratio {fmt(e['ratio'], '.2f')}")
    print()
    if "refresh" in res:
        e = res["refresh"]
        print(f"revmq CRL refresh ({e['entries']:,} entries, {e['crl_bytes'] / 1e6:.1f} MB DER over HTTP): "
              f"{e['refresh_seconds']:.2f} s idle ({e['refresh_seconds_under_load']:.2f} s under handshake "
              f"load), peak +{e['peak_extra_kb'] / 1024:.0f} MiB over {e['rss_before_kb'] / 1024:.0f} MiB; "
              f"revmq start to first CRL in force {e['start_to_first_crl_seconds']:.2f} s; "
              f"handshakes/s idle {fmt(e['handshake_rate_idle'])}, "
              f"during refresh {fmt(e['handshake_rate_during_refresh'])}")


def main():
    for f in (REVMQ, BENCH):
        if not os.access(f, os.X_OK):
            sys.exit(f"missing {f} (set RMQ_BUILD_DIR)")
    if not shutil.which(MOSQ):
        sys.exit(f"missing {MOSQ}")
    nofile = raise_nofile()
    if "memory" in SCENARIOS and nofile < HOLD_N + 100:
        sys.exit(f"RLIMIT_NOFILE hard limit {nofile} is below BENCH_HOLD={HOLD_N}")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    log(f"output in {OUT}; quick={QUICK} rounds={ROUNDS} pin={PIN}")
    if NANOMQ:
        if not os.access(NANOMQ, os.X_OK):
            sys.exit(f"BENCH_NANOMQ={NANOMQ} is not an executable")
        log(f"NanoMQ: {NANOMQ}")
    else:
        log("NanoMQ: not measured (BENCH_NANOMQ is not set)")
    results = {"machine": {
        "nproc": os.cpu_count(),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "openssl": subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip(),
        "mosquitto": subprocess.run([MOSQ, "-h"], capture_output=True, text=True).stdout.splitlines()[0],
        "kernel": os.uname().release,
        "nanomq": NANOMQ},
        "settings": {"rounds": ROUNDS, "hs_duration_s": HS_DUR, "hs_concurrency": HS_CONC,
                     "crl_sizes": CRL_SIZES, "ps_duration_s": PS_DUR, "hold": HOLD_N,
                     "big_crl": BIG_CRL, "pinned": PIN, "gp_duration_s": GP_DUR,
                     "gp_start": GP_START, "flood_clients": FLOOD_CLIENTS,
                     "ps_transports": PS_TRANSPORTS, "restart_msgs": RESTART_MSGS,
                     "peers": PEERS}}
    pki = make_pki(os.path.join(OUT, "pki"))
    try:
        if "ceiling" in SCENARIOS:
            results["ceiling"] = crypto_ceiling()
        for name, fn in (("handshake", scenario_handshake), ("throughput", scenario_throughput),
                         ("goodput", scenario_goodput), ("flood", scenario_flood),
                         ("memory", scenario_memory), ("refresh", scenario_refresh),
                         ("persist", scenario_persist), ("restart", scenario_restart)):
            if name in SCENARIOS:
                log(f"scenario {name}")
                try:
                    fn(pki, results)
                except Exception as ex:  # keep what was measured; say what failed
                    results.setdefault("failures", {})[name] = repr(ex)
                    log(f"scenario {name} FAILED: {ex!r}")
                    stop_all()
                with open(os.path.join(OUT, "results.json"), "w") as f:
                    json.dump(results, f, indent=1)
    finally:
        stop_all()
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print_summary(results)
    if results.get("failures"):
        print("\nFAILED scenarios:", json.dumps(results["failures"], indent=1))
    print(f"\nfull results: {OUT}/results.json")
    return 1 if results.get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())
