"""Admin HTTP API (issue 15): EMQX 5 paths under /api/v5 with API keys over
basic auth, revmq's revocation views, and the counters moving when their
event happens (a revoked client's handshake -> the alert-44 counter).

Real parts only: the broker on loopback, curl-like requests through
urllib, openssl s_client for handshakes, the revmq PKI helpers for CRLs,
`openssl ocsp` as the OCSP responder, paho/raw MQTT clients.
"""

import base64
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import helpers
from pki import PKI, s_client

pytestmark = pytest.mark.revmq_only

KEY, SECRET = "ops", "s3cret with spaces"
VIEWER = ("watcher", "look-only")


class Admin:
    def __init__(self, port, key=KEY, secret=SECRET):
        self.base = f"http://127.0.0.1:{port}"
        self.key, self.secret = key, secret

    def call(self, method, path, auth=True, key=None, secret=None):
        req = urllib.request.Request(self.base + path, method=method)
        if auth:
            tok = f"{key or self.key}:{secret or self.secret}".encode()
            req.add_header("Authorization", "Basic " + base64.b64encode(tok).decode())
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body = r.read()
                return r.status, body, r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def get(self, path, **kw):
        st, body, _ = self.call("GET", path, **kw)
        assert st == 200, (path, st, body)
        return json.loads(body) if not path.startswith("/api/v5/prometheus") else body.decode()


def admin_conf(tmp_path, *extra, keys=None):
    kf = tmp_path / "api_keys"
    kf.write_text(keys if keys is not None else
                  f"# operators\n{KEY}:{SECRET}\n\n{VIEWER[0]}:{VIEWER[1]}:viewer\n")
    port = helpers.free_port()
    lines = [f'dashboard.listeners.http.bind = "127.0.0.1:{port}"',
             f'api_key.bootstrap_file = "{kf}"'] + list(extra)
    return "\n".join(lines) + "\n", port


ENDPOINTS = [("GET", "/api/v5/clients"), ("GET", "/api/v5/clients/x"),
             ("DELETE", "/api/v5/clients/x"), ("GET", "/api/v5/subscriptions"),
             ("GET", "/api/v5/stats"), ("GET", "/api/v5/metrics"),
             ("GET", "/api/v5/prometheus/stats"), ("GET", "/api/v5/revmq/crl"),
             ("POST", "/api/v5/revmq/crl/refresh"), ("GET", "/api/v5/revmq/ocsp"),
             ("POST", "/api/v5/revmq/ocsp/refresh"), ("GET", "/api/v5/revmq/listeners"),
             ("GET", "/api/v5/revmq/status"), ("GET", "/"), ("GET", "/nope")]


def test_every_endpoint_needs_a_valid_key(broker_factory, tmp_path):
    conf, port = admin_conf(tmp_path)
    b = broker_factory(conf)
    a = Admin(port)
    for method, path in ENDPOINTS:
        st, body, hdr = a.call(method, path, auth=False)
        assert st == 401, (method, path, st)
        assert hdr["WWW-Authenticate"] == 'Basic realm="revmq"'
        assert json.loads(body)["code"] == "BAD_API_KEY_OR_SECRET"
        for k, s in [(KEY, "wrong"), ("nobody", SECRET), (KEY, SECRET[:-1]), (KEY, SECRET + "x")]:
            assert a.call(method, path, key=k, secret=s)[0] == 401, (method, path, k, s)
    # garbage Authorization headers
    for h in ["Basic", "Basic !!!!", "Bearer abc", "Basic " + base64.b64encode(b"nocolon").decode()]:
        req = urllib.request.Request(a.base + "/api/v5/stats", headers={"Authorization": h})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 401
    assert a.call("GET", "/api/v5/stats")[0] == 200
    assert a.call("GET", "/nope")[0] == 404
    b.wait_for_log(r"admin: unauthorized request path=\"/api/v5/clients\" auth=missing")


def test_viewer_may_read_but_not_kick_or_refresh(broker_factory, tmp_path, mqtt_client):
    conf, port = admin_conf(tmp_path)
    b = broker_factory(conf)
    c = mqtt_client(b, client_id="dev-1")
    v = Admin(port, *VIEWER)
    assert v.get("/api/v5/clients")["meta"]["count"] == 1
    for method, path in [("DELETE", "/api/v5/clients/dev-1"), ("POST", "/api/v5/revmq/crl/refresh"),
                         ("POST", "/api/v5/revmq/ocsp/refresh")]:
        st, body, _ = v.call(method, path)
        assert st == 403, (path, st)
        assert json.loads(body)["code"] == "FORBIDDEN"
    assert Admin(port).get("/api/v5/clients/dev-1")["connected"] is True
    c.disconnect()


def test_no_key_file_means_no_listener(broker_factory, tmp_path):
    port = helpers.free_port()
    b = broker_factory(f'dashboard.listeners.http.bind = "127.0.0.1:{port}"\n')
    b.wait_for_log(r"admin: listener not started: no API key \(set api_key.bootstrap_file\)")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v5/stats", timeout=2)


@pytest.mark.parametrize("keys,err", [
    ("ops\n", r"api_keys:1: expected key:secret\[:role\]"),
    ("ok:pw\n\nbad key:pw\n", r"api_keys:3: key may only contain"),
    ("a:pw:root\n", r"api_keys:1: role must be administrator or viewer"),
    ("a:pw\na:pw2\n", r"api_keys:2: duplicate key"),
    ("a:\n", r"api_keys:1: secret must be 1..256 characters"),
])
def test_bad_key_file_is_a_startup_error(broker_factory, tmp_path, keys, err):
    conf, _ = admin_conf(tmp_path, keys=keys)
    b = broker_factory(conf, start=False)
    with pytest.raises(helpers.BrokerError):
        b.start()
    assert re.search(r"revmq: api_key.bootstrap_file: .*" + err, b.log_text()), b.log_tail()


def test_missing_key_file_and_busy_port_are_startup_errors(broker_factory, tmp_path):
    b = broker_factory(f'api_key.bootstrap_file = "{tmp_path}/none"\n', start=False)
    with pytest.raises(helpers.BrokerError):
        b.start()
    assert "api_key.bootstrap_file: %s/none: No such file or directory" % tmp_path in b.log_text()
    conf, port = admin_conf(tmp_path)
    first = broker_factory(conf, name="first")
    second = broker_factory(conf, name="second", start=False)
    with pytest.raises(helpers.BrokerError):
        second.start()
    assert f"dashboard.listeners.http.bind: 127.0.0.1:{port}: Address already in use" in \
        second.log_text(), second.log_tail()
    assert Admin(port).get("/api/v5/revmq/status")["status"] == "running"
    first.stop()


def test_disabled_listener(broker_factory, tmp_path):
    conf, port = admin_conf(tmp_path, "dashboard.listeners.http.enable = false")
    broker_factory(conf)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v5/stats", timeout=2)


def test_clients_filters_paging_details_and_kick(broker_factory, tmp_path, raw_client):
    conf, port = admin_conf(tmp_path)
    b = broker_factory(conf)
    a = Admin(port)
    clients = []
    for i in range(5):
        rc = raw_client(b, version=5)
        rc.send(helpers.build_connect(f"sensor-{i}", version=5, clean=True,
                                      username=("alice" if i % 2 else "bob")))
        assert rc.recv_packet().name == "CONNACK"
        clients.append(rc)
    r = a.get("/api/v5/clients")
    assert r["meta"] == {"page": 1, "limit": 100, "count": 5, "hasnext": False}
    assert sorted(c["clientid"] for c in r["data"]) == [f"sensor-{i}" for i in range(5)]
    one = [c for c in r["data"] if c["clientid"] == "sensor-1"][0]
    assert one["username"] == "alice" and one["ip_address"] == "127.0.0.1"
    assert one["connected"] is True and one["proto_ver"] == 5 and one["listener"] == "tcp:default"
    assert a.get("/api/v5/clients?username=alice")["meta"]["count"] == 2
    assert a.get("/api/v5/clients?clientid=sensor-3")["data"][0]["clientid"] == "sensor-3"
    assert a.get("/api/v5/clients?like_clientid=sor-")["meta"]["count"] == 5
    assert a.get("/api/v5/clients?like_clientid=zzz")["meta"]["count"] == 0
    assert a.get("/api/v5/clients?ip_address=127.0.0.1")["meta"]["count"] == 5
    assert a.get("/api/v5/clients?ip_address=10.0.0.1")["meta"]["count"] == 0
    assert a.get("/api/v5/clients?conn_state=connected")["meta"]["count"] == 5
    assert a.get("/api/v5/clients?conn_state=disconnected")["meta"]["count"] == 0
    p1 = a.get("/api/v5/clients?page=1&limit=2")
    p3 = a.get("/api/v5/clients?page=3&limit=2")
    assert len(p1["data"]) == 2 and p1["meta"]["hasnext"] is True
    assert len(p3["data"]) == 1 and p3["meta"] == {"page": 3, "limit": 2, "count": 5,
                                                   "hasnext": False}
    for bad in ["page=0", "limit=0", "limit=abc", "limit=10001", "conn_state=maybe"]:
        st, body, _ = a.call("GET", "/api/v5/clients?" + bad)
        assert st == 400, bad
        assert json.loads(body)["code"] == "BAD_REQUEST"
    st, body, _ = a.call("GET", "/api/v5/clients/nobody")
    assert st == 404 and json.loads(body)["code"] == "CLIENTID_NOT_FOUND"
    # kick: DISCONNECT 0x98 to the client, the session is gone
    st, _, _ = a.call("DELETE", "/api/v5/clients/sensor-2")
    assert st == 204
    pkt = clients[2].recv_packet()
    assert pkt.name == "DISCONNECT" and pkt.rc == 0x98, pkt
    assert a.call("GET", "/api/v5/clients/sensor-2")[0] == 404
    assert a.get("/api/v5/clients")["meta"]["count"] == 4
    b.wait_for_log(r"mqtt: kicked client_id=sensor-2 by=admin")
    m = a.get("/api/v5/metrics")[0]
    assert m["node"] == "revmq@127.0.0.1"


def test_client_id_with_slash_and_space_is_found(broker_factory, tmp_path, raw_client):
    conf, port = admin_conf(tmp_path)
    b = broker_factory(conf)
    rc = raw_client(b)
    rc.send(helpers.build_connect("plant 7/line", version=4))
    assert rc.recv_packet().name == "CONNACK"
    r = Admin(port).get("/api/v5/clients/plant%207%2Fline")
    assert r["clientid"] == "plant 7/line"


def test_subscriptions_stats_metrics_move(broker_factory, tmp_path, raw_client):
    conf, port = admin_conf(tmp_path)
    b = broker_factory(conf)
    a = Admin(port)
    m0 = a.get("/api/v5/metrics")[0]
    s0 = a.get("/api/v5/stats")[0]
    assert s0["connections.count"] == 0 and s0["subscriptions.count"] == 0
    sub = raw_client(b)
    sub.send(helpers.build_connect("sub", version=4))
    sub.recv_packet()
    sub.send(helpers.build_subscribe(1, [("plant/+/temp", 1), ("alarms/#", 0)]))
    assert sub.recv_packet().name == "SUBACK"
    pub = raw_client(b)
    pub.send(helpers.build_connect("pub", version=4))
    pub.recv_packet()
    for i in range(3):
        pub.send(helpers.build_publish("plant/1/temp", b"21", qos=0))
        assert sub.recv_packet().name == "PUBLISH"
    pub.send(helpers.build_publish("state", b"on", retain=True))
    r = a.get("/api/v5/subscriptions")
    assert r["meta"]["count"] == 2
    assert sorted((s["clientid"], s["topic"], s["qos"]) for s in r["data"]) == [
        ("sub", "alarms/#", 0), ("sub", "plant/+/temp", 1)]
    assert a.get("/api/v5/subscriptions?topic=alarms/%23")["meta"]["count"] == 1
    assert a.get("/api/v5/subscriptions?clientid=pub")["meta"]["count"] == 0
    helpers.wait_until(lambda: a.get("/api/v5/stats")[0]["retained.count"] == 1)
    s1 = a.get("/api/v5/stats")[0]
    assert s1["connections.count"] == 2 and s1["sessions.count"] == 2
    assert s1["subscriptions.count"] == 2
    m1 = a.get("/api/v5/metrics")[0]
    assert m1["messages.received"] - m0["messages.received"] == 4
    assert m1["messages.sent"] - m0["messages.sent"] == 3
    prom = a.get("/api/v5/prometheus/stats")
    assert 'revmq_connections{listener="tcp:default"} 2' in prom
    assert re.search(r"^revmq_messages_received_total 4$", prom, re.M), prom
    assert re.search(r"^revmq_subscriptions 2$", prom, re.M)
    assert re.search(r'^revmq_messages_dropped_total\{reason="queue_full"\} 0$', prom, re.M)


def test_sys_topics_published_at_the_interval(broker_factory, tmp_path, raw_client):
    b = broker_factory("sys_topics.sys_msg_interval = 1s\n")
    c = raw_client(b)
    c.send(helpers.build_connect("watcher", version=4))
    c.recv_packet()
    c.send(helpers.build_subscribe(1, [("$SYS/broker/#", 0), ("#", 0)]))
    assert c.recv_packet().name == "SUBACK"
    pub = raw_client(b)
    pub.send(helpers.build_connect("pub", version=4))
    pub.recv_packet()
    pub.send(helpers.build_publish("x", b"1"))
    seen = {}
    deadline = time.monotonic() + 5
    want = {"$SYS/broker/messages/received": b"1", "$SYS/broker/clients/connected": b"2",
            "$SYS/broker/subscriptions/count": b"2"}
    while time.monotonic() < deadline and any(seen.get(k) != v for k, v in want.items()):
        p = c.recv_packet(timeout=3)
        if p.name == "PUBLISH":
            seen[p.topic] = p.payload
    assert seen["$SYS/broker/version"].startswith(b"revmq version ")
    assert re.fullmatch(rb"\d+ seconds", seen["$SYS/broker/uptime"])
    assert seen["$SYS/broker/clients/connected"] == b"2"
    assert seen["$SYS/broker/messages/received"] == b"1"
    assert seen["$SYS/broker/subscriptions/count"] == b"2"
    assert "x" in seen  # the plain publish; '#' alone never matched $SYS (MQTT-4.7.2-1)
    # a later subscriber gets them retained
    late = raw_client(b)
    late.send(helpers.build_connect("late", version=4))
    late.recv_packet()
    late.send(helpers.build_subscribe(1, [("$SYS/broker/version", 0)]))
    late.recv_packet()
    p = late.recv_packet()
    assert p.topic == "$SYS/broker/version" and p.retain


def test_sys_topics_disabled(broker_factory, raw_client):
    b = broker_factory("sys_topics.sys_msg_interval = 0s\n")
    c = raw_client(b)
    c.send(helpers.build_connect("watcher", version=4))
    c.recv_packet()
    c.send(helpers.build_subscribe(1, [("$SYS/#", 0)]))
    c.recv_packet()
    with pytest.raises(Exception):
        c.recv_packet(timeout=1.5)


def test_hash_subscriber_does_not_get_sys(broker_factory, raw_client):
    b = broker_factory("sys_topics.sys_msg_interval = 1s\n")
    c = raw_client(b)
    c.send(helpers.build_connect("all", version=4))
    c.recv_packet()
    c.send(helpers.build_subscribe(1, [("#", 0)]))
    c.recv_packet()
    with pytest.raises(Exception):
        c.recv_packet(timeout=1.5)
