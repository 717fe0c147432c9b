#!/usr/bin/python3
"""bench/acl_cost.py — what authorization costs on the publish path.

Runs revmq three ways on the same port layout and load, alternating rounds:
  none     no authorization source (no_match = allow)
  acl      a 1,000-rule acl.conf (cache on, the default)
  nocache  the same file, authorization.cache.enable = false
and measures QoS 0 pub/sub throughput with revmq-bench (plain TCP, 64-byte
payloads). The rule file is the worst case for a rule scan: 999 rules whose
Who is `all` (so every one applies to the bench clients) on topics they never
use, then the rule that allows bench/#, then {deny, all} with no_match = deny.

    /usr/bin/python3 bench/acl_cost.py            # 3 rounds x 5 s per config and load
    ROUNDS=5 DURATION=10 bench/acl_cost.py

Needs build/revmq and build/revmq-bench (or RMQ_BUILD_DIR) and taskset. Prints
one JSON object: per load, the medians of received/s, sent/s (what the broker
accepted from the publishers) and broker CPU µs per sent message, with the
ratios acl/none and nocache/none; and the per-round numbers.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUILD = Path(os.environ.get("RMQ_BUILD_DIR", Path(__file__).resolve().parents[1] / "build"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = int(os.environ.get("DURATION", "5"))
LOADS = [(1, 1), (10, 10)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_rules(path):
    lines = ["%% bench: 999 rules that apply to everyone but never match bench/#"]
    for i in range(999):
        lines.append(f'{{deny, all, publish, ["other/{i}/+/#", {{eq, "x/{i}"}}]}}.')
    lines.append('{allow, all, all, ["bench/#"]}.')
    lines.append("{deny, all}.")
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def start(d, name, extra):
    port = free_port()
    conf = d / f"{name}.conf"
    (d / name).mkdir(exist_ok=True)
    conf.write_text(f'node.data_dir = "{d / name}"\nlog.level = warning\n'
                    f'listeners.tcp.default.bind = "127.0.0.1:{port}"\n{extra}\n')
    p = subprocess.Popen(["taskset", "-c", "0", str(BUILD / "revmq"), "-c", str(conf)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{name}: broker did not start")


def cpu_us(pid):
    """utime + stime of a process, in microseconds."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1e6 / os.sysconf("SC_CLK_TCK")


def run(pid, port, n):
    c0 = cpu_us(pid)
    out = subprocess.run(["taskset", "-c", "1", str(BUILD / "revmq-bench"), "pubsub", "--port",
                          str(port), "--publishers", str(n), "--subscribers", str(n), "--topics",
                          str(n), "--qos", "0", "--payload", "64", "--duration", f"{DURATION}s",
                          "--quiet", "--json"], capture_output=True, text=True, check=True)
    x = json.loads(out.stdout)
    x["cpu_us_per_sent"] = (cpu_us(pid) - c0) / max(1, x["sent"])
    return x


def main():
    d = Path(tempfile.mkdtemp(prefix="acl-cost-"))
    n_rules = write_rules(d / "rules-1000.acl")
    src = (f'authorization.no_match = deny\nauthorization.sources.1.type = file\n'
           f'authorization.sources.1.path = "{d / "rules-1000.acl"}"\n')
    configs = {"none": "", "acl": src, "nocache": src + "authorization.cache.enable = false\n"}
    procs = {k: start(d, k, v) for k, v in configs.items()}
    metrics = ("received_per_sec", "sent_per_sec", "cpu_us_per_sent")
    rounds = {f"{p}to{s}": {k: {m: [] for m in metrics} for k in configs} for p, s in LOADS}
    try:
        for r in range(ROUNDS):
            for p, s in LOADS:
                for k, (proc, port) in procs.items():
                    x = run(proc.pid, port, p)
                    for m in metrics:
                        rounds[f"{p}to{s}"][k][m].append(round(x[m], 3))
                    print(f"round {r + 1} qos0 {p}->{s} {k}: recv {x['received_per_sec']:.0f}/s "
                          f"sent {x['sent_per_sec']:.0f}/s cpu {x['cpu_us_per_sent']:.3f} us/msg "
                          f"lost={x['lost']} errors={x['errors']}", file=sys.stderr, flush=True)
    finally:
        for p, _ in procs.values():
            p.terminate()
            p.wait()
    res = {"rules": n_rules, "rounds": ROUNDS, "duration_s": DURATION, "per_round": rounds}
    for load, by in rounds.items():
        res[load] = {}
        for m in metrics:
            med = {k: statistics.median(v[m]) for k, v in by.items()}
            res[load][m] = {"median": med,
                            "acl_over_none": round(med["acl"] / med["none"], 3) if med["none"] else None,
                            "nocache_over_none": round(med["nocache"] / med["none"], 3) if med["none"] else None}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
