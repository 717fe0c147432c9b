"""Authorization (authorization { sources = [file] }, EMQX acl.conf) enforced on
SUBSCRIBE, PUBLISH, wills, retained messages and shared subscriptions, with real
clients (raw MQTT, paho-mqtt, mosquitto_pub/sub), MQTT 3.1.1 and 5.0."""

import signal
import subprocess

import pytest

from helpers import (HOST, PUBACK, PUBCOMP, PUBLISH, PUBREC, DISCONNECT, VERSIONS, V5, MosquittoSub,
                     build_subscribe,
                     PahoClient, mosquitto_pub, wait_until)

pytestmark = pytest.mark.revmq_only

NOT_AUTHORIZED = 0x87


def acl_broker(broker_factory, tmp_path, rules, extra="", name=None, **kw):
    """A broker whose authorization source 1 is an acl.conf holding `rules`."""
    path = tmp_path / f"acl-{name or 'x'}.conf"
    path.write_text(rules)
    conf = (f'authorization.sources.1.type = file\n'
            f'authorization.sources.1.path = "{path}"\n{extra}\n')
    b = broker_factory(conf, name=name, **kw)
    b.acl_path = path
    return b


def sub_code(version):
    return NOT_AUTHORIZED if version == V5 else 0x80


def barrier(client, topic):
    """A QoS 1 round trip: everything the client sent before was handled."""
    ack = client.publish(topic, b"", qos=1)
    assert ack is not None and ack.type == PUBACK


def paho(version, cid, port, username=None, **kw):
    c = PahoClient(cid, version)
    if username is not None:
        c.client.username_pw_set(username, "pw")
    return c.connect(port, **kw)


# ---------------------------------------------------------------- SUBSCRIBE

@VERSIONS
def test_subscribe_failure(broker_factory, tmp_path, version, uid):
    """The Paho interoperability test: an ACL denying test/nosubscribe."""
    b = acl_broker(broker_factory, tmp_path,
                   '{deny, all, subscribe, ["test/nosubscribe"]}.\n{allow, all}.\n')
    c = paho(version, f"sf-{uid}", b.port)
    try:
        granted = c.subscribe("test/nosubscribe", 2)
        assert [int(getattr(g, "value", g)) for g in granted] == [sub_code(version)]
        granted = c.subscribe(f"test/{uid}", 1)  # the session goes on
        assert [int(getattr(g, "value", g)) for g in granted] == [1]
    finally:
        c.stop()
    b.wait_for_log(r"authz: denied client_id=sf-\S+ .*action=subscribe topic=test/nosubscribe")


@VERSIONS
def test_subscribe_denied_entry_only_others_granted(broker_factory, tmp_path, raw_client,
                                                    version, uid):
    b = acl_broker(broker_factory, tmp_path,
                   '{deny, all, subscribe, ["secret/#"]}.\n{allow, all}.\n')
    c = raw_client(b, version)
    c.connect(f"c-{uid}")
    c.subscribe(("a/b", 1), ("secret/x", 1), ("$share/g/secret/y", 2), ("$share/g/ok", 2),
                expect_codes=[1, sub_code(version), sub_code(version), 2])


@VERSIONS
def test_mosquitto_sub_gets_refusal_code(broker_factory, tmp_path, version, uid):
    b = acl_broker(broker_factory, tmp_path, '{deny, {username, "eve"}, subscribe, ["#"]}.\n')
    args = ["-u", "eve", "-V", "mqttv5" if version == V5 else "mqttv311", "-W", "3"]
    r = subprocess.run(["mosquitto_sub", "-d", "-h", HOST, "-p", str(b.port), "-t", "#",
                        "-i", f"ms-{uid}", *args], capture_output=True, text=True, timeout=10)
    out = r.stdout + r.stderr
    assert f"Subscribed (mid: 1): {sub_code(version)}" in out, out
    # the same client under another name is not covered by the rule
    s = MosquittoSub(b.port, "#", "-u", "ann", "-V", "mqttv311").start()
    s.wait_line(lambda l: "Subscribed (mid: 1): 0" in l)
    s.stop()


# ---------------------------------------------------------------- PUBLISH

@VERSIONS
def test_publish_denied_qos0_1_2(broker_factory, tmp_path, raw_client, version, uid):
    b = acl_broker(broker_factory, tmp_path,
                   '{deny, all, publish, ["cmd/#"]}.\n{allow, all}.\n')
    s = raw_client(b, version)
    s.connect(f"s-{uid}")
    s.subscribe(("cmd/#", 2), (f"ok/{uid}", 2))
    p = raw_client(b, version)
    p.connect(f"p-{uid}")
    p.publish("cmd/0", b"q0", qos=0)
    a1 = p.publish("cmd/1", b"q1", qos=1)
    a2 = p.publish("cmd/2", b"q2", qos=2)
    if version == V5:
        assert (a1.type, a1.rc) == (PUBACK, NOT_AUTHORIZED)
        assert (a2.type, a2.rc) == (PUBREC, NOT_AUTHORIZED)
    else:  # 3.1.1: acknowledged as usual, never routed
        assert (a1.type, a1.rc) == (PUBACK, 0)
        assert (a2.type, a2.rc) == (PUBCOMP, 0)  # PUBREC, PUBREL, PUBCOMP as usual
    p.publish(f"ok/{uid}", b"after", qos=1)
    got = s.recv_publish()
    assert (got.topic, got.payload) == (f"ok/{uid}", b"after"), "a denied publish was routed"
    assert [x for x in s.drain(0.2) if x.type == PUBLISH] == []


def test_publish_denied_mosquitto_pub_v5_and_allowed_user(broker_factory, tmp_path, uid):
    b = acl_broker(broker_factory, tmp_path,
                   '{allow, {username, "writer"}, publish, ["data/#"]}.\n'
                   '{deny, all, publish, ["data/#"]}.\n{allow, all}.\n')
    s = MosquittoSub(b.port, "data/#", "-q", "1").start()
    r = mosquitto_pub(b.port, "data/x", "nope", "-u", "reader", "-q", "1", "-V", "mqttv5",
                      "-d", check=False)
    assert "Not authorized" in r.stdout + r.stderr or "135" in r.stdout + r.stderr, r
    mosquitto_pub(b.port, "data/x", "yes", "-u", "writer", "-q", "1")
    s.wait_line(lambda l: l.startswith("data/x yes"))
    assert not any("nope" in l for l in s.lines)
    s.stop()


@VERSIONS
def test_deny_action_disconnect(broker_factory, tmp_path, raw_client, version, uid):
    b = acl_broker(broker_factory, tmp_path, '{deny, all, all, ["no/#"]}.\n{allow, all}.\n',
                   extra="authorization.deny_action = disconnect")
    p = raw_client(b, version)
    p.connect(f"p-{uid}")
    p.publish("no/x", b"", qos=0)
    last = p.wait_closed()
    if version == V5:
        assert last is not None and last.type == DISCONNECT and last.rc == NOT_AUTHORIZED
    s = raw_client(b, version)
    s.connect(f"s-{uid}")
    s.send(build_subscribe(1, [("no/x", 0)], version=version))
    last = s.wait_closed()
    if version == V5:
        assert last is not None and last.type == DISCONNECT and last.rc == NOT_AUTHORIZED


# ---------------------------------------------------------------- retained, will

@VERSIONS
def test_retained_delivered_on_subscribe_are_checked(broker_factory, tmp_path, raw_client,
                                                      version, uid):
    b = acl_broker(broker_factory, tmp_path,
                   '{deny, {username, "bob"}, subscribe, ["r/secret"]}.\n{allow, all}.\n')
    p = raw_client(b, version)
    p.connect(f"p-{uid}")
    p.publish("r/secret", b"s", qos=1, retain=True)
    p.publish("r/public", b"p", qos=1, retain=True)
    bob = raw_client(b, version)
    bob.connect(f"bob-{uid}", username="bob")
    bob.subscribe(("r/#", 1), expect_codes=[1])
    got = bob.recv_publish()
    assert (got.topic, got.retain) == ("r/public", True)
    assert [x for x in bob.drain(0.3) if x.type == PUBLISH] == []
    ann = raw_client(b, version)
    ann.connect(f"ann-{uid}", username="ann")
    ann.subscribe(("r/#", 1))
    assert sorted(x.topic for x in ann.recv_publishes(2)) == ["r/public", "r/secret"]


@VERSIONS
def test_retained_publish_denied_by_retain_qualifier(broker_factory, tmp_path, raw_client,
                                                      version, uid):
    b = acl_broker(broker_factory, tmp_path,
                   '{deny, all, {publish, [{retain, true}]}, ["st/#"]}.\n{allow, all}.\n')
    p = raw_client(b, version)
    p.connect(f"p-{uid}")
    a = p.publish("st/a", b"kept?", qos=1, retain=True)
    assert a.rc == (NOT_AUTHORIZED if version == V5 else 0)
    p.publish("st/b", b"live", qos=1)  # not retained: allowed
    s = raw_client(b, version)
    s.connect(f"s-{uid}")
    s.subscribe(("st/#", 1))
    assert [x for x in s.drain(0.3) if x.type == PUBLISH] == [], "denied retain was stored"


@VERSIONS
def test_will_checked_when_published(broker_factory, tmp_path, raw_client, version, uid):
    b = acl_broker(broker_factory, tmp_path,
                   '{deny, {clientid, {re, "^bad-"}}, publish, ["will/#"]}.\n{allow, all}.\n')
    s = raw_client(b, version)
    s.connect(f"s-{uid}")
    s.subscribe(("will/#", 1))
    for cid in (f"bad-{uid}", f"good-{uid}"):
        c = raw_client(b, version)
        c.connect(cid, will={"topic": f"will/{cid}", "payload": b"gone", "qos": 1})
        c.abort()
    got = s.recv_publish()
    assert got.topic == f"will/good-{uid}"
    assert [x for x in s.drain(0.3) if x.type == PUBLISH] == []
    b.wait_for_log(rf"will dropped: not authorized client_id=bad-{uid} topic=will/bad-{uid}$")


# ---------------------------------------------------------------- rule kinds, placeholders

RULES = r'''
%% every Who form
{allow, {user, "u1"}, publish, ["k/user"]}.
{allow, {username, {re, "^op[0-9]+$"}}, publish, ["k/re"]}.
{allow, {client, "cid-exact"}, publish, ["k/client"]}.
{allow, {clientid, {re, "^dev-"}}, publish, ["k/clientre"]}.
{allow, {ipaddr, "127.0.0.0/8"}, publish, ["k/ip"]}.
{allow, {ipaddrs, ["10.0.0.0/8", "::1"]}, publish, ["k/ips"]}.
{allow, {'and', [{user, "u1"}, {client, "cid-and"}]}, publish, ["k/and"]}.
{allow, {'or', [{user, "nobody"}, {client, "cid-or"}]}, publish, ["k/or"]}.
{allow, all, {publish, [{qos, [0, 1]}]}, ["k/qos"]}.
{allow, all, subscribe, [{eq, "k/#"}]}.
%% placeholders
{allow, all, publish, ["p/${username}/#", "p2/%u", "c/${clientid}/#", "c2/%c"]}.
{deny, all}.
'''

CASES = [
    # (username, client id, topic, qos, allowed)
    ("u1", "x1", "k/user", 1, True),
    ("u2", "x2", "k/user", 1, False),
    ("op42", "x3", "k/re", 1, True),
    ("opx", "x4", "k/re", 1, False),
    (None, "cid-exact", "k/client", 1, True),
    (None, "cid-other", "k/client", 1, False),
    (None, "dev-7", "k/clientre", 1, True),
    (None, "xdev-7", "k/clientre", 1, False),
    (None, "x5", "k/ip", 1, True),    # the test client connects from 127.0.0.1
    (None, "x6", "k/ips", 1, False),  # not from 10/8 or ::1
    ("u1", "cid-and", "k/and", 1, True),
    ("u1", "cid-nope", "k/and", 1, False),
    (None, "cid-or", "k/or", 1, True),
    (None, "cid-nor", "k/or", 1, False),
    (None, "x7", "k/qos", 1, True),
    (None, "x8", "k/qos", 2, False),
    ("alice", "x9", "p/alice/t", 1, True),
    ("alice", "x10", "p/bob/t", 1, False),
    ("alice", "x11", "p2/alice", 1, True),
    (None, "x12", "p2/", 1, False),   # no username: the placeholder never matches
    (None, "cdev", "c/cdev/t", 1, True),
    (None, "cdev", "c/other/t", 1, False),
    (None, "cdev2", "c2/cdev2", 2, True),
]


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_each_rule_kind_and_placeholder(broker_factory, tmp_path, raw_client, version):
    b = acl_broker(broker_factory, tmp_path, RULES)
    for user, cid, topic, qos, allowed in CASES:
        c = raw_client(b, version)
        c.connect(cid, username=user)
        a = c.publish(topic, b"x", qos=qos)
        if version == V5:
            assert a.rc in ((None, 0, 0x10) if allowed else (NOT_AUTHORIZED,)), \
                (user, cid, topic, a)
        c.disconnect()
    s = raw_client(b, version)
    s.connect("sub")
    s.subscribe(("k/#", 0), ("k/+", 0), expect_codes=[0, sub_code(version)])


def test_placeholders_route_only_own_topics_v311(broker_factory, tmp_path, raw_client, uid):
    """3.1.1 has no refusal code: what reaches a subscriber shows the decision."""
    b = acl_broker(broker_factory, tmp_path,
                   '{allow, all, publish, ["p/${username}/#", "c/%c/#"]}.\n'
                   '{allow, all, subscribe, ["#"]}.\n{deny, all}.\n')
    s = raw_client(b, 4)
    s.connect(f"s-{uid}")
    s.subscribe(("p/#", 1), ("c/#", 1))
    c = raw_client(b, 4)
    c.connect(f"me-{uid}", username="alice")
    for t in ("p/bob/x", "p/alice/x", f"c/other-{uid}/x", f"c/me-{uid}/x"):
        c.publish(t, b"", qos=1)
    assert sorted(p.topic for p in s.recv_publishes(2)) == [f"c/me-{uid}/x", "p/alice/x"]
    assert [x for x in s.drain(0.3) if x.type == PUBLISH] == []
