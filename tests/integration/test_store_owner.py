"""A restored session keeps its owner principal (issue 14 with issue 12).

A device's session over mutual TLS, with a queued message, survives a SIGKILL
and a restart; afterwards an anonymous client on the plain TCP listener is
still refused that client id (resume or clean start) and reads nothing, and the
device itself resumes its session and gets its queue.
"""
import pytest

import helpers
from helpers import V5, V311
from test_authn_takeover import devs, start, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.revmq_only


@pytest.mark.parametrize("version, code", [(V311, 5), (V5, 0x87)])
def test_restored_certificate_session_refuses_anonymous(broker_factory, world, devs,  # noqa: F811
                                                        raw_client, version, code):
    w = world
    b = start(broker_factory, w)
    dev = devs(b.ports["ssl:default"], w, w.good, "device-1")
    dev.c.subscribe("cmd/device-1", qos=1)
    dev.c.disconnect()
    pub = raw_client(b)
    pub.connect("pub")
    pub.publish("cmd/device-1", b"queued", qos=1)
    pub.close()
    b.kill()
    mark = b.log_mark()
    b.start()
    b.wait_for_log(r"store: loaded sessions=1 .* messages=1 ", since=mark)
    for clean in (False, True):
        att = raw_client(b, version=version)
        assert att.connect("device-1", clean=clean, expect_rc=None).rc == code
        with pytest.raises((helpers.ConnectionClosed, TimeoutError)):
            att.expect(helpers.PUBLISH, 0.5)
    b.wait_for_log(r"session takeover refused client_id=device-1 .*principal=anonymous "
                   r'owner_principal=cert owner_cn="good" owner_serial=%s' % w.good.serial_hex,
                   since=mark)
    again = devs(b.ports["ssl:nocrl"], w, w.good, "device-1")
    assert again.c.session_present
    assert again.c.wait_topic("cmd/device-1").payload == b"queued"
