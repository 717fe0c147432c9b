"""Descriptor exhaustion (issue 13): the broker raises its soft open-files
limit to the hard limit at start; when accept runs out of descriptors it
pauses accepting (no spinning: its CPU time stays low), logs once per
episode, and accepts the waiting clients by itself once others leave.
"""

import select
import socket
import time

import pytest

import helpers
from loadtools import cpu_seconds

pytestmark = [pytest.mark.revmq_only, pytest.mark.timeout(90)]


def start_limited(broker_factory, nofile):
    b = broker_factory(start=False)
    plain = b.command

    def command():
        return ["prlimit", f"--nofile={nofile}", "--"] + plain()

    b.command = command
    return b.start()


def test_soft_limit_raised_to_hard_limit(broker_factory):
    b = start_limited(broker_factory, "64:512")
    b.wait_for_log(r"net: open files limit raised from=64 to=512")
    fields = open(f"/proc/{b.proc.pid}/limits").read()
    line = next(ln for ln in fields.splitlines() if ln.startswith("Max open files"))
    assert line.split()[3:5] == ["512", "512"], line


def connack_seen(sock, buf):
    """Reads what is there; True once a CONNACK (0x20) has arrived."""
    r, _, _ = select.select([sock], [], [], 0)
    if r:
        try:
            buf += sock.recv(64)
        except OSError:
            pass
    return len(buf) >= 4 and buf[0] == 0x20


def test_out_of_descriptors_no_spin_and_recovery(broker_factory):
    b = start_limited(broker_factory, "64:64")
    mark = b.log_mark()
    clients = []
    for i in range(100):
        s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        s.sendall(helpers.build_connect(f"fd-{i}", keepalive=0))
        clients.append([s, bytearray(), False])
    try:
        # Wait until the broker has answered all it can (no new CONNACK for
        # 0.5 s), then measure its CPU time over 2 s with 100 clients
        # connected and part of them waiting in the backlog.
        served_n, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 0.5:
            n = sum(1 for c in clients if connack_seen(c[0], c[1]))
            if n != served_n:
                served_n, stable_since = n, time.monotonic()
            time.sleep(0.05)
        cpu0 = cpu_seconds(b.proc.pid)
        time.sleep(2.0)
        used = cpu_seconds(b.proc.pid) - cpu0
        assert used < 0.5, f"broker used {used:.2f}s of CPU in 2s: accept is spinning"
        b.wait_for_log(r"listener: out of file descriptors, pausing accept name=default "
                       r'error="Too many open files"', timeout=5, since=mark)
        assert len(b.log_text().split("out of file descriptors")) == 2, "logged more than once"
        served = [c for c in clients if connack_seen(c[0], c[1])]
        assert 0 < len(served) < 100
        # Recovery: as served clients leave, the waiting ones are accepted and
        # answered, with no intervention.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(c[2] for c in clients):
            for c in clients:
                if not c[2] and connack_seen(c[0], c[1]):
                    c[2] = True
                    c[0].close()
            time.sleep(0.05)
        left = sum(1 for c in clients if not c[2])
        assert left == 0, f"{left} clients never got their CONNACK"
        b.wait_for_log(r"listener: accepting again name=default", timeout=5, since=mark)
    finally:
        for c in clients:
            c[0].close()
