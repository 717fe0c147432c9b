"""`make install` (issue 15): PREFIX and DESTDIR; the installed broker starts
from the installed config (environment overrides only for ports and the data
dir), tells systemd it is ready / reloading / stopping over NOTIFY_SOCKET
(sd_notify), the man pages render, revmq.conf(5) names every key of the
schema, and `systemd-analyze verify` accepts the unit."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import helpers

pytestmark = pytest.mark.revmq_only

SRC = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    dest = tmp_path_factory.mktemp("stage")
    r = subprocess.run(["make", "--no-print-directory", "install", f"BUILD={helpers.build_dir()}",
                        "PREFIX=/usr", f"DESTDIR={dest}"], cwd=SRC, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return dest


def test_files_installed(staged):
    for f in ["usr/bin/revmq", "usr/bin/revmq-ca", "usr/bin/revmq-bench",
              "usr/share/man/man8/revmq.8", "usr/share/man/man8/revmq-ca.8",
              "usr/share/man/man5/revmq.conf.5", "etc/revmq/revmq.conf",
              "usr/lib/systemd/system/revmq.service"]:
        assert (staged / f).is_file(), f
    assert os.access(staged / "usr/bin/revmq", os.X_OK)
    unit = (staged / "usr/lib/systemd/system/revmq.service").read_text()
    assert "ExecStart=/usr/bin/revmq -c /etc/revmq/revmq.conf\n" in unit
    assert "Type=notify\n" in unit and "LimitNOFILE=1048576\n" in unit
    r = subprocess.run([str(staged / "usr/bin/revmq"), "--check-config", "-c",
                        str(staged / "etc/revmq/revmq.conf")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_man_pages_render_and_conf5_has_every_key(staged):
    if not shutil.which("man"):
        pytest.skip("man not installed")
    env = dict(os.environ, MANWIDTH="100")
    for page, want in [("man8/revmq.8", "revmq - MQTT broker"),
                       ("man8/revmq-ca.8", "revmq-ca - a small certificate authority"),
                       ("man5/revmq.conf.5", "revmq.conf - configuration of the revmq")]:
        r = subprocess.run(["man", "-l", str(staged / "usr/share/man" / page)], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and want in r.stdout, (page, r.stderr)
        assert "warning" not in r.stderr.lower(), r.stderr
    conf5 = subprocess.run(["man", "-l", str(staged / "usr/share/man/man5/revmq.conf.5")],
                           env=env, capture_output=True, text=True).stdout
    docs = (SRC / "docs/configuration.md").read_text()
    keys = re.findall(r"^### (\S+)$", docs, re.M)
    assert len(keys) > 40, keys
    for k in keys:
        assert k in conf5, k


def test_unit_verifies(staged, tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    unit = (staged / "usr/lib/systemd/system/revmq.service").read_text()
    # verify checks that ExecStart exists: point it at the staged binary
    (tmp_path / "revmq.service").write_text(unit.replace("/usr/bin/revmq",
                                                         str(staged / "usr/bin/revmq")))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "revmq.service")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    # the check itself catches a bad key
    (tmp_path / "bad.service").write_text(unit.replace("/usr/bin/revmq",
                                                       str(staged / "usr/bin/revmq"))
                                          + "[Service]\nLimitNOFILES=1\n")
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "bad.service")],
                       capture_output=True, text=True, timeout=60)
    assert "LimitNOFILES" in r.stderr


def recv_notify(sock, want, timeout=10):
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(msg)
        if want in msg.split("\n"):
            return got
    raise AssertionError(f"no {want} in {got}")


def test_installed_broker_starts_from_installed_config(staged, tmp_path):
    port = helpers.free_port()
    nsock = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(nsock)
    env = dict(os.environ, NOTIFY_SOCKET=nsock,
               REVMQ_NODE__DATA_DIR=str(tmp_path / "data"),
               REVMQ_LISTENERS__TCP__DEFAULT__BIND=f"127.0.0.1:{port}",
               REVMQ_DASHBOARD__LISTENERS__HTTP__BIND="127.0.0.1:0")
    log = open(tmp_path / "revmq.log", "wb")
    p = subprocess.Popen([str(staged / "usr/bin/revmq"), "-c", str(staged / "etc/revmq/revmq.conf")],
                         env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        recv_notify(s, "READY=1")
        c = helpers.RawClient(port)
        c.send(helpers.build_connect("installed", version=4))
        assert c.recv_packet().name == "CONNACK"
        c.close()
        p.send_signal(signal.SIGHUP)
        got = recv_notify(s, "READY=1")
        assert any("RELOADING=1" in g for g in got), got
        p.send_signal(signal.SIGTERM)
        recv_notify(s, "STOPPING=1")
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
        s.close()
    text = (tmp_path / "revmq.log").read_text()
    assert re.search(r"info listener: started name=default kind=tcp bind=127\.0\.0\.1:%d" % port,
                     text), text
    assert "node=revmq@127.0.0.1" in text
