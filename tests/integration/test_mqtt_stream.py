"""Byte-stream handling: packets split and coalesced arbitrarily, large
payloads, slow consumers, bursts, redelivery of a whole in-flight window."""

import re
import time

import pytest

from helpers import (VERSIONS, CONNACK, PUBACK, SUBACK, RawClient, build_connect, build_publish,
                     build_subscribe)


@VERSIONS
def test_packets_sent_byte_by_byte(broker, raw_client, version, uid):
    topic = f"bb/{uid}"
    c = raw_client(broker, version)
    data = (build_connect(f"bb-{uid}", version=version)
            + build_subscribe(1, [(topic, 1)], version=version)
            + build_publish(topic, b"slowly" * 50, qos=1, pid=2, version=version))
    for i in range(len(data)):
        c.send(data[i:i + 1])
        if i % 64 == 0:
            time.sleep(0.001)  # let them arrive as separate segments
    assert c.expect(CONNACK).rc == 0
    c.expect(SUBACK, pid=1)
    c.expect(PUBACK, pid=2)
    assert c.recv_publish().payload == b"slowly" * 50


@VERSIONS
def test_many_packets_in_one_write(broker, raw_client, version, uid):
    topic = f"co/{uid}"
    c = raw_client(broker, version)
    data = build_connect(f"co-{uid}", version=version) + build_subscribe(
        1, [(topic, 0)], version=version)
    data += b"".join(build_publish(topic, str(i).encode(), version=version) for i in range(100))
    c.send(data)
    assert c.expect(CONNACK).rc == 0
    got = [int(m.payload) for m in c.recv_publishes(100)]
    assert got == list(range(100))


@VERSIONS
def test_large_payload_round_trip(broker, raw_client, version, uid):
    topic = f"lg/{uid}"
    payload = bytes(range(256)) * 3500  # ~900 KB, under the 1 MB default
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, 1))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    p.publish(topic, payload, qos=1, timeout=10)
    m = s.recv_publish(timeout=10)
    assert m.payload == payload


@VERSIONS
def test_slow_consumer_gets_everything_in_order(broker, raw_client, version, uid):
    topic = f"sc/{uid}"
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, 1))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    n = 500
    for i in range(n):  # the subscriber reads nothing meanwhile
        p.publish(topic, f"{i:04d}".encode() + b"." * 200, qos=1)
    got = [int(m.payload[:4]) for m in s.recv_publishes(n, timeout=15)]
    assert got == list(range(n))


def burst_to_stuck_client(broker, raw_client, version, uid):
    topic = f"qb/{uid}"
    stuck = raw_client(broker, version)
    stuck.connect(f"stuck-{uid}")
    stuck.subscribe((topic, 0))
    stuck.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4096)
    ok = raw_client(broker, version)
    ok.connect(f"ok-{uid}")
    ok.subscribe((f"ok/{uid}", 1))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    blob = b"z" * 4000
    for _ in range(6000):  # ~24 MB towards a client that never reads
        p.publish(topic, blob, qos=0)
    p.publish(f"ok/{uid}", b"alive", qos=1, timeout=10)
    assert ok.recv_publish(timeout=10).payload == b"alive"
    return topic


@VERSIONS
def test_qos0_burst_to_non_reading_client_does_not_hurt_others(broker_factory, raw_client, version,
                                                                uid, peer):
    # revmq holds the publisher (backpressure, issue 13) until the stuck client
    # is closed by the send timeout; then the publisher goes on.
    broker = broker_factory("listeners.tcp.default.tcp_options.send_timeout = 1s\n",
                            mosquitto_conf="")
    burst_to_stuck_client(broker, raw_client, version, uid)
    if peer == "revmq":
        broker.wait_for_log(rf"send timeout, closing slow subscriber client_id=stuck-{uid} ",
                            timeout=5)


@VERSIONS
@pytest.mark.revmq_only
def test_qos0_burst_dropped_with_mqueue_store_qos0_false(broker_factory, raw_client, version, uid):
    broker = broker_factory("mqtt.mqueue_store_qos0 = false\n")
    topic = burst_to_stuck_client(broker, raw_client, version, uid)
    # what was dropped for the stuck client is said, not silent
    broker.wait_for_log(rf"message dropped, slow consumer client_id=stuck-{uid} "
                        rf"topic={re.escape(topic)} qos=0", timeout=5)


@VERSIONS
def test_whole_inflight_window_redelivered_in_order(broker, raw_client, version, uid):
    topic = f"wr/{uid}"
    cid = f"s-{uid}"

    def persistent(clean):
        c = RawClient(broker.port, version=version)
        if version == 5:
            c.connect(cid, clean=clean, props={"session_expiry_interval": 60})
        else:
            c.connect(cid, clean=False)  # clean session 1 would end with the connection
        return c

    s = persistent(True)
    s.subscribe((topic, 1))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    for i in range(5):
        p.publish(topic, f"live{i}".encode(), qos=1)
    first = s.recv_publishes(5, ack=False)
    mark = broker.log_mark()
    s.abort()
    # Publish "offline" only once the broker has seen the close; before that the
    # messages would still go out in flight on the dying connection.
    broker.wait_for_log(rf"(disconnected client_id={cid}\b|Client {cid} (closed|disconnected)|"
                        rf"on client {cid}, disconnecting)", timeout=10, since=mark)
    for i in range(3):
        p.publish(topic, f"offline{i}".encode(), qos=1)
    s2 = persistent(False)
    try:
        got = s2.recv_publishes(8)
        assert [m.payload for m in got] == [f"live{i}".encode() for i in range(5)] + [
            f"offline{i}".encode() for i in range(3)]
        assert all(m.dup for m in got[:5])
        assert [m.pid for m in got[:5]] == [m.pid for m in first]
        assert not any(m.dup for m in got[5:])
    finally:
        s2.close()


@VERSIONS
def test_packet_ids_reused_after_completion(broker, raw_client, version, uid):
    topic = f"pr/{uid}"
    c = raw_client(broker, version)
    c.connect(f"c-{uid}")
    c.subscribe((topic, 2))
    for i in range(5):
        c.publish(topic, str(i).encode(), qos=2, pid=1)  # same id each time, flow complete
        assert c.recv_publish().payload == str(i).encode()


@VERSIONS
def test_fan_in_keeps_per_publisher_order(broker, raw_client, version, uid):
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((f"fi/{uid}/#", 1))
    pubs = []
    for i in range(10):
        p = raw_client(broker, version)
        p.connect(f"p{i}-{uid}")
        pubs.append(p)
    per = 20  # un-acked at once: within any sane Receive Maximum (mosquitto: 20)
    for n in range(per):  # interleaved across publishers
        for i, p in enumerate(pubs):
            p.publish(f"fi/{uid}/{i}", f"{i}:{n}".encode(), qos=1, wait=False)
    for p in pubs:
        for _ in range(per):
            p.expect(PUBACK)
    seen = {}
    for m in s.recv_publishes(10 * per, timeout=15):
        i, n = map(int, m.payload.split(b":"))
        seen.setdefault(i, []).append(n)
    assert seen == {i: list(range(per)) for i in range(10)}


@VERSIONS
def test_fan_out_to_many_subscribers(broker, raw_client, version, uid):
    topic = f"fo/{uid}"
    subs = []
    for i in range(30):
        s = raw_client(broker, version)
        s.connect(f"s{i}-{uid}")
        s.subscribe((topic, i % 3))
        subs.append(s)
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    for n in range(20):
        p.publish(topic, str(n).encode(), qos=2)
    for i, s in enumerate(subs):
        got = s.recv_publishes(20, timeout=10)
        assert [int(m.payload) for m in got] == list(range(20)), f"subscriber {i}"
        assert {m.qos for m in got} == {i % 3}


@VERSIONS
def test_rapid_takeovers_leave_one_live_connection(broker, raw_client, version, uid):
    cid = f"rt-{uid}"
    conns = []
    for _ in range(20):
        c = raw_client(broker, version)
        c.connect(cid)
        conns.append(c)
    for c in conns[:-1]:
        c.wait_closed()
    last = conns[-1]
    assert last.is_open()
    last.subscribe((f"rt/{uid}", 1))
    last.publish(f"rt/{uid}", b"mine", qos=1)
    assert last.recv_publish().payload == b"mine"


@VERSIONS
def test_large_offline_queue_drained_in_order(broker, raw_client, version, uid):
    topic = f"lq/{uid}"
    cid = f"s-{uid}"
    props = {"session_expiry_interval": 60} if version == 5 else None
    s = raw_client(broker, version)
    s.connect(cid, clean=(version == 5), props=props)
    s.subscribe((topic, 1))
    s.disconnect()
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    n = 300  # well past the default in-flight window (32), under max_mqueue_len
    for i in range(n):
        p.publish(topic, str(i).encode(), qos=1)
    s2 = raw_client(broker, version)
    assert s2.connect(cid, clean=False, props=props).session_present
    got = [int(m.payload) for m in s2.recv_publishes(n, timeout=15)]
    assert got == list(range(n))
