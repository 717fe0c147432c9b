"""Password authentication (issue 12): EMQX 5 `authentication` with built_in_database
bootstrap files (CSV/JSON, plain/hash: sha256, pbkdf2, bcrypt), revmq's
mosquitto_passwd_file backend with files made by Debian's `mosquitto_passwd`, the
refusal codes (MQTT 5 0x86, 3.1.1 return code 4), log lines that give the reason and
never the password, the per-address slow-down, SIGHUP reload (a bad file keeps the
old users), EMQX environment-only configuration, listeners' enable_authn, and
certificate clients that need no password.
"""

import hashlib
import time
import json
import signal
import subprocess
import warnings

import pytest

import helpers
from helpers import V5, V311, PahoClient, wait_until
from httpfaults import World

pytestmark = pytest.mark.revmq_only

NO_DELAY = "mqtt.authn_failure_delay = 0s\n"


def mosq_passwd(path, user, pw, sha512=False, create=False):
    cmd = ["mosquitto_passwd"] + (["-c"] if create else []) + (["-H", "sha512"] if sha512 else [])
    subprocess.run(cmd + ["-b", str(path), user, pw], check=True, capture_output=True)


def mosq_entry(path):
    return ("authentication = [{ mechanism = password_based, backend = mosquitto_passwd_file, "
            f'path = "{path}" }}]\n')


def pub(port, *args):
    """mosquitto_pub exit code (0 = connected and published)."""
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "t", "-m",
                        "x", "-q", "1", *args], capture_output=True, timeout=10)
    return r.returncode


def paho(port, version, user=None, pw=None, client_id="p"):
    c = PahoClient(client_id, version)
    if user is not None:
        c.client.username_pw_set(user, pw)
    try:
        c.connect(port, expect_success=False)
        return helpers.rc_value(c.connack[1])
    finally:
        c.stop()


@pytest.fixture
def pwfile(tmp_path):
    p = tmp_path / "passwd"
    mosq_passwd(p, "alice", "alice-pw", create=True)    # $7$ (PBKDF2-SHA512)
    mosq_passwd(p, "bob", "bob-pw", sha512=True)        # $6$ (SHA-512)
    text = p.read_text()
    assert "alice:$7$" in text and "bob:$6$" in text, text
    return p


def test_mosquitto_passwd_file_with_real_clients(broker_factory, pwfile, raw_client):
    b = broker_factory(NO_DELAY + mosq_entry(pwfile))
    assert pub(b.port, "-u", "alice", "-P", "alice-pw") == 0
    assert pub(b.port, "-u", "bob", "-P", "bob-pw", "-V", "mqttv5") == 0
    b.wait_for_log(r"mqtt: connected .*principal=user username=alice$")
    assert paho(b.port, V311, "alice", "alice-pw") == 0
    assert paho(b.port, V5, "bob", "bob-pw") == 0

    mark = b.log_mark()
    assert pub(b.port, "-u", "alice", "-P", "Wrong-Secret-42") != 0
    assert pub(b.port, "-u", "bob", "-P", "alice-pw") != 0
    assert pub(b.port) != 0                                   # anonymous
    assert paho(b.port, V311, "alice", "nope") == 4
    assert paho(b.port, V5, "alice", "nope") == 0x86
    assert paho(b.port, V5, "mallory", "x") == 0x86
    for version, code in ((4, 4), (5, 0x86)):
        c = raw_client(b, version=version)
        assert c.connect("r", username="alice", expect_rc=None).rc == code  # no password
    b.wait_for_log(r'authn: authentication failed addr=127\.0\.0\.1:\d+ listener=[a-z]+:default '
                   r'username=alice reason="wrong password"', since=mark)
    b.wait_for_log(r'authentication failed .*username=- reason="unknown user"', since=mark)
    b.wait_for_log(r'authentication failed .*username=mallory reason="unknown user"', since=mark)
    b.wait_for_log(r'authentication failed .*username=alice reason="no password"', since=mark)
    log = b.log_text()
    assert "Wrong-Secret-42" not in log and "alice-pw" not in log and "bob-pw" not in log


def write_csv(path, header, rows):
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    return path


def entry(file, btype, *algo, user_id_type="username"):
    alg = "password_hash_algorithm { %s }" % ", ".join(algo) if algo else ""
    return ("authentication = [{ mechanism = password_based, backend = built_in_database, "
            f'user_id_type = {user_id_type}, bootstrap_file = "{file}", '
            f"bootstrap_type = {btype}, {alg} }}]\n")


def test_emqx_bootstrap_csv_plain_and_hash(broker_factory, tmp_path):
    plain = write_csv(tmp_path / "plain.csv", "user_id,password,is_superuser",
                      [("alice", "pa55", "false"), ("ops", "root-pw", "true")])
    b = broker_factory(NO_DELAY + entry(plain, "plain"))
    assert pub(b.port, "-u", "alice", "-P", "pa55") == 0
    assert pub(b.port, "-u", "ops", "-P", "root-pw", "-V", "mqttv5") == 0
    assert pub(b.port, "-u", "alice", "-P", "root-pw") != 0
    b.stop()

    salt = "de1024f462fb83910fd13151bd4bd235"
    h = hashlib.sha256(("s3cret" + salt).encode()).hexdigest()
    hashed = write_csv(tmp_path / "hash.csv", "user_id,password_hash,salt,is_superuser",
                       [("dev-7", h.upper(), salt, "false")])
    b2 = broker_factory(NO_DELAY + entry(hashed, "hash", "name = sha256",
                                         "salt_position = suffix"))
    assert pub(b2.port, "-u", "dev-7", "-P", "s3cret") == 0
    assert pub(b2.port, "-u", "dev-7", "-P", "s3cret" + salt) != 0
    b2.stop()
    # the same file read with salt_position = prefix does not match
    b3 = broker_factory(NO_DELAY + entry(hashed, "hash", "name = sha256",
                                         "salt_position = prefix"))
    assert pub(b3.port, "-u", "dev-7", "-P", "s3cret") != 0


def test_emqx_bootstrap_json_pbkdf2_by_clientid(broker_factory, tmp_path):
    salt = "e378187547bf2d6f0545a3f441aa4d8a"
    h = hashlib.pbkdf2_hmac("sha512", b"sensor-pw", salt.encode(), 1000).hex()
    f = tmp_path / "users.json"
    f.write_text(json.dumps([{"user_id": "sensor-9", "password_hash": h, "salt": salt,
                              "is_superuser": False}]))
    b = broker_factory(NO_DELAY + entry(f, "hash", "name = pbkdf2", "mac_fun = sha512",
                                        "iterations = 1000", user_id_type="clientid"))
    assert pub(b.port, "-i", "sensor-9", "-u", "anything", "-P", "sensor-pw") == 0
    assert pub(b.port, "-i", "sensor-9", "-u", "anything", "-P", "wrong") != 0
    assert pub(b.port, "-i", "sensor-8", "-u", "anything", "-P", "sensor-pw") != 0


def test_emqx_bootstrap_bcrypt(broker_factory, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
        h = crypt.crypt("bc-pw", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))
    assert h.startswith("$2b$05$"), h
    f = write_csv(tmp_path / "bc.csv", "user_id,password_hash,salt,is_superuser",
                  [("carol", h, h[:29], "false")])
    b = broker_factory(NO_DELAY + entry(f, "hash", "name = bcrypt"))
    assert pub(b.port, "-u", "carol", "-P", "bc-pw") == 0
    assert pub(b.port, "-u", "carol", "-P", "bc-pX") != 0


def test_emqx_environment_only_configuration(broker_factory, tmp_path):
    f = write_csv(tmp_path / "u.csv", "user_id,password,is_superuser", [("eve", "e-pw", "false")])
    env = {
        "EMQX_AUTHENTICATION__1__MECHANISM": "password_based",
        "EMQX_AUTHENTICATION__1__BACKEND": "built_in_database",
        "EMQX_AUTHENTICATION__1__BOOTSTRAP_FILE": str(f),
        "EMQX_AUTHENTICATION__1__BOOTSTRAP_TYPE": "plain",
        "EMQX_MQTT__AUTHN_FAILURE_DELAY": "0s",
    }
    b = broker_factory(env=env)
    assert pub(b.port, "-u", "eve", "-P", "e-pw") == 0
    assert pub(b.port, "-u", "eve", "-P", "x") != 0
    assert pub(b.port) != 0
    b.wait_for_log(r"authn: loaded authenticator=1 backend=built_in_database users=1")


def test_failed_attempts_from_one_address_are_slowed_down(broker_factory, pwfile):
    b = broker_factory("mqtt.authn_failure_delay = 1s\n" + mosq_entry(pwfile))
    assert pub(b.port, "-u", "alice", "-P", "guess-1") != 0
    mark = b.log_mark()
    # right password at once: refused without being checked
    assert pub(b.port, "-u", "alice", "-P", "alice-pw") != 0
    b.wait_for_log(r'username=alice reason="slowed down after failed attempts, retry in \d+ ms"',
                   since=mark)
    # guesses during the delay are refused unchecked; after it the right password works
    assert pub(b.port, "-u", "alice", "-P", "guess-2") != 0
    wait_until(lambda: pub(b.port, "-u", "alice", "-P", "alice-pw") == 0, timeout=5,
               interval=0.2)


def test_reload_on_sighup_keeps_old_users_on_a_bad_file(broker_factory, pwfile):
    b = broker_factory(NO_DELAY + mosq_entry(pwfile))
    assert pub(b.port, "-u", "carl", "-P", "carl-pw") != 0
    mosq_passwd(pwfile, "carl", "carl-pw")
    mark = b.log_mark()
    b.proc.send_signal(signal.SIGHUP)
    b.wait_for_log(r"authn: reloaded authenticator=1 users=3", since=mark)
    assert pub(b.port, "-u", "carl", "-P", "carl-pw") == 0

    good = pwfile.read_text()
    pwfile.write_text(good + "dave:plaintext-is-not-a-hash\n")
    mark = b.log_mark()
    b.proc.send_signal(signal.SIGHUP)
    b.wait_for_log(r'authn: reload failed, previous users kept authenticator=1 error="%s:4: '
                   r"unsupported password hash" % pwfile, since=mark)
    assert pub(b.port, "-u", "carl", "-P", "carl-pw") == 0
    assert "plaintext-is-not-a-hash" not in b.log_text()


def test_bad_file_at_start_is_an_error_naming_file_and_line(broker_factory, tmp_path):
    f = write_csv(tmp_path / "bad.csv", "user_id,password_hash,salt,is_superuser",
                  [("a", "zz", "", "false")])
    b = broker_factory(entry(f, "hash", "name = sha256"), start=False)
    b.start(wait_ready=False)
    assert b.wait_exit() == 1
    assert f"revmq: authentication.1: {f}:2: password_hash is not a hex string" in b.log_text()


def test_enable_authn_per_listener(broker_factory, pwfile, raw_client):
    conf = (NO_DELAY + mosq_entry(pwfile) + "listeners.tcp.open.enable_authn = false\n"
            "listeners.tcp.quick.enable_authn = quick_deny_anonymous\n")
    b = broker_factory(conf, extra_listeners=["tcp:open", "tcp:quick"])
    assert pub(b.ports["tcp:open"]) == 0                          # no check at all
    b.wait_for_log(r"mqtt: connected .*listener=[a-z]+:open .*principal=anonymous")
    assert pub(b.port) != 0                                       # checked: unknown user
    c = raw_client(b.ports["tcp:quick"], version=5)
    assert c.connect("q", expect_rc=None).rc == 0x86
    b.wait_for_log(r'listener=[a-z]+:quick username=- reason="anonymous client \(quick_deny_anonymous\)"')
    assert pub(b.ports["tcp:quick"], "-u", "alice", "-P", "alice-pw") == 0


def test_certificate_clients_need_no_password(broker_factory, pwfile, tmp_path):
    w = World(tmp_path / "w")
    base = "listeners.ssl.default.ssl_options"
    conf = NO_DELAY + mosq_entry(pwfile) + "\n".join([
        f'{base}.certfile = "{w.server.fullchain}"', f'{base}.keyfile = "{w.server.key}"',
        f'{base}.cacertfile = "{w.cafile}"', f"{base}.verify = verify_peer",
        "mqtt.peer_cert_as_username = cn"]) + "\n"
    b = broker_factory(conf, extra_listeners=["ssl:default"])
    port = b.ports["ssl:default"]
    tls = ["--cafile", w.root.cert, "-p", str(port)]
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-t", "t", "-m", "x", *tls,
                        "--cert", w.good.cert, "--key", w.good.key], capture_output=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    b.wait_for_log(r'mqtt: connected .*principal=cert cn="good" serial=%s '
                   r'subject="CN=good.*" username=good$' % w.good.serial_hex)
    # the same TLS listener without a client certificate: the password chain decides
    base_cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-t", "t", "-m", "x", *tls]
    assert subprocess.run(base_cmd, capture_output=True, timeout=10).returncode != 0
    assert subprocess.run(base_cmd + ["-u", "alice", "-P", "alice-pw"], capture_output=True,
                          timeout=10).returncode == 0


def test_user_sessions_belong_to_their_user(broker_factory, pwfile, raw_client):
    b = broker_factory(NO_DELAY + mosq_entry(pwfile))
    a = raw_client(b)
    a.connect("shared", clean=False, username="alice", password=b"alice-pw")
    for version, code in ((4, 5), (5, 0x87)):
        bob = raw_client(b, version=version)
        assert bob.connect("shared", clean=False, username="bob", password=b"bob-pw",
                           expect_rc=None).rc == code
    assert a.is_open()
    b.wait_for_log(r'session takeover refused client_id=shared .*principal=user username="bob" '
                   r'owner_principal=user owner_username="alice"')
    a2 = raw_client(b)
    assert a2.connect("shared", clean=False, username="alice", password=b"alice-pw").rc == 0


def test_anonymous_listener_off_loopback_is_named_at_start(broker_factory, pwfile):
    b = broker_factory('listeners.tcp.pub.bind = "0.0.0.0:0"\n')
    b.wait_for_log(r"warning config: listeners\.tcp\.pub admits anonymous clients on "
                   r"0\.0\.0\.0:0, which is not a loopback address")
    assert "listeners.tcp.default admits" not in b.log_text()  # 127.0.0.1: no warning
    b2 = broker_factory('listeners.tcp.pub.bind = "0.0.0.0:0"\n' + mosq_entry(pwfile))
    b2.wait_for_log(r"listener: started name=pub")
    assert "admits anonymous" not in b2.log_text()


def test_slow_password_hashes_do_not_hold_other_clients(broker_factory, tmp_path, raw_client):
    """The hash runs off the MQTT thread: while bcrypt (cost 12, ~0.3 s here) checks
    one CONNECT, a connected client's messages keep flowing; packets sent right behind
    a CONNECT are handled once it is accepted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
        h = crypt.crypt("bc-pw", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 12))
    f = write_csv(tmp_path / "bc.csv", "user_id,password_hash,salt,is_superuser",
                  [("carol", h, h[:29], "false")])
    b = broker_factory(NO_DELAY + entry(f, "hash", "name = bcrypt") +
                       "listeners.tcp.open.enable_authn = false\n", extra_listeners=["tcp:open"])
    t0 = time.monotonic()
    assert pub(b.port, "-u", "carol", "-P", "bc-pw") == 0
    one_check = time.monotonic() - t0
    sub = raw_client(b.ports["tcp:open"])
    sub.connect("watcher")
    sub.subscribe(("t/x", 0))
    slow = [raw_client(b) for _ in range(3)]
    for i, c in enumerate(slow):  # three bcrypt checks queued: ~3x one_check of hashing
        c.send(helpers.build_connect(f"s{i}", username="carol", password=b"wrong"))
    worst = 0.0
    for i in range(5):
        t = time.monotonic()
        sub.publish("t/x", b"%d" % i)
        assert sub.expect(helpers.PUBLISH, 2.0).payload == b"%d" % i
        worst = max(worst, time.monotonic() - t)
    assert worst < max(0.1, one_check / 2), (worst, one_check)
    for c in slow:
        assert c.expect(helpers.CONNACK, 10).rc == 4
    # parallel guesses from one address: at most 4 are checked at a time
    mark = b.log_mark()
    many = [raw_client(b) for _ in range(10)]
    for i, c in enumerate(many):
        c.send(helpers.build_connect(f"g{i}", username="carol", password=b"guess%d" % i))
    assert [c.expect(helpers.CONNACK, 10).rc for c in many] == [4] * 10
    log = b.log_text()[mark:]
    busy = log.count('reason="too many authentications in progress from this address"')
    assert busy >= 6 and log.count('reason="wrong password"') <= 4, log
    # CONNECT and SUBSCRIBE in one write: the SUBSCRIBE waits for the verdict
    c = raw_client(b)
    c.send(helpers.build_connect("pipe", username="carol", password=b"bc-pw") +
           helpers.build_subscribe(1, [("p/q", 1)]))
    assert c.expect(helpers.CONNACK, 10).rc == 0
    assert c.expect(helpers.SUBACK, 5).codes == [1]
