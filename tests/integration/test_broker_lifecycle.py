"""Start-up and shutdown of the daemon: a broker stopped right after it started
exits promptly (the admin thread's stop request used to be lost when it came
before that thread's event loop had started: SIGTERM then waited up to a minute,
about one start in 150)."""

import pytest

pytestmark = pytest.mark.revmq_only


def test_stop_right_after_start_never_hangs(broker_factory):
    b = broker_factory(start=False)
    for _ in range(60):
        b.start()
        assert b.stop(timeout=5) == 0  # raises if it did not exit within 5 s
