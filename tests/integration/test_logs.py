"""Logs and command line (issue 15): log.formatter = json (every line one JSON
object with time, level, component, msg and the message's key=value fields),
text lines read by a logfmt parser, log.console.level (EMQX 5 key),
log.file with size rotation, `revmq --version`, `revmq-ca --help`."""

import json
import re
import subprocess

import pytest

import helpers
from httpfaults import World, crl_urls_line, file_server, ssl_conf  # noqa: F401
from pki import s_client

pytestmark = pytest.mark.revmq_only


def logfmt(line):
    """A strict logfmt reader (go-logfmt's grammar): key=value pairs, values
    bare or double-quoted with \\ escapes; a bare word is a key without value.
    Raises ValueError on an unterminated quote."""
    out, i, n = {}, 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        if i >= n:
            break
        j = i
        while j < n and line[j] not in " =":
            j += 1
        key = line[i:j]
        if j < n and line[j] == "=":
            j += 1
            if j < n and line[j] == '"':
                j += 1
                val = []
                while j < n and line[j] != '"':
                    if line[j] == "\\" and j + 1 < n:
                        j += 1
                    val.append(line[j])
                    j += 1
                if j >= n:
                    raise ValueError("unterminated quote: " + line)
                out[key] = "".join(val)
                j += 1
            else:
                k = j
                while j < n and line[j] != " ":
                    j += 1
                out[key] = line[k:j]
        else:
            out.setdefault(key, True)
        i = j
    return out


def broker_lines(b):
    return [ln for ln in b.log_text().splitlines() if ln and not ln.startswith("====")]


def test_json_lines(broker_factory, raw_client, tmp_path, file_server):  # noqa: F811
    fs = file_server()
    w = World(tmp_path / "w")
    w.inter.revoke(w.bad)
    url = fs.publish("inter.pem", w.inter.gencrl()[0])
    b = broker_factory("log.formatter = json\n" + ssl_conf(w, crl_urls_line(url),
                                                           "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    c = raw_client(b)
    c.send(helpers.build_connect("json-1", version=4, username="al ice"))
    c.recv_packet()
    c.send(helpers.build_disconnect())
    assert s_client(b.ports["ssl:default"], cafile=w.root.cert, cert=w.bad.cert, key=w.bad.key,
                    send=helpers.build_connect("x"), hold=0.4).alert == 44
    helpers.wait_until(lambda: any('"disconnected"' in ln for ln in broker_lines(b)))
    recs = [json.loads(ln) for ln in broker_lines(b)]  # every line is one JSON object
    for r in recs:
        assert set(r) >= {"time", "level", "component", "msg"}, r
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"])
        assert r["level"] in ("debug", "info", "notice", "warning", "error", "critical")
    conn = [r for r in recs if r["component"] == "mqtt" and r["msg"] == "connected"]
    assert conn and conn[0]["client_id"] == "json-1" and conn[0]["listener"] == "tcp:default"
    disc = [r for r in recs if r["component"] == "mqtt" and r["msg"] == "disconnected"][0]
    assert disc["reason"] == "client disconnect", disc  # a bare word joins the value
    crl = [r for r in recs if r["component"] == "crl_cache" and r["msg"] == "refresh OK"][0]
    assert crl["issuer"] == "CN=Test Intermediate" and crl["entries"] == "1" and crl["url"] == url
    rej = [r for r in recs if r["component"] == "tls"
           and r["msg"] == "client certificate rejected"][0]
    assert rej["reason"] == "revoked" and rej["serial"] == w.bad.serial_hex, rej
    started = [r for r in recs if r["component"] == "listener" and r["msg"] == "started"]
    assert {r["name"] for r in started} == {"default"} and len(started) == 2


def test_text_lines_read_by_logfmt(broker_factory, raw_client, tmp_path, file_server):  # noqa: F811
    fs = file_server()
    w = World(tmp_path / "w")
    url = fs.publish("inter.pem", w.inter.gencrl()[0])
    b = broker_factory(ssl_conf(w, crl_urls_line(url), "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    c = raw_client(b)
    c.send(helpers.build_connect("lf-1", version=4))
    c.recv_packet()
    c.send(helpers.build_disconnect())
    helpers.wait_until(lambda: any("mqtt: disconnected" in ln for ln in broker_lines(b)))
    lines = broker_lines(b)
    parsed = [logfmt(ln) for ln in lines]  # no line breaks the grammar
    for ln, p in zip(lines, parsed):
        head = ln.split(" ", 3)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", head[0]), ln
        assert head[1] in ("info", "notice", "warning", "error"), ln
        assert head[2].endswith(":"), ln
    crl = [p for ln, p in zip(lines, parsed) if "crl_cache: refresh OK" in ln][0]
    assert crl["issuer"] == "CN=Test Intermediate" and crl["url"] == url
    conn = [p for ln, p in zip(lines, parsed) if "mqtt: connected" in ln][0]
    assert conn["client_id"] == "lf-1" and conn["keepalive"] == "60"
    # a value with spaces is quoted, so the parser reads it whole
    disc = [p for ln, p in zip(lines, parsed) if "mqtt: disconnected" in ln][0]
    assert disc["reason"] == "client disconnect", disc
    # every value is a single token or a quoted string: no stray bare words after a pair
    for ln in lines:
        rest = ln.split(": ", 1)[1]
        first = re.search(r"(^| )[A-Za-z0-9_.-]+=", rest)
        if first:
            pairs = rest[first.start():]
            assert re.fullmatch(r'( ?[A-Za-z0-9_.-]+=("([^"\\]|\\.)*"|[^ "=]+))+', pairs), ln


def test_file_rotation(broker_factory, raw_client, tmp_path):
    logf = tmp_path / "logs" / "revmq.log"
    logf.parent.mkdir()
    b = broker_factory(f'log.file = "{logf}"\n'
                       "log.file_rotation_size = 4KB\nlog.file_rotation_count = 2\n")
    for i in range(80):
        c = raw_client(b)
        c.send(helpers.build_connect(f"rotating-client-{i:03d}", version=4))
        c.recv_packet()
        c.send(helpers.build_disconnect())
        c.close()
    helpers.wait_until(lambda: "rotating-client-079" in logf.read_text(), timeout=10)
    b.stop()
    files = sorted(p.name for p in logf.parent.iterdir())
    assert files == ["revmq.log", "revmq.log.1", "revmq.log.2"], files
    newest = logf.read_text()
    for p in logf.parent.iterdir():
        text = p.read_text()
        assert 0 < len(text.encode()) <= 4096, (p, len(text))
        for ln in text.splitlines():
            assert re.match(r"\d{4}-\d\d-\d\dT\S+Z (info|notice|warning) \w+: ", ln), ln
    assert "broker: stopped" in newest
    # the oldest lines were dropped with the third rotation
    everything = "".join(p.read_text() for p in logf.parent.iterdir())
    assert "rotating-client-000 " not in everything
    # stderr got every line too
    assert "client_id=rotating-client-000 " in b.log_text()


def test_console_level_key(broker_factory, raw_client):
    b = broker_factory("log.console.level = notice\n")
    c = raw_client(b)
    c.send(helpers.build_connect("quiet", version=4))
    c.recv_packet()
    c.send(helpers.build_connect("again", version=4))  # protocol error: a notice line
    b.wait_for_log(r"notice mqtt: closing client_id=quiet ")
    assert "mqtt: connected" not in b.log_text()
    assert " info " not in b.log_text()


def test_log_file_cannot_open(broker_factory, tmp_path):
    b = broker_factory(f'log.file = "{tmp_path}/no/such/dir/revmq.log"\n', start=False)
    with pytest.raises(helpers.BrokerError):
        b.start()
    assert f"revmq: log.file: {tmp_path}/no/such/dir/revmq.log: cannot open: " \
           "No such file or directory" in b.log_text()


def test_version_and_ca_help():
    r = subprocess.run([str(helpers.build_dir() / "revmq"), "--version"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0 and re.fullmatch(r"revmq \d+\.\d+\.\d+\n", r.stdout), r
    r = subprocess.run([str(helpers.build_dir() / "revmq-ca"), "--help"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("usage: revmq-ca"), r
    r = subprocess.run([str(helpers.build_dir() / "revmq-ca")], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and r.stderr.startswith("usage: revmq-ca")


def test_tls_failure_lines_name_listener_alert_and_missing_certificate(
        broker_factory, tmp_path, file_server):  # noqa: F811
    fs = file_server()
    w = World(tmp_path / "w")
    w.inter.revoke(w.bad)
    url = fs.publish("inter.pem", w.inter.gencrl()[0])
    b = broker_factory(ssl_conf(w, crl_urls_line(url), "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    mark = b.log_mark()
    assert s_client(port, cafile=w.root.cert, cert=w.bad.cert, key=w.bad.key, version="1.3",
                    send=helpers.build_connect("x"), hold=0.4).alert == 44
    line = b.wait_for_log(r"net: handshake failed listener=ssl:default addr=\S+ "
                          r'error="sent alert 44 \(certificate revoked\).*$', since=mark)
    assert logfmt(line.group(0).split(": ", 1)[1])["listener"] == "ssl:default"
    for version, alert, name in (("1.3", 116, "certificate required"),
                                 ("1.2", 40, "handshake failure")):
        mark = b.log_mark()
        s_client(port, cafile=w.root.cert, version=version, send=helpers.build_connect("y"),
                 hold=0.4)
        line = b.wait_for_log(r'handshake failed listener=ssl:default addr=\S+ error="sent alert '
                              r"%d \(%s\): no client certificate \(the client sent none; this "
                              r"listener requires one.*$" % (alert, name), since=mark)
        assert logfmt(line.group(0))["listener"] == "ssl:default"  # one parsable line


def test_syslog_output(broker_factory, raw_client):
    """log.syslog.enable: every line also reaches syslog(3) — read from /dev/log."""
    import os
    import socket
    if os.path.exists("/dev/log"):
        pytest.skip("/dev/log is a running syslog daemon's socket; cannot listen on it")
    if not os.access("/dev", os.W_OK):
        pytest.skip("cannot create /dev/log")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("/dev/log")
    try:
        s.settimeout(5)
        b = broker_factory("log.syslog.enable = true\n")
        c = raw_client(b)
        c.send(helpers.build_connect("sys-1", version=4))
        c.recv_packet()
        c.send(helpers.build_disconnect())
        got = []
        while not any(b"mqtt: disconnected" in g for g in got):
            got.append(s.recv(8192))
    finally:
        s.close()
        os.unlink("/dev/log")
    text = [g.decode() for g in got]
    # <priority>... revmq[pid]: component: message, daemon facility (3 << 3)
    running = [t for t in text if "broker: running" in t][0]
    assert re.match(r"<%d>.*revmq\[%d\]: broker: running node=" % (3 * 8 + 6, b.proc.pid),
                    running), running
    disc = [t for t in text if "mqtt: disconnected" in t][0]
    assert 'reason="client disconnect"' in disc and not re.search(r"\d{4}-\d\d-\d\dT", disc)
