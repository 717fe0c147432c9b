"""The TLS session cache is bounded by memory (issue 18):
listeners.ssl.<name>.ssl_options.session_cache_memory.

- with a small budget, the oldest sessions are dropped once newer ones fill
  it (their clients do a full handshake), while a recent one still resumes;
- whatever the budget, a client whose certificate is revoked after it got a
  session never resumes it (TLS 1.2 session id, TLS 1.3 stateful ticket).
"""

import os
import subprocess

import pytest

import helpers
from pki import PKI, s_client
from test_tls_revocation import conf as ssl_conf

pytestmark = pytest.mark.revmq_only

VERS = pytest.mark.parametrize("ver", ["1.2", "1.3"])
BUDGET = "64KB"  # the smallest allowed: ~10 mutual-TLS sessions (~6 KB each)
FILLERS = 20     # ~120 KB of newer sessions: the first session cannot stay


class World:
    def __init__(self, d):
        self.pki = PKI(d / "pki")
        self.root = self.pki.root
        self.inter = self.root.intermediate("Test Intermediate")
        self.server = self.inter.server_cert("server")
        self.good = self.inter.client_cert("good")
        self.bad = self.inter.client_cert("bad")
        self.cafile = PKI.write_bundle(str(d / "ca.pem"), self.root.cert, self.inter.cert)


def conf(w, crl, budget=BUDGET):
    base = "listeners.ssl.default.ssl_options"
    return ssl_conf(w, f'{base}.crlfile = ["{crl}"]', f"{base}.session_cache_memory = {budget}")


def connect(port, w, cert, ver, hold=0.6, **kw):
    return s_client(port, cafile=w.root.cert, cert=cert.cert, key=cert.key, version=ver,
                    send=helpers.build_connect("c", version=4), hold=hold, **kw)


def write_crl(w, path):
    pem, _ = w.inter.gencrl()
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(open(pem, "rb").read())
    tmp.replace(path)


def start(broker_factory, tmp_path, budget=BUDGET):
    w = World(tmp_path)
    crl = tmp_path / "crl.pem"
    write_crl(w, crl)
    b = broker_factory(conf(w, crl, budget), extra_listeners=["ssl:default"])
    return w, crl, b, b.ports["ssl:default"]


def fill(port, w, ver):
    for _ in range(FILLERS):  # each full handshake caches one more session
        r = connect(port, w, w.good, ver, hold=0.3)
        assert r.ok and not r.reused, r


@VERS
def test_oldest_session_dropped_past_the_budget(broker_factory, tmp_path, ver):
    w, _, b, port = start(broker_factory, tmp_path)
    b.wait_for_log(r"listener ready listener=ssl:default .* session_cache_memory=65536")
    first, last = tmp_path / "first.pem", tmp_path / "last.pem"
    r = connect(port, w, w.bad, ver, sess_out=first)
    assert r.ok and not r.reused, r
    r = connect(port, w, w.bad, ver, sess_in=first)
    assert r.ok and r.reused, r  # cached while the budget has room
    fill(port, w, ver)
    r = connect(port, w, w.good, ver, sess_out=last)
    assert r.ok and not r.reused, r
    r = connect(port, w, w.bad, ver, sess_in=first)
    assert r.ok and not r.reused, ("the oldest session outlived the memory budget", r)
    r = connect(port, w, w.good, ver, sess_in=last)
    assert r.ok and r.reused, ("a recent session was dropped", r)


@VERS
def test_revoked_client_never_resumes_with_a_small_cache(broker_factory, tmp_path, ver):
    w, crl, b, port = start(broker_factory, tmp_path)
    fill(port, w, ver)  # the cache is full: every new session evicts an old one
    sess = tmp_path / "bad.pem"
    r = connect(port, w, w.bad, ver, sess_out=sess)
    assert r.ok and not r.reused, r
    r = connect(port, w, w.bad, ver, sess_in=sess)
    assert r.ok and r.reused, r  # resumption works while the certificate is good
    mark = b.log_mark()
    w.inter.revoke(w.bad)
    write_crl(w, crl)
    b.wait_for_log(r"crl_cache: refresh OK", timeout=10, since=mark)
    r = connect(port, w, w.bad, ver, sess_in=sess, hold=1.5)
    assert not r.reused, r
    assert r.alert == 44, r
    b.wait_for_log(r'reason=revoked detail="resumption refused', since=mark)


def test_budget_below_the_minimum_is_refused(tmp_path):
    f = tmp_path / "small.conf"
    f.write_text("listeners.ssl.default.ssl_options.session_cache_memory = 1KB\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REVMQ_", "EMQX_"))}
    r = subprocess.run([str(helpers.build_dir() / "revmq"), "--check-config", "--skip-files",
                        "-c", str(f)], capture_output=True, text=True, timeout=20, env=env)
    assert r.returncode != 0, r
    assert "session_cache_memory" in r.stderr + r.stdout, r
