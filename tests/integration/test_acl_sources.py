"""Authorization sources and their life cycle: EMQX environment-only configuration,
a Mosquitto acl_file source, EMQX's shipped acl.conf, bad files at start and on
reload, SIGHUP reload reaching live sessions, and the certificate placeholders
${cert_common_name} / ${cert_subject} over mutual TLS."""

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import helpers
from helpers import HOST, PUBACK, VERSIONS, V5, MosquittoSub, mosquitto_pub
from pki import PKI, openssl

pytestmark = pytest.mark.revmq_only

NOT_AUTHORIZED = 0x87
REPO = Path(__file__).resolve().parents[2]


def sub_code(version):
    return NOT_AUTHORIZED if version == V5 else 0x80


def source_conf(path, kind="file", n=1):
    return (f"authorization.sources.{n}.type = {kind}\n"
            f'authorization.sources.{n}.path = "{path}"\n')


# ---------------------------------------------------------------- configuration

@VERSIONS
def test_emqx_environment_only_configuration(broker_factory, tmp_path, raw_client, version, uid):
    acl = tmp_path / "acl.conf"
    acl.write_text('{allow, {username, "svc"}, publish, ["svc/#"]}.\n'
                   '{allow, all, subscribe, ["svc/#"]}.\n')
    b = broker_factory(env={"EMQX_AUTHORIZATION__NO_MATCH": "deny",
                            "EMQX_AUTHORIZATION__SOURCES__1__TYPE": "file",
                            "EMQX_AUTHORIZATION__SOURCES__1__ENABLE": "true",
                            "EMQX_AUTHORIZATION__SOURCES__1__PATH": str(acl),
                            "EMQX_AUTHORIZATION__CACHE__MAX_SIZE": "8"})
    b.wait_for_log(r"authz: rules loaded rules=2 no_match=deny deny_action=ignore")
    c = raw_client(b, version)
    c.connect(f"c-{uid}", username="anon")
    c.subscribe(("svc/#", 0), ("other/#", 0), expect_codes=[0, sub_code(version)])
    a = c.publish("svc/x", b"", qos=1)
    assert a.rc == (NOT_AUTHORIZED if version == V5 else 0)
    s = raw_client(b, version)
    s.connect(f"s-{uid}", username="svc")
    assert s.publish("svc/x", b"", qos=1).rc in (0, None, 0x10)


def test_bad_rule_file_stops_start_naming_file_line(broker_factory, tmp_path):
    acl = tmp_path / "acl.conf"
    acl.write_text('{allow, all}.\n\n{deny, {usr, "x"}, publish, ["a"]}.\n')
    b = broker_factory(source_conf(acl), start=False)
    b.start(wait_ready=False)
    assert b.wait_exit() == 1
    assert f"authorization.sources.1: {acl}:3: expected all, {{username" in b.log_text(), \
        b.log_tail()
    r = subprocess.run([str(helpers.build_dir() / "revmq"), "--check-config", "-c",
                        str(b.config_path)], capture_output=True, text=True, cwd=str(b.dir))
    assert r.returncode == 1 and f"{acl}:3:" in r.stderr, r


def test_missing_path_for_file_source_is_a_config_error(broker_factory):
    b = broker_factory("authorization.sources.1.type = mosquitto_acl_file\n", start=False)
    b.start(wait_ready=False)
    assert b.wait_exit() == 1
    assert "authorization.sources.1.path: required when type = mosquitto_acl_file" in \
        b.log_text(), b.log_tail()


def test_emqx_shipped_acl_conf_as_source(broker_factory, tmp_path, raw_client, uid):
    """EMQX's default acl.conf (test copy) loads unchanged; the test clients come from
    127.0.0.1, which its second rule lets subscribe to # and $SYS/#."""
    acl = tmp_path / "acl.conf"
    shutil.copy(REPO / "tests/unit/data/emqx_default_acl.conf", acl)
    b = broker_factory(source_conf(acl))
    b.wait_for_log(r"authz: rules loaded rules=4 ")
    c = raw_client(b, 5)
    c.connect(f"c-{uid}")
    c.subscribe(("#", 0), ("$SYS/#", 0), expect_codes=[0, 0])


# ---------------------------------------------------------------- Mosquitto acl_file

def test_mosquitto_acl_file_source(broker_factory, tmp_path, raw_client, uid):
    acl = tmp_path / "acl_file"
    acl.write_text("# anonymous clients\ntopic read public/#\n\n"
                   "user alice\ntopic readwrite alice/#\ntopic deny alice/secret\n"
                   "pattern write clients/%c/#\n")
    b = broker_factory(source_conf(acl, "mosquitto_acl_file"))
    anon = raw_client(b, 5)
    anon.connect(f"anon-{uid}")
    anon.subscribe(("public/#", 0), ("alice/#", 0), expect_codes=[0, NOT_AUTHORIZED])
    assert anon.publish("public/x", b"", qos=1).rc == NOT_AUTHORIZED  # read only
    assert anon.publish(f"clients/anon-{uid}/up", b"", qos=1).rc in (0, None, 0x10)
    alice = raw_client(b, 5)
    alice.connect(f"al-{uid}", username="alice")
    alice.subscribe(("alice/#", 1), ("public/#", 0), expect_codes=[1, NOT_AUTHORIZED])
    assert alice.publish("alice/secret", b"", qos=1).rc == NOT_AUTHORIZED
    assert alice.publish("alice/ok", b"", qos=1).rc in (0, None)
    # mosquitto_sub as alice: the v3.1.1 refusal code for what the file does not grant
    r = subprocess.run(["mosquitto_sub", "-d", "-h", HOST, "-p", str(b.port), "-u", "alice",
                        "-t", "elsewhere/#", "-W", "2"], capture_output=True, text=True,
                       timeout=10)
    assert "Subscribed (mid: 1): 128" in r.stdout + r.stderr, r


# ---------------------------------------------------------------- reload

@VERSIONS
def test_sighup_reload_reaches_live_session(broker_factory, tmp_path, raw_client, version, uid):
    acl = tmp_path / "acl.conf"
    acl.write_text('{allow, all}.\n')
    b = broker_factory(source_conf(acl))
    s = raw_client(b, version)
    s.connect(f"s-{uid}")
    s.subscribe(("live/#", 1))
    c = raw_client(b, version)
    c.connect(f"c-{uid}")
    c.publish("live/a", b"before", qos=1)  # allowed, and now in c's decision cache
    assert s.recv_publish().payload == b"before"

    acl.write_text('{deny, all, publish, ["live/#"]}.\n{allow, all}.\n')
    mark = b.log_mark()
    b.proc.send_signal(signal.SIGHUP)
    b.wait_for_log(r"authz: rules reloaded rules=2", since=mark)
    a = c.publish("live/a", b"after", qos=1)  # same connection, same topic
    assert a.rc == (NOT_AUTHORIZED if version == V5 else 0)
    c.subscribe(("live/b", 0))
    c.publish("live/b", b"", qos=0)
    assert [p for p in s.drain(0.3) if p.type == helpers.PUBLISH] == [], "denied after reload"

    # a broken file: logged with file:line, the rules in force stay
    acl.write_text('{allow, all}.\n{allow, all, publish, ["a/#/b"]}.\n')
    mark = b.log_mark()
    b.proc.send_signal(signal.SIGHUP)
    b.wait_for_log(rf"authz: reload failed, rules in force kept: authorization.sources.1: "
                   rf"{acl}:2: expected a topic filter", since=mark)
    a = c.publish("live/a", b"still", qos=1)
    assert a.rc == (NOT_AUTHORIZED if version == V5 else 0)
    assert b.is_running()


# ---------------------------------------------------------------- certificate placeholders

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("aclpki")
    p = PKI(d / "pki")
    w = type("World", (), {})()
    w.root = p.root
    w.server = p.root.server_cert("server")
    w.dev1 = p.root.client_cert("dev1")
    w.dev2 = p.root.client_cert("dev2")
    return w


def tls_conf(w):
    base = "listeners.ssl.default.ssl_options"
    return (f'{base}.certfile = "{w.server.cert}"\n{base}.keyfile = "{w.server.key}"\n'
            f'{base}.cacertfile = "{w.root.cert}"\n{base}.verify = verify_peer\n'
            f"{base}.fail_if_no_peer_cert = true\n")


def rfc2253_subject(cert):
    out = openssl("x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253")
    out = out.decode() if isinstance(out, bytes) else out
    return out.strip().split("subject=", 1)[1].strip()


def mtls_pub(port, cert, w, topic):
    r = subprocess.run(["mosquitto_pub", "-d", "-h", HOST, "-p", str(port), "-V", "mqttv5",
                        "-q", "1", "-t", topic, "-m", "x", "--cafile", w.root.cert,
                        "--cert", cert.cert, "--key", cert.key],
                       capture_output=True, text=True, timeout=10)
    return r.stdout + r.stderr


def test_cert_common_name_and_subject_placeholders(broker_factory, tmp_path, world, uid):
    acl = tmp_path / "acl.conf"
    acl.write_text('{allow, all, publish, ["dev/${cert_common_name}/#"]}.\n'
                   '{allow, all, publish, ["dn/${cert_subject}"]}.\n'
                   '{allow, all, subscribe, ["#"]}.\n{deny, all}.\n')
    b = broker_factory(tls_conf(world) + source_conf(acl), extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    s = MosquittoSub(port, "#", "-V", "mqttv311", "--cafile", world.root.cert, "--cert",
                     world.dev2.cert, "--key", world.dev2.key).start()
    out = mtls_pub(port, world.dev1, world, "dev/dev1/temp")
    assert "Not authorized" not in out, out
    s.wait_line(lambda l: l.startswith("dev/dev1/temp x"))
    out = mtls_pub(port, world.dev1, world, "dev/dev2/temp")  # another device's topic
    assert "Not authorized" in out or "135" in out, out
    dn = rfc2253_subject(world.dev1.cert)
    out = mtls_pub(port, world.dev1, world, f"dn/{dn}")
    assert "Not authorized" not in out, out
    s.wait_line(lambda l: l.startswith(f"dn/{dn} x"))
    out = mtls_pub(port, world.dev2, world, f"dn/{dn}")
    assert "Not authorized" in out or "135" in out, out
    s.stop()
    # a TCP client without a certificate never matches the certificate placeholders
    mosquitto_pub(b.port, "dev//temp", "x", "-q", "1")
    assert not any(l.startswith("dev//temp") for l in s.lines)


@VERSIONS
def test_sighup_reload_removes_live_subscriptions_now_denied(broker_factory, tmp_path,
                                                               raw_client, version, uid):
    acl = tmp_path / "acl.conf"
    acl.write_text('{allow, all}.\n')
    b = broker_factory(source_conf(acl))
    s = raw_client(b, version)
    s.connect(f"s-{uid}", username="watcher")
    s.subscribe(("watch/#", 1), ("$share/g/team/#", 1), ("open/#", 1))
    p = raw_client(b, version)
    p.connect(f"p-{uid}")
    p.publish("watch/a", b"1", qos=1)
    assert s.recv_publish().payload == b"1"

    acl.write_text('{deny, {username, "watcher"}, subscribe, ["watch/#", "team/#"]}.\n'
                   '{allow, all}.\n')
    mark = b.log_mark()
    b.proc.send_signal(signal.SIGHUP)
    removed = "authz: subscription removed, no longer authorized client_id=s-%s filter=" % uid
    b.wait_for_log(removed + r"watch/#$", since=mark)
    b.wait_for_log(removed + r"\$share/g/team/#$", since=mark)
    for t in ("watch/a", "team/x", "open/x"):
        p.publish(t, t.encode(), qos=1)
    got = s.recv_publish()
    assert got.topic == "open/x"
    assert [x for x in s.drain(0.3) if x.type == helpers.PUBLISH] == []
