"""The write path (src/net/net_conn.c): output is written at the end of the
loop turn that produced it, without arming the write event (no epoll_ctl +
epoll_wait round-trip per write); the write event is armed only when the
socket would block, and then everything queued still arrives, in order."""

import shutil
import socket
import subprocess
import threading
import time

import pytest

from helpers import PINGRESP, PINGREQ_BYTES, RawClient

pytestmark = [
    pytest.mark.revmq_only,
    pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (scripts/deps.sh)"),
]


def _traced(path):
    try:
        return open(path).read().splitlines()
    except FileNotFoundError:
        return []


def test_one_message_per_turn_costs_no_epoll_ctl(broker, tmp_path):
    sub = RawClient(broker.port)
    sub.connect("wp-sub")
    sub.subscribe(("wp/t", 0))
    pub = RawClient(broker.port)
    pub.connect("wp-pub")
    out = tmp_path / "strace.txt"
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=epoll_ctl,sendto,write",
                               "-o", str(out), "-p", str(broker.proc.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Attached to the worker threads once a PINGRESP shows up as a write.
        deadline = time.monotonic() + 10
        while not any("sendto" in ln or "write(" in ln for ln in _traced(out)):
            assert tracer.poll() is None, f"strace failed: {tracer.stderr.read().decode()}"
            assert time.monotonic() < deadline, "strace did not attach"
            sub.send(PINGREQ_BYTES)
            sub.expect(PINGRESP, 5.0)
        before = len(_traced(out))
        n = 100
        for i in range(n):  # one message per loop turn: each is read, routed, written
            pub.publish("wp/t", b"m%d" % i)
            assert sub.recv_publish().payload == b"m%d" % i
        lines = _traced(out)[before:]
    finally:
        tracer.terminate()
        tracer.wait(10)
    writes = [ln for ln in lines if "sendto(" in ln or "write(" in ln]
    ctls = [ln for ln in lines if "epoll_ctl(" in ln]
    assert len(writes) >= n, f"strace saw {len(writes)} writes for {n} deliveries"
    # Before: every delivery armed and disarmed the write event (2 per message).
    assert len(ctls) < n // 10, f"{len(ctls)} epoll_ctl for {n} deliveries:\n" + "\n".join(ctls[:10])


def test_blocked_subscriber_gets_everything_in_order(broker):
    sub = RawClient(broker.port)
    sub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sub.connect("wp-slow")
    sub.subscribe(("wp/big", 0))
    pub = RawClient(broker.port)
    pub.connect("wp-fast")
    n, payload = 1000, b"x" * 4000  # 4 MB: more than the socket buffers hold

    def flood():
        for i in range(n):
            pub.publish("wp/big", b"%06d" % i + payload)

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    t.join(1.0)  # the subscriber reads nothing meanwhile: the broker's writes block
    got = [p.payload[:6] for p in sub.recv_publishes(n, timeout=20)]
    t.join(5)
    assert got == [b"%06d" % i for i in range(n)]
