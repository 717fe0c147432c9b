"""MQTT clients for the integration tests: RawClient (exact bytes on a bare
socket), paho-mqtt (PahoClient) and Debian's mosquitto command-line clients.

Part of the helpers (helpers.py re-exports everything here).
"""

from __future__ import annotations

import select
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from mqtt_packets import (
    CONNACK,
    DISCONNECT,
    Malformed,
    PACKET_NAMES,
    PINGREQ_BYTES,
    PINGRESP,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    Packet,
    SUBACK,
    UNSUBACK,
    build_ack,
    build_connect,
    build_disconnect,
    build_publish,
    build_subscribe,
    build_unsubscribe,
    decode_packet,
)
from processes import HOST, wait_until


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
