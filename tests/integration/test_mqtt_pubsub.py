"""PUBLISH/SUBSCRIBE: QoS 0/1/2 both directions, in-flight window, redelivery,
ordering, offline queueing, wildcards, $-topics, shared subscriptions."""

import itertools

import pytest

from helpers import (VERSIONS, PUBLISH, PUBREC, PUBREL, ConnectionClosed, MosquittoSub, RawClient,
                     build_ack, build_subscribe, mosquitto_pub, wait_until)


def _sub(broker, raw_client, version, cid, *filters, clean=True):
    c = raw_client(broker, version)
    c.connect(cid, clean=clean)
    c.subscribe(*filters)
    return c


def _pubs(packets):
    return [p for p in packets if p.type == PUBLISH]


@VERSIONS
@pytest.mark.parametrize("pub_qos,sub_qos", list(itertools.product([0, 1, 2], repeat=2)),
                         ids=lambda v: str(v))
def test_qos_matrix(broker, raw_client, version, pub_qos, sub_qos, uid):
    topic = f"qm/{uid}"
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, sub_qos), expect_codes=[sub_qos])
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    ack = p.publish(topic, b"m", qos=pub_qos)
    if pub_qos == 1:
        assert ack.type == 4 and ack.pid is not None
    if pub_qos == 2:
        assert ack.type == 7  # PUBCOMP
    m = s.recv_publish()
    assert (m.topic, m.payload, m.qos) == (topic, b"m", min(pub_qos, sub_qos))
    assert not m.dup and not m.retain
    if m.qos:
        assert m.pid and m.pid > 0


@VERSIONS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_pubsub(broker, mqtt_client, version, qos, uid):
    topic = f"pp/{uid}"
    s = mqtt_client(broker, f"s-{uid}", version=version)
    s.subscribe(topic, qos)
    p = mqtt_client(broker, f"p-{uid}", version=version)
    for i in range(10):
        p.publish(topic, f"m{i}".encode(), qos)
    got = s.wait_for(10)
    assert [m.payload for m in got] == [f"m{i}".encode() for i in range(10)]
    assert {m.qos for m in got} == {qos}


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("ver", ["mqttv311", "mqttv5"])
def test_mosquitto_clients_pubsub(broker, qos, ver, uid):
    topic = f"mc/{uid}"
    sub = MosquittoSub(broker.port, topic, "-q", str(qos), "-V", ver, count=2).start()
    try:
        mosquitto_pub(broker.port, topic, "one", "-q", str(qos), "-V", ver)
        mosquitto_pub(broker.port, topic, "two", "-q", str(qos), "-V", ver)
        assert sub.wait_messages(2) == [f"{topic} one", f"{topic} two"]
    finally:
        sub.stop()


@VERSIONS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_ordering_per_topic(broker, raw_client, version, qos, uid):
    topic = f"ord/{uid}"
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, qos))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    n = 200
    for i in range(n):  # each QoS flow completed in turn (stays within Receive Maximum)
        p.publish(topic, str(i).encode(), qos=qos)
    got = [int(m.payload) for m in s.recv_publishes(n, timeout=10)]
    assert got == list(range(n))


@VERSIONS
def test_unsubscribe_stops_delivery(broker, raw_client, version, uid):
    topic = f"un/{uid}"
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, 1), (f"un2/{uid}", 1))
    un = s.unsubscribe(topic)
    if version == 5:
        assert un.codes == [0]
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    p.publish(topic, b"gone", qos=1)
    p.publish(f"un2/{uid}", b"barrier", qos=1)
    m = s.recv_publish()
    assert m.payload == b"barrier"


@VERSIONS
def test_qos2_duplicate_publish_delivered_once(broker, raw_client, version, uid):
    """A QoS 2 PUBLISH resent with DUP before PUBREL is delivered once (4.3.3)."""
    topic = f"q2d/{uid}"
    s = _sub(broker, raw_client, version, f"s-{uid}", (topic, 2), (f"b/{uid}", 0))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    p.publish(topic, b"once", qos=2, pid=7, wait=False)
    p.expect(PUBREC, pid=7)
    p.publish(topic, b"once", qos=2, pid=7, dup=True, wait=False)
    p.expect(PUBREC, pid=7)
    p.send(build_ack(PUBREL, 7, version=version))
    p.expect(7, pid=7)  # PUBCOMP
    p.publish(f"b/{uid}", b"barrier")
    got = s.recv_publishes(2)
    assert [m.payload for m in got] == [b"once", b"barrier"]


# -- in-flight window --------------------------------------------------------


@VERSIONS
def test_inflight_window(broker_factory, raw_client, version, uid):
    b = broker_factory("mqtt.max_inflight = 3", mosquitto_conf="max_inflight_messages 3")
    topic = f"if/{uid}"
    s = raw_client(b, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, 1))
    p = raw_client(b, version)
    p.connect(f"p-{uid}")
    for i in range(10):
        p.publish(topic, str(i).encode(), qos=1)
    first = s.recv_publishes(3, ack=False)
    assert [m.payload for m in first] == [b"0", b"1", b"2"]
    assert _pubs(s.drain(0.3)) == [], "more than max_inflight unacknowledged messages sent"
    s.ack(first[0])
    nxt = s.recv_publish(ack=False)
    assert nxt.payload == b"3"
    for m in first[1:] + [nxt]:
        s.ack(m)
    rest = s.recv_publishes(6)
    assert [m.payload for m in rest] == [str(i).encode() for i in range(4, 10)]


def test_v5_client_receive_maximum_limits_server(broker, raw_client, uid):
    topic = f"rm/{uid}"
    s = raw_client(broker, 5)
    s.connect(f"s-{uid}", props={"receive_maximum": 2})
    s.subscribe((topic, 2))
    p = raw_client(broker, 5)
    p.connect(f"p-{uid}")
    for i in range(6):
        p.publish(topic, str(i).encode(), qos=2)
    first = s.recv_publishes(2, ack=False)
    assert [m.payload for m in first] == [b"0", b"1"]
    assert _pubs(s.drain(0.3)) == [], "server exceeded the client's Receive Maximum"
    for m in first:
        s.ack(m)
    rest = s.recv_publishes(4)
    assert [m.payload for m in rest] == [b"2", b"3", b"4", b"5"]


# -- redelivery, offline queue -------------------------------------------------


def _persistent(port, version, cid, clean):
    c = RawClient(port, version=version)
    if version == 5:
        c.connect(cid, clean=clean, props={"session_expiry_interval": 300})
    else:
        if clean:
            c.connect(cid, clean=True)
            c.disconnect()
            c = RawClient(port, version=version)
        c.connect(cid, clean=False)
    return c


@VERSIONS
@pytest.mark.parametrize("qos", [1, 2])
def test_redelivery_with_dup_on_reconnect(broker, raw_client, version, qos, uid):
    topic = f"rd/{uid}"
    cid = f"s-{uid}"
    s = _persistent(broker.port, version, cid, clean=True)
    s.subscribe((topic, qos))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    p.publish(topic, b"again", qos=qos)
    m = s.recv_publish(ack=False)
    assert not m.dup
    s.abort()
    s2 = _persistent(broker.port, version, cid, clean=False)
    try:
        again = s2.recv_publish(ack=False)
        assert (again.payload, again.dup, again.pid, again.qos) == (b"again", True, m.pid, qos)
        s2.ack(again)
        assert _pubs(s2.drain(0.2)) == []
    finally:
        s2.close()


@VERSIONS
def test_qos2_pubrel_resent_after_pubrec(broker, raw_client, version, uid):
    topic = f"rr/{uid}"
    cid = f"s-{uid}"
    s = _persistent(broker.port, version, cid, clean=True)
    s.subscribe((topic, 2))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    p.publish(topic, b"x", qos=2)
    m = s.recv_publish(ack=False)
    s.send(build_ack(PUBREC, m.pid, version=version))
    s.expect(PUBREL, pid=m.pid)
    s.abort()
    s2 = _persistent(broker.port, version, cid, clean=False)
    try:
        rel = s2.expect(PUBREL)
        assert rel.pid == m.pid
        s2.send(build_ack(7, rel.pid, version=version))
        assert _pubs(s2.drain(0.2)) == [], "PUBLISH resent after PUBREC (MQTT-4.3.3)"
    finally:
        s2.close()


@VERSIONS
@pytest.mark.parametrize("qos", [1, 2])
def test_offline_messages_queued(broker, raw_client, version, qos, uid):
    topic = f"oq/{uid}"
    cid = f"s-{uid}"
    s = _persistent(broker.port, version, cid, clean=True)
    s.subscribe((topic, qos))
    s.disconnect()
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    for i in range(5):
        p.publish(topic, str(i).encode(), qos=qos)
    s2 = _persistent(broker.port, version, cid, clean=False)
    try:
        got = s2.recv_publishes(5)
        assert [m.payload for m in got] == [str(i).encode() for i in range(5)]
        assert {m.qos for m in got} == {qos}
    finally:
        s2.close()


@VERSIONS
def test_offline_queue_over_max_mqueue_len(broker_factory, raw_client, version, uid, peer):
    """mosquitto drops what is over max_queued_messages although it acknowledged
    it; revmq keeps a persistent session's queue beyond mqtt.max_mqueue_len on
    disk and delivers all of it in order (without a store it refuses instead:
    test_store_spill.py)."""
    b = broker_factory("mqtt.max_mqueue_len = 3",
                       mosquitto_conf="max_queued_messages 3\nmax_inflight_messages 1")
    topic = f"mq/{uid}"
    cid = f"s-{uid}"
    s = _persistent(b.port, version, cid, clean=True)
    s.subscribe((topic, 1))
    s.disconnect()
    p = raw_client(b, version)
    p.connect(f"p-{uid}")
    for i in range(10):
        p.publish(topic, str(i).encode(), qos=1)
    s2 = _persistent(b.port, version, cid, clean=False)
    try:
        got = []
        try:
            while True:
                got.append(s2.recv_publish(timeout=0.5))
        except TimeoutError:
            pass
        nums = [int(m.payload) for m in got]
        if peer == "revmq":
            assert nums == list(range(10))
        else:
            assert 1 <= len(got) <= 4, nums  # one more in its in-flight slot
            assert nums == sorted(nums)
    finally:
        s2.close()


# -- overlapping subscriptions ----------------------------------------------------


@pytest.mark.peer_deviates("mosquitto", reason="delivers overlapping subscriptions at the lower QoS")
@VERSIONS
def test_overlapping_subscriptions_deliver_max_qos(broker, raw_client, version, uid):
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((f"ov/{uid}/+", 0), (f"ov/{uid}/a", 2), (f"ov/{uid}/#", 1))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    p.publish(f"ov/{uid}/a", b"x", qos=2)
    p.publish(f"ov/{uid}/b", b"barrier", qos=2)
    got = []
    while True:
        m = s.recv_publish()
        if m.payload == b"barrier":
            break
        got.append(m)
    assert got, "no copy delivered"
    assert max(m.qos for m in got) == 2  # MQTT-3.3.5-1
    assert len(got) <= 3


# -- topic filters -----------------------------------------------------------------


@pytest.mark.parametrize("filt,topic,match", [
    ("a/+/c", "a/b/c", True),
    ("a/+/c", "a/b/d", False),
    ("a/+", "a/b/c", False),
    ("a/#", "a", True),
    ("a/#", "a/b/c", True),
    ("#", "x/y", True),
    ("+/+", "/x", True),
    ("+", "/x", False),
    ("a/+/+", "a//", True),
    ("#", "$SYS/x", False),
    ("+/x", "$foo/x", False),
    ("$foo/#", "$foo/x", True),
    ("$foo/+", "$foo/x", True),
    ("a/b", "a/B", False),
    ("a/b", "a/b/", False),
])
def test_topic_filter_matching(broker, raw_client, filt, topic, match, uid):
    # Each test has its own broker, so plain topic names are safe here.
    s = raw_client(broker, 4)
    s.connect(f"s-{uid}")
    s.subscribe((filt, 1), ("barrier/" + uid, 1))
    p = raw_client(broker, 4)
    p.connect(f"p-{uid}")
    if not topic.startswith("$SYS"):
        p.publish(topic, b"m", qos=1)
        p.publish("barrier/" + uid, b"b", qos=1)
        got = s.recv_publish()
        if match:
            assert (got.topic, got.payload) == (topic, b"m")
            got = s.recv_publish()
        assert got.payload == b"b", f"{topic} delivered to {filt}"
    else:
        # $SYS topics are broker-made; we only check the broker sends none
        # of them to '#' (MQTT-4.7.2-1).
        p.publish("barrier/" + uid, b"b", qos=1)
        got = s.recv_publish()
        assert got.payload == b"b" and not got.topic.startswith("$")


@VERSIONS
def test_invalid_filters_rejected_in_suback(broker, raw_client, version, uid):
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    ack = s.subscribe(("ok/" + uid, 1))
    assert ack.codes == [1]
    # a/#/b is an invalid filter: v5 answers 0x8F, v3 0x80, or the broker closes
    s.send(build_subscribe(99, [("a/#/b", 1)], version=version))
    try:
        ack = s.expect(9, pid=99)
        assert ack.codes[0] >= 0x80
    except ConnectionClosed:
        pass


# -- shared subscriptions ----------------------------------------------------------


@VERSIONS
def test_shared_subscription_each_message_to_one_member(broker, raw_client, version, uid):
    topic = f"sh/{uid}"
    members = []
    for i in range(3):
        c = raw_client(broker, version)
        c.connect(f"m{i}-{uid}")
        c.subscribe((f"$share/g/{topic}", 1), expect_codes=[1])
        members.append(c)
    other_group = raw_client(broker, version)
    other_group.connect(f"og-{uid}")
    other_group.subscribe((f"$share/h/{topic}", 1))
    plain = raw_client(broker, version)
    plain.connect(f"pl-{uid}")
    plain.subscribe((topic, 1))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    n = 30
    for i in range(n):
        p.publish(topic, str(i).encode(), qos=1)
    assert sorted(int(m.payload) for m in plain.recv_publishes(n)) == list(range(n))
    assert sorted(int(m.payload) for m in other_group.recv_publishes(n)) == list(range(n))
    got = []

    def collect(wait):
        for c in members:
            for m in _pubs(c.drain(wait)):
                c.ack(m)
                got.append(m)
        return len(got) >= n

    wait_until(lambda: collect(0.02), 5, what=f"{n} shared deliveries")
    collect(0.2)  # nothing more may come
    assert sorted(int(m.payload) for m in got) == list(range(n)), "each message exactly once"
    for m in got:
        assert m.topic == topic


@VERSIONS
def test_shared_subscription_member_leaves(broker, raw_client, version, uid):
    topic = f"shl/{uid}"
    a = raw_client(broker, version)
    a.connect(f"a-{uid}")
    a.subscribe((f"$share/g/{topic}", 0))
    b = raw_client(broker, version)
    b.connect(f"b-{uid}")
    b.subscribe((f"$share/g/{topic}", 0))
    b.unsubscribe(f"$share/g/{topic}")
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    for i in range(5):
        p.publish(topic, str(i).encode(), qos=1)
    assert [m.payload for m in a.recv_publishes(5)] == [str(i).encode() for i in range(5)]


# -- more edges ------------------------------------------------------------------------


@VERSIONS
def test_pubrel_for_unknown_packet_id_gets_pubcomp(broker, raw_client, version, uid, peer):
    c = raw_client(broker, version)
    c.connect(f"c-{uid}")
    c.send(build_ack(PUBREL, 4242, version=version))
    comp = c.expect(7, pid=4242)  # PUBCOMP (v5: 0x92 Packet Identifier not found)
    if version == 5 and peer == "revmq":
        assert comp.rc == 0x92, comp
    elif version == 5:
        assert comp.rc in (0x00, 0x92)
    assert c.is_open()


@VERSIONS
def test_resubscribe_replaces_subscription(broker, raw_client, version, uid):
    topic = f"rs/{uid}"
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, 0))
    s.subscribe((topic, 2))  # MQTT-3.8.4-3: replaces, does not add
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    p.publish(topic, b"x", qos=2)
    p.publish(f"{topic}/bar", b"barrier", qos=1)
    s.subscribe((f"{topic}/bar", 1))
    p.publish(f"{topic}/bar", b"barrier", qos=1)
    got = []
    while True:
        m = s.recv_publish()
        if m.payload == b"barrier":
            break
        got.append(m)
    assert [(m.payload, m.qos) for m in got] == [(b"x", 2)]


@VERSIONS
def test_incoming_dup_flag_not_propagated(broker, raw_client, version, uid):
    topic = f"dp/{uid}"
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, 1))
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    p.publish(topic, b"x", qos=1, dup=True)
    m = s.recv_publish()
    assert (m.payload, m.dup) == (b"x", False)  # MQTT-3.3.1-3


MOSQ_SHARE = pytest.mark.peer_deviates("mosquitto", reason="2.0.11 accepts this shared filter")


@pytest.mark.parametrize("version,filt", [
    pytest.param(5, "$share/g", marks=MOSQ_SHARE),    # MQTT-4.8.2-2: a filter must follow
    pytest.param(5, "$share//t", marks=MOSQ_SHARE),   # MQTT-4.8.2-1: ShareName not empty
    (5, "$share/g+/t"), (5, "$share/g#/t"),
    # 3.1.1 has no shared subscriptions: "$share/g" is a plain filter there, but
    # "g+" / "g#" are invalid levels in any case
    (4, "$share/g+/t"), (4, "$share/g#/t"),
])
def test_invalid_shared_subscription_filters(broker, raw_client, version, filt, uid):
    c = raw_client(broker, version)
    c.connect(f"c-{uid}")
    c.send(build_subscribe(9, [(filt, 1)], version=version))
    try:
        ack = c.expect(9, pid=9)
        assert ack.codes[0] >= 0x80, ack
    except ConnectionClosed:
        pass


@pytest.mark.peer_deviates("mosquitto", reason="2.0.11 sends retained messages to shared subscriptions")
def test_v5_retained_not_sent_to_shared_subscription(broker, raw_client, uid):
    topic = f"rsh/{uid}"
    p = raw_client(broker, 5)
    p.connect(f"p-{uid}")
    p.publish(topic, b"retained", qos=1, retain=True)
    s = raw_client(broker, 5)
    s.connect(f"s-{uid}")
    s.subscribe((f"$share/g/{topic}", 1), (f"bar/{uid}", 1))
    p.publish(f"bar/{uid}", b"barrier", qos=1)
    assert s.recv_publish().payload == b"barrier"  # 3.3.1.3: only non-shared ones get it


# -- exactly once across a reconnect of the publisher ---------------------------------------


def _pub_session(port, version, cid, clean):
    c = RawClient(port, version=version)
    if version == 5:
        c.connect(cid, clean=clean, props={"session_expiry_interval": 60})
    else:
        c.connect(cid, clean=False)
    return c


@VERSIONS
def test_qos2_exactly_once_when_pubrel_sent_after_reconnect(broker, raw_client, version, uid):
    topic = f"eo1/{uid}"
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, 2), (f"bar/{uid}", 0))
    cid = f"p-{uid}"
    p = _pub_session(broker.port, version, cid, True)
    p.publish(topic, b"once", qos=2, pid=11, wait=False)
    p.expect(PUBREC, pid=11)
    p.abort()  # PUBREL never sent on this connection
    p2 = _pub_session(broker.port, version, cid, False)
    try:
        p2.send(build_ack(PUBREL, 11, version=version))
        comp = p2.expect(7, pid=11)
        assert comp.rc == 0, comp  # the stored packet id: success
        p2.publish(f"bar/{uid}", b"barrier")
    finally:
        p2.close()
    got = []
    while True:
        m = s.recv_publish()
        if m.payload == b"barrier":
            break
        got.append(m.payload)
    assert got == [b"once"]


@VERSIONS
def test_qos2_exactly_once_when_publish_resent_after_reconnect(broker, raw_client, version, uid):
    topic = f"eo2/{uid}"
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, 2), (f"bar/{uid}", 0))
    cid = f"p-{uid}"
    p = _pub_session(broker.port, version, cid, True)
    p.publish(topic, b"once", qos=2, pid=12, wait=False)
    p.abort()  # whether the PUBREC was sent is unknown to the client
    p2 = _pub_session(broker.port, version, cid, False)
    try:
        p2.publish(topic, b"once", qos=2, pid=12, dup=True)  # MQTT-4.4.0-1 resend
        p2.publish(f"bar/{uid}", b"barrier")
    finally:
        p2.close()
    got = []
    while True:
        m = s.recv_publish()
        if m.payload == b"barrier":
            break
        got.append(m.payload)
    assert got == [b"once"]



@VERSIONS
@pytest.mark.parametrize("n", [64, 300])
def test_many_filters_in_one_subscribe_and_unsubscribe(broker, raw_client, version, n, uid):
    c = raw_client(broker, version)
    c.connect(f"c-{uid}")
    filters = [f"mf/{uid}/{i}" for i in range(n)]
    assert c.subscribe(*[(f, 1) for f in filters]).codes == [1] * n
    c.publish(filters[-1], b"last", qos=1)
    assert c.recv_publish().payload == b"last"
    un = c.unsubscribe(*filters)
    if version == 5:
        assert un.codes == [0] * n


def test_long_topic_and_deep_levels(broker, raw_client, uid):
    c = raw_client(broker, 5)
    c.connect(f"c-{uid}")
    long_topic = f"lt/{uid}/" + "x" * 20000
    deep = f"dl/{uid}/" + "/".join(["l"] * 100)  # under the default max_topic_levels 128
    c.subscribe((long_topic, 1), (deep, 1))
    c.publish(long_topic, b"long", qos=1)
    c.publish(deep, b"deep", qos=1)
    got = c.recv_publishes(2)
    assert [(m.topic, m.payload) for m in got] == [(long_topic, b"long"), (deep, b"deep")]
