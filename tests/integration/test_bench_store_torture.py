"""bench/store_torture.py (the long kill -9 torture of issue 14) in its short mode,
so the script keeps working: half a minute, 3 SIGKILLs (plain, during a
subscriber's reconnect, during a revmq-bench load burst) and a graceful restart
(seed 6 schedules those four); it must pass with the store on, and must fail (exit
1, acknowledged messages reported lost) with durable_sessions.enable = false.
Ctrl-C stops it with every process it started."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import build_dir, wait_until

pytestmark = [pytest.mark.revmq_only, pytest.mark.timeout(240)]

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "store_torture.py"


def torture(tmp_path, *args, timeout=200):
    out = tmp_path / "summary.json"
    p = subprocess.run([sys.executable, str(SCRIPT), "--build", str(build_dir()),
                        "--workdir", str(tmp_path / "work"), "--json", str(out), *args],
                       capture_output=True, text=True, timeout=timeout)
    if not out.exists():
        pytest.fail(f"no summary (rc {p.returncode}):\n{(p.stdout + p.stderr)[-6000:]}")
    stats = json.loads(out.read_text())
    return p.returncode, p.stdout + p.stderr, stats


def test_short_torture_passes(tmp_path):
    rc, out, st = torture(tmp_path, "--minutes", "0.5", "--kills", "3", "--seed", "6")
    assert rc == 0, out[-6000:]
    assert "RESULT: PASS" in out
    c = st["counts"]
    assert c["lost"] == 0 and c["qos2_duplicates"] == 0 and c.get("order_violations", 0) == 0, c
    assert st["kills"] == 3 and st["graceful"] == 1, st["events"]
    kinds = {k.split("(")[0] for _, k in st["events"]}
    assert kinds == {"kill", "kill-reconnect", "kill-load", "graceful"}, st["events"]
    # every publisher kind got messages acknowledged across the kills
    for name, v in st["per_publisher"].items():
        assert v["acked"] >= 20, (name, v)
    # 7 subscribers and one shared group (2 members), each with every acked message
    assert c["acked"] > 1000 and c["received"] >= 8 * c["acked"], c
    assert c["retained_checked"] == 4, c
    # one start-up line per start: the first and the four restarts
    assert len(st["store_loaded_took_ms"]) == 5, st["store_loaded_took_ms"]
    assert st["graceful_exit_codes"] == [0, 0], st["graceful_exit_codes"]


def test_short_torture_fails_without_the_store(tmp_path):
    rc, out, st = torture(tmp_path, "--minutes", "0.25", "--kills", "2", "--seed", "6",
                          "--drain", "10", "--conf", "durable_sessions.enable = false")
    assert rc == 1, out[-6000:]
    assert "RESULT: FAIL" in out and "LOST" in out
    assert st["counts"]["lost"] > 0, st["counts"]
    # the work directory with the evidence is kept
    assert (Path(st["workdir"]) / "records.json").exists()
    assert (Path(st["workdir"]) / "broker" / "broker.log").exists()


def _procs_with(words):
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(w.encode() in argv for w in words):
            found.append((d.name, argv))
    return found


def test_ctrl_c_stops_everything(tmp_path):
    work = tmp_path / "work"
    p = subprocess.Popen([sys.executable, str(SCRIPT), "--build", str(build_dir()),
                          "--workdir", str(work), "--minutes", "5", "--kills", "10",
                          "--seed", "6"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    try:
        line = wait_until(lambda: p.stdout.readline(), 30, what="first line")
        assert "revmq on 127.0.0.1:" in line, line
        port = line.split("127.0.0.1:")[1].split(",")[0]
        # publishers (mosquitto_pub -p PORT) and the broker are running
        wait_until(lambda: _procs_with(["-p", port]), 10, what="a mosquitto_pub")
        conf = [str(c) for c in work.glob("*/broker/revmq.conf")]
        assert len(conf) == 1 and _procs_with([conf[0]]), conf
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 2, rest[-3000:]
    assert "interrupted" in rest and "RESULT: HARNESS ERROR" in rest, rest[-3000:]
    assert _procs_with(["-p", port]) == [] and _procs_with(["--port", port]) == []
    assert _procs_with([conf[0]]) == []
    assert os.path.exists(work)
