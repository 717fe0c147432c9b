"""Drop-in for EMQX users (issue 7): revmq configured exactly as EMQX is, walking the
whole revocation loop.

- EMQX 4.4: the flat-key file of EMQX's "CRL/OCSP Stapling" page, with the CA, the CRL
  URL (a plain web server serving `openssl ca -gencrl` output) and the OCSP responder
  (`openssl ocsp`) being the test's own: a valid client connects, a revoked one gets
  "certificate revoked", the staple says good. Both PEM and DER at the CRL URL.
- EMQX 5: no configuration file at all, only the EMQX_… environment variables a
  container platform sets, pointing at revmq-ca (CRL from the certificates' /crl-pem/
  distribution point, OCSP from its responder), with `revmq-ca auto-cert` keeping the
  server certificate files current underneath: connect, staple good, revoke the client
  -> alert 44 within one refresh interval, revoke the server certificate -> staple
  says revoked, let auto-cert replace it -> new certificate, staple good again.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request

import pytest

import helpers
from ca_tools import revmq_ca  # noqa: F401  (pytest fixture)
from pki import PKI, s_client, serial_of

pytestmark = pytest.mark.revmq_only


def _stop(p: subprocess.Popen):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture
def procs():
    started = []
    yield started
    for p in reversed(started):
        _stop(p)


def connect(port, cafile, cert, *, status=False):
    """A TLS handshake plus an MQTT CONNECT, as a device would."""
    return s_client(port, cafile=cafile, cert=cert.cert, key=cert.key, status=status,
                    send=helpers.build_connect("dev", version=4), hold=0.5)


# --------------------------------------------------------------------------
# EMQX 4.4: the emqx.conf lines, unchanged
# --------------------------------------------------------------------------

EMQX44 = """\
listener.ssl.external = {ssl_port}
listener.ssl.external.keyfile = {keyfile}
listener.ssl.external.certfile = {certfile}
listener.ssl.external.cacertfile = {cacertfile}
listener.ssl.external.verify = verify_peer
listener.ssl.external.fail_if_no_peer_cert = true
listener.ssl.external.enable_crl_check = true
listener.ssl.external.crl_cache_urls = http://127.0.0.1:{crl_port}/ca.crl
crl_cache_http_timeout = 15s
crl_cache_refresh_interval = 15m
listener.ssl.external.enable_ocsp_stapling = true
listener.ssl.external.ocsp_responder_url = http://127.0.0.1:{ocsp_port}
listener.ssl.external.ocsp_issuer_pem = {issuer}
listener.ssl.external.ocsp_refresh_interval = 5m
listener.ssl.external.ocsp_refresh_http_timeout = 15s
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("crl_form", ["pem", "der"])
def test_emqx44_config_file_whole_loop(broker_factory, tmp_path, procs, crl_form):
    # the CA of EMQX's page: `openssl ca`, a client revoked, the CRL regenerated
    pki = PKI(tmp_path / "pki")
    ca = pki.root
    server = ca.server_cert("server")
    good = ca.client_cert("emqx-c-good")
    revoked = ca.client_cert("emqx-c")
    ca.revoke(revoked, "keyCompromise")
    pem, der = ca.gencrl()
    www = tmp_path / "www"
    www.mkdir()
    shutil.copy(pem if crl_form == "pem" else der, www / "ca.crl")

    crl_port, ocsp_port = helpers.free_port(), helpers.free_port()
    procs.append(subprocess.Popen(
        ["/usr/bin/python3", "-m", "http.server", str(crl_port), "--bind", "127.0.0.1",
         "--directory", str(www)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    # the responder reads index.txt once: everything is issued and revoked by now
    procs.append(subprocess.Popen(ca.ocsp_responder_cmd(ocsp_port, nmin=10),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def crl_served():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{crl_port}/ca.crl", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    helpers.wait_until(crl_served, 10, interval=0.1, what="the CRL web server")

    def ocsp_answers():  # a real OCSP request (never a bare connect: TESTING-NOTES.md)
        r = subprocess.run(["openssl", "ocsp", "-issuer", ca.cert, "-cert", server.cert,
                            "-url", f"http://127.0.0.1:{ocsp_port}", "-CAfile", ca.cert,
                            "-timeout", "2"], capture_output=True, text=True, timeout=10)
        return ": good" in r.stdout

    helpers.wait_until(ocsp_answers, 10, interval=0.2, what="the openssl ocsp responder")

    ssl_port = helpers.free_port()
    conf = EMQX44.format(ssl_port=ssl_port, keyfile=server.key, certfile=server.cert,
                         cacertfile=ca.cert, crl_port=crl_port, ocsp_port=ocsp_port,
                         issuer=ca.cert)
    b = broker_factory(conf)
    b.wait_for_log(r"listener: started name=external kind=ssl bind=0\.0\.0\.0:%d" % ssl_port)
    log = b.log_text()
    assert f"crl_cache: refresh OK url=http://127.0.0.1:{crl_port}/ca.crl entries=1" in log, log
    assert "ocsp: refresh OK listener=ssl:external" in log and "status=good" in log, log

    # valid client connects (TLS 1.2 and 1.3), and MQTT works over it
    for ver in ("1.2", "1.3"):
        r = s_client(ssl_port, cafile=ca.cert, cert=good.cert, key=good.key, version=ver,
                     send=helpers.build_connect("good", version=4), hold=0.5)
        assert r.ok, r
        assert r.alert is None, r
    pub = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(ssl_port),
                          "--cafile", ca.cert, "--cert", good.cert, "--key", good.key,
                          "-t", "t/emqx44", "-m", "hello", "-q", "1"],
                         capture_output=True, text=True, timeout=10)
    assert pub.returncode == 0, pub

    # revoked client: "certificate revoked" (alert 44)
    r = connect(ssl_port, ca.cert, revoked)
    assert r.alert == 44, r
    assert "certificate revoked" in r.out, r
    b.wait_for_log(r"tls: client certificate rejected listener=[a-z]+:external serial=%s .*"
                   r"reason=revoked" % revoked.serial_hex.lstrip("0"))

    # the staple shows good
    r = connect(ssl_port, ca.cert, good, status=True)
    assert r.ok and r.ocsp_successful and r.ocsp == "good", r


# --------------------------------------------------------------------------
# EMQX 5: environment variables only, revmq-ca behind them
# --------------------------------------------------------------------------


class EnvOnlyBroker(helpers.Broker):
    """revmq started with no -c at all: configured by its environment alone."""

    def command(self):
        cmd = super().command()
        i = cmd.index("-c")
        return cmd[:i] + cmd[i + 2:]


@pytest.fixture
def env_broker(tmp_path):
    made = []

    def make():
        b = EnvOnlyBroker(tmp_path, "", extra_listeners=["ssl:default"], name="emqx5")
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop(check=True)


def emqx5_env(ssl_port, tcp_port, out_dir, ocsp_url):
    p = "EMQX_LISTENERS__SSL__DEFAULT__"
    return {
        f"{p}BIND": f"127.0.0.1:{ssl_port}",
        f"{p}SSL_OPTIONS__CERTFILE": f"{out_dir}/cert.pem",
        f"{p}SSL_OPTIONS__KEYFILE": f"{out_dir}/cert.key",
        f"{p}SSL_OPTIONS__CACERTFILE": f"{out_dir}/ca-cert.pem",
        f"{p}SSL_OPTIONS__VERIFY": "verify_peer",
        f"{p}SSL_OPTIONS__FAIL_IF_NO_PEER_CERT": "true",
        f"{p}SSL_OPTIONS__ENABLE_CRL_CHECK": "true",
        "EMQX_CRL_CACHE__REFRESH_INTERVAL": "5s",
        "EMQX_CRL_CACHE__HTTP_TIMEOUT": "15s",
        f"{p}SSL_OPTIONS__OCSP__ENABLE_OCSP_STAPLING": "true",
        f"{p}SSL_OPTIONS__OCSP__ISSUER_PEM": f"{out_dir}/ca-cert.pem",
        f"{p}SSL_OPTIONS__OCSP__RESPONDER_URL": ocsp_url,
        f"{p}SSL_OPTIONS__OCSP__REFRESH_INTERVAL": "5s",
        f"{p}SSL_OPTIONS__OCSP__REFRESH_HTTP_TIMEOUT": "15s",
        # not EMQX's: keep revmq's always-on TCP listener off 0.0.0.0:1883 on a shared host
        "EMQX_LISTENERS__TCP__DEFAULT__BIND": f"127.0.0.1:{tcp_port}",
        # an EMQX image sets variables revmq has no use for: ignored with a warning
        "EMQX_NODE__COOKIE": "emqxsecretcookie",
    }


def wait_for(cond, timeout, what):
    t0 = time.monotonic()
    helpers.wait_until(cond, timeout, interval=0.25, what=what)
    return time.monotonic() - t0


@pytest.mark.timeout(120)
def test_emqx5_env_only_with_revmq_ca_whole_loop(revmq_ca, env_broker, tmp_path):  # noqa: F811
    ca = revmq_ca
    out_dir = tmp_path / "emqx-certs"
    out_dir.mkdir()
    rotator = ca.auto_cert_process(str(out_dir), host="localhost", ttl="30d", threshold="15d",
                                   interval="1s")
    try:
        helpers.wait_until(lambda: (out_dir / "cert.pem").exists(), 10, what="auto-cert's files")
        server_serial = serial_of(str(out_dir / "cert.pem"))
        cafile = str(out_dir / "ca-cert.pem")
        # the CA's distribution point is its /crl-pem/ endpoint, as in the EMQX how-to
        cdp = subprocess.run(["openssl", "x509", "-in", str(out_dir / "cert.pem"), "-noout",
                              "-ext", "crlDistributionPoints"], capture_output=True, text=True)
        assert f"{ca.crl_url(pem=True)}" in cdp.stdout, cdp.stdout
        dev = ca.issue("mqtt-client.example", cert_type="client", ttl="1d")

        b = env_broker()  # ports picked, nothing written that revmq reads
        b.env.update(emqx5_env(b.ports["ssl:default"], b.port, out_dir, ca.ocsp_url()))
        b.start()
        port = b.ports["ssl:default"]
        log = b.log_text()
        assert "env EMQX_NODE__COOKIE: unknown key node.cookie ignored" in log, log
        assert f"ocsp: refresh OK listener=ssl:default url={ca.ocsp_url()} status=good" in log, log

        # connect (the CRL comes from the client certificate's /crl-pem/ distribution point)
        r = connect(port, cafile, dev)
        assert r.ok, r
        b.wait_for_log(r"crl_cache: refresh OK url=%s" % ca.crl_url(pem=True))
        # staple good
        r = connect(port, cafile, dev, status=True)
        assert r.ok and r.ocsp == "good" and r.server_serial == server_serial, r

        # revoke the client -> alert 44 within one CRL refresh interval (5s)
        ca.revoke(dev.serial, "keyCompromise")
        slow = 4 if helpers.use_valgrind() else 1
        took = wait_for(lambda: connect(port, cafile, dev).alert == 44, 15 * slow,
                        "alert 44 for the revoked client")
        # one interval, plus slack for the fetch and the probe on a loaded CI machine
        assert took < 5 + 5 * slow, f"revocation took {took:.1f}s with a 5s refresh interval"

        # revoke the server certificate -> the staple says revoked (OCSP refresh 5s)
        good_dev = ca.issue("mqtt-client-2.example", cert_type="client", ttl="1d")
        ca.revoke(server_serial, "keyCompromise")
        wait_for(lambda: connect(port, cafile, good_dev, status=True).ocsp == "revoked", 12,
                 "a stapled 'revoked' for the broker's certificate")
        b.wait_for_log(r"ocsp: certificate revoked by responder listener=[a-z]+:default")

        # auto-cert replaces a revoked certificate once it is deleted; revmq picks the
        # new files up by itself (reload_interval, default 10s) and staples for them
        (out_dir / "cert.pem").unlink()
        helpers.wait_until(lambda: (out_dir / "cert.pem").exists(), 10, what="a new cert.pem")
        new_serial = serial_of(str(out_dir / "cert.pem"))
        assert new_serial != server_serial

        def rotated():
            r = connect(port, cafile, good_dev, status=True)
            return r.ok and r.server_serial == new_serial and r.ocsp == "good"

        wait_for(rotated, 25, "the new server certificate with a good staple")
        b.wait_for_log(r"tls: context reloaded listener=[a-z]+:default old_serial=%s serial=%s"
                       % (server_serial.lstrip("0"), new_serial.lstrip("0")))
    finally:
        _stop(rotator)
