"""Will messages: abrupt close, normal DISCONNECT, MQTT 5 will delay and
DISCONNECT 0x04, keepalive timeout, protocol error."""

import time

import pytest

from helpers import PINGREQ, PINGRESP, VERSIONS, RC_DISCONNECT_WITH_WILL, build_packet


def _watcher(broker, raw_client, version, topic, uid):
    w = raw_client(broker, version)
    w.connect(f"w-{uid}")
    w.subscribe((topic, 1), (f"bar/{uid}", 1))
    return w


def _no_will(broker, raw_client, version, w, uid):
    """Barrier: a message on bar/<uid> arrives and no will came before it."""
    p = raw_client(broker, version)
    p.connect(f"bp-{uid}")
    p.publish(f"bar/{uid}", b"barrier", qos=1)
    m = w.recv_publish()
    assert m.payload == b"barrier", f"unexpected {m}"


@VERSIONS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_will_sent_on_abrupt_close(broker, raw_client, version, qos, uid):
    topic = f"will/{uid}"
    w = _watcher(broker, raw_client, version, topic, uid)
    c = raw_client(broker, version)
    c.connect(f"c-{uid}", will={"topic": topic, "payload": b"gone", "qos": qos})
    c.abort()
    m = w.recv_publish()
    assert (m.topic, m.payload, m.qos, m.retain) == (topic, b"gone", min(qos, 1), False)


@VERSIONS
def test_will_sent_on_plain_tcp_close(broker, raw_client, version, uid):
    topic = f"willfin/{uid}"
    w = _watcher(broker, raw_client, version, topic, uid)
    c = raw_client(broker, version)
    c.connect(f"c-{uid}", will={"topic": topic, "payload": b"fin"})
    c.close()  # FIN without DISCONNECT
    assert w.recv_publish().payload == b"fin"


@VERSIONS
def test_will_not_sent_on_normal_disconnect(broker, raw_client, version, uid):
    topic = f"nowill/{uid}"
    w = _watcher(broker, raw_client, version, topic, uid)
    c = raw_client(broker, version)
    c.connect(f"c-{uid}", will={"topic": topic, "payload": b"gone"})
    c.disconnect()
    _no_will(broker, raw_client, version, w, uid)


@VERSIONS
def test_will_retained(broker, raw_client, version, uid):
    topic = f"willr/{uid}"
    c = raw_client(broker, version)
    c.connect(f"c-{uid}", will={"topic": topic, "payload": b"offline", "qos": 1, "retain": True})
    w = _watcher(broker, raw_client, version, topic, uid)
    c.abort()
    assert w.recv_publish().payload == b"offline"
    late = raw_client(broker, version)
    late.connect(f"late-{uid}")
    late.subscribe((topic, 1))
    m = late.recv_publish()
    assert (m.payload, m.retain) == (b"offline", True)


@VERSIONS
def test_will_on_keepalive_timeout(broker, raw_client, version, uid):
    topic = f"willka/{uid}"
    w = _watcher(broker, raw_client, version, topic, uid)
    c = raw_client(broker, version)
    c.connect(f"c-{uid}", keepalive=1, will={"topic": topic, "payload": b"timeout"})
    assert w.recv_publish(timeout=8).payload == b"timeout"
    c.wait_closed(1)


@VERSIONS
def test_will_on_protocol_error(broker, raw_client, version, uid):
    topic = f"willpe/{uid}"
    w = _watcher(broker, raw_client, version, topic, uid)
    c = raw_client(broker, version)
    c.connect(f"c-{uid}", will={"topic": topic, "payload": b"err"})
    c.send(build_packet(0, 0, b""))  # packet type 0 is reserved: malformed
    c.wait_closed()
    assert w.recv_publish().payload == b"err"


def test_paho_will(broker, mqtt_client, uid):
    topic = f"pw/{uid}"
    w = mqtt_client(broker, f"w-{uid}", version=5)
    w.subscribe(topic, 1)
    c = mqtt_client(broker, f"c-{uid}", version=5,
                    will={"topic": topic, "payload": b"paho-will", "qos": 1})
    c.drop()
    m = w.wait_for(1)[0]
    assert (m.topic, m.payload) == (topic, b"paho-will")


# -- MQTT 5 ------------------------------------------------------------------------


def test_v5_disconnect_with_will_message(broker, raw_client, uid):
    topic = f"w04/{uid}"
    w = _watcher(broker, raw_client, 5, topic, uid)
    c = raw_client(broker, 5)
    c.connect(f"c-{uid}", will={"topic": topic, "payload": b"asked"})
    c.disconnect(rc=RC_DISCONNECT_WITH_WILL)
    assert w.recv_publish().payload == b"asked"


def test_v5_will_properties_passed_through(broker, raw_client, uid):
    topic = f"wp/{uid}"
    w = _watcher(broker, raw_client, 5, topic, uid)
    c = raw_client(broker, 5)
    c.connect(f"c-{uid}", will={"topic": topic, "payload": b"{}", "props": {
        "content_type": "application/json", "payload_format_indicator": 1,
        "response_topic": "resp/x", "correlation_data": b"\x01\x02",
        "user_property": [("a", "1"), ("a", "2")]}})
    c.abort()
    m = w.recv_publish()
    assert m.props.get("content_type") == "application/json"
    assert m.props.get("payload_format_indicator") == 1
    assert m.props.get("response_topic") == "resp/x"
    assert m.props.get("correlation_data") == b"\x01\x02"
    assert m.props.get("user_property") == [("a", "1"), ("a", "2")]


def test_v5_will_delay(broker, raw_client, uid):
    topic = f"wd/{uid}"
    w = _watcher(broker, raw_client, 5, topic, uid)
    c = raw_client(broker, 5)
    c.connect(f"c-{uid}", props={"session_expiry_interval": 30},
              will={"topic": topic, "payload": b"late", "props": {"will_delay_interval": 2}})
    t0 = time.monotonic()
    c.abort()
    m = w.recv_publish(timeout=6)
    elapsed = time.monotonic() - t0
    assert m.payload == b"late"
    assert 1.5 <= elapsed <= 4.0, f"will after {elapsed:.2f}s, delay was 2s"


def test_v5_will_delay_cancelled_by_reconnect(broker, raw_client, uid):
    topic = f"wdc/{uid}"
    cid = f"c-{uid}"
    w = _watcher(broker, raw_client, 5, topic, uid)
    c = raw_client(broker, 5)
    c.connect(cid, props={"session_expiry_interval": 30},
              will={"topic": topic, "payload": b"late", "props": {"will_delay_interval": 2}})
    c.abort()
    c2 = raw_client(broker, 5)
    c2.connect(cid, clean=False, props={"session_expiry_interval": 30})
    time.sleep(2.5)  # the will delay under test must pass
    _no_will(broker, raw_client, 5, w, uid)


def test_v5_will_sent_at_session_end_when_shorter_than_delay(broker, raw_client, uid):
    topic = f"wse/{uid}"
    w = _watcher(broker, raw_client, 5, topic, uid)
    c = raw_client(broker, 5)
    c.connect(f"c-{uid}", props={"session_expiry_interval": 1},
              will={"topic": topic, "payload": b"end", "props": {"will_delay_interval": 30}})
    t0 = time.monotonic()
    c.abort()
    assert w.recv_publish(timeout=5).payload == b"end"  # MQTT-3.1.3-9: at session end
    assert time.monotonic() - t0 <= 4.0


@pytest.mark.parametrize("after_ms", [10, 50, 150])
def test_v5_due_will_published_when_session_resumes_right_after_delay(broker, raw_client, uid,
                                                                       after_ms):
    """MQTT-3.1.2-8: once its delay has passed the will is due. A client that resumes
    its session just after that, before the broker's 250 ms timer has published it,
    must not cancel it (MQTT-3.1.3-9 cancels only a will still waiting)."""
    topic = f"wdue/{uid}"
    cid = f"c-{uid}"
    w = _watcher(broker, raw_client, 5, topic, uid)
    c = raw_client(broker, 5)
    c.connect(cid, props={"session_expiry_interval": 30},
              will={"topic": topic, "payload": b"due", "props": {"will_delay_interval": 1}})
    c.abort()
    # Barrier on the broker's event loop: once the PINGRESP is back the broker has
    # seen the reset, so the will's delay started no later than t0.
    w.send(build_packet(PINGREQ, 0, b""))
    w.expect(PINGRESP)
    t0 = time.monotonic()
    time.sleep(max(0.0, t0 + 1.0 + after_ms / 1000.0 - time.monotonic()))
    c2 = raw_client(broker, 5)
    c2.connect(cid, clean=False, props={"session_expiry_interval": 30})
    assert w.recv_publish(timeout=3).payload == b"due"
    _no_will(broker, raw_client, 5, w, uid)  # published once, not again
