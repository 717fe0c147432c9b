"""Store latency in the metrics (issue 15): a QoS 1 message for a persistent
session is committed (one fsync) before its PUBACK, and the commit shows in
revmq_store_commit_seconds; QoS 0 and clean sessions never touch the store."""

import time

import pytest

from helpers import V5, PUBACK, paho_connect, props
from paho.mqtt.packettypes import PacketTypes
from test_admin_api import Admin, admin_conf
from test_admin_revocation import prom_value

pytestmark = pytest.mark.revmq_only


def store_count(a):
    p = a.get("/api/v5/prometheus/stats")
    assert "# TYPE revmq_store_commit_seconds summary" in p
    assert prom_value(p, "revmq_store_commit_failures_total") == 0
    return prom_value(p, "revmq_store_commit_seconds_count")


def rows(a):
    """(rows put off, rows never written) from the metrics."""
    p = a.get("/api/v5/prometheus/stats")
    return (prom_value(p, "revmq_store_rows_put_off_total"),
            prom_value(p, "revmq_store_rows_skipped_total"))


def settled_count(a):
    """The commit count once the session writes of the setup are committed
    (unchanged across 0.6 s: more than two 250 ms ticks)."""
    prev = store_count(a)
    for _ in range(20):
        time.sleep(0.6)
        cur = store_count(a)
        if cur == prev:
            return cur
        prev = cur
    raise AssertionError("the store kept committing while nothing was published")


def test_store_commits_are_measured(broker_factory, tmp_path, raw_client, uid):
    aconf, aport = admin_conf(tmp_path)
    b = broker_factory(aconf)
    a = Admin(aport)
    sub = raw_client(b, V5)
    sub.connect(f"keep-{uid}", clean=False, props={"session_expiry_interval": 3600})
    sub.subscribe(("kept/#", 1))
    sub.close()
    pub = raw_client(b, V5)
    pub.connect(f"pub-{uid}")
    before = settled_count(a)
    pub.publish("volatile/x", b"q0", qos=0)  # no persistent subscriber, QoS 0: no commit
    ack = pub.publish("volatile/y", b"q1", qos=1)
    assert ack.type == PUBACK
    assert store_count(a) == before
    ack = pub.publish("kept/x", b"durable", qos=1)  # acknowledged once durable
    assert ack.type == PUBACK
    assert store_count(a) >= before + 1


@pytest.mark.parametrize("delay,deferred", [("1s", True), ("0", False)])
def test_online_subscriber_acking_first_costs_no_write(broker_factory, tmp_path, raw_client, uid,
                                                        delay, deferred):
    """durable_sessions.flush_delay: a message for a connected persistent
    subscriber is written only if the subscriber has not acknowledged it by
    then. paho acknowledges at once, so with 1 s nothing is committed and every
    publisher ack comes from the delivery (a few at most on a loaded machine);
    with 0 every message costs its own commit, as before."""
    aconf, aport = admin_conf(tmp_path)
    b = broker_factory(aconf + f"durable_sessions.flush_delay = {delay}\n")
    a = Admin(aport)
    sub = paho_connect(b.port, f"fast-{uid}", version=V5, clean=False,
                       props=props(PacketTypes.CONNECT, SessionExpiryInterval=3600))
    sub.subscribe(f"fast/{uid}", qos=1)
    pub = raw_client(b, V5)
    pub.connect(f"pub-{uid}")
    before = settled_count(a)
    rows0 = rows(a)
    for i in range(50):
        assert pub.publish(f"fast/{uid}", b"m%02d" % i, qos=1).type == PUBACK
    got = [m.payload for m in sub.wait_for(50)]
    assert sorted(got) == [b"m%02d" % i for i in range(50)]
    sub.disconnect()
    commits = store_count(a) - before
    put_off, skipped = (x - y for x, y in zip(rows(a), rows0))
    if deferred:
        assert commits <= 5, commits  # the disconnect writes the session; a slow ack or two
        assert put_off == 50 and skipped >= 45, (put_off, skipped)
    else:
        assert commits >= 50, commits
        assert (put_off, skipped) == (0, 0)
