"""PROXY protocol v1/v2 on TCP and TLS listeners (issue 17): HAProxy (Debian's
package) in front of revmq with `send-proxy-v2` and `send-proxy`; the client
address in revmq's `connected` log line is the real client's, not HAProxy's.
A listener that expects the header refuses connections without it, and closes
those whose header does not arrive within proxy_protocol_timeout.

Clients bind distinct loopback source addresses (127.0.0.7, ...) so the address
the broker logs can only come from the header: HAProxy itself connects from
127.0.0.1.
"""

import shutil
import socket
import ssl
import subprocess
import time

import pytest

import helpers
from pki import PKI

pytestmark = [
    pytest.mark.revmq_only,
    pytest.mark.skipif(shutil.which("haproxy") is None,
                       reason="haproxy not installed (scripts/deps.sh installs it)"),
]

CONNACK_OK = b"\x20\x02\x00\x00"


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class HAProxy:
    """haproxy -db on a generated config: one frontend per (name, bind, backend, option)."""

    def __init__(self, tmp_path, routes):
        self.ports = {}
        lines = ["global", "    maxconn 200", "defaults", "    mode tcp",
                 "    timeout connect 2s", "    timeout client 10s", "    timeout server 10s"]
        for name, host, backend_port, option in routes:
            port = helpers.free_port()
            self.ports[name] = port
            bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            lines += [f"frontend f_{name}", f"    bind {bind}", f"    default_backend b_{name}",
                      f"backend b_{name}",
                      f"    server s1 127.0.0.1:{backend_port} {option} source 127.0.0.1"]
        self.cfg = tmp_path / "haproxy.cfg"
        self.cfg.write_text("\n".join(lines) + "\n")
        subprocess.run(["haproxy", "-c", "-f", str(self.cfg)], check=True, capture_output=True)
        self.log = open(tmp_path / "haproxy.log", "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.cfg)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        for name, host, _, _ in routes:
            helpers.wait_until(lambda: self._listening(host, self.ports[name]), timeout=10,
                               what=f"haproxy frontend {name}")

    @staticmethod
    def _listening(host, port):
        # `ss` instead of a probe connect: a probe would reach the broker as a client
        out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        needle = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return needle in out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def mqtt_via(port, src, client_id, host="127.0.0.1", tls_ctx=None):
    """CONNECT from source address `src` to host:port; returns (CONNACK bytes, source port)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    sport = s.getsockname()[1]
    s.connect((host, port))
    if tls_ctx is not None:
        s = tls_ctx.wrap_socket(s, server_hostname=None)
    try:
        s.sendall(helpers.build_connect(client_id, version=4))
        got = b""
        while len(got) < 4:
            chunk = s.recv(4 - len(got))
            if not chunk:
                break
            got += chunk
        return got, sport
    finally:
        s.close()


@pytest.fixture
def tls_pki(tmp_path):
    p = PKI(tmp_path / "pki")
    w = type("W", (), {})()
    w.root = p.root
    w.server = p.root.server_cert("server")
    return w


def pp_conf(tls=None):
    lines = ["listeners.tcp.pp.proxy_protocol = true",
             "listeners.tcp.pp.proxy_protocol_timeout = 1s"]
    if tls is not None:
        b = "listeners.ssl.pps"
        lines += [f"{b}.proxy_protocol = true",
                  f'{b}.ssl_options.certfile = "{tls.server.cert}"',
                  f'{b}.ssl_options.keyfile = "{tls.server.key}"',
                  f'{b}.ssl_options.cacertfile = "{tls.root.cert}"',
                  f"{b}.ssl_options.verify = verify_none"]
    return "\n".join(lines) + "\n"


def test_haproxy_v1_v2_tcp_and_tls_real_client_address(broker_factory, tls_pki, tmp_path):
    b = broker_factory(pp_conf(tls_pki), extra_listeners=["tcp:pp", "ssl:pps"])
    routes = [("v2", "127.0.0.1", b.ports["tcp:pp"], "send-proxy-v2"),
              ("v1", "127.0.0.1", b.ports["tcp:pp"], "send-proxy"),
              ("tls", "127.0.0.1", b.ports["ssl:pps"], "send-proxy-v2")]
    v6 = has_ipv6_loopback()
    if v6:
        routes.append(("v6", "::1", b.ports["tcp:pp"], "send-proxy-v2"))
    hp = HAProxy(tmp_path, routes)
    try:
        got, sport = mqtt_via(hp.ports["v2"], "127.0.0.7", "pp-v2")
        assert got == CONNACK_OK, b.log_tail()
        b.wait_for_log(rf"connected client_id=pp-v2 version=4 addr=127\.0\.0\.7:{sport} "
                       rf"listener=[a-z]+:pp ")

        got, sport = mqtt_via(hp.ports["v1"], "127.0.0.8", "pp-v1")
        assert got == CONNACK_OK, b.log_tail()
        b.wait_for_log(rf"connected client_id=pp-v1 version=4 addr=127\.0\.0\.8:{sport} "
                       rf"listener=[a-z]+:pp ")

        ctx = ssl.create_default_context(cafile=tls_pki.root.cert)
        ctx.check_hostname = False
        got, sport = mqtt_via(hp.ports["tls"], "127.0.0.9", "pp-tls", tls_ctx=ctx)
        assert got == CONNACK_OK, b.log_tail()
        b.wait_for_log(rf"connected client_id=pp-tls version=4 addr=127\.0\.0\.9:{sport} "
                       rf"listener=[a-z]+:pps ")

        if v6:
            got, sport = mqtt_via(hp.ports["v6"], "::1", "pp-v6", host="::1")
            assert got == CONNACK_OK, b.log_tail()
            b.wait_for_log(rf"connected client_id=pp-v6 version=4 addr=::1:{sport} listener=[a-z]+:pp ")
        # HAProxy's own address never appears as a client's
        assert not [ln for ln in b.log_text().splitlines()
                    if "connected client_id=pp-" in ln and "addr=127.0.0.1:" in ln]
    finally:
        hp.stop()


def test_plain_listener_without_proxy_protocol_sees_haproxy(broker_factory, tmp_path):
    """The control: the same HAProxy route without the header to a listener that does
    not expect it gives HAProxy's address, so the test above measures the header."""
    b = broker_factory("")
    hp = HAProxy(tmp_path, [("plain", "127.0.0.1", b.port, "")])
    try:
        got, _ = mqtt_via(hp.ports["plain"], "127.0.0.7", "plain-1")
        assert got == CONNACK_OK
        b.wait_for_log(r"connected client_id=plain-1 version=4 addr=127\.0\.0\.1:\d+ ")
    finally:
        hp.stop()


@pytest.mark.parametrize("kind", ["tcp", "ssl"])
def test_connection_without_header_refused(broker_factory, tls_pki, kind):
    b = broker_factory(pp_conf(tls_pki), extra_listeners=["tcp:pp", "ssl:pps"])
    port = b.ports["tcp:pp" if kind == "tcp" else "ssl:pps"]
    mark = b.log_mark()
    if kind == "tcp":
        got, _ = mqtt_via(port, "127.0.0.7", "nohdr")
    else:
        ctx = ssl.create_default_context(cafile=tls_pki.root.cert)
        ctx.check_hostname = False
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            mqtt_via(port, "127.0.0.7", "nohdr", tls_ctx=ctx)
        got = b""
    assert got == b""
    b.wait_for_log(r"handshake failed listener=%s addr=127\.0\.0\.7:\d+ "
                   r'error="PROXY protocol: no header' % ("tcp:pp" if kind == "tcp" else "ssl:pps"),
                   since=mark)
    assert "client_id=nohdr" not in b.log_text()


def test_header_timeout_closes(broker_factory, tls_pki):
    b = broker_factory(pp_conf(), extra_listeners=["tcp:pp"])
    mark = b.log_mark()
    s = socket.create_connection(("127.0.0.1", b.ports["tcp:pp"]), timeout=5)
    try:
        s.sendall(b"PROXY TCP4 192.0.2.1")  # a partial header, then silence
        t0 = time.monotonic()
        assert s.recv(16) == b""  # closed by the broker
        took = time.monotonic() - t0
        assert 0.5 < took < 4, took
    finally:
        s.close()
    b.wait_for_log(r"PROXY protocol header timeout listener=[a-z]+:pp addr=127\.0\.0\.1:\d+", since=mark)


def test_malformed_header_refused(broker_factory):
    b = broker_factory(pp_conf(), extra_listeners=["tcp:pp"])
    mark = b.log_mark()
    s = socket.create_connection(("127.0.0.1", b.ports["tcp:pp"]), timeout=5)
    try:
        s.sendall(b"PROXY TCP4 192.0.2.1 10.0.0.1 99999 1883\r\n")
        assert s.recv(16) == b""
    finally:
        s.close()
    b.wait_for_log(r"handshake failed listener=tcp:pp .*error=\"PROXY protocol: malformed header",
                   since=mark)


def test_config_errors_name_the_key(tmp_path):
    import os
    conf = tmp_path / "bad.conf"
    conf.write_text("listeners.tcp.default.proxy_protocol = maybe\n")
    p = subprocess.run([str(helpers.build_dir() / "revmq"), "--check-config", "-c", str(conf)],
                       capture_output=True, text=True, timeout=10, env=dict(os.environ))
    assert p.returncode != 0
    assert "listeners.tcp.default.proxy_protocol" in p.stderr + p.stdout


def test_haproxy_v2_in_front_of_wss(broker_factory, tls_pki, tmp_path):
    """PROXY header, then TLS, then the WebSocket upgrade, then MQTT in frames."""
    from test_ws_mqtt import frame, read_frame, upgrade
    b = "listeners.wss.ppw"
    conf = "\n".join([f"{b}.proxy_protocol = true",
                      f'{b}.ssl_options.certfile = "{tls_pki.server.cert}"',
                      f'{b}.ssl_options.keyfile = "{tls_pki.server.key}"']) + "\n"
    br = broker_factory(conf, extra_listeners=["wss:ppw"])
    hp = HAProxy(tmp_path, [("wss", "127.0.0.1", br.ports["wss:ppw"], "send-proxy-v2")])
    try:
        s = socket.socket()
        s.settimeout(5)
        s.bind(("127.0.0.11", 0))
        sport = s.getsockname()[1]
        s.connect(("127.0.0.1", hp.ports["wss"]))
        ctx = ssl.create_default_context(cafile=tls_pki.root.cert)
        ctx.check_hostname = False
        s = ctx.wrap_socket(s)
        head, _, rest = upgrade(s)
        assert head.startswith("HTTP/1.1 101 "), head
        s.sendall(frame(helpers.build_connect("pp-wss", version=4)))
        op, payload, _ = read_frame(s, rest)
        assert payload == CONNACK_OK
        s.close()
        br.wait_for_log(rf"connected client_id=pp-wss version=4 addr=127\.0\.0\.11:{sport} "
                        rf"listener=[a-z]+:ppw ")
    finally:
        hp.stop()
