"""CRL refresh failures (issue 4, "failures"): a configured CRL URL served by a
misbehaving HTTP server (httpfaults.FaultServer). After a good first fetch
(enforced: the revoked client gets alert 44, the good one connects) the server
starts failing in one way; each failure must produce its
`crl_cache: refresh failed url=… reason=…` line while the previous CRL stays in
force: the revoked client still gets alert 44, the good one still connects (a
dropped CRL would give both alert 42, an accepted bad one would let the
revoked client in or lock the good one out — each faulty CRL below is made so
that accepting it changes a verdict).
"""

import datetime
import os
import re

import pytest

import pki

from httpfaults import (World, Reply, connect, crl_urls_line, fake_revoke, fault_server,  # noqa: F401
                        read, ssl_conf)
from pki import PKI

pytestmark = pytest.mark.revmq_only


class FW:
    """World + a fault server serving the intermediate's CRL at /inter.crl.

    crl_old: CRL number 1000, nothing revoked. crl_cur: number 1001, `bad` revoked
    (the one served first)."""

    def __init__(self, tmp_path, srv):
        self.w = World(tmp_path / "w")
        self.srv = srv
        self.old_pem, self.old_der = self.w.inter.gencrl("crl-old")
        self.w.inter.revoke(self.w.bad)
        _, der = self.w.inter.gencrl("crl-cur")
        self.cur_der = read(der)
        self.old_der = read(self.old_der)
        srv.set("/inter.crl", Reply.body(self.cur_der))
        self.url = srv.url("/inter.crl")

    def check_enforced(self, port, ver="1.2"):
        r = connect(port, self.w.root.cert, self.w.bad, ver)
        assert r.alert == 44, r
        r = connect(port, self.w.root.cert, self.w.good, ver)
        assert r.ok, r


@pytest.fixture
def fw(tmp_path, fault_server):  # noqa: F811
    return FW(tmp_path, fault_server())


def start(broker_factory, fw, *extra):
    conf = ssl_conf(fw.w, crl_urls_line(fw.url), "crl_cache.refresh_interval = 1s",
                    "crl_cache.http_timeout = 1s", "crl_cache.discover_from_cert = false",
                    *extra)
    b = broker_factory(conf, extra_listeners=["ssl:default"])
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(fw.url))
    return b


def _newer_crl_revoking_good_and_many(fw, tmp_path):
    """A valid, newer CRL (number 1002) that also revokes `good`, > 1 KB."""
    fw.w.inter.revoke(fw.w.good)
    for i in range(60):
        fake_revoke(fw.w.inter, "%016X" % (0x5A00000000000000 + i))
    _, der = fw.w.inter.gencrl("crl-big")
    data = read(der)
    assert len(data) > 1024
    return data


def _crl_of_impostor(fw, tmp_path, same_name):
    """A CRL (number 5000, revoking `good`) signed by another CA's key: with the
    intermediate's name (signature check) or another name (unknown issuer)."""
    other = PKI(tmp_path / "other").root.intermediate(
        "Test Intermediate" if same_name else "Other Intermediate")
    with open(other.dir + "/crlnumber", "w") as f:
        f.write("5000\n")
    fake_revoke(other, fw.w.good.serial_hex)
    return read(other.gencrl()[1])


def _expired_crl(fw, tmp_path):
    fw.w.inter.revoke(fw.w.good)
    return read(fw.w.inter.gencrl_expired()[1])


def _gencrl_custom(ca, name, last=None, nxt=None, crit_ext=False):
    """openssl ca -gencrl with explicit times and/or an unknown critical extension."""
    now = pki._utc_now()
    section = "crl_ext"
    if crit_ext:
        section = "crl_crit"
        with open(ca.cnf) as f:
            has = "[ crl_crit ]" in f.read()
        if not has:
            with open(ca.cnf, "a") as f:
                f.write("\n[ crl_crit ]\nauthorityKeyIdentifier = keyid:always\n"
                        "1.3.6.1.4.1.55555.1 = critical,DER:05:00\n")
    pem = os.path.join(ca.dir, name + ".pem")
    args = ["ca", "-batch", "-config", ca.cnf, "-gencrl", "-out", pem, "-crlexts", section,
            "-crl_lastupdate", pki._asn1time(last or now - datetime.timedelta(seconds=10)),
            "-crl_nextupdate", pki._asn1time(nxt or now + datetime.timedelta(hours=24))]
    with pki._LOCK:
        pki.openssl(*args)
    return pki.openssl("crl", "-in", pem, "-outform", "DER")


def _critical_ext_crl(fw, tmp_path):
    fw.w.inter.revoke(fw.w.good)
    der = _gencrl_custom(fw.w.inter, "crl-crit", crit_ext=True)
    return der


def _future_crl(fw, tmp_path):
    fw.w.inter.revoke(fw.w.good)
    now = pki._utc_now()
    return _gencrl_custom(fw.w.inter, "crl-future", last=now + datetime.timedelta(hours=1),
                          nxt=now + datetime.timedelta(hours=25))


def _pem_good_and_bad(fw, tmp_path):
    """Two CRLs in one PEM body: a valid newer one of the intermediate revoking
    `good`, and one signed by an impostor (issue 11: each CRL on its own)."""
    fw.w.inter.revoke(fw.w.good)
    good_pem = read(fw.w.inter.gencrl("crl-newer")[0])
    other = PKI(tmp_path / "imp2").root.intermediate("Test Intermediate")
    with open(other.dir + "/crlnumber", "w") as f:
        f.write("6000\n")
    return good_pem + read(other.gencrl()[0])


FAILURES = {
    # name: (make the fault (fw, tmp_path) -> Reply | None (stop the server), reason, extra conf)
    "404": (lambda fw, t: Reply.status(404), "http_status", ()),
    "500": (lambda fw, t: Reply.status(500), "http_status", ()),
    "timeout": (lambda fw, t: Reply.hang(), "timeout", ()),
    "refused": (lambda fw, t: None, "http_error", ()),
    "garbage": (lambda fw, t: Reply.body(b"<html><body>this is not a CRL</body></html>\n" * 8),
                "garbage", ()),
    "truncated_body": (lambda fw, t: Reply.body(fw.cur_der[: len(fw.cur_der) // 2]), "truncated",
                       ()),
    "connection_cut": (lambda fw, t: Reply.cut(fw.cur_der), "http_error", ()),
    "over_max_size": (lambda fw, t: Reply.body(_newer_crl_revoking_good_and_many(fw, t)),
                      "too_large", ("crl_cache.max_size = 1KB",)),
    "signed_by_another_ca": (lambda fw, t: Reply.body(_crl_of_impostor(fw, t, True)), "signature",
                             ()),
    "issuer_not_trusted": (lambda fw, t: Reply.body(_crl_of_impostor(fw, t, False)),
                           "issuer_unknown", ()),
    "expired": (lambda fw, t: Reply.body(_expired_crl(fw, t)), "next_update_past", ()),
    "crl_number_back": (lambda fw, t: Reply.body(fw.old_der), "crl_number_went_back", ()),
    "this_update_in_future": (lambda fw, t: Reply.body(_future_crl(fw, t)),
                              "this_update_in_future", ()),
    "unknown_critical_extension": (lambda fw, t: Reply.body(_critical_ext_crl(fw, t)),
                                   "critical_extension", ()),
    "empty_body": (lambda fw, t: Reply.body(b""), "garbage", ()),
    "redirect_loop": (lambda fw, t: Reply.redirect(fw.url), "http_error", ()),
}


@pytest.mark.parametrize("kind", list(FAILURES))
def test_refresh_failure_keeps_previous_crl(broker_factory, fw, tmp_path, kind):
    make, reason, extra = FAILURES[kind]
    b = start(broker_factory, fw, *extra)
    port = b.ports["ssl:default"]
    r = connect(port, fw.w.root.cert, fw.w.bad, "1.2")
    assert r.alert == 44, r

    reply = make(fw, tmp_path)
    mark = b.log_mark()
    if reply is None:
        fw.srv.stop()
    else:
        fw.srv.set("/inter.crl", reply)
    m = b.wait_for_log(r"crl_cache: refresh failed url=%s reason=(\S+)(.*)$" % re.escape(fw.url),
                       timeout=8, since=mark)
    assert m.group(1) == reason, m.group(0)
    assert "in_force=1" in m.group(2) and "fail_closed" not in m.group(2), m.group(0)
    # the CRL from before is still in force, and nothing newer was accepted
    fw.check_enforced(port, "1.3")
    assert not re.search(r"crl_cache: refresh OK url=%s entries" % re.escape(fw.url),
                         b.log_text()[mark:]), b.log_tail()


def test_pem_body_forged_member_refused_alone(broker_factory, fw, tmp_path):
    """Issue 11, bundles per CRL: the forged second CRL is refused with its own
    line; the good first one (revoking `good`) is used at once."""
    b = start(broker_factory, fw)
    port = b.ports["ssl:default"]
    mark = b.log_mark()
    fw.srv.set("/inter.crl", Reply.body(_pem_good_and_bad(fw, tmp_path)))
    b.wait_for_log(r"crl_cache: refresh failed url=%s reason=signature crl=2/2 "
                   r"issuer=\"CN=Test Intermediate\"" % re.escape(fw.url), timeout=8, since=mark)
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=2 " % re.escape(fw.url), timeout=8,
                   since=mark)
    r = connect(port, fw.w.root.cert, fw.w.good, "1.3")
    assert r.alert == 44, r


def test_failure_then_recovery_applies_the_new_crl(broker_factory, fw, tmp_path):
    """After a failure the engine keeps trying (backoff), and the next good CRL
    is used: the assertion above cannot pass because refreshes simply stopped."""
    b = start(broker_factory, fw)
    port = b.ports["ssl:default"]
    mark = b.log_mark()
    fw.srv.set("/inter.crl", Reply.status(500))
    b.wait_for_log(r"crl_cache: refresh failed url=%s reason=http_status" % re.escape(fw.url),
                   timeout=8, since=mark)
    fw.w.inter.revoke(fw.w.good)
    fw.srv.set("/inter.crl", Reply.body(read(fw.w.inter.gencrl("crl-new")[1])))
    mark = b.log_mark()
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=2 " % re.escape(fw.url), timeout=8,
                   since=mark)
    r = connect(port, fw.w.root.cert, fw.w.good, "1.3")
    assert r.alert == 44, r


def test_redirect_followed(broker_factory, fw):
    """A bounded redirect is followed (the loop above is not)."""
    fw.srv.set("/moved.crl", Reply.body(fw.cur_der))
    fw.srv.set("/inter.crl", Reply.redirect(fw.srv.url("/moved.crl"), 301))
    b = start(broker_factory, fw)
    fw.check_enforced(b.ports["ssl:default"])
    assert fw.srv.requests_for("/moved.crl")


def test_conditional_get_304_keeps_the_crl(broker_factory, fw):
    """ETag / If-None-Match: a 304 answer keeps the CRL in force (not an empty body)."""

    def etagged(req):
        if req.headers.get("if-none-match") == '"v1"':
            return Reply(304, b"", headers={"ETag": '"v1"'})
        return Reply(200, fw.cur_der, headers={"ETag": '"v1"'})

    fw.srv.set("/inter.crl", Reply(fn=etagged))
    b = start(broker_factory, fw)
    mark = b.log_mark()
    b.wait_for_log(r"crl_cache: refresh OK url=%s not_modified=true in_force=1" % re.escape(fw.url),
                   timeout=6, since=mark)
    assert any(q.headers.get("if-none-match") == '"v1"' for q in fw.srv.requests_for("/inter.crl"))
    fw.check_enforced(b.ports["ssl:default"], "1.3")
