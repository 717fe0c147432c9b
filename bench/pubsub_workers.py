#!/usr/bin/env python3
"""10 -> 10 publish/subscribe over mutual TLS 1.3 (64-byte messages, QoS 0 and
1, revmq-bench pubsub) against revmq with node.workers = 1, 2, ... and, beside
it in the same run, Mosquitto and NanoMQ: messages/s received, broker CPU
seconds per million messages delivered, and for revmq each thread's share of
the broker's CPU (revmq-core, revmq-hs<i>, read from /proc/<pid>/task/*/stat
around the run). Nothing is pinned: the broker may use every core (revmq-bench
shares them).

    bench/pubsub_workers.py [--seconds S] [--rounds R] [--old DIR] WORKERS...
    e.g. bench/pubsub_workers.py --seconds 5 --rounds 2 1 2

RMQ_BUILD_DIR (default ./build) holds revmq and revmq-bench; --old DIR adds
the revmq of another build (same workers values) to compare builds;
BENCH_NANOMQ / MOSQUITTO as in compare.py (NanoMQ only when given);
BENCH_OUT the output directory. Prints one line per run and a JSON summary
(medians over rounds) last. Not a test."""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("BENCH_PIN", "0")
import compare  # noqa: E402

compare.PIN = False


def thread_ticks(pid):
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            name = open(f"/proc/{pid}/task/{t}/comm").read().strip()
            f = open(f"/proc/{pid}/task/{t}/stat").read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a thread that just ended
        out[f"{name}/{t}"] = int(f[11]) + int(f[12])
    return out


class Revmq(compare.Broker):
    def __init__(self, binary, workers, *a, **kw):
        super().__init__("revmq", *a, **kw)
        self.binary, self.workers = binary, workers

    def _revmq_conf(self):
        return super()._revmq_conf() + f"node.workers = {self.workers}\n"

    def start(self, timeout=180):
        saved = compare.REVMQ
        compare.REVMQ = self.binary
        try:
            return super().start(timeout)
        finally:
            compare.REVMQ = saved


def run_once(b, pki, qos, seconds):
    b.wait_idle()
    t0, c0 = thread_ticks(b.pid()), b.cpu_ticks()
    x = compare.bench(["pubsub", "--port", str(b.port), "--publishers", "10", "--subscribers",
                       "10", "--topics", "10", "--qos", str(qos), "--payload", "64",
                       "--duration", f"{seconds}s", "--quiet", "--tls", "--cafile",
                       f"{pki}/ca.crt"] + compare.ps_args(b, "mtls"), mtls=False)
    t1, c1 = thread_ticks(b.pid()), b.cpu_ticks()
    cpu = (c1 - c0) / compare.CLK_TCK
    per = {n.split("/")[0]: (t1[n] - t0.get(n, 0)) / compare.CLK_TCK for n in t1}
    per = {n: v for n, v in per.items() if v > 0}
    got = x.get("received") or 0
    return {"received_per_sec": x.get("received_per_sec"), "received": got,
            "lost": x.get("lost"), "broker_cpu_s": cpu,
            "cpu_s_per_million": cpu * 1e6 / got if got else None,
            "threads": per,
            "busiest_share": max(per.values()) / sum(per.values()) if per else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--old", help="another build dir: its revmq is measured too")
    ap.add_argument("workers", nargs="+", type=int)
    a = ap.parse_args()
    pki = os.path.join(compare.OUT, "pki")
    compare.make_pki(pki)
    builds = {"new": compare.REVMQ}
    if a.old:
        builds["old"] = os.path.join(a.old, "revmq")
    brokers = {}
    for tag, binary in builds.items():
        for w in a.workers:
            brokers[f"revmq-{tag}-w{w}"] = Revmq(binary, w, pki, None, f"{tag}-w{w}")
    brokers["mosquitto"] = compare.Broker("mosquitto", pki, None, "mos")
    if compare.NANOMQ:
        brokers["nanomq"] = compare.Broker("nanomq", pki, None, "nano")
    results = {}
    try:
        for b in brokers.values():
            b.start()
        for qos in (0, 1):
            for r in range(a.rounds):
                for name, b in brokers.items():
                    x = run_once(b, pki, qos, a.seconds)
                    results.setdefault(f"qos{qos}", {}).setdefault(name, []).append(x)
                    th = " ".join(f"{n}={v:.2f}" for n, v in sorted(x["threads"].items()))
                    print(f"qos{qos} round={r + 1} {name}: recv/s={x['received_per_sec']:.0f} "
                          f"lost={x['lost']} cpu_s={x['broker_cpu_s']:.2f} "
                          f"cpu_s_per_M={x['cpu_s_per_million'] or 0:.2f} "
                          f"busiest={x['busiest_share'] or 0:.2f} {th}", flush=True)
    finally:
        for b in brokers.values():
            b.stop()
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    summary = {q: {n: {k: med([x[k] for x in runs if x[k] is not None])
                       for k in ("received_per_sec", "cpu_s_per_million", "busiest_share")}
                   for n, runs in byb.items()} for q, byb in results.items()}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
