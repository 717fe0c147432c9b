"""A persistent session's queue beyond mqtt.max_mqueue_len (issue 14).

With the store on, what an offline persistent session cannot keep in memory is
kept on disk only ("spilled") and read back in order as the client takes it, so
every acknowledged QoS 1/2 message arrives, across a SIGKILL too. Where there is
no durable place for it (store off, or durable_sessions.
max_stored_messages_per_session reached) the PUBLISH is not accepted: MQTT 5
publishers get PUBACK/PUBREC 0x97, MQTT 3.1.1 publishers are disconnected
without the acknowledgement. Real broker processes; paho-mqtt, raw sockets and
mosquitto_pub as clients.
"""
import re

import pytest

from helpers import (V5, ConnectionClosed, RawClient, mosquitto_pub,
                     paho_connect, props, wait_until)
from paho.mqtt.packettypes import PacketTypes
from test_admin_api import Admin, admin_conf
from test_net_idle_memory import _sanitized_build

pytestmark = [pytest.mark.revmq_only, pytest.mark.timeout(120)]

QUOTA_EXCEEDED = 0x97
EXP = {"session_expiry_interval": 300}


def paho_persistent(b, cid, version=V5):
    p = props(PacketTypes.CONNECT, SessionExpiryInterval=300) if version == V5 else None
    return paho_connect(b.port, cid, version=version, clean=False, props=p)


def offline_subscriber(b, cid, filt, version=V5):
    s = paho_persistent(b, cid, version)
    s.subscribe(filt, qos=2)
    s.disconnect()


def publish_numbered(b, topic, start, n, version=5, cid=None):
    """QoS 1, and QoS 2 for every sixth; returns {payload: ack reason code}."""
    p = RawClient(b.port, version=version)
    p.connect(cid or f"pub-{topic.replace('/', '-')}-{start}")
    acks = {}
    try:
        for i in range(start, start + n):
            qos = 2 if i % 6 == 5 else 1
            ack = p.publish(topic, b"%06d" % i, qos=qos)
            acks[b"%06d" % i] = ack.rc or 0
    finally:
        p.close()
    return acks


def assert_in_order(msgs, n):
    """paho hands a QoS 2 message over at PUBREL, after QoS 1 ones sent later:
    the order is checked per QoS (the raw-socket test checks the wire order)."""
    want = [b"%06d" % i for i in range(n)]
    assert sorted(m.payload for m in msgs) == want
    for q in (1, 2):
        got = [m.payload for m in msgs if m.qos == q]
        assert got == [w for i, w in enumerate(want) if (2 if i % 6 == 5 else 1) == q]


def test_offline_queue_beyond_max_mqueue_len_is_kept_on_disk(broker_factory, uid):
    b = broker_factory("mqtt.max_mqueue_len = 10\n")
    topic = f"sp/{uid}"
    offline_subscriber(b, f"s-{uid}", topic)
    acks = publish_numbered(b, topic, 0, 600)
    assert set(acks.values()) == {0}, {k: v for k, v in acks.items() if v}
    s = paho_persistent(b, f"s-{uid}")
    try:
        assert s.session_present
        # More while it drains: queued behind what is on disk, order kept.
        more = publish_numbered(b, topic, 600, 60)
        assert set(more.values()) == {0}
        assert_in_order(s.wait_for(660, timeout=30), 660)
    finally:
        s.disconnect()
    assert "message dropped" not in b.log_text()
    assert "publish refused" not in b.log_text()


@pytest.mark.parametrize("others,read", [(0, "by_session"), (60, "scan")])
def test_spilled_queue_survives_kill(broker_factory, uid, others, read):
    """Start-up reads each session's head by index when most rows stay on disk
    (one session, 600 rows), else scans all rows once (61 sessions)."""
    b = broker_factory("mqtt.max_mqueue_len = 10\n")
    topic = f"sk/{uid}"
    offline_subscriber(b, f"s-{uid}", topic)
    for i in range(others):
        c = RawClient(b.port, version=5)
        c.connect(f"o{i}-{uid}", clean=False, props=EXP)
        c.subscribe((f"other/{uid}", 1))
        c.disconnect()
    acks = publish_numbered(b, topic, 0, 600)
    assert set(acks.values()) == {0}
    b.kill()
    mark = b.log_mark()
    b.start()
    m = b.wait_for_log(r"store: loaded sessions=(\d+) .* messages=(\d+) messages_on_disk=(\d+) "
                       r".* read=(\w+) ", since=mark)
    assert m.groups() == (str(1 + others), "10", "590", read), m.group(0)
    s = RawClient(b.port, version=5)
    try:
        assert s.connect(f"s-{uid}", clean=False, props=EXP).session_present
        got = s.recv_publishes(600, timeout=30)  # each acknowledged (QoS 2: full flow)
        assert [m.payload for m in got] == [b"%06d" % i for i in range(600)]
        assert [m.qos for m in got[:6]] == [1, 1, 1, 1, 1, 2]
        s.disconnect()
    finally:
        s.close()
    # Taken and acknowledged: nothing is left for another restart (once the
    # broker read the last PUBCOMP: it came before the DISCONNECT).
    b.wait_for_log(r"mqtt: disconnected client_id=s-%s " % uid, since=mark)
    b.stop()
    mark = b.log_mark()
    b.start()
    b.wait_for_log(r"store: loaded sessions=%d .* messages=0 messages_on_disk=0 " % (1 + others),
                   since=mark)
    # Killed, not stopped: a SIGTERM this soon after start can hang in
    # rmq_admin_free (its loopbreak can come before the admin loop runs); the
    # clean exit of this load path was checked by the stop above.
    b.kill()


def _hwm_kib(b):
    with open(f"/proc/{b.proc.pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))


def test_resume_with_expiry_zero_reads_disk_queue_in_batches(broker_factory, uid):
    """A session resumed with Session Expiry 0 stops persisting; its queue on
    disk (400 x 64 KiB beyond max_mqueue_len = 10) is still read back in
    batches as it is taken, not all into memory at the CONNECT (before: the
    broker's peak RSS rose by the whole queue, 25 MiB), and its rows are gone
    once drained; a restart finds nothing of it."""
    b = broker_factory("mqtt.max_mqueue_len = 10\n")
    topic = f"ez/{uid}"
    offline_subscriber(b, f"s-{uid}", topic)
    p = RawClient(b.port, version=5)
    p.connect(f"p-{uid}")
    try:
        for i in range(400):
            assert (p.publish(topic, b"%06d" % i + bytes(65530), qos=1).rc or 0) == 0
    finally:
        p.close()
    peak = _hwm_kib(b)
    mark = b.log_mark()
    s = RawClient(b.port, version=5)
    try:
        assert s.connect(f"s-{uid}", clean=False,
                         props={"session_expiry_interval": 0}).session_present
        got = s.recv_publishes(400, timeout=60)
        assert [m.payload[:6] for m in got] == [b"%06d" % i for i in range(400)]
        grew = _hwm_kib(b) - peak
        # (ASan keeps freed memory in quarantine: the figure means nothing there.)
        assert grew < 12 * 1024 or _sanitized_build(), f"peak RSS grew by {grew} KiB"
        s.disconnect()
    finally:
        s.close()
    b.wait_for_log(r"mqtt: disconnected client_id=s-%s " % uid, since=mark)
    b.kill()
    mark = b.log_mark()
    b.start()
    b.wait_for_log(r"store: loaded sessions=0 .* messages=0 messages_on_disk=0 ", since=mark)
    b.kill()


def _refused_v3(b, topic, cid):
    """A 3.1.1 publisher sends QoS 1 until it is closed without a PUBACK; returns
    the payloads acknowledged and the one that was not."""
    p = RawClient(b.port, version=4)
    p.connect(cid)
    acked = []
    for i in range(100):
        pl = b"v3-%03d" % i
        try:
            p.publish(topic, pl, qos=1, timeout=3)
        except (ConnectionClosed, OSError):
            p.close()
            return acked, pl
        acked.append(pl)
    p.close()
    raise AssertionError("never refused: %d acknowledged" % len(acked))


def test_no_store_refuses_beyond_max_mqueue_len(broker_factory, uid):
    b = broker_factory("durable_sessions.enable = false\nmqtt.max_mqueue_len = 10\n")
    topic = f"ns/{uid}"
    offline_subscriber(b, f"s-{uid}", topic)
    live = paho_connect(b.port, f"live-{uid}", version=V5)
    live.subscribe(topic, qos=1)
    # MQTT 5: 0x97 for QoS 1 and QoS 2 beyond the limit.
    p = RawClient(b.port, version=5)
    p.connect(f"p5-{uid}")
    codes = {}
    for i in range(14):
        pl = b"v5-%03d" % i
        codes[pl] = p.publish(topic, pl, qos=2 if i == 12 else 1).rc or 0
    p.close()
    ok = [pl for pl, rc in codes.items() if rc == 0]
    assert ok == [b"v5-%03d" % i for i in range(10)], codes
    assert {rc for rc in codes.values() if rc} == {QUOTA_EXCEEDED}
    # MQTT 3.1.1: no negative ack exists; the connection is closed without one.
    acked, refused = _refused_v3(b, topic, f"p3-{uid}")
    assert acked == []
    # mosquitto_pub -V 311: fails (no PUBACK) instead of reporting success.
    r = mosquitto_pub(b.port, topic, "mosq", "-q", "1", "-V", "311", check=False)
    assert r.returncode != 0, r
    b.wait_for_log(r"publish refused, subscriber queue full publisher=p5-%s subscriber=s-%s "
                   r"subscribers_refusing=1 topic=%s max_mqueue_len=10 .*store=off"
                   % (uid, uid, re.escape(topic)))
    # The live subscriber got every message, refused ones included.
    live_got = {m.payload for m in live.wait_for(16)}
    assert set(codes) | {refused} <= live_got
    live.disconnect()
    s = paho_persistent(b, f"s-{uid}")
    try:
        got = [m.payload for m in s.wait_for(10)]
        assert got == ok
        assert [m for m in s.take()[10:]] == []
    finally:
        s.disconnect()


def test_refused_retained_message_is_not_retained(broker_factory, uid):
    """A RETAIN PUBLISH refused with 0x97 was not accepted: it must not become
    the topic's retained message (before, it was retained before routing)."""
    b = broker_factory("durable_sessions.enable = false\nmqtt.max_mqueue_len = 2\n")
    topic = f"rr/{uid}"
    offline_subscriber(b, f"s-{uid}", topic)
    p = RawClient(b.port, version=5)
    p.connect(f"p-{uid}")
    try:
        codes = [p.publish(topic, b"r%d" % i, qos=1, retain=True).rc or 0 for i in range(3)]
    finally:
        p.close()
    assert codes == [0, 0, QUOTA_EXCEEDED]
    late = paho_connect(b.port, f"late-{uid}", version=V5)
    try:
        late.subscribe(topic, qos=1)
        got = late.wait_for(1)
        assert [(m.payload, m.retain) for m in got] == [(b"r1", 1)]
    finally:
        late.disconnect()


def test_v311_publisher_acked_before_refusal_all_arrive(broker_factory, uid):
    b = broker_factory("durable_sessions.enable = false\nmqtt.max_mqueue_len = 10\n")
    topic = f"n3/{uid}"
    offline_subscriber(b, f"s-{uid}", topic, version=4)
    acked, refused = _refused_v3(b, topic, f"p3-{uid}")
    assert len(acked) == 10
    s = paho_persistent(b, f"s-{uid}", version=4)
    try:
        assert [m.payload for m in s.wait_for(10)] == acked
    finally:
        s.disconnect()
    assert refused not in acked


def test_stored_bound_per_session_refuses_with_0x97(broker_factory, uid, tmp_path):
    conf, admin_port = admin_conf(tmp_path)
    b = broker_factory(conf + "mqtt.max_mqueue_len = 10\n"
                       "durable_sessions.max_stored_messages_per_session = 25\n")
    topic = f"sb/{uid}"
    offline_subscriber(b, f"s-{uid}", topic)
    acks = publish_numbered(b, topic, 0, 30)
    ok = [pl for pl, rc in acks.items() if rc == 0]
    assert ok == [b"%06d" % i for i in range(25)], acks
    assert {rc for rc in acks.values() if rc} == {QUOTA_EXCEEDED}
    b.wait_for_log(r"publish refused, subscriber queue full .*subscriber=s-%s .*"
                   r"max_stored_messages_per_session=25 store=on" % uid)
    # A 3.1.1 publisher is disconnected without the ack.
    acked, _ = _refused_v3(b, topic, f"p3-{uid}")
    assert acked == []
    # Counted: 5 refused to the MQTT 5 publisher, 1 to the 3.1.1 one.
    a = Admin(admin_port)
    prom = a.get("/api/v5/prometheus/stats")
    assert re.search(r'^revmq_messages_refused_total\{reason="queue_full"\} 6$', prom, re.M), prom
    assert re.search(r'^revmq_messages_dropped_total\{reason="queue_full"\} 0$', prom, re.M)
    assert a.get("/api/v5/metrics")[0]["messages.refused.queue_full"] == 6
    s = paho_persistent(b, f"s-{uid}")
    try:
        assert_in_order(s.wait_for(25), 25)
        # Taken: room again.
        wait_until(lambda: publish_numbered(b, topic, 100, 1, cid=f"again-{uid}")
                   == {b"000100": 0}, timeout=5)
        assert s.wait_for(26)[25].payload == b"000100"
    finally:
        s.disconnect()


def test_disk_full_refuses_what_would_be_on_disk_only(broker_factory, uid):
    """Under a file size limit (prlimit --fsize, as a full disk) the messages
    beyond the queue in memory have no durable place: refused with 0x97 (at the
    write, or when the commit that was to cover their ack fails), never
    acknowledged and lost. Every message acknowledged with success arrives."""
    b = broker_factory("mqtt.max_mqueue_len = 2\n", start=False)
    base = b.command
    b.command = lambda: ["prlimit", "--fsize=262144"] + base()
    b.start()
    topic = f"df/{uid}"
    s = RawClient(b.port, version=5)
    s.connect(f"s-{uid}", clean=False, props=EXP)
    s.subscribe((topic, 1))
    s.disconnect()
    p = RawClient(b.port, version=5)
    p.connect(f"p-{uid}")
    codes = [p.publish(topic, bytes([65 + i]) * 100000, qos=1).rc or 0 for i in range(8)]
    p.close()
    assert QUOTA_EXCEEDED in codes, codes
    assert set(codes) <= {0, QUOTA_EXCEEDED}, codes
    acked = [bytes([65 + i]) for i, rc in enumerate(codes) if rc == 0]
    b.wait_for_log(r"publish refused, (subscriber queue full|store commit failed)")
    s = RawClient(b.port, version=5)
    try:
        assert s.connect(f"s-{uid}", clean=False, props=EXP).session_present
        got = [m.payload[:1] for m in s.recv_publishes(len(acked), timeout=10)]
        assert got == acked
    finally:
        s.close()
    b.stop()  # exits 0, no sanitizer report
