"""ca_tools — drive a real `revmq-ca` from tests.

Usage (any integration test may import this):

    from ca_tools import RevmqCA, revmq_ca   # revmq_ca is a pytest fixture

    def test_x(revmq_ca):                     # serve running, tenant + CA "mqtt-ca" made
        dev = revmq_ca.issue("device-1", cert_type="client")
        dev.cert, dev.key, dev.ca_cert, dev.serial     # paths (str) and hex serial
        revmq_ca.revoke(dev.serial, "keyCompromise")
        revmq_ca.crl_url()        # http://127.0.0.1:PORT/crl-pem/<tenant>/mqtt-ca/1
        revmq_ca.ocsp_url()       # http://127.0.0.1:PORT/ocsp/<uuid>/mqtt-ca

Or by hand: `ca = RevmqCA(tmp_path); ca.start(); ca.init(); ca.create_ca(); ...;
ca.stop()` (stop() is idempotent; the fixture calls it in a finalizer).

`serve` is started first on a free port (--listen 127.0.0.1:0; the bound port
is read from its first stdout line), so the CA's CRL/OCSP URL templates can
point at it. Binaries come from $RMQ_BUILD_DIR (default /work/main/build).
Times: pass now=<unix seconds> to any call (sets REVMQ_CA_NOW), or
not_before/not_after as "-1d", "+2h", "@UNIX".
"""

import itertools
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

import pytest

DEFAULT_CRL_TEMPLATE = "http://127.0.0.1:{port}/crl-pem/${{SYS_TENANT_NAME}}/${{SYS_CA_NAME}}/${{SYS_CA_VERSION}}"
DEFAULT_OCSP_TEMPLATE = "http://127.0.0.1:{port}/ocsp/${{SYS_TENANT_UUID}}/${{SYS_CA_NAME}}"


def build_dir():
    return os.environ.get("RMQ_BUILD_DIR", "/work/main/build")


def ca_binary():
    return os.path.join(build_dir(), "revmq-ca")


@dataclass
class Issued:
    serial: str  # uppercase hex, as `openssl x509 -serial` prints it
    cert: str  # path to PEM certificate
    key: str  # path to PEM private key (mode 0600)
    ca_cert: str  # path to the issuing CA certificate (PEM)


class RevmqCA:
    def __init__(self, tmp_path, tenant="acme", ca_name="mqtt-ca", crl_validity=None,
                 ocsp_validity=None, serve_args=()):
        self.root = str(tmp_path)
        self.dir = os.path.join(self.root, "revmq-ca-data")
        self.tenant = tenant
        self.ca_name = ca_name
        self.crl_validity = crl_validity
        self.ocsp_validity = ocsp_validity
        self.serve_args = list(serve_args)
        self.proc = None
        self.port = None
        self.uuid = None
        self.log_path = os.path.join(self.root, "revmq-ca-serve.log")
        self._n = itertools.count(1)  # next() is atomic: issue() is thread-safe

    # ---- processes -------------------------------------------------------

    def env(self, now=None):
        e = dict(os.environ)
        e.pop("REVMQ_CA_NOW", None)
        if now is not None:
            e["REVMQ_CA_NOW"] = str(int(now))
        return e

    def run(self, *args, check=True, now=None, timeout=60):
        """Runs `revmq-ca --dir DIR [--crl-validity] ARGS...`; returns CompletedProcess
        (text stdout/stderr). Raises with stderr on failure when check."""
        cmd = [ca_binary(), "--dir", self.dir]
        if self.crl_validity:
            cmd += ["--crl-validity", self.crl_validity]
        cmd += [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env(now),
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} -> {p.returncode}\n{p.stderr}")
        return p

    def start(self, listen="127.0.0.1:0", now=None, timeout=10):
        """Starts `serve`; waits for its "listening HOST:PORT" line."""
        cmd = [ca_binary(), "--dir", self.dir, "serve", "--listen", listen]
        if self.crl_validity:
            cmd += ["--crl-validity", self.crl_validity]
        if self.ocsp_validity:
            cmd += ["--ocsp-validity", self.ocsp_validity]
        cmd += self.serve_args
        os.makedirs(self.root, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     env=self.env(now))
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                self.stop()
                raise AssertionError("revmq-ca serve did not start; log: " + self.log())
            ch = self.proc.stdout.read1(1) if hasattr(self.proc.stdout, "read1") else \
                self.proc.stdout.read(1)
            if not ch:
                self.stop()
                raise AssertionError("revmq-ca serve exited; log: " + self.log())
            line += ch
        sel.close()
        words = line.decode().split()
        assert words[0] == "listening", line
        self.port = int(words[1].rsplit(":", 1)[1])
        return self

    def stop(self):
        """Stops serve with SIGTERM (SIGKILL after 5 s); returns its exit code."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        self.proc.stdout.close()
        self._log.close()
        self.proc = None
        return rc

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # ---- tenant and CA ---------------------------------------------------

    def init(self):
        self.uuid = self.run("init", "--tenant", self.tenant).stdout.strip()
        return self.uuid

    def create_ca(self, name=None, crl_templates=None, ocsp_templates=None, extra=(), now=None):
        """Creates a CA whose URLs point at this serve (PEM CRL endpoint by default).
        Returns the CA certificate path."""
        name = name or self.ca_name
        if crl_templates is None:
            crl_templates = [DEFAULT_CRL_TEMPLATE.format(port=self.port)]
        if ocsp_templates is None:
            ocsp_templates = [DEFAULT_OCSP_TEMPLATE.format(port=self.port)]
        args = ["ca", "create", "--name", name]
        for t in crl_templates:
            args += ["--crl-dist-url", t]
        for t in ocsp_templates:
            args += ["--ocsp-responder-url", t]
        self.run(*args, *extra, now=now)
        return self.ca_cert(name)

    def ca_cert(self, name=None, version=None):
        """Writes the CA certificate to a file and returns its path."""
        name = name or self.ca_name
        args = ["ca", "get-ca-cert", "--ca", name]
        if version:
            args += ["--version", version]
        pem = self.run(*args).stdout
        path = os.path.join(self.root, f"{name}-v{version or 'cur'}-ca.pem")
        with open(path, "w") as f:
            f.write(pem)
        return path

    def rotate(self, name=None):
        return int(self.run("ca", "rotate", "--ca", name or self.ca_name).stdout.strip())

    # ---- certificates ----------------------------------------------------

    def issue(self, host, cert_type="client", ttl=None, not_before=None, not_after=None,
              ca=None, prefix=None, extra=(), now=None):
        """Issues a certificate into files; returns Issued."""
        prefix = prefix or os.path.join(self.root, f"{host}-{next(self._n)}")
        args = ["ca", "issue-cert", "--ca", ca or self.ca_name, "--host", host,
                "--cert-type", cert_type, "--out", prefix]
        if ttl:
            args += ["--ttl", ttl]
        if not_before:
            args += ["--not-before", not_before]
        if not_after:
            args += ["--not-after", not_after]
        serial = self.run(*args, *extra, now=now).stdout.strip()
        return Issued(serial, prefix + ".pem", prefix + ".key", prefix + "-ca.pem")

    def revoke(self, serial, reason="keyCompromise", ca=None, check=True):
        return self.run("ca", "revoke-cert", "--ca", ca or self.ca_name, "--reason", reason,
                        serial, check=check)

    def auto_cert(self, out_dir, host="localhost", cert_type="server", ttl="30d",
                  threshold="15d", ca=None, now=None):
        """One `auto-cert --once` run; returns the paths of cert.pem, cert.key, ca-cert.pem.
        For a long-running rotator use auto_cert_process()."""
        self.run("auto-cert", "--ca", ca or self.ca_name, "--host", host, "--cert-type",
                 cert_type, "--ttl", ttl, "--refresh-threshold", threshold, "--out-dir",
                 out_dir, "--once", now=now)
        return tuple(os.path.join(out_dir, n) for n in ("cert.pem", "cert.key", "ca-cert.pem"))

    def auto_cert_process(self, out_dir, host="localhost", cert_type="server", ttl="30d",
                          threshold="15d", interval="1s", ca=None):
        """Starts `auto-cert` looping; the caller stops it (SIGTERM -> exit 0)."""
        cmd = [ca_binary(), "--dir", self.dir, "auto-cert", "--ca", ca or self.ca_name,
               "--host", host, "--cert-type", cert_type, "--ttl", ttl,
               "--refresh-threshold", threshold, "--interval", interval, "--out-dir", out_dir]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env=self.env())

    def get_crl(self, ca=None, fmt="--pem"):
        return self.run("ca", "get-crl", "--ca", ca or self.ca_name, fmt).stdout

    # ---- URLs ------------------------------------------------------------

    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def crl_url(self, version=1, pem=True, ca=None, tenant=None):
        kind = "crl-pem" if pem else "crl"
        return f"{self.base_url()}/{kind}/{tenant or self.tenant}/{ca or self.ca_name}/{version}"

    def ocsp_url(self, ca=None):
        return f"{self.base_url()}/ocsp/{self.uuid}/{ca or self.ca_name}"


def start_revmq_ca(tmp_path, **kw):
    """Started serve + tenant + CA; caller must call .stop()."""
    ca = RevmqCA(tmp_path, **kw)
    ca.start()
    try:
        ca.init()
        ca.create_ca()
    except BaseException:
        ca.stop()
        raise
    return ca


@pytest.fixture
def revmq_ca(tmp_path):
    ca = start_revmq_ca(tmp_path / "ca")
    yield ca
    rc = ca.stop()
    # a crash (or a sanitizer report) in serve fails the test that caused it
    assert rc == 0, f"revmq-ca serve exited {rc}; log:\n{ca.log()}"
