"""Sessions belong to their principal (issue 12).

The attack from the issue, with real clients: a device holds a session over mutual
TLS; an anonymous client on the plain TCP listener connects with the device's client
id. It must be refused (MQTT 5 CONNACK 0x87, 3.1.1 return code 5) without reading the
device's queue or kicking it, and the log names both principals. The owner itself may
take its session over from any listener. `mqtt.session_owner_only = false` restores
plain takeover by client id. A revoked certificate ends the sessions it owns on every
listener, also on one that does not check CRLs.
"""

import os
import signal
import ssl

import pytest

import helpers
from helpers import V5, V311, PahoClient
from httpfaults import World, ssl_conf

pytestmark = pytest.mark.revmq_only

SSL2 = "listeners.ssl.nocrl.ssl_options"


def nocrl_conf(w):
    """A second mutual-TLS listener, same CA, without CRL checking."""
    return "\n".join([
        f'{SSL2}.certfile = "{w.server.fullchain}"',
        f'{SSL2}.keyfile = "{w.server.key}"',
        f'{SSL2}.cacertfile = "{w.cafile}"',
        f"{SSL2}.verify = verify_peer",
        f"{SSL2}.fail_if_no_peer_cert = true",
    ]) + "\n"


class Dev:
    """paho over mutual TLS with a persistent session (clean=False / expiry 300 s)."""

    def __init__(self, port, w, cert, client_id, version=V311, clean=False):
        self.c = PahoClient(client_id, version, clean)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(w.root.cert)
        ctx.load_cert_chain(cert.cert, cert.key)
        self.c.client.tls_set_context(ctx)
        props = None
        if version == V5:
            from paho.mqtt.properties import Properties
            from paho.mqtt.packettypes import PacketTypes
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 300
        self.c.connect(port, props=props)

    def stop(self):
        self.c.stop()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path / "w")
    crl = w.inter.gencrl()[0]
    w.crl_path = str(tmp_path / "inter-crl.pem")
    with open(crl, "rb") as f, open(w.crl_path, "wb") as g:
        g.write(f.read())
    return w


@pytest.fixture
def devs():
    made = []

    def make(*a, **kw):
        d = Dev(*a, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def start(broker_factory, w, *extra):
    conf = ssl_conf(w, f'listeners.ssl.default.ssl_options.crlfile = ["{w.crl_path}"]',
                    *extra) + nocrl_conf(w)
    return broker_factory(conf, extra_listeners=["ssl:default", "ssl:nocrl"])


@pytest.mark.parametrize("version, code", [(V311, 5), (V5, 0x87)])
def test_anonymous_tcp_client_cannot_take_a_certificate_session(broker_factory, world, devs,
                                                                 raw_client, version, code):
    w = world
    b = start(broker_factory, w)
    dev = devs(b.ports["ssl:default"], w, w.good, "device-1")
    dev.c.subscribe("cmd/device-1", qos=1)
    b.wait_for_log(r"mqtt: connected client_id=device-1 .*listener=[a-z]+:default .*principal=cert "
                   r'cn="good" serial=%s subject="CN=good' % w.good.serial_hex)

    # live session: the attacker is refused and the device is not kicked
    mark = b.log_mark()
    att = raw_client(b, version=version)
    ack = att.connect("device-1", clean=False, expect_rc=None)
    assert ack.rc == code, ack
    att.wait_closed()
    b.wait_for_log(r"mqtt: session takeover refused client_id=device-1 addr=127\.0\.0\.1:\d+ "
                   r"listener=[a-z]+:default principal=anonymous owner_principal=cert "
                   r'owner_cn="good" owner_serial=%s' % w.good.serial_hex, since=mark)
    assert dev.c.connected.is_set()
    pub = raw_client(b)
    pub.connect("pub")
    pub.publish("cmd/device-1", b"live", qos=1)
    assert dev.c.wait_topic("cmd/device-1").payload == b"live"

    # offline session with a queued QoS 1 message: neither resume nor clean start
    dev.c.disconnect()
    pub.publish("cmd/device-1", b"queued", qos=1)
    for clean in (False, True):
        att = raw_client(b, version=version)
        assert att.connect("device-1", clean=clean, expect_rc=None).rc == code
        with pytest.raises((helpers.ConnectionClosed, TimeoutError)):
            att.expect(helpers.PUBLISH, 0.5)
    # the owner gets its queue, from the other mutual-TLS listener
    again = devs(b.ports["ssl:nocrl"], w, w.good, "device-1")
    assert again.c.session_present
    assert again.c.wait_topic("cmd/device-1").payload == b"queued"


def test_owner_takes_over_its_session_from_another_listener(broker_factory, world, devs):
    w = world
    b = start(broker_factory, w)
    first = devs(b.ports["ssl:default"], w, w.good, "device-1", version=V5)
    second = devs(b.ports["ssl:nocrl"], w, w.good, "device-1", version=V5)
    first.c.wait_disconnected()
    assert helpers.rc_value(first.c.disconnect_rc) == 0x8E  # session taken over
    assert second.c.session_present
    # another certificate (another subject) is another principal
    mark = b.log_mark()
    third = Dev.__new__(Dev)
    third.c = PahoClient("device-1", V5, False)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(w.root.cert)
    ctx.load_cert_chain(w.bad.cert, w.bad.key)
    third.c.client.tls_set_context(ctx)
    try:
        third.c.connect(b.ports["ssl:default"], expect_success=False)
        assert helpers.rc_value(third.c.connack[1]) == 0x87
    finally:
        third.c.stop()
    b.wait_for_log(r'session takeover refused client_id=device-1 .*principal=cert cn="bad" '
                   r'.*owner_principal=cert owner_cn="good"', since=mark)
    assert second.c.connected.is_set()


def test_session_owner_only_false_allows_plain_takeover(broker_factory, world, devs,
                                                        raw_client):
    w = world
    b = start(broker_factory, w, "mqtt.session_owner_only = false")
    dev = devs(b.ports["ssl:default"], w, w.good, "device-1", version=V5)
    att = raw_client(b, version=5)
    assert att.connect("device-1", clean=False, expect_rc=None).rc == 0
    dev.c.wait_disconnected()
    assert helpers.rc_value(dev.c.disconnect_rc) == 0x8E


def test_revoked_certificate_ends_its_sessions_on_every_listener(broker_factory, world, devs,
                                                                 raw_client):
    w = world
    b = start(broker_factory, w)
    # device-1 live on the listener WITHOUT CRL checking; device-2 offline with a queue
    d1 = devs(b.ports["ssl:nocrl"], w, w.good, "device-1", version=V5)
    d2 = devs(b.ports["ssl:default"], w, w.good, "device-2")
    d2.c.subscribe("cmd/device-2", qos=1)
    d2.c.disconnect()
    keeper = devs(b.ports["ssl:nocrl"], w, w.bad, "keeper")
    pub = raw_client(b)
    pub.connect("pub")
    pub.publish("cmd/device-2", b"queued", qos=1)

    mark = b.log_mark()
    w.inter.revoke(w.good)
    tmp = w.crl_path + ".tmp"
    with open(w.inter.gencrl()[0], "rb") as f, open(tmp, "wb") as g:
        g.write(f.read())
    os.replace(tmp, w.crl_path)
    b.proc.send_signal(signal.SIGHUP)

    d1.c.wait_disconnected(timeout=5)
    assert helpers.rc_value(d1.c.disconnect_rc) == 0x98
    b.wait_for_log(r"session ended: owner certificate revoked client_id=device-1 "
                   r'owner_principal=cert owner_cn="good" owner_serial=%s .*was_connected=1'
                   % w.good.serial_hex, since=mark)
    b.wait_for_log(r"session ended: owner certificate revoked client_id=device-2 "
                   r".*was_connected=0 dropped_messages=1", since=mark)
    assert keeper.c.connected.is_set()
    # the queued message is gone with the session: a new owner gets a fresh session
    d2b = raw_client(b, version=5)
    ack = d2b.connect("device-2", clean=False, expect_rc=0)
    assert not ack.session_present
