// mqtt_client.js — one MQTT.js client for the integration tests.
// Usage: node mqtt_client.js '<json options>'
//   {url, topic, payload, protocolVersion, ca, cert, key, username, wsOptions, waitClose}
// Connects, subscribes to `topic`, publishes `payload` at QoS 1, waits for it to
// come back, prints one JSON line {connected, received, error} and exits.
// With waitClose: after the round trip, waits (up to 15 s) for the broker to
// close the connection and reports {closed: true, reasonCode}.
'use strict';
const fs = require('fs');
const mqtt = require('mqtt');

const o = JSON.parse(process.argv[2]);
const opts = {
  protocolVersion: o.protocolVersion || 4,
  clientId: o.clientId || 'node-' + process.pid,
  reconnectPeriod: 0,
  connectTimeout: 8000,
  rejectUnauthorized: true,
};
if (o.ca) opts.ca = fs.readFileSync(o.ca);
if (o.cert) opts.cert = fs.readFileSync(o.cert);
if (o.key) opts.key = fs.readFileSync(o.key);
if (o.username) opts.username = o.username;
if (o.wsOptions) opts.wsOptions = o.wsOptions;

const out = { connected: false, received: null, error: null, closed: false, reasonCode: null };
let done = false;
function finish() {
  if (done) return;
  done = true;
  console.log(JSON.stringify(out));
  process.exit(0);
}
setTimeout(() => { out.error = out.error || 'timeout'; finish(); }, o.waitClose ? 20000 : 10000);

const c = mqtt.connect(o.url, opts);
c.on('error', (e) => { out.error = String(e && e.message || e); if (!out.connected) finish(); });
c.on('disconnect', (p) => { out.reasonCode = p && p.reasonCode; });
c.on('close', () => { if (out.connected && o.waitClose && out.received !== null) { out.closed = true; finish(); } else if (!out.connected) { finish(); } });
c.on('connect', () => {
  out.connected = true;
  c.subscribe(o.topic, { qos: 1 }, (err) => {
    if (err) { out.error = String(err); finish(); return; }
    c.publish(o.topic, o.payload, { qos: 1 });
  });
});
c.on('message', (t, m) => {
  out.received = m.toString();
  if (o.waitClose) { console.log(JSON.stringify({ ready: true })); return; }
  c.end(false, {}, finish);
});
