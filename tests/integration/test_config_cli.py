"""revmq --check-config and configuration errors as a user sees them."""

import os
import re
import subprocess

import pytest

from helpers import build_dir, free_port

pytestmark = pytest.mark.revmq_only


def revmq(*args, env=None, timeout=10):
    import os
    e = {k: v for k, v in os.environ.items() if not k.startswith(("REVMQ_", "EMQX_"))}
    e.update(env or {})
    return subprocess.run([str(build_dir() / "revmq"), *args], capture_output=True, text=True,
                          timeout=timeout, env=e)


def check(conf_path, env=None):
    return revmq("--check-config", "-c", str(conf_path), env=env)


def effective(out: str) -> dict:
    """{'key': (value, origin)} from --check-config output (`key = value  # origin`)."""
    res = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*[=:]\s*(.*?)\s*#\s*(.*)$", line)
        if m:
            res[m.group(1)] = (m.group(2).strip().strip('"'), m.group(3).strip())
    return res


@pytest.fixture
def conf(tmp_path):
    def write(text: str, name="revmq.conf"):
        p = tmp_path / name
        p.write_text(text)
        return p
    return write


def test_check_config_prints_values_with_origins(conf):
    p = conf("# comment\n"
             "mqtt {\n"
             "  max_packet_size = 64KB\n"
             "  retry_interval: 5s\n"
             "}\n"
             "mqtt.max_inflight = 16\n"
             'node.name = "n1@127.0.0.1"\n')
    r = check(p)
    assert r.returncode == 0, r.stderr
    eff = effective(r.stdout)
    assert eff["mqtt.max_inflight"][0] == "16"
    assert f"{p}:6" in eff["mqtt.max_inflight"][1]
    assert re.fullmatch(r"64KB|65536", eff["mqtt.max_packet_size"][0])
    assert f"{p}:3" in eff["mqtt.max_packet_size"][1]
    assert re.fullmatch(r"5s|5000ms|5000", eff["mqtt.retry_interval"][0])
    assert f"{p}:4" in eff["mqtt.retry_interval"][1]
    assert eff["node.name"][0] == "n1@127.0.0.1"
    # untouched keys come from the defaults
    assert eff["mqtt.max_qos_allowed"] == ("2", "default")
    for key in ("mqtt.max_clientid_len", "mqtt.max_topic_levels", "mqtt.retain_available",
                "mqtt.wildcard_subscription", "mqtt.shared_subscription", "mqtt.max_mqueue_len",
                "mqtt.session_expiry_interval", "mqtt.keepalive_multiplier",
                "mqtt.server_keepalive", "mqtt.max_topic_alias", "mqtt.max_awaiting_rel",
                "mqtt.await_rel_timeout", "log.level", "node.data_dir"):
        assert key in eff, f"{key} missing from --check-config output"


def test_check_config_without_file_prints_defaults():
    r = revmq("--check-config")
    assert r.returncode == 0, r.stderr
    eff = effective(r.stdout)
    assert eff["mqtt.max_qos_allowed"] == ("2", "default")
    assert eff["mqtt.max_inflight"][0] == "32"
    assert eff["mqtt.max_mqueue_len"][0] == "1000"


def test_emqx4_flat_alias(conf):
    port = free_port()
    p = conf(f"listener.tcp.external = 127.0.0.1:{port}\n")
    r = check(p)
    assert r.returncode == 0, r.stderr
    eff = effective(r.stdout)
    assert eff["listeners.tcp.external.bind"][0] == f"127.0.0.1:{port}"
    assert f"{p}:1" in eff["listeners.tcp.external.bind"][1]


@pytest.mark.parametrize("line,key,allowed", [
    ("mqtt.max_qos_allowed = 3", "mqtt.max_qos_allowed", r"0.*2"),
    ("mqtt.retain_available = maybe", "mqtt.retain_available", r"true|false|bool"),
    ("mqtt.max_packet_size = lots", "mqtt.max_packet_size", r"(?i)KB|MB|size|bytes"),
    ("mqtt.retry_interval = 5 parsecs", "mqtt.retry_interval", r"(?i)duration|ms|\bs\b"),
    ("mqtt.max_inflight = -1", "mqtt.max_inflight", r"\d"),
    ("mqtt.max_topic_levels = 99999999999999999999", "mqtt.max_topic_levels", r"\d"),
])
def test_bad_value_names_file_line_key_and_allowed(conf, line, key, allowed):
    p = conf(f"# header\nmqtt.max_inflight = 8\n{line}\n")
    r = check(p)
    assert r.returncode != 0
    err = r.stderr + r.stdout
    msg = [l for l in err.splitlines() if key in l]
    assert msg, f"no error line naming {key}: {err!r}"
    assert f"{p}:3" in msg[0], msg[0]
    assert re.search(allowed, msg[0].split(key, 1)[1]), f"does not say what is allowed: {msg[0]}"


def test_unknown_key_is_an_error(conf):
    p = conf("mqtt.max_inflight = 8\nmqtt.no_such_key = 1\n")
    r = check(p)
    assert r.returncode != 0
    err = r.stderr + r.stdout
    assert "mqtt.no_such_key" in err and f"{p}:2" in err


def test_syntax_error_is_reported_with_line(conf):
    p = conf("mqtt {\n  max_inflight = 8\n  = oops\n")
    r = check(p)
    assert r.returncode != 0
    assert f"{p}:" in r.stderr + r.stdout


def test_every_problem_reported(conf):
    p = conf("mqtt.max_qos_allowed = 7\nmqtt.bogus = 1\n")
    r = check(p)
    err = r.stderr + r.stdout
    assert r.returncode != 0
    assert f"{p}:1" in err and f"{p}:2" in err


def test_missing_config_file(tmp_path):
    r = revmq("--check-config", "-c", str(tmp_path / "absent.conf"))
    assert r.returncode != 0
    assert "absent.conf" in r.stderr


def test_unknown_command_line_argument():
    r = revmq("--no-such-flag")
    assert r.returncode != 0
    assert "--no-such-flag" in r.stderr


@pytest.mark.parametrize("prefix", ["REVMQ", "EMQX"])
def test_env_overlay_overrides_file(conf, prefix):
    p = conf("mqtt.max_inflight = 8\nmqtt.max_packet_size = 1MB\n")
    r = check(p, env={f"{prefix}_MQTT__MAX_INFLIGHT": "21",
                      f"{prefix}_MQTT__RETAIN_AVAILABLE": "false"})
    assert r.returncode == 0, r.stderr
    eff = effective(r.stdout)
    assert eff["mqtt.max_inflight"][0] == "21"
    assert f"{prefix}_MQTT__MAX_INFLIGHT" in eff["mqtt.max_inflight"][1]
    assert eff["mqtt.retain_available"][0] == "false"
    assert f"{p}:2" in eff["mqtt.max_packet_size"][1]  # file value still there


def test_env_overlay_nested_listener_key(conf):
    port = free_port()
    p = conf("mqtt.max_inflight = 8\n")
    r = check(p, env={"REVMQ_LISTENERS__TCP__DEFAULT__BIND": f"127.0.0.1:{port}"})
    assert r.returncode == 0, r.stderr
    assert effective(r.stdout)["listeners.tcp.default.bind"][0] == f"127.0.0.1:{port}"


def test_bad_env_value_names_the_variable(conf):
    p = conf("mqtt.max_inflight = 8\n")
    r = check(p, env={"REVMQ_MQTT__MAX_QOS_ALLOWED": "9"})
    assert r.returncode != 0
    err = r.stderr + r.stdout
    assert "REVMQ_MQTT__MAX_QOS_ALLOWED" in err and "mqtt.max_qos_allowed" in err


def test_unrelated_env_is_ignored(conf):
    p = conf("mqtt.max_inflight = 8\n")
    r = check(p, env={"REVMQX": "1", "EMQXFOO": "2", "HOME_X": "3"})
    assert r.returncode == 0, r.stderr


def test_broker_refuses_to_start_on_bad_config(broker_factory):
    b = broker_factory("mqtt.max_qos_allowed = 5\n", mosquitto_conf="", start=False)
    b.start(wait_ready=False)
    rc = b.wait_exit(10)
    assert rc != 0
    log = b.log_text()
    assert "mqtt.max_qos_allowed" in log and str(b.config_path) in log
    assert "listener: started" not in log
    b.check_log_clean()


def test_broker_refuses_unknown_key(broker_factory):
    b = broker_factory("mqtt.frobnicate = true\n", mosquitto_conf="", start=False)
    b.start(wait_ready=False)
    assert b.wait_exit(10) != 0
    assert "mqtt.frobnicate" in b.log_text()


@pytest.mark.parametrize("prefix", ["REVMQ", "EMQX"])
def test_broker_applies_env_overlay(broker_factory, raw_client, prefix):
    b = broker_factory("mqtt.max_packet_size = 64KB\n", mosquitto_conf="",
                       env={f"{prefix}_MQTT__MAX_PACKET_SIZE": "2KB"})
    c = raw_client(b, 5)
    ack = c.connect("env-overlay")
    assert ack.props.get("maximum_packet_size") == 2048


def test_emqx4_flat_lines_with_urls(conf, tmp_path):
    port = free_port()
    p = conf(f"listener.ssl.external = 127.0.0.1:{port}\n"
             f"listener.ssl.external.keyfile = {tmp_path}/k.pem\n"
             f"listener.ssl.external.certfile = {tmp_path}/c.pem\n"
             "listener.ssl.external.crl_cache_urls = http://127.0.0.1:8080/crl/a.crl,"
             " http://127.0.0.1:8080/crl/b.crl\n"
             "log.level = debug # a comment after a value\n")
    r = revmq("--check-config", "--skip-files", "-c", str(p))  # k.pem, c.pem do not exist
    assert r.returncode == 0, r.stderr
    eff = effective(r.stdout)
    urls = eff["listeners.ssl.external.ssl_options.crl_cache_urls"]
    assert "http://127.0.0.1:8080/crl/a.crl" in urls[0] and "http://127.0.0.1:8080/crl/b.crl" in urls[0]
    assert f"{p}:4" in urls[1]
    assert eff["listeners.ssl.external.ssl_options.certfile"][0] == f"{tmp_path}/c.pem"
    assert eff["log.level"] == ("debug", f"{p}:5")


# --------------------------------------------------------------------------
# --check-config checks the files the configuration names
# --------------------------------------------------------------------------


def _ssl_conf(port, cert, key, ca, extra=""):
    return (f"listeners.ssl.default.bind = \"127.0.0.1:{port}\"\n"
            f"listeners.ssl.default.ssl_options.certfile = \"{cert}\"\n"
            f"listeners.ssl.default.ssl_options.keyfile = \"{key}\"\n"
            f"listeners.ssl.default.ssl_options.cacertfile = \"{ca}\"\n"
            "listeners.ssl.default.ssl_options.verify = verify_peer\n" + extra)


def test_check_config_accepts_matching_certificate_and_key(conf, tmp_path):
    from pki import PKI
    pki = PKI(tmp_path / "pki")
    srv = pki.root.server_cert("server")
    r = check(conf(_ssl_conf(free_port(), srv.cert, srv.key, pki.root.cert)))
    assert r.returncode == 0, r.stderr
    assert "listeners.ssl.default.ssl_options.certfile" in r.stdout


def test_check_config_names_key_and_file_of_each_missing_file(conf, tmp_path):
    from pki import PKI
    pki = PKI(tmp_path / "pki")
    srv = pki.root.server_cert("server")
    missing = tmp_path / "nope"
    keys = tmp_path / "api_keys"
    keys.write_text("k:s\n")
    keys.chmod(0)
    extra = (f"listeners.ssl.default.ssl_options.crlfile = [\"{missing}/a.crl\"]\n"
             "authorization.sources.1.type = file\n"
             f"authorization.sources.1.path = \"{missing}/acl.conf\"\n"
             f"api_key.bootstrap_file = \"{keys}\"\n"
             f"log.file = \"{missing}/revmq.log\"\n"
             "authentication.1.mechanism = password_based\n"
             "authentication.1.backend = built_in_database\n"
             f"authentication.1.bootstrap_file = \"{missing}/users.csv\"\n")
    r = check(conf(_ssl_conf(free_port(), srv.cert, f"{missing}/server.key", tmp_path, extra)))
    assert r.returncode == 1, r.stderr
    err = r.stderr
    want = [f"listeners.ssl.default.ssl_options.keyfile: {missing}/server.key: "
            "No such file or directory",
            f"listeners.ssl.default.ssl_options.cacertfile: {tmp_path}: not a regular file",
            f"listeners.ssl.default.ssl_options.crlfile: {missing}/a.crl: No such file",
            f"authorization.sources.1.path: {missing}/acl.conf: No such file",
            f"authentication.1.bootstrap_file: {missing}/users.csv: No such file",
            f"log.file: {missing}/revmq.log: directory {missing} does not exist"]
    if os.geteuid() != 0:  # root reads a mode-0 file
        want.append(f"api_key.bootstrap_file: {keys}: Permission denied")
    for w in want:
        assert w in err, f"{w!r} not in\n{err}"
    assert re.search(r"revmq: \d+ problems with the files the configuration names", err), err
    # the configuration itself is still printed
    assert "listeners.ssl.default.ssl_options.keyfile" in r.stdout
    # --skip-files: values only
    r = revmq("--check-config", "--skip-files", "-c", str(tmp_path / "revmq.conf"))
    assert r.returncode == 0, r.stderr


def test_check_config_refuses_a_key_that_does_not_match_the_certificate(conf, tmp_path):
    from pki import PKI
    pki = PKI(tmp_path / "pki")
    a = pki.root.server_cert("a")
    b = pki.root.server_cert("b")
    r = check(conf(_ssl_conf(free_port(), a.cert, b.key, pki.root.cert)))
    assert r.returncode == 1, r.stderr
    assert (f"listeners.ssl.default.ssl_options.keyfile: {b.key}: key does not match certfile "
            f"{a.cert}") in r.stderr, r.stderr


# --------------------------------------------------------------------------
# EMQX file features: include, ${VAR}, BOM, IPv6 binds
# --------------------------------------------------------------------------


def test_include_substitution_bom_and_ipv6(conf, tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "mqtt.conf").write_bytes(
        b"\xef\xbb\xbfmqtt.max_inflight = ${INFLIGHT}\nmqtt.max_qos_allowed = ${?QOS}\n")
    p = conf("\ufeffinclude \"conf.d/mqtt.conf\"\n"
             "listeners.tcp.v6.bind = [::1]:${PORT}\n"
             "listener.tcp.flat = [::1]:1999\n")
    r = check(p, env={"INFLIGHT": "7", "PORT": "1998", "EMQX_LISTENERS__TCP__E__BIND": "[::1]:1997"})
    assert r.returncode == 0, r.stderr
    eff = effective(r.stdout)
    assert eff["mqtt.max_inflight"] == ("7", f"{tmp_path}/conf.d/mqtt.conf:1")
    assert eff["mqtt.max_qos_allowed"] == ("2", "default")  # ${?QOS} unset: no assignment
    assert eff["listeners.tcp.v6.bind"][0] == "[::1]:1998"
    assert eff["listeners.tcp.flat.bind"][0] == "[::1]:1999"
    assert eff["listeners.tcp.e.bind"][0] == "[::1]:1997"
    r = check(p, env={"PORT": "1998"})
    assert r.returncode == 1
    assert (f"{tmp_path}/conf.d/mqtt.conf:1: syntax error: substitution ${{INFLIGHT}}: "
            "environment variable INFLIGHT is not set") in r.stderr, r.stderr
    (tmp_path / "conf.d" / "mqtt.conf").write_text('include "../revmq.conf"\n')
    r = check(p, env={"PORT": "1998"})
    assert r.returncode == 1
    assert f"{tmp_path}/conf.d/mqtt.conf:1: syntax error: include \"../revmq.conf\": include cycle" \
        in r.stderr, r.stderr
