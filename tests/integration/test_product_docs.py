"""Every command in docs/revocation.md and docs/migrating-from-emqx.md runs (issue 7).

The guides are executable. Their fenced blocks carry words after the language
(GitHub does not show them):

  ```sh test=NAME [retry=SECONDS]
      a command block of walk-through NAME. The blocks of one walk-through run in
      document order, each in a fresh `bash -e` in the same sandbox directory (so a
      block must not rely on shell variables of an earlier one, exactly as a reader
      pasting it would not). Background processes (`&`) stay up until the test ends,
      then their process groups are stopped. retry=S: run again (every 0.5 s) until it
      exits 0 and its expectations hold, for at most S seconds — the guide's way of
      saying "wait until".
  ```text expect
      what the previous command block must print: each line must match a line of its
      output (stdout + stderr), `…` matching anything.
  ```hocon fragment
      configuration shown for reading: checked with `revmq --check-config` after a
      minimal listener (certfile, keyfile, cacertfile, verify_peer) so it is complete.
  ```ini|hocon check-config file=NAME
      a complete configuration file: written to NAME in the sandbox before the
      walk-throughs run, and checked with `revmq --check-config -c NAME`.

Every sh/bash block must have a test= (test_every_command_block_is_run). The sandbox
puts $RMQ_BUILD_DIR first on PATH and replaces the guide's fixed ports (4664 revmq-ca,
8883 mTLS, 8888 openssl ocsp, 1883 TCP) with free ones, in commands and expectations.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import helpers

pytestmark = pytest.mark.revmq_only

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "revocation.md"
MIGRATION = ROOT / "docs" / "migrating-from-emqx.md"
DOCS = [GUIDE, MIGRATION]
GUIDE_PORTS = (4664, 8883, 8888, 1883)
SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


# --------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------


@dataclass
class Block:
    lang: str
    words: list
    body: str
    line: int  # 1-based line of the opening fence
    expect: list = field(default_factory=list)  # following `text expect` blocks

    def attr(self, key, default=None):
        for w in self.words:
            if w.startswith(key + "="):
                return w.split("=", 1)[1]
        return default


_FENCE = re.compile(r"^```(\S*)(.*)$")


def parse(path: Path) -> list:
    blocks, cur, lines = [], None, []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if cur is None:
            m = _FENCE.match(line)
            if m:
                cur = Block(m.group(1), m.group(2).split(), "", i)
                lines = []
        elif line.startswith("```"):
            cur.body = "\n".join(lines) + "\n"
            blocks.append(cur)
            cur = None
        else:
            lines.append(line)
    assert cur is None, f"{path.name}: unterminated fence at line {cur.line}"
    last_cmd = None
    for b in blocks:
        if b.lang in ("sh", "bash"):
            last_cmd = b
        elif b.lang == "text" and "expect" in b.words:
            assert last_cmd is not None, f"{path.name}:{b.line}: expect before any command"
            last_cmd.expect.append(b)
    return blocks


def scenario(path: Path, name: str) -> list:
    out = [b for b in parse(path) if b.lang in ("sh", "bash") and b.attr("test") == name]
    assert out, f"{path.name}: no blocks for test={name}"
    return out


def expect_patterns(text: str) -> list:
    pats = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            pats.append(re.compile(".*".join(re.escape(p) for p in line.split("…"))))
    return pats


# --------------------------------------------------------------------------
# the sandbox
# --------------------------------------------------------------------------


def group_members(pgid: int, root: Path) -> list:
    """PIDs in process group `pgid` whose working directory is under `root`: the
    processes this test started there (pid_max may be small, so a bare group id
    could by now belong to somebody else)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != pgid:  # fields: state, ppid, pgrp, ...
                continue
            cwd = os.readlink(d / "cwd")
        except (OSError, ValueError):
            continue
        if cwd == str(root) or cwd.startswith(str(root) + "/"):
            out.append(int(d.name))
    return out


def stop_pids(pids: list, timeout: float = 5.0):
    """SIGTERM, then SIGKILL after `timeout` for those still alive."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = []
            for pid in pids:
                try:
                    os.kill(pid, 0)
                    alive.append(pid)
                except ProcessLookupError:
                    pass
            if not alive:
                return
            time.sleep(0.05)
        pids = alive


class Sandbox:
    """A directory, a port map and the process groups of the blocks run in it."""

    def __init__(self, path: Path):
        self.dir = path
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ports = {p: helpers.free_port() for p in GUIDE_PORTS}
        self.groups: list[int] = []
        self.runs = 0
        self.transcript: list[str] = []
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("REVMQ_", "EMQX_"))}
        env["PATH"] = f"{helpers.build_dir()}:{env.get('PATH', '/usr/bin:/bin')}"
        self.env = env

    def subst(self, text: str) -> str:
        for fixed, real in self.ports.items():
            text = re.sub(rf"(?<![0-9]){fixed}(?![0-9])", str(real), text)
        return text

    def run_once(self, script: str, n: int, timeout: float = 60) -> tuple:
        out_path = self.dir / f".block-{n}.out"
        with open(out_path, "wb") as out:
            # a file, not a pipe: background children keep it open after bash exits
            p = subprocess.Popen(["bash", "-e", "-c", script], cwd=self.dir, env=self.env,
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                raise AssertionError(f"block timed out after {timeout}s:\n{script}")
        try:  # keep the group only while the block's background processes live in it
            os.killpg(p.pid, 0)
            self.groups.append(p.pid)
        except ProcessLookupError:
            pass
        return rc, out_path.read_text(errors="replace")

    def run(self, b: Block, path: Path):
        script = self.subst(b.body)
        pats = [p for e in b.expect for p in expect_patterns(self.subst(e.body))]
        retry = float(b.attr("retry", 0))
        deadline = time.monotonic() + retry
        while True:
            self.runs += 1
            rc, out = self.run_once(script, self.runs)
            missing = [p.pattern for p in pats if not p.search(out)]
            if rc == 0 and not missing:
                self.transcript.append(f"$ {path.name}:{b.line}\n{out}")
                return out
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{path.name}:{b.line}: exit {rc}, missing {missing}\n--- block:\n{script}"
                    f"--- output:\n{out}\n--- logs:\n{self.logs()}")
            time.sleep(0.5)

    def logs(self) -> str:
        parts = []
        for f in sorted(self.dir.rglob("*.log")):
            text = f.read_text(errors="replace")
            parts.append(f"== {f.relative_to(self.dir)}\n{text[-3000:]}")
        return "\n".join(parts)

    def stop(self):
        """Stops what the blocks left running (background processes), by pid."""
        pids = [pid for g in self.groups for pid in group_members(g, self.dir)]
        stop_pids(pids)

    def sanitizer_reports(self) -> list:
        bad = []
        for f in self.dir.rglob("*.log"):
            text = f.read_text(errors="replace")
            bad += [f"{f.name}: {m}" for m in SANITIZER if m in text]
        return bad


@pytest.fixture
def sandbox(tmp_path):
    boxes = []

    def make(name="sandbox"):
        sb = Sandbox(tmp_path / name)
        boxes.append(sb)
        return sb

    yield make
    for sb in boxes:
        sb.stop()
    bad = [r for sb in boxes for r in sb.sanitizer_reports()]
    assert not bad, bad


def write_config_files(sb: Sandbox, path: Path):
    for b in parse(path):
        if "check-config" in b.words and b.attr("file"):
            (sb.dir / b.attr("file")).write_text(sb.subst(b.body))


def check_config(text: str, cwd: Path, name: str) -> subprocess.CompletedProcess:
    f = cwd / name
    f.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REVMQ_", "EMQX_"))}
    # values only: the snippets name files of the reader's machine (--skip-files)
    return subprocess.run([str(helpers.build_dir() / "revmq"), "--check-config", "--skip-files",
                           "-c", str(f)],
                          capture_output=True, text=True, timeout=20, env=env)


def run_walkthrough(sb: Sandbox, path: Path, name: str):
    write_config_files(sb, path)
    for b in scenario(path, name):
        sb.run(b, path)


# --------------------------------------------------------------------------
# structure
# --------------------------------------------------------------------------


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_block_is_run(doc):
    blocks = parse(doc)
    untested = [b.line for b in blocks if b.lang in ("sh", "bash", "console", "shell", "")
                and not b.attr("test")]
    assert not untested, f"{doc.name}: command blocks without test= at lines {untested}"
    known = {"test", "retry"}
    for b in blocks:
        if b.lang in ("sh", "bash"):
            bad = [w for w in b.words if w.split("=", 1)[0] not in known]
            assert not bad, f"{doc.name}:{b.line}: unknown words {bad}"
            float(b.attr("retry", 0))


def test_guide_has_the_sections_in_the_order_of_the_issue():
    heads = [l for l in GUIDE.read_text().splitlines() if l.startswith("## ")]
    wanted = ["Enable mutual TLS", "Create a CA", "Revoke", "Configure CRL",
              "Configure OCSP", "openssl s_client", "rotation", "Troubleshooting"]
    pos = []
    for w in wanted:
        idx = [i for i, h in enumerate(heads) if w in h]
        assert idx, f"no section about {w!r} in {heads}"
        pos.append(idx[0])
    assert pos == sorted(pos), heads


def test_guide_log_lines_exist_in_the_sources():
    """Each log line the troubleshooting section quotes is one revmq can print."""
    src = "\n".join(p.read_text(errors="replace") for p in (ROOT / "src").rglob("*.c"))
    text = GUIDE.read_text()
    quoted = set(re.findall(r"`((?:crl_cache|ocsp|tls|net): [a-z][A-Za-z ,_-]*[A-Za-z])(=?)",
                            text))
    assert len(quoted) >= 20, quoted
    for msg_full, eq in sorted(quoted):
        component, msg = msg_full.split(": ", 1)
        if eq and " " in msg:  # "refresh OK url=": the last word is a key name
            msg = msg.rsplit(" ", 1)[0]
        # the message opens a format string of that component; CRL refresh lines
        # are built as log_ok(s, "refresh OK") / "%s %s=%s …"
        assert re.search(rf'"{re.escape(component)}",\s*(?:\n\s*)?"{re.escape(msg)}', src) \
            or f'log_ok(s, "{msg}' in src, f"`{msg_full}` is not a log line in src/"


# --------------------------------------------------------------------------
# configuration blocks
# --------------------------------------------------------------------------

FRAGMENT_BASE = """node.data_dir = "data"
listeners.ssl.default.ssl_options.certfile = "server/cert.pem"
listeners.ssl.default.ssl_options.keyfile = "server/cert.key"
listeners.ssl.default.ssl_options.cacertfile = "server/ca-cert.pem"
listeners.ssl.default.ssl_options.verify = verify_peer
"""


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_config_blocks_are_valid(doc, tmp_path):
    n = 0
    for b in parse(doc):
        if b.lang not in ("hocon", "ini"):
            continue
        if "fragment" in b.words:
            text = FRAGMENT_BASE + b.body
        else:
            assert "check-config" in b.words, f"{doc.name}:{b.line}: config block not checked"
            text = b.body
        r = check_config(text, tmp_path, f"block{b.line}.conf")
        assert r.returncode == 0, f"{doc.name}:{b.line}:\n{b.body}\n{r.stderr}"
        n += 1
    assert n >= 2


# --------------------------------------------------------------------------
# the walk-throughs
# --------------------------------------------------------------------------


@pytest.mark.timeout(150)
def test_guide_walkthrough_with_revmq_ca(sandbox):
    sb = sandbox("ca")
    run_walkthrough(sb, GUIDE, "ca")
    log = (sb.dir / "revmq.log").read_text()
    # the loop really happened: the revoked connected device was closed
    assert "closing connection of revoked certificate client_id=device-2" in log
    assert "ocsp: certificate revoked by responder" in log


@pytest.mark.timeout(120)
def test_guide_walkthrough_with_openssl_ca(sandbox):
    sb = sandbox("openssl")
    run_walkthrough(sb, GUIDE, "openssl")
    log = (sb.dir / "own-ca" / "revmq.log").read_text()
    assert re.search(r"crl_cache: refresh OK file=crl\.pem entries=2", log), log[-3000:]


@pytest.mark.timeout(60)
def test_migration_guide_commands(sandbox):
    sb = sandbox("migrate")
    run_walkthrough(sb, MIGRATION, "migrate")
    sb2 = sandbox("migrate-env")
    run_walkthrough(sb2, MIGRATION, "migrate-env")


def test_expectations_can_fail(sandbox):
    """The runner is not a rubber stamp: a wrong expectation or exit status fails."""
    sb = sandbox("neg")
    b = Block("sh", ["test=x"], "echo hello world\n", 1,
              [Block("text", ["expect"], "hello…moon\n", 2)])
    with pytest.raises(AssertionError, match="missing"):
        sb.run(b, GUIDE)
    with pytest.raises(AssertionError, match="exit 3"):
        sb.run(Block("sh", ["test=x"], "exit 3\n", 1), GUIDE)
    assert "hello world" in sb.run(Block("sh", ["test=x"], "echo hello world\n", 1,
                                         [Block("text", ["expect"], "hello…world\n", 2)]),
                                   GUIDE)
