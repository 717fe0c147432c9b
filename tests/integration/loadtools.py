"""Load generators for the test_load_* tests: flooding and pacing clients that
run in their own processes (so the GIL of the test never paces them), plus a
reader of a process's CPU time.

flood_proc(port, *, tls=None, topic, payload, qos=0) -> subprocess.Popen
    A raw MQTT 3.1.1 client in a separate /usr/bin/python3 process: CONNECT,
    wait for CONNACK, print "flooding" on stdout, then send PUBLISHes as fast
    as the socket takes them until killed. tls: dict(ca, cert, key) for mTLS.
cpu_seconds(pid) -> float: utime + stime of a process, from /proc/<pid>/stat.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

_FLOOD = textwrap.dedent(r'''
    import json, socket, ssl, struct, sys
    cfg = json.loads(sys.argv[1])

    def varint(n):
        out = b""
        while True:
            b = n % 128
            n //= 128
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out

    def pkt(t, flags, body):
        return bytes([(t << 4) | flags]) + varint(len(body)) + body

    def s(x):
        x = x.encode()
        return struct.pack("!H", len(x)) + x

    sock = socket.create_connection(("127.0.0.1", cfg["port"]))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    if cfg.get("tls"):
        t = cfg["tls"]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(t["ca"])
        ctx.load_cert_chain(t["cert"], t["key"])
        ctx.check_hostname = False
        sock = ctx.wrap_socket(sock)
    sock.sendall(pkt(1, 0, s("MQTT") + bytes([4, 2]) + struct.pack("!H", 0) + s(cfg["client_id"])))
    got = b""
    while len(got) < 4:
        chunk = sock.recv(4 - len(got))
        if not chunk:
            sys.exit("no CONNACK")
        got += chunk
    if got[0] != 0x20 or got[3] != 0:
        sys.exit("CONNACK refused: %r" % got)
    qos = cfg.get("qos", 0)
    payload = cfg["payload"].encode()
    one = []
    pid = 1
    for i in range(max(1, 65536 // (len(payload) + 32))):
        body = s(cfg["topic"])
        if qos:
            body += struct.pack("!H", pid)
            pid += 1
        one.append(pkt(3, qos << 1, body + payload))
    block = b"".join(one)
    print("flooding", flush=True)
    try:
        while True:
            sock.sendall(block)
    except OSError:
        pass
''')


def flood_proc(port: int, *, topic: str, payload: str = "x" * 16, client_id: str = "",
               tls: dict | None = None, qos: int = 0) -> subprocess.Popen:
    cfg = {"port": port, "topic": topic, "payload": payload, "client_id": client_id,
           "tls": tls, "qos": qos}
    p = subprocess.Popen(["/usr/bin/python3", "-c", _FLOOD, json.dumps(cfg)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode().strip()
    if line != "flooding":
        p.kill()
        _, err = p.communicate(timeout=5)
        raise AssertionError(f"flooder did not start: {line!r} {err.decode()!r}")
    return p


def stop_proc(p: subprocess.Popen):
    if p.poll() is None:
        p.kill()
    try:
        p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
