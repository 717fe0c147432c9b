"""openssl_ca.py — CRLs with a scope, made the way real CAs make them with `openssl ca`.

Built on pki.py (a pki.CA is an `openssl ca` directory: index.txt, serial,
crlnumber, openssl.cnf). This module adds what RFC 5280 §5 CRL scope tests need
and pki.py does not do:

    scoped_crl(ca, name, *, fullname=(), onlyuser=False, onlyca=False,
               onlysomereasons=None, indirect=False, freshest=None,
               serials=None, hours=24, expired=False, crlnumber=None)
        -> (pem_path, der_path)
        `openssl ca -gencrl -crlexts <section>` with an authorityKeyIdentifier
        (unless aki=False; v1=True: no extensions and no CRL number) and an issuingDistributionPoint
        (critical) built from the arguments (none when all are default) and an
        optional freshestCRL. `serials` (hex strings or pki.Cert) limits the
        entries to those serials of the CA's index.txt (a partition / a user-only
        / a CA-only CRL holds only its own entries; `openssl ca` itself would list
        every revoked certificate of the CA). `crlnumber` sets the crlnumber file
        first (decimal int). `expired`: lastUpdate a day ago, nextUpdate an hour ago.

    same_name_root(dir, cn) -> pki.CA
        another self-signed root with exactly the subject `cn` (a re-keyed CA:
        `openssl req -x509` with the same subject and a new key).

    revoke_serial(ca, serial_hex, reason) lists a serial as revoked in index.txt
        without a certificate (e.g. another CA's certificate's serial).

    client_with_cdp(ca, cn, cdp_section_lines) -> pki.Cert
        a client certificate whose crlDistributionPoints is a full section
        (e.g. fullname + CRLissuer for indirect CRLs).

    delta_crl(ca, base_number, number, revoked=[(serial_int, reason)], hours=24)
        -> (pem, der): a delta CRL (deltaCRLIndicator = base_number) signed by
        the CA key with python3-cryptography (`openssl ca` cannot make deltas).

    signed_serial_cert(ca, cn, serial) -> pki.Cert with an explicit (possibly
        negative) serial, `openssl x509 -req -set_serial`.
"""

from __future__ import annotations

import datetime
import os
import re

import pki
from pki import CA, Cert, openssl

REASONS_ALL_BUT_KEY = ("CACompromise, affiliationChanged, superseded, cessationOfOperation, "
                       "certificateHold, privilegeWithdrawn, AACompromise")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _t(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


def _hex(s) -> str:
    if isinstance(s, Cert):
        return s.serial_hex.upper().lstrip("0") or "0"
    return str(s).upper().lstrip("0") or "0"


def scoped_crl(ca: CA, name: str, *, fullname=(), onlyuser=False, onlyca=False,
               onlysomereasons=None, indirect=False, freshest=None, serials=None, hours=24,
               expired=False, crlnumber=None, aki=True, v1=False, extra_idp=()):
    sec = "crl_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
    ext = ["authorityKeyIdentifier = keyid:always"] if aki else []
    idp = []
    if isinstance(fullname, str):
        fullname = [fullname]
    if len(fullname) == 1:
        idp.append(f"fullname = URI:{fullname[0]}")
    elif len(fullname) > 1:  # several names: a GENERAL_NAMES section
        idp.append(f"fullname = @{sec}_names")
    if onlyuser:
        idp.append("onlyuser = TRUE")
    if onlyca:
        idp.append("onlyCA = TRUE")
    if onlysomereasons:
        idp.append(f"onlysomereasons = {onlysomereasons}")
    if indirect:
        idp.append("indirectCRL = TRUE")
    idp += list(extra_idp)
    body = ""
    if idp:
        ext.append(f"issuingDistributionPoint = critical, @{sec}_idp")
        body += f"\n[ {sec}_idp ]\n" + "\n".join(idp) + "\n"
        if len(fullname) > 1:
            body += f"\n[ {sec}_names ]\n" + "\n".join(
                f"URI.{i} = {u}" for i, u in enumerate(fullname)) + "\n"
    if freshest:
        ext.append(f"freshestCRL = URI:{freshest}")
    pem = os.path.join(ca.dir, name + ".pem")
    der = os.path.join(ca.dir, name + ".der")
    with pki._LOCK:
        cnf_text = open(ca.cnf).read()
        index = os.path.join(ca.dir, "index.txt")
        if serials is not None:
            keep = {_hex(s) for s in serials}
            sub = os.path.join(ca.dir, f"index-{sec}.txt")
            with open(index) as f, open(sub, "w") as out:
                for line in f:
                    cols = line.rstrip("\n").split("\t")
                    if len(cols) > 3 and _hex(cols[3]) in keep:
                        out.write(line)
            with open(sub + ".attr", "w") as f:
                f.write("unique_subject = no\n")
            cnf_text = cnf_text.replace("$dir/index.txt", sub, 1)
        if v1:  # no crlnumber, no extensions: a version 1 CRL
            cnf_text = cnf_text.replace("crlnumber        = $dir/crlnumber\n", "", 1)
        cnf = os.path.join(ca.dir, f"openssl-{sec}.cnf")
        with open(cnf, "w") as f:
            f.write(cnf_text + f"\n[ {sec} ]\n" + "\n".join(ext) + "\n" + body)
        if crlnumber is not None:
            with open(os.path.join(ca.dir, "crlnumber"), "w") as f:
                h = "%X" % crlnumber
                f.write(("0" * (len(h) % 2)) + h + "\n")
        args = ["ca", "-batch", "-config", cnf, "-gencrl", "-out", pem]
        if ext:
            args += ["-crlexts", sec]
        if expired:
            now = _now()
            args += ["-crl_lastupdate", _t(now - datetime.timedelta(days=1)),
                     "-crl_nextupdate", _t(now - datetime.timedelta(hours=1))]
        else:
            args += ["-crlhours", str(hours)]
        openssl(*args)
    openssl("crl", "-in", pem, "-outform", "DER", "-out", der)
    return pem, der


def crl_number(pem) -> int:
    out = openssl("crl", "-in", pem, "-noout", "-crlnumber").decode()
    return int(out.strip().split("=", 1)[1], 16)


def same_name_root(dir, cn) -> CA:
    return CA(str(dir), cn)


def revoke_serial(ca: CA, serial_hex: str, reason="keyCompromise"):
    now = _now()
    exp = (now + datetime.timedelta(days=30)).strftime("%y%m%d%H%M%SZ")
    rev = (now - datetime.timedelta(seconds=5)).strftime("%y%m%d%H%M%SZ")
    with pki._LOCK:
        with open(os.path.join(ca.dir, "index.txt"), "a") as f:
            f.write(f"R\t{exp}\t{rev},{reason}\t{serial_hex}\tunknown\t/CN=listed-{serial_hex}\n")


_CLIENT_EXT = [
    "basicConstraints = critical,CA:FALSE",
    "keyUsage = critical,digitalSignature",
    "extendedKeyUsage = clientAuth",
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid",
]


def plain_client(ca: CA, cn: str, crl_url=None) -> Cert:
    """A client certificate without an authorityKeyIdentifier (older CA configs)."""
    lines = [l for l in _CLIENT_EXT if not l.startswith("authorityKeyIdentifier")]
    lines.append("authorityKeyIdentifier = none")  # OpenSSL 3 adds one by default
    if crl_url:
        lines.append("crlDistributionPoints = URI:" + crl_url)
    return ca._issue(cn, "ec", lines)


def client_with_cdp(ca: CA, cn: str, cdp_lines) -> Cert:
    """cdp_lines: the body of a DistributionPoint section, e.g.
    ["fullname = URI:http://x/i.crl", "CRLissuer = dirName:issuer_dn"] plus the
    lines of any section it names (given after a line "[ name ]")."""
    lines = list(_CLIENT_EXT) + ["crlDistributionPoints = cdp_sec", "", "[ cdp_sec ]"]
    lines += list(cdp_lines)
    return ca._issue(cn, "ec", lines)


def signed_serial_cert(ca: CA, cn: str, serial: int, crl_url=None) -> Cert:
    """A client certificate with an explicit serial (negative allowed) made with
    `openssl x509 -req -set_serial`, and its line in the CA's index.txt so that
    `openssl ca -revoke`/-gencrl know it."""
    base = os.path.join(ca.dir, "issued", "serial-" + cn)
    key, csr, cert, extf = base + ".key", base + ".csr", base + ".pem", base + ".ext"
    pki._genkey(key, "ec")
    openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + cn, "-config", ca.cnf)
    lines = list(_CLIENT_EXT)
    if crl_url:
        lines.append("crlDistributionPoints = URI:" + crl_url)
    with open(extf, "w") as f:
        f.write("[ v3 ]\n" + "\n".join(lines) + "\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial",
            str(serial), "-days", "30", "-sha256", "-extfile", extf, "-extensions", "v3",
            "-out", cert)
    hexs = ("-" if serial < 0 else "") + "%02X" % abs(serial)
    return Cert(ca, cn, cert, key, hexs)


def index_revoke_serial(ca: CA, hexs: str, reason="keyCompromise"):
    """An index.txt line marking `hexs` (e.g. "-05") revoked."""
    revoke_serial(ca, hexs, reason)


def delta_crl(ca: CA, name: str, base_number: int, number: int, revoked, hours=24):
    """A delta CRL signed by ca's key: deltaCRLIndicator = base_number,
    cRLNumber = number, entries [(serial_int, reason_name)] with reason names of
    cryptography's x509.ReasonFlags (e.g. "key_compromise")."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    cacert = x509.load_pem_x509_certificate(open(ca.cert, "rb").read())
    key = serialization.load_pem_private_key(open(ca.key, "rb").read(), password=None)
    now = _now().replace(tzinfo=None)
    b = (x509.CertificateRevocationListBuilder()
         .issuer_name(cacert.subject)
         .last_update(now - datetime.timedelta(minutes=1))
         .next_update(now + datetime.timedelta(hours=hours))
         .add_extension(x509.CRLNumber(number), critical=False)
         .add_extension(x509.DeltaCRLIndicator(base_number), critical=True)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                        critical=False))
    for serial, reason in revoked:
        rb = (x509.RevokedCertificateBuilder().serial_number(serial)
              .revocation_date(now - datetime.timedelta(minutes=1)))
        if reason:
            rb = rb.add_extension(x509.CRLReason(getattr(x509.ReasonFlags, reason)),
                                  critical=False)
        b = b.add_revoked_certificate(rb.build())
    crl = b.sign(key, hashes.SHA256())
    pem = os.path.join(ca.dir, name + ".pem")
    der = os.path.join(ca.dir, name + ".der")
    with open(pem, "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.PEM))
    with open(der, "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.DER))
    return pem, der


def indirect_crl(ca: CA, name: str, idp_uri: str, entries, number: int, hours=24):
    """An indirect CRL signed by ca's key (python3-cryptography: `openssl ca`
    cannot write the certificateIssuer entry extension): IDP {fullname idp_uri,
    indirectCRL}, entries [(serial_int, issuer_ca_or_None)] where a CA names the
    certificateIssuer of that entry (None: the CRL issuer itself, RFC 5280 §5.3.3)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    def load(c):
        return x509.load_pem_x509_certificate(open(c.cert, "rb").read())

    cacert = load(ca)
    key = serialization.load_pem_private_key(open(ca.key, "rb").read(), password=None)
    now = _now().replace(tzinfo=None)
    idp = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(idp_uri)], relative_name=None,
        only_contains_user_certs=False, only_contains_ca_certs=False, only_some_reasons=None,
        indirect_crl=True, only_contains_attribute_certs=False)
    b = (x509.CertificateRevocationListBuilder()
         .issuer_name(cacert.subject)
         .last_update(now - datetime.timedelta(minutes=1))
         .next_update(now + datetime.timedelta(hours=hours))
         .add_extension(x509.CRLNumber(number), critical=False)
         .add_extension(idp, critical=True)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                        critical=False))
    for serial, issuer in entries:
        rb = (x509.RevokedCertificateBuilder().serial_number(serial)
              .revocation_date(now - datetime.timedelta(minutes=1))
              .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False))
        if issuer is not None:
            rb = rb.add_extension(x509.CertificateIssuer(
                [x509.DirectoryName(load(issuer).subject)]), critical=True)
        b = b.add_revoked_certificate(rb.build())
    crl = b.sign(key, hashes.SHA256())
    pem = os.path.join(ca.dir, name + ".pem")
    with open(pem, "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.PEM))
    return pem


def crafted_crl(ca: CA, name: str, number: int, entries, crl_exts=(), hours=24,
                aki_of: CA | None = None):
    """A complete CRL signed by ca's key with python3-cryptography, for what
    `openssl ca` cannot write: entries [(serial_int, [(ExtensionType, critical)])],
    crl_exts [(ExtensionType, critical)] added after cRLNumber and AKI.
    aki_of: put that CA's key identifier in the AKI (a mislabelled / forged CRL)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    cacert = x509.load_pem_x509_certificate(open(ca.cert, "rb").read())
    key = serialization.load_pem_private_key(open(ca.key, "rb").read(), password=None)
    now = _now().replace(tzinfo=None)
    b = (x509.CertificateRevocationListBuilder()
         .issuer_name(cacert.subject)
         .last_update(now - datetime.timedelta(minutes=1))
         .next_update(now + datetime.timedelta(hours=hours))
         .add_extension(x509.CRLNumber(number), critical=False))
    if aki_of is not None:
        other = x509.load_pem_x509_certificate(open(aki_of.cert, "rb").read())
        ski = other.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier(ski.digest, None, None)
    else:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
    b = b.add_extension(aki, critical=False)
    for ext, crit in crl_exts:
        b = b.add_extension(ext, critical=crit)
    for serial, exts in entries:
        rb = (x509.RevokedCertificateBuilder().serial_number(serial)
              .revocation_date(now - datetime.timedelta(minutes=1)))
        for ext, crit in exts:
            rb = rb.add_extension(ext, critical=crit)
        b = b.add_revoked_certificate(rb.build())
    pem = os.path.join(ca.dir, name + ".pem")
    with open(pem, "wb") as f:
        f.write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return pem


def unknown_ext(oid="1.3.6.1.4.1.55555.1"):
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier
    return x509.UnrecognizedExtension(ObjectIdentifier(oid), b"\x05\x00")
