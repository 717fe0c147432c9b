"""Which CRL covers which certificate (issue 11, RFC 5280 5.2.5 / 6.3.3).

PKIs made with `openssl ca -gencrl` (crl_extensions with an Issuing Distribution
Point: fullname, onlyuser, onlyCA, indirectCRL), `openssl req -x509` twice with
one subject (two CAs, same DN, different keys), a delta CRL built with
python3-cryptography; clients are `openssl s_client` and paho-mqtt.

- same name, other key: a CRL of CA A never clears (nor revokes) a certificate
  of CA B with the same DN, both ways; CRL numbers of the two keys are never
  compared with each other;
- a partition CRL (IDP distributionPoint) covers only certificates naming it
  in their CDP: another partition's certificate is "not covered" -> 42 with
  discovery off, CDP fetch then 44 with it on;
- onlyContainsUserCerts never clears an intermediate (check = chain);
- onlySomeReasons CRLs clear only when together they cover every reason;
- a bundle with one expired member: the good member is used, the bad one is
  refused alone with its own log line;
- a delta CRL is merged onto its base (revokes, releases holds) but never
  clears on its own; indirect CRLs are refused by name;
- live sessions: a revocation closes the right session and no other;
- leftover *.tmp.* files of interrupted saves are removed at start.
"""

import datetime
import os
import re

import pytest

from httpfaults import connect, crl_urls_line, crlfile_line, file_server, tls_paho  # noqa: F401
from pki import PKI, openssl

pytestmark = pytest.mark.revmq_only


# ---------------------------------------------------------------------------
# helpers: CRLs with extensions, confs
# ---------------------------------------------------------------------------

_n = [0]


def gencrl_ext(ca, idp=None, extra=(), name=None):
    """`openssl ca -gencrl` with a crl_extensions section holding an IDP made of
    `idp` lines ("fullname = URI:…", "onlyuser = TRUE", …). Returns the PEM path."""
    _n[0] += 1
    sect = "crlx%d" % _n[0]
    with open(ca.cnf, "a") as f:
        f.write("\n[ %s ]\nauthorityKeyIdentifier = keyid:always\n" % sect)
        for line in extra:
            f.write(line + "\n")
        if idp:
            f.write("issuingDistributionPoint = critical, @%s_idp\n" % sect)
            f.write("[ %s_idp ]\n%s\n" % (sect, "\n".join(idp)))
    pem = os.path.join(ca.dir, (name or sect) + ".pem")
    openssl("ca", "-batch", "-config", ca.cnf, "-gencrl", "-out", pem, "-crlexts", sect,
            "-crlhours", "24")
    return pem


def set_serial(ca, hex_serial):
    with open(os.path.join(ca.dir, "serial"), "w") as f:
        f.write(hex_serial + "\n")


def set_crlnumber(ca, n):
    with open(os.path.join(ca.dir, "crlnumber"), "w") as f:
        f.write("%04X\n" % n)


def conf(server, cafile, *lines):
    base = "listeners.ssl.default.ssl_options"
    out = [
        f'{base}.certfile = "{server.fullchain}"',
        f'{base}.keyfile = "{server.key}"',
        f'{base}.cacertfile = "{cafile}"',
        f"{base}.verify = verify_peer",
        f"{base}.fail_if_no_peer_cert = true",
        f"{base}.enable_crl_check = true",
    ]
    return "\n".join(out + list(lines)) + "\n"


class Twins:
    """Two root CAs with the same subject DN and different keys (a re-key under
    the same name), a server from a third PKI, and one client of each CA with
    the SAME serial number."""

    def __init__(self, d, crl_url_b=None):
        self.srv = PKI(d / "srv").root
        self.server = self.srv.server_cert("server")
        self.a = PKI(d / "a", cn="Same Name CA").root
        self.b = PKI(d / "b", cn="Same Name CA").root
        set_serial(self.a, "5A5A5A5A")
        set_serial(self.b, "5A5A5A5A")
        self.ca_cert = self.a.client_cert("of-a")
        self.cb_cert = self.b.client_cert("of-b", crl_url=crl_url_b)
        assert self.ca_cert.serial == self.cb_cert.serial
        self.cafile = PKI.write_bundle(str(d / "ca.pem"), self.a.cert, self.b.cert)
        set_crlnumber(self.a, 1000)
        set_crlnumber(self.b, 5000)

    def conf(self, *lines):
        return conf(self.server, self.cafile, *lines)

    def connect(self, port, cert, ver="1.3", **kw):
        return connect(port, self.srv.cert, cert, ver, **kw)


# ---------------------------------------------------------------------------
# 1. same name, different key
# ---------------------------------------------------------------------------

def test_same_name_other_key_crl_does_not_clear(broker_factory, tmp_path, file_server):  # noqa: F811
    """Only CA A's CRL configured: CA B's certificate (revoked by B) is not
    covered -> 42 with discovery off; with discovery on its CDP (B's CRL) is
    fetched and it is refused with 44."""
    fs = file_server()
    t = Twins(tmp_path, crl_url_b=fs.url("b.crl"))
    a_crl = gencrl_ext(t.a)
    t.b.revoke(t.cb_cert)
    fs.publish("b.crl", gencrl_ext(t.b))
    b = broker_factory(t.conf(crlfile_line(a_crl), "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = t.connect(port, t.cb_cert)
    assert r.alert == 42, r
    b.wait_for_log(r"tls: client certificate rejected .*serial=%s issuer=\"CN=Same Name CA\".*"
                   r"reason=no_crl detail=\"crl1=\\\"CN=Same Name CA\\\"#03E8:issuer_key" %
                   t.cb_cert.serial_hex)
    r = t.connect(port, t.ca_cert)
    assert r.ok, r  # A's own certificate is covered by A's CRL
    b.stop()

    b = broker_factory(t.conf(crlfile_line(a_crl), "crl_cache.discover_from_cert = true"),
                       extra_listeners=["ssl:default"], name="disc")
    r = t.connect(b.ports["ssl:default"], t.cb_cert, hold=1.5)
    assert r.alert == 44, r
    b.wait_for_log(r"tls: fetching CRL distribution point listener=[a-z]+:default url=\"?%s" %
                   re.escape(fs.url("b.crl")))


def test_same_name_other_key_crl_does_not_revoke(broker_factory, tmp_path):
    """B's CRL revokes B's certificate; A's certificate with the same serial
    stays good (A's CRL covers it), B's is refused with 44."""
    t = Twins(tmp_path)
    t.b.revoke(t.cb_cert)
    a_crl, b_crl = gencrl_ext(t.a), gencrl_ext(t.b)
    b = broker_factory(t.conf(crlfile_line(a_crl, b_crl)), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = t.connect(port, t.ca_cert)
    assert r.ok, r
    r = t.connect(port, t.cb_cert)
    assert r.alert == 44, r


def test_crl_numbers_of_two_keys_are_not_compared(broker_factory, tmp_path, file_server):  # noqa: F811
    """One URL serves both CAs' CRLs (numbers 1000 and 5000). A's next CRL
    (1001) must replace A's 1000, not be compared with B's 5000."""
    fs = file_server()
    t = Twins(tmp_path)
    bundle = tmp_path / "bundle.pem"
    PKI.write_bundle(str(bundle), gencrl_ext(t.a), gencrl_ext(t.b))
    url = fs.publish("both.pem", str(bundle))
    b = broker_factory(t.conf(crl_urls_line(url), "crl_cache.refresh_interval = 1s",
                              "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    assert t.connect(port, t.ca_cert).ok
    mark = b.log_mark()
    t.a.revoke(t.ca_cert)
    PKI.write_bundle(str(bundle), gencrl_ext(t.a), gencrl_ext(t.b))
    fs.publish("both.pem", str(bundle))
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(url), timeout=6,
                   since=mark)
    assert "crl_number_went_back" not in b.log_text()
    r = t.connect(port, t.ca_cert)
    assert r.alert == 44, r
    r = t.connect(port, t.cb_cert)
    assert r.ok, r


# ---------------------------------------------------------------------------
# 2. partitioned CRLs (IDP distributionPoint)
# ---------------------------------------------------------------------------

class Parts:
    """Root -> intermediate issuing into two partitions p1 / p2, each with its
    own CRL (IDP fullname = its URL) and the certificates naming it in their CDP."""

    def __init__(self, d, fs):
        self.pki = PKI(d / "pki")
        self.root = self.pki.root
        self.inter = self.root.intermediate("Part CA")
        self.server = self.inter.server_cert("server")
        self.fs = fs
        self.url1, self.url2 = fs.url("p1.crl"), fs.url("p2.crl")
        self.in1 = self.inter.client_cert("in-p1", crl_url=self.url1)
        self.in1b = self.inter.client_cert("in-p1b", crl_url=self.url1)
        self.in2 = self.inter.client_cert("in-p2", crl_url=self.url2)
        self.cafile = PKI.write_bundle(str(d / "ca.pem"), self.root.cert, self.inter.cert)

    def crl(self, n):
        return gencrl_ext(self.inter, idp=["fullname = URI:" + (self.url1, self.url2)[n - 1]])

    def conf(self, *lines):
        return conf(self.server, self.cafile, *lines)


def test_partition_crl_covers_only_its_partition(broker_factory, tmp_path, file_server):  # noqa: F811
    fs = file_server()
    p = Parts(tmp_path, fs)
    p1 = p.crl(1)  # before the revocation: partition 1 lists nothing
    p.inter.revoke(p.in2)
    fs.publish("p2.crl", p.crl(2))
    b = broker_factory(p.conf(crlfile_line(p1), "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = connect(port, p.root.cert, p.in1, "1.3")
    assert r.ok, r
    r = connect(port, p.root.cert, p.in2, "1.3")
    assert r.alert == 42, r  # partition 1 is not complete for partition 2
    b.wait_for_log(r"reason=no_crl detail=\"crl1=\\\"CN=Part CA\\\"#[0-9A-F]+:distribution_point")
    b.stop()

    # discovery on: the CDP of partition 2 is fetched; it covers and revokes
    b = broker_factory(p.conf(crlfile_line(p1), "crl_cache.discover_from_cert = true"),
                       extra_listeners=["ssl:default"], name="disc")
    r = connect(b.ports["ssl:default"], p.root.cert, p.in2, "1.3", hold=1.5)
    assert r.alert == 44, r


def test_partition_revocation_closes_the_right_session(broker_factory, tmp_path, file_server,  # noqa: F811
                                                       tls_paho):  # noqa: F811
    fs = file_server()
    p = Parts(tmp_path, fs)
    fs.publish("p1.crl", p.crl(1))
    fs.publish("p2.crl", p.crl(2))
    b = broker_factory(p.conf(crl_urls_line(p.url1, p.url2), "crl_cache.refresh_interval = 1s",
                              "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    c1 = tls_paho(port, p.root.cert, p.in1.cert, p.in1.key, "in-p1", 5)
    c1b = tls_paho(port, p.root.cert, p.in1b.cert, p.in1b.key, "in-p1b", 5)
    c2 = tls_paho(port, p.root.cert, p.in2.cert, p.in2.key, "in-p2", 5)
    mark = b.log_mark()
    p.inter.revoke(p.in1)
    fs.publish("p1.crl", p.crl(1))
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(p.url1), timeout=6,
                   since=mark)
    c1.c.wait_disconnected(timeout=2.0)
    b.wait_for_log(r"closing connection of revoked certificate client_id=in-p1 serial=%s" %
                   p.in1.serial_hex, since=mark)
    for other in (c1b, c2):
        assert other.c.connected.is_set() and not other.events, other.events
    c2.c.subscribe("t/#", qos=1)
    c2.c.publish("t/x", b"still here", qos=1)
    assert c2.c.wait_topic("t/x").payload == b"still here"


def test_same_name_live_revocation_closes_only_that_key(broker_factory, tmp_path,  # noqa: F811
                                                        file_server, tls_paho):  # noqa: F811
    """Two same-named CAs, two clients with the same serial: B revokes its
    client; only B's client is closed, A's stays."""
    fs = file_server()
    t = Twins(tmp_path)
    ua = fs.publish("a.crl", gencrl_ext(t.a))
    ub = fs.publish("b.crl", gencrl_ext(t.b))
    b = broker_factory(t.conf(crl_urls_line(ua, ub), "crl_cache.refresh_interval = 1s",
                              "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    ca = tls_paho(port, t.srv.cert, t.ca_cert.cert, t.ca_cert.key, "of-a", 5)
    cb = tls_paho(port, t.srv.cert, t.cb_cert.cert, t.cb_cert.key, "of-b", 5)
    mark = b.log_mark()
    t.b.revoke(t.cb_cert)
    fs.publish("b.crl", gencrl_ext(t.b))
    b.wait_for_log(r"crl_cache: refresh OK url=%s entries=1 " % re.escape(ub), timeout=6,
                   since=mark)
    cb.c.wait_disconnected(timeout=2.0)
    assert ca.c.connected.is_set() and not ca.events, ca.events
    ca.c.subscribe("t/#", qos=1)
    ca.c.publish("t/x", b"a stays", qos=1)
    assert ca.c.wait_topic("t/x").payload == b"a stays"


# ---------------------------------------------------------------------------
# 3. onlyContainsUserCerts / onlyContainsCACerts with check = chain
# ---------------------------------------------------------------------------

def test_user_only_crl_does_not_clear_an_intermediate(broker_factory, tmp_path):
    pki = PKI(tmp_path / "pki")
    root = pki.root
    inter = root.intermediate("Sub CA")
    server = inter.server_cert("server")
    dev = inter.client_cert("dev")
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), root.cert, inter.cert)
    inter_crl = gencrl_ext(inter)
    users_only = gencrl_ext(root, idp=["onlyuser = TRUE"])  # before the revocation
    root.revoke(inter.cert)
    cas_only = gencrl_ext(root, idp=["onlyCA = TRUE"])
    lines = ("crl_cache.check = chain", "crl_cache.discover_from_cert = false")
    b = broker_factory(conf(server, cafile, crlfile_line(inter_crl, users_only), *lines),
                       extra_listeners=["ssl:default"])
    r = connect(b.ports["ssl:default"], root.cert, dev, "1.3")
    assert r.alert == 42, r  # the root's user-only CRL says nothing about Sub CA
    b.wait_for_log(r"depth=1 reason=no_crl detail=.*:only_user_certs")
    b.stop()
    b = broker_factory(conf(server, cafile, crlfile_line(inter_crl, users_only, cas_only), *lines),
                       extra_listeners=["ssl:default"], name="withca")
    r = connect(b.ports["ssl:default"], root.cert, dev, "1.3")
    assert r.alert == 44, r


def test_only_some_reasons_crls_must_add_up(broker_factory, tmp_path):
    """Two reason-partitioned CRLs of one CA (IDP onlySomeReasons): either alone
    covers only its reasons -> 42; together they cover all -> accepted; a
    certificate listed in one of them -> 44."""
    pki = PKI(tmp_path / "pki")
    root = pki.root
    inter = root.intermediate("Reasons CA")
    server = inter.server_cert("server")
    good, dev = inter.client_cert("good"), inter.client_cert("dev")
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), root.cert, inter.cert)
    inter.revoke(dev, reason="keyCompromise")
    key = gencrl_ext(inter, idp=["onlysomereasons = keyCompromise, CACompromise"])
    rest = gencrl_ext(inter, idp=["onlysomereasons = affiliationChanged, superseded, "
                                  "cessationOfOperation, certificateHold, privilegeWithdrawn, "
                                  "AACompromise"])
    lines = ("crl_cache.discover_from_cert = false",)
    b = broker_factory(conf(server, cafile, crlfile_line(key), *lines),
                       extra_listeners=["ssl:default"])
    r = connect(b.ports["ssl:default"], root.cert, good, "1.3")
    assert r.alert == 42, r
    b.wait_for_log(r"reason=no_crl detail=\"crl1=\\\"CN=Reasons CA\\\"#[0-9A-F]+:only_some_reasons=0x006")
    b.stop()
    b = broker_factory(conf(server, cafile, crlfile_line(key, rest), *lines),
                       extra_listeners=["ssl:default"], name="both")
    port = b.ports["ssl:default"]
    b.wait_for_log(r"crl_cache: refresh OK file=%s .*scope=full\+some_reasons" % re.escape(key))
    r = connect(port, root.cert, good, "1.3")
    assert r.ok, r
    r = connect(port, root.cert, dev, "1.3")
    assert r.alert == 44, r


# ---------------------------------------------------------------------------
# 4. bundles per CRL
# ---------------------------------------------------------------------------

def test_bundle_with_one_expired_member_uses_the_good_one(broker_factory, tmp_path):
    """A PEM bundle: another CA's expired CRL, a block that is no CRL, and the
    intermediate's fresh CRL revoking `dev`: each bad one is refused alone
    with its own line, the fresh one is used."""
    pki = PKI(tmp_path / "pki")
    root = pki.root
    inter = root.intermediate("Bundle CA")
    server = inter.server_cert("server")
    good, dev = inter.client_cert("good"), inter.client_cert("dev")
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), root.cert, inter.cert)
    inter.revoke(dev)
    expired, _ = root.gencrl_expired()
    junk = tmp_path / "junk.pem"  # a PEM block whose content is no CRL
    junk.write_text("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    bundle = PKI.write_bundle(str(tmp_path / "bundle.pem"), expired, str(junk), gencrl_ext(inter))
    b = broker_factory(conf(server, cafile, crlfile_line(bundle),
                            "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    b.wait_for_log(r"crl_cache: refresh failed file=%s reason=next_update_past crl=1/3 "
                   r"issuer=\"CN=revmq Test Root CA\"" % re.escape(bundle))
    b.wait_for_log(r"crl_cache: refresh failed file=%s reason=garbage crl=2/3 " %
                   re.escape(bundle))
    b.wait_for_log(r"crl_cache: refresh OK file=%s entries=1 .*issuer=\"CN=Bundle CA\"" %
                   re.escape(bundle))
    r = connect(port, root.cert, dev, "1.3")
    assert r.alert == 44, r
    r = connect(port, root.cert, good, "1.3")
    assert r.ok, r


# ---------------------------------------------------------------------------
# 5. delta and indirect CRLs
# ---------------------------------------------------------------------------

def _delta_crl(ca, base_number, serials, out, removed=()):
    """A delta CRL (DeltaCRLIndicator = base_number, CRL number base_number + 1)
    signed by ca, listing serials, and `removed` with reason removeFromCRL."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    key = serialization.load_pem_private_key(open(ca.key, "rb").read(), password=None)
    cert = x509.load_pem_x509_certificate(open(ca.cert, "rb").read())
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    bld = (x509.CertificateRevocationListBuilder().issuer_name(cert.subject)
           .last_update(now - datetime.timedelta(seconds=30))
           .next_update(now + datetime.timedelta(hours=1))
           .add_extension(x509.CRLNumber(base_number + 1), critical=False)
           .add_extension(x509.DeltaCRLIndicator(base_number), critical=True)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                          critical=False))
    for s in serials:
        bld = bld.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(s)
            .revocation_date(now - datetime.timedelta(seconds=30)).build())
    for s in removed:
        bld = bld.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(s)
            .revocation_date(now - datetime.timedelta(seconds=30))
            .add_extension(x509.CRLReason(x509.ReasonFlags.remove_from_crl), critical=False)
            .build())
    crl = bld.sign(key, hashes.SHA256())
    with open(out, "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.PEM))
    return out


def test_delta_crl_merged_onto_its_base(broker_factory, tmp_path):
    """Base CRL 100 (openssl ca) holds `held` (certificateHold); the delta on
    base 100 revokes `dev` and releases `held` (removeFromCRL). With both: dev
    44, held and good accepted. The delta alone clears nothing (42); the base
    alone keeps `held` refused (44)."""
    pki = PKI(tmp_path / "pki")
    root = pki.root
    inter = root.intermediate("Delta CRL CA")
    server = inter.server_cert("server")
    good, dev, held = (inter.client_cert(n) for n in ("good", "dev", "held"))
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), root.cert, inter.cert)
    openssl("ca", "-batch", "-config", inter.cnf, "-revoke", held.cert, "-crl_hold",
            "holdInstructionNone")
    set_crlnumber(inter, 100)
    base = gencrl_ext(inter)  # number 100: `held` on hold
    delta = _delta_crl(inter, 100, [dev.serial], str(tmp_path / "delta.pem"),
                       removed=[held.serial])
    lines = ("crl_cache.discover_from_cert = false",)

    def broker(*files, name=None):
        return broker_factory(conf(server, cafile, crlfile_line(*files), *lines),
                              extra_listeners=["ssl:default"], name=name)

    b = broker(base, delta)
    port = b.ports["ssl:default"]
    b.wait_for_log(r"crl_cache: refresh OK file=%s entries=1 .* delta=true base_crl_number=64" %
                   re.escape(delta))
    assert connect(port, root.cert, dev, "1.3").alert == 44
    r = connect(port, root.cert, held, "1.3")
    assert r.ok, r  # released from hold by the delta
    assert connect(port, root.cert, good, "1.3").ok
    b.stop()
    b = broker(base, name="baseonly")
    r = connect(b.ports["ssl:default"], root.cert, held, "1.3")
    assert r.alert == 44, r
    b.wait_for_log(r"serial=%s .*reason=revoked detail=\"crl_reason=6\"" % held.serial_hex)
    b.stop()
    # the delta alone clears nothing: unknown -> 42
    b = broker(delta, name="deltaonly")
    r = connect(b.ports["ssl:default"], root.cert, good, "1.3")
    assert r.alert == 42, r
    b.wait_for_log(r"reason=no_crl detail=\"crl1=\\\"CN=Delta CRL CA\\\"#65:delta_crl")


def test_indirect_crl_refused_by_name(broker_factory, tmp_path):
    pki = PKI(tmp_path / "pki")
    root = pki.root
    inter = root.intermediate("Indirect CA")
    server = inter.server_cert("server")
    good = inter.client_cert("good")
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), root.cert, inter.cert)
    ind = gencrl_ext(inter, idp=["indirectCRL = TRUE"])
    b = broker_factory(conf(server, cafile, crlfile_line(ind),
                            "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    b.wait_for_log(r"crl_cache: refresh failed file=%s reason=indirect_crl " % re.escape(ind))
    r = connect(b.ports["ssl:default"], root.cert, good, "1.3")
    assert r.alert == 42, r
    b.wait_for_log(r"reason=no_crl detail=no_crl_in_force")


# ---------------------------------------------------------------------------
# 6. signed serial numbers
# ---------------------------------------------------------------------------

def _negative_serial_cert(ca, serial, tmp_path):
    """A client certificate of `ca` with a NEGATIVE serial (`openssl x509 -req
    -set_serial -N`; `openssl ca` cannot issue one)."""
    key, csr, out = (str(tmp_path / ("neg" + e)) for e in (".key", ".csr", ".pem"))
    ext = str(tmp_path / "neg.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n"
                "extendedKeyUsage = clientAuth\nauthorityKeyIdentifier = keyid\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=negative")
    openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial",
            str(serial), "-days", "2", "-extfile", ext, "-out", out)

    class C:
        pass
    c = C()
    c.cert, c.key = out, key
    return c


def test_negative_serial_is_not_its_positive_twin(broker_factory, tmp_path):
    """The intermediate revokes serial 0x1234; a certificate with serial
    -0x1234 is another certificate: accepted. Logs print the sign."""
    pki = PKI(tmp_path / "pki")
    root = pki.root
    inter = root.intermediate("Serial CA")
    server = inter.server_cert("server")
    set_serial(inter, "1234")
    pos = inter.client_cert("positive")
    assert pos.serial == 0x1234
    neg = _negative_serial_cert(inter, -0x1234, tmp_path)
    assert "serial=-1234" in openssl("x509", "-in", neg.cert, "-noout", "-serial").decode()
    inter.revoke(pos)
    cafile = PKI.write_bundle(str(tmp_path / "ca.pem"), root.cert, inter.cert)
    b = broker_factory(conf(server, cafile, crlfile_line(gencrl_ext(inter)),
                            "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    r = connect(port, root.cert, pos, "1.3")
    assert r.alert == 44, r
    b.wait_for_log(r"client certificate rejected listener=[a-z]+:default serial=1234 .*reason=revoked")
    r = connect(port, root.cert, neg, "1.3")
    assert r.ok, r
    # and with the negative one revoked too, the log names it with its sign
    inter.revoke(neg.cert)
    b.stop()
    b = broker_factory(conf(server, cafile, crlfile_line(gencrl_ext(inter)),
                            "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"], name="negrev")
    r = connect(b.ports["ssl:default"], root.cert, neg, "1.3")
    assert r.alert == 44, r
    b.wait_for_log(r"client certificate rejected listener=[a-z]+:default serial=-1234 .*reason=revoked")


# ---------------------------------------------------------------------------
# 7. leftovers of interrupted saves
# ---------------------------------------------------------------------------

def test_tmp_files_of_interrupted_saves_removed_at_start(broker_factory, tmp_path):
    pki = PKI(tmp_path / "pki")
    root = pki.root
    server = root.server_cert("server")
    b = broker_factory(conf(server, root.cert, crlfile_line(gencrl_ext(root))), start=False,
                       extra_listeners=["ssl:default"])
    d = b.data_dir / "crl"
    d.mkdir(parents=True, exist_ok=True)
    left = [d / ("%s.crl.tmp.4242" % ("ab" * 32)), d / ("%s.meta.tmp.77" % ("cd" * 32))]
    keep = d / "unrelated.txt"
    for p in left + [keep]:
        p.write_bytes(b"partial")
    b.start()
    b.wait_for_log(r"crl_cache: removed temporary files of interrupted saves count=2 ")
    assert not any(p.exists() for p in left)
    assert keep.exists()
