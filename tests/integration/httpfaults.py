"""httpfaults — HTTP servers for the revocation tests, and the helpers those tests share.

Two servers, both on 127.0.0.1 and a free port:

  FileServer — `/usr/bin/python3 -m http.server` (a separate process) serving a
  directory: the well-behaved CRL server.

      fs = file_server()                 # fixture factory; stopped at teardown
      fs.publish("inter.der", der_path)  # atomic copy into the served directory
      fs.url("inter.der")                # http://127.0.0.1:PORT/inter.der
      fs.stop()                          # connection refused from now on

  FaultServer — an in-process `http.server` subclass that misbehaves on purpose,
  decided per path (or by default) and changeable at any time; it records every
  request.

      srv = fault_server()               # fixture factory; stopped at teardown
      srv.set("/inter.crl", Reply.body(der))       # 200 with that body
      srv.set("/inter.crl", Reply.status(404))     # or 500 …
      srv.set("/inter.crl", Reply.hang())          # never answers (until stop)
      srv.set("/inter.crl", Reply.body(b, delay=2))
      srv.set("/inter.crl", Reply.cut(der))        # announces len(der), sends half, closes
      srv.set("/a.crl", Reply.redirect(srv.url("/b.crl")))
      srv.set("/ocsp/*", Reply…)                 # a path ending in /* matches by prefix
      srv.set_default(Reply.proxy("http://127.0.0.1:P"))  # forward (GET path / POST body)
      srv.set("/x", Reply(fn=lambda req: Reply(…)))       # decide per request
      srv.requests_for("/inter.crl")  -> [Request(method, path, body, time, headers)]
      srv.stop(); srv.start()            # stop: connection refused; start: same port again

Shared helpers: `World` (an openssl-ca PKI with an intermediate, a server and
clients), `ssl_conf()` (the listener lines), `connect()` (s_client with an
MQTT CONNECT), `tls_paho()` (paho-mqtt over mutual TLS recording every
disconnect), `fake_revoke()` (an `R` line in index.txt, for CRLs listing
serials without certificates), `forge()` (an OCSP response made with
python3-cryptography: any status, times, CertID hash and signer).
"""

from __future__ import annotations

import datetime
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

import helpers
import pki
from pki import PKI, s_client

# --------------------------------------------------------------------------
# the misbehaving server
# --------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    body: bytes
    time: float
    headers: dict = None  # lower-case names


class Reply:
    """What the FaultServer answers. Use the constructors below."""

    def __init__(self, status=200, body=b"", ctype="application/octet-stream", delay=0.0,
                 hang=False, cut=False, fn=None, headers=None):
        self.status, self.body, self.ctype = status, body, ctype
        self.delay, self.hang, self.cut, self.fn = delay, hang, cut, fn
        self.headers = dict(headers or {})

    @classmethod
    def body(cls, data: bytes, ctype="application/octet-stream", delay=0.0):
        return cls(200, data, ctype, delay=delay)

    @classmethod
    def status(cls, code: int):
        return cls(code, b"error %d\n" % code, "text/plain")

    @classmethod
    def redirect(cls, location: str, code: int = 302):
        return cls(code, b"", "text/plain", headers={"Location": location})

    @classmethod
    def hang(cls):
        return cls(hang=True)

    @classmethod
    def cut(cls, data: bytes):
        """Content-Length of `data`, then only its first half, then the connection closes."""
        return cls(200, data, cut=True)

    @classmethod
    def proxy(cls, base_url: str):
        """Forwards the request (GET: path appended to base_url; POST: same body)."""

        def fn(req: Request) -> "Reply":
            url = base_url.rstrip("/") + req.path
            if req.method == "POST":
                r = urllib.request.Request(url, data=req.body, method="POST",
                                           headers={"Content-Type": "application/ocsp-request"})
            else:
                r = urllib.request.Request(url, method="GET")
            try:
                with urllib.request.urlopen(r, timeout=5) as resp:
                    return Reply(resp.status, resp.read(),
                                 resp.headers.get("Content-Type", "application/octet-stream"))
            except urllib.error.HTTPError as e:
                return Reply(e.code, e.read(), "text/plain")
            except OSError:
                return Reply.status(502)

        return cls(fn=fn)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.owner.lock:
            self.server.owner.conns.add(self.connection)

    def finish(self):
        with self.server.owner.lock:
            self.server.owner.conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _serve(self, method):
        srv: FaultServer = self.server.owner
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        req = Request(method, self.path, body, time.monotonic(),
                      {k.lower(): v for k, v in self.headers.items()})
        with srv.lock:
            srv.requests.append(req)
            reply = srv.replies.get(self.path.split("?")[0])
            if reply is None:
                # GET-style OCSP requests carry the request in the path: match by prefix
                for p, r in srv.replies.items():
                    if p.endswith("/*") and self.path.startswith(p[:-1]):
                        reply = r
                        break
            if reply is None:
                reply = srv.default
        if reply.fn is not None:
            reply = reply.fn(req)
        if reply.hang:
            srv.release.wait(30)
            self.close_connection = True
            return
        if reply.delay:
            if srv.release.wait(reply.delay):
                self.close_connection = True
                return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.ctype)
        self.send_header("Content-Length", str(len(reply.body)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        if reply.cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.cut:
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(reply.body)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def log_message(self, *a):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FaultServer:
    def __init__(self, port: int | None = None):
        self.port = port or helpers.free_port()
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.replies: dict[str, Reply] = {}
        self.default = Reply.status(404)
        self.release = threading.Event()
        self.conns: set = set()  # open connections (keep-alive ones too)
        self.httpd = None
        self.thread = None

    def start(self) -> "FaultServer":
        self.release.clear()
        self.httpd = _Server(("127.0.0.1", self.port), _Handler)
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd is None:
            return
        self.release.set()  # hanging / delayed handlers return at once
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:  # a stopped server also drops its keep-alive connections
            for c in list(self.conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(5)
        self.httpd = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def set(self, path: str, reply: Reply):
        with self.lock:
            self.replies["/" + path.lstrip("/")] = reply

    def set_default(self, reply: Reply):
        with self.lock:
            self.default = reply

    def requests_for(self, path: str | None = None, method: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests
                    if (path is None or r.path == "/" + path.lstrip("/"))
                    and (method is None or r.method == method)]


@pytest.fixture
def fault_server():
    made: list[FaultServer] = []

    def make(port=None) -> FaultServer:
        s = FaultServer(port).start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


# --------------------------------------------------------------------------
# the well-behaved file server
# --------------------------------------------------------------------------


class FileServer:
    def __init__(self, www):
        self.www = str(www)
        os.makedirs(self.www, exist_ok=True)
        self.port = helpers.free_port()
        self.proc = None

    def start(self) -> "FileServer":
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
             "--directory", self.www], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        helpers.wait_until(up, timeout=10, what="python -m http.server")
        return self

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def publish(self, name: str, src) -> str:
        """Atomically replaces www/name with the bytes of the file `src` (or bytes)."""
        data = src if isinstance(src, bytes) else open(src, "rb").read()
        dst = os.path.join(self.www, name)
        tmp = os.path.join(self.www, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        # http.server answers If-Modified-Since by whole seconds: a file replaced within
        # the second of the previous fetch would be "304 Not Modified". Move mtime on.
        try:
            old = os.stat(dst).st_mtime
        except FileNotFoundError:
            old = 0
        t = max(time.time(), old + 2)
        os.utime(tmp, (t, t))
        os.replace(tmp, dst)
        return self.url(name)


@pytest.fixture
def file_server(tmp_path):
    made: list[FileServer] = []

    def make() -> FileServer:
        s = FileServer(tmp_path / f"www{len(made)}").start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


# --------------------------------------------------------------------------
# PKI, broker configuration and clients
# --------------------------------------------------------------------------


class World:
    """Root -> intermediate "Test Intermediate" -> server, clients good/bad (no CDP)."""

    def __init__(self, d, crl_url=None, inter_name="Test Intermediate"):
        self.dir = d
        self.pki = PKI(d / "pki")
        self.root = self.pki.root
        self.inter = self.root.intermediate(inter_name)
        self.server = self.inter.server_cert("server")
        self.good = self.inter.client_cert("good", crl_url=crl_url)
        self.bad = self.inter.client_cert("bad", crl_url=crl_url)
        self.cafile = PKI.write_bundle(str(d / "ca.pem"), self.root.cert, self.inter.cert)


def ssl_conf(w, *lines, cafile=None):
    base = "listeners.ssl.default.ssl_options"
    out = [
        f'{base}.certfile = "{w.server.fullchain}"',
        f'{base}.keyfile = "{w.server.key}"',
        f'{base}.cacertfile = "{cafile or w.cafile}"',
        f"{base}.verify = verify_peer",
        f"{base}.fail_if_no_peer_cert = true",
        f"{base}.enable_crl_check = true",
    ]
    return "\n".join(out + list(lines)) + "\n"


def crl_urls_line(*urls):
    return "listeners.ssl.default.ssl_options.crl_cache_urls = [%s]" % ", ".join(
        f'"{u}"' for u in urls)


def crlfile_line(*paths):
    return "listeners.ssl.default.ssl_options.crlfile = [%s]" % ", ".join(f'"{p}"' for p in paths)


def connect(port, root_cert, cert, ver=None, hold=0.6, **kw):
    """s_client with `cert` (a pki.Cert) sending an MQTT 3.1.1 CONNECT."""
    return s_client(port, cafile=root_cert, cert=cert.cert, key=cert.key, version=ver,
                    send=helpers.build_connect("c", version=4), hold=hold, **kw)


def fake_revoke(ca, serial_hex, reason="keyCompromise"):
    """Lists `serial_hex` as revoked in ca's index.txt without a certificate file
    (the next gencrl includes it)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    exp = (now + datetime.timedelta(days=30)).strftime("%y%m%d%H%M%SZ")
    rev = (now - datetime.timedelta(seconds=5)).strftime("%y%m%d%H%M%SZ")
    with pki._LOCK:
        with open(os.path.join(ca.dir, "index.txt"), "a") as f:
            f.write(f"R\t{exp}\t{rev},{reason}\t{serial_hex}\tunknown\t/CN=fake-{serial_hex}\n")


def read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def copy_atomic(src, dst):
    tmp = str(dst) + ".tmp"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


class TLSPaho:
    """helpers.PahoClient over mutual TLS; records every on_disconnect (rc, props, time)."""

    def __init__(self, port, cafile, cert, key, client_id, version, tls=None):
        self.c = helpers.PahoClient(client_id, version)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(str(cafile))
        ctx.load_cert_chain(str(cert), str(key))
        if tls is not None:  # "1.2" or "1.3"
            v = ssl.TLSVersion.TLSv1_2 if tls == "1.2" else ssl.TLSVersion.TLSv1_3
            ctx.minimum_version = ctx.maximum_version = v
        self.c.client.tls_set_context(ctx)
        self.events = []
        orig = self.c.client.on_disconnect

        def on_disc(client, userdata, rc, properties=None):
            self.events.append((rc, properties, time.monotonic()))
            orig(client, userdata, rc, properties)

        self.c.client.on_disconnect = on_disc
        self.c.connect(port)

    def stop(self):
        self.c.stop()


@pytest.fixture
def tls_paho():
    made: list[TLSPaho] = []

    def make(port, cafile, cert, key, client_id, version, tls=None) -> TLSPaho:
        c = TLSPaho(port, cafile, cert, key, client_id, version, tls)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


# --------------------------------------------------------------------------
# OCSP responses forged with python3-cryptography
# --------------------------------------------------------------------------


def load_cert(path):
    return x509.load_pem_x509_certificate(read(path))


def load_key(path):
    return serialization.load_pem_private_key(read(path), password=None)


def forge(cert_path, issuer_path, signer_cert_path, signer_key_path, *, status="good",
          this_update=None, next_update="default", include_signer=False, certid_hash=None):
    """A DER OCSP response about cert (CertID with issuer), signed by signer."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    tu = this_update if this_update is not None else now - datetime.timedelta(seconds=60)
    nu = tu + datetime.timedelta(minutes=10) if next_update == "default" else next_update
    st = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
          "unknown": ocsp.OCSPCertStatus.UNKNOWN}[status]
    signer = load_cert(signer_cert_path)
    b = ocsp.OCSPResponseBuilder().add_response(
        cert=load_cert(cert_path), issuer=load_cert(issuer_path),
        algorithm=certid_hash or hashes.SHA1(),
        cert_status=st, this_update=tu, next_update=nu,
        revocation_time=now if status == "revoked" else None,
        revocation_reason=x509.ReasonFlags.key_compromise if status == "revoked" else None,
    ).responder_id(ocsp.OCSPResponderEncoding.NAME, signer)
    if include_signer:
        b = b.certificates([signer])
    return b.sign(load_key(signer_key_path), hashes.SHA256()).public_bytes(serialization.Encoding.DER)
