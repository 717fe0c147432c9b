"""Two revmq-ca processes on one directory: CLI revocations while serve answers
requests. Nothing is lost, nothing is corrupted, serve sees every revocation."""

import concurrent.futures
import re
import sqlite3
import subprocess
import threading
import urllib.request

from ca_tools import revmq_ca  # noqa: F401 (fixture)


def test_concurrent_revocations_and_requests(revmq_ca):
    ca = revmq_ca
    certs = [ca.issue(f"dev-{i}") for i in range(16)]
    stop = threading.Event()
    errors = []
    served = [0]

    def hammer():
        while not stop.is_set():
            try:
                with urllib.request.urlopen(ca.crl_url(pem=False), timeout=10) as r:
                    body = r.read()
                p = subprocess.run(["openssl", "crl", "-inform", "DER", "-noout"], input=body,
                                   capture_output=True, timeout=30)
                if p.returncode != 0:
                    errors.append(p.stderr)
                served[0] += 1
            except Exception as e:  # noqa: BLE001 - recorded and asserted below
                errors.append(repr(e))

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
            results = list(ex.map(lambda c: ca.revoke(c.serial, "keyCompromise", check=False),
                                  certs))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert [r.returncode for r in results] == [0] * len(certs), [r.stderr for r in results]
    assert errors == [] and served[0] > 0

    with urllib.request.urlopen(ca.crl_url(pem=False), timeout=10) as r:
        text = subprocess.run(["openssl", "crl", "-inform", "DER", "-noout", "-text"],
                              input=r.read(), capture_output=True, timeout=30).stdout.decode()
    listed = set(re.findall(r"Serial Number: ([0-9A-F]+)", text))
    assert listed == {c.serial for c in certs}
    number = int(re.search(r"CRL Number: *\n *([0-9A-F]+)", text).group(1), 16)
    assert number >= 1 + len(certs)  # one new CRL per revocation at least

    for c in certs[:4]:
        p = subprocess.run(["openssl", "ocsp", "-issuer", c.ca_cert, "-cert", c.cert, "-url",
                            ca.ocsp_url(), "-CAfile", c.ca_cert], capture_output=True,
                           text=True, timeout=30)
        assert ": revoked" in p.stdout, p.stdout + p.stderr

    db = sqlite3.connect(f"file:{ca.dir}/ca.db?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM cert WHERE revoked = 1").fetchone()[0] == 16
    finally:
        db.close()


def test_concurrent_issue__all_distinct_serials(revmq_ca):
    ca = revmq_ca
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        issued = list(ex.map(lambda i: ca.issue(f"p-{i}"), range(12)))
    assert len({c.serial for c in issued}) == 12
    out = ca.run("ca", "list-certs", "--ca", "mqtt-ca").stdout
    for c in issued:
        assert c.serial in out
