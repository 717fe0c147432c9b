"""Split connections (issue 16): a TLS connection whose handshake ends on a
handshake worker keeps its socket and TLS records there, and its MQTT
connection runs on worker 0, the two halves joined by mail (struct pipe,
src/net/net_int.h). Everything a client sees must be what it sees on a
connection wholly on worker 0: every QoS and message size in both
directions, held publishers, a stuck subscriber closed after send_timeout,
wills, keep alive, revocation, and the goodbye at shutdown. A debug line
names the connections split and their IO worker."""

import re
import socket
import ssl
import time

import pytest

import helpers
from helpers import HOST, PahoClient, RawClient, V5
from httpfaults import World, crl_urls_line, file_server, ssl_conf  # noqa: F401
from loadtools import Client, qos1_ten_to_ten
from pki import PKI

pytestmark = [pytest.mark.revmq_only, pytest.mark.timeout(120)]

SSL = "listeners.ssl.default"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("splitpki")
    p = PKI(d / "pki")
    w = type("World", (), {})()
    w.root = p.root
    w.server = p.root.server_cert("server", key="ec")
    w.dev = [p.root.client_cert(f"dev{i}") for i in range(3)]
    w.revoked = p.root.client_cert("revoked")
    p.root.revoke(w.revoked)
    w.crl, _ = p.root.gencrl()
    return w


def conf(w, workers=2, extra=""):
    o = f"{SSL}.ssl_options"
    return "\n".join([f'{o}.certfile = "{w.server.fullchain}"', f'{o}.keyfile = "{w.server.key}"',
                      f'{o}.cacertfile = "{w.root.cert}"', f"{o}.verify = verify_peer",
                      f"{o}.fail_if_no_peer_cert = true", f"node.workers = {workers}",
                      extra]) + "\n"


def start(broker_factory, w, workers=2, extra=""):
    b = broker_factory(conf(w, workers, extra), extra_listeners=["ssl:default"],
                       log_level="debug")
    return b, b.ports["ssl:default"]


def splits_since(b, mark=0):
    text = b.log_path.read_bytes()[mark:].decode("utf-8", "replace")
    return re.findall(r"net: connection split listener=ssl:default .* io_worker=(\d+)", text)


def tls_ctx(w, cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(w.root.cert)
    ctx.load_cert_chain(cert.cert, cert.key)
    ctx.check_hostname = False
    return ctx


def paho_tls(w, cert, port, client_id, version=V5, **kw):
    c = PahoClient(client_id, version=version)
    c.client.tls_set_context(tls_ctx(w, cert))
    return c.connect(port, **kw)


class TlsRaw(RawClient):
    """RawClient over mutual TLS: exact MQTT bytes, decoded packets."""

    def __init__(self, w, cert, port, version=5, rcvbuf=None):
        super().__init__(port, version=version)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock = tls_ctx(w, cert).wrap_socket(self.sock)


def test_tls_connections_are_split_and_carry_every_qos_and_size(broker_factory, world, uid):
    b, port = start(broker_factory, world)
    mark = b.log_mark()
    sub = paho_tls(world, world.dev[0], port, f"s-{uid}")
    sub.subscribe(f"sp/{uid}/#", qos=2)
    tcp_sub = helpers.paho_connect(b.port, f"t-{uid}", version=V5)
    tcp_sub.subscribe(f"sp/{uid}/#", qos=2)
    pub = paho_tls(world, world.dev[1], port, f"p-{uid}")
    # Both TLS clients are split, their IO side on the handshake worker.
    assert splits_since(b, mark) == ["1", "1"], b.log_text()[-3000:]
    # Sizes around and far over the pipe windows (64 KiB out, 128 KiB in).
    sizes = [0, 1, 1000, 65535, 65536, 70000, 131072, 200000, 900000]
    sent = []
    for i, size in enumerate(sizes):
        for qos in (0, 1, 2):
            payload = bytes([(i * 3 + qos) % 251]) * size
            pub.publish(f"sp/{uid}/{i}/{qos}", payload, qos=qos)
            sent.append((f"sp/{uid}/{i}/{qos}", payload, qos))
    for c in (sub, tcp_sub):
        got = [(m.topic, m.payload, m.qos) for m in c.wait_for(len(sent), timeout=30)]
        # paho hands a QoS 2 message over at its PUBREL, so only each QoS's
        # own order is the publisher's
        for qos in (0, 1, 2):
            assert [g for g in got if g[2] == qos] == [x for x in sent if x[2] == qos]
    # And from the core worker's own (TCP) connection to the split one.
    tcp_pub = helpers.paho_connect(b.port, f"tp-{uid}", version=V5)
    sub.take()
    for qos in (0, 1, 2):
        tcp_pub.publish(f"sp/{uid}/tcp/{qos}", b"y" * 300000, qos=qos)
    got = sub.wait_for(3, timeout=30)
    assert sorted((m.topic, len(m.payload), m.qos) for m in got) == [
        (f"sp/{uid}/tcp/{q}", 300000, q) for q in (0, 1, 2)]
    for c in (sub, tcp_sub, pub, tcp_pub):
        c.disconnect()


def test_one_worker_splits_nothing(broker_factory, world, uid):
    b, port = start(broker_factory, world, workers=1)
    sub = paho_tls(world, world.dev[0], port, f"s-{uid}")
    sub.subscribe(f"one/{uid}", qos=1)
    pub = paho_tls(world, world.dev[1], port, f"p-{uid}")
    pub.publish(f"one/{uid}", b"x", qos=1)
    assert sub.wait_for(1)[0].payload == b"x"
    assert splits_since(b) == []


def test_unpaced_qos0_between_split_connections_loses_nothing(broker_factory, world, uid):
    """The publisher outruns the subscriber: the core holds it, its IO side
    stops reading at the input window, nothing is dropped, order is kept."""
    b, port = start(broker_factory, world)
    n = 100000
    tls = lambda c: {"ca": world.root.cert, "cert": c.cert, "key": c.key}  # noqa: E731
    sub = Client(port, "sub", client_id=f"s-{uid}", topic=f"u/{uid}", qos=0, expect=n, idle=8,
                 tls=tls(world.dev[0]))
    pub = Client(port, "pub", client_id=f"p-{uid}", topic=f"u/{uid}", qos=0, n=n, size=64,
                 tls=tls(world.dev[1]))
    try:
        pub.go()
        sent = pub.result(timeout=90)
        got = sub.result(timeout=90)
    finally:
        pub.stop()
        sub.stop()
    assert sent["sent"] == n
    assert got == {"count": n, "gaps": 0}, got
    assert "message dropped" not in b.log_text()
    assert len(splits_since(b)) == 2


def test_qos1_ten_to_ten_over_split_connections(broker_factory, world, uid):
    b, port = start(broker_factory, world)
    n = 300
    tls = {"ca": world.root.cert, "cert": world.dev[0].cert, "key": world.dev[0].key}
    sent, got = qos1_ten_to_ten(port, uid, n, tls=tls)
    assert all(r["acked"] == n for r in sent), sent
    assert all(r == {"count": 10 * n, "gaps": 0} for r in got), got
    assert len(splits_since(b)) == 20


def test_a_stuck_split_subscriber_is_closed_after_send_timeout(broker_factory, world, uid):
    b, port = start(broker_factory, world, extra=f"{SSL}.tcp_options.send_timeout = 1s")
    topic = f"fan/{uid}"
    stuck = TlsRaw(world, world.dev[0], port, version=4, rcvbuf=4096)
    stuck.connect(f"stuck-{uid}", keepalive=0)
    stuck.subscribe((topic, 0))
    n = 60000
    tls = {"ca": world.root.cert, "cert": world.dev[1].cert, "key": world.dev[1].key}
    live = Client(port, "sub", client_id=f"live-{uid}", topic=topic, qos=0, expect=n, idle=8,
                  tls=tls)
    pub = Client(port, "pub", client_id=f"p-{uid}", topic=topic, qos=0, n=n, size=200, tls=tls)
    try:
        mark = b.log_mark()
        t0 = time.monotonic()
        pub.go()
        b.wait_for_log(r"net: send timeout, closing slow subscriber client_id=stuck-%s .*"
                       r"send_timeout_ms=1000" % uid, timeout=20, since=mark)
        held_for = time.monotonic() - t0
        sent = pub.result(timeout=90)
        got = live.result(timeout=90)
    finally:
        pub.stop()
        live.stop()
        stuck.close()
    assert held_for >= 0.9, f"closed after {held_for:.2f}s, before the 1 s send timeout"
    assert sent["sent"] == n
    assert got == {"count": n, "gaps": 0}, got
    assert len(splits_since(b)) == 3


def test_will_of_a_split_client_that_vanishes(broker_factory, world, uid):
    b, port = start(broker_factory, world)
    sub = paho_tls(world, world.dev[0], port, f"s-{uid}")
    sub.subscribe(f"will/{uid}", qos=1)
    c = TlsRaw(world, world.dev[1], port, version=5)
    c.connect(f"w-{uid}", will={"topic": f"will/{uid}", "payload": b"gone", "qos": 1})
    c.abort()  # no DISCONNECT: a TCP reset under the TLS session
    m = sub.wait_for(1, timeout=10)[0]
    assert (m.topic, m.payload) == (f"will/{uid}", b"gone")
    assert len(splits_since(b)) == 2


def test_keep_alive_is_enforced_on_a_split_connection(broker_factory, world, uid):
    b, port = start(broker_factory, world)
    c = TlsRaw(world, world.dev[0], port, version=5)
    c.connect(f"ka-{uid}", keepalive=1)
    t0 = time.monotonic()
    d = c.wait_closed(timeout=10)  # never pings
    assert d is not None and d.rc == 0x8D, d  # Keep Alive timeout
    assert 1.0 <= time.monotonic() - t0 < 5
    assert splits_since(b) == ["1"]


def test_shutdown_says_goodbye_to_split_clients(broker_factory, world, uid):
    b, port = start(broker_factory, world)
    v5 = TlsRaw(world, world.dev[0], port, version=5)
    v5.connect(f"s5-{uid}")
    v3 = TlsRaw(world, world.dev[1], port, version=4)
    v3.connect(f"s3-{uid}")
    assert splits_since(b) == ["1", "1"]
    b.stop()  # SIGTERM; exit code 0 and no sanitizer report asserted
    d = v5.wait_closed()
    assert d is not None and d.rc == 0x8B, d  # Server shutting down
    assert v3.wait_closed() is None


def test_a_revoked_split_client_is_disconnected_live(broker_factory, tmp_path, file_server):
    """A new CRL revokes a connected client: its MQTT connection on the core
    ends with DISCONNECT 0x98 through its split connection; the other stays."""
    w = World(tmp_path / "w")
    dev = w.inter.client_cert("dev-split")
    fs = file_server()
    url = fs.publish("inter.pem", w.inter.gencrl()[0])
    b = broker_factory(ssl_conf(w, crl_urls_line(url), "crl_cache.refresh_interval = 1s",
                                "crl_cache.discover_from_cert = false", "node.workers = 2"),
                       extra_listeners=["ssl:default"], log_level="debug")
    port = b.ports["ssl:default"]
    c = TlsRaw(w, dev, port, version=5)
    c.connect("dev-split")
    keep = TlsRaw(w, w.good, port, version=5)
    keep.connect("keeper")
    assert splits_since(b) == ["1", "1"]
    w.inter.revoke(dev)
    fs.publish("inter.pem", w.inter.gencrl()[0])
    d = c.wait_closed(timeout=10)
    assert d is not None and d.rc == 0x98, d  # Administrative action: certificate revoked
    keep.send(helpers.PINGREQ_BYTES)
    assert keep.expect(helpers.PINGRESP).type == helpers.PINGRESP


def test_a_connection_handshaken_on_the_core_is_split_too(broker_factory, world, uid):
    """With the handshake worker busy, worker 0 does the next handshake; the
    connection's socket and TLS then go to the handshake worker all the same."""
    b, port = start(broker_factory, world)
    mark = b.log_mark()
    stalled = socket.create_connection((HOST, port))  # no ClientHello: revmq-hs1 stays busy
    try:
        sub = paho_tls(world, world.dev[0], port, f"s-{uid}")
        text = b.log_path.read_bytes()[mark:].decode("utf-8", "replace")
        assert re.findall(r"handshake done listener=ssl:default .* worker=(\d+)", text) == ["0"]
        assert splits_since(b, mark) == ["1"]
        sub.subscribe(f"core/{uid}", qos=1)
        pub = helpers.paho_connect(b.port, f"p-{uid}", version=V5)
        pub.publish(f"core/{uid}", b"z" * 100000, qos=1)
        assert sub.wait_for(1)[0].payload == b"z" * 100000
    finally:
        stalled.close()
