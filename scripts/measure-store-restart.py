#!/usr/bin/python3
"""Restart time of revmq with many stored messages (docs/persistence.md).

usage: scripts/measure-store-restart.py BUILD_DIR MESSAGES [SESSIONS] [RUNS]

Starts BUILD_DIR/revmq on a fresh data dir under /tmp, makes SESSIONS (default
1) offline persistent sessions subscribed to m/#, publishes one QoS 1 message
(so one real delivery row exists), stops the broker, copies that row with SQL
until MESSAGES rows are spread evenly over the sessions, then starts the broker
RUNS times (default 3) and prints, per start: seconds until an MQTT CONNECT is
answered, the store line's took_ms, the CPU time the process used so far (user + system:
less sensitive to a busy machine than wall time), its RSS, and the store line.
"""
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from helpers import RawClient, free_port  # noqa: E402

build, n = sys.argv[1], int(sys.argv[2])
n_sess = int(sys.argv[3]) if len(sys.argv) > 3 else 1
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
d = "/tmp/revmq-measure-store-restart"
shutil.rmtree(d, ignore_errors=True)
os.makedirs(d)
port = free_port()
with open(f"{d}/revmq.conf", "w") as f:
    f.write(f'node.data_dir = "{d}/data"\nlisteners.tcp.default.bind = "127.0.0.1:{port}"\n')


def start():
    log = open(f"{d}/log", "a")
    p = subprocess.Popen([f"{build}/revmq", "-c", f"{d}/revmq.conf"], stdout=log, stderr=log)
    t0 = time.monotonic()
    while True:
        try:
            c = RawClient(port, version=5)
            c.connect("probe")
            c.close()
            return p, time.monotonic() - t0
        except OSError:
            time.sleep(0.005)


p, _ = start()
for i in range(n_sess):
    s = RawClient(port, version=5)
    s.connect(f"s{i}", clean=False, props={"session_expiry_interval": 3600})
    s.subscribe(("m/#", 1))
    s.disconnect()
c = RawClient(port, version=5)
c.connect("pub")
c.publish("m/1", b"x" * 64, qos=1)
c.close()
p.terminate()
p.wait()
db = sqlite3.connect(f"{d}/data/store.db")
have = db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
db.execute(f"""WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i < {n - have})
INSERT INTO deliveries(id,pid,qos,state,retain,sub_ids,topic,payload,mqos,mretain,props,expire_at)
SELECT CAST(('s' || (i % {n_sess})) AS BLOB),pid,qos,state,retain,sub_ids,topic,payload,mqos,
       mretain,props,expire_at FROM (SELECT * FROM deliveries LIMIT 1), k""")
db.commit()
print("rows", db.execute("SELECT count(*) FROM deliveries").fetchone()[0], "sessions", n_sess)
db.close()
for run in range(runs):
    mark = os.path.getsize(f"{d}/log")
    p, secs = start()
    with open(f"/proc/{p.pid}/status") as f:
        rss = re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)
    with open(f"/proc/{p.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu_ms = (int(fields[11]) + int(fields[12])) * 1000 // os.sysconf("SC_CLK_TCK")
    with open(f"{d}/log") as f:
        f.seek(mark)
        line = [ln for ln in f.read().splitlines() if "store: loaded" in ln][-1]
    took = re.search(r"took_ms=(\d+)", line).group(1)
    print(f"start {run}: ready_s={secs:.3f} took_ms={took} cpu_ms={cpu_ms} rss_kb={rss}\n"
          f"  {line.split('store: ')[1]}")
    p.kill()
    p.wait()
shutil.rmtree(d, ignore_errors=True)
