"""Retained limits (retainer.*) and disk trouble (issue 14)."""
import os

import pytest

from helpers import PUBLISH, RawClient

pytestmark = pytest.mark.revmq_only


def retained_of(b, filt):
    s = RawClient(b.port, version=5)
    s.connect("")
    s.subscribe((filt, 1))
    got = [(x.topic, x.payload) for x in s.drain(0.5) if x.type == PUBLISH]
    s.close()
    return sorted(got)


def test_max_retained_messages(broker_factory, uid):
    b = broker_factory("retainer.max_retained_messages = 2")
    p = RawClient(b.port, version=5)
    p.connect(f"p{uid}")
    for t in ("a", "b", "c"):
        p.publish(f"r/{uid}/{t}", t.encode(), qos=1, retain=True)
    b.wait_for_log(r"retained: not retained: retainer.max_retained_messages reached "
                   rf"topic=r/{uid}/c max=2")
    p.publish(f"r/{uid}/a", b"a2", qos=1, retain=True)  # replacing is allowed at the limit
    p.publish(f"r/{uid}/b", b"", qos=1, retain=True)  # deleting frees a slot
    p.publish(f"r/{uid}/c", b"c", qos=1, retain=True)
    p.close()
    assert retained_of(b, f"r/{uid}/#") == [(f"r/{uid}/a", b"a2"), (f"r/{uid}/c", b"c")]
    b.kill()
    b.start()
    assert retained_of(b, f"r/{uid}/#") == [(f"r/{uid}/a", b"a2"), (f"r/{uid}/c", b"c")]


def test_max_payload_size(broker_factory, uid):
    b = broker_factory("retainer.max_payload_size = 1KB")
    s = RawClient(b.port, version=5)
    s.connect(f"s{uid}")
    s.subscribe((f"r/{uid}/#", 1))
    p = RawClient(b.port, version=5)
    p.connect(f"p{uid}")
    p.publish(f"r/{uid}/big", b"x" * 1025, qos=1, retain=True)
    p.publish(f"r/{uid}/ok", b"x" * 1024, qos=1, retain=True)
    b.wait_for_log(rf"not retained: payload over retainer.max_payload_size topic=r/{uid}/big "
                   r"size=1025 max=1024")
    # Still delivered to the live subscriber, only not retained.
    assert len([x for x in s.recv_publishes(2)]) == 2
    assert [t for t, _ in retained_of(b, f"r/{uid}/#")] == [f"r/{uid}/ok"]
    p.close()
    s.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes")
def test_read_only_store_keeps_serving(broker_factory, uid):
    b = broker_factory()
    b.stop()
    os.chmod(b.data_dir / "store.db", 0o444)
    b.start()
    s = RawClient(b.port, version=5)
    s.connect(f"s{uid}", clean=False, props={"session_expiry_interval": 60})
    s.subscribe((f"ro/{uid}", 1))
    p = RawClient(b.port, version=5)
    p.connect(f"p{uid}")
    p.publish(f"ro/{uid}", b"m", qos=1)
    assert s.recv_publish().payload == b"m"
    b.wait_for_log(r"store: write failed, acknowledged messages are NO LONGER DURABLE")
    p.close()
    s.close()


def test_disk_full_keeps_serving_and_says_so(broker_factory, uid):
    """The broker runs under a file size limit (prlimit --fsize): the store's
    writes fail as on a full disk. Clients are still served; the log says that
    acknowledged messages are no longer durable; nothing crashes."""
    b = broker_factory(start=False)
    base = b.command
    b.command = lambda: ["prlimit", "--fsize=262144"] + base()
    b.start()
    s = RawClient(b.port, version=5)
    s.connect(f"s{uid}", clean=False, props={"session_expiry_interval": 60})
    s.subscribe((f"full/{uid}", 1))
    p = RawClient(b.port, version=5)
    p.connect(f"p{uid}")
    for i in range(4):
        p.publish(f"full/{uid}", bytes([65 + i]) * 100000, qos=1)
        assert s.recv_publish().payload[:1] == bytes([65 + i])
    b.wait_for_log(r"store: write failed, acknowledged messages are NO LONGER DURABLE until the "
                   r"store recovers \(still serving from memory\) what=\S+ path=\S+store\.db "
                   r"error=")
    p.publish(f"full/{uid}", b"small", qos=1)
    assert s.recv_publish().payload == b"small"
    p.close()
    s.close()
    b.stop()  # exits 0, no sanitizer report
