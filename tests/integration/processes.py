"""Integration-test processes: free ports, waiting for conditions, and the
broker under test (revmq, or Debian's mosquitto with RMQ_TEST_PEER=mosquitto).

Part of the helpers (helpers.py re-exports everything here); see helpers.py
for the environment variables.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import pytest

# --------------------------------------------------------------------------
# generic
# --------------------------------------------------------------------------

HOST = "127.0.0.1"

# @VERSIONS on a test runs it for MQTT 3.1.1 and 5.0 (protocol levels 4 and 5)
VERSIONS = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "ThreadSanitizer:",
)


def build_dir() -> Path:
    return Path(os.environ.get("RMQ_BUILD_DIR", "/work/main/build"))


def peer_kind() -> str:
    """'revmq' or 'mosquitto' (RMQ_TEST_PEER)."""
    return os.environ.get("RMQ_TEST_PEER", "revmq").strip() or "revmq"


def use_valgrind() -> bool:
    return os.environ.get("RMQ_TEST_VALGRIND", "") in ("1", "true", "yes")


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(cond: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01,
               what: str = "condition") -> Any:
    """Polls cond() until it returns a truthy value; returns that value.

    Raises AssertionError naming `what` when `timeout` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# broker process
# --------------------------------------------------------------------------



def thread_stacks(pid: int) -> str:
    """Every thread's stack of a live process (gdb, batch mode), so a hang
    that happens only under load leaves its evidence in the test report."""
    try:
        r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex",
                            "thread apply all bt"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"(no stacks: {e})"
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(("Thread", "#"))]
    return "\n".join(lines[-300:]) or r.stderr[-2000:]

class BrokerError(AssertionError):
    pass


class Broker:
    """One broker process on loopback.

    conf:            HOCON text for revmq (appended after the defaults below).
    mosquitto_conf:  mosquitto.conf lines used instead when the peer is mosquitto
                     (None with a non-empty `conf`: the test is skipped for that peer
                     by the fixture, since the setting is revmq-specific).
    env:             extra environment variables for the process.
    extra_listeners: e.g. ["ssl:default"]: a free port is picked for each, the bind
                     line written (``listeners.ssl.default.bind = "127.0.0.1:P"``),
                     the port exposed as ``ports["ssl:default"]``, and start()
                     waits for its ``listener: started`` line too.
    default_listener: False: ``listeners.tcp.default.enable = false`` is written
                     instead of its bind line (revmq has that listener, on
                     127.0.0.1:1883, unless disabled); the test's conf or
                     extra_listeners define the listeners.
    raw:             True: write `conf` verbatim, no defaults at all.

    Defaults written before `conf`: node.data_dir (under tmp_path) and
    ``listeners.tcp.default.bind = "127.0.0.1:<free port>"``.

    stdout+stderr go to ``log_path``. ``stop()`` sends SIGTERM and asserts exit code
    0 and no sanitizer/valgrind report in the log.
    """

    def __init__(self, tmp_path: Path, conf: str = "", *, env: Optional[dict] = None,
                 mosquitto_conf: Optional[str] = None, extra_listeners: Iterable[str] = (),
                 default_listener: bool = True, raw: bool = False, name: str = "broker",
                 peer: Optional[str] = None, valgrind: Optional[bool] = None,
                 log_level: Optional[str] = None):
        self.peer = peer or peer_kind()
        self.valgrind = use_valgrind() if valgrind is None else valgrind
        if self.peer != "revmq":
            self.valgrind = False
        self.dir = Path(tmp_path) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.log_path = self.dir / "broker.log"
        self.config_path = self.dir / ("mosquitto.conf" if self.peer == "mosquitto" else "revmq.conf")
        self.env = dict(env or {})
        self.host = HOST
        self.ports: dict[str, int] = {}
        self.listeners: list[str] = []
        if default_listener:
            self.ports["tcp:default"] = free_port()
            self.listeners.append("tcp:default")
        for spec in extra_listeners:
            self.ports[spec] = free_port()
            self.listeners.append(spec)
        self.proc: Optional[subprocess.Popen] = None
        self._logf = None
        self.exit_codes: list[int] = []
        self._write_config(conf, mosquitto_conf, raw, log_level)

    # -- config ------------------------------------------------------------
    def _write_config(self, conf, mosquitto_conf, raw, log_level):
        if self.peer == "mosquitto":
            lines = [
                f"listener {self.port} {HOST}",
                "allow_anonymous true",
                "persistence false",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "log_timestamp_format %Y-%m-%dT%H:%M:%S",
                "",
                mosquitto_conf or "",
            ]
            self.config_path.write_text("\n".join(lines) + "\n")
            return
        if raw:
            self.config_path.write_text(conf)
            return
        lines = [f'node.data_dir = "{self.data_dir}"']
        if "tcp:default" not in self.listeners:
            # revmq always has listeners.tcp.default (127.0.0.1:1883) unless disabled
            lines.append("listeners.tcp.default.enable = false")
        if log_level:
            lines.append(f"log.level = {log_level}")
        for spec in self.listeners:
            kind, lname = spec.split(":", 1)
            lines.append(f'listeners.{kind}.{lname}.bind = "{HOST}:{self.ports[spec]}"')
        lines += ["", conf]
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def port(self) -> int:
        """Port of the default TCP listener."""
        return self.ports["tcp:default"]

    # -- process -----------------------------------------------------------
    def command(self) -> list[str]:
        if self.peer == "mosquitto":
            return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.config_path)]
        exe = build_dir() / "revmq"
        if not exe.exists():
            raise BrokerError(f"{exe} does not exist (set RMQ_BUILD_DIR)")
        cmd = [str(exe), "-c", str(self.config_path)]
        if self.valgrind:
            # --max-stackframe: OpenSSL ASYNC jobs (suspended handshakes) switch
            # stacks, which valgrind otherwise reports as invalid reads.
            cmd = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                   "--max-stackframe=30000", "--error-exitcode=99", "--quiet"] + cmd
        return cmd

    def process_env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("REVMQ_") or k.startswith("EMQX_"))}
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.env)
        return env

    def start(self, wait_ready: bool = True, timeout: Optional[float] = None) -> "Broker":
        if self.proc is not None and self.proc.poll() is None:
            raise BrokerError("broker already running")
        self._logf = open(self.log_path, "ab")
        self._logf.write(f"==== test harness: starting {' '.join(self.command())}\n".encode())
        self._logf.flush()
        self._log_start = self._logf.tell()
        self.proc = subprocess.Popen(self.command(), stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.process_env(),
                                     cwd=str(self.dir))
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def startup_timeout(self) -> float:
        return 30.0 if self.valgrind else 10.0

    def wait_ready(self, timeout: Optional[float] = None):
        """Waits for a `listener: started name=N kind=K` line per listener.

        If after a second the log shows no such line at all (a broker that
        prints something else), falls back to probing each TCP port with a
        connect every 0.25 s. Fails at once if the process exits.
        """
        timeout = timeout or self.startup_timeout()
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        last_probe = 0.0
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.exit_codes.append(rc)
                self.proc = None
                self._close_log()
                raise BrokerError(f"broker exited with {rc} during start-up; log:\n{self.log_tail()}")
            text = self.log_text(since_start=True)
            if self.peer == "mosquitto":
                if re.search(r"mosquitto version \S+ running", text):
                    return
            else:
                missing = [s for s in self.listeners if not self._listener_started(text, s)]
                if not missing:
                    return
                now = time.monotonic()
                if ("listener: started" not in text and now - t0 > 1.0
                        and now - last_probe > 0.25):
                    last_probe = now
                    if all(self._probe(self.ports[s]) for s in self.listeners):
                        return
            if time.monotonic() > deadline:
                raise BrokerError(f"broker not ready after {timeout}s; log:\n{self.log_tail()}")
            time.sleep(0.01)

    @staticmethod
    def _listener_started(text: str, spec: str) -> bool:
        kind, name = spec.split(":", 1)
        for m in re.finditer(r"listener: started(.*)", text):
            rest = m.group(1)
            if re.search(rf"\bname={re.escape(name)}(\s|$)", rest) and \
                    re.search(rf"\bkind={re.escape(kind)}(\s|$)", rest):
                return True
        return False

    def _probe(self, port: int) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            return False

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check: bool = True, timeout: Optional[float] = None) -> Optional[int]:
        """SIGTERM, wait, and (check=True) assert exit code 0 and a clean log."""
        if self.proc is None:
            return None
        timeout = timeout or (60.0 if self.valgrind else 20.0)
        rc = self.proc.poll()
        already_dead = rc is not None
        if not already_dead:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                stacks = thread_stacks(self.proc.pid)
                self.proc.kill()
                self.proc.wait(5)
                self._close_log()
                self.proc = None
                if check:
                    raise BrokerError(f"broker did not exit within {timeout}s of SIGTERM; "
                                      f"its threads:\n{stacks}\nlog:\n{self.log_tail()}")
                return None
        self.proc = None
        self._close_log()
        self.exit_codes.append(rc)
        if check:
            self.check_log_clean()
            if already_dead:
                raise BrokerError(f"broker died before stop() with exit code {rc}; log:\n"
                                  f"{self.log_tail()}")
            if rc == 99 and self.valgrind:
                raise BrokerError(f"valgrind found errors; log:\n{self.log_tail(120)}")
            if rc != 0:
                raise BrokerError(f"broker exit code {rc} after SIGTERM; log:\n{self.log_tail()}")
        return rc

    def kill(self):
        """SIGKILL without any checks (simulates a crash)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            self.proc = None
            self._close_log()

    def restart(self, wait_ready: bool = True) -> "Broker":
        self.stop()
        return self.start(wait_ready=wait_ready)

    def wait_exit(self, timeout: float = 10.0) -> int:
        """For brokers expected to exit by themselves (e.g. a bad config)."""
        rc = self.proc.wait(timeout)
        self.proc = None
        self._close_log()
        self.exit_codes.append(rc)
        return rc

    def _close_log(self):
        if self._logf is not None:
            self._logf.close()
            self._logf = None

    def check_log_clean(self):
        text = self.log_text()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                raise BrokerError(f"sanitizer report ({marker!r}) in broker log:\n{self.log_tail(150)}")
        if self.valgrind and re.search(r"==\d+== (Invalid|Conditional jump|Syscall param|"
                                       r"Mismatched free|Source and destination overlap)", text):
            raise BrokerError(f"valgrind error in broker log:\n{self.log_tail(150)}")

    # -- log ---------------------------------------------------------------
    def log_text(self, since_start: bool = False) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        if since_start:
            data = data[getattr(self, "_log_start", 0):]
        return data.decode("utf-8", "replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_mark(self) -> int:
        """Current log size; pass to wait_for_log(since=...) to see only newer lines."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_for_log(self, regex: str, timeout: float = 5.0, since: int = 0) -> re.Match:
        """Waits until `regex` (re.M) matches the log text after byte offset `since`."""
        pat = re.compile(regex, re.M)

        def find():
            try:
                data = self.log_path.read_bytes()[since:]
            except FileNotFoundError:
                return None
            return pat.search(data.decode("utf-8", "replace"))

        try:
            return wait_until(find, timeout, 0.02, what=f"log line /{regex}/")
        except AssertionError as e:
            raise AssertionError(f"{e}; log tail:\n{self.log_tail()}") from None
