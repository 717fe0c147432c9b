"""MQTT 5 features: no-local, subscription identifiers, message expiry, topic
aliases, receive maximum, maximum packet size, properties passed through,
request problem information, enhanced auth refusal."""

import time

import pytest

from helpers import (PUBLISH, RC_MALFORMED, RC_PACKET_TOO_LARGE, RC_PROTOCOL_ERROR,
                     RC_RECEIVE_MAX_EXCEEDED, RC_TOPIC_ALIAS_INVALID,
                     V5, build_publish, build_subscribe, props, sub_options)
from paho.mqtt.packettypes import PacketTypes


def _pubs(packets):
    return [p for p in packets if p.type == PUBLISH]


def pinned(got, peer, revmq, others=()):
    """revmq's own answer exactly; a reference peer may give any of `others`
    too (codes the specification leaves open)."""
    if peer == "revmq":
        return got == revmq
    return got in (revmq, *others)


def _client(broker, raw_client, cid, **kw):
    c = raw_client(broker, 5)
    c.connect(cid, **kw)
    return c


# -- no local --------------------------------------------------------------------


def test_no_local(broker, raw_client, uid):
    topic = f"nl/{uid}"
    s = _client(broker, raw_client, f"s-{uid}")
    s.subscribe((topic, sub_options(1, no_local=True)))
    s.publish(topic, b"own", qos=1)
    other = _client(broker, raw_client, f"o-{uid}")
    other.publish(topic, b"other", qos=1)
    m = s.recv_publish()
    assert m.payload == b"other"


def test_without_no_local_own_messages_arrive(broker, raw_client, uid):
    topic = f"nl0/{uid}"
    s = _client(broker, raw_client, f"s-{uid}")
    s.subscribe((topic, sub_options(1, no_local=False)))
    s.publish(topic, b"own", qos=1)
    assert s.recv_publish().payload == b"own"


@pytest.mark.peer_deviates("mosquitto", reason="2.0.11 accepts no-local on a shared subscription")
def test_no_local_on_shared_subscription_is_protocol_error(broker, raw_client, uid):
    s = _client(broker, raw_client, f"s-{uid}")
    s.send(build_subscribe(5, [(f"$share/g/nl/{uid}", sub_options(1, no_local=True))], version=5))
    d = s.wait_closed()  # MQTT-3.8.3-4
    assert d is not None and d.rc == RC_PROTOCOL_ERROR, d


# -- subscription identifiers --------------------------------------------------------


def test_subscription_identifiers(broker, raw_client, uid):
    s = _client(broker, raw_client, f"s-{uid}")
    ack = s.subscribe((f"si/{uid}/+", 1), props={"subscription_identifier": 7})
    assert ack.codes == [1]
    s.subscribe((f"si/{uid}/a", 1), props={"subscription_identifier": 300})
    s.subscribe((f"si/{uid}/#", 1))  # no identifier
    p = _client(broker, raw_client, f"p-{uid}")
    p.publish(f"si/{uid}/a", b"x", qos=1)
    p.publish(f"si/{uid}/b", b"y", qos=1)
    p.publish(f"si/{uid}/c/d", b"z", qos=1)
    p.publish(f"bar/{uid}", b"barrier", qos=1)
    s.subscribe((f"bar/{uid}", 1))
    p.publish(f"bar/{uid}", b"barrier", qos=1)
    got = []
    while True:
        m = s.recv_publish()
        if m.payload == b"barrier":
            break
        got.append(m)
    ids = {}
    for m in got:
        ids.setdefault(m.payload, set()).update(m.props.get("subscription_identifier", []))
    assert ids[b"x"] == {7, 300}
    assert ids[b"y"] == {7}
    assert ids[b"z"] == set()


def test_subscription_identifier_zero_is_protocol_error(broker, raw_client, uid, peer):
    s = _client(broker, raw_client, f"s-{uid}")
    s.send(build_subscribe(3, [(f"z/{uid}", 1)], props={"subscription_identifier": 0}, version=5))
    d = s.wait_closed()  # 3.8.2.1.2: a Protocol Error (mosquitto says malformed)
    if peer == "revmq" or d is not None:
        assert d is not None and pinned(d.rc, peer, RC_PROTOCOL_ERROR, (RC_MALFORMED,)), d


# -- message expiry ------------------------------------------------------------------


def test_message_expiry_remaining_time_on_delivery(broker, raw_client, uid):
    topic = f"me/{uid}"
    p = _client(broker, raw_client, f"p-{uid}")
    p.publish(topic, b"r", qos=1, retain=True, props={"message_expiry_interval": 30})
    time.sleep(1.2)  # the remaining lifetime must have gone down by a second
    s = _client(broker, raw_client, f"s-{uid}")
    s.subscribe((topic, 1))
    m = s.recv_publish()
    left = m.props.get("message_expiry_interval")
    assert left is not None and 1 <= left <= 29  # MQTT-3.3.2-6


def test_message_expiry_live_delivery_keeps_property(broker, raw_client, uid):
    topic = f"mel/{uid}"
    s = _client(broker, raw_client, f"s-{uid}")
    s.subscribe((topic, 1))
    p = _client(broker, raw_client, f"p-{uid}")
    p.publish(topic, b"x", qos=1, props={"message_expiry_interval": 60})
    left = s.recv_publish().props.get("message_expiry_interval")
    assert left is not None and 58 <= left <= 60


def test_expired_retained_message_not_delivered(broker, raw_client, uid):
    topic = f"mer/{uid}"
    p = _client(broker, raw_client, f"p-{uid}")
    p.publish(topic, b"old", qos=1, retain=True, props={"message_expiry_interval": 1})
    time.sleep(2.1)  # the message lifetime under test must pass
    s = _client(broker, raw_client, f"s-{uid}")
    s.subscribe((topic, 1), (f"bar/{uid}", 1))
    p.publish(f"bar/{uid}", b"barrier", qos=1)
    assert s.recv_publish().payload == b"barrier"


def test_expired_queued_message_not_delivered(broker, raw_client, uid):
    topic = f"meq/{uid}"
    cid = f"s-{uid}"
    s = _client(broker, raw_client, cid, props={"session_expiry_interval": 60})
    s.subscribe((topic, 1))
    s.disconnect()
    p = _client(broker, raw_client, f"p-{uid}")
    p.publish(topic, b"short", qos=1, props={"message_expiry_interval": 1})
    p.publish(topic, b"long", qos=1, props={"message_expiry_interval": 60})
    p.publish(topic, b"forever", qos=1)
    time.sleep(2.1)  # the short lifetime must pass while the client is away
    s2 = _client(broker, raw_client, cid, clean=False, props={"session_expiry_interval": 60})
    a, b = s2.recv_publishes(2)
    assert (a.payload, b.payload) == (b"long", b"forever")
    assert a.props.get("message_expiry_interval", 0) <= 58
    assert "message_expiry_interval" not in b.props
    assert _pubs(s2.drain(0.2)) == []


# -- topic aliases --------------------------------------------------------------------


def test_topic_alias_client_to_server(broker, raw_client, uid):
    topic = f"ta/{uid}"
    s = _client(broker, raw_client, f"s-{uid}")
    s.subscribe((topic, 1))
    p = raw_client(broker, 5)
    ack = p.connect(f"p-{uid}")
    assert ack.props.get("topic_alias_maximum", 0) >= 1
    p.publish(topic, b"1", qos=1, props={"topic_alias": 1})
    p.publish("", b"2", qos=1, props={"topic_alias": 1})
    p.publish("", b"3", qos=0, props={"topic_alias": 1})
    got = s.recv_publishes(3)
    assert [(m.topic, m.payload) for m in got] == [(topic, b"1"), (topic, b"2"), (topic, b"3")]
    assert all("topic_alias" not in m.props for m in got)  # subscriber asked for none


def test_topic_alias_remapped(broker, raw_client, uid):
    s = _client(broker, raw_client, f"s-{uid}")
    s.subscribe((f"tr/{uid}/#", 1))
    p = _client(broker, raw_client, f"p-{uid}")
    p.publish(f"tr/{uid}/a", b"1", qos=1, props={"topic_alias": 1})
    p.publish(f"tr/{uid}/b", b"2", qos=1, props={"topic_alias": 1})
    p.publish("", b"3", qos=1, props={"topic_alias": 1})
    got = s.recv_publishes(3)
    assert [m.topic for m in got] == [f"tr/{uid}/a", f"tr/{uid}/b", f"tr/{uid}/b"]


@pytest.mark.parametrize("alias", [0, 65535])
def test_topic_alias_out_of_range(broker, raw_client, alias, uid, peer):
    p = raw_client(broker, 5)
    ack = p.connect(f"p-{uid}")
    if alias > ack.props.get("topic_alias_maximum", 0) or alias == 0:
        p.send(build_publish(f"x/{uid}", b"x", props={"topic_alias": alias}, version=5))
        d = p.wait_closed()
        # 0x94 (3.3.2.3.4); a reference peer may report alias 0 as protocol error / malformed
        others = () if alias else (RC_PROTOCOL_ERROR, RC_MALFORMED)
        assert d is not None and pinned(d.rc, peer, RC_TOPIC_ALIAS_INVALID, others), d
    else:  # within the broker's maximum: a valid alias
        assert p.publish(f"x/{uid}", b"x", qos=1, props={"topic_alias": alias}).rc in (0x00, 0x10)
        assert p.is_open()


def test_unknown_topic_alias_is_protocol_error(broker, raw_client, uid):
    p = _client(broker, raw_client, f"p-{uid}")
    p.send(build_publish("", b"x", props={"topic_alias": 1}, version=5))
    d = p.wait_closed()
    assert d is not None and d.rc == RC_PROTOCOL_ERROR, d


def test_topic_alias_server_to_client(broker, raw_client, uid):
    topic = f"tsc/{uid}/a-rather-long-topic-name"
    s = raw_client(broker, 5)
    s.connect(f"s-{uid}", props={"topic_alias_maximum": 2})
    s.subscribe((f"tsc/{uid}/#", 1))
    p = _client(broker, raw_client, f"p-{uid}")
    for i in range(5):
        p.publish(topic, str(i).encode(), qos=1)
    aliases: dict[int, str] = {}
    for i, m in enumerate(s.recv_publishes(5)):
        alias = m.props.get("topic_alias")
        t = m.topic
        if alias is not None:
            assert 1 <= alias <= 2, f"alias {alias} beyond our maximum"
            if t:
                aliases[alias] = t
            else:
                t = aliases[alias]
        assert (t, m.payload) == (topic, str(i).encode())


# -- receive maximum (server side) --------------------------------------------------------


@pytest.mark.peer_deviates("mosquitto", reason="2.0.11 does not enforce its Receive Maximum")
def test_server_receive_maximum_exceeded(broker, raw_client, uid):
    p = raw_client(broker, 5)
    ack = p.connect(f"p-{uid}")
    rmax = ack.props.get("receive_maximum", 65535)
    if rmax > 200:
        pytest.skip(f"server receive maximum {rmax} too large to exceed quickly")
    for i in range(rmax + 1):  # QoS 2 without PUBREL: all stay in flight
        if not p.try_send(build_publish(f"rx/{uid}", b"x", qos=2, pid=i + 1, version=5)):
            break
    d = p.wait_closed()
    assert d is not None and d.rc == RC_RECEIVE_MAX_EXCEEDED, d  # MQTT-3.3.4-7


# -- maximum packet size ----------------------------------------------------------------------


def test_client_maximum_packet_size_respected(broker, raw_client, uid):
    topic = f"mps/{uid}"
    s = raw_client(broker, 5)
    s.connect(f"s-{uid}", props={"maximum_packet_size": 256})
    s.subscribe((topic, 1))
    p = _client(broker, raw_client, f"p-{uid}")
    p.publish(topic, b"B" * 1000, qos=1)  # too large for s: discarded (MQTT-3.1.2-25)
    p.publish(topic, b"small", qos=1)
    m = s.recv_publish()
    assert m.payload == b"small"
    assert s.is_open()


# -- properties passed through ---------------------------------------------------------------


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_properties_passed_through(broker, raw_client, qos, uid):
    topic = f"pp/{uid}"
    s = _client(broker, raw_client, f"s-{uid}")
    s.subscribe((topic, 2))
    p = _client(broker, raw_client, f"p-{uid}")
    sent = {
        "payload_format_indicator": 1,
        "content_type": "text/plain; charset=utf-8",
        "response_topic": f"reply/{uid}",
        "correlation_data": b"\x00\xffcorr",
        "user_property": [("z", "1"), ("a", "2"), ("z", "3"), ("ü", "€")],
    }
    p.publish(topic, "héllo".encode(), qos=qos, props=sent)
    m = s.recv_publish()
    for k, v in sent.items():
        assert m.props.get(k) == v, k  # user properties in order (MQTT-3.3.2-18)


def test_paho_properties_and_request_response(broker, mqtt_client, uid):
    req_topic, resp_topic = f"req/{uid}", f"resp/{uid}"
    server = mqtt_client(broker, f"srv-{uid}", version=V5)
    server.subscribe(req_topic, 1)
    client = mqtt_client(broker, f"cli-{uid}", version=V5)
    client.subscribe(resp_topic, 1)
    pr = props(PacketTypes.PUBLISH, ResponseTopic=resp_topic, CorrelationData=b"42",
               ContentType="text/plain", PayloadFormatIndicator=1,
               UserProperty=[("trace", "abc")])
    client.publish(req_topic, b"question", 1, props=pr)
    req = server.wait_for(1)[0]
    assert req.prop("ResponseTopic") == resp_topic
    assert req.prop("CorrelationData") == b"42"
    assert req.prop("ContentType") == "text/plain"
    assert req.prop("PayloadFormatIndicator") == 1
    assert req.prop("UserProperty") == [("trace", "abc")]
    server.publish(req.prop("ResponseTopic"), b"answer", 1,
                   props=props(PacketTypes.PUBLISH, CorrelationData=req.prop("CorrelationData")))
    resp = client.wait_for(1)[0]
    assert (resp.payload, resp.prop("CorrelationData")) == (b"answer", b"42")


# -- problem information, reason strings, auth ----------------------------------------------


def test_request_problem_information_zero(broker, raw_client, uid):
    """With Request Problem Information 0 no reason string or user property
    appears on anything but PUBLISH, CONNACK and DISCONNECT (MQTT-3.1.2-29)."""
    c = raw_client(broker, 5)
    c.connect(f"c-{uid}", props={"request_problem_information": 0})
    acks = [c.subscribe((f"rp/{uid}", 1)), c.subscribe(("$share/g/" + f"rp/{uid}", 1)),
            c.unsubscribe(f"never/{uid}"), c.publish(f"rp/{uid}", b"x", qos=1),
            c.publish(f"nobody/{uid}", b"x", qos=2)]
    for a in acks:
        assert "reason_string" not in a.props and "user_property" not in a.props, a


def test_reason_strings_are_utf8(broker, raw_client, uid, peer):
    c = raw_client(broker, 5)
    c.connect(f"c-{uid}", props={"request_problem_information": 1})
    a = c.unsubscribe(f"never/{uid}")
    assert a.codes and pinned(a.codes[0], peer, 0x11, (0x00,)), a  # No subscription existed
    rs = a.props.get("reason_string")
    assert rs is None or isinstance(rs, str)


def test_unknown_authentication_method_refused(broker, raw_client, uid, peer):
    c = raw_client(broker, 5)
    ack = c.connect(f"c-{uid}", props={"authentication_method": "NO-SUCH-METHOD"}, expect_rc=None)
    # Bad authentication method (a reference peer may say Not authorized)
    assert pinned(ack.rc, peer, 0x8C, (0x87,)), ack
    c.wait_closed()


def test_puback_for_no_subscribers(broker, raw_client, uid, peer):
    c = _client(broker, raw_client, f"c-{uid}")
    a = c.publish(f"none/{uid}", b"x", qos=1)
    assert pinned(a.rc, peer, 0x10, (0x00,)), a  # No matching subscribers
    r = c.publish(f"none/{uid}", b"x", qos=2)
    assert r.rc == 0


@pytest.mark.revmq_only
def test_reason_string_on_error_disconnect(broker_factory, raw_client, uid):
    """revmq explains its DISCONNECTs with a Reason String (allowed on DISCONNECT
    whatever Request Problem Information says)."""
    b = broker_factory("mqtt.max_packet_size = 1KB")
    c = raw_client(b, 5)
    c.connect(f"c-{uid}")
    c.try_send(build_publish(f"big/{uid}", b"x" * 2000, version=5))
    d = c.wait_closed()
    assert d is not None and d.rc == RC_PACKET_TOO_LARGE
    assert d.props.get("reason_string")


# -- more topic alias, session and client id cases (as interoperability suites check) --------


@pytest.mark.peer_deviates("mosquitto", reason="2.0.11 sends no topic aliases to clients")
def test_server_uses_topic_alias_when_client_allows(broker, raw_client, uid):
    """Client allows 1 alias: the broker sets it on the first delivery and then
    sends an empty topic with that alias (as the Paho MQTT 5 interop test expects)."""
    topic = f"sta/{uid}"
    s = raw_client(broker, 5)
    s.connect(f"s-{uid}", props={"topic_alias_maximum": 1})
    s.subscribe((topic, 2))
    p = _client(broker, raw_client, f"p-{uid}")
    for qos in range(3):
        p.publish(topic, b"alias", qos=qos)
    got = s.recv_publishes(3)
    alias = got[0].props.get("topic_alias")
    assert got[0].topic == topic and alias == 1, got[0]
    for m in got[1:]:
        assert (m.topic, m.props.get("topic_alias")) == ("", alias), m


def test_topic_aliases_do_not_survive_reconnect(broker, raw_client, uid, peer):
    cid = f"c-{uid}"
    c = raw_client(broker, 5)
    c.connect(cid, props={"session_expiry_interval": 60})
    c.publish(f"tr/{uid}", b"1", qos=1, props={"topic_alias": 1})
    c.disconnect()
    c2 = raw_client(broker, 5)
    assert c2.connect(cid, clean=False, props={"session_expiry_interval": 60}).session_present
    c2.send(build_publish("", b"2", qos=1, pid=5, props={"topic_alias": 1}, version=5))
    d = c2.wait_closed()  # 3.3.2.3.4: mappings belong to one network connection
    if peer == "revmq" or d is not None:
        assert d is not None and pinned(d.rc, peer, RC_PROTOCOL_ERROR, (RC_TOPIC_ALIAS_INVALID,)), d


def test_disconnect_may_extend_session_expiry(broker, raw_client, uid):
    cid = f"ext-{uid}"
    c = raw_client(broker, 5)
    c.connect(cid, props={"session_expiry_interval": 1})
    c.subscribe((f"ext/{uid}", 1))
    c.disconnect(rc=0, props={"session_expiry_interval": 30})
    time.sleep(1.6)  # longer than the CONNECT's 1 s expiry
    c2 = raw_client(broker, 5)
    assert c2.connect(cid, clean=False, props={"session_expiry_interval": 30}).session_present


def test_disconnect_setting_expiry_after_zero_is_protocol_error(broker, raw_client, uid):
    """CONNECT had expiry 0: a DISCONNECT with a non-zero expiry is not a valid
    DISCONNECT (3.14.2.2.2), so the will is published."""
    topic = f"pe/{uid}"
    w = _client(broker, raw_client, f"w-{uid}")
    w.subscribe((topic, 1))
    c = raw_client(broker, 5)
    c.connect(f"c-{uid}", will={"topic": topic, "payload": b"will"})
    c.send(bytes([0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x1E]))
    d = c.wait_closed()
    if d is not None:
        assert d.rc == RC_PROTOCOL_ERROR
    assert w.recv_publish().payload == b"will"


def test_empty_client_id_with_clean_start_false(broker, raw_client):
    c = raw_client(broker, 5)
    ack = c.connect("", clean=False)
    assert ack.rc == 0 and ack.props.get("assigned_client_identifier")


def test_no_assigned_client_id_when_supplied(broker, raw_client, uid):
    c = raw_client(broker, 5)
    ack = c.connect(f"given-{uid}")
    assert "assigned_client_identifier" not in ack.props


def test_unsubscribe_with_user_properties(broker, raw_client, uid):
    c = _client(broker, raw_client, f"c-{uid}")
    c.subscribe((f"uu/{uid}", 1))
    ack = c.unsubscribe(f"uu/{uid}", props={"user_property": [("a", "2"), ("c", "3")]})
    assert ack.codes == [0]
    ack = c.unsubscribe(f"uu/{uid}")
    assert ack.codes == [0x11]  # No subscription existed


def test_subscription_identifier_on_retained_delivery(broker, raw_client, uid):
    topic = f"sir/{uid}"
    p = _client(broker, raw_client, f"p-{uid}")
    p.publish(topic, b"kept", qos=1, retain=True)
    s = _client(broker, raw_client, f"s-{uid}")
    s.subscribe((topic, 1), props={"subscription_identifier": 77})
    m = s.recv_publish()
    assert (m.payload, m.retain) == (b"kept", True)
    assert m.props.get("subscription_identifier") == [77]


@pytest.mark.peer_deviates("mosquitto", reason="2.0.11 accepts it")
def test_subscription_identifier_in_client_publish_is_protocol_error(broker, raw_client, uid):
    c = _client(broker, raw_client, f"c-{uid}")
    c.send(build_publish(f"sp/{uid}", b"x", props={"subscription_identifier": 3}, version=5))
    d = c.wait_closed()  # MQTT-3.3.4-6
    assert d is not None and d.rc == RC_PROTOCOL_ERROR, d



# -- sizes the specification allows --------------------------------------------------------


@pytest.mark.parametrize("n", [32, 100])
def test_many_user_properties_passed_through(broker, raw_client, n, uid):
    topic = f"mup/{uid}"
    c = _client(broker, raw_client, f"c-{uid}")
    c.subscribe((topic, 1))
    up = [(f"k{i}", f"v{i}") for i in range(n)]
    c.publish(topic, b"x", qos=1, props={"user_property": up})
    assert c.recv_publish().props.get("user_property") == up
