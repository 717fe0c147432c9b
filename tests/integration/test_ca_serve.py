"""revmq-ca serve: CRLs (DER, PEM) and OCSP (POST, GET) checked with openssl and curl."""

import base64
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from ca_tools import RevmqCA, revmq_ca, start_revmq_ca  # noqa: F401 (fixture)


def http(url, data=None, headers=None, method=None):
    """(status, headers, body) without raising on HTTP errors."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def run(*args, input=None):
    p = subprocess.run(list(args), capture_output=True, input=input, timeout=30)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def crl_text_der(der):
    rc, out = run("openssl", "crl", "-inform", "DER", "-noout", "-text", input=der)
    assert rc == 0, out
    return out


def crl_number(text):
    return int(re.search(r"X509v3 CRL Number: *\n *([0-9A-Fa-f]+)", text).group(1), 16)


def ocsp_query(ca, issued, extra=()):
    return run("openssl", "ocsp", "-issuer", issued.ca_cert, "-cert", issued.cert,
               "-url", ca.ocsp_url(), "-resp_text", "-CAfile", issued.ca_cert, *extra)


def test_crl_der__lists_revoked_serial_with_reason(revmq_ca):
    ca = revmq_ca
    dev = ca.issue("device-1")
    st, h, body = http(ca.crl_url(pem=False))
    assert st == 200 and h["Content-Type"] == "application/pkix-crl"
    t1 = crl_text_der(body)
    assert "No Revoked Certificates" in t1
    ca.revoke(dev.serial, "keyCompromise")
    st, h, body = http(ca.crl_url(pem=False))
    t2 = crl_text_der(body)
    assert f"Serial Number: {dev.serial}" in t2
    assert "Key Compromise" in t2
    assert "Authority Key Identifier" in t2 and "Next Update" in t2
    assert crl_number(t2) > crl_number(t1)
    # signature checks out against the CA
    with open(os.path.join(ca.root, "c.der"), "wb") as f:
        f.write(body)
    rc, out = run("openssl", "crl", "-inform", "DER", "-in", os.path.join(ca.root, "c.der"),
                  "-noout", "-CAfile", dev.ca_cert)
    assert rc == 0 and "verify OK" in out


def test_crl_pem__parses_and_tenant_uuid_works_too(revmq_ca):
    ca = revmq_ca
    dev = ca.issue("d")
    ca.revoke(dev.serial, "superseded")
    for tenant in (ca.tenant, ca.uuid):
        st, h, body = http(ca.crl_url(pem=True, tenant=tenant))
        assert st == 200 and body.startswith(b"-----BEGIN X509 CRL-----")
        rc, out = run("openssl", "crl", "-noout", "-text", input=body)
        assert rc == 0 and dev.serial in out and "Superseded" in out


def test_crl_numbers__increase_with_each_revocation(revmq_ca):
    ca = revmq_ca
    nums = []
    for i in range(3):
        d = ca.issue(f"n{i}")
        ca.revoke(d.serial)
        nums.append(crl_number(crl_text_der(http(ca.crl_url(pem=False))[2])))
    assert nums == sorted(nums) and len(set(nums)) == 3


def test_crl__conditional_get_gives_304_until_it_changes(revmq_ca):
    ca = revmq_ca
    st, h, _ = http(ca.crl_url())
    etag, lm = h["ETag"], h["Last-Modified"]
    assert etag and lm
    assert http(ca.crl_url(), headers={"If-None-Match": etag})[0] == 304
    assert http(ca.crl_url(), headers={"If-Modified-Since": lm})[0] == 304
    d = ca.issue("x")
    ca.revoke(d.serial)
    st, h2, _ = http(ca.crl_url(), headers={"If-None-Match": etag})
    assert st == 200 and h2["ETag"] != etag


def test_crl__regenerated_before_next_update(tmp_path):
    ca = start_revmq_ca(tmp_path, crl_validity="4s")
    try:
        t0 = crl_text_der(http(ca.crl_url(pem=False))[2])
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            t1 = crl_text_der(http(ca.crl_url(pem=False))[2])
            if crl_number(t1) > crl_number(t0):
                break
            time.sleep(0.2)
        assert crl_number(t1) > crl_number(t0)
        rc, out = run("openssl", "crl", "-inform", "DER", "-noout", "-nextupdate",
                      input=http(ca.crl_url(pem=False))[2])
        assert rc == 0 and "nextUpdate=" in out
    finally:
        assert ca.stop() == 0


def test_ocsp_post__good_then_revoked_verified(revmq_ca):
    ca = revmq_ca
    srv = ca.issue("mqtt.example", cert_type="server")
    rc, out = ocsp_query(ca, srv)
    assert rc == 0, out
    assert "Response verify OK" in out and f"{srv.cert}: good" in out
    assert "This Update" in out and "Next Update" in out
    assert "WARNING" not in out  # nonce echoed, times valid
    ca.revoke(srv.serial, "keyCompromise")
    rc, out = ocsp_query(ca, srv)
    assert rc == 0 and "Response verify OK" in out
    assert f"{srv.cert}: revoked" in out and "Reason: keyCompromise" in out
    assert "Revocation Time" in out


def test_ocsp_get__base64_in_path(revmq_ca):
    ca = revmq_ca
    dev = ca.issue("dev")
    req = os.path.join(ca.root, "req.der")
    rc, out = run("openssl", "ocsp", "-issuer", dev.ca_cert, "-cert", dev.cert, "-no_nonce",
                  "-reqout", req)
    assert rc == 0, out
    b64 = base64.b64encode(open(req, "rb").read()).decode()
    resp = os.path.join(ca.root, "resp.der")

    def get(path_b64):
        p = subprocess.run(["curl", "-s", "-o", resp, "-w", "%{http_code} %{content_type}",
                            ca.ocsp_url() + "/" + path_b64], capture_output=True, text=True,
                           timeout=30)
        return p.stdout

    assert get(urllib.parse.quote(b64, safe="")) == "200 application/ocsp-response"
    rc, out = run("openssl", "ocsp", "-respin", resp, "-issuer", dev.ca_cert, "-cert", dev.cert,
                  "-CAfile", dev.ca_cert)
    assert rc == 0 and "Response verify OK" in out and ": good" in out
    ca.revoke(dev.serial, "cessationOfOperation")
    get(b64)  # raw (unencoded '/' and '+') works as well
    rc, out = run("openssl", "ocsp", "-respin", resp, "-issuer", dev.ca_cert, "-cert", dev.cert,
                  "-CAfile", dev.ca_cert)
    assert ": revoked" in out and "cessationOfOperation" in out


def test_ocsp__serial_not_issued_is_unknown_other_issuer_unauthorized(revmq_ca, tmp_path):
    ca = revmq_ca
    cacert = ca.ca_cert()
    rc, out = run("openssl", "ocsp", "-issuer", cacert, "-serial", "0x1234", "-url",
                  ca.ocsp_url(), "-CAfile", cacert)
    assert "Response verify OK" in out and "0x1234: unknown" in out
    other = RevmqCA(tmp_path / "other")
    other.port = 1
    other.init()
    ocert = other.create_ca()
    rc, out = run("openssl", "ocsp", "-issuer", ocert, "-serial", "0x1234", "-url",
                  ca.ocsp_url(), "-resp_text")
    assert "unauthorized (6)" in out


def test_ocsp__malformed_requests_get_malformed_request(revmq_ca):
    ca = revmq_ca
    for body in (b"garbage", b"\x30\x03\x02\x01\x01", b"\x30\x80" + b"\x00" * 50):
        st, h, resp = http(ca.ocsp_url(), data=body,
                           headers={"Content-Type": "application/ocsp-request"})
        assert st == 200 and h["Content-Type"] == "application/ocsp-response"
        rc, out = run("openssl", "ocsp", "-respin", "/dev/stdin", "-resp_text", input=resp)
        assert "malformedrequest (1)" in out.lower()
    for path in ("not-base64!!", "QUJD", "%00"):
        st, h, resp = http(ca.ocsp_url() + "/" + path)
        if st == 200:
            rc, out = run("openssl", "ocsp", "-respin", "/dev/stdin", "-resp_text", input=resp)
            assert "malformedrequest (1)" in out.lower()
        else:
            assert st == 404  # %00 is refused by the router


def test_oversized_body__413(revmq_ca):
    st, _, _ = http(revmq_ca.ocsp_url(), data=b"\x30" * 100000,
                    headers={"Content-Type": "application/ocsp-request"})
    assert st == 413


@pytest.mark.parametrize("path", [
    "/crl/nobody/mqtt-ca/1", "/crl/acme/nope/1", "/crl/acme/mqtt-ca/2", "/crl/acme/mqtt-ca/0",
    "/crl/acme/mqtt-ca/x", "/crl-pem/acme/mqtt-ca/9", "/crl/acme/mqtt-ca", "/", "/favicon.ico",
    "/crl/acme/mqtt-ca/1/extra",
])
def test_unknown_paths__404(revmq_ca, path):
    assert http(revmq_ca.base_url() + path)[0] == 404


def test_ocsp_unknown_tenant_or_ca__404(revmq_ca):
    ca = revmq_ca
    # OCSP identifies the tenant by UUID only
    for url in (f"{ca.base_url()}/ocsp/{ca.tenant}/mqtt-ca",
                f"{ca.base_url()}/ocsp/{ca.uuid}/nope",
                f"{ca.base_url()}/ocsp/00000000-0000-4000-8000-000000000000/mqtt-ca"):
        assert http(url, data=b"\x30\x00")[0] == 404, url


def test_ocsp_validity__short_response_expires(tmp_path):
    ca = start_revmq_ca(tmp_path, ocsp_validity="1s")
    try:
        dev = ca.issue("dev")
        resp = os.path.join(ca.root, "r.der")
        rc, out = run("openssl", "ocsp", "-issuer", dev.ca_cert, "-cert", dev.cert, "-url",
                      ca.ocsp_url(), "-respout", resp, "-CAfile", dev.ca_cert, "-no_nonce")
        assert ": good" in out
        time.sleep(2.2)  # the response's own nextUpdate must pass; nothing to poll
        rc, out = run("openssl", "ocsp", "-respin", resp, "-issuer", dev.ca_cert, "-cert",
                      dev.cert, "-CAfile", dev.ca_cert, "-validity_period", "0", "-no_nonce")
        assert "Status times invalid" in out
    finally:
        ca.stop()


def test_rotate__old_version_keeps_serving_crl_and_ocsp(revmq_ca):
    ca = revmq_ca
    old = ca.issue("old-dev")
    old_revoked = ca.issue("old-bad")
    assert ca.rotate() == 2
    new = ca.issue("new-dev")
    ca.revoke(old_revoked.serial, "affiliationChanged")
    t1 = crl_text_der(http(ca.crl_url(version=1, pem=False))[2])
    assert old_revoked.serial in t1 and "CN = mqtt-ca v1" in t1
    t2 = crl_text_der(http(ca.crl_url(version=2, pem=False))[2])
    assert old_revoked.serial not in t2 and "CN = mqtt-ca v2" in t2
    rc, out = ocsp_query(ca, old)
    assert "Response verify OK" in out and ": good" in out
    rc, out = ocsp_query(ca, old_revoked)
    assert "Response verify OK" in out and ": revoked" in out
    rc, out = ocsp_query(ca, new)
    assert "Response verify OK" in out and ": good" in out
    # a v1 serial asked of the v2 issuer: not issued by that version -> unknown
    v2 = ca.ca_cert()
    rc, out = run("openssl", "ocsp", "-issuer", v2, "-serial", "0x" + old.serial, "-url",
                  ca.ocsp_url(), "-CAfile", v2)
    assert "Response verify OK" in out and ": unknown" in out


def test_serve__sigterm_exits_zero(tmp_path):
    ca = start_revmq_ca(tmp_path)
    assert http(ca.crl_url())[0] == 200
    assert ca.stop() == 0
    assert "stopping signal=15" in ca.log()


def test_serve__bad_listen_fails(tmp_path):
    ca = RevmqCA(tmp_path)
    p = subprocess.run([os.environ.get("RMQ_BUILD_DIR", "/work/main/build") + "/revmq-ca",
                        "--dir", ca.dir, "serve", "--listen", "nonsense"], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 2 and "HOST:PORT" in p.stderr


def _sanitized_build():
    cache = os.path.join(os.environ.get("RMQ_BUILD_DIR", "/work/main/build"), "CMakeCache.txt")
    try:
        return "RMQ_SANITIZE:BOOL=ON" in open(cache).read()
    except OSError:
        return False


@pytest.mark.skipif(shutil.which("valgrind") is None or _sanitized_build(),
                    reason="needs valgrind and a build without sanitizers")
def test_serve__valgrind_clean_on_sigterm(tmp_path):
    ca = RevmqCA(tmp_path)
    ca.port = 1
    ca.init()
    ca.create_ca()
    dev = ca.issue("dev")
    ca.revoke(dev.serial)
    vg_log = os.path.join(ca.root, "vg.log")
    bindir = os.path.join(os.environ.get("RMQ_BUILD_DIR", "/work/main/build"))
    proc = subprocess.Popen(["valgrind", "--leak-check=full", "--show-leak-kinds=all",
                             "--errors-for-leak-kinds=all", "--error-exitcode=9",
                             f"--log-file={vg_log}", os.path.join(bindir, "revmq-ca"), "--dir",
                             ca.dir, "serve", "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("listening "), line
        ca.port = int(line.split(":")[-1])
        assert http(ca.crl_url())[0] == 200
        assert http(ca.crl_url(pem=False))[0] == 200
        rc, out = ocsp_query(ca, dev)
        assert ": revoked" in out
        http(ca.ocsp_url(), data=b"garbage")
        http(ca.ocsp_url() + "/QUJD")
        assert http(ca.base_url() + "/nope")[0] == 404
        assert http(ca.ocsp_url(), data=b"x" * 20000)[0] == 413
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        proc.stdout.close()
    log = open(vg_log).read()
    assert rc == 0, log
    assert "All heap blocks were freed" in log and "ERROR SUMMARY: 0 errors" in log, log


def test_ocsp_delegated_signer__verified_through_the_ca(tmp_path):
    ca = start_revmq_ca(tmp_path, serve_args=["--ocsp-signer", "delegated"])
    try:
        dev = ca.issue("dev")
        rc, out = ocsp_query(ca, dev)
        assert "Response verify OK" in out and ": good" in out, out
        assert "Responder Id: CN = mqtt-ca v1 OCSP responder" in out
        assert "OCSP Signing" in out and "OCSP No Check" in out
        ca.revoke(dev.serial, "privilegeWithdrawn")
        rc, out = ocsp_query(ca, dev)
        assert "Response verify OK" in out and ": revoked" in out
        # the same responder certificate is reused
        keys = [k for k in os.listdir(os.path.join(ca.dir, "keys")) if "-ocsp-" in k]
        assert len(keys) == 1
        # after rotation, v1 certificates get a v1 responder, v2 a v2 responder
        ca.rotate()
        new = ca.issue("new")
        rc, out = ocsp_query(ca, new)
        assert "Response verify OK" in out and "CN = mqtt-ca v2 OCSP responder" in out
        rc, out = ocsp_query(ca, dev)
        assert "Response verify OK" in out and ": revoked" in out
    finally:
        assert ca.stop() == 0


def test_ocsp_delegated_signer__renewed_after_half_its_life(tmp_path):
    ca = start_revmq_ca(tmp_path, serve_args=["--ocsp-signer", "delegated"])
    keysdir = os.path.join(ca.dir, "keys")
    try:
        dev = ca.issue("dev")
        assert ": good" in ocsp_query(ca, dev)[1]
        before = [k for k in os.listdir(keysdir) if "-ocsp-" in k]
        ca.stop()
        later = int(time.time()) + 20 * 86400
        ca.start(now=later)  # the signer lives 30 days
        rc, out = ocsp_query(ca, dev, extra=("-attime", str(later)))
        assert "Response verify OK" in out and ": good" in out, out
        after = [k for k in os.listdir(keysdir) if "-ocsp-" in k]
        assert len(before) == 1 and len(after) == 1 and before != after
    finally:
        ca.stop()
