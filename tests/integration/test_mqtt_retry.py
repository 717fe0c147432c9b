"""mqtt.retry_interval: what an MQTT 3.1 / 3.1.1 client leaves unacknowledged is sent
again on the same connection (PUBLISH with DUP, PUBREL again); never to an MQTT 5
client, for which a resend is allowed only on reconnect (MQTT-4.4.0-1)."""

import time

import pytest

from helpers import PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, build_ack

RETRY = "mqtt.retry_interval = 1s"


def _pair(broker_factory, raw_client, version, qos, uid):
    b = broker_factory(RETRY)
    s = raw_client(b, version)
    s.connect(f"s-{uid}")
    s.subscribe((f"r/{uid}", qos))
    p = raw_client(b, 4)
    p.connect(f"p-{uid}")
    p.publish(f"r/{uid}", b"m1", qos=qos)
    return s


@pytest.mark.parametrize("version", [3, 4], ids=["v31", "v311"])
def test_v3_unacked_qos1_sent_again_with_dup(broker_factory, raw_client, version, uid):
    s = _pair(broker_factory, raw_client, version, 1, uid)
    first = s.recv_publish(ack=False)
    t0 = time.monotonic()
    assert not first.dup
    again = s.expect(PUBLISH, timeout=3)
    elapsed = time.monotonic() - t0
    assert (again.pid, again.payload, again.dup) == (first.pid, b"m1", True)
    assert 0.7 <= elapsed <= 2.5, f"resent after {elapsed:.2f}s, retry_interval is 1s"
    s.send(build_ack(PUBACK, again.pid, version=version))
    assert [q for q in s.drain(timeout=1.6) if q.type == PUBLISH] == []  # acked: done


def test_v311_qos2_publish_then_pubrel_sent_again(broker_factory, raw_client, uid):
    s = _pair(broker_factory, raw_client, 4, 2, uid)
    first = s.recv_publish(ack=False)
    again = s.expect(PUBLISH, timeout=3)
    assert (again.pid, again.dup) == (first.pid, True)
    s.send(build_ack(PUBREC, first.pid, version=4))
    s.expect(PUBREL, pid=first.pid)
    t0 = time.monotonic()
    s.expect(PUBREL, timeout=3, pid=first.pid)  # no PUBCOMP: PUBREL again
    assert 0.7 <= time.monotonic() - t0 <= 2.5
    s.send(build_ack(PUBCOMP, first.pid, version=4))
    assert [q for q in s.drain(timeout=1.6) if q.type in (PUBLISH, PUBREL)] == []


def test_v5_unacked_qos1_not_sent_again_on_same_connection(broker_factory, raw_client, uid):
    s = _pair(broker_factory, raw_client, 5, 1, uid)
    first = s.recv_publish(ack=False)
    assert [q for q in s.drain(timeout=2.5) if q.type == PUBLISH] == []  # MQTT-4.4.0-1
    s.send(build_ack(PUBACK, first.pid, version=5))
