"""Smoke run of revmq-bench (the benchmark harness) against a real broker.

Not a benchmark: a few seconds of load with tiny counts, asserting that the
harness works end to end and that its JSON is sane — connects over TCP and
mutual TLS 1.3 (with many source addresses), a revoked client certificate
reported as `tls:certificate revoked`, publish/subscribe at QoS 1 without
loss, hold mode with its progress and "all attempted" lines, a refused port,
and `gen-crl` producing a CRL that openssl verifies.

Runs against revmq, or Debian's Mosquitto with RMQ_TEST_PEER=mosquitto.
"""

from __future__ import annotations

import json
import subprocess

import pytest

import helpers
from pki import PKI, openssl

pytestmark = pytest.mark.timeout(60)


def bench_exe():
    exe = helpers.build_dir() / "revmq-bench"
    if not exe.exists():
        pytest.skip(f"{exe} not built")
    return str(exe)


def run_bench(*args, timeout=30):
    """Runs revmq-bench with --json; returns (parsed JSON, stderr)."""
    p = subprocess.run([bench_exe(), *map(str, args), "--json"], capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, f"rc={p.returncode} stderr={p.stderr[-2000:]}"
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout
    return json.loads(lines[0]), p.stderr


def assert_latency_sane(h, n):
    assert h["n"] == n
    if n:
        assert 0 < h["p50"] <= h["p90"] <= h["p99"] <= h["max"], h
        assert h["max"] < 30_000_000, h  # microseconds: under the run's own timeout


@pytest.fixture
def world(tmp_path):
    pki = PKI(tmp_path / "pki")
    w = type("World", (), {})()
    w.root = pki.root
    w.server = pki.root.server_cert("server")
    w.good = pki.root.client_cert("bench good")
    w.bad = pki.root.client_cert("bench revoked")
    pki.root.revoke(w.bad)
    w.crl, _ = pki.root.gencrl()
    return w


@pytest.fixture
def tls_broker(broker_factory, world):
    """A broker with a mutual-TLS 1.3 listener whose CRL revokes world.bad."""
    port = helpers.free_port()
    conf = f"""
listeners.ssl.default {{
  bind = "127.0.0.1:{port}"
  ssl_options {{
    certfile = "{world.server.cert}"
    keyfile = "{world.server.key}"
    cacertfile = "{world.root.cert}"
    verify = verify_peer
    fail_if_no_peer_cert = true
    versions = [tlsv1.3]
    enable_crl_check = true
    crlfile = ["{world.crl}"]
  }}
}}
"""
    mosq = f"""
user root
listener {port} 127.0.0.1
cafile {world.root.cert}
certfile {world.server.cert}
keyfile {world.server.key}
require_certificate true
tls_version tlsv1.3
crlfile {world.crl}
"""
    b = broker_factory(conf, mosquitto_conf=mosq)
    helpers.wait_until(lambda: b._probe(port), timeout=10, what=f"TLS listener on {port}")
    b.tls_port = port
    return b


def test_connect_tcp_reports_rate_and_latency(broker):
    r, err = run_bench("connect", "--port", broker.port, "--count", 40, "--concurrency", 8,
                       "--source-ips", "127.0.0.1-127.0.0.4")
    assert r["mode"] == "connect" and r["transport"] == "tcp"
    assert r["connections_ok"] == 40 and r["connections_failed"] == 0, r
    assert r["errors"] == {}
    assert r["connects_per_sec"] > 0 and r["seconds"] > 0
    assert_latency_sane(r["connect_latency_us"], 40)


def test_connect_mutual_tls_and_revoked_cert_named(tls_broker, world):
    r, _ = run_bench("connect", "--port", tls_broker.tls_port, "--count", 30, "--concurrency", 5,
                     "--cafile", world.root.cert, "--cert", world.good.cert, "--key",
                     world.good.key, "--tls-version", "1.3", "--source-ips", "127.0.0.2-127.0.0.3")
    assert r["transport"] == "mtls"
    assert r["connections_ok"] == 30 and r["errors"] == {}, r
    assert_latency_sane(r["connect_latency_us"], 30)

    r, _ = run_bench("connect", "--port", tls_broker.tls_port, "--count", 6, "--concurrency", 3,
                     "--cert", world.bad.cert, "--key", world.bad.key, "--tls-version", "1.3")
    assert r["connections_ok"] == 0 and r["connections_failed"] == 6, r
    assert r["errors"] == {"tls:certificate revoked": 6}, r

    r, _ = run_bench("connect", "--port", tls_broker.tls_port, "--count", 2, "--tls")
    assert r["connections_ok"] == 0
    assert list(r["errors"]) == ["tls:certificate required"], r


def test_pubsub_qos1_over_mtls_no_loss(tls_broker, world):
    r, err = run_bench("pubsub", "--port", tls_broker.tls_port, "--cert", world.good.cert,
                       "--key", world.good.key, "--publishers", 2, "--subscribers", 2,
                       "--qos", 1, "--payload", 64, "--pub-rate", 300, "--duration", "1s")
    assert r["mode"] == "pubsub" and r["qos"] == 1
    assert r["sent"] > 100, r
    assert r["received"] == r["expected"] == r["sent"], r  # topics = publishers: 1 sub each
    assert r["lost"] == 0 and r["duplicates"] == 0 and r["errors"] == {}, r
    assert r["received_per_sec"] > 0
    assert_latency_sane(r["latency_us"], r["received"])
    assert "publishing" in err


def test_pubsub_qos0_tcp_fan_out(broker):
    # 1 publisher, 3 subscribers on its topic: each message expected 3 times
    r, _ = run_bench("pubsub", "--port", broker.port, "--publishers", 1, "--subscribers", 3,
                     "--topics", 1, "--qos", 0, "--messages", 200, "--pub-rate", 1000)
    assert r["sent"] == 200 and r["expected"] == 600, r
    assert r["received"] + r["lost"] == 600 and r["duplicates"] == 0, r
    assert r["received"] == 600, r  # 200 msgs at 1000/s: nothing should be dropped


def test_hold_prints_progress_and_all_attempted(broker):
    r, err = run_bench("hold", "--port", broker.port, "--count", 25, "--concurrency", 5,
                       "--duration", "1500ms", "--progress-interval", "200ms")
    assert r["mode"] == "hold" and r["connections_ok"] == 25, r
    assert "hold: all attempted open=25 failed=0" in err, err
    assert err.count("progress: ") >= 3, err


def test_connect_refused_port():
    port = helpers.free_port()
    r, _ = run_bench("connect", "--port", port, "--count", 3, "--quiet")
    assert r["connections_ok"] == 0 and r["errors"] == {"refused": 3}, r
    r, _ = run_bench("connect", "--port", port, "--count", 2, "--tls", "--quiet")
    assert r["errors"] == {"refused": 2}, r


def test_gen_crl_verifies_with_openssl(world, tmp_path):
    out = tmp_path / "big.crl"
    p = subprocess.run([bench_exe(), "gen-crl", "--ca-cert", world.root.cert, "--ca-key",
                        world.root.key, "--entries", "2000", "--include-serial",
                        world.bad.serial_hex, "--out", str(out)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    text = openssl("crl", "-in", str(out), "-noout", "-text").decode()
    assert text.count("Serial Number:") == 2000
    assert f"Serial Number: {world.bad.serial_hex}" in text
    v = subprocess.run(["openssl", "crl", "-in", str(out), "-CAfile", world.root.cert, "-noout"],
                       capture_output=True, text=True)
    assert "verify OK" in v.stdout + v.stderr


def test_cert_dir_round_robin_counts_revoked(tls_broker, world, tmp_path):
    # <n>.crt/<n>.key: two good clients and the revoked one, used in turn
    d = tmp_path / "clients"
    d.mkdir()
    extra = world.root.client_cert("bench good 2")
    for i, c in enumerate((world.good, extra, world.bad)):
        (d / f"{i}.crt").write_bytes(open(c.cert, "rb").read())
        (d / f"{i}.key").write_bytes(open(c.key, "rb").read())
    r, err = run_bench("connect", "--port", tls_broker.tls_port, "--cert-dir", d, "--count", 9,
                       "--concurrency", 3, "--tls-version", "1.3")
    assert "3 client certificates" in err
    assert r["connections_ok"] == 6 and r["errors"] == {"tls:certificate revoked": 3}, r


def test_connect_timeout_when_nothing_answers():
    # a socket that listens but never accepts: TCP connects (backlog), no CONNACK
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        r, _ = run_bench("connect", "--port", s.getsockname()[1], "--count", 3, "--concurrency", 3,
                         "--timeout", "300ms", "--quiet")
    assert r["connections_ok"] == 0 and r["errors"] == {"timeout": 3}, r


@pytest.mark.parametrize("opt,value,says", [
    ("--duration", "2.5s", "is not a duration"),        # one grammar: no decimals
    ("--timeout", "10 s", "is not a duration"),
    ("--progress-interval", "5ms", "at least 10ms"),
    ("--port", "65536", "whole number in [1, 65535]"),
    ("--qos", "3", "whole number in [0, 2]"),
    ("--rate", "-1", "rate per second >= 0"),
    ("--pub-rate", "fast", "rate per second >= 0"),
    ("--tls-version", "1.1", "1.2 or 1.3"),
])
def test_bad_option_value_is_refused_naming_option_and_value(opt, value, says):
    # nothing listens on port 1: a value that slipped through would show as a connect error
    p = subprocess.run([bench_exe(), "connect", "--port", "1", "--count", "1", opt, value],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, p
    assert f"revmq-bench: {opt}: '{value}' " in p.stderr and says in p.stderr, p.stderr
    assert p.stdout == ""


def test_duration_flags_take_the_common_grammar():
    # 1h30m (sum of parts) and a bare number of seconds are both durations
    for v in ("1h30m", "2"):
        p = subprocess.run([bench_exe(), "connect", "--port", "1", "--count", "1", "--quiet",
                            "--json", "--timeout", v], capture_output=True, text=True, timeout=10)
        assert p.returncode in (0, 1), p  # ran (the connect itself fails: nothing on port 1)
        assert "is not a duration" not in p.stderr
        assert json.loads(p.stdout.strip().splitlines()[0])["mode"] == "connect"


def test_help_lists_every_option_from_the_table():
    p = subprocess.run([bench_exe(), "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    for o in ("--host", "--port", "--tls-version", "--timeout", "--progress-interval", "--count",
              "--duration", "--qos", "--pub-rate", "--messages", "--inflight"):
        assert f"  {o} " in p.stdout, o


def sub_queued_topics(port, client_id, version, n, wait_s):
    """Resumes `client_id`'s session with mosquitto_sub (clean start 0) and returns the
    topics of the messages the broker had queued for it (at most n, waiting wait_s)."""
    v = ["-V", "mqttv5", "-x", "60"] if version == 5 else ["-V", "mqttv311"]
    p = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-c", "-i",
                        client_id, "-q", "1", "-t", "bench/#", "-C", str(n), "-W", str(wait_s),
                        "-F", "%t", *v], capture_output=True, text=True, timeout=wait_s + 10)
    return p.stdout.split()


@pytest.mark.parametrize("version", [4, 5])
def test_pubsub_session_expiry_makes_subscribers_persistent(broker, version, uid):
    # Subscribers of a --session-expiry run keep their sessions when the run ends:
    # what is published afterwards (by a publish-only run, --subscribers 0) is
    # queued for them and handed over when they come back with clean start 0.
    pre = f"p{uid}-"
    r, _ = run_bench("pubsub", "--port", broker.port, "--mqtt-version", version,
                     "--publishers", 1, "--subscribers", 2, "--topics", 1, "--qos", 1,
                     "--messages", 20, "--session-expiry", "1h", "--client-prefix", pre)
    assert r["sessions"] == "persistent", r
    assert r["received"] == r["expected"] == 40 and r["lost"] == 0 and r["errors"] == {}, r
    r, _ = run_bench("pubsub", "--port", broker.port, "--mqtt-version", version,
                     "--publishers", 1, "--subscribers", 0, "--topics", 1, "--qos", 1,
                     "--messages", 5, "--client-prefix", f"w{uid}-")
    assert r["sent"] == r["acked"] == 5 and r["expected"] == 0 and r["errors"] == {}, r
    for sub in (f"{pre}0", f"{pre}1"):
        assert sub_queued_topics(broker.port, sub, version, 5, 5) == ["bench/t0"] * 5, sub


def test_pubsub_without_session_expiry_leaves_no_session(broker, uid):
    pre = f"c{uid}-"
    r, _ = run_bench("pubsub", "--port", broker.port, "--publishers", 1, "--subscribers", 1,
                     "--qos", 1, "--messages", 10, "--client-prefix", pre)
    assert r["sessions"] == "clean" and r["received"] == 10, r
    r, _ = run_bench("pubsub", "--port", broker.port, "--publishers", 1, "--subscribers", 0,
                     "--qos", 1, "--messages", 5, "--client-prefix", f"w{uid}-")
    assert r["acked"] == 5, r
    assert sub_queued_topics(broker.port, f"{pre}0", 4, 5, 1) == []
