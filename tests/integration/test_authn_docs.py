"""docs/access-control.md is executable (issue 12): its command blocks run in
order against a real revmq (mosquitto_passwd, mosquitto_pub, SIGHUP, --check-config)
with the runner of test_product_docs.py, and its configuration blocks are valid.
"""

from pathlib import Path

import pytest

from test_product_docs import check_config, parse, run_walkthrough, sandbox  # noqa: F401

pytestmark = pytest.mark.revmq_only

DOC = Path(__file__).resolve().parents[2] / "docs" / "access-control.md"


def test_every_command_block_is_run():
    untested = [b.line for b in parse(DOC) if b.lang in ("sh", "bash", "console", "shell", "")
                and not b.attr("test")]
    assert not untested, f"command blocks without test= at lines {untested}"


def test_config_blocks_are_valid(tmp_path):
    from test_product_docs import FRAGMENT_BASE
    n = 0
    for b in parse(DOC):
        if b.lang not in ("hocon", "ini"):
            continue
        text = FRAGMENT_BASE + b.body if "fragment" in b.words else b.body
        assert "fragment" in b.words or "check-config" in b.words, b.line
        r = check_config(text, tmp_path, f"block{b.line}.conf")
        assert r.returncode == 0, f"{DOC.name}:{b.line}:\n{b.body}\n{r.stderr}"
        n += 1
    assert n >= 2


@pytest.mark.timeout(60)
def test_access_control_walkthroughs(sandbox):  # noqa: F811
    sb = sandbox("authn")
    run_walkthrough(sb, DOC, "authn")
    log = (sb.dir / "revmq.log").read_text()
    assert "principal=user username=alice\n" in log
    assert "not-her-password" not in log and "alice-secret" not in log
    for name in ("authn-env", "warn"):
        run_walkthrough(sandbox(name), DOC, name)
