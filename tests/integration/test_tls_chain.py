"""The server's chain as EMQX and Mosquitto serve it (issue 17): a leaf-only
`certfile` with the intermediates in `cacertfile`. The broker builds the chain once
at load/reload (certfile first, then cacertfile) and sends it; a client that trusts
only the root verifies it. Peers: openssl s_client -verify_return_error,
mosquitto_pub, and the OCSP stapler (it must still find the issuer).
"""

import os
import shutil
import subprocess
import time

import pytest

import helpers
from pki import PKI, s_client

pytestmark = pytest.mark.revmq_only


@pytest.fixture(scope="module")
def chain_world(tmp_path_factory):
    d = tmp_path_factory.mktemp("chainpki")
    p = PKI(d / "pki")
    w = type("W", (), {})()
    w.root = p.root
    w.inter = p.root.intermediate("Chain Intermediate")
    w.inter2 = w.inter.intermediate("Chain Intermediate 2")  # root -> inter -> inter2
    w.server = w.inter.server_cert("server")
    w.server_deep = w.inter2.server_cert("server-deep")
    w.client = w.inter.client_cert("dev1")
    w.cafile = PKI.write_bundle(str(d / "ca.pem"), w.root.cert, w.inter.cert)
    # deliberately out of order: leaf's issuer last
    w.cafile_deep = PKI.write_bundle(str(d / "ca-deep.pem"), w.inter2.cert, w.root.cert,
                                     w.inter.cert)
    w.root_only = PKI.write_bundle(str(d / "root-only.pem"), w.root.cert)
    w.dir = d
    return w


def conf(cert, key, cafile, *extra, verify="verify_peer"):
    base = "listeners.ssl.default.ssl_options"
    lines = [
        f'{base}.certfile = "{cert}"',
        f'{base}.keyfile = "{key}"',
        f'{base}.cacertfile = "{cafile}"',
        f"{base}.verify = {verify}",
    ]
    return "\n".join(lines + list(extra)) + "\n"


def hello(port, w, ver=None, **kw):
    return s_client(port, cafile=w.root.cert, cert=w.client.cert, key=w.client.key, version=ver,
                    send=helpers.build_connect("c", version=4), hold=0.4, extra=("-showcerts",),
                    **kw)


def sent_chain_cns(out):
    """The subject CNs of the certificates the server sent (s_client -showcerts)."""
    import re
    return re.findall(r"^ *\d+ s:.*?CN ?= ?([^,\n]+)", out, re.M)


@pytest.mark.parametrize("ver", ["1.2", "1.3"])
def test_leaf_only_certfile_verifies_against_root(broker_factory, chain_world, ver):
    w = chain_world
    b = broker_factory(conf(w.server.cert, w.server.key, w.cafile),
                       extra_listeners=["ssl:default"])
    b.wait_for_log(r"tls: server chain built listener=[a-z]+:default from_certfile=0 from_cacertfile=1")
    r = hello(b.ports["ssl:default"], w, ver)
    assert r.ok, r.out
    assert "Verify return code: 0 (ok)" in r.out
    assert sent_chain_cns(r.out) == ["server", "Chain Intermediate"], r.out


def test_two_intermediates_out_of_order(broker_factory, chain_world):
    w = chain_world
    b = broker_factory(conf(w.server_deep.cert, w.server_deep.key, w.cafile_deep, verify="verify_none"),
                       extra_listeners=["ssl:default"])
    # pki.py's intermediates carry pathlen:0, so a root-trusting client would refuse
    # this PKI; what is checked here is the chain the server sends.
    r = s_client(b.ports["ssl:default"], send=helpers.build_connect("c"), hold=0.4,
                 extra=("-showcerts",))
    assert r.protocol, r.out
    # root not sent; the two intermediates in issuing order
    assert sent_chain_cns(r.out) == ["server-deep", "Chain Intermediate 2", "Chain Intermediate"]


def test_fullchain_certfile_unchanged(broker_factory, chain_world):
    w = chain_world
    b = broker_factory(conf(w.server.fullchain, w.server.key, w.cafile),
                       extra_listeners=["ssl:default"])
    r = hello(b.ports["ssl:default"], w)
    assert r.ok, r.out
    assert sent_chain_cns(r.out) == ["server", "Chain Intermediate"], r.out
    assert "server chain built" not in b.log_text()


def test_missing_intermediate_warns_and_client_fails(broker_factory, chain_world):
    """The control: with the intermediate nowhere, the leaf goes alone and a client that
    trusts only the root fails exactly as the issue describes; the broker says why."""
    w = chain_world
    b = broker_factory(conf(w.server.cert, w.server.key, w.root_only, verify="verify_none"),
                       extra_listeners=["ssl:default"])
    b.wait_for_log(r"tls: server chain incomplete: .*listener=[a-z]+:default")
    r = s_client(b.ports["ssl:default"], cafile=w.root.cert, send=helpers.build_connect("c"),
                 hold=0.4)
    assert not r.ok
    assert "unable to get local issuer certificate" in r.out, r.out


def test_mosquitto_pub_trusting_only_root(broker_factory, chain_world):
    if shutil.which("mosquitto_pub") is None:
        pytest.skip("mosquitto_pub not installed (scripts/deps.sh installs mosquitto-clients)")
    w = chain_world
    b = broker_factory(conf(w.server.cert, w.server.key, w.cafile),
                       extra_listeners=["ssl:default"])
    p = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.ports["ssl:default"]),
                        "--cafile", w.root.cert, "--cert", w.client.cert, "--key", w.client.key,
                        "-t", "chain/t", "-m", "hi", "-q", "1"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr


def test_reload_rebuilds_chain(broker_factory, chain_world, tmp_path):
    """Rotating to a leaf from another intermediate: the chain is rebuilt on reload."""
    w = chain_world
    cert, key, ca = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    shutil.copy(w.server.cert, cert)
    shutil.copy(w.server.key, key)
    shutil.copy(w.cafile, ca)
    b = broker_factory(conf(cert, key, ca, "listeners.ssl.default.ssl_options.reload_interval = 1s",
                            verify="verify_none"), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = s_client(port, cafile=w.root.cert, send=helpers.build_connect("c"), hold=0.3,
                 extra=("-showcerts",))
    assert r.ok and sent_chain_cns(r.out) == ["server", "Chain Intermediate"], r.out
    mark = b.log_mark()
    tmp = tmp_path / "tmp.pem"
    shutil.copy(w.cafile_deep, tmp)
    os.replace(tmp, ca)
    shutil.copy(w.server_deep.key, tmp)
    os.replace(tmp, key)
    shutil.copy(w.server_deep.cert, tmp)
    os.replace(tmp, cert)
    b.wait_for_log(r"tls: context reloaded listener=[a-z]+:default .*serial=%s" % w.server_deep.serial_hex,
                   timeout=6, since=mark)
    r = s_client(port, send=helpers.build_connect("c"), hold=0.3, extra=("-showcerts",))
    assert r.protocol, r.out
    assert sent_chain_cns(r.out) == ["server-deep", "Chain Intermediate 2", "Chain Intermediate"]


@pytest.fixture
def ocsp_chain(tmp_path):
    port = helpers.free_port()
    url = f"http://127.0.0.1:{port}"
    p = PKI(tmp_path / "pki")
    inter = p.root.intermediate("Staple Intermediate")
    w = type("W", (), {})()
    w.root, w.inter = p.root, inter
    w.server = inter.server_cert("server", ocsp_url=url)
    w.client = inter.client_cert("dev1")
    w.cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), p.root.cert, inter.cert)
    proc = subprocess.Popen(inter.ocsp_responder_cmd(port, nmin=10),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # never probe openssl ocsp with a bare connect (TESTING-NOTES.md)
    yield w
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_stapler_finds_issuer_with_leaf_only_certfile(broker_factory, ocsp_chain):
    w = ocsp_chain
    b = broker_factory(conf(w.server.cert, w.server.key, w.cafile,
                            "listeners.ssl.default.ssl_options.ocsp.enable_ocsp_stapling = true",
                            "listeners.ssl.default.ssl_options.ocsp.refresh_http_timeout = 5s"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]

    def stapled():
        r = hello(port, w, status=True)
        return r if r.ok and r.ocsp == "good" else None

    r = helpers.wait_until(stapled, timeout=10)
    assert "Verify return code: 0 (ok)" in r.out
