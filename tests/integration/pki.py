"""pki.py — a throw-away test PKI on the openssl command line.

Every test makes its own certificates (never checked in). Built on `openssl ca`,
so `index.txt` is real: revoke, gencrl (PEM and DER) and `openssl ocsp
-index` work on the same directory.

API (all paths are str; every method returns quickly, RSA keys ~0.1 s):

    from pki import PKI
    pki = PKI(tmp_path / "pki")            # root CA "revmq Test Root CA" (EC P-256)
    pki = PKI(dir, key="rsa", cn="X")      # RSA root, own CN
    root = pki.root                        # a CA
    inter = root.intermediate("Test Intermediate", crl_url=None, ocsp_url=None)

    CA (root or intermediate):
      .dir            CA directory (index.txt, serial, crlnumber, openssl.cnf)
      .cert, .key     CA certificate / key PEM paths
      .chain          PEM: this CA + its parents up to (including) the root
      .name           CN
      .server_cert(name="server", key="ec"|"rsa", sans=("127.0.0.1","localhost"),
                   days=30, ocsp_url=None, crl_url=None, password=None,
                   start=None, end=None) -> Cert
      .client_cert(cn, key="ec"|"rsa", days=30, crl_url=None, ocsp_url=None,
                   expired=False, not_yet_valid=False, password=None) -> Cert
      .ocsp_signer(cn="OCSP Signer") -> Cert   (extendedKeyUsage OCSPSigning)
      .revoke(cert, reason="keyCompromise")   cert: Cert or path
      .gencrl(name="crl", hours=24, days=None) -> (pem_path, der_path)
                   (written in .dir; the next call overwrites the same name)
      .gencrl_expired(name="crl-expired") -> (pem_path, der_path)
                   a CRL whose nextUpdate is in the past (lastUpdate a day ago)
      .ocsp_responder_cmd(port, signer=None, nmin=5) -> list[str]
                   argv for `openssl ocsp` answering for this CA (caller runs it)

    Cert:
      .cert, .key     PEM paths (.key encrypted when password given)
      .fullchain      PEM: leaf + issuing CAs (without the root)
      .serial_hex     upper-case hex serial (as index.txt writes it)
      .serial         int
      .cn, .ca        subject CN and the issuing CA object
      .password       or None

    Helpers:
      pki.write_bundle(path, *pem_paths)  concatenates PEM files
      openssl(*args, cwd=None)            runs openssl, raises with stderr on failure
      serial_of(pem_path) -> str          upper-case hex serial of a certificate

    A TLS client (openssl s_client) for tests:
      r = s_client(port, cafile=None, cert=None, key=None, version=None ("1.2"|"1.3"),
                   status=False, servername=None (None: no SNI, or a name),
                   sess_out=None, sess_in=None, send=b"", hold=1.0, extra=(), timeout=15)
        Keeps stdin open `hold` seconds (TLS 1.3 delivers a client-certificate
        rejection on the first read; TESTING-NOTES.md), then closes it
        (x4 with RMQ_TEST_VALGRIND=1).
      r.out           combined stdout+stderr text
      r.ok            handshake completed and no alert received
      r.dropped       the connection failed before the handshake completed
      r.alert         number of the alert received (44 revoked, 42 bad certificate,
                      48 unknown CA, 45 expired, 116 certificate required, 40, 70), or None
      r.reused        "Reused," session
      r.protocol      "TLSv1.3" / "TLSv1.2" / None
      r.server_serial upper-case hex serial of the server certificate, or None
      r.ocsp          None (no -status), "none" (nothing stapled) or the
                      "Cert Status" word ("good", "revoked", "unknown")
      r.ocsp_successful  "OCSP Response Status: successful" seen
"""

import datetime
import os
import re
import subprocess
import threading
import time

_LOCK = threading.Lock()


def openssl(*args, cwd=None, input=None):
    """Runs `openssl args…`; returns stdout (bytes). Raises RuntimeError with stderr."""
    p = subprocess.run(
        ["openssl", *[str(a) for a in args]],
        cwd=cwd,
        input=input,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    if p.returncode != 0:
        raise RuntimeError(
            "openssl %s failed (%d): %s"
            % (" ".join(str(a) for a in args), p.returncode, p.stderr.decode(errors="replace"))
        )
    return p.stdout


def _genkey(path, kind, password=None):
    if kind in ("ec", "ecdsa", "p256"):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    elif kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    else:
        raise ValueError("key must be 'ec' or 'rsa', not %r" % kind)
    if password is not None:
        openssl("pkey", "-in", path, "-aes256", "-passout", "pass:" + password, "-out", path + ".enc")
        os.replace(path + ".enc", path)
    os.chmod(path, 0o600)


def _asn1time(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


_CNF = """\
[ ca ]
default_ca = CA_default

[ CA_default ]
dir              = {dir}
database         = $dir/index.txt
new_certs_dir    = $dir/newcerts
certificate      = $dir/ca.pem
private_key      = $dir/ca.key
serial           = $dir/serial
crlnumber        = $dir/crlnumber
default_md       = sha256
default_days     = 30
default_crl_hours = 24
policy           = policy_any
unique_subject   = no
copy_extensions  = none
email_in_dn      = no
preserve         = no

[ policy_any ]
commonName       = supplied
organizationName = optional

[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused

[ crl_ext ]
authorityKeyIdentifier = keyid:always
"""


class Cert:
    def __init__(self, ca, cn, cert, key, serial_hex, password=None):
        self.ca = ca
        self.cn = cn
        self.cert = cert
        self.key = key
        self.serial_hex = serial_hex
        self.serial = int(serial_hex, 16)
        self.password = password
        self.fullchain = cert[: -len(".pem")] + "-fullchain.pem"
        parts = [cert]
        c = ca
        while c is not None and c.parent is not None:
            parts.append(c.cert)
            c = c.parent
        PKI.write_bundle(self.fullchain, *parts)

    def __repr__(self):
        return "Cert(cn=%r, serial=%s)" % (self.cn, self.serial_hex)


class CA:
    def __init__(self, dir, name, parent=None, key="ec", crl_url=None, ocsp_url=None):
        self.dir = str(dir)
        self.name = name
        self.parent = parent
        os.makedirs(os.path.join(self.dir, "newcerts"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "issued"), exist_ok=True)
        with open(os.path.join(self.dir, "index.txt"), "w"):
            pass
        with open(os.path.join(self.dir, "index.txt.attr"), "w") as f:
            f.write("unique_subject = no\n")
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write(os.urandom(8).hex().upper().lstrip("0").rjust(16, "1") + "\n")
        with open(os.path.join(self.dir, "crlnumber"), "w") as f:
            f.write("1000\n")
        self.cnf = os.path.join(self.dir, "openssl.cnf")
        with open(self.cnf, "w") as f:
            f.write(_CNF.format(dir=self.dir))
        self.key = os.path.join(self.dir, "ca.key")
        self.cert = os.path.join(self.dir, "ca.pem")
        _genkey(self.key, key)
        if parent is None:
            with open(self.cnf, "a") as f:
                f.write(
                    "\n[ ca_root ]\nbasicConstraints = critical,CA:TRUE\n"
                    "keyUsage = critical,keyCertSign,cRLSign\n"
                    "subjectKeyIdentifier = hash\n"
                )
            openssl(
                "req", "-new", "-x509", "-key", self.key, "-out", self.cert, "-days", "3650",
                "-subj", "/CN=" + name, "-config", self.cnf, "-extensions", "ca_root",
                "-sha256", "-set_serial", "0x" + os.urandom(8).hex(),
            )
        else:
            csr = os.path.join(self.dir, "ca.csr")
            openssl("req", "-new", "-key", self.key, "-out", csr, "-subj", "/CN=" + name,
                    "-config", self.cnf)
            lines = [
                "basicConstraints = critical,CA:TRUE,pathlen:0",
                "keyUsage = critical,keyCertSign,cRLSign",
                "subjectKeyIdentifier = hash",
                "authorityKeyIdentifier = keyid:always",
            ]
            lines += _aia_cdp(crl_url, ocsp_url)
            parent._sign(csr, self.cert, lines, days=3650)
        self.chain = os.path.join(self.dir, "chain.pem")
        parts = [self.cert]
        c = parent
        while c is not None:
            parts.append(c.cert)
            c = c.parent
        PKI.write_bundle(self.chain, *parts)

    # -- internals ---------------------------------------------------------
    def _next_serial(self):
        with open(os.path.join(self.dir, "serial")) as f:
            return f.read().strip()

    def _sign(self, csr, out, ext_lines, days=30, start=None, end=None):
        """Signs csr with this CA through `openssl ca`; returns the serial (hex)."""
        with _LOCK:
            extf = out + ".ext"
            with open(extf, "w") as f:
                f.write("[ v3 ]\n" + "\n".join(ext_lines) + "\n")
            serial = self._next_serial()
            args = ["ca", "-batch", "-config", self.cnf, "-in", csr, "-out", out, "-notext",
                    "-extfile", extf, "-extensions", "v3"]
            if start is not None or end is not None:
                now = _utc_now()
                args += ["-startdate", _asn1time(start or now)]
                args += ["-enddate", _asn1time(end or now + datetime.timedelta(days=days))]
            else:
                args += ["-days", str(days)]
            openssl(*args)
            return serial

    def _issue(self, cn, kind, ext_lines, days=30, start=None, end=None, password=None, tag=None):
        base = os.path.join(self.dir, "issued", _safe(tag or cn))
        n = 0
        while os.path.exists(base + ("-%d" % n if n else "") + ".pem"):
            n += 1
        if n:
            base += "-%d" % n
        key = base + ".key"
        _genkey(key, kind)
        csr = base + ".csr"
        openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + cn, "-config", self.cnf)
        cert = base + ".pem"
        serial = self._sign(csr, cert, ext_lines, days=days, start=start, end=end)
        if password is not None:
            openssl("pkey", "-in", key, "-aes256", "-passout", "pass:" + password, "-out", key + ".enc")
            os.replace(key + ".enc", key)
        return Cert(self, cn, cert, key, serial, password)

    # -- public ------------------------------------------------------------
    def intermediate(self, name, key="ec", crl_url=None, ocsp_url=None):
        d = os.path.join(self.dir, "sub-" + _safe(name))
        return CA(d, name, parent=self, key=key, crl_url=crl_url, ocsp_url=ocsp_url)

    def server_cert(self, name="server", key="ec", sans=("127.0.0.1", "localhost"), days=30,
                    ocsp_url=None, crl_url=None, password=None, start=None, end=None):
        alt = []
        for s in sans:
            alt.append(("IP:" if _is_ip(s) else "DNS:") + s)
        lines = [
            "basicConstraints = critical,CA:FALSE",
            "keyUsage = critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage = serverAuth",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid",
        ]
        if alt:
            lines.append("subjectAltName = " + ",".join(alt))
        lines += _aia_cdp(crl_url, ocsp_url)
        return self._issue(name, key, lines, days=days, start=start, end=end, password=password)

    def client_cert(self, cn, key="ec", days=30, crl_url=None, ocsp_url=None, expired=False,
                    not_yet_valid=False, password=None, sans=()):
        lines = [
            "basicConstraints = critical,CA:FALSE",
            "keyUsage = critical,digitalSignature",
            "extendedKeyUsage = clientAuth",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid",
        ]
        if sans:  # e.g. ("DNS:dev-7.example", "URI:urn:dev:7")
            lines.append("subjectAltName = " + ",".join(sans))
        lines += _aia_cdp(crl_url, ocsp_url)
        start = end = None
        now = _utc_now()
        if expired:
            start, end = now - datetime.timedelta(days=10), now - datetime.timedelta(days=1)
        elif not_yet_valid:
            start, end = now + datetime.timedelta(days=1), now + datetime.timedelta(days=10)
        return self._issue(cn, key, lines, days=days, start=start, end=end, password=password)

    def ocsp_signer(self, cn="OCSP Signer", key="ec"):
        lines = [
            "basicConstraints = critical,CA:FALSE",
            "keyUsage = critical,digitalSignature",
            "extendedKeyUsage = OCSPSigning",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid",
        ]
        return self._issue(cn, key, lines, days=30)

    def revoke(self, cert, reason="keyCompromise"):
        path = cert.cert if isinstance(cert, Cert) else str(cert)
        with _LOCK:
            args = ["ca", "-batch", "-config", self.cnf, "-revoke", path]
            if reason:
                args += ["-crl_reason", reason]
            openssl(*args)

    def gencrl(self, name="crl", hours=24, days=None):
        pem = os.path.join(self.dir, name + ".pem")
        der = os.path.join(self.dir, name + ".der")
        with _LOCK:
            args = ["ca", "-batch", "-config", self.cnf, "-gencrl", "-out", pem,
                    "-crlexts", "crl_ext"]
            if days is not None:
                args += ["-crldays", str(days)]
            else:
                args += ["-crlhours", str(hours)]
            openssl(*args)
        openssl("crl", "-in", pem, "-outform", "DER", "-out", der)
        return pem, der

    def gencrl_expired(self, name="crl-expired"):
        """A CRL with lastUpdate a day ago and nextUpdate an hour ago
        (`openssl ca -crl_lastupdate/-crl_nextupdate`, OpenSSL 3)."""
        pem = os.path.join(self.dir, name + ".pem")
        der = os.path.join(self.dir, name + ".der")
        now = _utc_now()
        with _LOCK:
            openssl("ca", "-batch", "-config", self.cnf, "-gencrl", "-out", pem,
                    "-crlexts", "crl_ext",
                    "-crl_lastupdate", _asn1time(now - datetime.timedelta(days=1)),
                    "-crl_nextupdate", _asn1time(now - datetime.timedelta(hours=1)))
        openssl("crl", "-in", pem, "-outform", "DER", "-out", der)
        return pem, der

    def ocsp_responder_cmd(self, port, signer=None, nmin=5):
        s = signer
        return [
            "openssl", "ocsp", "-index", os.path.join(self.dir, "index.txt"),
            "-port", str(port), "-rsigner", (s.cert if s else self.cert),
            "-rkey", (s.key if s else self.key), "-CA", self.cert, "-nmin", str(nmin),
            "-ignore_err",
        ]


class PKI:
    def __init__(self, dir, key="ec", cn="revmq Test Root CA"):
        self.dir = str(dir)
        os.makedirs(self.dir, exist_ok=True)
        self.root = CA(os.path.join(self.dir, "root"), cn, key=key)

    @staticmethod
    def write_bundle(path, *pem_paths):
        data = b""
        for p in pem_paths:
            with open(p, "rb") as f:
                b = f.read()
            if not b.endswith(b"\n"):
                b += b"\n"
            data += b
        tmp = str(path) + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return str(path)


def _aia_cdp(crl_url, ocsp_url):
    lines = []
    if crl_url:
        urls = [crl_url] if isinstance(crl_url, str) else list(crl_url)
        lines.append("crlDistributionPoints = " + ",".join("URI:" + u for u in urls))
    if ocsp_url:
        lines.append("authorityInfoAccess = OCSP;URI:" + ocsp_url)
    return lines


def _is_ip(s):
    import ipaddress

    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def _safe(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def serial_of(pem_path):
    out = openssl("x509", "-in", pem_path, "-noout", "-serial").decode()
    return out.strip().split("=", 1)[1].upper()


class SClientResult:
    def __init__(self, out, rc):
        self.out = out
        self.rc = rc
        m = re.search(r"alert number (\d+)", out)
        self.alert = int(m.group(1)) if m else None
        m = re.search(r"^(New|Reused), (TLSv1\.[23]|\(NONE\)), Cipher is (\S+)", out, re.M)
        self.reused = bool(m and m.group(1) == "Reused")
        self.protocol = m.group(2) if m and m.group(2) != "(NONE)" else None
        # an I/O error or OpenSSL error before the handshake summary: the server
        # dropped the handshake (s_client still prints the negotiated protocol)
        summary = out.find("SSL handshake has read")
        head = out if summary < 0 else out[:summary]
        self.dropped = bool(re.search(r"(read|write):errno=|:error:", head))
        self.ok = self.protocol is not None and self.alert is None and not self.dropped
        self.server_serial = None
        m = re.search(r"Server certificate\n(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----)",
                      out, re.S)
        if m:
            try:
                o = openssl("x509", "-noout", "-serial", input=m.group(1).encode()).decode()
                self.server_serial = o.strip().split("=", 1)[1].upper()
            except RuntimeError:
                pass
        if "OCSP response: no response sent" in out:
            self.ocsp = "none"
        else:
            m = re.search(r"Cert Status: (\w+)", out)
            self.ocsp = m.group(1) if m else None
        self.ocsp_successful = "OCSP Response Status: successful" in out

    def __repr__(self):
        return "SClientResult(ok=%s alert=%s protocol=%s reused=%s)\n%s" % (
            self.ok, self.alert, self.protocol, self.reused, self.out[-3000:])


def s_client(port, cafile=None, cert=None, key=None, version=None, status=False, servername=None,
             sess_out=None, sess_in=None, send=b"", hold=1.0, extra=(), timeout=15,
             host="127.0.0.1"):
    args = ["openssl", "s_client", "-connect", "%s:%d" % (host, port)]
    if cafile:
        args += ["-CAfile", str(cafile), "-verify_return_error"]
    if cert:
        args += ["-cert", str(cert)]
    if key:
        args += ["-key", str(key)]
    if version:
        args += ["-tls1_3" if str(version) in ("1.3", "tlsv1.3") else "-tls1_2"]
    if status:
        args += ["-status"]
    if servername:
        args += ["-servername", servername]
    else:
        args += ["-noservername"]
    if sess_out:
        args += ["-sess_out", str(sess_out)]
    if sess_in:
        args += ["-sess_in", str(sess_in)]
    args += list(extra)
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        if send:
            p.stdin.write(send)
            p.stdin.flush()
    except BrokenPipeError:
        pass
    if os.environ.get("RMQ_TEST_VALGRIND", "") in ("1", "true", "yes"):
        hold *= 4  # the broker runs ~20x slower under valgrind
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return SClientResult(out.decode(errors="replace"), p.returncode)
