#!/usr/bin/env python3
"""QoS 1 throughput of the durable store against the publisher's in-flight window
(docs/persistence.md, "SQLite or LMDB: measured").

usage: bench/store_inflight.py BUILD_DIR WORK_DIR [--reps 3] [--duration 5s]
           [--inflight 32,128,512] [--broker-inflight N|same]

For each window N and each of durable_sessions.enable = true / false, runs
  revmq-bench pubsub --qos 1 --session-expiry 1h --publishers 1 --subscribers 1
                     --inflight N --duration 5s
against a fresh revmq per run (plain TCP on a free loopback port, an empty
node.data_dir under WORK_DIR, which must be on the real disk: the subscriber's
persistent session outlives the run, and one left subscribed to bench/t0 would queue
the next run's messages) and reads the store's commit counter and commit time
from /api/v5/prometheus/stats before and after, so each row also says how many
messages one commit (one fsync) covered and how long a commit took. Prints a
markdown table of the medians of --reps runs (nice -n 10, nothing pinned).
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

KEY, SECRET = "bench", "bench-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"revmq exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not open after {timeout}s")


class Revmq:
    def __init__(self, build, work, durable, max_inflight=None):
        self.dir = os.path.join(work, "durable-on" if durable else "durable-off")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port, self.http = free_port(), free_port()
        keys = os.path.join(self.dir, "api_keys")
        with open(keys, "w") as f:
            f.write(f"{KEY}:{SECRET}\n")
        conf = os.path.join(self.dir, "revmq.conf")
        with open(conf, "w") as f:
            f.write(f'node.data_dir = "{self.dir}/data"\nlog.level = warning\n'
                    f'listeners.tcp.default.bind = "127.0.0.1:{self.port}"\n'
                    f"durable_sessions.enable = {'true' if durable else 'false'}\n"
                    f'dashboard.listeners.http.bind = "127.0.0.1:{self.http}"\n'
                    f'api_key.bootstrap_file = "{keys}"\n')
            if max_inflight:  # the broker's window towards the subscriber (default 32)
                f.write(f"mqtt.max_inflight = {max_inflight}\n")
        self.log = open(os.path.join(self.dir, "revmq.log"), "a")
        self.proc = subprocess.Popen(["nice", "-n", "10", os.path.join(build, "revmq"), "-c",
                                      conf], stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)
        wait_port(self.http, self.proc)

    def store_counters(self):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}/api/v5/prometheus/stats")
        tok = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
        req.add_header("Authorization", "Basic " + tok)
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
        get = lambda name: float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))
        return get("revmq_store_commit_seconds_count"), get("revmq_store_commit_seconds_sum")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def one_run(build, b, n, duration, prefix):
    c0, s0 = b.store_counters()
    argv = ["nice", "-n", "10", os.path.join(build, "revmq-bench"), "pubsub", "--port",
            str(b.port), "--qos", "1", "--session-expiry", "1h", "--publishers", "1",
            "--subscribers", "1", "--inflight", str(n), "--duration", duration,
            "--client-prefix", prefix, "--quiet", "--json"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    x = json.loads(out.strip().splitlines()[-1])
    c1, s1 = b.store_counters()
    commits = c1 - c0
    return {"acked_per_s": x["acked"] / x["seconds"], "recv_per_s": x["received_per_sec"],
            "p50_ms": x["latency_us"]["p50"] / 1000, "lost": x["lost"],
            "commits_per_s": commits / x["seconds"],
            "msgs_per_commit": x["acked"] / commits if commits else None,
            "commit_ms": 1000 * (s1 - s0) / commits if commits else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("work")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--inflight", default="32,128,512")
    ap.add_argument("--broker-inflight", default="",
                    help="mqtt.max_inflight: a number, or 'same' for the publisher's window")
    a = ap.parse_args()
    windows = [int(n) for n in a.inflight.split(",")]
    results = {}
    for r in range(a.reps):
        for n in windows:
            for durable in (True, False):
                mi = n if a.broker_inflight == "same" else a.broker_inflight
                b = Revmq(a.build, a.work, durable, mi)
                try:
                    res = one_run(a.build, b, n, a.duration, f"w{n}r{r}-")
                finally:
                    b.stop()
                results.setdefault((durable, n), []).append(res)
                print(f"durable={durable} inflight={n} rep={r + 1}: {res}", file=sys.stderr,
                      flush=True)

    def med(rs, k):
        xs = [r[k] for r in rs if r[k] is not None]
        return statistics.median(xs) if xs else None

    fmt = lambda v, f: "–" if v is None else format(v, f)
    print("| in-flight | durable_sessions.enable | acked msg/s | received msg/s | "
          "latency p50 ms | commits/s | msgs per commit | ms per commit | lost |")
    print("|--:|--|--:|--:|--:|--:|--:|--:|--:|")
    for n in windows:
        for durable in (True, False):
            rs = results[(durable, n)]
            print(f"| {n} | {'true' if durable else 'false'} | {fmt(med(rs, 'acked_per_s'), ',.0f')} "
                  f"| {fmt(med(rs, 'recv_per_s'), ',.0f')} | {fmt(med(rs, 'p50_ms'), '.2f')} "
                  f"| {fmt(med(rs, 'commits_per_s'), ',.0f')} "
                  f"| {fmt(med(rs, 'msgs_per_commit'), '.1f')} "
                  f"| {fmt(med(rs, 'commit_ms'), '.3f')} | {sum(r['lost'] for r in rs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
