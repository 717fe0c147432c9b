"""revmq-ca auto-cert: keeps cert.pem / cert.key / ca-cert.pem current, atomically,
and only when due."""

import os
import signal
import stat
import subprocess
import threading
import time

import pytest

from ca_tools import RevmqCA, ca_binary


@pytest.fixture
def ca(tmp_path):
    c = RevmqCA(tmp_path)
    c.port = 4664
    c.init()
    c.create_ca()
    return c


def autocert(ca, out, *extra, now=None, check=True):
    return ca.run("auto-cert", "--ca", "mqtt-ca", "--host", "mqtt.example", "--cert-type",
                  "server", "--ttl", "30d", "--refresh-threshold", "15d", "--out-dir", out,
                  "--once", *extra, now=now, check=check)


def serial(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-serial"],
                          capture_output=True, text=True, timeout=30).stdout.strip()


def files(out):
    return {n: os.path.join(out, n) for n in ("cert.pem", "cert.key", "ca-cert.pem")}


def test_once__creates_files_that_verify(ca):
    out = os.path.join(ca.root, "certs")
    autocert(ca, out)
    f = files(out)
    assert sorted(os.listdir(out)) == ["ca-cert.pem", "cert.key", "cert.pem"]
    assert stat.S_IMODE(os.stat(f["cert.key"]).st_mode) == 0o600
    p = subprocess.run(["openssl", "verify", "-CAfile", f["ca-cert.pem"], f["cert.pem"]],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    text = subprocess.run(["openssl", "x509", "-in", f["cert.pem"], "-noout", "-text"],
                          capture_output=True, text=True, timeout=30).stdout
    assert "DNS:mqtt.example" in text and "TLS Web Server Authentication" in text
    assert "/crl-pem/acme/mqtt-ca/1" in text


def test_once__does_nothing_when_not_due_and_replaces_when_due(ca):
    out = os.path.join(ca.root, "certs")
    autocert(ca, out)
    f = files(out)
    before = {k: (os.stat(p).st_ino, open(p).read()) for k, p in f.items()}
    autocert(ca, out)  # 30d left > 15d threshold
    assert {k: (os.stat(p).st_ino, open(p).read()) for k, p in f.items()} == before
    s1 = serial(f["cert.pem"])
    autocert(ca, out, now=int(time.time()) + 20 * 86400)  # 10d left < 15d
    assert serial(f["cert.pem"]) != s1
    assert os.stat(f["cert.pem"]).st_ino != before["cert.pem"][0]  # renamed into place
    assert os.stat(f["cert.key"]).st_ino != before["cert.key"][0]
    assert sorted(os.listdir(out)) == ["ca-cert.pem", "cert.key", "cert.pem"]  # no temp files


@pytest.mark.parametrize("damage", ["truncate-cert", "delete-key", "garbage-key", "swap-key",
                                    "delete-ca"])
def test_once__replaces_missing_or_unreadable_files(ca, damage):
    out = os.path.join(ca.root, "certs")
    autocert(ca, out)
    f = files(out)
    s1 = serial(f["cert.pem"])
    if damage == "truncate-cert":
        open(f["cert.pem"], "w").close()
    elif damage == "delete-key":
        os.unlink(f["cert.key"])
    elif damage == "garbage-key":
        open(f["cert.key"], "w").write("not a key\n")
    elif damage == "swap-key":
        other = ca.issue("other", cert_type="server")
        open(f["cert.key"], "w").write(open(other.key).read())
    elif damage == "delete-ca":
        os.unlink(f["ca-cert.pem"])
    autocert(ca, out)
    s2 = serial(f["cert.pem"])
    assert s2 and s2 != s1
    p = subprocess.run(["openssl", "verify", "-CAfile", f["ca-cert.pem"], f["cert.pem"]],
                       capture_output=True, timeout=30)
    assert p.returncode == 0
    m1 = subprocess.run(["openssl", "x509", "-in", f["cert.pem"], "-noout", "-pubkey"],
                        capture_output=True, timeout=30).stdout
    m2 = subprocess.run(["openssl", "pkey", "-in", f["cert.key"], "-pubout"],
                        capture_output=True, timeout=30).stdout
    assert m1 == m2


def test_once__follows_ca_rotation(ca):
    out = os.path.join(ca.root, "certs")
    autocert(ca, out)
    f = files(out)
    old_ca = open(f["ca-cert.pem"]).read()
    ca.rotate()
    autocert(ca, out)
    assert open(f["ca-cert.pem"]).read() != old_ca
    text = subprocess.run(["openssl", "x509", "-in", f["cert.pem"], "-noout", "-text"],
                          capture_output=True, text=True, timeout=30).stdout
    assert "CN = mqtt-ca v2" in text and "/crl-pem/acme/mqtt-ca/2" in text


def test_loop__replaces_atomically_while_read_and_stops_on_sigterm(ca):
    out = os.path.join(ca.root, "certs")
    # threshold > ttl: every check is due, so the loop replaces once a second
    proc = subprocess.Popen([ca_binary(), "--dir", ca.dir, "auto-cert", "--ca", "mqtt-ca",
                             "--host", "mqtt.example", "--cert-type", "server", "--ttl", "1h",
                             "--refresh-threshold", "2h", "--interval", "1s", "--out-dir", out],
                            stderr=subprocess.PIPE, text=True)
    torn = []
    seen = set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                data = open(os.path.join(out, "cert.pem")).read()
            except FileNotFoundError:
                continue
            if not (data.startswith("-----BEGIN CERTIFICATE-----\n")
                    and data.endswith("-----END CERTIFICATE-----\n")):
                torn.append(data)
            seen.add(data)

    t = threading.Thread(target=reader)
    t.start()
    try:
        deadline = time.monotonic() + 15
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        t.join()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        err = proc.stderr.read()
    assert len(seen) >= 3, err
    assert torn == []
    assert rc == 0 and "stopping signal=15" in err
    assert sorted(os.listdir(out)) == ["ca-cert.pem", "cert.key", "cert.pem"]


def test_errors__unknown_ca_and_missing_options(ca):
    p = ca.run("auto-cert", "--ca", "nope", "--host", "h", "--out-dir", ca.root, "--once",
               check=False)
    assert p.returncode == 1 and "no CA named 'nope'" in p.stderr
    p = ca.run("auto-cert", "--ca", "mqtt-ca", "--once", check=False)
    assert p.returncode == 2


def test_ca_tools_helpers(tmp_path):
    from ca_tools import start_revmq_ca
    c = start_revmq_ca(tmp_path)
    try:
        cert, key, cacert = c.auto_cert(os.path.join(c.root, "srv"))
        p = subprocess.run(["openssl", "verify", "-CAfile", cacert, cert], capture_output=True,
                           timeout=30)
        assert p.returncode == 0
        proc = c.auto_cert_process(os.path.join(c.root, "srv2"), threshold="2h", ttl="1h")
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(c.root, "srv2", "cert.pem")):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        assert c.stop() == 0
