"""node.workers (issue 16, first steps): worker 0 is the MQTT core; a TLS
handshake goes to the worker with the fewest handshakes in progress —
workers 1..N-1 first (round robin among equals), the core only when it has
fewer than each of them — and a handshake worker hands each finished
connection to the core. Threads are named so an operator sees them in
`top -H`; a handshake's worker is on a debug line."""

import json
import os
import re
import socket
import subprocess

import pytest

import helpers
from helpers import HOST, MosquittoSub
from pki import PKI, s_client
from test_config_cli import check

pytestmark = pytest.mark.revmq_only


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("workerspki")
    p = PKI(d / "pki")
    w = type("World", (), {})()
    w.root = p.root
    w.server = p.root.server_cert("server")
    w.dev1 = p.root.client_cert("dev1")
    w.dev2 = p.root.client_cert("dev2")
    w.revoked = p.root.client_cert("revoked")
    p.root.revoke(w.revoked)
    w.crl, _ = p.root.gencrl()  # `openssl ca -gencrl`: revmq did not make this PKI
    return w


def tls_conf(w, workers):
    base = "listeners.ssl.default.ssl_options"
    lines = [f'{base}.certfile = "{w.server.cert}"', f'{base}.keyfile = "{w.server.key}"',
             f'{base}.cacertfile = "{w.root.cert}"', f"{base}.verify = verify_peer",
             f"{base}.fail_if_no_peer_cert = true"]
    if workers is not None:
        lines.append(f"node.workers = {workers}")
    return "\n".join(lines) + "\n"


def thread_names(pid):
    names = []
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                names.append(f.read().strip())
        except FileNotFoundError:
            pass  # a thread that just ended
    return names


def mtls_pub(w, port, cert, topic, msg):
    r = subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(port), "-q", "1", "-t", topic,
                        "-m", msg, "--cafile", w.root.cert, "--cert", cert.cert, "--key",
                        cert.key], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr


def start(broker_factory, world, workers):
    b = broker_factory(tls_conf(world, workers), extra_listeners=["ssl:default"],
                       log_level="debug")
    return b, b.ports["ssl:default"]


def handshake_workers_since(b, mark=0):
    text = b.log_path.read_bytes()[mark:].decode("utf-8", "replace")
    return re.findall(r"handshake done listener=ssl:default .* worker=(\d+)", text)


def pubsub_over_tls(world, port, n):
    sub = MosquittoSub(port, "w/#", "--cafile", world.root.cert, "--cert", world.dev2.cert,
                       "--key", world.dev2.key).start()
    try:
        for i in range(n):
            mtls_pub(world, port, world.dev1, f"w/{i}", f"m{i}")
        for i in range(n):
            sub.wait_line(lambda l, i=i: l == f"w/{i} m{i}")
    finally:
        sub.stop()


def test_handshakes_spread_over_handshake_workers(broker_factory, world):
    b, port = start(broker_factory, world, 3)
    names = thread_names(b.proc.pid)
    assert names.count("revmq-core") == 1, names
    assert "revmq-hs1" in names and "revmq-hs2" in names and "revmq-hs3" not in names, names
    b.wait_for_log(r"net: workers=3 core=1 handshake=2")
    pubsub_over_tls(world, port, 6)  # 7 handshakes: the subscriber and 6 publishers
    workers = set(handshake_workers_since(b))
    assert workers == {"1", "2"}, workers  # one at a time: round robin, never the core


def test_a_busy_handshake_worker_sends_the_next_handshake_to_the_core(broker_factory, world):
    b, port = start(broker_factory, world, 2)
    mark = b.log_mark()
    # No ClientHello: this handshake stays in progress on revmq-hs1 (the only
    # handshake worker); the next client's must not queue behind it there.
    stalled = socket.create_connection((HOST, port))
    try:
        mtls_pub(world, port, world.dev1, "w/busy", "m")
        assert handshake_workers_since(b, mark) == ["0"]
    finally:
        stalled.close()
    # the stalled handshake ended (EOF): no longer counted, so the next ones
    # go back to the handshake worker, one at a time
    b.wait_for_log(r"handshake failed listener=ssl:default", since=mark)
    mark = b.log_mark()
    for i in range(3):
        mtls_pub(world, port, world.dev1, f"w/{i}", "m")
    assert handshake_workers_since(b, mark) == ["1", "1", "1"]


def test_a_revoked_client_is_refused_on_the_core_worker_too(broker_factory, world):
    crl = (f"listeners.ssl.default.ssl_options.enable_crl_check = true\n"
           f'listeners.ssl.default.ssl_options.crlfile = "{world.crl}"\n')
    b = broker_factory(tls_conf(world, 2) + crl, extra_listeners=["ssl:default"],
                       log_level="debug")
    port = b.ports["ssl:default"]
    mark = b.log_mark()
    # a stalled handshake keeps revmq-hs1 busy: the next ones go to the core
    stalled = socket.create_connection((HOST, port))
    try:
        for ver in ("1.2", "1.3"):
            r = s_client(port, cafile=world.root.cert, cert=world.revoked.cert,
                         key=world.revoked.key, version=ver)
            assert r.alert == 44, r  # certificate_revoked
            ok = s_client(port, cafile=world.root.cert, cert=world.dev1.cert, key=world.dev1.key,
                          version=ver)
            assert ok.ok, ok
        assert set(handshake_workers_since(b, mark)) == {"0"}
    finally:
        stalled.close()


def test_one_worker_does_everything(broker_factory, world):
    b, port = start(broker_factory, world, 1)
    names = thread_names(b.proc.pid)
    assert "revmq-core" in names and not any(n.startswith("revmq-hs") for n in names), names
    pubsub_over_tls(world, port, 3)
    workers = set(handshake_workers_since(b))
    assert workers == {"0"}, workers


def test_default_is_one_worker_per_cpu(broker_factory, world):
    b, port = start(broker_factory, world, None)
    cpus = os.sysconf("SC_NPROCESSORS_ONLN")
    hs = [n for n in thread_names(b.proc.pid) if n.startswith("revmq-hs")]
    assert len(hs) == cpus - 1, (hs, cpus)
    b.wait_for_log(rf"net: workers={cpus} core=1 handshake={cpus - 1}")
    pubsub_over_tls(world, port, 1)


def bench_connect(port, count, *tls):
    return subprocess.Popen([str(helpers.build_dir() / "revmq-bench"), "connect", "--port",
                             str(port), "--tls", "--count", str(count), "--concurrency", "25",
                             "--timeout", "60s", "--json", "--quiet", *tls],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_storm_uses_every_worker_and_refuses_the_same(broker_factory, world):
    """Many handshakes at once, with and without a client certificate: both
    workers do handshakes (the core too, when the handshake worker has more in
    progress), every certified client gets in and none without. Also in the
    ThreadSanitizer run: refusals logged from two threads at one call site."""
    b, port = start(broker_factory, world, 2)
    mark = b.log_mark()
    ca = ["--cafile", str(world.root.cert)]
    runs = {"cert": bench_connect(port, 200, *ca, "--cert", str(world.dev1.cert), "--key",
                                  str(world.dev1.key)),
            "none": bench_connect(port, 100, *ca)}
    try:
        results = {k: json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1])
                   for k, p in runs.items()}
    finally:
        for p in runs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    assert results["cert"]["connections_ok"] == 200, results["cert"]
    assert results["none"]["connections_ok"] == 0, results["none"]
    assert set(handshake_workers_since(b, mark)) == {"0", "1"}


@pytest.mark.parametrize("value", ["-1", "257", "many"])
def test_bad_worker_count_is_refused(tmp_path, value):
    conf = tmp_path / "revmq.conf"
    conf.write_text(f"node.workers = {value}\n")
    r = check(conf)
    assert r.returncode != 0
    assert "node.workers" in r.stderr and value in r.stderr, r.stderr
