"""MQTT wire format for the integration tests: packet types, MQTT 5 reason
codes and properties, packet builders and a decoder (no sockets here).

Part of the helpers (helpers.py re-exports everything here).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Optional

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
