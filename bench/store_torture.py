#!/usr/bin/env python3
"""Long kill -9 torture of the durable store (issue 14; docs/persistence.md,
"Long torture"). The short version is tests/integration/test_store_torture.py.

usage: /usr/bin/python3 bench/store_torture.py --build build [--minutes 10]
           [--kills 20] [--graceful N] [--seed S] [--workdir DIR] [--keep]
           [--rate MSG/S] [--conf 'key = value' ...] [--drain S] [--json FILE]

One revmq (BUILD/revmq, a fresh node.data_dir under --workdir) on a free loopback
port, and for --minutes:

- publishers, each message's id ("<publisher>:<n>") in its payload, topic tt/<publisher>,
  one message at a time (the next only after the previous was acknowledged or
  given up), every acknowledgement recorded:
  paho QoS 1 and QoS 2 (MQTT 3.1.1, clean session 0) and paho QoS 1 and 2
  (MQTT 5, session expiry 1 h), paced at --rate each; mosquitto_pub QoS 1 and 2 with
  -V mqttv5 and -V mqttv311, one process per message, acknowledged when its debug
  output shows the PUBACK (QoS 1) or PUBREC (QoS 2) or it exits 0; each also
  publishes the counter as a retained QoS 1 message on rr/<publisher>;
- persistent subscribers (paho, QoS 2, subscribed once, then relying on the stored
  session): MQTT 5 (session expiry 1 h) and 3.1.1 (clean session 0), some online all
  the time, some going offline and back at random, some offline until the end, and
  two online members of one shared subscription ($share/g/tt/#);
- revmq-bench pubsub QoS 1 with persistent subscribers on bench/... (other topics)
  as bursts of load;
- --kills SIGKILLs and --graceful SIGTERM restarts at seeded random moments (one per
  slot of the run), each kill of one kind: plain, during a load burst, or a few
  milliseconds after a subscriber's CONNECT (its session's backlog in flight).

Then every subscriber comes back and the script checks, per subscriber and publisher:
every acknowledged QoS 1 message received at least once, every QoS 2 message (acked or
not) at most once and every acknowledged one exactly once, the first deliveries in the
order published (MQTT 4.6: one publisher, one topic, QoS 1/2), the QoS kept, no
message nobody sent, no persistent session lost (CONNACK session present); for the
shared group the same over its members together (no order: MQTT does not require it
across members); each retained topic holds the last acknowledged value (or a later
one, sent but not acknowledged when the broker died). It prints the counts, the kills
and restarts done and the store's start-up times (`store: loaded ... took_ms=`), and
exits 1 on any loss or violation, 2 when the harness itself failed. On failure the
work directory (broker log, store, records.json with every ack and delivery) is kept.

Every process started is stopped at the end, on failure and on Ctrl-C / SIGTERM.
"""
import argparse
import collections
import faulthandler
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from processes import HOST, SANITIZER_MARKERS, Broker, BrokerError, wait_until  # noqa: E402

LOG_LOCK = threading.Lock()
T0 = time.monotonic()
PROCS = set()  # child processes other than the broker (mosquitto_pub, revmq-bench)
PROCS_LOCK = threading.Lock()
CLOSING = []  # non-empty once cleanup() began: spawn() refuses new processes


def log(*a):
    with LOG_LOCK:
        print(f"[{time.monotonic() - T0:7.1f}s]", *a, flush=True)


def spawn(cmd, **kw):
    with PROCS_LOCK:
        if CLOSING:
            raise RuntimeError("stopping: no new process")
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **kw)
        PROCS.add(p)
    return p


def reap(p, timeout=None):
    """Waits for p (killing it after timeout); returns (rc, stdout text)."""
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    with PROCS_LOCK:
        PROCS.discard(p)
    return p.returncode, (out or b"").decode("utf-8", "replace")


class Client(mqtt.Client):
    """paho 1.6.1 with one fix: its reconnect reset turns a QoS 2 message whose
    PUBREL is to be resent (state resend_pubrel, set by the previous reset) into a
    PUBLISH without DUP, a new message for any broker, if a reconnect attempt fails
    (tests/integration/test_store_torture.py describes it). Here such a message keeps
    resending its PUBREL, as MQTT-4.4.0-1 says."""

    def _messages_reconnect_reset_out(self):
        with self._out_message_mutex:
            keep = [m for m in self._out_messages.values()
                    if m.qos == 2 and m.state == mqtt.mqtt_ms_resend_pubrel]
        super()._messages_reconnect_reset_out()
        with self._out_message_mutex:
            for m in keep:
                m.state = mqtt.mqtt_ms_resend_pubrel


def make_client(cid, version):
    if version == 5:
        return Client(client_id=cid, protocol=mqtt.MQTTv5)
    return Client(client_id=cid, clean_session=False, protocol=mqtt.MQTTv311)


def connect_kw(version):
    if version != 5:
        return {}
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = 3600
    return {"clean_start": False, "properties": p}


# --------------------------------------------------------------------------
# publishers
# --------------------------------------------------------------------------

class Pub(threading.Thread):
    kind = "?"

    def __init__(self, name, port, qos, version, stop, rate):
        super().__init__(daemon=True, name=name)
        self.pname, self.port, self.qos, self.version = name, port, qos, version
        self.stop_ev, self.rate = stop, rate
        self.topic = f"tt/{name}"
        self.n = 0                # messages attempted (ids 1..n)
        self.acked = set()        # ids acknowledged (PUBACK / PUBREC or PUBCOMP)
        self.lock = threading.Lock()
        self.error = None

    def describe(self):
        return f"{self.pname} ({self.kind} QoS {self.qos} MQTT {'5' if self.version == 5 else '3.1.1'})"

    def run(self):
        try:
            self.body()
        except Exception as e:  # reported, makes the run fail as a harness error
            self.error = repr(e)
            log(f"publisher {self.pname} failed: {e!r}")


class PahoPub(Pub):
    kind = "paho"

    def body(self):
        c = make_client(self.pname, self.version)
        c.reconnect_delay_set(0.2, 1)
        mids, early = {}, set()

        # on_publish runs with paho's message lock held: never publish under self.lock
        def on_publish(cl, u, mid):
            with self.lock:
                n = mids.pop(mid, None)
                if n is None:
                    early.add(mid)
                else:
                    self.acked.add(n)

        c.on_publish = on_publish
        wait_until(lambda: self._try_connect(c), 30, 0.2, what=f"{self.pname} connected")
        c.loop_start()
        try:
            while not self.stop_ev.is_set():
                t = time.monotonic()
                n = self.n + 1
                self.n = n
                info = c.publish(self.topic, f"{self.pname}:{n}", self.qos)
                with self.lock:
                    if info.mid in early:
                        early.discard(info.mid)
                        self.acked.add(n)
                    else:
                        mids[info.mid] = n
                deadline = t + 10
                while time.monotonic() < deadline and not self.stop_ev.is_set():
                    with self.lock:
                        if n in self.acked:
                            break
                    time.sleep(0.002)
                if self.rate:
                    time.sleep(max(0.0, 1.0 / self.rate - (time.monotonic() - t)))
            # what is still in flight gets its ack after a reconnect
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                with self.lock:
                    if not mids:
                        break
                time.sleep(0.02)
        finally:
            c.disconnect()
            c.loop_stop()

    def _try_connect(self, c):
        try:
            c.connect(HOST, self.port, 30, **connect_kw(self.version))
            return True
        except OSError:
            return False


# "Client x received PUBACK (Mid: 1, RC:0)" (MQTT 5) / "... received PUBACK (Mid: 1)"
MOSQ_ACK = re.compile(r"received (?:PUBACK|PUBREC) \(Mid: \d+(?:, RC:(\d+))?\)")


class MosqPub(Pub):
    """One mosquitto_pub -d per message: acknowledged when its debug output shows the
    PUBACK / PUBREC (libmosquitto may reconnect and resend in between), or it exits 0.
    Then the counter as a retained QoS 1 message on rr/<name>, the same way."""
    kind = "mosquitto_pub"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.retained_n = 0
        self.retained_acked = 0
        self.exit0_without_ack_line = 0
        # ids whose mosquitto_pub reconnected (libmosquitto resends an unacknowledged
        # QoS 2 PUBLISH in its new clean session: a new message for any broker)
        self.reconnected = set()

    def _pub(self, topic, msg, qos, retain):
        v = "mqttv5" if self.version == 5 else "mqttv311"
        cmd = ["mosquitto_pub", "-d", "-V", v, "-h", HOST, "-p", str(self.port),
               "-q", str(qos), "-t", topic, "-m", msg]
        if retain:
            cmd.append("-r")
        rc, out = reap(spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT), 10)
        self.last_connects = out.count("sending CONNECT")
        acks = MOSQ_ACK.findall(out)
        if any(int(code or 0) < 0x80 for code in acks):
            return True
        if rc == 0 and not acks:
            self.exit0_without_ack_line += 1
            return True
        return False

    def body(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            n = self.n + 1
            self.n = n
            ok = self._pub(self.topic, f"{self.pname}:{n}", self.qos, False)
            with self.lock:
                if ok:
                    self.acked.add(n)
                if self.last_connects > 1:
                    self.reconnected.add(n)
            self.retained_n = n
            if self._pub(f"rr/{self.pname}", str(n), 1, True):
                self.retained_acked = n
            else:
                time.sleep(0.05)
            if self.rate:
                time.sleep(max(0.0, 1.0 / self.rate - (time.monotonic() - t)))


# --------------------------------------------------------------------------
# subscribers
# --------------------------------------------------------------------------

class Sub:
    """A persistent paho subscriber. Subscribes once (first CONNACK without a
    session); after that every CONNACK must say session present."""

    def __init__(self, cid, port, version, filt, mode, group=None):
        self.cid, self.port, self.version, self.filt = cid, port, version, filt
        self.mode, self.group = mode, group   # mode: online / cycle / offline
        self.lock = threading.Lock()
        self.trace = []              # (payload, qos, dup) in arrival order
        self.subscribed = False
        self.sessions_lost = []      # times a CONNACK said no session after the first
        self.connects = 0
        self.online = False
        self.c = make_client(cid, version)
        self.c.reconnect_delay_set(0.1, 0.5)
        self.c.on_message = self._msg
        self.c.on_connect = self._conn

    def describe(self):
        return f"{self.cid} ({self.mode}, MQTT {'5' if self.version == 5 else '3.1.1'}, {self.filt})"

    def _conn(self, c, u, flags, rc, props=None):
        if (rc.value if hasattr(rc, "value") else rc) != 0:
            return
        present = bool(flags.get("session present"))
        with self.lock:
            self.connects += 1
            if self.subscribed and not present:
                self.sessions_lost.append(round(time.monotonic() - T0, 1))
            need = not present
        if need:
            c.subscribe(self.filt, 2)
            with self.lock:
                self.subscribed = True

    def _msg(self, c, u, m):
        with self.lock:
            self.trace.append((m.payload.decode(), m.qos, bool(m.dup)))

    def go_online(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.c.connect(HOST, self.port, 30, **connect_kw(self.version))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.c.loop_start()
        self.online = True

    def go_offline(self):
        if self.online:
            self.c.disconnect()
            self.c.loop_stop()
            self.online = False

    def subscribed_ok(self):
        with self.lock:
            return self.subscribed and self.c.is_connected()


class Cycler(threading.Thread):
    """Takes the 'cycle' subscribers offline and back at random; kick(sub) makes
    one come back at once (for a kill during its reconnect)."""

    def __init__(self, subs, rnd, stop):
        super().__init__(daemon=True, name="cycler")
        self.subs, self.rnd, self.stop_ev = subs, rnd, stop
        self.lock = threading.Lock()
        self.next_change = {s.cid: time.monotonic() + rnd.uniform(2, 6) for s in subs}
        self.error = None

    def run(self):
        try:
            while not self.stop_ev.is_set():
                now = time.monotonic()
                for s in self.subs:
                    with self.lock:
                        if now < self.next_change[s.cid]:
                            continue
                        if s.online:
                            s.go_offline()
                            self.next_change[s.cid] = now + self.rnd.uniform(1, 5)
                        else:
                            s.go_online()
                            self.next_change[s.cid] = now + self.rnd.uniform(2, 6)
                time.sleep(0.05)
        except Exception as e:
            self.error = repr(e)
            log(f"cycler failed: {e!r}")

    def reconnect_now(self, s):
        """Makes s connect now (offline first if it was online); returns once its
        CONNECT is sent."""
        with self.lock:
            if s.online:
                s.go_offline()
                time.sleep(0.2)  # its backlog builds up again
            s.go_online()
            self.next_change[s.cid] = time.monotonic() + self.rnd.uniform(2, 6)


# --------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------

class Load:
    """revmq-bench pubsub bursts (QoS 1, persistent subscribers, bench/ topics)."""

    def __init__(self, build, port):
        self.exe, self.port, self.proc, self.bursts = os.path.join(build, "revmq-bench"), port, None, 0

    def start(self, seconds):
        self.stop()
        self.bursts += 1
        self.proc = spawn([self.exe, "pubsub", "--port", str(self.port), "--qos", "1",
                           "--publishers", "4", "--subscribers", "2", "--inflight", "64",
                           "--session-expiry", "60s", "--client-prefix", "torture-load",
                           "--duration", f"{int(seconds * 1000)}ms", "--quiet"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            reap(self.proc, 5)
            self.proc = None


def schedule(rnd, duration, kills, graceful):
    """One event per slot of the run: (time, kind)."""
    kinds = ["graceful"] * graceful + [rnd.choice(["kill", "kill-load", "kill-load",
                                                   "kill-reconnect"]) for _ in range(kills)]
    rnd.shuffle(kinds)
    n = len(kinds)
    if n == 0:
        return []
    start, end = 2.0, max(3.0, duration - 1.0)
    slot = (end - start) / n
    ev = []
    for i, k in enumerate(kinds):
        lo = start + i * slot + min(1.0, slot * 0.4)
        ev.append((rnd.uniform(lo, start + (i + 1) * slot), k))
    return ev


def restart(b, how, down_s, stats):
    """SIGKILL (or SIGTERM, how = graceful), down_s seconds down, start on the same
    data_dir; records the time from the signal to ready."""
    t = time.monotonic()
    if how == "graceful":
        rc = b.stop(check=False, timeout=60)
        stats["graceful_exit_codes"].append(rc)
    else:
        b.kill()
    time.sleep(down_s)
    b.start(timeout=120)
    stats["ready_s"].append(round(time.monotonic() - t, 3))


def verify(pubs, subs, port):
    """Returns (counts, problems)."""
    problems = []
    counts = collections.Counter()
    for k in ("received", "duplicates", "qos2_duplicates", "qos2_duplicates_client_resent",
              "order_violations", "lost", "retained_checked"):
        counts[k] = 0
    counts["published"] = sum(p.n for p in pubs)
    counts["acked"] = sum(len(p.acked) for p in pubs)
    by_name = {p.pname: p for p in pubs}
    units = [([s], s.describe(), True) for s in subs if s.group is None]
    groups = collections.defaultdict(list)
    for s in subs:
        if s.group is not None:
            groups[s.group].append(s)
    units += [(m, f"shared group {g} ({', '.join(s.cid for s in m)})", False)
              for g, m in groups.items()]
    lost_ids = {}
    for members, what, ordered in units:
        seen = collections.defaultdict(collections.Counter)   # publisher -> id -> times
        for s in members:
            with s.lock:
                trace = list(s.trace)
                if s.sessions_lost:
                    problems.append(f"{s.cid}: session lost (CONNACK session present 0) at "
                                    f"{s.sessions_lost[:5]}s")
            counts["received"] += len(trace)
            first = collections.defaultdict(list)
            for payload, qos, dup in trace:
                name, _, num = payload.rpartition(":")
                p = by_name.get(name)
                if p is None or not num.isdigit() or not 1 <= int(num) <= p.n:
                    problems.append(f"{s.cid}: a message nobody sent: {payload!r}")
                    continue
                n = int(num)
                if qos != p.qos:
                    problems.append(f"{s.cid}: {payload} arrived with QoS {qos}, sent with {p.qos}")
                if seen[name][n] == 0 and n not in first[name][-1:]:
                    first[name].append(n)
                seen[name][n] += 1
            if ordered:
                for name, seq in first.items():
                    bad = [(a, b) for a, b in zip(seq, seq[1:]) if b < a]
                    if bad:
                        problems.append(f"{s.cid}: {name} out of order (first deliveries, "
                                        f"later id before earlier): {bad[:5]}")
                        counts["order_violations"] += len(bad)
        for p in pubs:
            got = seen[p.pname]
            with p.lock:
                acked = set(p.acked)
            counts["duplicates"] += sum(v - 1 for v in got.values() if v > 1)
            missing = sorted(acked - set(got))
            if missing:
                counts["lost"] += len(missing)
                lost_ids[f"{what} / {p.pname}"] = missing
                problems.append(f"{what}: LOST {len(missing)} acknowledged messages of "
                                f"{p.describe()}: first ids {missing[:10]}")
            if p.qos == 2:
                d2 = sorted(n for n, v in got.items() if v > 1)
                resent = sorted(n for n in d2 if n in getattr(p, "reconnected", ()))
                if resent:
                    counts["qos2_duplicates_client_resent"] += len(resent)
                    d2 = [n for n in d2 if n not in resent]
                if d2:
                    counts["qos2_duplicates"] += len(d2)
                    problems.append(f"{what}: {p.pname} QoS 2 delivered more than once: "
                                    f"ids {d2[:10]}")
    for p in pubs:
        if not isinstance(p, MosqPub) or p.retained_acked == 0:
            continue
        r = subprocess.run(["mosquitto_sub", "-V", "mqttv5", "-h", HOST, "-p", str(port),
                            "-t", f"rr/{p.pname}", "-C", "1", "-W", "5"],
                           capture_output=True, timeout=15)
        v = r.stdout.decode().strip()
        counts["retained_checked"] += 1
        if r.returncode != 0 or not v.isdigit() or not p.retained_acked <= int(v) <= p.retained_n:
            problems.append(f"retained rr/{p.pname} = {v!r} (rc {r.returncode}), last acknowledged "
                            f"{p.retained_acked}, last sent {p.retained_n}")
    return counts, problems, lost_ids


def complete(pubs, subs):
    acked = {p.pname: set(p.acked) for p in pubs}
    groups = collections.defaultdict(set)
    for s in subs:
        with s.lock:
            have = {pl for pl, _, _ in s.trace}
        if s.group is not None:
            groups[s.group] |= have
            continue
        if any(f"{n}:{i}" not in have for n, ids in acked.items() for i in ids):
            return False
    return all(f"{n}:{i}" in have for have in groups.values() for n, ids in acked.items()
               for i in ids)


def store_loaded(b):
    return [int(m) for m in re.findall(r"store: loaded .*?took_ms=(\d+)", b.log_text())]


def run(args, work, stats):
    os.environ["RMQ_BUILD_DIR"] = os.path.abspath(args.build)
    rnd = random.Random(args.seed)
    b = Broker(work, "\n".join(args.conf), name="broker", peer="revmq", valgrind=False)
    stats["broker_log"] = str(b.log_path)
    state = {"broker": b, "subs": [], "pubs": [], "load": None, "stop": threading.Event()}
    stats["_state"] = state
    b.start(timeout=60)
    port = b.port
    log(f"revmq on {HOST}:{port}, data_dir {b.data_dir}, seed {args.seed}")
    u = f"{args.seed}"
    subs = [Sub(f"on5-{u}", port, 5, "tt/#", "online"), Sub(f"on3-{u}", port, 4, "tt/#", "online"),
            Sub(f"cy5a-{u}", port, 5, "tt/#", "cycle"), Sub(f"cy5b-{u}", port, 5, "tt/+", "cycle"),
            Sub(f"cy3-{u}", port, 4, "tt/#", "cycle"),
            Sub(f"off5-{u}", port, 5, "tt/#", "offline"), Sub(f"off3-{u}", port, 4, "tt/+", "offline"),
            Sub(f"sh5a-{u}", port, 5, "$share/g/tt/#", "online", group="g"),
            Sub(f"sh5b-{u}", port, 5, "$share/g/tt/#", "online", group="g")]
    state["subs"] = subs
    for s in subs:
        s.go_online()
    wait_until(lambda: all(s.subscribed_ok() for s in subs), 10, what="subscriptions")
    time.sleep(0.3)  # SUBACKs
    for s in subs:
        if s.mode == "offline":
            s.go_offline()
    stop = state["stop"]
    r = args.rate
    pubs = [PahoPub(f"p1v3-{u}", port, 1, 4, stop, r), PahoPub(f"p2v3-{u}", port, 2, 4, stop, r),
            PahoPub(f"p1v5-{u}", port, 1, 5, stop, r), PahoPub(f"p2v5-{u}", port, 2, 5, stop, r),
            MosqPub(f"m1v5-{u}", port, 1, 5, stop, 0), MosqPub(f"m2v5-{u}", port, 2, 5, stop, 0),
            MosqPub(f"m1v3-{u}", port, 1, 4, stop, 0), MosqPub(f"m2v3-{u}", port, 2, 4, stop, 0)]
    state["pubs"] = pubs
    cycler = Cycler([s for s in subs if s.mode == "cycle"], random.Random(rnd.random()), stop)
    load = Load(args.build, port)
    state["load"] = load
    for p in pubs:
        p.start()
    cycler.start()
    duration = args.minutes * 60
    events = schedule(rnd, duration, args.kills, args.graceful)
    start = time.monotonic()
    for at, kind in events:
        if kind == "kill-load":
            t = start + at - rnd.uniform(1.5, 3.0)
            time.sleep(max(0.0, t - time.monotonic()))
            load.start(6)
        time.sleep(max(0.0, start + at - time.monotonic()))
        if kind == "kill-reconnect":
            s = rnd.choice(cycler.subs)
            cycler.reconnect_now(s)
            time.sleep(rnd.uniform(0.0, 0.03))
            kind = f"kill-reconnect({s.cid})"
        how = "graceful" if kind == "graceful" else "kill"
        if how == "kill":
            stats["kills"] += 1
        else:
            stats["graceful"] += 1
        log(f"event {kind}: acked so far {sum(len(p.acked) for p in pubs)}")
        stats["events"].append([round(time.monotonic() - T0, 2), kind])
        restart(b, how, rnd.uniform(0.0, 0.3), stats)
        load.stop()
    time.sleep(max(0.0, start + duration - time.monotonic()))
    log("publishing stops")
    stop.set()
    for p in pubs:
        p.join(60)
    cycler.join(10)
    load.stop()
    errors = [f"publisher {p.pname}: {p.error}" for p in pubs if p.error or p.is_alive()]
    if cycler.error:
        errors.append(f"cycler: {cycler.error}")
    for s in subs:
        if not s.online:
            s.go_online()
    acked = sum(len(p.acked) for p in pubs)
    drain = args.drain if args.drain is not None else 60 + acked / 500
    log(f"every subscriber back; waiting up to {drain:.0f}s for {acked} acked messages each")
    try:
        wait_until(lambda: complete(pubs, subs), drain, 0.5, what="every acked message delivered")
    except AssertionError as e:
        log(str(e))
    time.sleep(2)  # duplicates that would arrive late
    counts, problems, lost_ids = verify(pubs, subs, port)
    stats["store_loaded_took_ms"] = store_loaded(b)
    rc = b.stop(check=False, timeout=60)
    stats["graceful_exit_codes"].append(rc)
    if rc != 0:
        problems.append(f"broker exit code {rc} at the final SIGTERM")
    text = b.log_text()
    for marker in SANITIZER_MARKERS:
        if marker in text:
            problems.append(f"sanitizer report ({marker!r}) in {b.log_path}")
    bad_exits = [c for c in stats["graceful_exit_codes"][:-1] if c != 0]
    if bad_exits:
        problems.append(f"graceful restarts exited with {bad_exits}")
    stats["counts"] = dict(counts)
    stats["per_publisher"] = {p.describe(): {"sent": p.n, "acked": len(p.acked)} for p in pubs}
    stats["mosquitto_exit0_without_ack_line"] = sum(p.exit0_without_ack_line for p in pubs
                                                    if isinstance(p, MosqPub))
    stats["mosquitto_reconnected"] = sum(len(p.reconnected) for p in pubs if isinstance(p, MosqPub))
    stats["load_bursts"] = load.bursts
    stats["problems"] = problems
    stats["harness_errors"] = errors
    stats["lost_ids"] = {k: v[:1000] for k, v in lost_ids.items()}
    with open(os.path.join(work, "records.json"), "w") as f:
        json.dump({"acked": {p.pname: sorted(p.acked) for p in pubs},
                   "sent": {p.pname: p.n for p in pubs},
                   "received": {s.cid: s.trace for s in subs},
                   "events": stats["events"]}, f)
    return problems, errors


def _bounded(fn, seconds=5.0):
    """Runs fn in a daemon thread for at most `seconds`: an interrupt that
    came inside a client library call may leave one of its locks taken, and
    stopping must not wait on it."""
    def quiet():
        try:
            fn()
        except Exception:
            pass
    t = threading.Thread(target=quiet, daemon=True, name="cleanup")
    t.start()
    t.join(seconds)


def cleanup(stats):
    st = stats.get("_state") or {}
    if st.get("stop"):
        st["stop"].set()
    for s in st.get("subs", []):
        _bounded(s.go_offline)
    with PROCS_LOCK:
        CLOSING.append(True)
        procs = list(PROCS)
    if st.get("load"):
        _bounded(st["load"].stop)
    for p in procs:
        if p.poll() is None:
            p.kill()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
    b = st.get("broker")
    if b is not None and b.is_running():
        b.kill()


def summary(stats):
    c = stats.get("counts", {})
    took = stats.get("store_loaded_took_ms", [])
    ready = stats.get("ready_s", [])
    lines = [
        f"seed {stats['seed']}, {stats['minutes']} min, kills {stats['kills']}, graceful restarts "
        f"{stats['graceful']}, load bursts {stats.get('load_bursts', 0)}",
        f"published {c.get('published', 0)} acked {c.get('acked', 0)} received {c.get('received', 0)} "
        f"duplicates {c.get('duplicates', 0)} qos2_duplicates {c.get('qos2_duplicates', 0)} "
        f"(+{c.get('qos2_duplicates_client_resent', 0)} resent by mosquitto_pub in a new "
        f"session) order_violations {c.get('order_violations', 0)} lost {c.get('lost', 0)} "
        f"retained_checked {c.get('retained_checked', 0)}",
    ]
    if took:
        lines.append(f"store: loaded took_ms over {len(took)} starts: min {min(took)} median "
                     f"{statistics.median(took)} max {max(took)}")
    if ready:
        lines.append(f"restart to ready (s) over {len(ready)} restarts: min {min(ready)} median "
                     f"{statistics.median(ready)} max {max(ready)}")
    for k, v in stats.get("per_publisher", {}).items():
        lines.append(f"  {k}: sent {v['sent']} acked {v['acked']}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="build directory with revmq and revmq-bench")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--graceful", type=int, default=None, help="graceful restarts (kills/5, at least 1)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--rate", type=float, default=50.0, help="messages/s of each paho publisher")
    ap.add_argument("--workdir", default=None, help="where the broker's data_dir and log go "
                    "(default: a new directory under $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory even on success")
    ap.add_argument("--conf", action="append", default=[], help="extra revmq config line")
    ap.add_argument("--drain", type=float, default=None, help="seconds to wait at the end for "
                    "every acked message to arrive (default 60 + acked/500)")
    ap.add_argument("--json", default=None, help="write the summary as JSON to this file")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1 << 31)
    if args.graceful is None:
        args.graceful = max(1, args.kills // 5)
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
        work = tempfile.mkdtemp(prefix=f"seed{args.seed}-", dir=args.workdir)
    else:
        work = tempfile.mkdtemp(prefix=f"store-torture-seed{args.seed}-")
    stats = {"seed": args.seed, "minutes": args.minutes, "kills": 0, "graceful": 0,
             "events": [], "ready_s": [], "down_at": [], "graceful_exit_codes": [],
             "workdir": work, "command": " ".join([sys.executable] + sys.argv)}

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C too, explicitly: a shell starts background jobs with SIGINT
    # ignored, and Python then installs no handler of its own for it.
    signal.signal(signal.SIGINT, on_term)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # stacks, for a stuck stop
    status = 2
    try:
        problems, errors = run(args, work, stats)
        status = 1 if problems else (2 if errors else 0)
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); stopping everything")
        stats["harness_errors"] = ["interrupted"]
    except (BrokerError, AssertionError, OSError, subprocess.SubprocessError) as e:
        log(f"harness failure: {e}")
        stats["harness_errors"] = [str(e)[:4000]]
    finally:
        cleanup(stats)
    stats.pop("_state", None)
    print(summary(stats))
    for p in stats.get("problems", []):
        print("PROBLEM:", p)
    for e in stats.get("harness_errors", []):
        print("HARNESS:", e)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(stats, f, indent=1)
    with open(os.path.join(work, "summary.json"), "w") as f:
        json.dump(stats, f, indent=1)
    if status == 0 and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work directory kept: {work} (broker/broker.log, broker/data, records.json, summary.json)")
    print("RESULT:", {0: "PASS", 1: "FAIL (loss or violation)", 2: "HARNESS ERROR"}[status])
    return status


if __name__ == "__main__":
    sys.exit(main())
