"""CRL persistence and fail-closed start (issue 4): the last good CRL of each
source is saved under node.data_dir and used after a restart while the CRL
server is down; with nothing saved and the server down the listener fails
closed (alert 42) and recovers by itself once the server answers.
"""

import datetime
import os
import re
import time

import pytest

import helpers
import pki

from httpfaults import (World, Reply, connect, crl_urls_line, fault_server, read,  # noqa: F401
                        ssl_conf)

pytestmark = pytest.mark.revmq_only


def _conf(w, url, *extra):
    return ssl_conf(w, crl_urls_line(url), "crl_cache.refresh_interval = 1s",
                    "crl_cache.http_timeout = 1s", *extra)


@pytest.mark.parametrize("down", ["refused", "http_500"])
def test_restart_with_crl_server_down_uses_saved_crl(broker_factory, tmp_path, fault_server,  # noqa: F811
                                                     down):
    w = World(tmp_path / "w")
    w.inter.revoke(w.bad)
    srv = fault_server()
    srv.set("/inter.crl", Reply.body(read(w.inter.gencrl()[1])))
    url = srv.url("/inter.crl")
    b = broker_factory(_conf(w, url, "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(url))
    assert list((b.data_dir / "crl").glob("*.crl")), "nothing saved under node.data_dir/crl"
    b.stop()

    if down == "refused":
        srv.stop()
    else:
        srv.set("/inter.crl", Reply.status(500))
    mark = b.log_mark()
    b.start()
    b.wait_for_log(r"crl_cache: loaded saved CRL url=%s entries=1 " % re.escape(url), since=mark)
    b.wait_for_log(r"crl_cache: refresh failed url=%s reason=%s .*in_force=1"
                   % (re.escape(url), "http_error" if down == "refused" else "http_status"),
                   since=mark)
    port = b.ports["ssl:default"]
    r = connect(port, w.root.cert, w.bad, "1.3")
    assert r.alert == 44, r
    r = connect(port, w.root.cert, w.good, "1.3")
    assert r.ok, r  # without the saved CRL: alert 42


def test_restart_keeps_discovered_distribution_points(broker_factory, tmp_path, fault_server):  # noqa: F811
    srv = fault_server()
    url = srv.url("/inter.crl")
    w = World(tmp_path / "w", crl_url=url)
    w.inter.revoke(w.bad)
    srv.set("/inter.crl", Reply.body(read(w.inter.gencrl()[0])))
    b = broker_factory(ssl_conf(w, "crl_cache.refresh_interval = 1s", "crl_cache.http_timeout = 1s"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = connect(port, w.root.cert, w.good, "1.2", hold=1.5)
    assert r.ok, r  # discovered on this handshake
    b.stop()
    srv.stop()
    mark = b.log_mark()
    b.start()
    b.wait_for_log(r"crl_cache: loaded saved CRL url=%s entries=1 " % re.escape(url), since=mark)
    r = connect(port, w.root.cert, w.bad, "1.2")
    assert r.alert == 44, r
    r = connect(port, w.root.cert, w.good, "1.2")
    assert r.ok, r


def test_nothing_saved_and_server_down_fails_closed_then_recovers(broker_factory, tmp_path,
                                                                   fault_server):  # noqa: F811
    w = World(tmp_path / "w")
    w.inter.revoke(w.bad)
    der = read(w.inter.gencrl()[1])
    srv = fault_server()
    url = srv.url("/inter.crl")
    srv.stop()  # nobody listens on that port yet
    b = broker_factory(_conf(w, url, "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    b.wait_for_log(r"crl_cache: refresh failed url=%s reason=http_error .*in_force=0 "
                   r"fail_closed=true" % re.escape(url))
    port = b.ports["ssl:default"]
    for c in (w.good, w.bad):
        r = connect(port, w.root.cert, c, "1.3")
        assert r.alert == 42, r
    b.wait_for_log(r"tls: client certificate rejected .*serial=%s .*reason=no_crl"
                   % w.good.serial_hex)
    # said once per refresh attempt (1 s, backing off), not once per handshake
    before = b.log_text().count("crl_cache: refresh failed url=")
    t0 = time.monotonic()
    for _ in range(8):
        assert connect(port, w.root.cert, w.good, "1.2").alert == 42
    elapsed = time.monotonic() - t0
    fails = b.log_text().count("crl_cache: refresh failed url=") - before
    assert fails <= elapsed + 1 and fails < 8, (fails, elapsed, b.log_tail())

    srv.set("/inter.crl", Reply.body(der))
    srv.start()
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(url), timeout=8)
    r = connect(port, w.root.cert, w.good, "1.3")
    assert r.ok, r
    r = connect(port, w.root.cert, w.bad, "1.3")
    assert r.alert == 44, r


def _short_lived_crl(ca, seconds):
    """A CRL of `ca` whose nextUpdate is `seconds` from now (DER bytes)."""
    now = pki._utc_now()
    pem = os.path.join(ca.dir, "crl-short.pem")
    with pki._LOCK:
        pki.openssl("ca", "-batch", "-config", ca.cnf, "-gencrl", "-out", pem, "-crlexts", "crl_ext",
                    "-crl_lastupdate", pki._asn1time(now - datetime.timedelta(seconds=10)),
                    "-crl_nextupdate", pki._asn1time(now + datetime.timedelta(seconds=seconds)))
    return pki.openssl("crl", "-in", pem, "-outform", "DER")


def test_crl_past_next_update_fails_closed_unless_stale_grace(broker_factory, tmp_path,
                                                              fault_server):  # noqa: F811
    """Two brokers on the same short-lived CRL, stale_grace 0s and 1h; refreshes fail."""
    w = World(tmp_path / "w")
    w.inter.revoke(w.bad)
    srv = fault_server()
    url = srv.url("/inter.crl")
    srv.set("/inter.crl", Reply.body(_short_lived_crl(w.inter, 3)))
    expires = time.time() + 3
    brokers = {g: broker_factory(_conf(w, url, "crl_cache.discover_from_cert = false",
                                       f"crl_cache.stale_grace = {g}"),
                                 extra_listeners=["ssl:default"])
               for g in ("0s", "1h")}
    for b in brokers.values():
        r = connect(b.ports["ssl:default"], w.root.cert, w.good, "1.3")
        assert r.ok, r
    srv.set("/inter.crl", Reply.status(503))  # refreshes fail from now on
    time.sleep(max(0.0, expires - time.time()) + 1.2)  # let nextUpdate pass
    marks = {g: b.log_mark() for g, b in brokers.items()}
    lines = {g: b.wait_for_log(r"crl_cache: refresh failed url=%s reason=http_status .*$"
                               % re.escape(url), timeout=6, since=marks[g]).group(0)
             for g, b in brokers.items()}

    port = brokers["0s"].ports["ssl:default"]
    assert "stale=true fail_closed=true" in lines["0s"], lines["0s"]
    r = connect(port, w.root.cert, w.good, "1.3")
    assert r.alert == 42, r  # no usable CRL any more: fail closed
    r = connect(port, w.root.cert, w.bad, "1.3")
    assert r.alert == 44, r  # a serial listed even in a stale CRL stays revoked (snapshot.c)

    port = brokers["1h"].ports["ssl:default"]
    assert "stale" not in lines["1h"] and "fail_closed" not in lines["1h"], lines["1h"]
    r = connect(port, w.root.cert, w.good, "1.3")
    assert r.ok, r
    r = connect(port, w.root.cert, w.bad, "1.3")
    assert r.alert == 44, r


def test_restart_after_saved_crl_expired_fails_closed(broker_factory, tmp_path,
                                                      fault_server):  # noqa: F811
    w = World(tmp_path / "w")
    srv = fault_server()
    url = srv.url("/inter.crl")
    srv.set("/inter.crl", Reply.body(_short_lived_crl(w.inter, 3)))
    expires = time.time() + 3
    b = broker_factory(_conf(w, url, "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    assert connect(b.ports["ssl:default"], w.root.cert, w.good, "1.2").ok
    b.stop()
    srv.stop()
    time.sleep(max(0.0, expires - time.time()) + 1.2)  # let nextUpdate pass
    mark = b.log_mark()
    b.start()
    b.wait_for_log(r"crl_cache: saved CRL rejected url=%s reason=next_update_past" % re.escape(url),
                   since=mark)
    r = connect(b.ports["ssl:default"], w.root.cert, w.good, "1.2")
    assert r.alert == 42, r


def test_shutdown_while_a_crl_fetch_hangs(broker_factory, tmp_path, fault_server):  # noqa: F811
    w = World(tmp_path / "w")
    srv = fault_server()
    url = srv.url("/inter.crl")
    srv.set("/inter.crl", Reply.body(read(w.inter.gencrl()[1])))
    b = broker_factory(ssl_conf(w, crl_urls_line(url), "crl_cache.refresh_interval = 1s",
                                "crl_cache.http_timeout = 60s"),
                       extra_listeners=["ssl:default"])
    n = len(srv.requests_for("/inter.crl"))
    srv.set("/inter.crl", Reply.hang())
    helpers.wait_until(lambda: len(srv.requests_for("/inter.crl")) > n, timeout=5,
                       what="the next refresh to start")
    t0 = time.monotonic()
    b.stop()  # SIGTERM: exit code 0, clean log (asserted by stop)
    assert time.monotonic() - t0 < 3, "shutdown waited for the hanging fetch"
