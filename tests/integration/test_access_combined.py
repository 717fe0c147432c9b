"""Authentication and authorization together: the ACL sees what was proven
(the principal), EMQX's is_superuser skips authorization, refusals are counted
in the metrics and the admin API shows a certificate principal with its SANs."""

import pytest

from helpers import VERSIONS, V5
from httpfaults import tls_paho  # noqa: F401 (fixture)

pytestmark = pytest.mark.revmq_only

NO_DELAY = "mqtt.authn_failure_delay = 0s\n"


def broker(broker_factory, tmp_path, rules):
    users = tmp_path / "users.csv"
    users.write_text("user_id,password,is_superuser\nops,ops-pw,true\nbob,bob-pw,false\n")
    acl = tmp_path / "acl.conf"
    acl.write_text(rules)
    conf = (NO_DELAY +
            "authentication = [{ mechanism = password_based, backend = built_in_database, "
            f'bootstrap_file = "{users}", bootstrap_type = plain }}]\n'
            f'authorization {{ no_match = deny, sources = [{{ type = file, path = "{acl}" }}] }}\n')
    return broker_factory(conf)


@VERSIONS
def test_superuser_skips_authorization_and_others_are_checked(broker_factory, tmp_path,
                                                             raw_client, version, uid):
    b = broker(broker_factory, tmp_path, '{allow, {username, "bob"}, subscribe, ["bob/#"]}.\n')
    denied = 0x87 if version == V5 else 0x80
    ops = raw_client(b, version)
    ops.connect(f"ops-{uid}", username="ops", password=b"ops-pw")
    ops.subscribe(("secret/#", 1), ("bob/x", 1), expect_codes=[1, 1])
    bob = raw_client(b, version)
    bob.connect(f"bob-{uid}", username="bob", password=b"bob-pw")
    bob.subscribe(("secret/#", 1), ("bob/x", 1), expect_codes=[denied, 1])


@VERSIONS
def test_acl_username_is_the_proven_one(broker_factory, tmp_path, raw_client, version, uid):
    """A rule for bob applies to a client that proved to be bob, and a client that
    only claims bob without the password never gets in to use it."""
    b = broker(broker_factory, tmp_path, '{allow, {username, "bob"}, subscribe, ["bob/#"]}.\n')
    bob = raw_client(b, version)
    bob.connect(f"bob-{uid}", username="bob", password=b"bob-pw")
    bob.subscribe(("bob/y", 0), expect_codes=[0])
    liar = raw_client(b, version)
    liar.connect(f"liar-{uid}", username="bob", password=b"guess",
                 expect_rc=0x86 if version == V5 else 4)


def test_refusals_are_counted_and_the_certificate_principal_is_shown(broker_factory, tmp_path,
                                                                       raw_client, tls_paho, uid):
    """Every authentication failure and ACL denial moves its Prometheus counter,
    and the admin API shows a certificate client's principal and SANs."""
    from httpfaults import World, ssl_conf
    from test_admin_api import Admin, admin_conf
    from test_admin_revocation import prom_value

    w = World(tmp_path / "w")
    dev = w.inter.client_cert("dev-9", sans=("DNS:dev-9.example", "URI:urn:dev:9"))
    users = tmp_path / "users.csv"
    users.write_text("user_id,password,is_superuser\nbob,bob-pw,false\n")
    acl = tmp_path / "acl.conf"
    acl.write_text('{deny, all, subscribe, ["secret/#"]}.\n{allow, all}.\n')
    aconf, aport = admin_conf(tmp_path)
    ssl = ssl_conf(w).replace("enable_crl_check = true", "enable_crl_check = false")
    b = broker_factory(NO_DELAY + aconf + ssl +
                       "authentication = [{ mechanism = password_based, "
                       f'backend = built_in_database, bootstrap_file = "{users}" }}]\n'
                       f'authorization {{ sources = [{{ type = file, path = "{acl}" }}] }}\n',
                       extra_listeners=["ssl:default"])
    a = Admin(aport)
    p0 = a.get("/api/v5/prometheus/stats")
    auth0 = prom_value(p0, "revmq_authentication_failures_total")
    acl0 = prom_value(p0, "revmq_acl_denials_total")

    liar = raw_client(b, V5)
    liar.connect(f"liar-{uid}", username="bob", password=b"nope", expect_rc=0x86)
    bob = raw_client(b, V5)
    bob.connect(f"bob-{uid}", username="bob", password=b"bob-pw")
    bob.subscribe(("secret/x", 0), ("ok/x", 0), expect_codes=[0x87, 0])
    p1 = a.get("/api/v5/prometheus/stats")
    assert prom_value(p1, "revmq_authentication_failures_total") == auth0 + 1
    assert prom_value(p1, "revmq_acl_denials_total") == acl0 + 1

    c = tls_paho(b.ports["ssl:default"], w.root.cert, dev.cert, dev.key, f"dev9-{uid}", 5, "1.3")
    d = a.get(f"/api/v5/clients/dev9-{uid}")
    assert d["principal"] == "cert:CN=dev-9"
    assert d["peercert"]["sans"] == "DNS:dev-9.example, URI:urn:dev:9"
    u = a.get(f"/api/v5/clients/bob-{uid}")
    assert u["principal"] == "user:bob" and "peercert" not in u
    c.stop()


def test_sys_topics_only_where_the_acl_allows(broker_factory, tmp_path, raw_client, uid):
    """$SYS/broker/… (retained, published by the broker) reaches only a
    subscriber the ACL lets subscribe to it; a denied one gets 0x87 and no
    retained $SYS message."""
    users = tmp_path / "users.csv"
    users.write_text("user_id,password,is_superuser\nops,ops-pw,false\nbob,bob-pw,false\n")
    acl = tmp_path / "acl.conf"
    acl.write_text('{allow, {username, "ops"}, subscribe, ["$SYS/#"]}.\n'
                   '{deny, all, subscribe, ["$SYS/#"]}.\n{allow, all}.\n')
    b = broker_factory(NO_DELAY + "sys_topics.sys_msg_interval = 1s\n"
                       "authentication = [{ mechanism = password_based, "
                       f'backend = built_in_database, bootstrap_file = "{users}" }}]\n'
                       f'authorization {{ sources = [{{ type = file, path = "{acl}" }}] }}\n')
    ops = raw_client(b, V5)
    ops.connect(f"ops-{uid}", username="ops", password=b"ops-pw")
    ops.subscribe(("$SYS/broker/version", 0), expect_codes=[0])
    p = ops.expect(3, timeout=5)  # PUBLISH: retained, or the next interval's
    assert p.topic == "$SYS/broker/version"
    bob = raw_client(b, V5)
    bob.connect(f"bob-{uid}", username="bob", password=b"bob-pw")
    bob.subscribe(("$SYS/broker/version", 0), ("$SYS/#", 0), expect_codes=[0x87, 0x87])
    with pytest.raises(TimeoutError):
        bob.expect(3, timeout=2.5)  # no $SYS message, retained or periodic (interval 1 s)


def test_enable_authn_is_per_listener_kind(broker_factory, tmp_path, raw_client, uid):
    """listeners.ws.default and listeners.tcp.default are two listeners: the
    WebSocket one's quick_deny_anonymous holds even though the TCP one of the
    same name admits anonymous clients (the settings are found by type:name)."""
    import paho.mqtt.client as mqtt

    import helpers

    users = tmp_path / "users.csv"
    users.write_text("user_id,password,is_superuser\nbob,bob-pw,false\n")
    b = broker_factory(NO_DELAY +
                       "authentication = [{ mechanism = password_based, "
                       f'backend = built_in_database, bootstrap_file = "{users}" }}]\n'
                       "listeners.tcp.default.enable_authn = false\n"
                       "listeners.ws.default.enable_authn = quick_deny_anonymous\n",
                       extra_listeners=["ws:default"])
    tcp = raw_client(b, V5)
    tcp.connect(f"anon-tcp-{uid}")  # admitted: authentication off on tcp:default
    rcs = []
    c = mqtt.Client(client_id=f"anon-ws-{uid}", transport="websockets",
                    protocol=mqtt.MQTTv311)
    c.ws_set_options(path="/mqtt")
    c.on_connect = lambda cl, ud, flags, rc: rcs.append(rc)
    c.connect("127.0.0.1", b.ports["ws:default"], 30)
    c.loop_start()
    try:
        helpers.wait_until(lambda: rcs, timeout=5, what="CONNACK over ws")
        assert rcs[0] == 4  # 3.1.1: bad user name or password (anonymous refused)
    finally:
        c.disconnect()
        c.loop_stop()
    b.wait_for_log(r"listener=ws:default username=- reason=\"anonymous client")


def test_delayed_will_is_checked_when_it_is_published(broker_factory, tmp_path, raw_client, uid):
    """A will with a delay is authorized by the rules in force when the delay is
    over: a reload in between that denies its topic stops it."""
    import signal

    acl = tmp_path / "acl.conf"
    acl.write_text("{allow, all}.\n")
    b = broker_factory(f'authorization {{ sources = [{{ type = file, path = "{acl}" }}] }}\n')
    topic = f"wills/{uid}"
    watcher = raw_client(b, V5)
    watcher.connect(f"w-{uid}")
    watcher.subscribe((topic, 0), expect_codes=[0])
    dev = raw_client(b, V5)
    dev.connect(f"dev-{uid}", props={"session_expiry_interval": 60},
                will={"topic": topic, "payload": b"late", "props": {"will_delay_interval": 2}})
    dev.abort()  # no DISCONNECT: the will is due in 2 s
    b.wait_for_log(r"mqtt: disconnected client_id=dev-%s " % uid)  # will parked, allowed then
    acl.write_text(f'{{deny, all, publish, ["{topic}"]}}.\n{{allow, all}}.\n')
    mark = b.log_mark()
    b.proc.send_signal(signal.SIGHUP)
    b.wait_for_log(r"authz: rules reloaded rules=2", since=mark)
    b.wait_for_log(r"authz: delayed will dropped, not authorized client_id=dev-%s " % uid,
                   timeout=6, since=mark)
    assert [p for p in watcher.drain(0.3) if p.topic == topic] == []
