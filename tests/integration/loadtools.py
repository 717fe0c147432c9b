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


_CLIENT = textwrap.dedent(r'''
    import json, socket, struct, sys, time
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
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if cfg.get("tls"):
        import ssl
        t = cfg["tls"]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(t["ca"])
        ctx.load_cert_chain(t["cert"], t["key"])
        ctx.check_hostname = False
        sock = ctx.wrap_socket(sock)
    buf = bytearray()
    pos = 0

    def packets(timeout):
        """Yields (type, flags, body) of every packet that arrives; stops after
        `timeout` seconds without any. Consumed packets are gone even when the
        caller stops early."""
        global buf, pos
        sock.settimeout(timeout)
        while True:
            n = len(buf)
            while n - pos >= 2:
                mult, rl, j = 1, 0, pos + 1
                ok = False
                while j < n:
                    b = buf[j]
                    rl += (b & 0x7F) * mult
                    mult *= 128
                    j += 1
                    if not b & 0x80:
                        ok = True
                        break
                if not ok or n - j < rl:
                    break
                h = buf[pos]
                pos = j + rl
                yield h >> 4, h & 15, bytes(buf[j:j + rl])
            del buf[:pos]
            pos = 0
            try:
                chunk = sock.recv(1 << 20)
            except socket.timeout:
                return
            if not chunk:
                return
            buf += chunk

    keepalive = cfg.get("keepalive", 60)
    sock.sendall(pkt(1, 0, s("MQTT") + bytes([4, 2]) + struct.pack("!H", keepalive) + s(cfg["client_id"])))
    for t, f, body in packets(10):
        if t == 2:
            break
    qos = cfg["qos"]
    if cfg["role"] == "sub":
        sock.sendall(pkt(8, 2, struct.pack("!H", 1) + s(cfg["topic"]) + bytes([qos])))
        for t, f, body in packets(10):
            if t == 9:
                break
        print("ready", flush=True)
        count, last, gaps, acks = 0, {}, 0, bytearray()
        for t, f, body in packets(cfg.get("idle", 3)):
            if t != 3:
                continue
            tl = struct.unpack("!H", body[:2])[0]
            off = 2 + tl
            if (f >> 1) & 3:
                pid = body[off:off + 2]
                off += 2
                acks += b"\x40\x02" + pid
            who, seq = body[off:off + 12].split(b":")[:2]
            seq = int(seq)
            if seq != last.get(who, -1) + 1:
                gaps += 1
            last[who] = seq
            count += 1
            if acks and (len(acks) >= 32 or count == cfg["expect"]):
                sock.sendall(acks)
                acks = bytearray()
            if count == cfg["expect"]:
                break
        print(json.dumps({"count": count, "gaps": gaps}), flush=True)
    else:
        n, size = cfg["n"], cfg["size"]
        tag = cfg["client_id"][-4:].rjust(4, "_")
        out = []
        for i in range(n):
            payload = ("%s:%07d:" % (tag, i)).encode().ljust(size, b"x")
            body = s(cfg["topic"])
            if qos:
                body += struct.pack("!H", i % 65535 + 1)
            out.append(pkt(3, qos << 1, body + payload))
        data = b"".join(out)
        print("ready", flush=True)
        sys.stdin.readline()  # go
        t0 = time.monotonic()
        sock.sendall(data)
        acked = 0
        if qos:
            for t, f, body in packets(30):
                if t == 4:
                    acked += 1
                    if acked == n:
                        break
        sock.sendall(b"\xc0\x00")
        for t, f, body in packets(30):
            if t == 13:
                break
        print(json.dumps({"sent": n, "acked": acked, "secs": time.monotonic() - t0}), flush=True)
''')


class Client:
    """A pacing-free MQTT 3.1.1 client in its own process (role "pub" or "sub").

    sub: Client(port, "sub", client_id=, topic=, qos=, expect=N, idle=3) — ready
         once subscribed; result() -> {"count", "gaps"} after N messages or
         `idle` seconds without any (QoS 1: every PUBLISH is acknowledged).
    Either over mutual TLS with tls=dict(ca, cert, key).
    pub: Client(port, "pub", client_id=, topic=, qos=, n=N, size=B) — builds
         N PUBLISHes (payload "<id>:<seq>:xxx…"), go() sends them at once as
         fast as the socket takes them; result() -> {"sent", "acked", "secs"}
         after every PUBACK (QoS 1) and a PINGRESP.
    """

    def __init__(self, port: int, role: str, **cfg):
        cfg.update(port=port, role=role)
        self.p = subprocess.Popen(["/usr/bin/python3", "-c", _CLIENT, json.dumps(cfg)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        line = self.p.stdout.readline().decode().strip()
        if line != "ready":
            self.stop()
            raise AssertionError(f"{role} client did not start: {line!r} "
                                 f"{self.p.stderr.read().decode()!r}")

    def go(self):
        self.p.stdin.write(b"go\n")
        self.p.stdin.flush()

    def result(self, timeout: float = 60) -> dict:
        out, err = self.p.communicate(timeout=timeout)
        lines = out.decode().strip().splitlines()
        if not lines:
            raise AssertionError(f"client gave no result: {err.decode()!r}")
        return json.loads(lines[-1])

    def stop(self):
        stop_proc(self.p)


def qos1_ten_to_ten(port: int, uid: str, n: int, tls=None):
    """10 QoS 1 publishers (n messages each, own topic) -> 10 subscribers of
    all of them, each client in its own process; returns (publisher results,
    subscriber results) once all are done."""
    kw = {"tls": tls} if tls else {}
    subs = [Client(port, "sub", client_id=f"s{i}-{uid}", topic=f"q/{uid}/#", qos=1,
                   expect=10 * n, idle=10, **kw) for i in range(10)]
    pubs = [Client(port, "pub", client_id=f"p{i:03d}", topic=f"q/{uid}/{i}", qos=1, n=n,
                   size=64, **kw) for i in range(10)]
    try:
        for p in pubs:
            p.go()
        sent = [p.result(timeout=90) for p in pubs]
        got = [s.result(timeout=90) for s in subs]
    finally:
        for c in pubs + subs:
            c.stop()
    return sent, got
