"""Self-tests of the harness (helpers.Broker) against fake broker scripts, so
that a broker that crashes, hangs, exits non-zero or prints a sanitizer
report is really reported."""

import os
import stat

import pytest

from helpers import Broker, BrokerError, wait_until

FAKE = """#!/bin/bash
# fake revmq: $1 = -c, $2 = config file
{body}
"""


def fake(tmp_path, monkeypatch, body):
    d = tmp_path / "fakebuild"
    d.mkdir(exist_ok=True)
    exe = d / "revmq"
    exe.write_text(FAKE.format(body=body))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("RMQ_BUILD_DIR", str(d))
    return Broker(tmp_path, "", peer="revmq", valgrind=False)


READY = 'echo "2026-01-01T00:00:00.000Z info listener: started name=default kind=tcp bind=x"'


def test_ready_line_and_clean_stop(tmp_path, monkeypatch):
    b = fake(tmp_path, monkeypatch, f"trap 'exit 0' TERM\n{READY}\nwhile true; do sleep 0.05; done")
    b.start(timeout=5)
    assert b.is_running()
    mark = b.log_mark()
    assert b.wait_for_log(r"listener: started name=default", 1)
    assert b.stop() == 0
    assert "listener: started" in b.log_text()
    assert mark > 0


def test_nonzero_exit_on_sigterm_is_reported(tmp_path, monkeypatch):
    b = fake(tmp_path, monkeypatch, f"trap 'exit 3' TERM\n{READY}\nwhile true; do sleep 0.05; done")
    b.start(timeout=5)
    with pytest.raises(BrokerError, match="exit code 3"):
        b.stop()


def test_sanitizer_report_is_reported(tmp_path, monkeypatch):
    body = (f"trap 'echo \"x.c:1:2: runtime error: signed integer overflow\"; exit 0' TERM\n"
            f"{READY}\nwhile true; do sleep 0.05; done")
    b = fake(tmp_path, monkeypatch, body)
    b.start(timeout=5)
    with pytest.raises(BrokerError, match="sanitizer"):
        b.stop()


def test_thread_sanitizer_report_is_reported(tmp_path, monkeypatch):
    """make tsan: a data race report in the broker's log fails its teardown."""
    body = ("trap 'echo \"WARNING: ThreadSanitizer: data race (pid=1)\"; "
            "echo \"SUMMARY: ThreadSanitizer: data race net.c:1 in f\"; exit 0' TERM\n"
            f"{READY}\nwhile true; do sleep 0.05; done")
    b = fake(tmp_path, monkeypatch, body)
    b.start(timeout=5)
    with pytest.raises(BrokerError, match="ThreadSanitizer"):
        b.stop()


def test_exit_during_startup_is_reported(tmp_path, monkeypatch):
    b = fake(tmp_path, monkeypatch, 'echo "bad config: $2:3: nope" >&2; exit 1')
    with pytest.raises(BrokerError, match="exited with 1 during start-up") as e:
        b.start(timeout=5)
    assert "bad config" in str(e.value)
    assert b.stop() is None  # nothing left to stop


def test_never_ready_is_reported(tmp_path, monkeypatch):
    b = fake(tmp_path, monkeypatch, "trap 'exit 0' TERM\nwhile true; do sleep 0.05; done")
    with pytest.raises(BrokerError, match="not ready"):
        b.start(timeout=1.5)
    b.stop()


def test_death_before_stop_is_reported(tmp_path, monkeypatch):
    b = fake(tmp_path, monkeypatch, f"{READY}\nsleep 0.2\nexit 0")
    b.start(timeout=5)
    wait_until(lambda: not b.is_running(), 5, what="fake broker exit")
    with pytest.raises(BrokerError, match="died before stop"):
        b.stop()


def test_hang_on_sigterm_is_reported(tmp_path, monkeypatch):
    b = fake(tmp_path, monkeypatch, f"trap '' TERM\n{READY}\nwhile true; do sleep 0.1; done")
    b.start(timeout=5)
    with pytest.raises(BrokerError, match="did not exit"):
        b.stop(timeout=1)
    assert not b.is_running()


def test_config_written_with_defaults(tmp_path, monkeypatch):
    b = fake(tmp_path, monkeypatch, "exit 0")
    text = b.config_path.read_text()
    assert f'listeners.tcp.default.bind = "127.0.0.1:{b.port}"' in text
    assert f'node.data_dir = "{b.data_dir}"' in text
    assert os.path.isdir(b.data_dir)
