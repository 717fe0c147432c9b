"""scripts/demo.sh, the `make run` demo (issue 7): started on free ports, each
command it prints is run as printed and does what the text says; Ctrl-C stops
revmq and revmq-ca cleanly; a second run reuses the demo PKI. Issue 12: no demo
listener admits anonymous clients, and the attack of the issue (an anonymous or
password client on the TCP listener using client id device-1) fails.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import helpers

pytestmark = pytest.mark.revmq_only

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "demo.sh"
SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def group_members(pgid: int, root: Path) -> list:
    """PIDs in process group `pgid` whose working directory is under `root`: the
    processes this test started there (pid_max may be small, so a bare group id
    could by now belong to somebody else)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != pgid:  # fields: state, ppid, pgrp, ...
                continue
            cwd = os.readlink(d / "cwd")
        except (OSError, ValueError):
            continue
        if cwd == str(root) or cwd.startswith(str(root) + "/"):
            out.append(int(d.name))
    return out


def stop_pids(pids: list, timeout: float = 5.0):
    """SIGTERM, then SIGKILL after `timeout` for those still alive."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = []
            for pid in pids:
                try:
                    os.kill(pid, 0)
                    alive.append(pid)
                except ProcessLookupError:
                    pass
            if not alive:
                return
            time.sleep(0.05)
        pids = alive


class Demo:
    """One run of scripts/demo.sh in its own session (so SIGINT to the group is Ctrl-C)."""

    def __init__(self, workdir: Path, ports=None, follow=True):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.dir = workdir / "demo"
        self.ports = ports or {k: helpers.free_port() for k in ("tcp", "ssl", "ca")}
        self.out_path = workdir / f"demo-{time.monotonic_ns()}.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REVMQ_", "EMQX_"))}
        env.update(RMQ_DEMO_TCP_PORT=str(self.ports["tcp"]), RMQ_DEMO_SSL_PORT=str(self.ports["ssl"]),
                   RMQ_DEMO_CA_PORT=str(self.ports["ca"]), RMQ_DEMO_FOLLOW="1" if follow else "0")
        self.env = env
        self.proc = None

    def start(self, ready=True, timeout=40) -> "Demo":
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(["bash", str(SCRIPT), str(helpers.build_dir())],
                                     cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if ready:
            helpers.wait_until(lambda: "Ctrl-C stops" in self.out() or self.proc.poll() is not None,
                               timeout, what="the demo's instructions")
            assert self.proc.poll() is None, f"demo exited:\n{self.out()}"
        return self

    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    def commands(self) -> dict:
        """{step number: the command printed under "N. ..."} (4-space indented lines)."""
        cmds, step = {}, None
        for line in self.out().splitlines():
            m = re.match(r"^(\d+)\. ", line)
            if m:
                step = int(m.group(1))
            elif step is not None and line.startswith("    ") and line.strip():
                cmds.setdefault(step, line.strip())
        return cmds

    def log(self) -> str:
        p = self.dir / "revmq.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def ctrl_c(self, timeout=15) -> int:
        assert self.proc.poll() is None, "the demo is not running"
        os.killpg(self.proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        return self.proc.wait(timeout)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the script stops its children
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:  # anything the script left behind in its session
            stop_pids(group_members(self.proc.pid, self.workdir))
        self._out.close()


@pytest.fixture
def demos(tmp_path):
    made = []

    def make(**kw):
        d = Demo(tmp_path / "work", **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill()
    for d in made:
        for f in (d.dir / "revmq.log", d.dir / "revmq-ca.log"):
            if f.exists():
                text = f.read_text(errors="replace")
                assert not any(m in text for m in SANITIZER), f"{f}:\n{text[-3000:]}"


def sh(cmd: str, timeout=20, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=timeout,
                          **kw)


def start_sh(cmd: str, out: Path) -> subprocess.Popen:
    f = open(out, "wb")
    # stdbuf: mosquitto_sub writes through stdio, which buffers when not on a terminal
    p = subprocess.Popen(["bash", "-c", "exec stdbuf -oL " + cmd], stdout=f, stderr=subprocess.STDOUT,
                         start_new_session=True)
    f.close()
    return p


def stop(p: subprocess.Popen):
    if p.poll() is None:  # `exec`: p is the client itself
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def serial(pem: Path) -> str:
    return sh(f"openssl x509 -in {pem} -noout -serial").stdout.strip().split("=")[1]


@pytest.mark.timeout(120)
def test_demo_printed_commands_work_and_ctrl_c_stops_both(demos, tmp_path):
    d = demos().start()
    cmds = d.commands()
    assert sorted(cmds) == [1, 2, 3, 4, 5, 6, 7, 8], d.out()
    # each step has its own client id, except 8, which takes device 1's on purpose
    ids = {n: re.search(r" -i (\S+)", c).group(1) for n, c in cmds.items() if " -i " in c}
    assert ids == {1: "device-1", 2: "device-2-pub", 4: "device-2-sub", 7: "tcp-pub",
                   8: "device-1"}, ids
    ssl, ca = d.ports["ssl"], d.ports["ca"]
    assert f"-p {ssl} " in cmds[1] and "device-1.pem" in cmds[1] and cmds[1].startswith("mosquitto_sub")
    assert cmds[2].startswith("mosquitto_pub") and "device-2.pem" in cmds[2]
    assert cmds[3].startswith("openssl s_client") and "-status" in cmds[3]
    assert "ca revoke-cert --ca mqtt-ca" in cmds[5]
    assert cmds[5].split()[-1] == serial(d.dir / "device-2.pem")
    log = d.log()
    assert f"crl_cache: refresh OK url=http://127.0.0.1:{ca}/crl-pem/demo/mqtt-ca/1" in log, log
    assert re.search(r"ocsp: refresh OK listener=[a-z]+:default url=http://127\.0\.0\.1:%d/ocsp/.*status=good" % ca, log)
    assert f"listener: started name=default kind=tcp bind=127.0.0.1:{d.ports['tcp']}" in log

    # 3: the staple
    r = sh(cmds[3])
    assert "OCSP Response Status: successful" in r.stdout and "Cert Status: good" in r.stdout, r

    # 1 + 2: device 1 receives what device 2 publishes (over mutual TLS)
    sub1 = start_sh(cmds[1] + " -C 1 -W 20", tmp_path / "sub1.out")
    try:
        def delivered():
            r2 = sh(cmds[2])
            assert r2.returncode == 0, r2
            return "demo/hello hello from device 2" in (tmp_path / "sub1.out").read_text()
        helpers.wait_until(delivered, 10, interval=0.3, what="device 1 to receive device 2's message")
    finally:
        stop(sub1)

    # 4 + 5: device 2 connected, revoked, disconnected with 0x98, cannot come back
    sub2 = start_sh(cmds[4], tmp_path / "sub2.out")
    try:
        helpers.wait_until(lambda: "received SUBACK" in (tmp_path / "sub2.out").read_text(), 10,
                           what="device 2's SUBACK")
        r = sh(cmds[5])
        assert r.returncode == 0, r
        helpers.wait_until(lambda: "Received DISCONNECT (152)" in (tmp_path / "sub2.out").read_text(),
                           12, what="device 2 disconnected (the demo's CRL refresh is 5 s)")
        assert "closing connection of revoked certificate client_id=device-2" in d.log()
    finally:
        stop(sub2)
    r = sh(cmds[2])
    assert r.returncode != 0, r
    helpers.wait_until(lambda: re.search(r'client certificate rejected .*subject="CN=device-2" .*'
                                         r"reason=revoked", d.log()), 5, what="rejection log line")
    # 6: the probe shows the alert, and the log line names it
    r = sh(cmds[6])
    assert re.search(r"alert certificate revoked.*|alert number 44", r.stdout), r
    assert re.search(r'handshake failed listener=ssl:default .*error="sent alert 44 '
                     r"\(certificate revoked\)", d.log()), d.log()[-2000:]
    # the log is followed on the demo's stdout
    assert "mqtt: closing connection of revoked certificate" in d.out()

    # 7: TCP needs the password; 8 is checked in test_demo_tcp_attack_fails
    r = sh(cmds[7])
    assert r.returncode == 0, r
    assert sh(cmds[7].replace(" -P ", " -P x")).returncode != 0

    # Ctrl-C: both stop cleanly, ports free again
    assert d.ctrl_c() == 0, d.out()
    assert "broker: stopped" in d.log(), d.log()[-2000:]
    assert "ca-serve: stopping" in (d.dir / "revmq-ca.log").read_text()
    assert "demo: stopped" in d.out()
    for p in d.ports.values():
        assert port_free(p), f"port {p} still in use after Ctrl-C"


@pytest.mark.timeout(120)
def test_second_run_reuses_the_demo_pki(demos):
    d1 = demos().start()
    uuid1 = re.search(r"/ocsp/([0-9a-f-]+)/mqtt-ca", d1.out()).group(1)
    server1 = serial(d1.dir / "server" / "cert.pem")
    dev1 = serial(d1.dir / "device-1.pem")
    dev2 = serial(d1.dir / "device-2.pem")
    r = sh(d1.commands()[5])  # revoke device 2
    assert r.returncode == 0, r
    assert d1.ctrl_c() == 0

    d2 = demos(ports=d1.ports).start()
    assert "making the demo PKI" not in d2.out()
    assert re.search(r"/ocsp/([0-9a-f-]+)/mqtt-ca", d2.out()).group(1) == uuid1
    assert serial(d2.dir / "server" / "cert.pem") == server1
    assert serial(d2.dir / "device-1.pem") == dev1
    new2 = serial(d2.dir / "device-2.pem")
    assert new2 != dev2, "a revoked device 2 must get a new certificate"
    assert d2.commands()[5].split()[-1] == new2
    # the new device 2 works
    r = sh(d2.commands()[2])
    assert r.returncode == 0, r
    # SIGTERM to the script alone also stops both
    d2.proc.send_signal(signal.SIGTERM)
    assert d2.proc.wait(15) == 0
    assert "broker: stopped" in d2.log()
    for p in d2.ports.values():
        assert port_free(p)


@pytest.mark.timeout(60)
def test_busy_port_is_reported_and_nothing_is_left_running(demos):
    d = demos()
    with socket.socket() as s:
        s.bind(("127.0.0.1", d.ports["ssl"]))
        s.listen()
        d.start(ready=False)
        rc = d.proc.wait(40)
        assert rc == 1, d.out()
        # named before anything starts: the port, its role, what holds it (this test)
        assert re.search(r"demo: port %d \(MQTT over TLS\) is already taken by \S+ "
                         r"\(pid %d\); stop it or choose another port with RMQ_DEMO_SSL_PORT="
                         % (d.ports["ssl"], os.getpid()), d.out()), d.out()
    assert port_free(d.ports["ca"]), "revmq-ca left running"


@pytest.mark.timeout(120)
def test_demo_tcp_attack_fails(demos, tmp_path, raw_client):
    """Issue 12: on the demo, a TCP client can neither connect anonymously nor take
    device 1's session (live or offline), and device 1 is not kicked."""
    d = demos().start()
    cmds = d.commands()
    tcp = d.ports["tcp"]
    assert f"-p {tcp} " in cmds[7] and " -u demo -P " in cmds[7]
    assert "-i device-1" in cmds[8] and f"-p {tcp} " in cmds[8]
    # anonymous: refused (3.1.1 return code 4, v5 0x86)
    assert sh(f"mosquitto_pub -h localhost -p {tcp} -t demo/x -m x").returncode != 0
    for version, code in ((4, 4), (5, 0x86)):
        c = raw_client(tcp, version=version)
        assert c.connect("device-1", expect_rc=None).rc == code
    # device 1 subscribed over mutual TLS with a persistent session
    sub1 = start_sh(cmds[1].replace(" -t ", " -c -q 1 -t ") + " -d", tmp_path / "sub1.out")
    try:
        helpers.wait_until(lambda: "received SUBACK" in (tmp_path / "sub1.out").read_text(), 10,
                           what="device 1's SUBACK")
        r = sh(cmds[8] + " -W 3")
        assert r.returncode != 0 and "Not authorized" in r.stderr, r
        assert sub1.poll() is None, (tmp_path / "sub1.out").read_text()
        assert "DISCONNECT" not in (tmp_path / "sub1.out").read_text()
        assert re.search(r"session takeover refused client_id=device-1 .*listener=[a-z]+:default "
                         r'principal=user username="demo" owner_principal=cert '
                         r'owner_cn="device-1"', d.log()), d.log()[-3000:]
    finally:
        stop(sub1)
    # offline: a message queued for device 1 is not readable from TCP
    sh(cmds[7].replace("demo/hello", "demo/q").replace("-m ", "-q 1 -m "))
    r = sh(cmds[8].replace("-t 'demo/#'", "-t 'demo/#' -C 1") + " -W 3")
    assert r.returncode != 0 and "hello over TCP" not in r.stdout, r


def test_make_run_needs_only_build_and_runtime_packages():
    """Issue 15: `make run` installs no Mosquitto broker (Debian starts it on 1883, where the
    demo listens); tests and benchmarks install the rest. Its build output is quiet."""
    def pkgs(*purpose):
        r = subprocess.run(["bash", str(ROOT / "scripts" / "deps.sh"), "list", *purpose],
                           capture_output=True, text=True, check=True)
        return set(r.stdout.split())
    run, test, bench = pkgs("run"), pkgs("test"), pkgs("bench")
    assert {"mosquitto-clients", "openssl", "cmake", "libssl-dev"} <= run
    assert "mosquitto" not in run and "python3-pytest" not in run and "chromium" not in run
    assert {"mosquitto", "python3-pytest", "libcmocka-dev", "valgrind"} <= test and run <= test
    assert "mosquitto" in bench and run <= bench
    assert pkgs("all") == test | bench
    bad = subprocess.run(["bash", str(ROOT / "scripts" / "deps.sh"), "nonsense"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown purpose 'nonsense'" in bad.stderr
    # the Makefile passes the purpose of each goal; `make run` builds quietly
    # a clean environment: under `make asan` the caller's MAKEFLAGS carry BUILD=build-asan
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "BUILD", "DEPS")}

    def dry(goal):
        return subprocess.run(["make", "-n", "-C", str(ROOT), goal], capture_output=True,
                              text=True, check=True, env=env).stdout
    assert "scripts/deps.sh run" in dry("run") and "> build/build.log 2>&1" in dry("run")
    assert "scripts/deps.sh test" in dry("test")
    assert "scripts/deps.sh bench" in dry("bench")
    assert "scripts/deps.sh build" in dry("build")
