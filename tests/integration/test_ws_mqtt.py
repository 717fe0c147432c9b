"""MQTT over WebSocket and secure WebSocket listeners (issue 17): real peers
(paho-mqtt with transport="websockets", MQTT.js in Node over ws and wss with a
client certificate), the upgrade request's rules (path, subprotocol, version,
origin), frame rules (binary only, masked, max_frame_size, ping/pong, close),
and revocation on wss: a revoked client gets alert 44, a connected client whose
certificate a new CRL revokes is disconnected live.
"""

import base64
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import time

import pytest

import helpers
from httpfaults import World, crl_urls_line, crlfile_line, file_server, ssl_conf  # noqa: F401
from pki import s_client

pytestmark = pytest.mark.revmq_only

NODE_DIR = os.path.join(os.path.dirname(__file__), "node")


def ws_conf(name="default", **ws):
    lines = [f"listeners.ws.{name}.websocket.{k} = {v}" for k, v in ws.items()]
    return "\n".join(lines) + "\n"


def wss_conf(w, *lines):
    """The TLS listener configuration of httpfaults, on listeners.wss.default."""
    return ssl_conf(w, *lines).replace("listeners.ssl.default.", "listeners.wss.default.")


# -- a raw WebSocket client (to see what a browser or a broken client would) --------------------

def upgrade(sock, path="/mqtt", protocol="mqtt", version="13", origin=None, extra=b""):
    key = base64.b64encode(os.urandom(16)).decode()
    req = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket",
           "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
           f"Sec-WebSocket-Version: {version}"]
    if protocol:
        req.append(f"Sec-WebSocket-Protocol: {protocol}")
    if origin:
        req.append(f"Origin: {origin}")
    sock.sendall(("\r\n".join(req) + "\r\n\r\n").encode() + extra)
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = sock.recv(4096)
        if not chunk:
            break
        resp += chunk
    head, _, rest = resp.partition(b"\r\n\r\n")
    return head.decode(errors="replace"), key, rest


def frame(payload, opcode=2, fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return hdr + payload
    k = os.urandom(4)
    return hdr + k + bytes(c ^ k[i % 4] for i, c in enumerate(payload))


def read_frame(sock, buf=b""):
    """One unmasked server frame: (opcode, payload, rest)."""
    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
    need(2)
    op, ln = buf[0] & 0x0F, buf[1] & 0x7F
    off = 2
    if ln == 126:
        need(4)
        ln = struct.unpack("!H", buf[2:4])[0]
        off = 4
    elif ln == 127:
        need(10)
        ln = struct.unpack("!Q", buf[2:10])[0]
        off = 10
    need(off + ln)
    return op, buf[off:off + ln], buf[off + ln:]


def open_ws(port, **kw):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    head, key, rest = upgrade(s, **kw)
    return s, head, key, rest


# -- the handshake ---------------------------------------------------------------------------

def test_upgrade_accept_key_and_subprotocol(broker_factory):
    b = broker_factory(ws_conf(), extra_listeners=["ws:default"])
    s, head, key, rest = open_ws(b.ports["ws:default"], protocol="mqttv3.1, mqtt")
    try:
        assert head.startswith("HTTP/1.1 101 "), head
        import hashlib
        want = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert f"Sec-WebSocket-Accept: {want}" in head
        assert "Sec-WebSocket-Protocol: mqttv3.1" in head  # the client's first supported one
        s.sendall(frame(helpers.build_connect("raw-ws", version=4)))
        op, payload, _ = read_frame(s, rest)
        assert op == 2 and payload == b"\x20\x02\x00\x00"
    finally:
        s.close()
    b.wait_for_log(r"connected client_id=raw-ws version=4 addr=127\.0\.0\.1:\d+ listener=[a-z]+:default")


@pytest.mark.parametrize("case,status,log", [
    ({"path": "/other"}, 404, "path is not websocket.mqtt_path"),
    ({"protocol": None}, 400, "no Sec-WebSocket-Protocol"),
    ({"protocol": "wamp"}, 400, "no supported subprotocol"),
    ({"version": "8"}, 426, "Sec-WebSocket-Version is not 13"),
    ({"origin": "http://evil.example"}, 403, "Origin not in websocket.check_origins"),
])
def test_upgrade_refused(broker_factory, case, status, log):
    conf = ws_conf(mqtt_path='"/mqtt"', check_origin_enable="true",
                   check_origins='["http://good.example"]')
    b = broker_factory(conf, extra_listeners=["ws:default"])
    s, head, _, _ = open_ws(b.ports["ws:default"], **case)
    try:
        assert head.startswith(f"HTTP/1.1 {status} "), head
        assert s.recv(16) == b""  # then closed
    finally:
        s.close()
    b.wait_for_log(r"handshake failed listener=ws:default addr=\S+ error=\"websocket: %d %s"
                   % (status, re.escape(log)))


def test_allowed_origin_and_query_string(broker_factory):
    conf = ws_conf(check_origin_enable="true", check_origins='["http://good.example"]')
    b = broker_factory(conf, extra_listeners=["ws:default"])
    s, head, _, _ = open_ws(b.ports["ws:default"], origin="http://good.example",
                            path="/mqtt?x=1")
    s.close()
    assert head.startswith("HTTP/1.1 101 "), head


def test_malformed_and_oversized_requests(broker_factory):
    b = broker_factory(ws_conf(), extra_listeners=["ws:default"])
    port = b.ports["ws:default"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /mqtt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 400 ")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /mqtt HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 9000 + b"\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 400 ")
    b.wait_for_log(r'error="websocket: 400 malformed upgrade request"')
    b.wait_for_log(r'error="websocket: 400 upgrade request too large"')


# -- frames ----------------------------------------------------------------------------------

def connected_ws(b, cid):
    s, head, _, rest = open_ws(b.ports["ws:default"])
    assert head.startswith("HTTP/1.1 101 "), head
    s.sendall(frame(helpers.build_connect(cid, version=5)))
    op, payload, rest = read_frame(s, rest)
    assert op == 2 and payload[0] == 0x20, payload
    return s, rest


def expect_close(s, rest, status):
    op, payload, _ = read_frame(s, rest)
    assert op == 8, (op, payload)
    assert struct.unpack("!H", payload[:2])[0] == status
    assert s.recv(16) == b""


def test_packets_split_across_frames_and_frames_holding_two(broker_factory):
    b = broker_factory(ws_conf(), extra_listeners=["ws:default"])
    s, rest = connected_ws(b, "split")
    try:
        sub = helpers.build_subscribe(1, [("w/t", 1)], version=5)
        pub = helpers.build_publish("w/t", b"p" * 300, qos=0, version=5)
        data = sub + pub
        # fragmented message: binary (fin=0) + continuation frames, 7 bytes each
        parts = [data[i:i + 7] for i in range(0, len(data), 7)]
        for i, part in enumerate(parts):
            s.sendall(frame(part, opcode=2 if i == 0 else 0, fin=i == len(parts) - 1))
        # the answer is a byte stream too: SUBACK then PUBLISH, however framed
        stream = b""
        while len(stream) < 6 + 309:
            op, payload, rest = read_frame(s, rest)
            assert op == 2
            stream += payload
        assert stream[0] == 0x90, stream
        publish = stream[stream[1] + 2:]
        assert publish[0] & 0xF0 == 0x30 and publish.endswith(b"p" * 300), publish
    finally:
        s.close()


def test_ping_answered_with_pong(broker_factory):
    b = broker_factory(ws_conf(), extra_listeners=["ws:default"])
    s, rest = connected_ws(b, "pinger")
    try:
        s.sendall(frame(b"hello", opcode=9))
        op, payload, _ = read_frame(s, rest)
        assert (op, payload) == (10, b"hello")
    finally:
        s.close()


@pytest.mark.parametrize("bad,status", [
    (lambda: frame(b"\x10\x00", opcode=1), 1003),  # text frame
    (lambda: frame(b"\xc0\x00", mask=False), 1002),  # unmasked client frame
    (lambda: frame(b"x" * 2000), 1009),  # over max_frame_size = 1024
    (lambda: frame(b"x", opcode=0), 1002),  # continuation without a message
])
def test_bad_frames_close_with_status(broker_factory, bad, status):
    b = broker_factory(ws_conf(max_frame_size="1024"), extra_listeners=["ws:default"])
    s, rest = connected_ws(b, "bad-frames")
    try:
        s.sendall(bad())
        expect_close(s, rest, status)
    finally:
        s.close()


def test_client_close_answered(broker_factory):
    b = broker_factory(ws_conf(), extra_listeners=["ws:default"])
    s, rest = connected_ws(b, "closer")
    try:
        s.sendall(frame(struct.pack("!H", 1000), opcode=8))
        expect_close(s, rest, 1000)
    finally:
        s.close()
    b.wait_for_log(r"disconnected client_id=closer ")


# -- real clients ----------------------------------------------------------------------------

@pytest.mark.parametrize("version", [4, 5])
def test_paho_websockets_roundtrip(broker_factory, version, uid):
    import paho.mqtt.client as mqtt
    b = broker_factory(ws_conf(), extra_listeners=["ws:default"])
    got = []
    proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
    c = mqtt.Client(client_id=f"paho-ws-{uid}", transport="websockets", protocol=proto)
    c.ws_set_options(path="/mqtt")
    c.on_message = lambda cl, ud, m: got.append(m.payload)
    c.connect("127.0.0.1", b.ports["ws:default"], 30)
    c.loop_start()
    try:
        helpers.wait_until(c.is_connected, timeout=5, what="paho connected over ws")
        c.subscribe(f"ws/{uid}", qos=1)
        time.sleep(0.2)
        big = os.urandom(200_000)  # many frames each way
        c.publish(f"ws/{uid}", big, qos=1).wait_for_publish(timeout=5)
        helpers.wait_until(lambda: got, timeout=5, what="message back")
        assert got == [big]
    finally:
        c.disconnect()
        c.loop_stop()


def node_client(**opts):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "mqtt")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       capture_output=True, timeout=300)
    return subprocess.Popen(["node", os.path.join(NODE_DIR, "mqtt_client.js"), json.dumps(opts)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def node_result(p, timeout=30):
    out, err = p.communicate(timeout=timeout)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    assert lines, (out, err)
    return json.loads(lines[-1])


@pytest.mark.parametrize("version", [4, 5])
def test_mqttjs_over_ws(broker_factory, version, uid):
    b = broker_factory(ws_conf(), extra_listeners=["ws:default"])
    r = node_result(node_client(url=f"ws://127.0.0.1:{b.ports['ws:default']}/mqtt",
                                topic=f"js/{uid}", payload="from-node", protocolVersion=version,
                                clientId=f"js-{uid}"))
    assert r["connected"] and r["received"] == "from-node", r
    b.wait_for_log(r"connected client_id=js-%s version=%d " % (uid, version))


@pytest.fixture
def wss_world(tmp_path):
    return World(tmp_path / "w")


def test_mqttjs_over_wss_mutual_tls(broker_factory, wss_world, uid):
    w = wss_world
    w.inter.revoke(w.bad)
    pem, _ = w.inter.gencrl()
    b = broker_factory(wss_conf(w, crlfile_line(pem)), extra_listeners=["wss:default"])
    url = f"wss://localhost:{b.ports['wss:default']}/mqtt"
    r = node_result(node_client(url=url, topic=f"js/{uid}", payload="mtls", protocolVersion=5,
                                ca=w.root.cert, cert=w.good.cert, key=w.good.key,
                                clientId=f"jss-{uid}"))
    assert r["connected"] and r["received"] == "mtls", r
    # the revoked certificate is refused at the handshake (and MQTT.js reports it)
    r = node_result(node_client(url=url, topic="x", payload="x", protocolVersion=5,
                                ca=w.root.cert, cert=w.bad.cert, key=w.bad.key))
    assert not r["connected"] and r["received"] is None, r
    b.wait_for_log(r"tls: client certificate rejected listener=[a-z]+:default serial=%s .*reason=revoked"
                   % w.bad.serial_hex)


@pytest.mark.parametrize("ver", ["1.2", "1.3"])
def test_revoked_client_on_wss_gets_alert_44(broker_factory, wss_world, ver):
    w = wss_world
    w.inter.revoke(w.bad)
    pem, _ = w.inter.gencrl()
    b = broker_factory(wss_conf(w, crlfile_line(pem)), extra_listeners=["wss:default"])
    port = b.ports["wss:default"]
    r = s_client(port, cafile=w.root.cert, cert=w.bad.cert, key=w.bad.key, version=ver,
                 send=b"GET /mqtt HTTP/1.1\r\n", hold=0.6)
    assert r.alert == 44, r
    r = s_client(port, cafile=w.root.cert, cert=w.good.cert, key=w.good.key, version=ver,
                 send=b"GET /mqtt HTTP/1.1\r\n", hold=0.3)
    assert r.ok, r


def test_wss_live_disconnect_on_revocation(broker_factory, tmp_path, file_server):  # noqa: F811
    w = World(tmp_path / "lw")
    victim = w.inter.client_cert("ws-victim")
    fs = file_server()
    url = fs.publish("inter.pem", w.inter.gencrl()[0])
    conf = wss_conf(w, crl_urls_line(url), "crl_cache.refresh_interval = 1s",
                    "crl_cache.discover_from_cert = false")
    b = broker_factory(conf, extra_listeners=["wss:default"])
    p = node_client(url=f"wss://localhost:{b.ports['wss:default']}/mqtt", topic="live/t",
                    payload="before", protocolVersion=5, ca=w.root.cert, cert=victim.cert,
                    key=victim.key, clientId="ws-victim", waitClose=True)
    try:
        first = p.stdout.readline()
        assert json.loads(first).get("ready"), first
        mark = b.log_mark()
        w.inter.revoke(victim)
        fs.publish("inter.pem", w.inter.gencrl()[0])
        r = node_result(p, timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert r["closed"] and r["reasonCode"] == 0x98, r  # DISCONNECT 0x98 through the ws framing
    b.wait_for_log(r"mqtt: closing connection of revoked certificate client_id=ws-victim "
                   r"serial=%s" % victim.serial_hex, since=mark)


def test_paho_wss_server_auth(broker_factory, wss_world):
    """paho over wss, no client certificate (verify_none listener)."""
    import paho.mqtt.client as mqtt
    w = wss_world
    conf = "\n".join([
        f'listeners.wss.default.ssl_options.certfile = "{w.server.fullchain}"',
        f'listeners.wss.default.ssl_options.keyfile = "{w.server.key}"',
    ]) + "\n"
    b = broker_factory(conf, extra_listeners=["wss:default"])
    c = mqtt.Client(client_id="paho-wss", transport="websockets", protocol=mqtt.MQTTv311)
    c.tls_set(ca_certs=w.root.cert)
    c.connect("localhost", b.ports["wss:default"], 30)
    c.loop_start()
    try:
        helpers.wait_until(c.is_connected, timeout=5, what="paho connected over wss")
    finally:
        c.disconnect()
        c.loop_stop()
    b.wait_for_log(r"connected client_id=paho-wss version=4 ")


def test_proxy_protocol_on_ws(broker_factory):
    b = broker_factory(ws_conf() + "listeners.ws.default.proxy_protocol = true\n",
                       extra_listeners=["ws:default"])
    s = socket.create_connection(("127.0.0.1", b.ports["ws:default"]), timeout=5)
    try:
        s.sendall(b"PROXY TCP4 198.51.100.7 10.0.0.1 40001 8083\r\n")
        head, _, rest = upgrade(s)
        assert head.startswith("HTTP/1.1 101 "), head
        s.sendall(frame(helpers.build_connect("pp-ws", version=4)))
        op, payload, _ = read_frame(s, rest)
        assert payload == b"\x20\x02\x00\x00"
    finally:
        s.close()
    b.wait_for_log(r"connected client_id=pp-ws version=4 addr=198\.51\.100\.7:40001 ")


# -- the rest of the TLS listener machinery on wss: stapling, reload, config errors ------------

@pytest.fixture
def ocsp_wss(tmp_path):
    port = helpers.free_port()
    url = f"http://127.0.0.1:{port}"
    w = World(tmp_path / "ow")
    w.server_ocsp = w.inter.server_cert("server-ocsp", ocsp_url=url)
    w.server2 = w.inter.server_cert("server2")
    proc = subprocess.Popen(w.inter.ocsp_responder_cmd(port, nmin=10),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # never probe openssl ocsp with a bare connect (TESTING-NOTES.md)
    yield w
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_wss_ocsp_stapling(broker_factory, ocsp_wss):
    w = ocsp_wss
    base = "listeners.wss.default.ssl_options"
    conf = "\n".join([f'{base}.certfile = "{w.server_ocsp.cert}"',  # leaf only: chain built
                      f'{base}.keyfile = "{w.server_ocsp.key}"',
                      f'{base}.cacertfile = "{w.cafile}"',
                      f"{base}.ocsp.enable_ocsp_stapling = true",
                      f"{base}.ocsp.refresh_http_timeout = 5s"]) + "\n"
    b = broker_factory(conf, extra_listeners=["wss:default"])
    port = b.ports["wss:default"]

    def stapled():
        r = s_client(port, cafile=w.root.cert, status=True, send=b"GET /mqtt HTTP/1.1\r\n",
                     hold=0.3)
        return r if r.ok and r.ocsp == "good" else None

    helpers.wait_until(stapled, timeout=10, what="a good OCSP staple on wss")


def test_wss_certificate_reload(broker_factory, ocsp_wss, tmp_path):
    w = ocsp_wss
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    shutil.copy(w.server.fullchain, cert)
    shutil.copy(w.server.key, key)
    base = "listeners.wss.default.ssl_options"
    conf = "\n".join([f'{base}.certfile = "{cert}"', f'{base}.keyfile = "{key}"',
                      f"{base}.reload_interval = 1s"]) + "\n"
    b = broker_factory(conf, extra_listeners=["wss:default"])
    port = b.ports["wss:default"]
    r = s_client(port, cafile=w.root.cert, send=b"GET /mqtt HTTP/1.1\r\n", hold=0.3)
    assert r.server_serial == w.server.serial_hex, r
    mark = b.log_mark()
    tmp = tmp_path / "t.pem"
    shutil.copy(w.server2.key, tmp)
    os.replace(tmp, key)
    shutil.copy(w.server2.fullchain, tmp)
    os.replace(tmp, cert)
    b.wait_for_log(r"tls: context reloaded listener=[a-z]+:default .*serial=%s" % w.server2.serial_hex,
                   timeout=6, since=mark)
    r = s_client(port, cafile=w.root.cert, send=b"GET /mqtt HTTP/1.1\r\n", hold=0.3)
    assert r.ok and r.server_serial == w.server2.serial_hex, r


def test_wss_config_errors_name_wss_keys(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text('listeners.wss.default.ssl_options.certfile = "/x.pem"\n'
                    'listeners.wss.default.ssl_options.keyfile = "/x.key"\n'
                    "listeners.wss.default.ssl_options.verify = verify_peer\n"
                    "listeners.wss.default.ssl_options.no_such_key = 1\n"
                    'listeners.ws.default.websocket.mqtt_path = "mqtt"\n'
                    "listeners.ws.default.websocket.max_frame_size = -1\n")
    p = subprocess.run([str(helpers.build_dir() / "revmq"), "--check-config", "-c", str(conf)],
                       capture_output=True, text=True, timeout=10)
    err = p.stderr + p.stdout
    assert p.returncode != 0
    assert "listeners.wss.default.ssl_options.no_such_key" in err, err
    assert "requires listeners.wss.default.ssl_options.cacertfile" in err, err
    assert "listeners.ws.default.websocket.mqtt_path = \"mqtt\": must start with '/'" in err, err
    assert "listeners.ws.default.websocket.max_frame_size" in err, err


def test_wss_env_overlay(tmp_path):
    import os as _os
    conf = tmp_path / "c.conf"
    conf.write_text('listeners.wss.default.ssl_options.keyfile = "/k.pem"\n')
    env = dict(_os.environ, REVMQ_LISTENERS__WSS__DEFAULT__SSL_OPTIONS__CERTFILE="/from-env.pem",
               EMQX_LISTENERS__WS__DEFAULT__WEBSOCKET__MQTT_PATH="/ws")
    p = subprocess.run([str(helpers.build_dir() / "revmq"), "--check-config", "-c", str(conf)],
                       capture_output=True, text=True, timeout=10, env=env)
    out = p.stdout + p.stderr
    assert 'listeners.wss.default.ssl_options.certfile = "/from-env.pem"' in out, out
    assert 'listeners.ws.default.websocket.mqtt_path = "/ws"' in out, out
