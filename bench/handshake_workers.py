#!/usr/bin/env python3
"""A mutual-TLS 1.3 handshake storm against revmq with node.workers = 1, 2, 3, …:
connections per second and broker CPU seconds per thread (revmq-core, revmq-hs<i>),
read from /proc/<pid>/task/*/stat around one `revmq-bench connect` run.

    bench/handshake_workers.py COUNT WORKERS...      e.g. bench/handshake_workers.py 3000 1 2 3

RMQ_BUILD_DIR (default ./build) holds revmq and revmq-bench; BENCH_OUT (default
/tmp/hs-workers) the PKI, configs and data directories. Not a test."""
import json, os, subprocess, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from pki import PKI  # noqa: E402
B = os.environ.get("RMQ_BUILD_DIR", os.path.join(HERE, "..", "build"))
OUT = os.environ.get("BENCH_OUT", "/tmp/hs-workers")
os.makedirs(OUT, exist_ok=True)
d = os.path.join(OUT, "pki")
if not os.path.exists(d + "/done"):
    p = PKI(d)
    srv = p.root.server_cert("server"); cli = p.root.client_cert("dev")
    json.dump({"ca": str(p.root.cert), "scert": str(srv.cert), "skey": str(srv.key), "ccert": str(cli.cert), "ckey": str(cli.key)}, open(d + "/done", "w"))
k = json.load(open(d + "/done"))
def ticks(pid):
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        name = open(f"/proc/{pid}/task/{t}/comm").read().strip()
        f = open(f"/proc/{pid}/task/{t}/stat").read().rsplit(")", 1)[1].split()
        out[f"{name}/{t}"] = int(f[11]) + int(f[12])
    return out
for workers in sys.argv[2:]:
    port = 42000 + int(workers)
    conf = f"""node.workers = {workers}
node.data_dir = "{OUT}/data{workers}"
listeners.tcp.default.enable = false
listeners.ssl.default.bind = "127.0.0.1:{port}"
listeners.ssl.default.ssl_options.certfile = "{k['scert']}"
listeners.ssl.default.ssl_options.keyfile = "{k['skey']}"
listeners.ssl.default.ssl_options.cacertfile = "{k['ca']}"
listeners.ssl.default.ssl_options.verify = verify_peer
listeners.ssl.default.ssl_options.fail_if_no_peer_cert = true
log.level = warning
"""
    open(f"{OUT}/w{workers}.conf", "w").write(conf)
    pr = subprocess.Popen([B + "/revmq", "-c", f"{OUT}/w{workers}.conf"], stderr=subprocess.DEVNULL)
    time.sleep(1)
    t0 = ticks(pr.pid)
    r = subprocess.run([B + "/revmq-bench", "connect", "--port", str(port), "--tls", "--tls-version", "1.3",
                        "--cafile", k["ca"], "--cert", k["ccert"], "--key", k["ckey"], "--count", sys.argv[1],
                        "--concurrency", "200", "--json", "--quiet"], capture_output=True, text=True)
    t1 = ticks(pr.pid)
    pr.terminate(); pr.wait()
    res = json.loads(r.stdout.strip().splitlines()[-1])
    per = {n: (t1[n] - t0.get(n, 0)) / 100 for n in t1 if t1[n] - t0.get(n, 0) > 0}
    tot = sum(per.values())
    print(f"workers={workers} " + " ".join(f"{kk}={v}" for kk, v in res.items() if kk in ("connections_ok","connections_failed","seconds","connects_per_sec")),
          f"broker_cpu_s={tot:.2f}", "per_thread=" + ",".join(f"{n.split('/')[0]}:{v:.2f}" for n, v in sorted(per.items())))
