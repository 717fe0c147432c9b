"""Integration-test helpers for revmq: processes, real MQTT clients, raw packets.

Everything here runs real things on loopback; nothing is mocked.

What is here (the conftest.py fixtures wrap the first part):

* ``free_port()``                 - a free TCP port on 127.0.0.1 (ask the OS).
* ``wait_until(cond, timeout)``   - poll a condition with a deadline (no bare sleeps).
* ``Broker``                      - one broker process (revmq, or Debian's mosquitto
                                    when RMQ_TEST_PEER=mosquitto) with its config
                                    file, log file, readiness wait and clean stop.
* ``PahoClient`` / ``paho_connect`` - paho-mqtt 1.6.1 client (MQTT 3.1.1 or 5.0)
                                    with connect-and-wait and a message collector.
* ``RawClient``                   - an MQTT client on a bare socket that sends exactly
                                    the bytes you build and decodes what comes back;
                                    for malformed packets, packet ids, DUP flags,
                                    in-flight windows and reason codes.
* packet builders (``build_connect``, ``build_publish``, ``build_subscribe``, ...)
  and ``encode_props`` / ``decode_props`` for MQTT 5 properties.
* ``MosquittoSub`` / ``mosquitto_pub`` - Debian's mosquitto command-line clients.

Environment:
  RMQ_BUILD_DIR      where ``revmq`` is (default /work/main/build)
  RMQ_TEST_PEER      ``revmq`` (default) or ``mosquitto``: run the generic MQTT
                     tests against Debian's mosquitto 2.0.11 to check the tests.
  RMQ_TEST_VALGRIND  ``1``: run revmq under valgrind (leak check, exit code 99 on
                     errors); slower, not the default.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import pytest

# --------------------------------------------------------------------------
# generic
# --------------------------------------------------------------------------

HOST = "127.0.0.1"

# @VERSIONS on a test runs it for MQTT 3.1.1 and 5.0 (protocol levels 4 and 5)
VERSIONS = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "ThreadSanitizer:",
)


def build_dir() -> Path:
    return Path(os.environ.get("RMQ_BUILD_DIR", "/work/main/build"))


def peer_kind() -> str:
    """'revmq' or 'mosquitto' (RMQ_TEST_PEER)."""
    return os.environ.get("RMQ_TEST_PEER", "revmq").strip() or "revmq"


def use_valgrind() -> bool:
    return os.environ.get("RMQ_TEST_VALGRIND", "") in ("1", "true", "yes")


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(cond: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01,
               what: str = "condition") -> Any:
    """Polls cond() until it returns a truthy value; returns that value.

    Raises AssertionError naming `what` when `timeout` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# broker process
# --------------------------------------------------------------------------


class BrokerError(AssertionError):
    pass


class Broker:
    """One broker process on loopback.

    conf:            HOCON text for revmq (appended after the defaults below).
    mosquitto_conf:  mosquitto.conf lines used instead when the peer is mosquitto
                     (None with a non-empty `conf`: the test is skipped for that peer
                     by the fixture, since the setting is revmq-specific).
    env:             extra environment variables for the process.
    extra_listeners: e.g. ["ssl:default"]: a free port is picked for each, the bind
                     line written (``listeners.ssl.default.bind = "127.0.0.1:P"``),
                     the port exposed as ``ports["ssl:default"]``, and start()
                     waits for its ``listener: started`` line too.
    default_listener: False: ``listeners.tcp.default.enable = false`` is written
                     instead of its bind line (revmq has that listener, on
                     127.0.0.1:1883, unless disabled); the test's conf or
                     extra_listeners define the listeners.
    raw:             True: write `conf` verbatim, no defaults at all.

    Defaults written before `conf`: node.data_dir (under tmp_path) and
    ``listeners.tcp.default.bind = "127.0.0.1:<free port>"``.

    stdout+stderr go to ``log_path``. ``stop()`` sends SIGTERM and asserts exit code
    0 and no sanitizer/valgrind report in the log.
    """

    def __init__(self, tmp_path: Path, conf: str = "", *, env: Optional[dict] = None,
                 mosquitto_conf: Optional[str] = None, extra_listeners: Iterable[str] = (),
                 default_listener: bool = True, raw: bool = False, name: str = "broker",
                 peer: Optional[str] = None, valgrind: Optional[bool] = None,
                 log_level: Optional[str] = None):
        self.peer = peer or peer_kind()
        self.valgrind = use_valgrind() if valgrind is None else valgrind
        if self.peer != "revmq":
            self.valgrind = False
        self.dir = Path(tmp_path) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.log_path = self.dir / "broker.log"
        self.config_path = self.dir / ("mosquitto.conf" if self.peer == "mosquitto" else "revmq.conf")
        self.env = dict(env or {})
        self.host = HOST
        self.ports: dict[str, int] = {}
        self.listeners: list[str] = []
        if default_listener:
            self.ports["tcp:default"] = free_port()
            self.listeners.append("tcp:default")
        for spec in extra_listeners:
            self.ports[spec] = free_port()
            self.listeners.append(spec)
        self.proc: Optional[subprocess.Popen] = None
        self._logf = None
        self.exit_codes: list[int] = []
        self._write_config(conf, mosquitto_conf, raw, log_level)

    # -- config ------------------------------------------------------------
    def _write_config(self, conf, mosquitto_conf, raw, log_level):
        if self.peer == "mosquitto":
            lines = [
                f"listener {self.port} {HOST}",
                "allow_anonymous true",
                "persistence false",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "log_timestamp_format %Y-%m-%dT%H:%M:%S",
                "",
                mosquitto_conf or "",
            ]
            self.config_path.write_text("\n".join(lines) + "\n")
            return
        if raw:
            self.config_path.write_text(conf)
            return
        lines = [f'node.data_dir = "{self.data_dir}"']
        if "tcp:default" not in self.listeners:
            # revmq always has listeners.tcp.default (127.0.0.1:1883) unless disabled
            lines.append("listeners.tcp.default.enable = false")
        if log_level:
            lines.append(f"log.level = {log_level}")
        for spec in self.listeners:
            kind, lname = spec.split(":", 1)
            lines.append(f'listeners.{kind}.{lname}.bind = "{HOST}:{self.ports[spec]}"')
        lines += ["", conf]
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def port(self) -> int:
        """Port of the default TCP listener."""
        return self.ports["tcp:default"]

    # -- process -----------------------------------------------------------
    def command(self) -> list[str]:
        if self.peer == "mosquitto":
            return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.config_path)]
        exe = build_dir() / "revmq"
        if not exe.exists():
            raise BrokerError(f"{exe} does not exist (set RMQ_BUILD_DIR)")
        cmd = [str(exe), "-c", str(self.config_path)]
        if self.valgrind:
            # --max-stackframe: OpenSSL ASYNC jobs (suspended handshakes) switch
            # stacks, which valgrind otherwise reports as invalid reads.
            cmd = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                   "--max-stackframe=30000", "--error-exitcode=99", "--quiet"] + cmd
        return cmd

    def process_env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("REVMQ_") or k.startswith("EMQX_"))}
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.env)
        return env

    def start(self, wait_ready: bool = True, timeout: Optional[float] = None) -> "Broker":
        if self.proc is not None and self.proc.poll() is None:
            raise BrokerError("broker already running")
        self._logf = open(self.log_path, "ab")
        self._logf.write(f"==== test harness: starting {' '.join(self.command())}\n".encode())
        self._logf.flush()
        self._log_start = self._logf.tell()
        self.proc = subprocess.Popen(self.command(), stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.process_env(),
                                     cwd=str(self.dir))
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def startup_timeout(self) -> float:
        return 30.0 if self.valgrind else 10.0

    def wait_ready(self, timeout: Optional[float] = None):
        """Waits for a `listener: started name=N kind=K` line per listener.

        If after a second the log shows no such line at all (a broker that
        prints something else), falls back to probing each TCP port with a
        connect every 0.25 s. Fails at once if the process exits.
        """
        timeout = timeout or self.startup_timeout()
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        last_probe = 0.0
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.exit_codes.append(rc)
                self.proc = None
                self._close_log()
                raise BrokerError(f"broker exited with {rc} during start-up; log:\n{self.log_tail()}")
            text = self.log_text(since_start=True)
            if self.peer == "mosquitto":
                if re.search(r"mosquitto version \S+ running", text):
                    return
            else:
                missing = [s for s in self.listeners if not self._listener_started(text, s)]
                if not missing:
                    return
                now = time.monotonic()
                if ("listener: started" not in text and now - t0 > 1.0
                        and now - last_probe > 0.25):
                    last_probe = now
                    if all(self._probe(self.ports[s]) for s in self.listeners):
                        return
            if time.monotonic() > deadline:
                raise BrokerError(f"broker not ready after {timeout}s; log:\n{self.log_tail()}")
            time.sleep(0.01)

    @staticmethod
    def _listener_started(text: str, spec: str) -> bool:
        kind, name = spec.split(":", 1)
        for m in re.finditer(r"listener: started(.*)", text):
            rest = m.group(1)
            if re.search(rf"\bname={re.escape(name)}(\s|$)", rest) and \
                    re.search(rf"\bkind={re.escape(kind)}(\s|$)", rest):
                return True
        return False

    def _probe(self, port: int) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            return False

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check: bool = True, timeout: Optional[float] = None) -> Optional[int]:
        """SIGTERM, wait, and (check=True) assert exit code 0 and a clean log."""
        if self.proc is None:
            return None
        timeout = timeout or (60.0 if self.valgrind else 10.0)
        rc = self.proc.poll()
        already_dead = rc is not None
        if not already_dead:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self._close_log()
                self.proc = None
                if check:
                    raise BrokerError(f"broker did not exit within {timeout}s of SIGTERM; log:\n"
                                      f"{self.log_tail()}")
                return None
        self.proc = None
        self._close_log()
        self.exit_codes.append(rc)
        if check:
            self.check_log_clean()
            if already_dead:
                raise BrokerError(f"broker died before stop() with exit code {rc}; log:\n"
                                  f"{self.log_tail()}")
            if rc == 99 and self.valgrind:
                raise BrokerError(f"valgrind found errors; log:\n{self.log_tail(120)}")
            if rc != 0:
                raise BrokerError(f"broker exit code {rc} after SIGTERM; log:\n{self.log_tail()}")
        return rc

    def kill(self):
        """SIGKILL without any checks (simulates a crash)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            self.proc = None
            self._close_log()

    def restart(self, wait_ready: bool = True) -> "Broker":
        self.stop()
        return self.start(wait_ready=wait_ready)

    def wait_exit(self, timeout: float = 10.0) -> int:
        """For brokers expected to exit by themselves (e.g. a bad config)."""
        rc = self.proc.wait(timeout)
        self.proc = None
        self._close_log()
        self.exit_codes.append(rc)
        return rc

    def _close_log(self):
        if self._logf is not None:
            self._logf.close()
            self._logf = None

    def check_log_clean(self):
        text = self.log_text()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                raise BrokerError(f"sanitizer report ({marker!r}) in broker log:\n{self.log_tail(150)}")
        if self.valgrind and re.search(r"==\d+== (Invalid|Conditional jump|Syscall param|"
                                       r"Mismatched free|Source and destination overlap)", text):
            raise BrokerError(f"valgrind error in broker log:\n{self.log_tail(150)}")

    # -- log ---------------------------------------------------------------
    def log_text(self, since_start: bool = False) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        if since_start:
            data = data[getattr(self, "_log_start", 0):]
        return data.decode("utf-8", "replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_mark(self) -> int:
        """Current log size; pass to wait_for_log(since=...) to see only newer lines."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_for_log(self, regex: str, timeout: float = 5.0, since: int = 0) -> re.Match:
        """Waits until `regex` (re.M) matches the log text after byte offset `since`."""
        pat = re.compile(regex, re.M)

        def find():
            try:
                data = self.log_path.read_bytes()[since:]
            except FileNotFoundError:
                return None
            return pat.search(data.decode("utf-8", "replace"))

        try:
            return wait_until(find, timeout, 0.02, what=f"log line /{regex}/")
        except AssertionError as e:
            raise AssertionError(f"{e}; log tail:\n{self.log_tail()}") from None


# --------------------------------------------------------------------------
# MQTT wire format
# --------------------------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
                7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
                12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

# MQTT 5 reason codes used by the tests
RC_SUCCESS = 0x00
RC_DISCONNECT_WITH_WILL = 0x04
RC_NO_MATCHING_SUBSCRIBERS = 0x10
RC_UNSPECIFIED = 0x80
RC_MALFORMED = 0x81
RC_PROTOCOL_ERROR = 0x82
RC_IMPL_SPECIFIC = 0x83
RC_UNSUPPORTED_VERSION = 0x84
RC_CLIENT_ID_NOT_VALID = 0x85
RC_NOT_AUTHORIZED = 0x87
RC_KEEPALIVE_TIMEOUT = 0x8D
RC_SESSION_TAKEN_OVER = 0x8E
RC_TOPIC_FILTER_INVALID = 0x8F
RC_TOPIC_NAME_INVALID = 0x90
RC_RECEIVE_MAX_EXCEEDED = 0x93
RC_TOPIC_ALIAS_INVALID = 0x94
RC_PACKET_TOO_LARGE = 0x95
RC_QUOTA_EXCEEDED = 0x97
RC_PAYLOAD_FORMAT_INVALID = 0x99
RC_RETAIN_NOT_SUPPORTED = 0x9A
RC_QOS_NOT_SUPPORTED = 0x9B
RC_SHARED_SUB_NOT_SUPPORTED = 0x9E
RC_SUB_IDS_NOT_SUPPORTED = 0xA1
RC_WILDCARD_SUB_NOT_SUPPORTED = 0xA2

# property id -> (name, type); types: byte u16 u32 varint str bin pair
PROPS = {
    0x01: ("payload_format_indicator", "byte"),
    0x02: ("message_expiry_interval", "u32"),
    0x03: ("content_type", "str"),
    0x08: ("response_topic", "str"),
    0x09: ("correlation_data", "bin"),
    0x0B: ("subscription_identifier", "varint"),
    0x11: ("session_expiry_interval", "u32"),
    0x12: ("assigned_client_identifier", "str"),
    0x13: ("server_keep_alive", "u16"),
    0x15: ("authentication_method", "str"),
    0x16: ("authentication_data", "bin"),
    0x17: ("request_problem_information", "byte"),
    0x18: ("will_delay_interval", "u32"),
    0x19: ("request_response_information", "byte"),
    0x1A: ("response_information", "str"),
    0x1C: ("server_reference", "str"),
    0x1F: ("reason_string", "str"),
    0x21: ("receive_maximum", "u16"),
    0x22: ("topic_alias_maximum", "u16"),
    0x23: ("topic_alias", "u16"),
    0x24: ("maximum_qos", "byte"),
    0x25: ("retain_available", "byte"),
    0x26: ("user_property", "pair"),
    0x27: ("maximum_packet_size", "u32"),
    0x28: ("wildcard_subscription_available", "byte"),
    0x29: ("subscription_identifier_available", "byte"),
    0x2A: ("shared_subscription_available", "byte"),
}
PROP_IDS = {name: (pid, typ) for pid, (name, typ) in PROPS.items()}
MULTI_PROPS = ("user_property", "subscription_identifier")


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def mqtt_str(s) -> bytes:
    """UTF-8 string with a 2-byte length; bytes are sent as they are (for invalid UTF-8)."""
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(b)) + b


def mqtt_bin(b) -> bytes:
    b = b.encode() if isinstance(b, str) else bytes(b)
    return struct.pack("!H", len(b)) + b


def encode_props(props: Optional[dict]) -> bytes:
    """MQTT 5 property block (length varint + properties) from {name: value}.

    user_property takes a list of (name, value) pairs; subscription_identifier an
    int or a list of ints. Order: as in the dict.
    """
    body = bytearray()
    for name, value in (props or {}).items():
        pid, typ = PROP_IDS[name]
        values = value if (name in MULTI_PROPS and isinstance(value, (list, tuple))) else [value]
        for v in values:
            body += varint(pid)
            if typ == "byte":
                body += struct.pack("!B", v)
            elif typ == "u16":
                body += struct.pack("!H", v)
            elif typ == "u32":
                body += struct.pack("!I", v)
            elif typ == "varint":
                body += varint(v)
            elif typ == "str":
                body += mqtt_str(v)
            elif typ == "bin":
                body += mqtt_bin(v)
            elif typ == "pair":
                body += mqtt_str(v[0]) + mqtt_str(v[1])
    return varint(len(body)) + bytes(body)


class Malformed(Exception):
    pass


class _Rd:
    def __init__(self, data: bytes):
        self.d = data
        self.i = 0

    def left(self) -> int:
        return len(self.d) - self.i

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise Malformed(f"need {n} bytes, have {self.left()}")
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("!H", self.take(2))[0]

    def u32(self):
        return struct.unpack("!I", self.take(4))[0]

    def varint(self):
        mult, val = 1, 0
        for _ in range(4):
            b = self.u8()
            val += (b & 0x7F) * mult
            if not b & 0x80:
                return val
            mult *= 128
        raise Malformed("varint too long")

    def str(self) -> str:
        return self.take(self.u16()).decode("utf-8")

    def bin(self) -> bytes:
        return self.take(self.u16())

    def rest(self) -> bytes:
        return self.take(self.left())


def decode_props(rd: _Rd) -> dict:
    n = rd.varint()
    sub = _Rd(rd.take(n))
    out: dict = {}
    while sub.left():
        pid = sub.varint()
        if pid not in PROPS:
            raise Malformed(f"unknown property 0x{pid:02x}")
        name, typ = PROPS[pid]
        if typ == "byte":
            v = sub.u8()
        elif typ == "u16":
            v = sub.u16()
        elif typ == "u32":
            v = sub.u32()
        elif typ == "varint":
            v = sub.varint()
        elif typ == "str":
            v = sub.str()
        elif typ == "bin":
            v = sub.bin()
        else:
            v = (sub.str(), sub.str())
        if name in MULTI_PROPS:
            out.setdefault(name, []).append(v)
        else:
            out[name] = v
    return out


def build_packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([(ptype << 4) | (flags & 0x0F)]) + varint(len(body)) + body


def build_connect(client_id="", *, version=4, clean=True, keepalive=60, will=None,
                  username=None, password=None, props=None, proto_name=None,
                  reserved_flag=False) -> bytes:
    """CONNECT bytes. version 3 (MQIsdp), 4 (3.1.1) or 5.

    will: dict(topic, payload, qos=0, retain=False, props=None).
    """
    if proto_name is None:
        proto_name = "MQIsdp" if version == 3 else "MQTT"
    flags = 0
    if clean:
        flags |= 0x02
    if will:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    if reserved_flag:
        flags |= 0x01
    body = mqtt_str(proto_name) + bytes([version, flags]) + struct.pack("!H", keepalive)
    if version == 5:
        body += encode_props(props)
    body += mqtt_str(client_id)
    if will:
        if version == 5:
            body += encode_props(will.get("props"))
        body += mqtt_str(will["topic"]) + mqtt_bin(will.get("payload", b""))
    if username is not None:
        body += mqtt_str(username)
    if password is not None:
        body += mqtt_bin(password)
    return build_packet(CONNECT, 0, body)


def build_publish(topic, payload=b"", *, qos=0, retain=False, dup=False, pid=None,
                  props=None, version=4, flags=None) -> bytes:
    """PUBLISH bytes. `flags` overrides the computed low nibble (for bad QoS 3 etc.)."""
    if isinstance(payload, str):
        payload = payload.encode()
    f = (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    if flags is not None:
        f = flags
    body = mqtt_str(topic)
    if (f >> 1) & 3:
        body += struct.pack("!H", pid if pid is not None else 1)
    if version == 5:
        body += encode_props(props)
    return build_packet(PUBLISH, f, body + payload)


def build_ack(ptype: int, pid: int, *, rc=None, props=None, version=4, flags=None) -> bytes:
    """PUBACK / PUBREC / PUBREL / PUBCOMP."""
    if flags is None:
        flags = 0x02 if ptype == PUBREL else 0
    body = struct.pack("!H", pid)
    if version == 5 and (rc is not None or props):
        body += bytes([rc or 0])
        if props:
            body += encode_props(props)
    return build_packet(ptype, flags, body)


def sub_options(qos=0, no_local=False, rap=False, rh=0) -> int:
    return qos | (0x04 if no_local else 0) | (0x08 if rap else 0) | (rh << 4)


def build_subscribe(pid: int, filters, *, props=None, version=4, flags=0x02) -> bytes:
    """filters: [(filter, options_byte)] (options_byte = qos for v3; see sub_options)."""
    body = struct.pack("!H", pid)
    if version == 5:
        body += encode_props(props)
    for f, opts in filters:
        body += mqtt_str(f) + bytes([opts])
    return build_packet(SUBSCRIBE, flags, body)


def build_unsubscribe(pid: int, filters, *, props=None, version=4) -> bytes:
    body = struct.pack("!H", pid)
    if version == 5:
        body += encode_props(props)
    for f in filters:
        body += mqtt_str(f)
    return build_packet(UNSUBSCRIBE, 0x02, body)


def build_disconnect(rc=None, props=None, version=4) -> bytes:
    if version == 5 and (rc is not None or props):
        body = bytes([rc or 0]) + (encode_props(props) if props else b"")
        return build_packet(DISCONNECT, 0, body)
    return build_packet(DISCONNECT, 0, b"")


PINGREQ_BYTES = bytes([0xC0, 0x00])


@dataclass
class Packet:
    """A decoded packet from the broker. Fields not relevant to a type stay None."""
    type: int
    flags: int
    body: bytes
    dup: bool = False
    qos: int = 0
    retain: bool = False
    topic: Optional[str] = None
    pid: Optional[int] = None
    rc: Optional[int] = None
    codes: list = field(default_factory=list)
    props: dict = field(default_factory=dict)
    payload: bytes = b""
    session_present: bool = False

    @property
    def name(self) -> str:
        return PACKET_NAMES.get(self.type, str(self.type))

    def __repr__(self):
        extra = []
        for k in ("topic", "pid", "rc", "qos"):
            v = getattr(self, k)
            if v is not None and (k != "qos" or self.type == PUBLISH):
                extra.append(f"{k}={v!r}")
        if self.type == PUBLISH:
            extra.append(f"payload={self.payload[:40]!r} dup={self.dup} retain={self.retain}")
        if self.codes:
            extra.append(f"codes={self.codes}")
        if self.props:
            extra.append(f"props={self.props}")
        return f"<{self.name} {' '.join(extra)}>"


def decode_packet(ptype: int, flags: int, body: bytes, version: int) -> Packet:
    p = Packet(ptype, flags, body)
    rd = _Rd(body)
    v5 = version == 5
    if ptype == CONNACK:
        p.session_present = bool(rd.u8() & 1)
        p.rc = rd.u8()
        if v5 and rd.left():
            p.props = decode_props(rd)
    elif ptype == PUBLISH:
        p.dup = bool(flags & 0x08)
        p.qos = (flags >> 1) & 3
        p.retain = bool(flags & 1)
        p.topic = rd.take(rd.u16()).decode("utf-8", "replace")
        if p.qos:
            p.pid = rd.u16()
        if v5:
            p.props = decode_props(rd)
        p.payload = rd.rest()
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        p.pid = rd.u16()
        p.rc = 0
        if v5 and rd.left():
            p.rc = rd.u8()
            if rd.left():
                p.props = decode_props(rd)
    elif ptype in (SUBACK, UNSUBACK):
        p.pid = rd.u16()
        if v5:
            p.props = decode_props(rd)
        p.codes = list(rd.rest())
    elif ptype in (DISCONNECT, AUTH):
        p.rc = 0
        if rd.left():
            p.rc = rd.u8()
            if rd.left():
                p.props = decode_props(rd)
    return p


class ConnectionClosed(Exception):
    pass


class RawClient:
    """MQTT over a bare socket: exact bytes out, decoded packets in.

    Packets received while waiting for another type are queued in order, so
    ``expect(PUBACK)`` does not lose a PUBLISH that arrived first.
    """

    def __init__(self, port: int, host: str = HOST, version: int = 4, timeout: float = 5.0):
        self.version = version
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.queue: list[Packet] = []
        self.closed = False
        self._next_pid = 1

    # -- bytes -------------------------------------------------------------
    def send(self, data: bytes):
        self.sock.sendall(data)

    def try_send(self, data: bytes) -> bool:
        """send() that returns False instead of raising when the peer has closed."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    def abort(self):
        """Closes with a TCP RST (SO_LINGER 0), like a crashed client."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def _fill(self, deadline: float):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no packet in time")
        r, _, _ = select.select([self.sock], [], [], remaining)
        if not r:
            raise TimeoutError("no packet in time")
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            chunk = b""
        if not chunk:
            self.closed = True
            raise ConnectionClosed("connection closed by broker")
        self.buf += chunk

    def _parse_one(self) -> Optional[Packet]:
        if len(self.buf) < 2:
            return None
        mult, rl, i = 1, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            rl += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise Malformed("bad remaining length from broker")
        if len(self.buf) < i + rl:
            return None
        h = self.buf[0]
        body = self.buf[i:i + rl]
        self.buf = self.buf[i + rl:]
        return decode_packet(h >> 4, h & 0x0F, body, self.version)

    def recv_packet(self, timeout: float = 5.0) -> Packet:
        """Next packet (queued ones first). Raises TimeoutError / ConnectionClosed."""
        if self.queue:
            return self.queue.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            p = self._parse_one()
            if p is not None:
                return p
            self._fill(deadline)

    def expect(self, ptype: int, timeout: float = 5.0, pid: Optional[int] = None) -> Packet:
        """First packet of `ptype` (and `pid`); others are kept in the queue."""
        for i, q in enumerate(self.queue):
            if q.type == ptype and (pid is None or q.pid == pid):
                return self.queue.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            p = self._parse_one()
            if p is None:
                try:
                    self._fill(deadline)
                except TimeoutError:
                    raise TimeoutError(f"no {PACKET_NAMES[ptype]} within {timeout}s; "
                                       f"queued: {self.queue}") from None
                except ConnectionClosed:
                    raise ConnectionClosed(f"closed while waiting for {PACKET_NAMES[ptype]}; "
                                           f"queued: {self.queue}") from None
                continue
            if p.type == ptype and (pid is None or p.pid == pid):
                return p
            self.queue.append(p)

    def drain(self, timeout: float = 0.2) -> list[Packet]:
        """Everything that arrives within `timeout` (for 'nothing else came' checks)."""
        out = list(self.queue)
        self.queue.clear()
        deadline = time.monotonic() + timeout
        while True:
            p = self._parse_one()
            if p is not None:
                out.append(p)
                continue
            try:
                self._fill(deadline)
            except (TimeoutError, ConnectionClosed):
                return out

    def wait_closed(self, timeout: float = 5.0) -> Optional[Packet]:
        """Asserts the broker closes the connection within `timeout`.

        Returns the DISCONNECT packet it sent first (v5), or None. Other packets
        are ignored.
        """
        deadline = time.monotonic() + timeout
        disc = None
        while True:
            p = self._parse_one() if not self.queue else self.queue.pop(0)
            if p is not None:
                if p.type == DISCONNECT:
                    disc = p
                continue
            try:
                self._fill(deadline)
            except ConnectionClosed:
                return disc
            except TimeoutError:
                raise AssertionError(f"broker did not close the connection within {timeout}s"
                                     f" (DISCONNECT seen: {disc})") from None

    def is_open(self, timeout: float = 0.0) -> bool:
        """True when the connection is still open (a PINGREQ gets a PINGRESP)."""
        if not self.try_send(PINGREQ_BYTES):
            return False
        try:
            self.expect(PINGRESP, timeout or 3.0)
            return True
        except (ConnectionClosed, TimeoutError):
            return False

    # -- MQTT --------------------------------------------------------------
    def next_pid(self) -> int:
        pid = self._next_pid
        self._next_pid = self._next_pid % 65535 + 1
        return pid

    def connect(self, client_id="", *, clean=True, keepalive=60, will=None, props=None,
                username=None, password=None, expect_rc: Optional[int] = 0,
                timeout: float = 5.0) -> Packet:
        """Sends CONNECT, returns the CONNACK (asserting its code when expect_rc is set)."""
        self.send(build_connect(client_id, version=self.version, clean=clean,
                                keepalive=keepalive, will=will, props=props,
                                username=username, password=password))
        ack = self.expect(CONNACK, timeout)
        if expect_rc is not None:
            assert ack.rc == expect_rc, f"CONNACK rc {ack.rc:#x} != {expect_rc:#x}: {ack}"
        return ack

    def subscribe(self, *filters, props=None, expect_codes=None, timeout: float = 5.0) -> Packet:
        """filters: 'topic' (QoS 0), ('topic', qos) or ('topic', options_byte). Returns SUBACK."""
        fl = [(f, 0) if isinstance(f, str) else (f[0], f[1]) for f in filters]
        pid = self.next_pid()
        self.send(build_subscribe(pid, fl, props=props, version=self.version))
        ack = self.expect(SUBACK, timeout, pid=pid)
        if expect_codes is not None:
            assert ack.codes == list(expect_codes), f"SUBACK {ack.codes} != {expect_codes}"
        return ack

    def unsubscribe(self, *filters, props=None, timeout: float = 5.0) -> Packet:
        pid = self.next_pid()
        self.send(build_unsubscribe(pid, list(filters), props=props, version=self.version))
        return self.expect(UNSUBACK, timeout, pid=pid)

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, dup=False,
                pid=None, wait=True, timeout: float = 5.0) -> Optional[Packet]:
        """Publishes; with wait=True completes the QoS 1/2 flow and returns the last ack."""
        if qos and pid is None:
            pid = self.next_pid()
        self.send(build_publish(topic, payload, qos=qos, retain=retain, dup=dup, pid=pid,
                                props=props, version=self.version))
        if not wait or qos == 0:
            return None
        if qos == 1:
            return self.expect(PUBACK, timeout, pid=pid)
        rec = self.expect(PUBREC, timeout, pid=pid)
        if rec.rc is not None and rec.rc >= 0x80:
            return rec
        self.send(build_ack(PUBREL, pid, version=self.version))
        return self.expect(PUBCOMP, timeout, pid=pid)

    def ack(self, p: Packet):
        """Acknowledges an incoming PUBLISH (PUBACK, or PUBREC then PUBREL/PUBCOMP)."""
        if p.qos == 1:
            self.send(build_ack(PUBACK, p.pid, version=self.version))
        elif p.qos == 2:
            self.send(build_ack(PUBREC, p.pid, version=self.version))
            rel = self.expect(PUBREL, 5.0, pid=p.pid)
            self.send(build_ack(PUBCOMP, rel.pid, version=self.version))

    def recv_publish(self, timeout: float = 5.0, ack: bool = True) -> Packet:
        p = self.expect(PUBLISH, timeout)
        if ack:
            self.ack(p)
        return p

    def recv_publishes(self, n: int, timeout: float = 5.0, ack: bool = True) -> list[Packet]:
        deadline = time.monotonic() + timeout
        out = []
        for _ in range(n):
            out.append(self.recv_publish(max(0.01, deadline - time.monotonic()), ack))
        return out

    def disconnect(self, rc=None, props=None):
        self.try_send(build_disconnect(rc, props, self.version))
        self.close()


def raw_connect(port: int, client_id: str = "", version: int = 4, **kw) -> RawClient:
    c = RawClient(port, version=version)
    c.connect(client_id, **kw)
    return c


# --------------------------------------------------------------------------
# paho-mqtt
# --------------------------------------------------------------------------

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

V31, V311, V5 = mqtt.MQTTv31, mqtt.MQTTv311, mqtt.MQTTv5
VERSION_IDS = {V31: "v31", V311: "v311", V5: "v5"}


def props(packet_type, **kw) -> Properties:
    """paho Properties, e.g. props(PacketTypes.PUBLISH, MessageExpiryInterval=5)."""
    p = Properties(packet_type)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


@dataclass
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Any
    mid: int
    dup: bool

    def prop(self, name, default=None):
        return getattr(self.properties, name, default) if self.properties is not None else default


class PahoClient:
    """paho-mqtt client with its own network thread and a message collector.

    Use paho_connect() (or the `mqtt_client` fixture) to make one. Never reconnects
    by itself (reconnect_on_failure=False), so takeover tests stay deterministic.
    """

    def __init__(self, client_id: str = "", version: int = V311, clean: bool = True,
                 userdata=None):
        self.version = version
        self.client_id = client_id
        kw = {}
        if version != V5:
            kw["clean_session"] = clean
        self.clean = clean
        self.client = mqtt.Client(client_id=client_id, protocol=version,
                                  reconnect_on_failure=False, **kw)
        self.lock = threading.Condition()
        self.messages: list[Message] = []
        self.connack = None        # (flags, rc, properties)
        self.connected = threading.Event()
        self.connack_event = threading.Event()
        self.disconnected = threading.Event()
        self.disconnect_rc = None
        self.disconnect_props = None
        self.subacks: dict[int, Any] = {}
        self.published: set[int] = set()
        c = self.client
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish
        c.on_unsubscribe = self._on_unsubscribe

    # callbacks (network thread)
    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.connack = (flags, rc, properties)
        ok = rc_value(rc) == 0
        if ok:
            self.connected.set()
        self.connack_event.set()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append(Message(msg.topic, msg.payload, msg.qos, bool(msg.retain),
                                         getattr(msg, "properties", None), msg.mid, bool(msg.dup)))
            self.lock.notify_all()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.disconnect_rc = rc
        self.disconnect_props = properties
        self.connected.clear()
        self.disconnected.set()
        with self.lock:
            self.lock.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.lock:
            self.subacks[mid] = granted
            self.lock.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, *rest):
        with self.lock:
            self.subacks[mid] = rest
            self.lock.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self.lock:
            self.published.add(mid)
            self.lock.notify_all()

    # API
    def connect(self, port: int, host: str = HOST, keepalive: int = 60, props=None,
                will=None, timeout: float = 5.0, expect_success: bool = True):
        """will: dict(topic, payload, qos, retain, props)."""
        if will:
            self.client.will_set(will["topic"], will.get("payload", b""), will.get("qos", 0),
                                 will.get("retain", False), properties=will.get("props"))
        kw = {}
        if self.version == V5:
            kw["clean_start"] = self.clean
            kw["properties"] = props
        self.client.connect(host, port, keepalive, **kw)
        self.client.loop_start()
        if not self.connack_event.wait(timeout):
            raise AssertionError(f"no CONNACK for {self.client_id!r} within {timeout}s")
        if expect_success:
            assert self.connected.is_set(), f"connect refused: {self.connack}"
        return self

    @property
    def session_present(self) -> bool:
        flags = self.connack[0]
        return bool(flags.get("session present"))

    @property
    def connack_props(self):
        return self.connack[2]

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Message]:
        """Waits until at least n messages were received; returns the first n."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.client_id!r}: got {len(self.messages)} of {n} "
                                         f"messages in {timeout}s: {self.messages}")
                self.lock.wait(left)
            return list(self.messages[:n])

    def wait_topic(self, topic: str, timeout: float = 5.0) -> Message:
        """Waits for the first message on `topic`."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for m in self.messages:
                    if m.topic == topic:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.client_id!r}: nothing on {topic!r} in {timeout}s; "
                                         f"got {self.messages}")
                self.lock.wait(left)

    def take(self) -> list[Message]:
        with self.lock:
            out = self.messages
            self.messages = []
            return out

    def subscribe(self, topic, qos: int = 0, options: Optional[SubscribeOptions] = None,
                  props=None, timeout: float = 5.0):
        """Subscribes and waits for the SUBACK; returns the granted list (QoS ints or
        paho ReasonCodes for v5)."""
        if self.version == V5:
            if options is None:
                options = SubscribeOptions(qos=qos)
            rc, mid = self.client.subscribe(topic, options=options, properties=props)
        else:
            rc, mid = self.client.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe failed locally: {rc}"
        with self.lock:
            ok = self.lock.wait_for(lambda: mid in self.subacks, timeout)
            assert ok, f"no SUBACK for {topic!r}"
            return self.subacks[mid]

    def unsubscribe(self, topic, timeout: float = 5.0):
        rc, mid = self.client.unsubscribe(topic)
        with self.lock:
            assert self.lock.wait_for(lambda: mid in self.subacks, timeout), "no UNSUBACK"

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, wait=True,
                timeout: float = 5.0):
        """Publishes; with wait=True waits until paho considers it done (sent for QoS 0,
        PUBACK for 1, PUBCOMP for 2)."""
        info = self.client.publish(topic, payload, qos, retain, properties=props)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish failed locally: {info.rc}"
        if wait:
            with self.lock:
                ok = self.lock.wait_for(lambda: info.mid in self.published, timeout)
            assert ok, f"publish {topic!r} qos {qos} not completed in {timeout}s"
        return info

    def disconnect(self, reasoncode=None, props=None, timeout: float = 5.0):
        """Normal DISCONNECT, then stops the network thread."""
        if self.connected.is_set():
            if self.version == V5 and reasoncode is not None:
                from paho.mqtt.reasoncodes import ReasonCodes
                rc = ReasonCodes(PacketTypes.DISCONNECT, identifier=reasoncode)
                self.client.disconnect(reasoncode=rc, properties=props)
            else:
                self.client.disconnect()
            self.disconnected.wait(timeout)
        self.client.loop_stop()

    def drop(self):
        """Abrupt close: no DISCONNECT, socket shut down (will messages fire)."""
        sock = self.client.socket()
        self.client.loop_stop()  # thread exits at its next loop
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            except OSError:
                pass

    def wait_disconnected(self, timeout: float = 5.0):
        assert self.disconnected.wait(timeout), f"{self.client_id!r} still connected after {timeout}s"
        return self.disconnect_rc

    def stop(self):
        """For finalizers: stop the thread and close, whatever the state."""
        try:
            if self.connected.is_set():
                self.client.disconnect()
        except Exception:
            pass
        try:
            self.client.loop_stop()
        except Exception:
            pass


def paho_connect(port: int, client_id: str = "", version: int = V311, clean: bool = True,
                 **kw) -> PahoClient:
    return PahoClient(client_id, version, clean).connect(port, **kw)


def rc_value(rc) -> int:
    """paho ReasonCodes or int -> int."""
    if rc is None:
        return -1
    return getattr(rc, "value", rc)


# --------------------------------------------------------------------------
# mosquitto command-line clients
# --------------------------------------------------------------------------


def mosquitto_pub(port: int, topic: str, message: str, *args: str, timeout: float = 10.0,
                  check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["mosquitto_pub", "-h", HOST, "-p", str(port), "-t", topic, "-m", message, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"{cmd} -> {r.returncode}: {r.stderr}{r.stdout}"
    return r


class MosquittoSub:
    """Background mosquitto_sub (-d -v); start() returns once its SUBACK arrived."""

    def __init__(self, port: int, topic: str, *args: str, count: Optional[int] = None):
        self.cmd = ["stdbuf", "-oL", "mosquitto_sub", "-d", "-v", "-h", HOST, "-p", str(port), "-t", topic, *args]
        if count is not None:
            self.cmd += ["-C", str(count)]
        self.lines: list[str] = []
        self.proc = None
        self._cv = threading.Condition()

    def start(self, timeout: float = 5.0) -> "MosquittoSub":
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        threading.Thread(target=self._reader, daemon=True).start()
        self.wait_line(lambda l: "suback" in l.lower(), timeout)
        return self

    def _reader(self):
        for line in self.proc.stdout:
            with self._cv:
                self.lines.append(line.rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def wait_line(self, pred, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for l in self.lines:
                    if pred(l):
                        return l
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"mosquitto_sub: no matching line in {timeout}s; "
                                         f"output: {self.lines}")
                self._cv.wait(left)

    def messages(self) -> list[str]:
        """Lines that are messages (`topic payload`), debug lines removed."""
        with self._cv:
            return [l for l in self.lines if not l.startswith(("Client ", "Subscribed", "Received", "Sending"))]

    def wait_messages(self, n: int, timeout: float = 5.0) -> list[str]:
        wait_until(lambda: len(self.messages()) >= n, timeout, what=f"{n} mosquitto_sub messages")
        return self.messages()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
