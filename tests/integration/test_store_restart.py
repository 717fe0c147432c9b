"""Durable state across restarts (issue 14, src/store, docs/persistence.md).

Real broker processes: a graceful stop or a SIGKILL, then a restart on the
same node.data_dir; clients reconnect and find their sessions.
"""
import sqlite3

import pytest

from helpers import PUBLISH, PUBREL, PUBCOMP, RawClient, build_ack, wait_until

pytestmark = pytest.mark.revmq_only

EXP = {"session_expiry_interval": 300}


def start_again(b):
    """Starts b again; returns the log offset of this run (for wait_for_log)."""
    mark = b.log_mark()
    b.start()
    return mark


def raw(b, version=5):
    return RawClient(b.port, version=version)


def persistent_sub(b, cid, filt, qos=1, version=5, props=None):
    c = raw(b, version)
    c.connect(cid, clean=False, props=(props or EXP) if version == 5 else None)
    c.subscribe((filt, qos))
    c.disconnect()
    c.close()


def resume(b, cid, version=5, props=None):
    c = raw(b, version)
    ack = c.connect(cid, clean=False, props=(props or EXP) if version == 5 else None)
    return c, ack


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_offline_queue_survives_restart(broker_factory, uid, how):
    b = broker_factory()
    persistent_sub(b, f"s{uid}", f"t/{uid}/#", qos=2)
    persistent_sub(b, f"v3{uid}", f"t/{uid}/#", qos=1, version=4)
    p = raw(b)
    p.connect(f"p{uid}")
    for i in range(10):
        p.publish(f"t/{uid}/{i}", f"m{i}".encode(), qos=1 + i % 2)
    p.close()
    b.kill() if how == "kill" else b.stop()
    mark = start_again(b)
    m = b.wait_for_log(r"store: loaded sessions=(\d+) .* subscriptions=\d+ messages=(\d+) .*took_ms=\d+", since=mark)
    assert int(m.group(1)) == 2 and int(m.group(2)) == 20, m.group(0)
    for cid, version in ((f"s{uid}", 5), (f"v3{uid}", 4)):
        c, ack = resume(b, cid, version)
        assert ack.session_present
        got = c.recv_publishes(10)
        assert sorted(x.payload for x in got) == sorted(f"m{i}".encode() for i in range(10))
        c.disconnect()
        c.close()
    # Acknowledged by the subscribers: not sent again after another restart.
    b.kill()
    b.start()
    c, ack = resume(b, f"s{uid}")
    assert ack.session_present
    assert [x for x in c.drain(0.5) if x.type == PUBLISH] == []
    c.close()


def test_inflight_resent_with_dup_after_kill(broker_factory, uid):
    b = broker_factory()
    s, _ = resume(b, f"s{uid}")
    s.subscribe((f"d/{uid}", 2))
    p = raw(b)
    p.connect(f"p{uid}")
    p.publish(f"d/{uid}", b"one", qos=1)
    p.publish(f"d/{uid}", b"two", qos=2)
    first = s.recv_publishes(2, ack=False)
    assert [x.dup for x in first] == [False, False]
    b.kill()
    s.close()
    p.close()
    b.start()
    s, ack = resume(b, f"s{uid}")
    assert ack.session_present
    again = s.recv_publishes(2, ack=False)
    assert [(x.payload, x.pid, x.dup) for x in again] == [(f.payload, f.pid, True) for f in first]
    # QoS 2 past PUBREC: after a restart the broker sends PUBREL, not the message.
    s.send(build_ack(5, again[1].pid, version=5))  # PUBREC
    s.expect(PUBREL, pid=again[1].pid)
    b.kill()
    s.close()
    b.start()
    s, _ = resume(b, f"s{uid}")
    pkts = s.drain(0.5)
    assert [(x.type, x.pid) for x in pkts if x.type in (PUBLISH, PUBREL)] == [
        (PUBLISH, again[0].pid), (PUBREL, again[1].pid)]
    s.send(build_ack(PUBCOMP, again[1].pid, version=5))
    s.close()


def test_incoming_qos2_exactly_once_across_kill(broker_factory, uid):
    """A QoS 2 PUBLISH acknowledged with PUBREC, then the broker dies before
    PUBREL: the client resends it with DUP; it must not be routed twice."""
    b = broker_factory()
    persistent_sub(b, f"s{uid}", f"q/{uid}", qos=2)
    p, _ = resume(b, f"p{uid}")
    p.send(__import__("helpers").build_publish(f"q/{uid}", b"x", qos=2, pid=7, version=5))
    p.expect(5, pid=7)  # PUBREC
    b.kill()
    p.close()
    b.start()
    p, ack = resume(b, f"p{uid}")
    assert ack.session_present
    p.send(__import__("helpers").build_publish(f"q/{uid}", b"x", qos=2, pid=7, dup=True,
                                               version=5))
    p.expect(5, pid=7)
    p.send(build_ack(PUBREL, 7, version=5))
    p.expect(PUBCOMP, pid=7)
    p.close()
    s, _ = resume(b, f"s{uid}")
    got = [x for x in s.drain(0.7) if x.type == PUBLISH]
    assert [x.payload for x in got] == [b"x"]
    s.close()


def test_session_expiry_counts_time_down(broker_factory, uid):
    b = broker_factory()
    persistent_sub(b, f"short{uid}", "e/#", props={"session_expiry_interval": 1})
    persistent_sub(b, f"long{uid}", "e/#", props={"session_expiry_interval": 600})
    b.stop()
    import time
    time.sleep(1.3)
    mark = start_again(b)
    b.wait_for_log(r"store: loaded sessions=2 expired_sessions=1 ", since=mark)
    c, ack = resume(b, f"short{uid}", props={"session_expiry_interval": 1})
    assert not ack.session_present
    c.close()
    c, ack = resume(b, f"long{uid}")
    assert ack.session_present
    c.close()


def test_message_expiry_while_down(broker_factory, uid):
    b = broker_factory()
    persistent_sub(b, f"s{uid}", f"x/{uid}")
    p = raw(b)
    p.connect(f"p{uid}")
    p.publish(f"x/{uid}", b"short", qos=1, props={"message_expiry_interval": 1})
    p.publish(f"x/{uid}", b"long", qos=1, props={"message_expiry_interval": 600})
    p.close()
    b.stop()
    import time
    time.sleep(1.3)
    mark = start_again(b)
    b.wait_for_log(r"store: loaded .*messages=1 messages_on_disk=0 inflight=0 expired_messages=1 ", since=mark)
    s, _ = resume(b, f"s{uid}")
    got = s.recv_publish()
    assert got.payload == b"long"
    left = got.props.get("message_expiry_interval")
    assert left is not None and 0 < left <= 600
    assert [x for x in s.drain(0.3) if x.type == PUBLISH] == []
    s.close()


def test_messages_on_disk_that_expired_while_down_are_dropped_at_start(broker_factory, uid):
    """Messages kept on disk only (beyond max_mqueue_len) that expired while the
    broker was down are dropped at start-up and counted there, not counted as
    on disk and dropped only when read back (before: messages_on_disk=41,
    expired_messages=0)."""
    b = broker_factory("mqtt.max_mqueue_len = 10\n")
    persistent_sub(b, f"s{uid}", f"y/{uid}")
    p = raw(b)
    p.connect(f"p{uid}")
    long = {"message_expiry_interval": 600}
    for i in range(10):
        p.publish(f"y/{uid}", b"k%02d" % i, qos=1, props=long)
    for i in range(40):
        p.publish(f"y/{uid}", b"e%02d" % i, qos=1, props={"message_expiry_interval": 1})
    p.publish(f"y/{uid}", b"last", qos=1, props=long)
    p.close()
    b.stop()
    import time
    time.sleep(1.3)
    mark = start_again(b)
    b.wait_for_log(r"store: loaded .*messages=10 messages_on_disk=1 inflight=0 "
                   r"expired_messages=40 ", since=mark)
    s, _ = resume(b, f"s{uid}")
    got = [x.payload for x in s.recv_publishes(11)]
    assert got == [b"k%02d" % i for i in range(10)] + [b"last"]
    assert [x for x in s.drain(0.3) if x.type == PUBLISH] == []
    s.close()


def test_will_delay_across_restart(broker_factory, uid):
    b = broker_factory()
    w = raw(b)
    w.connect(f"w{uid}", clean=False, props={"session_expiry_interval": 300},
              will={"topic": f"will/{uid}", "payload": b"gone", "qos": 1,
                    "props": {"will_delay_interval": 2}})
    w.abort()
    b.wait_for_log(rf"disconnected.*w{uid}|connection lost|closed", timeout=5)
    b.stop()
    mark = start_again(b)
    b.wait_for_log(r"store: loaded .*wills=1 ", since=mark)
    s = raw(b)
    s.connect(f"s{uid}")
    s.subscribe((f"will/{uid}", 1))
    got = s.recv_publish(timeout=5)
    assert got.payload == b"gone"
    s.close()


def test_retained_survive_kill(broker_factory, uid):
    b = broker_factory()
    p = raw(b)
    p.connect(f"p{uid}")
    p.publish(f"r/{uid}/a", b"1", qos=1, retain=True)
    p.publish(f"r/{uid}/a", b"2", qos=1, retain=True)
    p.publish(f"r/{uid}/b", b"b", qos=1, retain=True)
    p.publish(f"r/{uid}/b", b"", qos=1, retain=True)  # deletes it
    p.close()
    b.kill()
    b.start()
    s = raw(b)
    s.connect(f"s{uid}")
    s.subscribe((f"r/{uid}/#", 1))
    got = [x for x in s.drain(0.7) if x.type == PUBLISH]
    assert [(x.topic, x.payload, x.retain) for x in got] == [(f"r/{uid}/a", b"2", True)]
    s.close()


def test_clean_sessions_and_qos0_never_touch_disk(broker_factory, uid):
    b = broker_factory()
    s = raw(b)
    s.connect(f"s{uid}")  # clean, expiry 0
    s.subscribe((f"c/{uid}", 1))
    p = raw(b)
    p.connect(f"p{uid}")
    for i in range(5):
        p.publish(f"c/{uid}", b"x", qos=1)
    s.recv_publishes(5)
    p.close()
    s.close()
    b.stop()
    db = sqlite3.connect(str(b.data_dir / "store.db"))
    n = [db.execute(f"select count(*) from {t}").fetchone()[0]
         for t in ("sessions", "subs", "deliveries", "rel")]
    db.close()
    assert n == [0, 0, 0, 0]
    b.start()


def test_durable_sessions_disabled(broker_factory, uid):
    b = broker_factory("durable_sessions.enable = false")
    persistent_sub(b, f"s{uid}", "z/#")
    b.stop()
    mark = start_again(b)
    b.wait_for_log(r"durable_sessions.enable = false", since=mark)
    c, ack = resume(b, f"s{uid}")
    assert not ack.session_present
    c.close()
    assert not (b.data_dir / "store.db").exists()


def test_corrupt_store_set_aside(broker_factory, uid):
    b = broker_factory()
    persistent_sub(b, f"s{uid}", "z/#")
    b.stop()
    for f in b.data_dir.glob("store.db*"):
        f.unlink()
    (b.data_dir / "store.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 8192)
    mark = start_again(b)
    b.wait_for_log(r"CORRUPT store set aside.*kept_as=\S*store\.db\.corrupt-\d+", since=mark)
    b.wait_for_log(r"store: loaded sessions=0 ", since=mark)
    assert list(b.data_dir.glob("store.db.corrupt-*"))
    c, ack = resume(b, f"s{uid}")
    assert not ack.session_present
    c.close()
