"""revmq-ca input handling found in review: `--now` outside 0..9999-12-31
is a usage error (it used to be accepted, then either overflowed int64 in
`now + ttl` — undefined behaviour — or was silently replaced by the real
clock)."""

import pytest

from ca_tools import RevmqCA

LATEST = 253402300799  # 9999-12-31T23:59:59Z


@pytest.fixture
def ca(tmp_path):
    c = RevmqCA(tmp_path)
    c.port = 4664  # URLs only; nothing is served here
    c.init()
    c.create_ca()
    return c


@pytest.mark.parametrize("now", [
    f"@{LATEST + 1}",
    "@9223372036854775807",
    "@99999999999999999999",
    "+1099511627776s",  # the largest duration, from today: past year 9999
    "-100000d",  # before 1970
])
def test_now__out_of_range_is_a_usage_error(ca, now):
    p = ca.run("--now", now, "ca", "issue-cert", "--ca", ca.ca_name, "--cert-type", "client",
               "--host", "dev", "--json", check=False)
    assert p.returncode == 2, p.stderr
    assert "--now wants" in p.stderr
    assert p.stdout == ""


def test_now__latest_and_relative_times_still_work(ca):
    p = ca.run("--now", f"@{LATEST}", "get-tenant-uuid", check=False)
    assert p.returncode == 0, p.stderr
    p = ca.run("--now", "+30d", "ca", "issue-cert", "--ca", ca.ca_name, "--cert-type", "client",
               "--host", "dev", "--json", check=False)
    assert p.returncode == 0, p.stderr
    assert '"serial"' in p.stdout
