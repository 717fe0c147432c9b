"""TLS listeners (issue 3): mutual TLS with real peers, identity from the
client certificate, live certificate reload, handshake timeout.

Certificates are made per module with pki.py (openssl CLI). Peers:
openssl s_client, mosquitto_pub/sub, python paho-mqtt.
"""

import contextlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest

import helpers
from pki import PKI, s_client

pytestmark = pytest.mark.revmq_only


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("tlspki")
    p = PKI(d / "pki")
    root = p.root
    inter = root.intermediate("Test Intermediate")
    w = type("World", (), {})()
    w.root = root
    w.inter = inter
    w.server = inter.server_cert("server", key="ec")
    w.server2 = inter.server_cert("server2", key="ec")
    w.server_rsa = root.server_cert("server-rsa", key="rsa")
    w.client = inter.client_cert("dev1")
    w.client2 = inter.client_cert("dev2", key="rsa")
    w.expired = inter.client_cert("old", expired=True)
    w.future = inter.client_cert("future", not_yet_valid=True)
    w.intruder = PKI(d / "other", cn="Other CA").root.client_cert("intruder")
    w.cafile = PKI.write_bundle(str(d / "ca.pem"), root.cert, inter.cert)
    w.dir = d
    return w


def ssl_conf(w, name="default", cert=None, key=None, **opts):
    """HOCON lines for listeners.ssl.<name>: the world's server cert by default;
    opts are ssl_options keys with raw HOCON values."""
    base = f"listeners.ssl.{name}.ssl_options"
    cert = cert or w.server.fullchain
    key = key or w.server.key
    lines = [
        f'{base}.certfile = "{cert}"',
        f'{base}.keyfile = "{key}"',
        f'{base}.cacertfile = "{w.cafile}"',
        f"{base}.verify = verify_peer",
        f"{base}.fail_if_no_peer_cert = true",
    ]
    for k, v in opts.items():
        lines.append(f"{base}.{k} = {v}")
    return "\n".join(lines) + "\n"


def start(broker_factory, w, conf_extra="", **opts):
    b = broker_factory(ssl_conf(w, **opts) + conf_extra, extra_listeners=["ssl:default"])
    return b, b.ports["ssl:default"]


def connect_bytes(client_id=b"c1"):
    return helpers.build_connect(client_id.decode(), version=4)


VERS = pytest.mark.parametrize("ver", ["1.2", "1.3"])


@VERS
def test_mtls_client_cert_accepted(broker_factory, world, ver):
    b, port = start(broker_factory, world)
    r = s_client(port, cafile=world.root.cert, cert=world.client.cert, key=world.client.key,
                 version=ver, send=connect_bytes(), hold=0.5)
    assert r.ok, r
    assert r.protocol == "TLSv" + ver
    assert "Verification: OK" in r.out  # the chain (leaf + intermediate) was sent
    assert r.server_serial == world.server.serial_hex


@VERS
def test_no_client_cert_refused(broker_factory, world, ver):
    b, port = start(broker_factory, world)
    r = s_client(port, cafile=world.root.cert, version=ver)
    assert not r.ok
    assert r.alert == (116 if ver == "1.3" else 40), r  # certificate_required / handshake_failure


@VERS
def test_no_client_cert_allowed_without_fail_if_no_peer_cert(broker_factory, world, ver):
    b, port = start(broker_factory, world, fail_if_no_peer_cert="false")
    r = s_client(port, cafile=world.root.cert, version=ver, send=connect_bytes(), hold=0.5)
    assert r.ok, r


@VERS
def test_other_ca_refused(broker_factory, world, ver):
    b, port = start(broker_factory, world)
    r = s_client(port, cafile=world.root.cert, cert=world.intruder.cert, key=world.intruder.key,
                 version=ver)
    assert r.alert == 48, r  # unknown_ca
    b.wait_for_log(r"tls: client certificate rejected listener=[a-z]+:default .*reason=verify_failed")


@VERS
def test_expired_client_refused(broker_factory, world, ver):
    b, port = start(broker_factory, world)
    r = s_client(port, cafile=world.root.cert, cert=world.expired.cert, key=world.expired.key,
                 version=ver)
    assert r.alert == 45, r  # certificate_expired
    r = s_client(port, cafile=world.root.cert, cert=world.future.cert, key=world.future.key,
                 version=ver)
    assert r.alert == 42, r  # not yet valid: bad_certificate


def test_old_tls_versions_refused(broker_factory, world):
    b, port = start(broker_factory, world)
    r = s_client(port, cafile=world.root.cert, cert=world.client.cert, key=world.client.key,
                 extra=["-tls1_1"])
    assert not r.ok


def test_versions_setting(broker_factory, world):
    b, port = start(broker_factory, world, versions="[tlsv1.2]")
    r = s_client(port, cafile=world.root.cert, cert=world.client.cert, key=world.client.key,
                 version="1.3")
    assert not r.ok and r.alert == 70, r  # protocol_version
    r = s_client(port, cafile=world.root.cert, cert=world.client.cert, key=world.client.key,
                 version="1.2", send=connect_bytes(), hold=0.3)
    assert r.ok, r


def test_rsa_server_cert_and_ciphers(broker_factory, world):
    b, port = start(broker_factory, world, cert=world.server_rsa.cert, key=world.server_rsa.key,
                    ciphers='"ECDHE-RSA-AES128-GCM-SHA256:TLS_CHACHA20_POLY1305_SHA256"')
    r = s_client(port, cafile=world.root.cert, cert=world.client.cert, key=world.client.key,
                 version="1.2", send=connect_bytes(), hold=0.3)
    assert r.ok and "ECDHE-RSA-AES128-GCM-SHA256" in r.out, r
    r = s_client(port, cafile=world.root.cert, cert=world.client.cert, key=world.client.key,
                 version="1.3", send=connect_bytes(), hold=0.3)
    assert r.ok and "TLS_CHACHA20_POLY1305_SHA256" in r.out, r


@pytest.mark.parametrize("what", ["missing_cert", "key_mismatch", "empty_ca", "bad_pem"])
def test_startup_validation(broker_factory, world, tmp_path, what):
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    opts = {}
    if what == "missing_cert":
        opts["cert"], needle = str(tmp_path / "nope.pem"), "ssl_options.certfile"
    elif what == "key_mismatch":
        opts["key"], needle = world.server2.key, "key does not match certfile"
    elif what == "empty_ca":
        needle = "ssl_options.cacertfile"
    else:
        opts["cert"], needle = str(bad), "ssl_options.certfile"
    conf = ssl_conf(world, **opts)
    if what == "empty_ca":
        conf = conf.replace(f'cacertfile = "{world.cafile}"', f'cacertfile = "{empty}"')
    b = broker_factory(conf, extra_listeners=["ssl:default"], start=False)
    with pytest.raises(helpers.BrokerError):
        b.start()
    assert needle in b.log_text(), b.log_tail()


# -- real MQTT clients over mutual TLS ------------------------------------------------------

def mosq_tls_args(w, cert):
    return ["--cafile", w.root.cert, "--cert", cert.cert, "--key", cert.key]


@pytest.mark.parametrize("mv", ["mqttv311", "mqttv5"])
def test_mosquitto_pub_sub_over_mtls(broker_factory, world, mv, uid):
    b, port = start(broker_factory, world)
    topic = f"tls/{uid}"
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-V", mv,
                            "-t", topic, "-C", "1", "-W", "10"] + mosq_tls_args(world, world.client),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        b.wait_for_log(r"mqtt: connected client_id=\S+ version=%d" % (5 if mv == "mqttv5" else 4))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", mv, "-t", topic,
                        "-m", "over-mtls"] + mosq_tls_args(world, world.client2),
                       check=True, timeout=10)
        out, err = sub.communicate(timeout=10)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert out.decode().strip() == "over-mtls", err


def paho_tls_client(w, cert, version, client_id=""):
    import paho.mqtt.client as mqtt

    proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
    kw = {} if version == 5 else {"clean_session": True}
    c = mqtt.Client(client_id=client_id, protocol=proto, **kw)
    c.tls_set(ca_certs=w.root.cert, certfile=cert.cert, keyfile=cert.key,
              cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    return c


@contextlib.contextmanager
def paho_tls_connected(w, port, version, client_id):
    """A paho client with the world's client certificate, connected (CONNACK 0) for the
    block, then disconnected."""
    c = paho_tls_client(w, w.client, version, client_id=client_id)
    got = {}
    c.on_connect = lambda cl, ud, fl, rc, props=None: got.setdefault("rc", rc)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    try:
        helpers.wait_until(lambda: "rc" in got, timeout=10)
        assert got["rc"] == 0
        yield c
    finally:
        c.disconnect()
        c.loop_stop()


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
@pytest.mark.parametrize("as_what", ["cn", "dn", "md5"])
def test_paho_identity_from_cert(broker_factory, world, version, as_what):
    conf = (f"mqtt.peer_cert_as_clientid = {as_what}\n"
            f"mqtt.peer_cert_as_username = {as_what}\n")
    b, port = start(broker_factory, world, conf_extra=conf)
    with paho_tls_connected(world, port, version, "ignored-id"):
        expected = {
            "cn": "dev1",
            "dn": "CN=dev1",
            "md5": openssl_md5(world.client.cert),
        }[as_what]
        # the client id and the username (what authorization will see) both
        # come from the certificate (logfmt: quoted when the value holds '=')
        q = lambda v: re.escape(v) if "=" not in v else '"%s"' % re.escape(v)  # noqa: E731
        b.wait_for_log(r"mqtt: connected client_id=%s .* username=\"?%s\"?$"
                       % (q(expected), re.escape(expected)))


@pytest.mark.parametrize("as_what", ["pem", "crt"])
def test_paho_username_is_the_certificate(broker_factory, world, as_what):
    # The connection keeps the certificate's PEM only when this needs it (issue 18).
    b, port = start(broker_factory, world, conf_extra=f"mqtt.peer_cert_as_username = {as_what}\n")
    with paho_tls_connected(world, port, 4, "pem-user"):
        pem = open(world.client.cert).read()
        pem = pem[pem.index("-----BEGIN CERTIFICATE-----"):]
        # the log shows it with spaces and line breaks as '?'
        shown = "".join(ch if 0x20 < ord(ch) < 0x7f and ch not in '"\\' else "?" for ch in pem)
        b.wait_for_log(r"mqtt: connected client_id=pem-user .* username=\"?%s" % re.escape(shown[:80]))


def openssl_md5(pem):
    out = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-fingerprint", "-md5"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


# -- live reload -------------------------------------------------------------------------------

def test_rotation_while_connected(broker_factory, world, tmp_path, uid):
    cert = tmp_path / "live-cert.pem"
    key = tmp_path / "live-key.pem"
    shutil.copy(world.server.fullchain, cert)
    shutil.copy(world.server.key, key)
    b, port = start(broker_factory, world, cert=str(cert), key=str(key), reload_interval="1s")
    r = s_client(port, cafile=world.root.cert, cert=world.client.cert, key=world.client.key,
                 send=connect_bytes(), hold=0.3)
    assert r.server_serial == world.server.serial_hex

    # a client that stays connected across the rotation
    c = paho_tls_client(world, world.client, 4, client_id=f"stay-{uid}")
    got = []
    c.on_message = lambda cl, ud, m: got.append(m.payload)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    try:
        helpers.wait_until(lambda: c.is_connected(), timeout=10)
        c.subscribe(f"rot/{uid}", qos=1)
        time.sleep(0.2)

        # a broken certfile: ignored with an error log, the old one keeps serving
        mark = b.log_mark()
        tmp = tmp_path / "tmp.pem"
        tmp.write_text("-----BEGIN CERTIFICATE-----\nbroken\n")
        os.replace(tmp, cert)
        b.wait_for_log(r"tls: reload failed, keeping the current context listener=[a-z]+:default",
                       timeout=5, since=mark)
        r = s_client(port, cafile=world.root.cert, cert=world.client.cert, key=world.client.key,
                     send=connect_bytes(), hold=0.3)
        assert r.ok and r.server_serial == world.server.serial_hex, r

        # the real rotation: key first (mismatch, ignored), then the cert
        mark = b.log_mark()
        shutil.copy(world.server2.key, tmp)
        os.replace(tmp, key)
        shutil.copy(world.server2.fullchain, tmp)
        os.replace(tmp, cert)
        b.wait_for_log(r"tls: context reloaded listener=[a-z]+:default .*serial=%s" %
                       world.server2.serial_hex, timeout=6, since=mark)
        r = s_client(port, cafile=world.root.cert, cert=world.client.cert, key=world.client.key,
                     send=connect_bytes(), hold=0.3)
        assert r.ok and r.server_serial == world.server2.serial_hex, r

        # the old client still publishes and receives
        assert c.is_connected()
        c.publish(f"rot/{uid}", b"still-here", qos=1).wait_for_publish(timeout=5)
        helpers.wait_until(lambda: got == [b"still-here"], timeout=5)
    finally:
        c.disconnect()
        c.loop_stop()


def test_sighup_reloads(broker_factory, world, tmp_path):
    cert = tmp_path / "c.pem"
    key = tmp_path / "k.pem"
    shutil.copy(world.server.fullchain, cert)
    shutil.copy(world.server.key, key)
    b, port = start(broker_factory, world, cert=str(cert), key=str(key), reload_interval="1h")
    shutil.copy(world.server2.fullchain, cert)
    shutil.copy(world.server2.key, key)
    mark = b.log_mark()
    b.proc.send_signal(1)  # SIGHUP
    b.wait_for_log(r"tls: context reloaded listener=[a-z]+:default", timeout=5, since=mark)
    r = s_client(port, cafile=world.root.cert, cert=world.client.cert, key=world.client.key,
                 send=connect_bytes(), hold=0.3)
    assert r.server_serial == world.server2.serial_hex, r


# -- handshake timeout ---------------------------------------------------------------------------

def test_silent_tcp_client_dropped(broker_factory, world):
    b, port = start(broker_factory, world, handshake_timeout="1s")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        t0 = time.monotonic()
        s.settimeout(5)
        data = s.recv(1)  # the server closes: b"" (EOF)
        took = time.monotonic() - t0
        assert data == b""
        assert 0.8 <= took < 4, took
    finally:
        s.close()



