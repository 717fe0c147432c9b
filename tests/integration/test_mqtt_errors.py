"""Error paths: oversized and malformed packets get the right reason code (v5)
or a close (v3), and never affect other clients."""

import socket
import struct
import time

import pytest

from helpers import (VERSIONS, CONNACK, RC_MALFORMED, RC_PACKET_TOO_LARGE, RC_PROTOCOL_ERROR,
                     RC_TOPIC_NAME_INVALID, ConnectionClosed, RawClient,
                     build_connect, build_packet, build_publish, build_subscribe,
                     build_unsubscribe, encode_props, mqtt_str, varint)

ERR = (RC_MALFORMED, RC_PROTOCOL_ERROR)


class Healthy:
    """A subscriber/publisher pair connected before the misbehaving client;
    check() proves the broker still serves them."""

    def __init__(self, broker, uid):
        self.topic = f"healthy/{uid}"
        self.sub = RawClient(broker.port, version=5)
        self.sub.connect(f"hs-{uid}")
        self.sub.subscribe((self.topic, 1))
        self.pub = RawClient(broker.port, version=4)
        self.pub.connect(f"hp-{uid}")
        self.broker = broker
        self.n = 0

    def check(self):
        self.n += 1
        body = f"still-alive-{self.n}".encode()
        self.pub.publish(self.topic, body, qos=1)
        assert self.sub.recv_publish().payload == body
        fresh = RawClient(self.broker.port, version=4)
        fresh.connect("")
        fresh.close()

    def close(self):
        self.sub.close()
        self.pub.close()


@pytest.fixture
def healthy(broker, uid):
    h = Healthy(broker, uid)
    yield h
    h.close()


def expect_error_close(c, version, revmq_rc, peer_codes, peer):
    """The broker must close. With MQTT 5, revmq sends DISCONNECT with exactly
    `revmq_rc` first; a reference peer may just close, or send one of
    `peer_codes` (the codes the specification leaves open)."""
    d = c.wait_closed()
    if version != 5:
        return d
    if peer == "revmq":
        assert d is not None, "MQTT 5: expected a DISCONNECT with a reason code before the close"
        assert d.rc == revmq_rc, f"DISCONNECT {d.rc:#x}, revmq answers {revmq_rc:#x}"
    elif d is not None:
        codes = (revmq_rc, *peer_codes)
        assert d.rc in codes, f"DISCONNECT {d.rc:#x}, expected one of {[hex(x) for x in codes]}"
    return d


def connected(broker, raw_client, version, uid):
    c = raw_client(broker, version)
    c.connect(f"bad-{uid}")
    return c


# -- maximum packet size ---------------------------------------------------------


MAXPKT = dict(conf="mqtt.max_packet_size = 1KB", mosquitto_conf="max_packet_size 1024")


@VERSIONS
def test_oversized_publish_disconnects_only_that_client(broker_factory, raw_client, version,
                                                        uid, peer):
    b = broker_factory(**MAXPKT)
    h = Healthy(b, uid)
    try:
        c = raw_client(b, version)
        ack = c.connect(f"big-{uid}")
        if version == 5:
            assert ack.props.get("maximum_packet_size") == 1024
        c.try_send(build_publish(f"big/{uid}", b"x" * 2000, qos=1, pid=1, version=version))
        expect_error_close(c, version, RC_PACKET_TOO_LARGE, (), peer)
        h.check()
    finally:
        h.close()


@VERSIONS
def test_packet_size_limit_is_inclusive(broker_factory, raw_client, version, uid):
    b = broker_factory(**MAXPKT)
    topic = f"lim/{uid}"
    s = raw_client(b, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, 0))
    c = raw_client(b, version)
    c.connect(f"c-{uid}")
    overhead = len(build_publish(topic, b"", qos=0, version=version))
    exact = build_publish(topic, b"y" * (1024 - overhead - 1), qos=0, version=version)
    # remaining length 2 bytes once > 127: recompute to land exactly on 1024
    pad = 1024 - len(exact)
    exact = build_publish(topic, b"y" * (1024 - overhead - 1 + pad), qos=0, version=version)
    assert len(exact) == 1024
    c.send(exact)
    assert len(s.recv_publish().payload) == len(exact) - overhead - 1


@VERSIONS
def test_oversized_length_refused_before_body_arrives(broker_factory, raw_client, version, uid,
                                                      peer):
    """Only the fixed header is sent, announcing 100 MB: the broker must refuse
    from the header alone instead of waiting to buffer the body."""
    b = broker_factory(**MAXPKT)
    c = raw_client(b, version)
    c.connect(f"hdr-{uid}")
    c.send(bytes([0x30]) + varint(100 * 1024 * 1024) + b"\x00\x03abc")
    t0 = time.monotonic()
    expect_error_close(c, version, RC_PACKET_TOO_LARGE, (), peer)
    assert time.monotonic() - t0 < 3


@VERSIONS
def test_oversized_connect_closed(broker_factory, raw_client, version):
    b = broker_factory(**MAXPKT)
    c = raw_client(b, version)
    c.try_send(build_connect("x" * 2000, version=version))
    try:
        p = c.recv_packet(3)
        assert p.type == CONNACK and p.body[1] != 0, p  # v5 may say 0x95
    except ConnectionClosed:
        pass
    c.wait_closed()


# -- malformed fixed header ----------------------------------------------------------


@VERSIONS
def test_bad_remaining_length_encoding(broker, healthy, raw_client, version, uid, peer):
    c = connected(broker, raw_client, version, uid)
    c.send(bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]) + b"\x00" * 8)  # 5-byte varint
    expect_error_close(c, version, RC_MALFORMED, ERR, peer)
    healthy.check()


@VERSIONS
def test_remaining_length_shorter_than_fields(broker, healthy, raw_client, version, uid, peer):
    c = connected(broker, raw_client, version, uid)
    # topic length says 50, but the packet ends after 4 bytes
    c.send(build_packet(3, 0, struct.pack("!H", 50) + b"ab"))
    expect_error_close(c, version, RC_MALFORMED, ERR, peer)
    healthy.check()


@VERSIONS
@pytest.mark.parametrize("ptype,flags,body", [
    (8, 0x00, b"\x00\x01\x00\x01a\x01"),      # SUBSCRIBE flags must be 0010
    (10, 0x00, b"\x00\x01\x00\x01a"),         # UNSUBSCRIBE flags must be 0010
    (6, 0x00, b"\x00\x01"),                   # PUBREL flags must be 0010
    pytest.param(12, 0x01, b"", marks=pytest.mark.peer_deviates(
        "mosquitto", reason="2.0.11 ignores PINGREQ flags")),  # PINGREQ flags must be 0
    (14, 0x02, b""),                          # DISCONNECT flags must be 0
    (0, 0x00, b""),                           # type 0 is reserved
], ids=["subscribe", "unsubscribe", "pubrel", "pingreq", "disconnect", "type0"])
def test_reserved_flags(broker, healthy, raw_client, version, ptype, flags, body, uid, peer):
    c = connected(broker, raw_client, version, uid)
    if version == 5 and ptype in (8, 10):
        body = body[:2] + b"\x00" + body[2:]  # empty property block
    c.send(build_packet(ptype, flags, body))
    expect_error_close(c, version, RC_MALFORMED, ERR, peer)  # MQTT-2.2.2-2
    healthy.check()


def test_auth_packet_in_v311_closes(broker, healthy, raw_client, uid):
    c = connected(broker, raw_client, 4, uid)
    c.send(build_packet(15, 0, b""))
    c.wait_closed()
    healthy.check()


# -- PUBLISH errors ------------------------------------------------------------------


@VERSIONS
@pytest.mark.parametrize("topic", ["a/+", "a/#", "+", "#"])
def test_wildcard_in_publish_topic(broker, healthy, raw_client, version, topic, uid, peer):
    c = connected(broker, raw_client, version, uid)
    c.send(build_publish(topic, b"x", qos=1, pid=1, version=version))
    expect_error_close(c, version, RC_TOPIC_NAME_INVALID, ERR, peer)
    healthy.check()


@VERSIONS
@pytest.mark.parametrize("raw_topic", [b"a\xc3\x28b", b"\xed\xa0\x80", b"a\x00b", b"\xff"],
                         ids=["bad-continuation", "surrogate", "nul", "ff"])
def test_invalid_utf8_topic(broker, healthy, raw_client, version, raw_topic, uid, peer):
    c = connected(broker, raw_client, version, uid)
    c.send(build_publish(raw_topic, b"x", version=version))  # MQTT-1.5.4-1/-2
    expect_error_close(c, version, RC_MALFORMED, ERR + (RC_TOPIC_NAME_INVALID,), peer)
    healthy.check()


@VERSIONS
def test_invalid_utf8_in_subscribe_filter(broker, healthy, raw_client, version, uid, peer):
    c = connected(broker, raw_client, version, uid)
    c.send(build_subscribe(1, [(b"a/\xc3\x28", 0)], version=version))
    expect_error_close(c, version, RC_MALFORMED, ERR, peer)
    healthy.check()


@VERSIONS
def test_qos3_publish(broker, healthy, raw_client, version, uid, peer):
    c = connected(broker, raw_client, version, uid)
    c.send(build_publish(f"q3/{uid}", b"x", pid=1, version=version, flags=0x06))
    expect_error_close(c, version, RC_MALFORMED, ERR, peer)  # MQTT-3.3.1-4
    healthy.check()


@VERSIONS
@pytest.mark.peer_deviates("mosquitto", reason="2.0.11 accepts DUP on a QoS 0 PUBLISH")
def test_qos0_publish_with_dup_is_protocol_error(broker, healthy, raw_client, version, uid, peer):
    """MQTT-3.3.1-2: DUP must be 0 on QoS 0. The packet parses, it breaks a rule:
    0x82 Protocol Error (v5 4.13), not 0x81 Malformed Packet."""
    c = connected(broker, raw_client, version, uid)
    c.send(build_publish(f"dup0/{uid}", b"x", qos=0, dup=True, version=version))
    expect_error_close(c, version, RC_PROTOCOL_ERROR, (), peer)
    healthy.check()


@VERSIONS
def test_qos1_publish_with_packet_id_zero(broker, healthy, raw_client, version, uid, peer):
    c = connected(broker, raw_client, version, uid)
    c.send(build_publish(f"pid0/{uid}", b"x", qos=1, pid=0, version=version))
    expect_error_close(c, version, RC_PROTOCOL_ERROR, ERR, peer)  # MQTT-2.2.1-3
    healthy.check()


@VERSIONS
def test_empty_topic_without_alias(broker, healthy, raw_client, version, uid, peer):
    c = connected(broker, raw_client, version, uid)
    c.send(build_publish("", b"x", version=version))
    expect_error_close(c, version, RC_PROTOCOL_ERROR, ERR + (RC_TOPIC_NAME_INVALID,), peer)
    healthy.check()


# -- SUBSCRIBE/UNSUBSCRIBE errors ---------------------------------------------------------


@VERSIONS
def test_subscribe_without_filters(broker, healthy, raw_client, version, uid, peer):
    c = connected(broker, raw_client, version, uid)
    c.send(build_subscribe(1, [], version=version))
    expect_error_close(c, version, RC_PROTOCOL_ERROR, ERR, peer)  # MQTT-3.8.3-3
    healthy.check()


@VERSIONS
def test_unsubscribe_without_filters(broker, healthy, raw_client, version, uid, peer):
    c = connected(broker, raw_client, version, uid)
    c.send(build_unsubscribe(1, [], version=version))
    expect_error_close(c, version, RC_PROTOCOL_ERROR, ERR, peer)  # MQTT-3.10.3-2
    healthy.check()


@VERSIONS
def test_subscribe_qos3(broker, healthy, raw_client, version, uid, peer):
    c = connected(broker, raw_client, version, uid)
    c.send(build_subscribe(1, [(f"s/{uid}", 3)], version=version))
    expect_error_close(c, version, RC_PROTOCOL_ERROR, ERR, peer)  # MQTT-3-8.3-4
    healthy.check()


def test_v5_subscribe_reserved_option_bits(broker, healthy, raw_client, uid, peer):
    c = connected(broker, raw_client, 5, uid)
    c.send(build_subscribe(1, [(f"s/{uid}", 0xC1)], version=5))
    expect_error_close(c, 5, RC_MALFORMED, ERR, peer)  # MQTT-3.8.3-5
    healthy.check()


def test_v5_subscribe_retain_handling_3(broker, healthy, raw_client, uid, peer):
    c = connected(broker, raw_client, 5, uid)
    c.send(build_subscribe(1, [(f"s/{uid}", 0x31)], version=5))
    expect_error_close(c, 5, RC_PROTOCOL_ERROR, ERR, peer)
    healthy.check()


# -- MQTT 5 properties ------------------------------------------------------------------------


def test_v5_unknown_property(broker, healthy, raw_client, uid, peer):
    c = connected(broker, raw_client, 5, uid)
    body = mqtt_str(f"up/{uid}") + varint(2) + bytes([0x7F, 0x00]) + b"x"
    c.send(build_packet(3, 0, body))
    expect_error_close(c, 5, RC_MALFORMED, ERR, peer)
    healthy.check()


def test_v5_duplicate_property(broker, healthy, raw_client, uid, peer):
    c = connected(broker, raw_client, 5, uid)
    p = encode_props({"content_type": "a"})[1:] * 2
    c.send(build_packet(3, 0, mqtt_str(f"dp/{uid}") + varint(len(p)) + p + b"x"))
    # 2.2.2.2: more than once is a Protocol Error
    expect_error_close(c, 5, RC_PROTOCOL_ERROR, ERR, peer)
    healthy.check()


def test_v5_property_length_overruns_packet(broker, healthy, raw_client, uid, peer):
    c = connected(broker, raw_client, 5, uid)
    c.send(build_packet(3, 0, mqtt_str(f"pl/{uid}") + varint(50) + b"\x01\x01"))
    expect_error_close(c, 5, RC_MALFORMED, ERR, peer)
    healthy.check()


def test_v5_property_not_allowed_in_packet(broker, healthy, raw_client, uid, peer):
    c = connected(broker, raw_client, 5, uid)
    # Session Expiry Interval belongs to CONNECT/CONNACK/DISCONNECT, not PUBLISH
    c.send(build_publish(f"np/{uid}", b"x", props={"session_expiry_interval": 5}, version=5))
    expect_error_close(c, 5, RC_MALFORMED, ERR, peer)
    healthy.check()


# -- CONNECT errors -----------------------------------------------------------------------------


@VERSIONS
def test_connect_will_qos_without_will_flag(broker, healthy, raw_client, version, peer):
    c = raw_client(broker, version)
    pkt = bytearray(build_connect("wq", version=version))
    flags_at = 2 + 2 + 4 + 1  # fixed header (2) + name len (2) + "MQTT" + level
    pkt[flags_at] |= 0x08  # will QoS 1, will flag 0: MQTT-3.1.2-11
    c.send(bytes(pkt))
    try:
        p = c.recv_packet(3)
        assert p.type == CONNACK and p.body[1] != 0, p
    except ConnectionClosed:
        pass
    c.wait_closed()
    healthy.check()


@VERSIONS
def test_connect_will_qos3(broker, healthy, raw_client, version):
    c = raw_client(broker, version)
    c.send(build_connect("w3", version=version, will={"topic": "w", "payload": b"x", "qos": 3}))
    try:
        p = c.recv_packet(3)
        assert p.type == CONNACK and p.body[1] != 0, p
    except ConnectionClosed:
        pass
    c.wait_closed()
    healthy.check()


@VERSIONS
def test_connect_truncated(broker, healthy, raw_client, version):
    c = raw_client(broker, version)
    pkt = build_connect("trunc", version=version)
    c.send(pkt[:1] + varint(len(pkt) + 5) + pkt[2:] + b"\x00")  # claims more than it sends
    c.sock.shutdown(socket.SHUT_WR)
    c.wait_closed()
    healthy.check()


def test_garbage_from_many_clients(broker, healthy, raw_client):
    import random
    rnd = random.Random(1234)
    for i in range(30):
        c = raw_client(broker, 4)
        c.try_send(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300))))
        c.close()
    healthy.check()


def test_half_open_partial_packet_does_not_block_others(broker, healthy, raw_client, uid):
    c = connected(broker, raw_client, 4, uid)
    c.send(bytes([0x30, 0x64]) + b"\x00")  # 100 bytes announced, 1 sent, then silence
    healthy.check()  # the stalled client may stay or go; the others are served


def _mutations(rnd, version):
    """Valid packets with random byte flips, truncations and extensions."""
    base = [
        build_publish("a/b", b"payload", qos=1, pid=3, version=version,
                      props={"user_property": [("k", "v")], "message_expiry_interval": 9}
                      if version == 5 else None),
        build_publish("a/b", b"x", qos=2, pid=4, retain=True, version=version),
        build_subscribe(5, [("a/+", 1), ("$share/g/#", 2)], version=version,
                        props={"subscription_identifier": 7} if version == 5 else None),
        build_unsubscribe(6, ["a/+", "b"], version=version),
        build_packet(6, 2, b"\x00\x04"),
        build_connect("again", version=version),
    ]
    for _ in range(150):
        pkt = bytearray(rnd.choice(base))
        op = rnd.random()
        if op < 0.6:
            for _ in range(rnd.randint(1, 3)):
                pkt[rnd.randrange(len(pkt))] = rnd.getrandbits(8)
        elif op < 0.8:
            pkt = pkt[:rnd.randrange(1, len(pkt))]
        else:
            pkt += bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 20)))
        yield bytes(pkt)


@VERSIONS
def test_mutated_packets_never_hurt_the_broker(broker, healthy, version, uid):
    """A fixed-seed mini fuzz over a live connection; under the ASan build the
    teardown also checks that no sanitizer report appeared."""
    import random
    rnd = random.Random(20261122 + version)
    for i, data in enumerate(_mutations(rnd, version)):
        c = RawClient(broker.port, version=version)
        try:
            c.connect(f"fz{i}-{uid}")
            c.try_send(data)
            c.drain(0.005)
        finally:
            c.close()
    healthy.check()


@pytest.mark.revmq_only
def test_log_lines_follow_the_house_format(broker_factory, uid):
    """Every line: `<UTC time> <level> component: message key=value ...`, and a
    misbehaving client is logged with its client id or address."""
    import re
    b = broker_factory("log.level = debug")
    ok = RawClient(b.port, version=5)
    ok.connect(f"ok-{uid}")
    ok.subscribe((f"lg/{uid}", 1))
    ok.publish(f"lg/{uid}", b"x", qos=1)
    ok.recv_publish()
    bad = RawClient(b.port, version=5)
    bad.connect(f"bad-{uid}")
    bad.send(build_publish("a/+", b"x", version=5))
    bad.wait_closed()
    garbage = RawClient(b.port, version=4)
    garbage.try_send(b"\x10\xff\xff\xff\xff\x7f")  # 5-byte remaining length
    garbage.wait_closed()
    ok.disconnect()
    b.wait_for_log(rf"client_id=bad-{uid}")
    b.stop()
    line_re = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                         r"(debug|info|notice|warning|error|critical) [a-z_]+: \S.*$")
    lines = [l for l in b.log_text().splitlines() if not l.startswith("==== test harness")]
    assert lines
    bad_lines = [l for l in lines if not line_re.match(l)]
    assert not bad_lines, "\n".join(bad_lines[:10])
