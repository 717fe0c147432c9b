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
        try:
            rest, _ = p.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGUSR1)  # the script dumps every thread's stack
            time.sleep(2)
            p.kill()
            rest, _ = p.communicate()
            pytest.fail("not stopped 90 s after SIGINT; its output and stacks:\n"
                        + rest[-8000:])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 2, rest[-3000:]
    assert "interrupted" in rest and "RESULT: HARNESS ERROR" in rest, rest[-3000:]
    assert _procs_with(["-p", port]) == [] and _procs_with(["--port", port]) == []
    assert _procs_with([conf[0]]) == []
    assert os.path.exists(work)


def test_checker_reports_each_violation():
    """The script's checker on made-up records: each kind of violation is reported."""
    sys.path.insert(0, str(SCRIPT.parent))
    import store_torture as st

    stop = None
    p1 = st.PahoPub("a", 0, 1, 4, stop, 0)
    p2 = st.PahoPub("b", 0, 2, 5, stop, 0)
    p1.n, p1.acked = 4, {1, 2, 3, 4}
    p2.n, p2.acked = 3, {1, 2, 3}

    def sub(cid, trace, group=None):
        s = st.Sub(cid, 0, 5, "tt/#", "online", group=group)
        s.trace = [(pl, q, False) for pl, q in trace]
        s.subscribed = True
        return s

    full = [("a:1", 1), ("a:2", 1), ("a:2", 1), ("a:3", 1), ("a:4", 1),
            ("b:1", 2), ("b:2", 2), ("b:3", 2)]
    good = sub("good", full)
    counts, problems, _ = st.verify([p1, p2], [good], 0)
    assert problems == [] and counts["lost"] == 0 and counts["duplicates"] == 1, problems
    lost = sub("lost", [t for t in full if t[0] != "a:3"])
    dup2 = sub("dup2", full + [("b:2", 2)])
    order = sub("order", [("a:2", 1), ("a:1", 1), ("a:3", 1), ("a:4", 1)] + full[5:])
    ghost = sub("ghost", full + [("b:9", 2)])
    qos = sub("qos", full[:5] + [("b:1", 1), ("b:2", 2), ("b:3", 2)])
    gone = sub("gone", full)
    gone.sessions_lost = [1.0]
    # a shared group: together complete, no order required; a gap shared by both is lost
    sh1 = sub("sh1", [("a:2", 1), ("a:1", 1), ("b:1", 2)], group="g")
    sh2 = sub("sh2", [("a:4", 1), ("b:2", 2), ("b:3", 2)], group="g")
    counts, problems, lost_ids = st.verify([p1, p2], [lost, dup2, order, ghost, qos, gone,
                                                       sh1, sh2], 0)
    text = "\n".join(problems)
    assert "lost (online" in text and "LOST 1 acknowledged messages of a (paho QoS 1" in text
    assert "dup2 (online" in text and "b QoS 2 delivered more than once: ids [2]" in text
    assert "order: a out of order" in text
    assert "ghost: a message nobody sent: 'b:9'" in text
    assert "qos: b:1 arrived with QoS 1, sent with 2" in text
    assert "gone: session lost" in text
    assert "shared group g (sh1, sh2): LOST 1 acknowledged messages of a" in text
    assert "out of order" not in "\n".join(p for p in problems if "shared" in p)
    assert counts["lost"] == 2 and counts["qos2_duplicates"] == 1, counts
    assert lost_ids["shared group g (sh1, sh2) / a"] == [3], lost_ids
