"""MQTT.js in headless Chromium over wss (issue 17): a page served from loopback
connects to a wss listener with server authentication and a username (a page cannot
choose a client certificate), subscribes, publishes and receives its message. The
listener checks the browser's Origin. Chromium trusts the test server key through
--ignore-certificate-errors-spki-list (a pin of exactly that key, not "ignore all").
"""

import base64
import http.server
import os
import shutil
import subprocess
import threading
import urllib.parse

import pytest

import helpers
from pki import PKI, openssl

pytestmark = pytest.mark.revmq_only

NODE_DIR = os.path.join(os.path.dirname(__file__), "node")
MQTT_JS = os.path.join(NODE_DIR, "node_modules", "mqtt", "dist", "mqtt.min.js")

PAGE = """<!doctype html><html><body><script src="/mqtt.min.js"></script><script>
const report = (q) => fetch("/result?" + new URLSearchParams(q));
const c = mqtt.connect("wss://localhost:%(port)d/mqtt", {username: "browser-user",
    clientId: "chromium-1", protocolVersion: 5, reconnectPeriod: 0});
c.on("connect", () => c.subscribe("browser/t", {qos: 1},
    () => c.publish("browser/t", "from-chromium", {qos: 1})));
c.on("message", (t, m) => report({status: "received", payload: m.toString()}));
c.on("error", (e) => report({status: "error", msg: String(e)}));
c.on("close", () => report({status: "closed"}));
</script></body></html>
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def spki_pin(cert_pem):
    pub = openssl("x509", "-in", cert_pem, "-pubkey", "-noout")
    der = openssl("pkey", "-pubin", "-outform", "der", input=pub)
    digest = openssl("dgst", "-sha256", "-binary", input=der)
    return base64.b64encode(digest).decode()


class Site:
    """Serves the page and mqtt.min.js; records /result queries."""

    def __init__(self, page):
        self.results = []
        site = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                u = urllib.parse.urlparse(self.path)
                if u.path == "/result":
                    site.results.append(dict(urllib.parse.parse_qsl(u.query)))
                    body, ctype = b"ok", "text/plain"
                elif u.path == "/mqtt.min.js":
                    body, ctype = open(MQTT_JS, "rb").read(), "application/javascript"
                else:
                    body, ctype = page.encode(), "text/html"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.mark.skipif(chromium() is None, reason="chromium not installed")
def test_mqttjs_in_headless_chromium_over_wss(broker_factory, tmp_path):
    if not os.path.exists(MQTT_JS):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       capture_output=True, timeout=300)
    p = PKI(tmp_path / "pki")
    server = p.root.intermediate("Browser Intermediate").server_cert("server")
    wss_port = helpers.free_port()
    site = Site(PAGE % {"port": wss_port})
    origin = f"http://127.0.0.1:{site.port}"
    base = "listeners.wss.default"
    conf = "\n".join([
        f'{base}.bind = "127.0.0.1:{wss_port}"',
        f'{base}.ssl_options.certfile = "{server.cert}"',  # leaf only: the chain is built
        f'{base}.ssl_options.keyfile = "{server.key}"',
        f'{base}.ssl_options.cacertfile = "{server.ca.chain}"',
        f"{base}.websocket.check_origin_enable = true",
        f'{base}.websocket.check_origins = ["{origin}"]',
    ]) + "\n"
    b = broker_factory(conf)
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen([chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
                             "--no-first-run", f"--user-data-dir={profile}",
                             f"--ignore-certificate-errors-spki-list={spki_pin(server.cert)}",
                             f"{origin}/index.html"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        helpers.wait_until(lambda: site.results, timeout=60, what="a result from the page")
        assert site.results[0] == {"status": "received", "payload": "from-chromium"}, site.results
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        site.stop()
    b.wait_for_log(r"connected client_id=chromium-1 version=5 addr=127\.0\.0\.1:\d+ "
                   r"listener=[a-z]+:default .*username=browser-user")


@pytest.mark.skipif(chromium() is None, reason="chromium not installed")
def test_browser_origin_refused(broker_factory, tmp_path):
    """The same page from an origin not in check_origins: 403, never connected."""
    if not os.path.exists(MQTT_JS):
        pytest.skip("mqtt.min.js not installed")
    p = PKI(tmp_path / "pki")
    server = p.root.server_cert("server")
    wss_port = helpers.free_port()
    site = Site(PAGE % {"port": wss_port})
    base = "listeners.wss.default"
    conf = "\n".join([
        f'{base}.bind = "127.0.0.1:{wss_port}"',
        f'{base}.ssl_options.certfile = "{server.cert}"',
        f'{base}.ssl_options.keyfile = "{server.key}"',
        f"{base}.websocket.check_origin_enable = true",
        f'{base}.websocket.check_origins = ["https://dashboard.example.com"]',
    ]) + "\n"
    b = broker_factory(conf)
    proc = subprocess.Popen([chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
                             "--no-first-run", f"--user-data-dir={tmp_path / 'prof'}",
                             f"--ignore-certificate-errors-spki-list={spki_pin(server.cert)}",
                             f"http://127.0.0.1:{site.port}/index.html"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        b.wait_for_log(r"handshake failed listener=wss:default addr=\S+ error=\"websocket: 403 Origin "
                       r"not in websocket.check_origins\"", timeout=60)
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        site.stop()
    assert "client_id=chromium-1" not in b.log_text()
