"""`revmq ctl …` (issue 15), like `emqx ctl`, over the admin API: it finds the
listener and the first administrator key in the broker's own configuration
file; clients list/show/kick, crl show/refresh, ocsp show, status; errors and
exit codes."""

import re
import subprocess

import pytest

import helpers
from httpfaults import World, crl_urls_line, file_server, ssl_conf  # noqa: F401
from test_admin_api import KEY, SECRET, admin_conf

pytestmark = pytest.mark.revmq_only


def ctl(b, *args, conf=None, env=None):
    cmd = [str(helpers.build_dir() / "revmq"), "ctl", "-c", str(conf or b.config_path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)


def test_status_and_clients(broker_factory, tmp_path, raw_client):
    conf, port = admin_conf(tmp_path)
    b = broker_factory(conf)
    r = ctl(b, "status")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"Node revmq@127\.0\.0\.1 \S+ is running \(uptime \d+s, 0 clients "
                        r"connected\)\n", r.stdout), r.stdout
    c = raw_client(b, version=5)
    c.send(helpers.build_connect("meter 1/a", version=5, username="alice"))
    c.recv_packet()
    r = ctl(b, "clients", "list")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"client\(clientid=meter 1/a, username=alice, ip_address=127\.0\.0\.1, "
                        r"port=\d+, connected=true, proto_ver=5, listener=tcp:default, "
                        r"principal=anonymous\)\n", r.stdout), r.stdout
    r = ctl(b, "clients", "show", "meter 1/a")
    assert r.returncode == 0 and '"clientid": "meter 1/a"' in r.stdout, r
    r = ctl(b, "clients", "kick", "meter 1/a")
    assert (r.returncode, r.stdout) == (0, "ok\n"), r
    assert c.recv_packet().rc == 0x98
    r = ctl(b, "clients", "kick", "meter 1/a")
    assert r.returncode == 1
    assert r.stderr == "revmq ctl: Client ID not found (HTTP 404)\n"
    assert ctl(b, "clients", "list").stdout == ""


def test_usage_and_unreachable(broker_factory, tmp_path):
    conf, port = admin_conf(tmp_path)
    b = broker_factory(conf)
    assert ctl(b, "frobnicate").returncode == 2
    assert ctl(b, "clients").returncode == 2
    r = ctl(b, "--help")
    assert r.returncode == 0 and "clients list" in r.stderr
    # wrong secret from the command line: the API's 401 comes through
    r = ctl(b, "--key", KEY, "--secret", "nope", "status")
    assert r.returncode == 1 and "HTTP 401" in r.stderr, r
    # a listener that is not there
    r = ctl(b, "--url", f"http://127.0.0.1:{helpers.free_port()}", "status")
    assert r.returncode == 3 and "cannot reach the admin API" in r.stderr, r
    # no key anywhere
    bare = tmp_path / "bare.conf"
    bare.write_text(f'dashboard.listeners.http.bind = "127.0.0.1:{port}"\n')
    r = ctl(b, "status", conf=bare)
    assert r.returncode == 2 and "no API key" in r.stderr
    env = {"RMQ_API_KEY": KEY, "RMQ_API_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    r = ctl(b, "status", conf=bare, env=env)
    assert r.returncode == 0 and "is running" in r.stdout, r


def test_crl_show_and_refresh(broker_factory, tmp_path, file_server):  # noqa: F811
    fs = file_server()
    w = World(tmp_path / "w")
    w.inter.revoke(w.bad)
    url = fs.publish("inter.pem", w.inter.gencrl()[0])
    aconf, _ = admin_conf(tmp_path)
    b = broker_factory(aconf + ssl_conf(w, crl_urls_line(url), "crl_cache.refresh_interval = 1h",
                                        "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    r = ctl(b, "crl", "show")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^source %s \(url\): last_fetch=\S+Z result=ok next_refresh_in=\d+s$"
                     % re.escape(url), r.stdout, re.M), r.stdout
    assert re.search(r'^  crl issuer="CN=Test Intermediate" number=[0-9a-f]+ entries=1 ', r.stdout,
                     re.M), r.stdout
    mark = b.log_mark()
    r = ctl(b, "crl", "refresh")
    assert (r.returncode, r.stdout) == (0, "ok\n"), r
    b.wait_for_log(r"admin: CRL refresh requested", since=mark)
    b.wait_for_log(r"crl_cache: refresh OK url=", since=mark)
    r = ctl(b, "ocsp", "refresh")
    assert r.returncode == 1 and "no listener staples OCSP responses" in r.stderr
    r = ctl(b, "ocsp", "show")
    assert (r.returncode, r.stdout) == (0, ""), r
