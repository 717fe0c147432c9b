"""Connected clients whose certificate a new CRL revokes (issue 4, "revoke after
start"): paho-mqtt over mutual TLS, MQTT 5 gets DISCONNECT 0x98 with reason
string "certificate revoked", MQTT 3.1.1 is closed, within about a second of the
snapshot; other clients are untouched. `crl_cache.disconnect_revoked = false`
only refuses new connections.
"""

import re
import socket
import ssl
import time

import pytest

import helpers
from httpfaults import World, connect, crl_urls_line, file_server, ssl_conf, tls_paho  # noqa: F401

pytestmark = pytest.mark.revmq_only


class LW:
    def __init__(self, tmp_path, fs):
        self.w = World(tmp_path / "w")
        w = self.w
        self.v5 = w.inter.client_cert("dev-v5")
        self.v3 = w.inter.client_cert("dev-v3")
        self.fs = fs
        self.url = fs.publish("inter.pem", w.inter.gencrl()[0])

    def conf(self, *extra):
        return ssl_conf(self.w, crl_urls_line(self.url), "crl_cache.refresh_interval = 1s",
                        "crl_cache.discover_from_cert = false", *extra)

    def revoke_and_publish(self, *certs):
        for c in certs:
            self.w.inter.revoke(c)
        self.fs.publish("inter.pem", self.w.inter.gencrl()[0])


@pytest.fixture
def lw(tmp_path, file_server):  # noqa: F811
    return LW(tmp_path, file_server())


@pytest.mark.parametrize("ver", ["1.2", "1.3"])
def test_connected_clients_disconnected_when_revoked(broker_factory, lw, tls_paho,  # noqa: F811
                                                     ver):
    w = lw.w
    b = broker_factory(lw.conf(), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    c5 = tls_paho(port, w.root.cert, lw.v5.cert, lw.v5.key, "dev-v5", 5, ver)
    c3 = tls_paho(port, w.root.cert, lw.v3.cert, lw.v3.key, "dev-v3", 4, ver)
    keep = tls_paho(port, w.root.cert, w.good.cert, w.good.key, "keeper", 5, ver)
    keep.c.subscribe("t/#", qos=1)

    mark = b.log_mark()
    lw.revoke_and_publish(lw.v5, lw.v3)
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=2 " % re.escape(lw.url), timeout=5,
                   since=mark)
    t_snapshot = time.monotonic()  # (the log line is seen within ~20 ms of being written)
    c5.c.wait_disconnected(timeout=2.0)
    c3.c.wait_disconnected(timeout=2.0)
    assert c5.events[0][2] - t_snapshot < 1.2, c5.events
    assert c3.events[0][2] - t_snapshot < 1.2, c3.events

    # MQTT 5: DISCONNECT 0x98 Administrative action, reason string "certificate revoked"
    rc, props, _ = c5.events[0]
    assert getattr(rc, "value", rc) == 0x98, c5.events
    assert props is not None and getattr(props, "ReasonString", None) == "certificate revoked", \
        props
    # MQTT 3.1.1: no DISCONNECT from a server exists; the connection is closed
    rc3 = c3.events[0][0]
    assert getattr(rc3, "value", rc3) != 0, c3.events

    for cn, c in (("dev-v5", lw.v5), ("dev-v3", lw.v3)):
        b.wait_for_log(r"mqtt: closing connection of revoked certificate client_id=%s serial=%s "
                       r"issuer=\"CN=Test Intermediate\"" % (cn, c.serial_hex), since=mark)
    # the good client is untouched and still works
    assert keep.c.connected.is_set() and not keep.events, keep.events
    keep.c.publish("t/x", b"still here", qos=1)
    assert keep.c.wait_topic("t/x").payload == b"still here"
    # and the revoked ones cannot come back
    r = connect(port, w.root.cert, lw.v5, "1.3")
    assert r.alert == 44, r


def test_disconnect_revoked_false_only_refuses_new_connections(broker_factory, lw,
                                                               tls_paho):  # noqa: F811
    w = lw.w
    b = broker_factory(lw.conf("crl_cache.disconnect_revoked = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    c5 = tls_paho(port, w.root.cert, lw.v5.cert, lw.v5.key, "dev-v5", 5)
    mark = b.log_mark()
    lw.revoke_and_publish(lw.v5)
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(lw.url), timeout=5,
                   since=mark)
    r = connect(port, w.root.cert, lw.v5, "1.2")
    assert r.alert == 44, r  # the new snapshot is in force for new handshakes
    time.sleep(1.5)  # longer than the disconnect would take (see the test above)
    assert c5.c.connected.is_set() and not c5.events, c5.events
    c5.c.subscribe("u/#", qos=1)
    c5.c.publish("u/1", b"alive", qos=1)
    assert c5.c.wait_topic("u/1").payload == b"alive"
    assert "closing connection of revoked certificate" not in b.log_text()


def test_listener_without_crl_check_keeps_its_clients(broker_factory, lw, tls_paho):  # noqa: F811
    """Handshakes are checked per listener (enable_crl_check): listener B, which does
    not check CRLs, still accepts the revoked certificate. But the *sessions* a revoked
    certificate owns end on every listener (issue 12: a session belongs to its
    principal), so B's live connection of that certificate is closed too."""
    w = lw.w
    other = "listeners.ssl.nocrl.ssl_options"
    conf = lw.conf() + "\n".join([
        f'{other}.certfile = "{w.server.fullchain}"', f'{other}.keyfile = "{w.server.key}"',
        f'{other}.cacertfile = "{w.cafile}"', f"{other}.verify = verify_peer",
        f"{other}.enable_crl_check = false"]) + "\n"
    b = broker_factory(conf, extra_listeners=["ssl:default", "ssl:nocrl"])
    on_b = tls_paho(b.ports["ssl:nocrl"], w.root.cert, lw.v5.cert, lw.v5.key, "dev-v5-b", 5)
    on_a = tls_paho(b.ports["ssl:default"], w.root.cert, lw.v3.cert, lw.v3.key, "dev-v3-a", 5)
    mark = b.log_mark()
    lw.revoke_and_publish(lw.v5, lw.v3)
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=2 " % re.escape(lw.url), timeout=5,
                   since=mark)
    on_a.c.wait_disconnected(timeout=2.0)  # the CRL-checking listener closes its client
    # listener B accepts the revoked certificate at the handshake ...
    r = connect(b.ports["ssl:nocrl"], w.root.cert, lw.v5, "1.3")
    assert r.ok, r
    # ... but the session the revoked certificate owned on B was ended (DISCONNECT 0x98)
    on_b.c.wait_disconnected(timeout=2.0)
    assert helpers.rc_value(on_b.events[0][0]) == 0x98, on_b.events
    b.wait_for_log(r"mqtt: session ended: owner certificate revoked client_id=dev-v5-b ",
                   since=mark)


def test_chain_check_revoked_intermediate_disconnects_its_clients(broker_factory, tmp_path,
                                                                   file_server, tls_paho):  # noqa: F811
    """check = chain: a new root CRL revoking the intermediate closes the live
    sessions of the clients it issued (their chain is now refused at the handshake)."""
    w = World(tmp_path / "w")
    fs = file_server()
    url_i = fs.publish("inter.der", w.inter.gencrl()[1])
    url_r = fs.publish("root.der", w.root.gencrl()[1])
    b = broker_factory(ssl_conf(w, crl_urls_line(url_i, url_r), "crl_cache.refresh_interval = 1s",
                                "crl_cache.discover_from_cert = false", "crl_cache.check = chain"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    c = tls_paho(port, w.root.cert, w.good.cert, w.good.key, "good", 5)
    mark = b.log_mark()
    w.root.revoke(w.inter.cert)
    fs.publish("root.der", w.root.gencrl()[1])
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(url_r), timeout=5,
                   since=mark)
    r = connect(port, w.root.cert, w.good, "1.3")
    assert r.alert == 44, r  # the handshake refuses the chain now
    c.c.wait_disconnected(timeout=2.0)


def _tls_mqtt(port, ctx, session=None, cid="r"):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t = ctx.wrap_socket(s, server_hostname="127.0.0.1", session=session)
    t.sendall(helpers.build_connect(cid, version=4))
    data = t.recv(4)
    assert data[:1] == b"\x20", data  # CONNACK
    return t


@pytest.mark.parametrize("ver", ["1.2", "1.3"])
def test_resumed_session_client_disconnected_when_revoked(broker_factory, lw, ver):
    """A client that came back with a resumed TLS session is known by its
    certificate too: revoking it closes that connection."""
    w = lw.w
    b = broker_factory(lw.conf(), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(w.root.cert)
    ctx.load_cert_chain(lw.v5.cert, lw.v5.key)
    v = ssl.TLSVersion.TLSv1_2 if ver == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = v
    first = _tls_mqtt(port, ctx, cid="first")
    sess = first.session
    first.close()
    again = _tls_mqtt(port, ctx, session=sess, cid="again")
    assert again.session_reused, "the TLS session was not resumed"
    b.wait_for_log(r"mqtt: connected client_id=again ")

    mark = b.log_mark()
    lw.revoke_and_publish(lw.v5)
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(lw.url), timeout=5,
                   since=mark)
    again.settimeout(2.0)
    try:
        data = again.recv(100)
    except (ConnectionError, ssl.SSLError):
        data = b""
    except socket.timeout:
        pytest.fail("the resumed connection of a revoked certificate is still open")
    assert data == b"", data  # MQTT 3.1.1: closed without a DISCONNECT
    b.wait_for_log(r"mqtt: closing connection of revoked certificate client_id=again serial=%s"
                   % lw.v5.serial_hex, since=mark)
    again.close()
