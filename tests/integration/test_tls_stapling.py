"""OCSP stapling of the broker's certificate at the handshake (issue 5, the
TLS side): `openssl s_client -status` over TLS 1.2 and 1.3, with and without
SNI, against `openssl ocsp` as the responder; nothing stapled when the client
does not ask; the new certificate's response after rotation; start-up errors.
"""

import shutil
import subprocess
import time

import pytest

import helpers
from pki import PKI, s_client

pytestmark = pytest.mark.revmq_only


@pytest.fixture
def ocsp_world(tmp_path):
    port = helpers.free_port()
    url = f"http://127.0.0.1:{port}"
    p = PKI(tmp_path / "pki")
    inter = p.root.intermediate("Test Intermediate")
    w = type("W", (), {})()
    w.root, w.inter, w.url = p.root, inter, url
    w.server = inter.server_cert("server", ocsp_url=url)
    w.server2 = inter.server_cert("server2", ocsp_url=url)
    w.no_aia = inter.server_cert("server-no-aia")
    w.client = inter.client_cert("dev1")
    w.cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), p.root.cert, inter.cert)
    # the responder reads index.txt once: every certificate exists before it starts
    proc = subprocess.Popen(inter.ocsp_responder_cmd(port, nmin=10),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # never probe it with a bare connect (TESTING-NOTES.md)
    yield w
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def conf(w, cert=None, key=None, *extra):
    base = "listeners.ssl.default.ssl_options"
    cert = cert or w.server.fullchain
    key = key or w.server.key
    lines = [
        f'{base}.certfile = "{cert}"',
        f'{base}.keyfile = "{key}"',
        f'{base}.cacertfile = "{w.cafile}"',
        f"{base}.verify = verify_peer",
        f"{base}.ocsp.enable_ocsp_stapling = true",
        f"{base}.ocsp.refresh_http_timeout = 5s",
    ]
    return "\n".join(lines + list(extra)) + "\n"


def status(port, w, ver, sni):
    return s_client(port, cafile=w.root.cert, cert=w.client.cert, key=w.client.key, version=ver,
                    status=True, servername="localhost" if sni else None,
                    send=helpers.build_connect("c", version=4), hold=0.4)


def staple_serial(out):
    """The serial the stapled response is about ("Serial Number: …" in -status output)."""
    import re

    m = re.search(r"Serial Number: ([0-9A-Fa-f]+)", out)
    return m.group(1).upper() if m else None


@pytest.mark.parametrize("ver", ["1.2", "1.3"])
@pytest.mark.parametrize("sni", [False, True], ids=["no-sni", "sni"])
def test_staple_good(broker_factory, ocsp_world, ver, sni):
    w = ocsp_world
    b = broker_factory(conf(w), extra_listeners=["ssl:default"])
    r = status(b.ports["ssl:default"], w, ver, sni)
    assert r.ok, r
    assert r.ocsp_successful, r
    assert r.ocsp == "good", r
    assert staple_serial(r.out) == w.server.serial_hex.lstrip("0")


def test_nothing_stapled_without_status_request(broker_factory, ocsp_world):
    w = ocsp_world
    b = broker_factory(conf(w), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    assert status(port, w, "1.3", False).ocsp == "good"  # the stapler has a response
    r = s_client(port, cafile=w.root.cert, cert=w.client.cert, key=w.client.key,
                 send=helpers.build_connect("c", version=4), hold=0.4)
    assert r.ok, r
    assert "OCSP" not in r.out, r


def test_no_responder_url_is_a_startup_error(broker_factory, ocsp_world):
    w = ocsp_world
    b = broker_factory(conf(w, w.no_aia.fullchain, w.no_aia.key), extra_listeners=["ssl:default"],
                       start=False)
    with pytest.raises(helpers.BrokerError):
        b.start()
    assert "ocsp.responder_url" in b.log_text(), b.log_tail()


def test_explicit_responder_url_and_issuer(broker_factory, ocsp_world):
    w = ocsp_world
    base = "listeners.ssl.default.ssl_options.ocsp"
    b = broker_factory(conf(w, w.no_aia.fullchain, w.no_aia.key, f'{base}.responder_url = "{w.url}"',
                            f'{base}.issuer_pem = "{w.inter.cert}"'),
                       extra_listeners=["ssl:default"])
    r = status(b.ports["ssl:default"], w, "1.3", False)
    assert r.ocsp == "good", r


def test_rotation_staples_new_certificate(broker_factory, ocsp_world, tmp_path):
    w = ocsp_world
    cert = tmp_path / "live.pem"
    key = tmp_path / "live.key"
    shutil.copy(w.server.fullchain, cert)
    shutil.copy(w.server.key, key)
    b = broker_factory(conf(w, str(cert), str(key),
                            "listeners.ssl.default.ssl_options.reload_interval = 1s"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = status(port, w, "1.2", False)
    assert staple_serial(r.out) == w.server.serial_hex.lstrip("0"), r
    mark = b.log_mark()
    tmp = tmp_path / "tmp"
    shutil.copy(w.server2.key, tmp)
    tmp.replace(key)
    shutil.copy(w.server2.fullchain, tmp)
    tmp.replace(cert)
    b.wait_for_log(r"tls: context reloaded listener=[a-z]+:default", timeout=6, since=mark)
    # the new stapler fetches in the background: never the old response meanwhile
    deadline = time.monotonic() + 8
    while True:
        r = status(port, w, "1.2", False)
        assert r.server_serial == w.server2.serial_hex, r
        got = staple_serial(r.out)
        assert got in (None, w.server2.serial_hex.lstrip("0")), r
        if got is not None or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert got == w.server2.serial_hex.lstrip("0") and r.ocsp == "good", r
