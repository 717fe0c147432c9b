"""OCSP stapling end to end (issue 5) beyond test_tls_stapling.py: both
responders (`openssl ocsp` with an index file, and `revmq-ca serve`), both
request methods (POST, GET — seen by a recording proxy in front of the
responder), TLS 1.2 and 1.3; the broker's certificate revoked at the responder;
the responder stopped after a good fetch (staple until nextUpdate, then none);
bad responses never stapled (HTTP 500, garbage, another certificate, an
unrelated signing key, expired, …) while the last good one stays; restart with
the responder down staples the saved response at once.

Bad responses are forged with python3-cryptography (a control case forges a
good one the same way, so each bad case differs from an accepted one by its
defect only).
"""

import base64
import datetime
import os
import re
import signal
import subprocess
import time
import urllib.parse

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

import helpers
from ca_tools import revmq_ca, start_revmq_ca  # noqa: F401
from httpfaults import Reply, fault_server, forge  # noqa: F401
from pki import PKI, s_client

pytestmark = pytest.mark.revmq_only



# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


class Responder:
    """`openssl ocsp` for a CA on a free port (TESTING-NOTES: never probe it with a
    bare connect; it reads index.txt once, so restart() after a revocation)."""

    def __init__(self, ca, nmin=10, signer=None):
        self.ca, self.nmin, self.signer = ca, nmin, signer
        self.proc = None
        self.port = None

    def start(self):
        self.port = helpers.free_port()
        self.proc = subprocess.Popen(self.ca.ocsp_responder_cmd(self.port, signer=self.signer,
                                                                nmin=self.nmin),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # never probe it with a connect: look for its listening socket in /proc instead
        helpers.wait_until(lambda: _listening(self.port) or self.proc.poll() is not None,
                           timeout=10, what="openssl ocsp listening")
        assert self.proc.poll() is None, "openssl ocsp exited"
        return self

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def _listening(port):
    """True when some socket listens on `port` (/proc/net/tcp{,6}, state 0A)."""
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


@pytest.fixture
def responders():
    made = []

    def make(ca, nmin=10, signer=None):
        r = Responder(ca, nmin, signer).start()
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()


class OW:
    """root -> "Test Intermediate" -> server (AIA OCSP = the proxy), server2, client."""

    def __init__(self, tmp_path, proxy):
        self.proxy = proxy
        p = PKI(tmp_path / "pki")
        self.root = p.root
        self.inter = p.root.intermediate("Test Intermediate")
        self.server = self.inter.server_cert("server", ocsp_url=proxy.url("/").rstrip("/"))
        self.server2 = self.inter.server_cert("server2", ocsp_url=proxy.url("/").rstrip("/"))
        self.client = self.inter.client_cert("dev1")
        self.cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), p.root.cert, self.inter.cert)
        self.tmp = tmp_path


@pytest.fixture
def ow(tmp_path, fault_server):  # noqa: F811
    return OW(tmp_path, fault_server())


def ocsp_conf(certfile, keyfile, cafile, *extra, timeout="3s"):
    base = "listeners.ssl.default.ssl_options"
    lines = [
        f'{base}.certfile = "{certfile}"',
        f'{base}.keyfile = "{keyfile}"',
        f'{base}.cacertfile = "{cafile}"',
        f"{base}.verify = verify_peer",
        f"{base}.ocsp.enable_ocsp_stapling = true",
        f"{base}.ocsp.refresh_http_timeout = {timeout}",
    ]
    return "\n".join(lines + [f"{base}.ocsp.{e}" for e in extra]) + "\n"


def status(port, root, client, ver="1.3", sni=False):
    return s_client(port, cafile=root, cert=client.cert, key=client.key, version=ver, status=True,
                    servername="localhost" if sni else None,
                    send=helpers.build_connect("c", version=4), hold=0.3)


def staple_field(out, name):
    m = re.search(r"^\s*%s: (.+)$" % re.escape(name), out, re.M)
    return m.group(1).strip() if m else None


def staple_serial(out):
    s = staple_field(out, "Serial Number")
    return s.upper() if s else None


def asn1_time(s):
    """'Nov 22 18:40:00 2026 GMT' -> unix time."""
    return datetime.datetime.strptime(s, "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def decode_get_request(path):
    """The OCSP request carried by a GET path (RFC 6960 A.1): its serial number."""
    b64 = urllib.parse.unquote(path.rsplit("/", 1)[1])
    return ocsp.load_der_ocsp_request(base64.b64decode(b64)).serial_number


# --------------------------------------------------------------------------
# responders and methods
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method,ver", [("post", "1.2"), ("get", "1.3")])
def test_openssl_ocsp_responder(broker_factory, ow, responders, ver, method):
    resp = responders(ow.inter)
    ow.proxy.set_default(Reply.proxy(resp.url()))
    b = broker_factory(ocsp_conf(ow.server.fullchain, ow.server.key, ow.cafile,
                                 f"method = {method}"), extra_listeners=["ssl:default"])
    b.wait_for_log(r"ocsp: refresh OK listener=[a-z]+:default url=%s status=good "
                   % re.escape(ow.proxy.url("/").rstrip("/")))
    port = b.ports["ssl:default"]
    for sni in (False, True):
        r = status(port, ow.root.cert, ow.client, ver, sni)
        assert r.ok and r.ocsp_successful and r.ocsp == "good", r
        assert staple_serial(r.out) == ow.server.serial_hex.lstrip("0"), r
    reqs = ow.proxy.requests_for()
    assert reqs and all(q.method == method.upper() for q in reqs), reqs
    if method == "get":
        assert all(decode_get_request(q.path) == ow.server.serial for q in reqs), reqs
    else:
        assert all(ocsp.load_der_ocsp_request(q.body).serial_number == ow.server.serial
                   for q in reqs), reqs


def _revmq_ca_world(ca, proxy):
    server = ca.issue("localhost", cert_type="server")
    client = ca.issue("device-1")
    proxy.set_default(Reply.proxy(ca.base_url()))
    url = proxy.url(f"/ocsp/{ca.uuid}/{ca.ca_name}")
    return server, client, url


@pytest.mark.parametrize("method,ver,slash", [("post", "1.3", ""), ("get", "1.2", ""),
                                              ("get", "1.3", "/")],
                         ids=["post-1.3", "get-1.2", "get-url-ending-in-slash-1.3"])
def test_revmq_ca_responder(broker_factory, revmq_ca, fault_server, ver, method,  # noqa: F811
                            slash):
    proxy = fault_server()
    server, client, url = _revmq_ca_world(revmq_ca, proxy)
    url += slash
    b = broker_factory(ocsp_conf(server.cert, server.key, server.ca_cert, f"method = {method}",
                                 f'responder_url = "{url}"'), extra_listeners=["ssl:default"])
    b.wait_for_log(r"ocsp: refresh OK listener=[a-z]+:default url=%s status=good " % re.escape(url))
    r = status(b.ports["ssl:default"], server.ca_cert, client, ver)
    assert r.ok and r.ocsp_successful and r.ocsp == "good", r
    assert staple_serial(r.out) == server.serial.lstrip("0"), r
    reqs = proxy.requests_for()
    assert reqs and all(q.method == method.upper() for q in reqs), reqs
    prefix = f"/ocsp/{revmq_ca.uuid}/{revmq_ca.ca_name}"
    if method == "get":  # exactly one "/" between the URL's path and the request
        assert all(q.path.startswith(prefix + "/") and "//" not in q.path for q in reqs), reqs
        assert all(decode_get_request(q.path) == int(server.serial, 16) for q in reqs), reqs
    else:
        assert all(q.path == prefix for q in reqs), reqs


# --------------------------------------------------------------------------
# the broker's certificate revoked at the responder
# --------------------------------------------------------------------------


def test_revoked_at_openssl_responder_after_refresh(broker_factory, ow, responders):
    resp = responders(ow.inter)
    ow.proxy.set_default(Reply.proxy(resp.url()))
    b = broker_factory(ocsp_conf(ow.server.fullchain, ow.server.key, ow.cafile,
                                 "refresh_interval = 1s"), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    assert status(port, ow.root.cert, ow.client, "1.2").ocsp == "good"
    ow.inter.revoke(ow.server)
    resp2 = responders(ow.inter)  # openssl ocsp reads index.txt once: a new one
    mark = b.log_mark()
    ow.proxy.set_default(Reply.proxy(resp2.url()))
    resp.stop()
    b.wait_for_log(r"ocsp: certificate revoked by responder listener=[a-z]+:default .*"
                   r"reason=\"?keyCompromise", timeout=6, since=mark)
    for ver in ("1.2", "1.3"):
        r = status(port, ow.root.cert, ow.client, ver)
        assert r.ocsp == "revoked", r
        assert staple_serial(r.out) == ow.server.serial_hex.lstrip("0"), r


def test_revoked_at_revmq_ca_after_refresh(broker_factory, revmq_ca, fault_server):  # noqa: F811
    proxy = fault_server()
    server, client, url = _revmq_ca_world(revmq_ca, proxy)
    b = broker_factory(ocsp_conf(server.cert, server.key, server.ca_cert, "refresh_interval = 1s",
                                 f'responder_url = "{url}"'), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    assert status(port, server.ca_cert, client, "1.3").ocsp == "good"
    mark = b.log_mark()
    revmq_ca.revoke(server.serial)
    b.wait_for_log(r"ocsp: certificate revoked by responder listener=[a-z]+:default ", timeout=6,
                   since=mark)
    r = status(port, server.ca_cert, client, "1.3")
    assert r.ocsp == "revoked", r


def test_sighup_refreshes_staple_at_once(broker_factory, revmq_ca, fault_server):  # noqa: F811
    proxy = fault_server()
    server, client, url = _revmq_ca_world(revmq_ca, proxy)
    b = broker_factory(ocsp_conf(server.cert, server.key, server.ca_cert, "refresh_interval = 1h",
                                 f'responder_url = "{url}"'), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    revmq_ca.revoke(server.serial)
    n = len(proxy.requests_for())
    r = status(port, server.ca_cert, client, "1.3")
    assert r.ocsp == "good", r  # no refresh due for a long time
    assert len(proxy.requests_for()) == n
    mark = b.log_mark()
    os.kill(b.proc.pid, signal.SIGHUP)
    b.wait_for_log(r"ocsp: certificate revoked by responder listener=[a-z]+:default ", timeout=5,
                   since=mark)
    r = status(port, server.ca_cert, client, "1.3")
    assert r.ocsp == "revoked", r


# --------------------------------------------------------------------------
# responder gone: the staple lasts until nextUpdate, not longer
# --------------------------------------------------------------------------


def test_responder_stopped_staple_until_next_update_then_none(broker_factory, tmp_path,
                                                              fault_server):  # noqa: F811
    ca = start_revmq_ca(tmp_path / "ca", ocsp_validity="6s")
    try:
        proxy = fault_server()
        server, client, url = _revmq_ca_world(ca, proxy)
        b = broker_factory(ocsp_conf(server.cert, server.key, server.ca_cert,
                                     "refresh_interval = 1h", f'responder_url = "{url}"'),
                           extra_listeners=["ssl:default"])
        port = b.ports["ssl:default"]
        r = status(port, server.ca_cert, client, "1.3")
        assert r.ocsp == "good", r
        next_update = asn1_time(staple_field(r.out, "Next Update"))
        mark = b.log_mark()
        proxy.stop()  # the responder is unreachable from now on
        # the refresh halfway through the validity fails; the staple stays meanwhile
        b.wait_for_log(r"ocsp: refresh failed listener=[a-z]+:default url=%s reason=http_error "
                       r"error=\"[^\"]+\" retry_in_ms=\d+" % re.escape(url), timeout=6, since=mark)
        r = status(port, server.ca_cert, client, "1.2")
        assert time.time() < next_update - 0.5, "test too slow to see the staple before nextUpdate"
        assert r.ocsp == "good", r
        # after nextUpdate: nothing stapled, with one log line
        b.wait_for_log(r"ocsp: staple expired, stapling stopped listener=[a-z]+:default ", timeout=10,
                       since=mark)
        assert time.time() >= next_update
        for ver in ("1.2", "1.3"):
            r = status(port, server.ca_cert, client, ver)
            assert r.ok and r.ocsp == "none", r
        assert b.log_text()[mark:].count("staple expired, stapling stopped") == 1
    finally:
        assert ca.stop() == 0


# --------------------------------------------------------------------------
# bad responses
# --------------------------------------------------------------------------


def _bad(ow, kind):
    s, i = ow.server.cert, ow.inter.cert
    ik = ow.inter.key
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    if kind == "http_500":
        return Reply.status(500)
    if kind == "garbage":
        return Reply.body(b"\x30\x82\x01\x00" + b"garbage" * 40, "application/ocsp-response")
    if kind == "another_certificate":
        der = forge(ow.server2.cert, i, i, ik)
    elif kind == "unrelated_key":  # claims to be the issuer, signed by another key
        other = PKI(ow.tmp / "other", cn="Test Intermediate").root
        der = forge(s, i, other.cert, other.key)
    elif kind == "unrelated_responder":  # a responder certificate of another CA, included
        other = PKI(ow.tmp / "other2", cn="Other CA").root
        signer = other.ocsp_signer("Other OCSP")
        der = forge(s, i, signer.cert, signer.key, include_signer=True)
    elif kind == "expired_delegated_signer":  # OCSPSigning cert of the issuer, expired
        lines = ["basicConstraints = critical,CA:FALSE", "keyUsage = critical,digitalSignature",
                 "extendedKeyUsage = OCSPSigning"]
        signer = ow.inter._issue("Old OCSP", "ec", lines, start=now - datetime.timedelta(days=10),
                                 end=now - datetime.timedelta(days=1))
        der = forge(s, i, signer.cert, signer.key, include_signer=True)
    elif kind == "expired":
        der = forge(s, i, i, ik, this_update=now - datetime.timedelta(hours=2),
                    next_update=now - datetime.timedelta(hours=1))
    elif kind == "no_next_update":
        der = forge(s, i, i, ik, next_update=None)
    elif kind == "status_unknown":
        der = forge(s, i, i, ik, status="unknown")
    else:
        raise ValueError(kind)
    return Reply.body(der, "application/ocsp-response")


BAD = {
    # kind: regex the refresh failure must match
    "http_500": r"ocsp: refresh failed listener=[a-z]+:default url=\S+ reason=http_status "
                r"error=\"HTTP status 500\" retry_in_ms=\d+",
    "garbage": r"ocsp: response rejected listener=[a-z]+:default url=\S+ reason=parse",
    "another_certificate": r"ocsp: response rejected listener=[a-z]+:default url=\S+ reason=cert_id",
    "unrelated_key": r"ocsp: response rejected listener=[a-z]+:default url=\S+ reason=signature",
    "unrelated_responder": r"ocsp: response rejected listener=[a-z]+:default url=\S+ "
                           r"reason=signer_not_issued_by_issuer",
    "expired_delegated_signer": r"ocsp: response rejected listener=[a-z]+:default url=\S+ "
                                r"reason=signer_validity",
    "expired": r"ocsp: response rejected listener=[a-z]+:default url=\S+ reason=next_update_past",
    "no_next_update": r"ocsp: response rejected listener=[a-z]+:default url=\S+ "
                      r"reason=next_update_missing",
    "status_unknown": r"ocsp: refresh failed listener=[a-z]+:default url=\S+ reason=status_unknown",
}


@pytest.mark.parametrize("certid_hash", ["sha1", "sha256"])
def test_forged_good_response_is_stapled(broker_factory, ow, certid_hash):
    """The control for the cases below: forged the same way, but valid (and a
    CertID hashed with SHA-256, which RFC 6960 responders may use)."""
    h = hashes.SHA1() if certid_hash == "sha1" else hashes.SHA256()
    ow.proxy.set_default(Reply.body(forge(ow.server.cert, ow.inter.cert, ow.inter.cert,
                                          ow.inter.key, certid_hash=h),
                                    "application/ocsp-response"))
    b = broker_factory(ocsp_conf(ow.server.fullchain, ow.server.key, ow.cafile),
                       extra_listeners=["ssl:default"])
    r = status(b.ports["ssl:default"], ow.root.cert, ow.client)
    assert r.ocsp == "good", r
    assert staple_serial(r.out) == ow.server.serial_hex.lstrip("0"), r


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_response_never_stapled(broker_factory, ow, kind):
    # 1. from the start: nothing stapled, the failed check logged
    ow.proxy.set_default(_bad(ow, kind))
    b = broker_factory(ocsp_conf(ow.server.fullchain, ow.server.key, ow.cafile,
                                 "refresh_interval = 1s"), extra_listeners=["ssl:default"])
    b.wait_for_log(BAD[kind])
    port = b.ports["ssl:default"]
    r = status(port, ow.root.cert, ow.client, "1.3")
    assert r.ok and r.ocsp == "none", r

    # 2. after a good response: the bad one never replaces it
    good = forge(ow.server.cert, ow.inter.cert, ow.inter.cert, ow.inter.key)
    mark = b.log_mark()
    ow.proxy.set_default(Reply.body(good, "application/ocsp-response"))
    b.wait_for_log(r"ocsp: refresh OK listener=[a-z]+:default ", timeout=6, since=mark)
    r = status(port, ow.root.cert, ow.client, "1.2")
    assert r.ocsp == "good", r
    this_update = staple_field(r.out, "This Update")
    mark = b.log_mark()
    ow.proxy.set_default(_bad(ow, kind))
    b.wait_for_log(BAD[kind], timeout=6, since=mark)
    r = status(port, ow.root.cert, ow.client, "1.2")
    assert r.ocsp == "good" and staple_field(r.out, "This Update") == this_update, r
    assert staple_serial(r.out) == ow.server.serial_hex.lstrip("0"), r


# --------------------------------------------------------------------------
# restart with the responder down
# --------------------------------------------------------------------------


def test_restart_with_responder_down_staples_saved_response(broker_factory, ow, responders):
    resp = responders(ow.inter)
    ow.proxy.set_default(Reply.proxy(resp.url()))
    b = broker_factory(ocsp_conf(ow.server.fullchain, ow.server.key, ow.cafile),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = status(port, ow.root.cert, ow.client, "1.3")
    assert r.ocsp == "good", r
    this_update = staple_field(r.out, "This Update")
    b.stop()
    assert list((b.data_dir / "ocsp").glob("*.der")), "nothing saved under node.data_dir/ocsp"

    ow.proxy.set_default(Reply.hang())  # the responder does not answer any more
    mark = b.log_mark()
    t0 = time.monotonic()
    b.start()
    # refresh_http_timeout is 3 s: start-up did not wait for the hanging responder
    assert time.monotonic() - t0 < 2.5, b.log_tail()
    b.wait_for_log(r"ocsp: loaded saved response listener=[a-z]+:default .*status=good", since=mark)
    for ver in ("1.2", "1.3"):
        r = status(port, ow.root.cert, ow.client, ver)
        assert r.ocsp == "good" and staple_field(r.out, "This Update") == this_update, r


# --------------------------------------------------------------------------
# delegated responders, first fetch failing, saved responses that must not be used
# --------------------------------------------------------------------------


def test_delegated_responder_with_ocsp_signing(broker_factory, ow, responders):
    signer = ow.inter.ocsp_signer("Delegated OCSP")
    resp = responders(ow.inter, signer=signer)
    ow.proxy.set_default(Reply.proxy(resp.url()))
    b = broker_factory(ocsp_conf(ow.server.fullchain, ow.server.key, ow.cafile),
                       extra_listeners=["ssl:default"])
    r = status(b.ports["ssl:default"], ow.root.cert, ow.client, "1.3")
    assert r.ocsp == "good", r
    assert "Delegated OCSP" in (staple_field(r.out, "Responder Id") or ""), r


def test_responder_certificate_without_ocsp_signing_refused(broker_factory, ow, responders):
    not_a_signer = ow.inter.client_cert("just a client")  # issued by the issuer, no OCSPSigning
    resp = responders(ow.inter, signer=not_a_signer)
    ow.proxy.set_default(Reply.proxy(resp.url()))
    b = broker_factory(ocsp_conf(ow.server.fullchain, ow.server.key, ow.cafile),
                       extra_listeners=["ssl:default"])
    b.wait_for_log(r"ocsp: response rejected listener=[a-z]+:default url=\S+ reason=signer_not_ocsp_signing")
    r = status(b.ports["ssl:default"], ow.root.cert, ow.client, "1.3")
    assert r.ok and r.ocsp == "none", r


def test_first_fetch_fails_listener_starts_without_staple_then_staples(broker_factory, ow,
                                                                      responders):
    ow.proxy.set_default(Reply.hang())
    b = broker_factory(ocsp_conf(ow.server.fullchain, ow.server.key, ow.cafile,
                                 "refresh_interval = 1s", timeout="1s"),
                       extra_listeners=["ssl:default"], start=False)
    t0 = time.monotonic()
    b.start()
    took = time.monotonic() - t0
    assert 0.9 <= took < 4, took  # waited for the first fetch, bounded by refresh_http_timeout
    b.wait_for_log(r"ocsp: refresh failed listener=[a-z]+:default url=\S+ reason=timeout ")
    port = b.ports["ssl:default"]
    r = status(port, ow.root.cert, ow.client, "1.2")
    assert r.ok and r.ocsp == "none", r
    resp = responders(ow.inter)
    mark = b.log_mark()
    ow.proxy.set_default(Reply.proxy(resp.url()))
    b.wait_for_log(r"ocsp: refresh OK listener=[a-z]+:default url=\S+ status=good ", timeout=8, since=mark)
    r = status(port, ow.root.cert, ow.client, "1.2")
    assert r.ocsp == "good", r


def test_restart_with_other_certificate_never_staples_old_response(broker_factory, ow,
                                                                   responders, tmp_path):
    resp = responders(ow.inter)
    ow.proxy.set_default(Reply.proxy(resp.url()))
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    copy = __import__("shutil").copyfile
    copy(ow.server.fullchain, cert)
    copy(ow.server.key, key)
    b = broker_factory(ocsp_conf(cert, key, ow.cafile, timeout="1s"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    assert status(port, ow.root.cert, ow.client, "1.3").ocsp == "good"
    b.stop()
    copy(ow.server2.fullchain, cert)
    copy(ow.server2.key, key)
    ow.proxy.set_default(Reply.hang())
    b.start()
    r = status(port, ow.root.cert, ow.client, "1.3")
    assert r.server_serial == ow.server2.serial_hex, r
    assert r.ok and r.ocsp == "none", r  # the saved response is server's, not server2's


def test_restart_after_saved_response_expired_staples_nothing(broker_factory, tmp_path,
                                                              fault_server):  # noqa: F811
    ca = start_revmq_ca(tmp_path / "ca", ocsp_validity="3s")
    try:
        proxy = fault_server()
        server, client, url = _revmq_ca_world(ca, proxy)
        b = broker_factory(ocsp_conf(server.cert, server.key, server.ca_cert,
                                     f'responder_url = "{url}"', timeout="1s"),
                           extra_listeners=["ssl:default"])
        port = b.ports["ssl:default"]
        r = status(port, server.ca_cert, client, "1.3")
        assert r.ocsp == "good", r
        next_update = asn1_time(staple_field(r.out, "Next Update"))
        b.stop()
        proxy.set_default(Reply.hang())
        time.sleep(max(0.0, next_update - time.time()) + 0.5)  # let nextUpdate pass
        mark = b.log_mark()
        b.start()
        b.wait_for_log(r"ocsp: saved response not used listener=[a-z]+:default .*reason=next_update_past",
                       since=mark)
        r = status(port, server.ca_cert, client, "1.3")
        assert r.ok and r.ocsp == "none", r
    finally:
        assert ca.stop() == 0


def test_shutdown_while_an_ocsp_fetch_hangs(broker_factory, ow, responders):
    resp = responders(ow.inter)
    ow.proxy.set_default(Reply.proxy(resp.url()))
    b = broker_factory(ocsp_conf(ow.server.fullchain, ow.server.key, ow.cafile,
                                 "refresh_interval = 1s", timeout="60s"),
                       extra_listeners=["ssl:default"])
    n = len(ow.proxy.requests_for())
    ow.proxy.set_default(Reply.hang())
    helpers.wait_until(lambda: len(ow.proxy.requests_for()) > n, timeout=5,
                       what="the next OCSP refresh to start")
    t0 = time.monotonic()
    b.stop()  # SIGTERM: exit code 0, clean log (asserted by stop)
    assert time.monotonic() - t0 < 3, "shutdown waited for the hanging fetch"


def test_two_listeners_each_staple_their_own_certificate(broker_factory, ow, responders):
    resp = responders(ow.inter)
    ow.proxy.set_default(Reply.proxy(resp.url()))
    conf = ocsp_conf(ow.server.fullchain, ow.server.key, ow.cafile)
    conf += ocsp_conf(ow.server2.fullchain, ow.server2.key, ow.cafile).replace(
        "listeners.ssl.default.", "listeners.ssl.second.")
    b = broker_factory(conf, extra_listeners=["ssl:default", "ssl:second"])
    for name, cert in (("default", ow.server), ("second", ow.server2)):
        b.wait_for_log(r"ocsp: refresh OK listener=ssl:%s .*status=good" % name)
        for ver in ("1.2", "1.3"):
            r = status(b.ports["ssl:" + name], ow.root.cert, ow.client, ver)
            assert r.server_serial == cert.serial_hex, r
            assert r.ocsp == "good" and staple_serial(r.out) == cert.serial_hex.lstrip("0"), r
