"""CRL sources end to end (issue 4): configured URLs (`crl_cache_urls`) served by
`python3 -m http.server` and by `revmq-ca serve`, PEM and DER, a PEM body with two
CRLs, prefetch before the listener starts, revocation after start picked up by
the next refresh, a local `crlfile` re-read when it changes, SIGHUP refreshing
every source at once, and the capacity limit of discovered distribution points.

(What test_tls_revocation.py covers is not repeated: crlfile PEM/DER at start,
alert 42 without a CRL, CDP discovery and coalescing, resumption, check=chain.)
"""

import os
import re
import signal
import time

import pytest

import helpers
from ca_tools import revmq_ca  # noqa: F401
from httpfaults import (World, Reply, connect, copy_atomic, crl_urls_line, crlfile_line,  # noqa: F401
                        fault_server, file_server, forge, read, ssl_conf)
from pki import PKI, s_client

pytestmark = pytest.mark.revmq_only



@pytest.mark.parametrize("form,ver", [("pem", "1.2"), ("der", "1.3")])
def test_configured_url_prefetched_before_listener_starts(broker_factory, tmp_path, file_server,  # noqa: F811
                                                          ver, form):
    w = World(tmp_path / "w")
    w.inter.revoke(w.bad)
    pem, der = w.inter.gencrl()
    fs = file_server()
    url = fs.publish("inter." + form, pem if form == "pem" else der)
    b = broker_factory(ssl_conf(w, crl_urls_line(url), "crl_cache.discover_from_cert = false",
                                "crl_cache.refresh_interval = 1h"),
                       extra_listeners=["ssl:default"])
    # fetched, verified and in force before the listener accepted anything
    text = b.log_text()
    ok = re.search(r"crl_cache: refresh OK url=%s entries=1 this_update=\S+ next_update=\S+ "
                   r"issuer=\"CN=Test Intermediate\"" % re.escape(url), text)
    started = text.find("listener: started name=default kind=ssl")
    assert ok and ok.start() < started, b.log_tail()
    # the very first handshake is already enforced
    port = b.ports["ssl:default"]
    r = connect(port, w.root.cert, w.bad, ver)
    assert r.alert == 44, r
    b.wait_for_log(r"tls: client certificate rejected listener=[a-z]+:default serial=%s .*reason=revoked"
                   % w.bad.serial_hex)
    r = connect(port, w.root.cert, w.good, ver)
    assert r.ok, r


def test_pem_body_with_two_crls(broker_factory, tmp_path, file_server):  # noqa: F811
    p = PKI(tmp_path / "pki")
    a = p.root.intermediate("Inter A")
    bca = p.root.intermediate("Inter B")
    server = a.server_cert("server")
    certs = {n: ca.client_cert(n) for n, ca in
             (("good-a", a), ("bad-a", a), ("good-b", bca), ("bad-b", bca))}
    a.revoke(certs["bad-a"])
    bca.revoke(certs["bad-b"])
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), p.root.cert, a.cert, bca.cert)
    both = read(a.gencrl()[0]) + read(bca.gencrl()[0])
    assert both.count(b"-----BEGIN X509 CRL-----") == 2
    fs = file_server()
    url = fs.publish("both.pem", both)
    w = type("W", (), {"server": server, "cafile": cafile})()
    b = broker_factory(ssl_conf(w, crl_urls_line(url), "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    for issuer in ("Inter A", "Inter B"):
        b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 .*issuer=\"CN=%s\""
                       % (re.escape(url), issuer))
    port = b.ports["ssl:default"]
    for n in ("bad-a", "bad-b"):
        r = connect(port, p.root.cert, certs[n], "1.3")
        assert r.alert == 44, (n, r)
    for n in ("good-a", "good-b"):  # without the second CRL, B's clients would get alert 42
        r = connect(port, p.root.cert, certs[n], "1.3")
        assert r.ok, (n, r)


def test_revoked_after_start_rejected_after_next_refresh(broker_factory, tmp_path,
                                                         file_server):  # noqa: F811
    w = World(tmp_path / "w")
    fs = file_server()
    url = fs.publish("inter.der", w.inter.gencrl()[1])
    b = broker_factory(ssl_conf(w, crl_urls_line(url), "crl_cache.refresh_interval = 1s",
                                "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = connect(port, w.root.cert, w.bad, "1.3")
    assert r.ok, r  # not revoked yet

    w.inter.revoke(w.bad)
    mark = b.log_mark()
    fs.publish("inter.der", w.inter.gencrl()[1])
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(url), timeout=5,
                   since=mark)
    for ver in ("1.2", "1.3"):
        r = connect(port, w.root.cert, w.bad, ver)
        assert r.alert == 44, r
    r = connect(port, w.root.cert, w.good, "1.2")
    assert r.ok, r


@pytest.mark.parametrize("form", ["pem", "der"])
def test_revmq_ca_crl_revocation_after_start(broker_factory, tmp_path, revmq_ca, form):  # noqa: F811
    ca = revmq_ca
    server = ca.issue("localhost", cert_type="server")
    dev1 = ca.issue("device-1")
    dev2 = ca.issue("device-2")
    url = ca.crl_url(pem=form == "pem")
    base = "listeners.ssl.default.ssl_options"
    conf = "\n".join([
        f'{base}.certfile = "{server.cert}"', f'{base}.keyfile = "{server.key}"',
        f'{base}.cacertfile = "{server.ca_cert}"', f"{base}.verify = verify_peer",
        f"{base}.fail_if_no_peer_cert = true", f"{base}.enable_crl_check = true",
        crl_urls_line(url), "crl_cache.refresh_interval = 1s",
        "crl_cache.discover_from_cert = false"]) + "\n"
    b = broker_factory(conf, extra_listeners=["ssl:default"])
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=0 " % re.escape(url))
    port = b.ports["ssl:default"]

    def conn(dev):
        return s_client(port, cafile=dev.ca_cert, cert=dev.cert, key=dev.key, version="1.3",
                        send=helpers.build_connect("d", version=4), hold=0.6)

    r = conn(dev1)
    assert r.ok, r
    mark = b.log_mark()
    ca.revoke(dev1.serial)
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(url), timeout=6,
                   since=mark)
    r = conn(dev1)
    assert r.alert == 44, r
    b.wait_for_log(r"tls: client certificate rejected .*serial=%s .*reason=revoked" % dev1.serial)
    r = conn(dev2)
    assert r.ok, r


def test_crlfile_reloaded_when_it_changes(broker_factory, tmp_path):
    w = World(tmp_path / "w")
    live = tmp_path / "live-crl.pem"
    copy_atomic(w.inter.gencrl()[0], live)
    b = broker_factory(ssl_conf(w, crlfile_line(live)), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = connect(port, w.root.cert, w.bad, "1.2")
    assert r.ok, r
    w.inter.revoke(w.bad)
    mark = b.log_mark()
    copy_atomic(w.inter.gencrl()[1], live)  # now DER, same file name: sniffed by content
    b.wait_for_log(r"crl_cache: refresh OK file=%s entries=1 " % re.escape(str(live)), timeout=5,
                   since=mark)
    r = connect(port, w.root.cert, w.bad, "1.2")
    assert r.alert == 44, r
    r = connect(port, w.root.cert, w.good, "1.2")
    assert r.ok, r


def test_sighup_refreshes_every_source_at_once(broker_factory, tmp_path, file_server):  # noqa: F811
    p = PKI(tmp_path / "pki")
    a = p.root.intermediate("Inter A")
    bca = p.root.intermediate("Inter B")
    server = a.server_cert("server")
    bad_a, bad_b = a.client_cert("bad-a"), bca.client_cert("bad-b")
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), p.root.cert, a.cert, bca.cert)
    fs = file_server()
    url_a = fs.publish("a.der", a.gencrl()[1])
    url_b = fs.publish("b.pem", bca.gencrl()[0])
    w = type("W", (), {"server": server, "cafile": cafile})()
    b = broker_factory(ssl_conf(w, crl_urls_line(url_a, url_b), "crl_cache.refresh_interval = 1h",
                                "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    a.revoke(bad_a)
    bca.revoke(bad_b)
    fs.publish("a.der", a.gencrl()[1])
    fs.publish("b.pem", bca.gencrl()[0])
    # no refresh for an hour: the new CRLs are not seen yet
    r = connect(port, p.root.cert, bad_a, "1.3")
    assert r.ok, r

    mark = b.log_mark()
    os.kill(b.proc.pid, signal.SIGHUP)
    b.wait_for_log(r"crl_cache: refreshing every source now", since=mark)
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(url_a), since=mark)
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(url_b), since=mark)
    for c in (bad_a, bad_b):
        r = connect(port, p.root.cert, c, "1.3")
        assert r.alert == 44, (c, r)


def test_capacity_evicts_least_recently_wanted_url(broker_factory, tmp_path, fault_server):  # noqa: F811
    srv = fault_server()
    p = PKI(tmp_path / "pki")
    cas, clients = [], []
    for i in (1, 2, 3):
        ca = p.root.intermediate(f"Inter {i}")
        cas.append(ca)
        clients.append(ca.client_cert(f"dev{i}", crl_url=srv.url(f"/i{i}.crl")))
        srv.set(f"/i{i}.crl", Reply.body(read(ca.gencrl()[1])))
    server = cas[0].server_cert("server")
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), p.root.cert, *[c.cert for c in cas])
    w = type("W", (), {"server": server, "cafile": cafile})()
    b = broker_factory(ssl_conf(w, "crl_cache.capacity = 2", "crl_cache.refresh_interval = 1h",
                                "crl_cache.discover_from_cert = true"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    saved = b.data_dir / "crl"

    def nsaved():
        return len(list(saved.glob("*.crl"))) if saved.exists() else 0

    for i, c in enumerate(clients[:2]):
        r = connect(port, p.root.cert, c, "1.3", hold=1.0)
        assert r.ok, r
    assert "crl_cache: evicted" not in b.log_text()
    helpers.wait_until(lambda: nsaved() == 2, timeout=5, what="2 saved CRLs")
    r = connect(port, p.root.cert, clients[2], "1.3", hold=1.0)
    assert r.ok, r
    b.wait_for_log(r"crl_cache: evicted url=%s capacity=2" % re.escape(srv.url("/i1.crl")))
    helpers.wait_until(lambda: nsaved() == 2, timeout=5, what="the evicted CRL's file removed")
    assert [len(srv.requests_for(f"/i{i}.crl")) for i in (1, 2, 3)] == [1, 1, 1]
    # dev1's issuer has no CRL any more: its next handshake fetches /i1.crl again,
    # evicting the least recently wanted one now (/i2.crl)
    mark = b.log_mark()
    r = connect(port, p.root.cert, clients[0], "1.3", hold=1.0)
    assert r.ok, r
    assert len(srv.requests_for("/i1.crl")) == 2
    b.wait_for_log(r"crl_cache: evicted url=%s capacity=2" % re.escape(srv.url("/i2.crl")),
                   since=mark)
    # the two others are still cached: no new fetch for dev3
    r = connect(port, p.root.cert, clients[2], "1.3")
    assert r.ok, r
    assert len(srv.requests_for("/i3.crl")) == 1


def test_sighup_storm_fetches_each_url_at_most_once_a_second(broker_factory, tmp_path,
                                                             fault_server):  # noqa: F811
    w = World(tmp_path / "w")
    srv = fault_server()
    srv.set("/inter.crl", Reply.body(read(w.inter.gencrl()[1])))
    url = srv.url("/inter.crl")
    b = broker_factory(ssl_conf(w, crl_urls_line(url), "crl_cache.refresh_interval = 1h",
                                "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    n0 = len(srv.requests_for("/inter.crl"))
    t0 = time.monotonic()
    for _ in range(10):
        os.kill(b.proc.pid, signal.SIGHUP)
        time.sleep(0.05)
    helpers.wait_until(lambda: b.log_text().count("crl_cache: refreshing every source now") >= 2,
                       timeout=5, what="SIGHUPs handled")
    time.sleep(max(0.0, t0 + 2.5 - time.monotonic()))  # the window being measured
    reqs = srv.requests_for("/inter.crl")[n0:]
    assert 1 <= len(reqs) <= 3, [q.time - t0 for q in reqs]
    gaps = [b2.time - a.time for a, b2 in zip(reqs, reqs[1:])]
    assert all(g >= 0.9 for g in gaps), gaps
    r = connect(b.ports["ssl:default"], w.root.cert, w.good, "1.3")
    assert r.ok, r


def test_emqx44_flat_keys_drive_crl_and_ocsp(broker_factory, tmp_path, fault_server):  # noqa: F811
    """The EMQX 4.4 form end to end: `listener.ssl.external.*` with a comma-separated
    crl_cache_urls, the crl_cache_* and ocsp_* aliases (1 s intervals: refreshes are
    seen, which the 15m / 5m defaults would not do)."""
    srv = fault_server()
    p = PKI(tmp_path / "pki")
    a = p.root.intermediate("Inter A")
    bca = p.root.intermediate("Inter B")
    server = a.server_cert("server")
    good_a, bad_b = a.client_cert("good-a"), bca.client_cert("bad-b")
    bca.revoke(bad_b)
    srv.set("/a.crl", Reply.body(read(a.gencrl()[1])))
    srv.set("/b.crl", Reply.body(read(bca.gencrl()[0])))
    srv.set("/ocsp", Reply.body(forge(server.cert, a.cert, a.cert, a.key),
                                "application/ocsp-response"))
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), p.root.cert, a.cert, bca.cert)
    port = helpers.free_port()
    ext = "listener.ssl.external"
    conf = "\n".join([
        f"{ext} = 127.0.0.1:{port}",
        f"{ext}.certfile = {server.fullchain}",
        f"{ext}.keyfile = {server.key}",
        f"{ext}.cacertfile = {cafile}",
        f"{ext}.verify = verify_peer",
        f"{ext}.fail_if_no_peer_cert = true",
        f"{ext}.enable_crl_check = true",
        f"{ext}.crl_cache_urls = {srv.url('/a.crl')},{srv.url('/b.crl')}",
        "crl_cache_refresh_interval = 1s",
        "crl_cache_http_timeout = 2s",
        f"{ext}.enable_ocsp_stapling = true",
        f"{ext}.ocsp_responder_url = {srv.url('/ocsp')}",
        f"{ext}.ocsp_issuer_pem = {a.cert}",
        f"{ext}.ocsp_refresh_interval = 1s",
        f"{ext}.ocsp_refresh_http_timeout = 2s",
    ]) + "\n"
    b = broker_factory(conf)
    b.wait_for_log(r"listener: started name=external kind=ssl bind=127.0.0.1:%d" % port)
    for u in ("/a.crl", "/b.crl"):
        b.wait_for_log(r"crl_cache: refresh OK url=%s entries=" % re.escape(srv.url(u)))
    r = connect(port, p.root.cert, bad_b, "1.3")
    assert r.alert == 44, r
    r = s_client(port, cafile=p.root.cert, cert=good_a.cert, key=good_a.key, version="1.3",
                 status=True, send=helpers.build_connect("c", version=4), hold=0.6)
    assert r.ok and r.ocsp == "good", r
    # both refresh intervals are 1 s
    n_crl, n_ocsp = len(srv.requests_for("/a.crl")), len(srv.requests_for("/ocsp"))
    helpers.wait_until(lambda: len(srv.requests_for("/a.crl")) > n_crl
                       and len(srv.requests_for("/ocsp")) > n_ocsp, timeout=4,
                       what="CRL and OCSP refreshes within a few seconds")
