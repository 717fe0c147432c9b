"""The dashboard page (issue 15) in headless Chromium: it loads over the same
API with the browser's basic-auth credentials and shows listeners, CRLs with
their freshness, staples, clients and refusals; DOM assertions on what
Chromium rendered after the script ran, and a screenshot in the test's tmp
dir. Without credentials the page gets 401 and shows nothing."""

import html.parser
import shutil
import subprocess

import pytest

import helpers
from httpfaults import World, crl_urls_line, file_server, ssl_conf, tls_paho  # noqa: F401
from pki import s_client
from test_admin_api import KEY, SECRET, admin_conf

pytestmark = [pytest.mark.revmq_only,
              pytest.mark.skipif(not shutil.which("chromium"), reason="chromium not installed")]

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--virtual-time-budget=4000", "--hide-scrollbars"]


def chromium(tmp_path, url, *args):
    prof = tmp_path / "chrome-profile"
    r = subprocess.run(["chromium", *FLAGS, f"--user-data-dir={prof}", *args, url],
                       capture_output=True, text=True, timeout=90)
    return r


class Tables(html.parser.HTMLParser):
    """Rows of every <table id=…> and the text of elements with an id."""

    def __init__(self):
        super().__init__()
        self.tables, self.text, self.attrs = {}, {}, {}
        self._table = self._row = self._cell = self._id = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.attrs["body"] = a
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = [a.get("class") or ""]
        elif "id" in a and tag in ("p", "span"):
            self._id = a["id"]
            self.text[self._id] = ""

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append(("".join(self._cell[1:]), self._cell[0]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag in ("p", "span"):
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._id:
            self.text[self._id] += data


def test_dashboard_shows_revocation_state(broker_factory, tmp_path, file_server,  # noqa: F811
                                         tls_paho):  # noqa: F811
    fs = file_server()
    w = World(tmp_path / "w")
    w.inter.revoke(w.bad)
    url = fs.publish("inter.pem", w.inter.gencrl()[0])
    aconf, aport = admin_conf(tmp_path)
    b = broker_factory(aconf + ssl_conf(w, crl_urls_line(url),
                                        "crl_cache.discover_from_cert = false"),
                       extra_listeners=["ssl:default"])
    assert s_client(b.ports["ssl:default"], cafile=w.root.cert, cert=w.bad.cert, key=w.bad.key,
                    send=helpers.build_connect("x"), hold=0.4).alert == 44
    tls_paho(b.ports["ssl:default"], w.root.cert, w.good.cert, w.good.key, "sensor-good", 5)
    page = f"http://{KEY}:{SECRET.replace(' ', '%20')}@127.0.0.1:{aport}/"
    shot = tmp_path / "dashboard.png"
    r = chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1280,1100")
    assert shot.exists() and shot.stat().st_size > 10000, r.stderr[-2000:]
    r = chromium(tmp_path, page, "--dump-dom")
    t = Tables()
    t.feed(r.stdout)
    assert t.attrs["body"].get("data-loaded") == "1", (t.text, r.stderr[-2000:])
    assert t.text["status"].startswith("running, up ")
    assert t.text["node"].startswith("revmq@127.0.0.1 ")
    ids = [row[0][0] for row in t.tables["listeners"]]
    assert ids == ["tcp:default", "ssl:default"], t.tables["listeners"]
    ssl_row = t.tables["listeners"][1]
    assert ssl_row[2][0] == str(b.ports["ssl:default"]) and ssl_row[4][0].endswith("Z")
    crl_rows = t.tables["crls"]
    assert len(crl_rows) == 1
    src, issuer, entries, nu, fresh, last, result = crl_rows[0]
    assert src[0] == url and issuer[0] == "CN=Test Intermediate" and entries[0] == "1"
    assert fresh == ("fresh", "ok") and result[0] == "ok" and nu[0].endswith("Z")
    assert "TLS handshakes refused: 1" in t.text["refusals"], t.text
    [client] = t.tables["clients"]
    assert client[0][0] == "sensor-good" and client[3][0] == "ssl:default"
    assert client[4][0] == "cert:CN=good"
    assert ssl_row[3][0] == "1" and t.tables["listeners"][0][3][0] == "0"


def test_dashboard_without_credentials_shows_nothing(broker_factory, tmp_path):
    aconf, aport = admin_conf(tmp_path)
    broker_factory(aconf)
    r = chromium(tmp_path, f"http://127.0.0.1:{aport}/", "--dump-dom")
    assert "ERR_INVALID_AUTH_CREDENTIALS" in r.stderr, r.stderr[-2000:]
    assert "<table" not in r.stdout
    r = chromium(tmp_path, f"http://{KEY}:wrong@127.0.0.1:{aport}/", "--dump-dom")
    assert "<table" not in r.stdout
