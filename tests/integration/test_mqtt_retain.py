"""Retained messages: set, replace, delete; MQTT 5 retain handling and
retain-as-published."""

import pytest

from helpers import VERSIONS, PUBLISH, MosquittoSub, mosquitto_pub, sub_options


def _pubs(packets):
    return [p for p in packets if p.type == PUBLISH]


def _retained_on_subscribe(broker, raw_client, version, filt, cid, opts=1):
    """Subscribes a fresh client to `filt` plus a barrier topic; returns the
    retained messages that arrived before the barrier's retained message."""
    c = raw_client(broker, version)
    c.connect(cid)
    c.subscribe((filt, opts))
    return c


@VERSIONS
def test_retained_set_replace_delete(broker, raw_client, version, uid):
    topic = f"rt/{uid}"
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    p.publish(topic, b"first", qos=1, retain=True)

    a = _retained_on_subscribe(broker, raw_client, version, topic, f"a-{uid}")
    m = a.recv_publish()
    assert (m.payload, m.retain) == (b"first", True)

    p.publish(topic, b"second", qos=1, retain=True)
    m = a.recv_publish()  # live delivery to the existing subscriber
    assert (m.payload, m.retain) == (b"second", False)  # MQTT-3.3.1-9 / rap=0
    b = _retained_on_subscribe(broker, raw_client, version, topic, f"b-{uid}")
    m = b.recv_publish()
    assert (m.payload, m.retain) == (b"second", True)
    assert _pubs(b.drain(0.2)) == [], "replaced retained message still sent"

    p.publish(topic, b"", qos=1, retain=True)  # delete (MQTT-3.3.1-10)
    m = a.recv_publish()
    assert m.payload == b""
    c = raw_client(broker, version)
    c.connect(f"c-{uid}")
    c.subscribe((topic, 1), (f"bar/{uid}", 1))
    p.publish(f"bar/{uid}", b"barrier", qos=1)
    assert c.recv_publish().payload == b"barrier", "deleted retained message still sent"


@VERSIONS
@pytest.mark.parametrize("pub_qos,sub_qos", [(0, 1), (1, 1), (2, 1), (2, 0), (1, 2)])
def test_retained_qos_is_min(broker, raw_client, version, pub_qos, sub_qos, uid):
    topic = f"rq/{uid}"
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    p.publish(topic, b"r", qos=pub_qos, retain=True)
    p.publish(f"sync/{uid}", b"", qos=1)  # its PUBACK: the QoS 0 one was handled too
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((topic, sub_qos))
    m = s.recv_publish()
    assert (m.payload, m.retain, m.qos) == (b"r", True, min(pub_qos, sub_qos))


@VERSIONS
def test_retained_with_wildcard_subscription(broker, raw_client, version, uid):
    p = raw_client(broker, version)
    p.connect(f"p-{uid}")
    for leaf in ("a", "b", "c/d"):
        p.publish(f"rw/{uid}/{leaf}", leaf.encode(), qos=1, retain=True)
    p.publish(f"other/{uid}", b"no", qos=1, retain=True)
    s = raw_client(broker, version)
    s.connect(f"s-{uid}")
    s.subscribe((f"rw/{uid}/#", 1))
    got = s.recv_publishes(3)
    assert sorted(m.topic for m in got) == sorted(f"rw/{uid}/{x}" for x in ("a", "b", "c/d"))
    assert all(m.retain for m in got)
    assert _pubs(s.drain(0.2)) == []


def test_retained_with_mosquitto_clients(broker, uid):
    topic = f"rmc/{uid}"
    mosquitto_pub(broker.port, topic, "kept", "-r", "-q", "1")
    sub = MosquittoSub(broker.port, topic, "-q", "1", count=1).start()
    try:
        assert sub.wait_messages(1) == [f"{topic} kept"]
    finally:
        sub.stop()
    mosquitto_pub(broker.port, topic, "", "-r", "-q", "1")  # -n would also do


# -- MQTT 5 ------------------------------------------------------------------------


def test_v5_retain_handling_0_sends_on_every_subscribe(broker, raw_client, uid):
    topic = f"rh0/{uid}"
    p = raw_client(broker, 5)
    p.connect(f"p-{uid}")
    p.publish(topic, b"r", qos=1, retain=True)
    s = raw_client(broker, 5)
    s.connect(f"s-{uid}")
    s.subscribe((topic, sub_options(1, rh=0)))
    assert s.recv_publish().retain
    s.subscribe((topic, sub_options(1, rh=0)))  # existing subscription: sent again
    m = s.recv_publish()
    assert (m.payload, m.retain) == (b"r", True)


def test_v5_retain_handling_1_only_for_new_subscription(broker, raw_client, uid):
    topic = f"rh1/{uid}"
    p = raw_client(broker, 5)
    p.connect(f"p-{uid}")
    p.publish(topic, b"r", qos=1, retain=True)
    s = raw_client(broker, 5)
    s.connect(f"s-{uid}")
    s.subscribe((topic, sub_options(1, rh=1)), (f"bar/{uid}", 1))
    assert s.recv_publish().payload == b"r"
    s.subscribe((topic, sub_options(1, rh=1)))  # not new: nothing sent
    p.publish(f"bar/{uid}", b"barrier", qos=1)
    assert s.recv_publish().payload == b"barrier"


def test_v5_retain_handling_2_never_sends(broker, raw_client, uid):
    topic = f"rh2/{uid}"
    p = raw_client(broker, 5)
    p.connect(f"p-{uid}")
    p.publish(topic, b"r", qos=1, retain=True)
    s = raw_client(broker, 5)
    s.connect(f"s-{uid}")
    s.subscribe((topic, sub_options(1, rh=2)), (f"bar/{uid}", 1))
    p.publish(f"bar/{uid}", b"barrier", qos=1)
    assert s.recv_publish().payload == b"barrier"
    p.publish(topic, b"live", qos=1)  # the subscription itself works
    assert s.recv_publish().payload == b"live"


@pytest.mark.parametrize("rap", [False, True])
def test_v5_retain_as_published(broker, raw_client, rap, uid):
    topic = f"rap/{uid}"
    s = raw_client(broker, 5)
    s.connect(f"s-{uid}")
    s.subscribe((topic, sub_options(1, rap=rap)))
    p = raw_client(broker, 5)
    p.connect(f"p-{uid}")
    p.publish(topic, b"live-retained", qos=1, retain=True)
    p.publish(topic, b"live-plain", qos=1, retain=False)
    a, b = s.recv_publishes(2)
    assert (a.payload, a.retain) == (b"live-retained", rap)
    assert (b.payload, b.retain) == (b"live-plain", False)


def test_v5_retained_message_properties_kept(broker, raw_client, uid):
    topic = f"rpk/{uid}"
    p = raw_client(broker, 5)
    p.connect(f"p-{uid}")
    p.publish(topic, b"{}", qos=1, retain=True,
              props={"content_type": "application/json", "payload_format_indicator": 1,
                     "user_property": [("k", "v")]})
    s = raw_client(broker, 5)
    s.connect(f"s-{uid}")
    s.subscribe((topic, 1))
    m = s.recv_publish()
    assert m.retain
    assert m.props.get("content_type") == "application/json"
    assert m.props.get("payload_format_indicator") == 1
    assert m.props.get("user_property") == [("k", "v")]
