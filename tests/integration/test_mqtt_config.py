"""mqtt.* configuration keys, checked by what a client sees."""

import time

import pytest

from helpers import (VERSIONS, PUBLISH, PUBREC, RC_QOS_NOT_SUPPORTED, RC_RECEIVE_MAX_EXCEEDED,
                     RC_RETAIN_NOT_SUPPORTED, RC_SHARED_SUB_NOT_SUPPORTED,
                     RC_TOPIC_ALIAS_INVALID, RC_WILDCARD_SUB_NOT_SUPPORTED, ConnectionClosed,
                     RawClient, build_ack, build_publish, wait_until)


def _pubs(packets):
    return [p for p in packets if p.type == PUBLISH]


# -- max_qos_allowed ---------------------------------------------------------------


@VERSIONS
def test_max_qos_allowed_limits_subscriptions(broker_factory, raw_client, version, uid):
    b = broker_factory("mqtt.max_qos_allowed = 1", mosquitto_conf="max_qos 1")
    c = raw_client(b, version)
    ack = c.connect(f"c-{uid}")
    if version == 5:
        assert ack.props.get("maximum_qos") == 1
    assert c.subscribe((f"mq/{uid}", 2)).codes == [1]
    assert c.subscribe((f"mq0/{uid}", 0)).codes == [0]


def test_max_qos_allowed_v5_publish_above_is_refused(broker_factory, raw_client, uid, peer):
    b = broker_factory("mqtt.max_qos_allowed = 1", mosquitto_conf="max_qos 1")
    c = raw_client(b, 5)
    c.connect(f"c-{uid}")
    c.send(build_publish(f"q2/{uid}", b"x", qos=2, pid=1, version=5))
    d = c.wait_closed()  # MQTT-3.2.2-11
    if peer == "revmq":
        assert d is not None and d.rc == RC_QOS_NOT_SUPPORTED, d


def test_max_qos_allowed_zero(broker_factory, raw_client, uid):
    b = broker_factory("mqtt.max_qos_allowed = 0", mosquitto_conf="max_qos 0")
    c = raw_client(b, 5)
    ack = c.connect(f"c-{uid}")
    assert ack.props.get("maximum_qos") == 0
    assert c.subscribe((f"z/{uid}", 2)).codes == [0]
    c.publish(f"z/{uid}", b"ok", qos=0)
    m = c.recv_publish()
    assert (m.payload, m.qos) == (b"ok", 0)


# -- retain_available ----------------------------------------------------------------


def test_retain_not_available_v5(broker_factory, raw_client, uid, peer):
    b = broker_factory("mqtt.retain_available = false", mosquitto_conf="retain_available false")
    c = raw_client(b, 5)
    ack = c.connect(f"c-{uid}")
    assert ack.props.get("retain_available") == 0
    c.send(build_publish(f"r/{uid}", b"x", qos=1, pid=1, retain=True, version=5))
    d = c.wait_closed()  # MQTT-3.2.2-14
    if peer == "revmq":
        assert d is not None and d.rc == RC_RETAIN_NOT_SUPPORTED, d


def test_retain_not_available_v311_nothing_stored(broker_factory, raw_client, uid):
    b = broker_factory("mqtt.retain_available = false", mosquitto_conf="retain_available false")
    c = raw_client(b, 4)
    c.connect(f"c-{uid}")
    c.try_send(build_publish(f"r/{uid}", b"x", qos=1, pid=1, retain=True))
    try:
        c.expect(4, timeout=1)
    except (ConnectionClosed, TimeoutError):
        pass
    s = raw_client(b, 4)
    s.connect(f"s-{uid}")
    s.subscribe((f"r/{uid}", 1), (f"bar/{uid}", 1))
    s.publish(f"bar/{uid}", b"barrier", qos=1)
    assert s.recv_publish().payload == b"barrier"


# -- wildcard / shared subscriptions -------------------------------------------------------


@VERSIONS
def test_wildcard_subscription_disabled(broker_factory, raw_client, version, uid):
    b = broker_factory("mqtt.wildcard_subscription = false")
    c = raw_client(b, version)
    ack = c.connect(f"c-{uid}")
    if version == 5:
        assert ack.props.get("wildcard_subscription_available") == 0
    bad = RC_WILDCARD_SUB_NOT_SUPPORTED if version == 5 else 0x80
    codes = c.subscribe((f"w/{uid}/+", 1), (f"w/{uid}/#", 1), (f"w/{uid}/x", 1)).codes
    assert codes == [bad, bad, 1]


@VERSIONS
def test_shared_subscription_disabled(broker_factory, raw_client, version, uid):
    b = broker_factory("mqtt.shared_subscription = false")
    c = raw_client(b, version)
    ack = c.connect(f"c-{uid}")
    if version == 5:
        assert ack.props.get("shared_subscription_available") == 0
    bad = RC_SHARED_SUB_NOT_SUPPORTED if version == 5 else 0x80
    assert c.subscribe((f"$share/g/s/{uid}", 1), (f"s/{uid}", 1)).codes == [bad, 1]


# -- max_clientid_len --------------------------------------------------------------------


@VERSIONS
def test_max_clientid_len(broker_factory, raw_client, version):
    b = broker_factory("mqtt.max_clientid_len = 23")  # the smallest allowed (as EMQX)
    ok = raw_client(b, version)
    assert ok.connect("a" * 23).rc == 0
    bad = raw_client(b, version)
    ack = bad.connect("b" * 24, expect_rc=None)
    assert ack.rc == (0x85 if version == 5 else 0x02)  # Client Identifier not valid
    bad.wait_closed()


# -- max_topic_levels ----------------------------------------------------------------------


@VERSIONS
def test_max_topic_levels(broker_factory, raw_client, version, uid):
    b = broker_factory("mqtt.max_topic_levels = 3")
    s = raw_client(b, version)
    s.connect(f"s-{uid}")
    codes = s.subscribe(("a/b/c", 1), ("a/b/c/d", 1), ("#", 1)).codes
    assert codes[0] == 1 and codes[1] >= 0x80 and codes[2] == 1
    p = raw_client(b, version)
    p.connect(f"p-{uid}")
    p.try_send(build_publish("x/y/z/w", b"too deep", qos=1, pid=1, version=version))
    try:
        p.expect(4, timeout=2)  # PUBACK, an error code in v5
    except (ConnectionClosed, TimeoutError):
        pass
    p2 = raw_client(b, version)
    p2.connect(f"p2-{uid}")
    p2.publish("a/b/c", b"fine", qos=1)
    assert s.recv_publish().payload == b"fine"  # the deep one never arrives before it


# -- max_topic_alias --------------------------------------------------------------------


def test_max_topic_alias(broker_factory, raw_client, uid):
    b = broker_factory("mqtt.max_topic_alias = 2", mosquitto_conf="max_topic_alias 2")
    c = raw_client(b, 5)
    ack = c.connect(f"c-{uid}")
    assert ack.props.get("topic_alias_maximum") == 2
    c.publish(f"ta/{uid}", b"x", qos=1, props={"topic_alias": 2})
    c.send(build_publish(f"ta/{uid}", b"x", props={"topic_alias": 3}, version=5))
    d = c.wait_closed()
    assert d is not None and d.rc == RC_TOPIC_ALIAS_INVALID, d


def test_max_topic_alias_zero_means_none(broker_factory, raw_client, uid):
    b = broker_factory("mqtt.max_topic_alias = 0")
    c = raw_client(b, 5)
    ack = c.connect(f"c-{uid}")
    assert ack.props.get("topic_alias_maximum", 0) == 0


# -- session_expiry_interval (v3 persistent sessions) ---------------------------------------


def test_session_expiry_interval_for_v311(broker_factory, raw_client, uid):
    b = broker_factory("mqtt.session_expiry_interval = 1s")
    cid = f"c-{uid}"
    c = raw_client(b, 4)
    c.connect(cid, clean=False)
    c.subscribe((f"se/{uid}", 1))
    c.disconnect()
    c2 = raw_client(b, 4)
    assert c2.connect(cid, clean=False).session_present  # still there at once
    c2.disconnect()
    time.sleep(2.2)  # the configured 1 s expiry must pass
    c3 = raw_client(b, 4)
    assert not c3.connect(cid, clean=False).session_present


# -- keepalive_multiplier -------------------------------------------------------------


def test_keepalive_multiplier(broker_factory, raw_client, uid):
    b = broker_factory("mqtt.keepalive_multiplier = 3")
    c = raw_client(b, 4)
    t0 = time.monotonic()
    c.connect(f"c-{uid}", keepalive=1)
    c.wait_closed(timeout=6)
    elapsed = time.monotonic() - t0
    assert 2.5 <= elapsed <= 4.5, f"closed after {elapsed:.2f}s, expected ~3s"


# -- max_awaiting_rel -----------------------------------------------------------------------


def test_max_awaiting_rel(broker_factory, raw_client, uid):
    b = broker_factory("mqtt.max_awaiting_rel = 2\nmqtt.max_inflight = 32")
    c = raw_client(b, 5)
    c.connect(f"c-{uid}")
    for pid in (1, 2):
        c.send(build_publish(f"ar/{uid}", b"x", qos=2, pid=pid, version=5))
        assert c.expect(PUBREC, pid=pid).rc < 0x80  # 0x00 or 0x10 no subscribers
    c.send(build_publish(f"ar/{uid}", b"x", qos=2, pid=3, version=5))
    try:
        rec = c.expect(PUBREC, pid=3)
        assert rec.rc == RC_RECEIVE_MAX_EXCEEDED, rec
    except ConnectionClosed:
        pass  # or a DISCONNECT 0x93 and close


# -- retry_interval (MQTT 5 forbids resending on the same connection) -------------------------


def test_v5_no_resend_on_same_connection(broker_factory, raw_client, uid):
    b = broker_factory("mqtt.retry_interval = 1s", mosquitto_conf="")
    s = raw_client(b, 5)
    s.connect(f"s-{uid}")
    s.subscribe((f"rt/{uid}", 1))
    p = raw_client(b, 5)
    p.connect(f"p-{uid}")
    p.publish(f"rt/{uid}", b"once", qos=1)
    first = s.recv_publish(ack=False)
    again = _pubs(s.drain(1.6))  # past the retry interval
    assert again == [], "MQTT-4.4.0-1: no resend except on reconnect"
    s.ack(first)


# -- listeners.tcp.<name>.max_connections --------------------------------------------------


def test_listener_max_connections(broker_factory, raw_client, uid):
    b = broker_factory("listeners.tcp.default.max_connections = 3",
                       mosquitto_conf="max_connections 3")
    held = []
    for i in range(3):
        c = raw_client(b, 4)
        c.connect(f"h{i}-{uid}")
        held.append(c)
    extra = raw_client(b, 5)
    try:  # refused at accept (closed before CONNACK) or with an error CONNACK
        ack = extra.connect(f"x-{uid}", expect_rc=None, timeout=3)
        assert ack.rc != 0, "a 4th connection was accepted"
    except (ConnectionClosed, OSError):
        pass
    extra.wait_closed(3)
    held[0].disconnect()

    def fresh_ok():
        c = RawClient(b.port, version=4)
        try:
            return c.connect(f"again-{uid}", expect_rc=None, timeout=2).rc == 0
        except (ConnectionClosed, OSError):
            return False
        finally:
            c.close()

    wait_until(fresh_ok, 5, interval=0.1, what="a slot to be free again")


# -- log.level -----------------------------------------------------------------------------


@pytest.mark.revmq_only
def test_log_level_warning_hides_info(broker_factory, raw_client, uid):
    b = broker_factory("log.level = warning")  # readiness falls back to a port probe
    c = raw_client(b, 4)
    c.connect(f"c-{uid}")
    c.disconnect()
    b.stop()
    assert " info " not in b.log_text()


def test_await_rel_timeout_frees_the_slot(broker_factory, raw_client, uid):
    b = broker_factory("mqtt.max_awaiting_rel = 1\nmqtt.await_rel_timeout = 1s")
    c = raw_client(b, 5)
    c.connect(f"c-{uid}")
    c.send(build_publish(f"at/{uid}", b"x", qos=2, pid=1, version=5))
    assert c.expect(PUBREC, pid=1).rc < 0x80
    time.sleep(1.3)  # the configured await_rel_timeout must pass
    c.send(build_publish(f"at/{uid}", b"y", qos=2, pid=2, version=5))
    assert c.expect(PUBREC, pid=2).rc < 0x80, "slot of the timed-out QoS 2 message not freed"
    c.send(build_ack(6, 1, version=5))  # PUBREL for the dropped one
    comp = c.expect(7, pid=1)
    assert comp.rc == 0x92  # Packet Identifier not found


# -- idle_timeout ------------------------------------------------------------------


@pytest.mark.revmq_only
def test_idle_timeout_drops_a_client_that_never_sends_connect(broker_factory):
    import socket
    b = broker_factory("mqtt.idle_timeout = 500ms")
    b2 = broker_factory("")  # the default (15 s)
    silent = socket.create_connection(("127.0.0.1", b.port), timeout=5)
    control = socket.create_connection(("127.0.0.1", b2.port), timeout=5)
    try:
        start = time.monotonic()
        silent.settimeout(5)
        assert silent.recv(1) == b""  # closed by the broker, nothing sent
        assert time.monotonic() - start < 3
        control.settimeout(1.5)
        with pytest.raises(socket.timeout):
            control.recv(1)  # the default keeps it open longer
    finally:
        silent.close()
        control.close()
