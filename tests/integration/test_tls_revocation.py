"""Revocation at the TLS handshake (issue 4, handshake part): the verify
callback against the real CRL engine.

- revoked client -> alert 44 certificate_revoked (TLS 1.2 and 1.3), logged
  with serial and issuer; PEM and DER CRL files;
- issuer not covered by any CRL -> alert 42 bad_certificate (fail closed);
- a CRL distribution point never seen suspends that handshake until the
  fetch is done (SSL handshake completes in ONE attempt, no retry);
- a resumed session (TLS 1.2 session id, TLS 1.3 stateful ticket) cannot
  bypass a revocation made after the first connection;
- crl_cache.check = chain: a revoked intermediate -> alert 44.
"""

import socket
import subprocess
import threading
import time

import pytest

import helpers
from pki import PKI, s_client

pytestmark = pytest.mark.revmq_only

VERS = pytest.mark.parametrize("ver", ["1.2", "1.3"])


class World:
    def __init__(self, d, crl_url=None):
        self.pki = PKI(d / "pki")
        self.root = self.pki.root
        self.inter = self.root.intermediate("Test Intermediate")
        self.server = self.inter.server_cert("server")
        self.good = self.inter.client_cert("good", crl_url=crl_url)
        self.bad = self.inter.client_cert("bad", crl_url=crl_url)
        self.cafile = PKI.write_bundle(str(d / "ca.pem"), self.root.cert, self.inter.cert)
        self.dir = d


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def conf(w, *lines):
    base = "listeners.ssl.default.ssl_options"
    out = [
        f'{base}.certfile = "{w.server.fullchain}"',
        f'{base}.keyfile = "{w.server.key}"',
        f'{base}.cacertfile = "{w.cafile}"',
        f"{base}.verify = verify_peer",
        f"{base}.fail_if_no_peer_cert = true",
        f"{base}.enable_crl_check = true",
    ]
    return "\n".join(out + list(lines)) + "\n"


def crlfile_line(*paths):
    return "listeners.ssl.default.ssl_options.crlfile = [%s]" % ", ".join(f'"{p}"' for p in paths)


def connect(port, w, cert, ver=None, **kw):
    return s_client(port, cafile=w.root.cert, cert=cert.cert, key=cert.key, version=ver,
                    send=helpers.build_connect("c", version=4), hold=kw.pop("hold", 0.6), **kw)


@VERS
@pytest.mark.parametrize("form", ["pem", "der"])
def test_revoked_client_gets_alert_44(broker_factory, world, ver, form):
    world.inter.revoke(world.bad)
    pem, der = world.inter.gencrl()
    b = broker_factory(conf(world, crlfile_line(pem if form == "pem" else der)),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = connect(port, world, world.bad, ver)
    assert r.alert == 44, r
    b.wait_for_log(r"tls: client certificate rejected listener=[a-z]+:default serial=%s "
                   r"issuer=\"CN=Test Intermediate\".* reason=revoked" % world.bad.serial_hex)
    r = connect(port, world, world.good, ver)
    assert r.ok, r


@VERS
def test_no_crl_fails_closed_with_alert_42(broker_factory, world, ver):
    # only the root's CRL is loaded: the intermediate (the client's issuer) is not covered
    pem, _ = world.root.gencrl()
    b = broker_factory(conf(world, crlfile_line(pem)), extra_listeners=["ssl:default"])
    r = connect(b.ports["ssl:default"], world, world.good, ver)
    assert r.alert == 42, r
    b.wait_for_log(r"tls: client certificate rejected .*serial=%s .*reason=no_crl" %
                   world.good.serial_hex)


@pytest.fixture
def crl_server(tmp_path):
    """python -m http.server on a free port serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    port = helpers.free_port()
    p = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", str(port), "--bind",
                          "127.0.0.1", "--directory", str(www)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    helpers.wait_until(up, timeout=10)
    yield www, port, p
    p.terminate()
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


@VERS
def test_cdp_discovery_suspends_handshake(broker_factory, tmp_path, crl_server, ver):
    www, port, srv = crl_server
    url = f"http://127.0.0.1:{port}/inter.der"
    w = World(tmp_path / "w", crl_url=url)
    w.inter.revoke(w.bad)
    _, der = w.inter.gencrl()
    (www / "inter.der").write_bytes(open(der, "rb").read())
    b = broker_factory(conf(w, "crl_cache.discover_from_cert = true"),
                       extra_listeners=["ssl:default"])
    bport = b.ports["ssl:default"]
    # first sight of the distribution point: the handshake waits for the fetch, then passes
    r = connect(bport, w, w.good, ver, hold=1.5)
    assert r.ok, r
    b.wait_for_log(r"tls: fetching CRL distribution point listener=[a-z]+:default url=\"?%s" % url)
    # the CRL is now cached: the revoked one is refused at once, the good one passes
    r = connect(bport, w, w.bad, ver)
    assert r.alert == 44, r
    r = connect(bport, w, w.good, ver)
    assert r.ok, r
    assert b.log_text().count("tls: fetching CRL distribution point") == 1


@VERS
def test_cdp_discovery_revoked_on_first_sight(broker_factory, tmp_path, crl_server, ver):
    www, port, srv = crl_server
    url = f"http://127.0.0.1:{port}/inter.pem"
    w = World(tmp_path / "w", crl_url=url)
    w.inter.revoke(w.bad)
    pem, _ = w.inter.gencrl()
    (www / "inter.pem").write_bytes(open(pem, "rb").read())
    b = broker_factory(conf(w), extra_listeners=["ssl:default"])
    r = connect(b.ports["ssl:default"], w, w.bad, ver, hold=1.5)
    assert r.alert == 44, r


def test_cdp_unreachable_fails_closed(broker_factory, tmp_path):
    url = f"http://127.0.0.1:{helpers.free_port()}/nothing.der"  # nobody listens
    w = World(tmp_path / "w", crl_url=url)
    b = broker_factory(conf(w, "crl_cache.http_timeout = 2s"), extra_listeners=["ssl:default"])
    r = connect(b.ports["ssl:default"], w, w.good, "1.3", hold=1.5)
    assert r.alert == 42, r


@VERS
def test_resumption_cannot_bypass_revocation(broker_factory, world, tmp_path, ver):
    crl = tmp_path / "live-crl.pem"
    pem, _ = world.inter.gencrl()
    crl.write_bytes(open(pem, "rb").read())
    b = broker_factory(conf(world, crlfile_line(crl)), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    sess = tmp_path / "sess.pem"
    r = connect(port, world, world.bad, ver, sess_out=sess)
    assert r.ok and not r.reused, r
    assert sess.exists()
    r = connect(port, world, world.bad, ver, sess_in=sess)
    assert r.ok and r.reused, r  # resumption works while the certificate is good

    mark = b.log_mark()
    world.inter.revoke(world.bad)
    pem, _ = world.inter.gencrl()
    tmp = tmp_path / "crl.tmp"
    tmp.write_bytes(open(pem, "rb").read())
    tmp.replace(crl)
    b.wait_for_log(r"crl_cache: refresh OK", timeout=10, since=mark)
    r = connect(port, world, world.bad, ver, sess_in=sess)
    assert not r.reused, r
    assert r.alert == 44, r
    b.wait_for_log(r'reason=revoked detail="resumption refused', since=mark)


@pytest.mark.parametrize("ver", ["1.2", "1.3"])
def test_chain_check_refuses_resumption(broker_factory, world, tmp_path, ver):
    """check = chain: a stored session holds only the leaf, so a revoked
    intermediate could not be seen on resumption; revmq never resumes then."""
    root_pem, _ = world.root.gencrl()
    inter_pem, _ = world.inter.gencrl()
    b = broker_factory(conf(world, crlfile_line(inter_pem, root_pem)) + "crl_cache.check = chain\n",
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    sess = tmp_path / "sess.pem"
    r = connect(port, world, world.good, ver, sess_out=sess)
    assert r.ok and not r.reused, r
    assert sess.exists()
    r = connect(port, world, world.good, ver, sess_in=sess)
    assert r.ok and not r.reused, r  # full handshake: the chain is verified again


def test_chain_check_revoked_intermediate(broker_factory, world):
    inter_pem, _ = world.inter.gencrl()
    world.root.revoke(world.inter.cert)
    root_pem, _ = world.root.gencrl()
    base = conf(world, crlfile_line(inter_pem, root_pem))
    b = broker_factory(base + "crl_cache.check = chain\n", extra_listeners=["ssl:default"])
    r = connect(b.ports["ssl:default"], world, world.good, "1.2")
    assert r.alert == 44, r
    b.wait_for_log(r"tls: client certificate rejected .*subject=\"CN=Test Intermediate\" "
                   r"depth=1 reason=revoked")

    b2 = broker_factory(base + "crl_cache.check = leaf\n", extra_listeners=["ssl:default"])
    r = connect(b2.ports["ssl:default"], world, world.good, "1.2")
    assert r.ok, r  # leaf only: the intermediate is not looked at


_SLOW_SERVER = r"""
import http.server, sys, time, os
root, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        sys.stdout.write("GET %s\n" % self.path); sys.stdout.flush()
        time.sleep(delay)
        try:
            body = open(os.path.join(root, self.path.lstrip("/")), "rb").read()
        except OSError:
            self.send_response(404); self.end_headers(); return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""


@pytest.fixture
def slow_crl_server(tmp_path):
    """An HTTP server answering after `delay` s; its stdout lists every GET."""
    procs = []

    def start(delay):
        www = tmp_path / "slow-www"
        www.mkdir(exist_ok=True)
        port = helpers.free_port()
        log = open(tmp_path / "slow-http.log", "w")
        p = subprocess.Popen(["/usr/bin/python3", "-c", _SLOW_SERVER, str(www), str(port),
                              str(delay)], stdout=log, stderr=subprocess.STDOUT)
        procs.append((p, log))

        def up():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        helpers.wait_until(up, timeout=10)
        return www, port, tmp_path / "slow-http.log"

    yield start
    for p, log in procs:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def test_suspended_handshake_does_not_block_the_worker(broker_factory, tmp_path,
                                                      slow_crl_server, raw_client):
    www, port, _ = slow_crl_server(2.0)
    w = World(tmp_path / "w", crl_url=f"http://127.0.0.1:{port}/inter.der")
    _, der = w.inter.gencrl()
    (www / "inter.der").write_bytes(open(der, "rb").read())
    b = broker_factory(conf(w), extra_listeners=["ssl:default"])

    res = {}
    th = threading.Thread(target=lambda: res.setdefault(
        "r", connect(b.ports["ssl:default"], w, w.good, "1.3", hold=3.0)))
    th.start()
    try:
        b.wait_for_log(r"tls: fetching CRL distribution point .*handshake=suspended", timeout=5)
        t0 = time.monotonic()
        c = raw_client(b)  # plain MQTT on the same (single) worker meanwhile
        c.send(helpers.build_connect("meanwhile", version=4))
        c.expect(2, timeout=5)  # CONNACK
        assert time.monotonic() - t0 < 1.5  # not behind the 2 s fetch
    finally:
        th.join(timeout=20)
    assert res["r"].ok, res["r"]


def test_concurrent_handshakes_on_a_miss_make_one_fetch(broker_factory, tmp_path,
                                                       slow_crl_server):
    www, port, log = slow_crl_server(1.0)
    w = World(tmp_path / "w", crl_url=f"http://127.0.0.1:{port}/inter.der")
    w.inter.revoke(w.bad)
    _, der = w.inter.gencrl()
    (www / "inter.der").write_bytes(open(der, "rb").read())
    b = broker_factory(conf(w), extra_listeners=["ssl:default"])
    from concurrent.futures import ThreadPoolExecutor

    certs = [w.good if i % 2 == 0 else w.bad for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as ex:
        results = list(ex.map(lambda c: connect(b.ports["ssl:default"], w, c, "1.2", hold=2.5),
                              certs))
    for c, r in zip(certs, results):
        if c is w.good:
            assert r.ok, r
        else:
            assert r.alert == 44, r
    gets = [line for line in open(log).read().splitlines() if line.startswith("GET ")]
    assert gets == ["GET /inter.der"], gets


def test_handshake_timeout_while_suspended(broker_factory, tmp_path, slow_crl_server):
    www, port, _ = slow_crl_server(4.0)
    w = World(tmp_path / "w", crl_url=f"http://127.0.0.1:{port}/inter.der")
    _, der = w.inter.gencrl()
    (www / "inter.der").write_bytes(open(der, "rb").read())
    b = broker_factory(conf(w, "listeners.ssl.default.ssl_options.handshake_timeout = 1s"),
                       extra_listeners=["ssl:default"])
    t0 = time.monotonic()
    r = connect(b.ports["ssl:default"], w, w.good, "1.2", hold=3.0)
    assert not r.ok, r  # dropped by the handshake timeout while the fetch runs
    assert time.monotonic() - t0 < 3.5
    b.wait_for_log(r"tls: fetching CRL distribution point .*handshake=suspended")
    # the broker is fine afterwards: once the CRL is in, the same client passes
    helpers.wait_until(lambda: "crl_cache: refresh OK" in b.log_text(), timeout=10)
    r = connect(b.ports["ssl:default"], w, w.good, "1.2")
    assert r.ok, r


def test_chain_check_discovers_every_level(broker_factory, tmp_path, crl_server):
    www, port, _ = crl_server
    p = PKI(tmp_path / "pki")
    inter = p.root.intermediate("Inter D", crl_url=f"http://127.0.0.1:{port}/root.der")
    server = inter.server_cert("server")
    good = inter.client_cert("good", crl_url=f"http://127.0.0.1:{port}/inter.der")
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), p.root.cert, inter.cert)
    (www / "root.der").write_bytes(open(p.root.gencrl()[1], "rb").read())
    (www / "inter.der").write_bytes(open(inter.gencrl()[1], "rb").read())
    base = "listeners.ssl.default.ssl_options"
    b = broker_factory(f'{base}.certfile = "{server.fullchain}"\n{base}.keyfile = "{server.key}"\n'
                       f'{base}.cacertfile = "{cafile}"\n{base}.verify = verify_peer\n'
                       f"{base}.enable_crl_check = true\ncrl_cache.check = chain\n",
                       extra_listeners=["ssl:default"])
    r = s_client(b.ports["ssl:default"], cafile=p.root.cert, cert=good.cert, key=good.key,
                 version="1.3", send=helpers.build_connect("c", version=4), hold=2.0)
    assert r.ok, r  # two suspensions (depth 1, then depth 0) in one handshake
    assert b.log_text().count("tls: fetching CRL distribution point") == 2
