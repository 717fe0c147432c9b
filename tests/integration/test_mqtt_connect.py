"""CONNECT/CONNACK, protocol versions, client ids, keepalive, sessions, takeover."""

import time

import pytest

from helpers import (VERSIONS, CONNACK, DISCONNECT, PINGRESP, PUBLISH, RC_KEEPALIVE_TIMEOUT,
                     RC_MALFORMED, RC_PROTOCOL_ERROR, RC_SESSION_TAKEN_OVER, ConnectionClosed,
                     MosquittoSub, RawClient, build_connect, build_packet, build_publish,
                     mosquitto_pub, mqtt_str, rc_value, wait_until)


@VERSIONS
def test_connect_gets_connack_success(broker, raw_client, version, uid):
    c = raw_client(broker, version)
    ack = c.connect(f"c-{uid}")
    assert ack.rc == 0
    assert ack.session_present is False
    assert c.is_open()


def test_connect_mqtt31_raw(broker, raw_client, uid):
    c = raw_client(broker, 3)
    ack = c.connect(f"c31-{uid}")  # protocol name MQIsdp, level 3
    assert ack.rc == 0
    c.subscribe(("t31/" + uid, 1), expect_codes=[1])
    c.publish("t31/" + uid, b"x", qos=1)
    p = c.recv_publish()
    assert (p.topic, p.payload, p.qos) == ("t31/" + uid, b"x", 1)


def test_mqtt31_with_mosquitto_clients(broker, uid):
    topic = f"cli31/{uid}"
    sub = MosquittoSub(broker.port, topic, "-V", "mqttv31", "-q", "1", count=1).start()
    try:
        mosquitto_pub(broker.port, topic, "hello31", "-V", "mqttv31", "-q", "1")
        assert sub.wait_messages(1) == [f"{topic} hello31"]
    finally:
        sub.stop()


@pytest.mark.parametrize("version", [3, 4, 5], ids=["v31", "v311", "v5"])
def test_paho_connect_and_roundtrip(broker, mqtt_client, version, uid):
    c = mqtt_client(broker, f"p-{uid}", version=version)
    c.subscribe(f"rt/{uid}", 1)
    c.publish(f"rt/{uid}", b"payload", 1)
    m = c.wait_for(1)[0]
    assert (m.topic, m.payload, m.qos) == (f"rt/{uid}", b"payload", 1)
    c.disconnect()


def test_v5_assigned_client_id(broker, raw_client):
    a = raw_client(broker, 5)
    ack_a = a.connect("")
    b = raw_client(broker, 5)
    ack_b = b.connect("")
    ida = ack_a.props.get("assigned_client_identifier")
    idb = ack_b.props.get("assigned_client_identifier")
    assert ida and idb and ida != idb
    assert a.is_open() and b.is_open()


def test_v311_empty_client_id_with_clean_session_accepted(broker, raw_client):
    c = raw_client(broker, 4)
    assert c.connect("", clean=True).rc == 0
    assert c.is_open()


def test_v311_empty_client_id_without_clean_session_rejected(broker, raw_client):
    c = raw_client(broker, 4)
    ack = c.connect("", clean=False, expect_rc=None)
    assert ack.rc == 0x02  # identifier rejected, MQTT-3.1.3-8
    c.wait_closed()


def first_answer(c):
    """The first packet the broker sends, or None when it just closes."""
    try:
        return c.recv_packet(3)
    except ConnectionClosed:
        return None


@pytest.mark.parametrize("level", [2, 6, 7])
def test_unsupported_protocol_level(broker, raw_client, level, peer):
    c = raw_client(broker, 4)
    c.send(build_connect("x", version=level, proto_name="MQTT"))
    p = first_answer(c)
    if peer == "revmq":
        # the level is unknown, so revmq answers in the 3.1.1 form (MQTT-3.1.2-2)
        assert p is not None and (p.type, p.body[1]) == (CONNACK, 0x01), p
    elif p is not None:
        assert p.type == CONNACK, p
        assert p.body[1] in (0x01, 0x84), p  # MQTT-3.1.2-2 / v5 0x84
    c.wait_closed()


@VERSIONS
def test_bad_protocol_name_closes(broker, raw_client, version, peer):
    c = raw_client(broker, version)
    c.send(build_connect("x", version=version, proto_name="MQTX"))
    p = first_answer(c)
    if peer == "revmq":
        # 3.1.1: closed without CONNACK; 5: CONNACK 0x82 Protocol Error, then closed
        if version == 5:
            assert p is not None and (p.type, p.rc) == (CONNACK, RC_PROTOCOL_ERROR), p
        else:
            assert p is None, p
    elif p is not None:
        assert p.type == CONNACK and p.rc != 0, p
    c.wait_closed()


@VERSIONS
def test_first_packet_must_be_connect(broker, raw_client, version):
    c = raw_client(broker, version)
    c.send(build_publish("t", b"x", version=version))
    c.wait_closed()


@VERSIONS
def test_reserved_connect_flag_closes(broker, raw_client, version, peer):
    c = raw_client(broker, version)
    c.send(build_connect("x", version=version, reserved_flag=True))  # MQTT-3.1.2-3
    p = first_answer(c)
    if peer == "revmq":
        # 3.1.1: closed without CONNACK; 5: CONNACK 0x81 Malformed Packet, then closed
        if version == 5:
            assert p is not None and (p.type, p.rc) == (CONNACK, RC_MALFORMED), p
        else:
            assert p is None, p
    elif p is not None:
        assert p.type in (CONNACK, DISCONNECT) and p.rc != 0, p
    c.wait_closed()


@VERSIONS
def test_second_connect_is_protocol_error(broker, raw_client, version, uid):
    c = raw_client(broker, version)
    c.connect(f"c-{uid}")
    c.send(build_connect(f"c-{uid}", version=version))  # MQTT-3.1.0-2
    d = c.wait_closed()
    if version == 5 and d is not None:
        assert d.rc == RC_PROTOCOL_ERROR


@VERSIONS
def test_connect_with_username_password(broker, raw_client, version, uid):
    c = raw_client(broker, version)
    assert c.connect(f"u-{uid}", username="user", password=b"pw").rc == 0


# -- keepalive -------------------------------------------------------------


@VERSIONS
def test_keepalive_enforced_at_one_and_a_half(broker, raw_client, version, uid, peer):
    # mosquitto 2.0.11 checks keepalives coarsely (closes after ~5 s for 1 s).
    upper = 3.0 if peer == "revmq" else 7.0
    c = raw_client(broker, version)
    t0 = time.monotonic()
    c.connect(f"ka-{uid}", keepalive=1)
    d = c.wait_closed(timeout=upper + 1)
    elapsed = time.monotonic() - t0
    assert 1.0 <= elapsed <= upper, f"closed after {elapsed:.2f}s, expected ~1.5s"
    if version == 5 and d is not None:
        assert d.rc == RC_KEEPALIVE_TIMEOUT


@VERSIONS
def test_keepalive_kept_by_pings(broker, raw_client, version, uid):
    c = raw_client(broker, version)
    c.connect(f"kp-{uid}", keepalive=1)
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        c.send(bytes([0xC0, 0x00]))
        c.expect(PINGRESP, 1.0)
        time.sleep(0.5)  # pacing: a ping every half keepalive
    assert c.is_open()


@VERSIONS
def test_keepalive_kept_by_other_traffic(broker, raw_client, version, uid):
    c = raw_client(broker, version)
    c.connect(f"kt-{uid}", keepalive=1)
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        c.publish(f"ka/{uid}", b"x", qos=1)
        time.sleep(0.5)  # pacing
    assert c.is_open()


def test_v5_server_keepalive(broker_factory, raw_client, uid, peer):
    # mosquitto's smallest max_keepalive is 10
    expect = 2 if peer == "revmq" else 10
    b = broker_factory("mqtt.server_keepalive = 2", mosquitto_conf=f"max_keepalive {expect}")
    c = raw_client(b, 5)
    ack = c.connect(f"sk-{uid}", keepalive=60)
    assert ack.props.get("server_keep_alive") == expect
    if peer == "revmq":
        t0 = time.monotonic()
        c.wait_closed(timeout=6)  # the server's keep alive applies: ~3 s
        assert time.monotonic() - t0 <= 5.0


# -- sessions --------------------------------------------------------------


def _persistent(port, version, cid, clean=False, expiry=300, **kw):
    """A connection whose session outlives it (v3: clean session 0; v5: expiry).

    clean=True asks for a fresh session; for v3.1.1 that is done with an extra
    clean connection first, since clean session 1 would end the session at
    disconnect."""
    if clean and version != 5:
        c = RawClient(port, version=version)
        c.connect(cid, clean=True)
        c.disconnect()
        clean = False
    c = RawClient(port, version=version)
    props = {"session_expiry_interval": expiry} if version == 5 else None
    ack = c.connect(cid, clean=clean, props=props, **kw)
    return c, ack


@VERSIONS
def test_persistent_session_keeps_subscriptions(broker, raw_client, version, uid):
    cid = f"ps-{uid}"
    c, ack = _persistent(broker.port, version, cid, clean=True)
    assert not ack.session_present
    c.subscribe((f"ps/{uid}", 1), expect_codes=[1])
    c.disconnect()
    c2, ack2 = _persistent(broker.port, version, cid, clean=False)
    try:
        assert ack2.session_present
        pub = raw_client(broker, version)
        pub.connect(f"pub-{uid}")
        pub.publish(f"ps/{uid}", b"still-subscribed", qos=1)
        assert c2.recv_publish().payload == b"still-subscribed"
    finally:
        c2.close()


@VERSIONS
def test_clean_session_discards_state(broker, raw_client, version, uid):
    cid = f"cs-{uid}"
    c, _ = _persistent(broker.port, version, cid)
    c.subscribe((f"cs/{uid}", 1))
    c.disconnect()
    c2 = raw_client(broker, version)
    ack = c2.connect(cid, clean=True)
    assert not ack.session_present
    pub = raw_client(broker, version)
    pub.connect(f"pub-{uid}")
    pub.publish(f"cs/{uid}", b"x", qos=1)
    pub.subscribe((f"cs/{uid}", 1))  # barrier: our own copy proves the route ran
    pub.publish(f"cs/{uid}", b"y", qos=1)
    assert pub.recv_publish().payload == b"y"
    assert [p for p in c2.drain(0.2) if p.type == PUBLISH] == []


def test_v5_session_expiry_elapses(broker, raw_client, uid):
    cid = f"se-{uid}"
    c, _ = _persistent(broker.port, 5, cid, clean=True, expiry=1)
    c.subscribe((f"se/{uid}", 1))
    c.disconnect()
    time.sleep(2.2)  # the session expiry interval under test (1 s) must pass
    c2, ack = _persistent(broker.port, 5, cid, clean=False, expiry=0)
    c2.close()
    assert not ack.session_present


def test_v5_session_expiry_zero_ends_session_at_disconnect(broker, raw_client, uid):
    cid = f"s0-{uid}"
    c = raw_client(broker, 5)
    c.connect(cid, clean=True)  # no property: expiry 0
    c.subscribe((f"s0/{uid}", 1))
    c.disconnect()
    c2 = raw_client(broker, 5)
    assert not c2.connect(cid, clean=False).session_present


def test_v5_session_expiry_kept_within_interval(broker, raw_client, uid):
    cid = f"sk-{uid}"
    c, _ = _persistent(broker.port, 5, cid, clean=True, expiry=30)
    c.subscribe((f"sk/{uid}", 1))
    c.disconnect()
    c2, ack = _persistent(broker.port, 5, cid, clean=False, expiry=0)
    c2.close()
    assert ack.session_present


def test_v5_disconnect_may_shorten_session_expiry(broker, raw_client, uid):
    cid = f"sd-{uid}"
    c, _ = _persistent(broker.port, 5, cid, clean=True, expiry=30)
    c.subscribe((f"sd/{uid}", 1))
    c.disconnect(rc=0, props={"session_expiry_interval": 0})
    c2, ack = _persistent(broker.port, 5, cid, clean=False, expiry=0)
    c2.close()
    assert not ack.session_present


# -- takeover --------------------------------------------------------------


@VERSIONS
def test_session_takeover(broker, raw_client, version, uid, peer):
    cid = f"to-{uid}"
    first, _ = _persistent(broker.port, version, cid, clean=True)
    first.subscribe((f"to/{uid}", 1))
    second, ack = _persistent(broker.port, version, cid, clean=False)
    try:
        d = first.wait_closed()
        if version == 5 and peer == "revmq":  # mosquitto 2.0.11 just closes
            assert d is not None and d.rc == RC_SESSION_TAKEN_OVER, d
        assert ack.session_present  # the session moved to the second connection
        pub = raw_client(broker, version)
        pub.connect(f"pub-{uid}")
        pub.publish(f"to/{uid}", b"after", qos=1)
        assert second.recv_publish().payload == b"after"
    finally:
        second.close()


@pytest.mark.peer_deviates("mosquitto", reason="2.0.11 sends no DISCONNECT 0x8E on takeover")
@VERSIONS
def test_session_takeover_paho(broker, mqtt_client, version, uid):
    cid = f"tp-{uid}"
    a = mqtt_client(broker, cid, version=version)
    b = mqtt_client(broker, cid, version=version)
    a.wait_disconnected()
    if version == 5:
        assert rc_value(a.disconnect_rc) == RC_SESSION_TAKEN_OVER
    b.subscribe(f"tp/{uid}", 1)
    b.publish(f"tp/{uid}", b"ok", 1)
    assert b.wait_for(1)[0].payload == b"ok"


def test_many_clients_connect(broker, raw_client, uid):
    clients = []
    for i in range(50):
        c = raw_client(broker, 4 if i % 2 else 5)
        c.connect(f"m{i}-{uid}")
        clients.append(c)
    assert all(c.is_open() for c in clients[::10])


def test_client_id_with_utf8(broker, raw_client):
    c = raw_client(broker, 4)
    c.send(build_packet(1, 0, mqtt_str("MQTT") + bytes([4, 2, 0, 60]) + mqtt_str("ü-€-id")))
    assert c.expect(CONNACK).rc == 0
    wait_until(c.is_open, 2, what="connection open")


# -- CONNECT contents the broker must refuse ---------------------------------------------


def _refused(c, codes=None):
    """The broker refuses the CONNECT: an error CONNACK (code in `codes` if
    given) and/or a close."""
    try:
        p = c.recv_packet(3)
        assert p.type == CONNACK and p.body[1] != 0, p
        if codes is not None:
            assert p.body[1] in codes, p
    except ConnectionClosed:
        pass
    c.wait_closed()


@pytest.mark.parametrize("prop", [{"receive_maximum": 0}, {"maximum_packet_size": 0},
                                  {"topic_alias": 1}, {"request_problem_information": 2}],
                         ids=["receive-max-0", "max-packet-0", "alias-in-connect", "rpi-2"])
def test_v5_invalid_connect_property(broker, raw_client, prop):
    c = raw_client(broker, 5)
    c.send(build_connect("badprop", version=5, props=prop))
    _refused(c, (0x81, 0x82))


def test_v311_password_without_username(broker, raw_client):
    c = raw_client(broker, 4)
    c.send(build_connect("pwonly", version=4, password=b"secret"))  # MQTT-3.1.2-22
    _refused(c)


def test_v5_password_without_username_allowed(broker, raw_client):
    c = raw_client(broker, 5)
    assert c.connect("pw5", password=b"secret").rc == 0


@VERSIONS
@pytest.mark.parametrize("will_topic", ["w/+", "w/#"])
def test_will_topic_with_wildcard_refused(broker, raw_client, version, will_topic):
    c = raw_client(broker, version)
    c.send(build_connect("wt", version=version, will={"topic": will_topic, "payload": b"x"}))
    _refused(c)


def test_broker_restart_serves_again(broker, raw_client, uid):
    c = raw_client(broker, 4)
    c.connect(f"r1-{uid}")
    broker.restart()  # SIGTERM with a live client: clean exit 0 asserted
    c.wait_closed()
    c2 = raw_client(broker, 5)
    assert c2.connect(f"r2-{uid}").rc == 0


@VERSIONS
def test_takeover_with_clean_start_discards_session(broker, raw_client, version, uid):
    cid = f"tc-{uid}"
    first, _ = _persistent(broker.port, version, cid, clean=True)
    first.subscribe((f"tc/{uid}", 1))
    second = raw_client(broker, version)
    ack = second.connect(cid, clean=True)
    first.wait_closed()
    assert not ack.session_present
    second.subscribe((f"tcb/{uid}", 1))
    pub = raw_client(broker, version)
    pub.connect(f"pub-{uid}")
    pub.publish(f"tc/{uid}", b"old-sub", qos=1)
    pub.publish(f"tcb/{uid}", b"barrier", qos=1)
    assert second.recv_publish().payload == b"barrier"



@pytest.mark.revmq_only
def test_shutdown_sends_v5_server_shutting_down(broker, raw_client, uid):
    v5 = raw_client(broker, 5)
    v5.connect(f"s5-{uid}")
    v3 = raw_client(broker, 4)
    v3.connect(f"s3-{uid}")
    broker.stop()  # SIGTERM, exit code 0 asserted
    d = v5.wait_closed()
    assert d is not None and d.rc == 0x8B, d  # Server shutting down
    assert v3.wait_closed() is None
