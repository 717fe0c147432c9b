"""Memory of idle connections (src/net/net_conn.c, issue 18): an idle MQTT
connection holds no input or output buffer (both are given back once drained
and grown again on demand), no certificate identity when it has no client
certificate, and one principal shared by the connection and its session.

Over mutual TLS 1.3 an idle connection costs mostly OpenSSL's share (the
library Mosquitto links too) plus revmq's own part, which the principal
sharing the connection's certificate identity instead of copying it, the TLS
error text made only on an error, the write event made only when a write
waits and the worker's timer wheel (no timer event per connection) keep
small. Both bounds fail with the build before those changes.

The buffers are exercised here too: a subscriber that went idle (no buffer)
gets a packet far larger than the first allocation, then many small ones, in
order; a publisher that went idle sends a large packet the same way."""

import os
import resource
import socket
import ssl

import pytest

from helpers import RawClient, build_connect
from pki import PKI

pytestmark = pytest.mark.revmq_only


def _sanitized_build() -> bool:
    cache = os.path.join(os.environ.get("RMQ_BUILD_DIR", "build"), "CMakeCache.txt")
    try:
        text = open(cache).read()
    except OSError:
        return False
    return "RMQ_SANITIZE:BOOL=ON" in text or "RMQ_TSAN:BOOL=ON" in text


def _connected(port: int, client_id: str) -> socket.socket:
    """A plain socket after CONNECT / CONNACK (RawClient's select() stops at
    descriptor 1024)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(build_connect(client_id))
    ack = b""
    while len(ack) < 4:
        chunk = s.recv(4 - len(ack))
        assert chunk, f"{client_id}: closed before CONNACK"
        ack += chunk
    assert ack == b"\x20\x02\x00\x00", f"{client_id}: CONNACK {ack!r}"
    return s


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise KeyError("VmRSS")


def _kib_per_idle_conn(pid, connect, n, n_warm):
    """RSS growth per connection, in KiB, for n idle connections made by
    connect(client_id) after n_warm warm-up ones (allocator warm-up)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + n_warm + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + n_warm + 200), hard))
    warm = [connect(f"warm-{i}") for i in range(n_warm)]
    before = _rss_kib(pid)
    clients = []
    try:
        for i in range(n):
            clients.append(connect(f"idle-{i}"))
        after = _rss_kib(pid)
    finally:
        for s in clients + warm:
            s.close()
    return (after - before) / n


@pytest.mark.skipif(_sanitized_build() or os.environ.get("RMQ_TEST_VALGRIND") in ("1", "true", "yes"),
                    reason="memory figures mean nothing under sanitizers or valgrind")
def test_idle_tcp_connection_costs_under_1_42_kib(broker):
    per_conn = _kib_per_idle_conn(broker.proc.pid, lambda cid: _connected(broker.port, cid),
                                  1500, 50)
    # 1.33 KiB here; 1.48 with one libevent timer per connection instead of the
    # worker's timer wheel, 2.06 before the principal lost its certificate fields and
    # the write event and the rate buckets became lazy (issue 18; 8.7 KiB before the
    # certificate identity, the principals and the output buffer were first trimmed).
    assert per_conn < 1.42, f"{per_conn:.2f} KiB per idle TCP connection"


def _mtls_connected(port: int, ctx: ssl.SSLContext, client_id: str) -> ssl.SSLSocket:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                        server_hostname="localhost")
    s.sendall(build_connect(client_id))
    ack = b""
    while len(ack) < 4:
        chunk = s.recv(4 - len(ack))
        assert chunk, f"{client_id}: closed before CONNACK"
        ack += chunk
    assert ack == b"\x20\x02\x00\x00", f"{client_id}: CONNACK {ack!r}"
    return s


@pytest.mark.skipif(_sanitized_build() or os.environ.get("RMQ_TEST_VALGRIND") in ("1", "true", "yes"),
                    reason="memory figures mean nothing under sanitizers or valgrind")
def test_idle_mtls_connection_costs_under_26_6_kib(broker_factory, tmp_path):
    pki = PKI(tmp_path / "pki")
    server = pki.root.server_cert("server")
    client = pki.root.client_cert("device-1")
    base = "listeners.ssl.default.ssl_options"
    b = broker_factory("\n".join([
        f'{base}.certfile = "{server.fullchain}"', f'{base}.keyfile = "{server.key}"',
        f'{base}.cacertfile = "{pki.root.cert}"', f"{base}.verify = verify_peer",
        f"{base}.fail_if_no_peer_cert = true", f"{base}.versions = [tlsv1.3]"]) + "\n",
        extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    ctx = ssl.create_default_context(cafile=pki.root.cert)
    ctx.load_cert_chain(client.cert, client.key)
    per_conn = _kib_per_idle_conn(b.proc.pid, lambda cid: _mtls_connected(port, ctx, cid), 400, 30)
    # With this client (Python's ssl, one certificate) 26.04 KiB (26.16-26.19 with a
    # libevent timer per connection), and 26.95-26.98 before the principal shared the connection's identity and the TLS
    # error text and the write event became lazy (issue 18). revmq-bench's clients
    # measure ~5 KiB less per connection (docs/benchmarks.md, memory section); what is
    # compared here is the same setup before and after.
    assert per_conn < 26.6, f"{per_conn:.2f} KiB per idle mutual-TLS connection"


def test_idle_subscriber_gets_large_then_many_small_packets(broker):
    sub = RawClient(broker.port)
    sub.connect("idle-sub")
    sub.subscribe(("idle/t", 0), ("idle/t1", 1))
    pub = RawClient(broker.port)
    pub.connect("idle-pub")
    for rnd in range(2):  # each round starts from idle: no buffer on either side
        big = bytes(range(256)) * 1200  # 300 KiB: the output buffer grows from its first size
        pub.publish("idle/t", big)
        assert sub.recv_publish(timeout=10).payload == big
        for i in range(500):
            pub.publish("idle/t", b"s%d" % i)
        got = [p.payload for p in sub.recv_publishes(500, timeout=10)]
        assert got == [b"s%d" % i for i in range(500)], f"round {rnd}"
        # QoS 1 both ways, then idle again
        pub.publish("idle/t1", b"q" * 70000, qos=1)
        assert sub.recv_publish(timeout=10).payload == b"q" * 70000
