"""Backpressure instead of loss (issue 13).

A publisher that outruns its subscribers is slowed (not read) instead of
having its messages dropped: an unpaced 1→1 QoS 0 run loses nothing, 10→10
QoS 1 drops nothing that was acknowledged, and a subscriber that stops
reading is closed after the listener's tcp_options.send_timeout while the
publisher's other subscribers carry on. mqtt.mqueue_store_qos0 = false brings
back dropping, counted and logged. Clients run in their own processes
(loadtools.Client) so the test's own pace does not shape the load.
"""

import socket
import struct
import time

import pytest

import helpers
from loadtools import Client, qos1_ten_to_ten
from pki import PKI

pytestmark = [pytest.mark.revmq_only, pytest.mark.timeout(120)]


def test_unpaced_qos0_one_to_one_loses_nothing(broker_factory, uid):
    b = broker_factory()
    n = 150000  # ~12 MB: several times the output high-water mark
    sub = Client(b.port, "sub", client_id=f"s-{uid}", topic=f"bp/{uid}", qos=0, expect=n, idle=5)
    pub = Client(b.port, "pub", client_id=f"p-{uid}", topic=f"bp/{uid}", qos=0, n=n, size=64)
    try:
        pub.go()
        sent = pub.result()
        got = sub.result()
    finally:
        pub.stop()
        sub.stop()
    assert sent["sent"] == n
    assert got == {"count": n, "gaps": 0}, got
    assert "message dropped" not in b.log_text()


def test_unpaced_qos0_from_a_tls_publisher_loses_nothing(broker_factory, uid, tmp_path):
    # Over TLS a held publisher may have decrypted input inside OpenSSL when it
    # is resumed: it must be read on without a socket event.
    p = PKI(tmp_path / "pki")
    server = p.root.server_cert("server", key="ec")
    client = p.root.client_cert("publisher")
    base = "listeners.ssl.default.ssl_options"
    b = broker_factory("\n".join([
        f'{base}.certfile = "{server.fullchain}"', f'{base}.keyfile = "{server.key}"',
        f'{base}.cacertfile = "{p.root.cert}"', f"{base}.verify = verify_peer",
        f"{base}.fail_if_no_peer_cert = true"]) + "\n", extra_listeners=["ssl:default"])
    n = 100000
    tls = {"ca": p.root.cert, "cert": client.cert, "key": client.key}
    sub = Client(b.port, "sub", client_id=f"s-{uid}", topic=f"bp/{uid}", qos=0, expect=n, idle=5)
    pub = Client(b.ports["ssl:default"], "pub", client_id=f"p-{uid}", topic=f"bp/{uid}", qos=0,
                 n=n, size=64, tls=tls)
    try:
        pub.go()
        sent = pub.result()
        got = sub.result()
    finally:
        pub.stop()
        sub.stop()
    assert sent["sent"] == n
    assert got == {"count": n, "gaps": 0}, got
    assert "message dropped" not in b.log_text()


def test_qos1_ten_to_ten_drops_nothing_acknowledged(broker_factory, uid):
    b = broker_factory()
    n = 500
    sent, got = qos1_ten_to_ten(b.port, uid, n)
    assert all(r["acked"] == n for r in sent), sent
    assert all(r == {"count": 10 * n, "gaps": 0} for r in got), got
    assert "message dropped" not in b.log_text()


def stuck_subscriber(port, client_id, topic):
    """A raw subscriber that never reads after its SUBACK (tiny receive buffer)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(helpers.build_connect(client_id, keepalive=0))
    s.sendall(helpers.build_subscribe(1, [(topic, 0)]))
    got = b""
    deadline = time.monotonic() + 5
    while len(got) < 9 and time.monotonic() < deadline:  # CONNACK (4) + SUBACK (5)
        got += s.recv(9 - len(got))
    assert got[0] == 0x20 and got[4] == 0x90, got
    return s


def test_stuck_subscriber_closed_after_send_timeout_others_carry_on(broker_factory, uid):
    b = broker_factory("listeners.tcp.default.tcp_options.send_timeout = 1s\n")
    topic = f"fan/{uid}"
    n = 60000  # ~12 MB of 200-byte messages
    stuck = stuck_subscriber(b.port, f"stuck-{uid}", topic)
    live = Client(b.port, "sub", client_id=f"live-{uid}", topic=topic, qos=0, expect=n, idle=8)
    pub = Client(b.port, "pub", client_id=f"p-{uid}", topic=topic, qos=0, n=n, size=200)
    try:
        mark = b.log_mark()
        t0 = time.monotonic()
        pub.go()
        b.wait_for_log(r"net: send timeout, closing slow subscriber client_id=stuck-%s .*"
                       r"send_timeout_ms=1000" % uid, timeout=15, since=mark)
        held_for = time.monotonic() - t0
        sent = pub.result()
        got = live.result()
    finally:
        pub.stop()
        live.stop()
        stuck.close()
    assert held_for >= 0.9, f"closed after {held_for:.2f}s, before the 1 s send timeout"
    assert sent["sent"] == n
    # The live subscriber got everything, in order: the publisher was held, not dropped.
    assert got == {"count": n, "gaps": 0}, got
    assert "message dropped" not in b.log_text()


def test_mqueue_store_qos0_false_drops_and_counts(broker_factory, uid):
    b = broker_factory("mqtt.mqueue_store_qos0 = false\n"
                       "listeners.tcp.default.tcp_options.send_timeout = 30s\n")
    topic = f"drop/{uid}"
    stuck = stuck_subscriber(b.port, f"stuck-{uid}", topic)
    pub = Client(b.port, "pub", client_id=f"p-{uid}", topic=topic, qos=0, n=60000, size=200)
    try:
        pub.go()
        r = pub.result()  # never held: it finishes although nobody reads
        b.wait_for_log(r"session: message dropped, slow consumer client_id=stuck-%s .*qos=0 "
                       r".*mqueue_store_qos0=false" % uid, timeout=5)
    finally:
        pub.stop()
        stuck.close()
    assert r["sent"] == 60000


@pytest.mark.parametrize("store", [True, False], ids=["store_qos0", "no_store_qos0"])
def test_mqueue_store_qos0_queues_qos0_for_an_offline_session(broker_factory, uid, store):
    b = broker_factory(f"mqtt.mqueue_store_qos0 = {'true' if store else 'false'}\n")
    topic, cid = f"off/{uid}", f"s-{uid}"
    s = helpers.RawClient(b.port)
    s.connect(cid, clean=False)
    s.subscribe((topic, 0))
    s.close()
    b.wait_for_log(rf"disconnected client_id={cid}\b")
    p = helpers.RawClient(b.port)
    p.connect(f"p-{uid}")
    for i in range(3):
        p.publish(topic, f"m{i}".encode(), qos=0)
    p.publish(f"{topic}/sync", b"", qos=1)  # the three were routed before this ack
    s2 = helpers.RawClient(b.port)
    ack = s2.connect(cid, clean=False)
    assert ack.session_present
    if store:
        assert [m.payload for m in s2.recv_publishes(3)] == [b"m0", b"m1", b"m2"]
    else:
        assert [m for m in s2.drain(0.5) if m.type == helpers.PUBLISH] == []
    s2.close()
    p.close()
