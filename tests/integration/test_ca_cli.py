"""revmq-ca CLI: tenant, CA creation, issuing, revoking — checked with the openssl CLI."""

import json
import os
import re
import stat
import subprocess
import time

import pytest

from ca_tools import RevmqCA, ca_binary


def openssl(*args, input=None, check=True):
    p = subprocess.run(["openssl", *args], capture_output=True, text=True, input=input,
                       timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def ca(tmp_path):
    c = RevmqCA(tmp_path)
    c.port = 4664  # URLs only; nothing is served in these tests
    c.init()
    c.create_ca(crl_templates=[
        "http://api.internal:4664/crl-pem/${SYS_TENANT_NAME}/${SYS_CA_NAME}/${SYS_CA_VERSION}"],
        ocsp_templates=["http://api.internal:4664/ocsp/${SYS_TENANT_UUID}/${SYS_CA_NAME}"])
    return c


def test_init__prints_uuid_and_is_idempotent_for_same_name(tmp_path):
    c = RevmqCA(tmp_path)
    uuid = c.init()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uuid)
    assert c.run("get-tenant-uuid").stdout.strip() == uuid
    assert c.init() == uuid
    p = c.run("init", "--tenant", "other", check=False)
    assert p.returncode == 1 and "already holds tenant 'acme'" in p.stderr


def test_state_files__are_private(ca):
    assert stat.S_IMODE(os.stat(ca.dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(ca.dir, "ca.db")).st_mode) == 0o600
    keys = os.path.join(ca.dir, "keys")
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o700
    for k in os.listdir(keys):
        assert stat.S_IMODE(os.stat(os.path.join(keys, k)).st_mode) == 0o600


def test_issue_server__verifies_and_carries_san_eku_and_expanded_urls(ca):
    srv = ca.issue("mqtt.example", cert_type="server", extra=["--host", "127.0.0.1"])
    assert openssl("verify", "-CAfile", srv.ca_cert, srv.cert).stdout.strip().endswith("OK")
    text = openssl("x509", "-in", srv.cert, "-noout", "-text").stdout
    assert "DNS:mqtt.example, IP Address:127.0.0.1" in text
    assert "TLS Web Server Authentication" in text
    assert "URI:http://api.internal:4664/crl-pem/acme/mqtt-ca/1" in text
    assert f"OCSP - URI:http://api.internal:4664/ocsp/{ca.uuid}/mqtt-ca" in text
    assert "${" not in text
    assert stat.S_IMODE(os.stat(srv.key).st_mode) == 0o600
    serial = openssl("x509", "-in", srv.cert, "-noout", "-serial").stdout.strip()
    assert serial == "serial=" + srv.serial
    assert re.fullmatch(r"[4-7][0-9A-F]{31}", srv.serial)  # 16 bytes, positive


def test_issue_client__cn_and_client_auth_and_key_matches(ca):
    cl = ca.issue("device-1", cert_type="client", ttl="1d")
    text = openssl("x509", "-in", cl.cert, "-noout", "-text").stdout
    assert "Subject: CN = device-1" in text
    assert "TLS Web Client Authentication" in text
    assert "Subject Alternative Name" not in text
    assert openssl("verify", "-CAfile", cl.ca_cert, "-purpose", "sslclient", cl.cert).returncode == 0
    m1 = openssl("x509", "-in", cl.cert, "-noout", "-pubkey").stdout
    m2 = openssl("pkey", "-in", cl.key, "-pubout").stdout
    assert m1 == m2
    end = openssl("x509", "-in", cl.cert, "-noout", "-enddate").stdout
    assert "notAfter=" in end
    assert openssl("x509", "-in", cl.cert, "-noout", "-checkend", str(86400 - 120),
                   check=False).returncode == 0
    assert openssl("x509", "-in", cl.cert, "-noout", "-checkend", str(86400 + 120),
                   check=False).returncode == 1


def test_issue_json__has_cert_key_serial_ca_cert(ca):
    p = ca.run("ca", "issue-cert", "--ca", "mqtt-ca", "--host", "dev", "--cert-type", "client",
               "--json")
    j = json.loads(p.stdout)
    assert set(j) >= {"cert", "private-key", "serial", "ca-cert"}
    d = ca.root
    for name in ("cert", "private-key", "ca-cert"):
        with open(os.path.join(d, name + ".pem"), "w") as f:
            f.write(j[name])
    assert openssl("verify", "-CAfile", os.path.join(d, "ca-cert.pem"),
                   os.path.join(d, "cert.pem")).returncode == 0
    assert "PRIVATE KEY" in j["private-key"]


def test_ca_create__rsa_sha384_ttl(tmp_path):
    c = RevmqCA(tmp_path)
    c.port = 1
    c.init()
    cacert = c.create_ca(name="rsa-ca", extra=["--key-type", "rsa", "--rsa-bits", "2048",
                                                "--digest", "sha384", "--ttl", "1y350d"])
    text = openssl("x509", "-in", cacert, "-noout", "-text").stdout
    assert "Public-Key: (2048 bit)" in text and "sha384WithRSAEncryption" in text
    assert "CA:TRUE" in text and "Certificate Sign, CRL Sign" in text
    # 1y350d = 715 days
    assert openssl("x509", "-in", cacert, "-noout", "-checkend", str(714 * 86400),
                   check=False).returncode == 0
    assert openssl("x509", "-in", cacert, "-noout", "-checkend", str(716 * 86400),
                   check=False).returncode == 1
    leaf = c.issue("h", ca="rsa-ca", cert_type="server")
    assert openssl("verify", "-CAfile", cacert, leaf.cert).returncode == 0


@pytest.mark.parametrize("args,msg", [
    (["--ttl", "1x"], "bad --ttl"),
    (["--ttl", "0d"], "bad --ttl"),
    (["--key-type", "dsa"], "--key-type"),
    (["--curve", "secp1r1"], "--curve"),
    (["--digest", "md5"], "--digest"),
    (["--crl-dist-url", "http://x/${SYS_NOPE}"], "bad URL template"),
    (["--crl-dist-url", "ftp://x/"], "bad URL template"),
    (["--ocsp-responder-url", "http://a,b/"], "bad URL template"),
])
def test_ca_create__rejects_bad_input(ca, args, msg):
    p = ca.run("ca", "create", "--name", "x", *args, check=False)
    assert p.returncode == 2 and msg in p.stderr


def test_ca_create__twice_is_an_error_unless_if_not_exists(ca):
    p = ca.run("ca", "create", "--name", "mqtt-ca", check=False)
    assert p.returncode == 1 and "already exists" in p.stderr
    ca.run("ca", "create", "--name", "mqtt-ca", "--if-not-exists")


def test_revoke__unknown_serial_and_twice_are_errors(ca):
    cl = ca.issue("dev", cert_type="client")
    p = ca.revoke("0123456789ABCDEF", check=False)
    assert p.returncode == 1 and "did not issue" in p.stderr
    ca.revoke(cl.serial.lower(), "superseded")  # case-insensitive
    p = ca.revoke(cl.serial, check=False)
    assert p.returncode == 1 and "already revoked (reason superseded)" in p.stderr
    p = ca.revoke(cl.serial, reason="notAReason", check=False)
    assert p.returncode == 2 and "unknown --reason" in p.stderr
    p = ca.revoke("zz", check=False)
    assert p.returncode == 1 and "not a serial" in p.stderr


def test_revoke__every_rfc5280_reason_is_listed_in_crl(ca):
    reasons = {"unspecified": None, "keyCompromise": "Key Compromise",
               "cACompromise": "CA Compromise", "affiliationChanged": "Affiliation Changed",
               "superseded": "Superseded", "cessationOfOperation": "Cessation Of Operation",
               "certificateHold": "Certificate Hold", "privilegeWithdrawn": "Privilege Withdrawn",
               "aACompromise": "AA Compromise"}
    serials = {}
    for r in reasons:
        c = ca.issue("d-" + r)
        ca.revoke(c.serial, r)
        serials[r] = c.serial
    text = openssl("crl", "-noout", "-text", input=ca.get_crl()).stdout
    for r, label in reasons.items():
        block = text.split("Serial Number: " + serials[r])[1].split("Serial Number:")[0]
        if label:
            assert label in block, (r, block)
        else:
            assert "Reason" not in block  # RFC 5280 5.3.1: omitted for unspecified


def test_hold_then_remove_from_crl__releases(ca):
    c = ca.issue("held")
    ca.revoke(c.serial, "certificateHold")
    assert c.serial in openssl("crl", "-noout", "-text", input=ca.get_crl()).stdout
    ca.revoke(c.serial, "removeFromCRL")
    assert c.serial not in openssl("crl", "-noout", "-text", input=ca.get_crl()).stdout
    p = ca.revoke(c.serial, "removeFromCRL", check=False)
    assert p.returncode == 1 and "only releases a certificateHold" in p.stderr


def test_get_crl__der_pem_json_and_numbers_increase(ca):
    def number(pem):
        t = openssl("crl", "-noout", "-crlnumber", input=pem).stdout
        return int(t.strip().split("=")[1], 16)

    n1 = number(ca.get_crl())
    c = ca.issue("x")
    ca.revoke(c.serial)
    n2 = number(ca.get_crl())
    assert n2 > n1
    der = subprocess.run([ca_binary(), "--dir", ca.dir, "ca", "get-crl", "--ca", "mqtt-ca",
                          "--der"], capture_output=True, timeout=30).stdout
    t = subprocess.run(["openssl", "crl", "-inform", "DER", "-noout", "-text"], input=der,
                       capture_output=True, timeout=30).stdout.decode()
    assert c.serial in t and "Key Compromise" in t
    j = json.loads(ca.run("ca", "get-crl", "--ca", "mqtt-ca", "--json").stdout)
    assert j["number"] == n2 and "BEGIN X509 CRL" in j["crl"]
    assert openssl("crl", "-noout", "-verify", "-CAfile", ca.ca_cert(),
                   input=j["crl"]).returncode == 0


def test_list_certs__shows_status(ca):
    a = ca.issue("a")
    b = ca.issue("b", cert_type="server")
    ca.revoke(b.serial, "keyCompromise")
    out = ca.run("ca", "list-certs", "--ca", "mqtt-ca").stdout
    assert re.search(a.serial + r".* good", out)
    assert re.search(b.serial + r".* revoked keyCompromise", out)
    j = json.loads(ca.run("ca", "list-certs", "--ca", "mqtt-ca", "--json").stdout)
    assert {x["serial"]: x["status"] for x in j} == {a.serial: "good", b.serial: "revoked"}


def test_explicit_validity__expired_and_not_yet_valid(ca):
    old = ca.issue("old", not_before="-3d", not_after="-1d")
    p = openssl("verify", "-CAfile", old.ca_cert, old.cert, check=False)
    assert p.returncode != 0 and "certificate has expired" in p.stdout + p.stderr
    fut = ca.issue("future", not_before="+1d", not_after="+2d")
    p = openssl("verify", "-CAfile", fut.ca_cert, fut.cert, check=False)
    assert p.returncode != 0 and "not yet valid" in p.stdout + p.stderr
    now = int(time.time())
    abs_ = ca.issue("abs", not_before=f"@{now - 100}", not_after=f"@{now + 1000}")
    assert openssl("verify", "-CAfile", abs_.ca_cert, abs_.cert).returncode == 0
    p = ca.run("ca", "issue-cert", "--ca", "mqtt-ca", "--host", "x", "--cert-type", "client",
               "--not-before", "+2d", "--not-after", "+1d", check=False)
    assert p.returncode == 1 and "not-after must be later" in p.stderr


def test_revmq_ca_now__shifts_the_clock(ca):
    past = int(time.time()) - 10 * 86400
    c = ca.issue("then", ttl="2d", now=past)
    p = openssl("verify", "-CAfile", c.ca_cert, c.cert, check=False)
    assert "certificate has expired" in p.stdout + p.stderr


def test_rotate__new_version_new_key_urls_follow(ca):
    v1 = ca.ca_cert(version=1)
    assert ca.rotate() == 2
    v2 = ca.ca_cert()
    assert open(v1).read() != open(v2).read()
    c = ca.issue("after-rotate", cert_type="server")
    text = openssl("x509", "-in", c.cert, "-noout", "-text").stdout
    assert "crl-pem/acme/mqtt-ca/2" in text and "CN = mqtt-ca v2" in text
    assert openssl("verify", "-CAfile", v2, c.cert).returncode == 0
    assert openssl("verify", "-CAfile", v1, c.cert, check=False).returncode != 0


def test_unknown_ca_and_no_tenant__are_clear_errors(tmp_path, ca):
    p = ca.run("ca", "get-crl", "--ca", "nope", check=False)
    assert p.returncode == 1 and "no CA named 'nope'" in p.stderr
    fresh = RevmqCA(tmp_path / "fresh")
    p = fresh.run("ca", "create", "--name", "x", check=False)
    assert p.returncode == 1 and "run `revmq-ca init" in p.stderr
    p = fresh.run("frobnicate", check=False)
    assert p.returncode == 2


def test_duration_forms_accepted(ca):
    for ttl in ("1y350d", "30d", "1d", "12h", "90m", "3600s", "1w", "3600"):
        ca.issue("d", ttl=ttl)


def test_success__says_what_was_done(ca):
    """revmq-ca prints what it did: the created CA, the revoked serial."""
    p = ca.run("ca", "create", "--name", "other-ca")
    assert p.stdout.startswith("created CA other-ca (tenant "), p.stdout
    cl = ca.issue("dev-said", cert_type="client")
    p = ca.revoke(cl.serial, "keyCompromise")
    assert p.stdout == (f"revoked {cl.serial} (CA {ca.ca_name}, reason keyCompromise); "
                        "the next CRL and OCSP answers list it\n"), p.stdout
