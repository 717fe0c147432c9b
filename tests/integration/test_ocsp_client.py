"""OCSP for client certificates (issue 17): the broker asks the responder named
in the client certificate's AIA during the handshake (suspended, not blocking),
verifies the answer as the stapler does, caches it until nextUpdate and refuses
`revoked` with alert 44.

Every client certificate's AIA points at a FaultServer (in-process HTTP) that
either forwards to a real `openssl ocsp` responder (index.txt of the CA), to
`revmq-ca serve`, or answers with a response forged by python3-cryptography
(wrong signer, expired, short-lived), or hangs / is stopped.
"""

import dataclasses
import datetime
import os
import time

import pytest

import helpers
from ca_tools import revmq_ca  # noqa: F401
from httpfaults import Reply, connect, fault_server, forge, tls_paho  # noqa: F401
from pki import PKI, s_client
from test_ocsp_stapler import Responder

pytestmark = pytest.mark.revmq_only

VERS = pytest.mark.parametrize("ver", ["1.2", "1.3"])
BASE = "listeners.ssl.default.ssl_options"


class OW:
    """root -> "Test Intermediate" -> server, clients good / bad / other whose AIA
    OCSP URL is the fault server's /ocsp."""

    def __init__(self, d, srv):
        self.dir = d
        self.srv = srv
        p = PKI(d / "pki")
        self.root = p.root
        self.inter = p.root.intermediate("Test Intermediate")
        self.server = self.inter.server_cert("server")
        url = srv.url("/ocsp")
        self.good = self.inter.client_cert("good", ocsp_url=url)
        self.bad = self.inter.client_cert("bad", ocsp_url=url)
        self.plain = self.inter.client_cert("plain")  # no AIA
        self.cafile = PKI.write_bundle(str(d / "ca.pem"), p.root.cert, self.inter.cert)
        self.responder = None

    def serve_openssl(self, nmin=10, signer=None):
        """`openssl ocsp` for the intermediate behind /ocsp (restarted if running)."""
        if self.responder is not None:
            self.responder.stop()
        self.responder = Responder(self.inter, nmin=nmin, signer=signer).start()
        time.sleep(1.0)  # TESTING-NOTES: never probe it; give it a second
        fwd = Reply.proxy(self.responder.url()).fn
        # GET /ocsp/<request> -> the responder's /<request>
        self.srv.set("/ocsp/*", Reply(fn=lambda req: fwd(
            dataclasses.replace(req, path=req.path[len("/ocsp"):]))))

    def serve_forged(self, cert, **kw):
        der = forge(cert.cert, self.inter.cert, kw.pop("signer_cert", self.inter.cert),
                    kw.pop("signer_key", self.inter.key), **kw)
        self.srv.set("/ocsp/*", Reply.body(der, "application/ocsp-response"))

    def stop(self):
        if self.responder is not None:
            self.responder.stop()


@pytest.fixture
def ow(tmp_path, fault_server):  # noqa: F811
    w = OW(tmp_path, fault_server())
    yield w
    w.stop()


def conf(w, *lines, crl=False):
    out = [
        f'{BASE}.certfile = "{w.server.fullchain}"',
        f'{BASE}.keyfile = "{w.server.key}"',
        f'{BASE}.cacertfile = "{w.cafile}"',
        f"{BASE}.verify = verify_peer",
        f"{BASE}.fail_if_no_peer_cert = true",
        f"{BASE}.ocsp_client.enable = true",
        f"{BASE}.ocsp_client.timeout = 1s",
    ]
    if crl:
        out.append(f"{BASE}.enable_crl_check = true")
    return "\n".join(out + list(lines)) + "\n"


def start(broker_factory, w, *lines, crl=False):
    b = broker_factory(conf(w, *lines, crl=crl), extra_listeners=["ssl:default"])
    return b, b.ports["ssl:default"]


def ocsp_gets(srv):
    return [r for r in srv.requests if r.method == "GET" and r.path.startswith("/ocsp/")]


def conn(port, w, cert, ver=None, **kw):
    return connect(port, w.root.cert, cert, ver, **kw)


@VERS
def test_good_accepted_revoked_gets_alert_44(broker_factory, ow, ver):
    ow.inter.revoke(ow.bad)
    ow.serve_openssl()
    b, port = start(broker_factory, ow)
    r = conn(port, ow, ow.good, ver)
    assert r.ok, r
    b.wait_for_log(r"ocsp: client certificate checked listener=[a-z]+:default serial=%s "
                   r"issuer=\"/CN=Test Intermediate\".* status=good" % ow.good.serial_hex)
    r = conn(port, ow, ow.bad, ver)
    assert r.alert == 44, r
    b.wait_for_log(r"tls: client certificate rejected listener=[a-z]+:default serial=%s "
                   r"issuer=\"CN=Test Intermediate\".* reason=revoked detail=\"?source=ocsp"
                   % ow.bad.serial_hex)
    # GET requests (RFC 6960 A.1) went to the AIA URL, one per certificate
    # (the second connection of `good` below is answered from the cache)
    n = len(ocsp_gets(ow.srv))
    assert n == 2
    assert conn(port, ow, ow.good, ver).ok
    assert len(ocsp_gets(ow.srv)) == n


def test_connack_with_paho(broker_factory, ow, tls_paho):  # noqa: F811
    ow.serve_openssl()
    b, port = start(broker_factory, ow)
    c = tls_paho(port, ow.root.cert, ow.good.cert, ow.good.key, "dev-good", 4)
    assert c.c.connected


def test_certificate_without_aia_is_not_asked(broker_factory, ow):
    b, port = start(broker_factory, ow)
    assert conn(port, ow, ow.plain).ok
    assert ocsp_gets(ow.srv) == []


def test_unknown_refused_by_default_allowed_by_policy(broker_factory, ow, tmp_path):
    # a serial the responder's index does not list: `openssl ocsp` answers unknown
    stranger = ow.inter.client_cert("stranger", ocsp_url=ow.srv.url("/ocsp"))
    idx = os.path.join(ow.inter.dir, "index.txt")
    with open(idx) as f:
        lines = [ln for ln in f if f"\t{stranger.serial_hex}\t" not in ln]
    with open(idx, "w") as f:
        f.writelines(lines)
    ow.serve_openssl()
    b, port = start(broker_factory, ow)
    r = conn(port, ow, stranger)
    assert r.alert == 42, r
    b.wait_for_log(r"reason=ocsp_unknown detail=\"?ocsp_status=unknown")
    b.stop()
    b2, port2 = start(broker_factory, ow, f"{BASE}.ocsp_client.unknown = allow")
    assert conn(port2, ow, stranger).ok


def test_responder_down_refused_unless_allowed(broker_factory, ow):
    ow.srv.stop()  # connection refused
    b, port = start(broker_factory, ow)
    r = conn(port, ow, ow.good)
    assert r.alert == 42, r
    b.wait_for_log(r"reason=ocsp_unreachable detail=\"?ocsp_status=failed\"? ocsp_error=unreachable")
    b.stop()
    b2, port2 = start(broker_factory, ow, f"{BASE}.ocsp_client.unreachable = allow")
    assert conn(port2, ow, ow.good).ok


def test_slow_responder_beyond_timeout_refused(broker_factory, ow):
    der = forge(ow.good.cert, ow.inter.cert, ow.inter.cert, ow.inter.key)
    ow.srv.set("/ocsp/*", Reply.body(der, delay=3))
    b, port = start(broker_factory, ow)
    t0 = time.monotonic()
    r = conn(port, ow, ow.good, hold=2.0)
    assert r.alert == 42, r
    assert time.monotonic() - t0 < 3.0
    b.wait_for_log(r"ocsp_error=timeout")


def test_within_timeout_suspends_and_accepts(broker_factory, ow):
    der = forge(ow.good.cert, ow.inter.cert, ow.inter.cert, ow.inter.key)
    ow.srv.set("/ocsp/*", Reply.body(der, delay=0.5))
    b, port = start(broker_factory, ow)
    r = conn(port, ow, ow.good, hold=1.5)
    assert r.ok, r
    b.wait_for_log(r"OCSP responder listener=\S+ handshake=suspended")


def test_wrong_signer_refused_delegated_signer_accepted(broker_factory, ow, tmp_path):
    other = PKI(tmp_path / "other").root  # unrelated key
    ow.serve_forged(ow.good, signer_cert=other.cert, signer_key=other.key, include_signer=True)
    b, port = start(broker_factory, ow)
    r = conn(port, ow, ow.good)
    assert r.alert == 42, r
    b.wait_for_log(r"ocsp_error=rejected ocsp_check=signer")
    # an id-kp-OCSPSigning certificate issued by the intermediate may sign
    signer = ow.inter.ocsp_signer()
    ow.serve_forged(ow.bad, signer_cert=signer.cert, signer_key=signer.key, include_signer=True,
                    status="revoked")
    r = conn(port, ow, ow.bad, hold=1.5)
    assert r.alert == 44, r


def test_expired_response_refused(broker_factory, ow):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    ow.serve_forged(ow.good, this_update=now - datetime.timedelta(hours=2),
                    next_update=now - datetime.timedelta(hours=1))
    b, port = start(broker_factory, ow)
    r = conn(port, ow, ow.good)
    assert r.alert == 42, r
    b.wait_for_log(r"ocsp_check=next_update_past")


def test_cached_good_survives_responder_down(broker_factory, ow):
    ow.serve_openssl()
    b, port = start(broker_factory, ow)
    assert conn(port, ow, ow.good).ok
    ow.srv.stop()
    ow.stop()
    assert conn(port, ow, ow.good).ok
    assert conn(port, ow, ow.good, "1.2").ok


def test_live_session_closed_when_refresh_says_revoked(broker_factory, ow, tls_paho):  # noqa: F811
    # short-lived answers: nextUpdate 4 s after thisUpdate, refreshed halfway
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)

    def answer(status):
        def fn(req):
            t = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
            der = forge(ow.good.cert, ow.inter.cert, ow.inter.cert, ow.inter.key, status=status,
                        this_update=t, next_update=t + datetime.timedelta(seconds=4))
            return Reply.body(der)
        return Reply(fn=fn)

    assert now
    ow.srv.set("/ocsp/*", answer("good"))
    b, port = start(broker_factory, ow)
    sess = str(ow.dir / "sess.pem")
    r = s_client(port, cafile=ow.root.cert, cert=ow.good.cert, key=ow.good.key, version="1.2",
                 sess_out=sess, send=helpers.build_connect("s", version=4), hold=0.6)
    assert r.ok, r
    c = tls_paho(port, ow.root.cert, ow.good.cert, ow.good.key, "live", 4)
    assert c.c.connected
    mark = b.log_mark()
    ow.srv.set("/ocsp/*", answer("revoked"))
    helpers.wait_until(lambda: c.events, timeout=8, what="live connection closed")
    b.wait_for_log(r"ocsp: client certificate checked .*serial=%s .*status=revoked.* trigger=refresh"
                   % ow.good.serial_hex, since=mark)
    # the cached `revoked` refuses resumption and a new handshake alike
    r = s_client(port, cafile=ow.root.cert, cert=ow.good.cert, key=ow.good.key, version="1.2",
                 sess_in=sess, send=helpers.build_connect("s", version=4), hold=0.6)
    assert not r.reused and r.alert == 44, r


@pytest.mark.parametrize("combine", ["both", "either"])
def test_combine_with_crl(broker_factory, ow, combine):
    """CRL of the intermediate loaded from a file; `bad` revoked only at the
    responder, `good` good at both; a CRL that does not cover the certificate
    (another CA's) makes `both` refuse and `either` accept."""
    ow.inter.revoke(ow.bad)
    ow.serve_openssl()
    other = PKI(ow.dir / "other2").root
    pem_other, _ = other.gencrl()
    b, port = start(broker_factory, ow, f"{BASE}.ocsp_client.combine_with_crl = {combine}",
                    f'{BASE}.crlfile = ["{pem_other}"]', crl=True)
    # only OCSP says good: the intermediate has no CRL in force
    r = conn(port, ow, ow.good)
    if combine == "both":
        assert r.alert == 42, r
        b.wait_for_log(r"reason=no_crl")
    else:
        assert r.ok, r
    # OCSP says revoked: refused with either
    assert conn(port, ow, ow.bad).alert == 44
    b.stop()
    # now the intermediate's CRL too (it lists bad): good accepted with both
    pem, _ = ow.inter.gencrl()
    b2, port2 = start(broker_factory, ow, f"{BASE}.ocsp_client.combine_with_crl = {combine}",
                      f'{BASE}.crlfile = ["{pem}"]', crl=True)
    assert conn(port2, ow, ow.good).ok
    r = conn(port2, ow, ow.bad)
    assert r.alert == 44, r


def test_revmq_ca_responder(broker_factory, revmq_ca, tmp_path):  # noqa: F811
    """revmq-ca serve's /ocsp/<tenant>/<ca> named in the AIA of the certificates it issues."""
    p = PKI(tmp_path / "srvpki")
    server = p.root.server_cert("server")
    good = revmq_ca.issue("good-dev", cert_type="client")
    bad = revmq_ca.issue("bad-dev", cert_type="client")
    revmq_ca.revoke(bad.serial)
    conf_ = "\n".join([
        f'{BASE}.certfile = "{server.cert}"', f'{BASE}.keyfile = "{server.key}"',
        f'{BASE}.cacertfile = "{good.ca_cert}"', f"{BASE}.verify = verify_peer",
        f"{BASE}.fail_if_no_peer_cert = true", f"{BASE}.ocsp_client.enable = true",
    ]) + "\n"
    b = broker_factory(conf_, extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    for ver in ("1.2", "1.3"):
        r = s_client(port, cafile=p.root.cert, cert=good.cert, key=good.key, version=ver,
                     send=helpers.build_connect("g", version=4), hold=1.0)
        assert r.ok, r
        r = s_client(port, cafile=p.root.cert, cert=bad.cert, key=bad.key, version=ver,
                     send=helpers.build_connect("b", version=4), hold=1.0)
        assert r.alert == 44, r
    b.wait_for_log(r"ocsp: client certificate checked .*serial=%s .*url=%s.* status=revoked"
                   % (bad.serial, revmq_ca.ocsp_url()))


def test_refusals_counted_in_metrics(broker_factory, ow, tmp_path):
    from test_admin_api import Admin, admin_conf
    from test_admin_revocation import prom_value

    ow.inter.revoke(ow.bad)
    ow.serve_openssl()
    aconf, aport = admin_conf(tmp_path)
    b = broker_factory(aconf + conf(ow), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    a = Admin(aport)
    p0 = a.get("/api/v5/prometheus/stats")
    a44 = prom_value(p0, "revmq_tls_alerts_sent_total", '{alert="44"}')
    a42 = prom_value(p0, "revmq_tls_alerts_sent_total", '{alert="42"}')
    assert conn(port, ow, ow.bad, hold=1.0).alert == 44
    ow.srv.stop()  # the next certificate's responder is unreachable
    other = ow.inter.client_cert("other", ocsp_url=ow.srv.url("/ocsp"))
    assert conn(port, ow, other, hold=1.0).alert == 42
    p1 = a.get("/api/v5/prometheus/stats")
    assert prom_value(p1, "revmq_tls_alerts_sent_total", '{alert="44"}') == a44 + 1
    assert prom_value(p1, "revmq_tls_alerts_sent_total", '{alert="42"}') == a42 + 1


def test_a_slow_responder_blocks_no_other_handshake(broker_factory, ow):
    """While `good`'s handshake waits for a hanging responder, a certificate
    without OCSP URL connects at once (the worker is not blocked)."""
    ow.srv.set("/ocsp/*", Reply.hang())
    b, port = start(broker_factory, ow, f"{BASE}.ocsp_client.timeout = 3s")
    import threading

    res = {}
    th = threading.Thread(target=lambda: res.setdefault("g", conn(port, ow, ow.good, hold=3.5)))
    th.start()
    b.wait_for_log(r"OCSP responder listener=\S+ handshake=suspended")
    t0 = time.monotonic()
    r = conn(port, ow, ow.plain, hold=0.3)
    assert r.ok, r
    assert time.monotonic() - t0 < 2.0
    th.join(10)
    assert res["g"].alert == 42, res["g"]
    b.wait_for_log(r"ocsp_error=timeout")


def test_enable_requires_verify_peer(broker_factory, ow):
    c = conf(ow).replace(f"{BASE}.verify = verify_peer", f"{BASE}.verify = verify_none")
    c = c.replace(f"{BASE}.fail_if_no_peer_cert = true\n", "")
    b = broker_factory(c, extra_listeners=["ssl:default"], start=False)
    with pytest.raises(helpers.BrokerError):
        b.start()
    assert "ssl_options.ocsp_client.enable: requires verify = verify_peer" in b.log_text(), \
        b.log_tail()


@VERS
def test_wss_listener_checks_client_ocsp(broker_factory, ow, ver):
    ow.inter.revoke(ow.bad)
    ow.serve_openssl()
    c = conf(ow).replace("listeners.ssl.default.", "listeners.wss.default.")
    b = broker_factory(c, extra_listeners=["wss:default"])
    port = b.ports["wss:default"]
    r = s_client(port, cafile=ow.root.cert, cert=ow.bad.cert, key=ow.bad.key, version=ver,
                 send=b"GET /mqtt HTTP/1.1\r\n", hold=1.0)
    assert r.alert == 44, r
    r = s_client(port, cafile=ow.root.cert, cert=ow.good.cert, key=ow.good.key, version=ver,
                 send=b"GET /mqtt HTTP/1.1\r\n", hold=1.0)
    assert r.ok, r
    b.wait_for_log(r"ocsp: client certificate checked listener=[a-z]+:default serial=%s .*status=revoked"
                   % ow.bad.serial_hex)
