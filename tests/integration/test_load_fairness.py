"""Fairness under a flood (issue 13): while one client floods QoS 0 PUBLISHes
as fast as its socket takes them (over TCP, and over mutual TLS), fresh clients
still get their CONNACK and an idle client's keep alive holds.

The bounds are generous on purpose (CI machines are small and shared): before
the fix, the flooding connection was re-run by the event loop without ever
polling, and most fresh clients got no CONNACK for as long as the flood
lasted. The 100 ms figure of the issue is measured by the benchmark.
"""

import threading
import time

import pytest

import helpers
from loadtools import flood_proc, stop_proc
from pki import PKI

pytestmark = [pytest.mark.revmq_only, pytest.mark.timeout(60)]

FRESH = 20
BOUND_S = 2.0


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("loadpki")
    p = PKI(d / "pki")
    w = type("World", (), {})()
    w.root = p.root
    w.server = p.root.server_cert("server", key="ec")
    w.client = p.root.client_cert("flooder")
    w.dir = d
    return w


def ssl_conf(w):
    base = "listeners.ssl.default.ssl_options"
    return "\n".join([
        f'{base}.certfile = "{w.server.fullchain}"',
        f'{base}.keyfile = "{w.server.key}"',
        f'{base}.cacertfile = "{w.root.cert}"',
        f"{base}.verify = verify_peer",
        f"{base}.fail_if_no_peer_cert = true",
    ]) + "\n"


def connack_times(port, n):
    """Connects n fresh clients at once; returns each one's CONNACK delay (None: none)."""
    times = [None] * n
    errors = []

    def one(i):
        t0 = time.monotonic()
        try:
            c = helpers.RawClient(port, timeout=10)
            c.send(helpers.build_connect(f"fresh-{i}", keepalive=30))
            p = c.expect(helpers.CONNACK, timeout=8)
            if p.rc == 0:
                times[i] = time.monotonic() - t0
            c.close()
        except Exception as e:  # recorded, asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    return times, errors


def check_fair(b, port, flood_kw):
    idle = helpers.RawClient(b.port)
    idle.send(helpers.build_connect("idle", keepalive=2))
    assert idle.expect(helpers.CONNACK).rc == 0
    # Tiny PUBLISHes (5 bytes each): the broker spends far more per byte than
    # the flooder, so the flooder's socket never runs dry.
    flooder = flood_proc(port, topic="f", payload="", client_id="flooder", **flood_kw)
    try:
        time.sleep(0.5)  # the flood is in full swing
        assert flooder.poll() is None
        times, errors = connack_times(b.port, FRESH)
        late = [t for t in times if t is None or t > BOUND_S]
        assert not late and not errors, f"CONNACK delays {times} errors {errors}"
        # The idle client's keep alive holds: PINGREQ is answered while the flood goes on.
        t0 = time.monotonic()
        idle.send(helpers.build_packet(helpers.PINGREQ, 0, b""))
        idle.expect(helpers.PINGRESP, timeout=BOUND_S)
        assert time.monotonic() - t0 < BOUND_S
        assert flooder.poll() is None, "the flooder was disconnected"
    finally:
        stop_proc(flooder)
        idle.close()


def test_fresh_clients_connect_during_tcp_flood(broker_factory):
    b = broker_factory()
    check_fair(b, b.port, {})


def test_fresh_clients_connect_during_tls_flood(broker_factory, world):
    b = broker_factory(ssl_conf(world), extra_listeners=["ssl:default"])
    tls = {"ca": world.root.cert, "cert": world.client.cert, "key": world.client.key}
    check_fair(b, b.ports["ssl:default"], {"tls": tls})
