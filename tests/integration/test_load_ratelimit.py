"""Rate limits with EMQX 5's listener keys (issue 13): max_conn_rate,
messages_rate, bytes_rate, and revmq's max_conn_per_addr. A client over its
limit is slowed (its socket is not read for a while), never disconnected, and
nothing it sent is lost.
"""

import threading
import time

import pytest

import helpers
from helpers import RawClient

pytestmark = [pytest.mark.revmq_only, pytest.mark.timeout(60)]


def burst_and_receive(b, uid, n, size):
    """Sends n QoS 0 PUBLISHes in one write; returns (payloads received, seconds)."""
    sub = RawClient(b.port)
    sub.connect(f"s-{uid}")
    sub.subscribe((f"rl/{uid}", 0))
    pub = RawClient(b.port)
    pub.connect(f"p-{uid}")
    data = b"".join(helpers.build_publish(f"rl/{uid}", b"%06d" % i + b"x" * (size - 6))
                    for i in range(n))
    t0 = time.monotonic()
    pub.send(data)
    got = [int(m.payload[:6]) for m in sub.recv_publishes(n, timeout=30)]
    secs = time.monotonic() - t0
    # Still connected: slowed, not dropped.
    pub.send(helpers.build_packet(helpers.PINGREQ, 0, b""))
    pub.expect(helpers.PINGRESP, timeout=10)
    pub.close()
    sub.close()
    return got, secs


def test_messages_rate_slows_a_publisher_without_loss(broker_factory, uid):
    b = broker_factory('listeners.tcp.default.messages_rate = "20/s"\n')
    got, secs = burst_and_receive(b, uid, 60, 16)
    assert got == list(range(60))
    # 20 pass at once (one second's worth), the other 40 at 20/s.
    assert secs >= 1.5, f"60 messages at 20/s took only {secs:.2f}s"
    b.wait_for_log(r"net: client slowed by rate limit client_id=p-%s .*limit=messages_rate" % uid)


def test_bytes_rate_slows_a_publisher_without_loss(broker_factory, uid):
    b = broker_factory('listeners.tcp.default.bytes_rate = "64KB/s"\n')
    got, secs = burst_and_receive(b, uid, 32, 8192)  # 256 KB
    assert got == list(range(32))
    assert secs >= 2.0, f"256 KB at 64KB/s took only {secs:.2f}s"
    b.wait_for_log(r"net: client slowed by rate limit client_id=p-%s .*limit=bytes_rate" % uid)


def test_max_conn_rate_delays_but_accepts_every_client(broker_factory, uid):
    b = broker_factory('listeners.tcp.default.max_conn_rate = "5/s"\n')
    n = 15
    done = [None] * n

    def one(i):
        t0 = time.monotonic()
        c = RawClient(b.port, timeout=15)
        c.connect(f"c{i}-{uid}", timeout=15)
        done[i] = time.monotonic() - t0
        c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert all(d is not None for d in done), done
    # 5 at once, then 10 more at 5/s: the last about 2 s later.
    assert max(done) >= 1.5, f"15 connections at 5/s all done within {max(done):.2f}s"
    b.wait_for_log(r"listener: accept paused by max_conn_rate name=default")


def test_max_conn_per_addr_makes_the_extra_connection_wait(broker_factory, uid):
    b = broker_factory("listeners.tcp.default.max_conn_per_addr = 3\n")
    first = [RawClient(b.port) for _ in range(3)]
    for i, c in enumerate(first):
        c.connect(f"a{i}-{uid}")
    extra = RawClient(b.port)
    extra.send(helpers.build_connect(f"extra-{uid}"))
    with pytest.raises(TimeoutError):
        extra.expect(helpers.CONNACK, timeout=1.0)
    b.wait_for_log(r"net: connection waits, max_conn_per_addr reached listener=[a-z]+:default "
                   r"addr=127\.0\.0\.1:\d+ max_conn_per_addr=3")
    first[0].close()
    assert extra.expect(helpers.CONNACK, timeout=5).rc == 0
    for c in first[1:] + [extra]:
        c.close()
