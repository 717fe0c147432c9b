"""Admin API views of revocation (issue 15): the CRL cache with "refresh now",
TLS handshake counters by outcome and by alert sent (44 for a revoked client,
42 for a client whose issuer no CRL covers), client details with the
certificate, live sessions closed by a new CRL, the OCSP staple with
"refresh now", and the listener's TLS state. Real parts: openssl s_client,
paho over mutual TLS, CRLs from the test PKI served over HTTP, `openssl ocsp`.
"""

import re
import subprocess
import time

import pytest

import helpers
from httpfaults import World, crl_urls_line, file_server, ssl_conf, tls_paho  # noqa: F401
from pki import PKI, s_client
from test_admin_api import Admin, admin_conf

pytestmark = pytest.mark.revmq_only


def prom_value(text, name, labels=""):
    m = re.search(r"^%s%s (-?\d+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    assert m, (name, labels, text)
    return int(m.group(1))


def hs(port, w, cert, ver="1.3"):
    return s_client(port, cafile=w.root.cert, cert=cert.cert, key=cert.key, version=ver,
                    send=helpers.build_connect("probe", version=4), hold=0.5)


def test_crl_view_counters_details_and_refresh(broker_factory, tmp_path, file_server,  # noqa: F811
                                               tls_paho):  # noqa: F811
    fs = file_server()
    w = World(tmp_path / "w")
    dev = w.inter.client_cert("dev-7")
    w.inter.revoke(w.bad)
    url = fs.publish("inter.pem", w.inter.gencrl()[0])
    aconf, aport = admin_conf(tmp_path)
    b = broker_factory(aconf + ssl_conf(w, crl_urls_line(url), "crl_cache.refresh_interval = 1h",
                                        "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    a = Admin(aport)

    crl = a.get("/api/v5/revmq/crl")
    [src] = crl["sources"]
    assert src["kind"] == "url" and src["source"] == url and src["last_result"] == "ok"
    [c] = src["crls"]
    assert c["issuer"] == "CN=Test Intermediate" and c["entries"] == 1
    assert c["crl_number"] and re.fullmatch(r"[0-9a-f]+", c["crl_number"])
    assert 23 * 3600 < c["seconds_until_next_update"] <= 24 * 3600
    assert src["next_refresh_ms"] > 3000 * 1000
    first_fetch = src["last_fetch"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first_fetch)

    p0 = a.get("/api/v5/prometheus/stats")
    a44 = prom_value(p0, "revmq_tls_alerts_sent_total", '{alert="44"}')
    failed = prom_value(p0, "revmq_tls_handshakes_total", '{outcome="failed"}')
    ok = prom_value(p0, "revmq_tls_handshakes_total", '{outcome="ok"}')
    assert 20 * 3600 < prom_value(p0, "revmq_crl_seconds_until_next_update",
                                  '{source="%s",issuer="CN=Test Intermediate"}' % url) <= 86400

    r = hs(port, w, w.bad)
    assert r.alert == 44, r
    p1 = a.get("/api/v5/prometheus/stats")
    assert prom_value(p1, "revmq_tls_alerts_sent_total", '{alert="44"}') == a44 + 1
    assert prom_value(p1, "revmq_tls_handshakes_total", '{outcome="failed"}') == failed + 1
    assert prom_value(p1, "revmq_tls_alerts_sent_total", '{alert="42"}') == 0
    assert a.get("/api/v5/revmq/status")["refusals_last_hour"]["tls_handshake_failed"] >= 1
    m = a.get("/api/v5/metrics")[0]
    assert m["revmq.tls.alert_sent.certificate_revoked"] == a44 + 1

    # a connected client: its certificate in the details, counted as ok
    c7 = tls_paho(port, w.root.cert, dev.cert, dev.key, "dev-7", 5, "1.3")
    d = a.get("/api/v5/clients/dev-7")
    assert d["peercert"]["cn"] == "dev-7"
    assert d["peercert"]["subject"] == "CN=dev-7"
    assert d["peercert"]["issuer"] == "CN=Test Intermediate"
    assert d["peercert"]["serial"].lstrip("0") == dev.serial_hex.lstrip("0").lower() or \
        d["peercert"]["serial"].lstrip("0").upper() == dev.serial_hex.lstrip("0").upper()
    assert d["peercert"]["tls_version"] == "tlsv1.3"
    assert d["principal"] == "cert:CN=dev-7"
    assert d["listener"] == "ssl:default"
    p2 = a.get("/api/v5/prometheus/stats")
    assert prom_value(p2, "revmq_tls_handshakes_total", '{outcome="ok"}') == ok + 1
    assert prom_value(p2, "revmq_connections", '{listener="ssl:default"}') == 1
    assert prom_value(p2, "revmq_connections", '{listener="tcp:default"}') == 0

    # revoke dev-7, publish, "refresh now": the live session is closed and counted
    w.inter.revoke(dev)
    fs.publish("inter.pem", w.inter.gencrl()[0])
    mark = b.log_mark()
    st, body, _ = a.call("POST", "/api/v5/revmq/crl/refresh")
    assert st == 202, body
    b.wait_for_log(r"crl_cache: refresh OK url=.* entries=2 ", since=mark)
    helpers.wait_until(lambda: c7.events, timeout=5)
    assert c7.events[0][0] == 0x98 or getattr(c7.events[0][0], "value", None) == 0x98, c7.events
    crl2 = a.get("/api/v5/revmq/crl")
    assert crl2["sources"][0]["crls"][0]["entries"] == 2
    assert crl2["live_sessions_closed"] == 1
    assert crl2["refreshes_ok"] >= 2
    p3 = a.get("/api/v5/prometheus/stats")
    assert prom_value(p3, "revmq_revoked_sessions_closed_total") == 1
    assert prom_value(p3, "revmq_crl_refreshes_total", '{outcome="ok"}') >= 2

    # a failing refresh is shown with its reason and counted
    fs.stop()
    mark = b.log_mark()
    assert a.call("POST", "/api/v5/revmq/crl/refresh")[0] == 202
    b.wait_for_log(r"crl_cache: refresh failed url=", since=mark, timeout=10)
    src = a.get("/api/v5/revmq/crl")["sources"][0]
    assert src["last_result"] == "http_error", src
    assert src["crls"][0]["entries"] == 2  # the last good CRL stays in force
    p4 = a.get("/api/v5/prometheus/stats")
    assert prom_value(p4, "revmq_crl_refreshes_total", '{outcome="failed"}') >= 1


def test_uncovered_issuer_counts_alert_42(broker_factory, tmp_path, file_server):  # noqa: F811
    fs = file_server()
    w = World(tmp_path / "w")
    other = World(tmp_path / "o", inter_name="Other Intermediate")
    url = fs.publish("inter.pem", w.inter.gencrl()[0])
    cafile = PKI.write_bundle(str(tmp_path / "both.pem"), w.root.cert, w.inter.cert,
                              other.root.cert, other.inter.cert)
    aconf, aport = admin_conf(tmp_path)
    b = broker_factory(aconf + ssl_conf(w, crl_urls_line(url), "crl_cache.discover_from_cert = false",
                                        cafile=cafile),
                       extra_listeners=["ssl:default"])
    a = Admin(aport)
    r = s_client(b.ports["ssl:default"], cafile=w.root.cert, cert=other.good.cert,
                 key=other.good.key, version="1.2", send=helpers.build_connect("x"), hold=0.5)
    assert r.alert == 42, r
    p = a.get("/api/v5/prometheus/stats")
    assert prom_value(p, "revmq_tls_alerts_sent_total", '{alert="42"}') == 1
    assert prom_value(p, "revmq_tls_alerts_sent_total", '{alert="44"}') == 0


@pytest.fixture
def ocsp_world(tmp_path):
    port = helpers.free_port()
    url = f"http://127.0.0.1:{port}"
    p = PKI(tmp_path / "pki")
    inter = p.root.intermediate("Test Intermediate")
    w = type("W", (), {})()
    w.root, w.inter, w.url = p.root, inter, url
    w.server = inter.server_cert("server", ocsp_url=url)
    w.client = inter.client_cert("dev1")
    w.cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), p.root.cert, inter.cert)
    proc = subprocess.Popen(inter.ocsp_responder_cmd(port, nmin=10),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # never probe it with a bare connect (TESTING-NOTES.md)
    yield w
    proc.terminate()
    proc.wait(timeout=5)


def test_staple_and_listener_views_and_refresh(broker_factory, tmp_path, ocsp_world):
    w = ocsp_world
    base = "listeners.ssl.default.ssl_options"
    aconf, aport = admin_conf(tmp_path)
    b = broker_factory(aconf + "\n".join([
        f'{base}.certfile = "{w.server.fullchain}"', f'{base}.keyfile = "{w.server.key}"',
        f'{base}.cacertfile = "{w.cafile}"', f"{base}.verify = verify_peer",
        f"{base}.ocsp.enable_ocsp_stapling = true", f"{base}.ocsp.refresh_http_timeout = 5s",
        ""]), extra_listeners=["ssl:default"])
    a = Admin(aport)
    [s] = a.get("/api/v5/revmq/ocsp")["staples"]
    assert s["listener"] == "default" and s["responder"] == w.url
    assert s["status"] == "good" and s["last_error"] is None
    assert 9 * 60 - 30 < s["seconds_until_next_update"] <= 10 * 60 + 5
    assert s["ok"] == 1 and s["fetches"] == 1
    p = a.get("/api/v5/prometheus/stats")
    assert prom_value(p, "revmq_ocsp_staple_good", '{listener="ssl:default",status="good"}') == 1
    assert 0 < prom_value(p, "revmq_ocsp_staple_seconds_until_next_update",
                          '{listener="ssl:default"}') <= 600
    mark = b.log_mark()
    st, body, _ = a.call("POST", "/api/v5/revmq/ocsp/refresh")
    assert st == 202, body
    b.wait_for_log(r"ocsp: refresh OK listener=[a-z]+:default", since=mark, timeout=10)
    helpers.wait_until(lambda: a.get("/api/v5/revmq/ocsp")["staples"][0]["fetches"] == 2)
    [lst] = [x for x in a.get("/api/v5/revmq/listeners")["listeners"] if x["type"] == "ssl"]
    assert lst["id"] == "ssl:default" and lst["port"] == b.ports["ssl:default"]
    t = lst["tls"]
    assert t["certfile"] == str(w.server.fullchain) and t["stapling"] is True
    assert t["staple_status"] == "good" and t["subject"].endswith("CN=server")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["not_after"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["loaded_at"])
    # no CRL-checking listener: the CRL refresh says so
    st, body, _ = a.call("POST", "/api/v5/revmq/crl/refresh")
    assert st == 404


def test_handshake_timeout_counts_as_failed(broker_factory, tmp_path, file_server):  # noqa: F811
    import socket

    fs = file_server()
    w = World(tmp_path / "w")
    url = fs.publish("inter.pem", w.inter.gencrl()[0])
    aconf, aport = admin_conf(tmp_path)
    b = broker_factory(aconf + ssl_conf(w, crl_urls_line(url), "crl_cache.discover_from_cert = false",
                                        "listeners.ssl.default.ssl_options.handshake_timeout = 1s"),
                       extra_listeners=["ssl:default"])
    a = Admin(aport)
    before = prom_value(a.get("/api/v5/prometheus/stats"), "revmq_tls_handshakes_total",
                        '{outcome="failed"}')
    s = socket.create_connection(("127.0.0.1", b.ports["ssl:default"]))
    try:
        b.wait_for_log(r"net: handshake timeout listener=[a-z]+:default", timeout=5)
    finally:
        s.close()
    after = prom_value(a.get("/api/v5/prometheus/stats"), "revmq_tls_handshakes_total",
                       '{outcome="failed"}')
    assert after == before + 1
    assert prom_value(a.get("/api/v5/prometheus/stats"), "revmq_tls_handshakes_total",
                      '{outcome="ok"}') == 0
