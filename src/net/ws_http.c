/*
 * ws_http.c — the WebSocket opening handshake request (RFC 6455 4.2.1),
 * parsed through the bounded reader; see ws.h. Pure: no I/O, no allocation.
 */
#include <string.h>

#include "common/reader.h"
#include "net/ws.h"

/* MQTT 5.0 6.0: "mqtt"; MQTT 3.1 clients (and MQTT.js with protocolVersion 3) offer
 * "mqttv3.1"; the rest are in EMQX's default supported_subprotocols, for drop-in use. */
static const char *const subprotocols[] = {"mqtt", "mqttv3.1", "mqtt-v3", "mqtt-v3.1.1", "mqtt-v5"};

static bool ieq(const uint8_t *a, size_t n, const char *b)
{
    size_t bn = strlen(b);
    if (n != bn) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t x = a[i], y = (uint8_t)b[i];
        if (x >= 'A' && x <= 'Z') {
            x = (uint8_t)(x + 32);
        }
        if (y >= 'A' && y <= 'Z') {
            y = (uint8_t)(y + 32);
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

static void trim(const uint8_t **p, size_t *n)
{
    while (*n > 0 && ((*p)[0] == ' ' || (*p)[0] == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t')) {
        (*n)--;
    }
}

/* Calls fn on each comma-separated token of a header value (RFC 7230 7). */
static void each_token(const uint8_t *v, size_t n, void (*fn)(const uint8_t *, size_t, void *),
                       void *arg)
{
    struct rmq_reader r = rmq_reader_make(v, n);
    while (rmq_reader_left(&r) > 0) {
        const uint8_t *start = r.data + r.off;
        const uint8_t *comma = memchr(start, ',', rmq_reader_left(&r));
        size_t tl = comma != NULL ? (size_t)(comma - start) : rmq_reader_left(&r);
        const uint8_t *tok = start;
        size_t tn = tl;
        trim(&tok, &tn);
        if (tn > 0) {
            fn(tok, tn, arg);
        }
        if (rmq_reader_skip(&r, tl + (comma != NULL ? 1 : 0)) != RMQ_OK) {
            break;
        }
    }
}

static void tok_websocket(const uint8_t *t, size_t n, void *arg)
{
    if (ieq(t, n, "websocket")) {
        *(bool *)arg = true;
    }
}

static void tok_upgrade(const uint8_t *t, size_t n, void *arg)
{
    if (ieq(t, n, "upgrade")) {
        *(bool *)arg = true;
    }
}

static void tok_protocol(const uint8_t *t, size_t n, void *arg)
{
    struct rmq_ws_request *r = arg;
    r->protocol_offered = true;
    for (size_t i = 0; r->subprotocol == NULL && i < sizeof subprotocols / sizeof *subprotocols;
         i++) {
        if (n == strlen(subprotocols[i]) && memcmp(t, subprotocols[i], n) == 0) {
            r->subprotocol = subprotocols[i];
        }
    }
}

static rmq_err header(const uint8_t *line, size_t n, struct rmq_ws_request *r)
{
    const uint8_t *colon = memchr(line, ':', n);
    if (colon == NULL || colon == line) {
        return RMQ_ERR_MALFORMED;
    }
    size_t nn = (size_t)(colon - line);
    const uint8_t *v = colon + 1;
    size_t vn = n - nn - 1;
    trim(&v, &vn);
    if (ieq(line, nn, "host")) {
        r->has_host = vn > 0;
    } else if (ieq(line, nn, "upgrade")) {
        each_token(v, vn, tok_websocket, &r->upgrade_websocket);
    } else if (ieq(line, nn, "connection")) {
        each_token(v, vn, tok_upgrade, &r->connection_upgrade);
    } else if (ieq(line, nn, "sec-websocket-version")) {
        r->version_13 = vn == 2 && v[0] == '1' && v[1] == '3';
    } else if (ieq(line, nn, "sec-websocket-key")) {
        r->key = v;
        r->key_len = vn;
    } else if (ieq(line, nn, "sec-websocket-protocol")) {
        each_token(v, vn, tok_protocol, r);
    } else if (ieq(line, nn, "origin")) {
        r->origin = v;
        r->origin_len = vn;
    }
    return RMQ_OK;
}

/* "GET <target> HTTP/1.1" (RFC 6455 4.1: GET, HTTP/1.1 or higher). */
static rmq_err request_line(const uint8_t *line, size_t n, struct rmq_ws_request *r)
{
    if (n < 14 || memcmp(line, "GET ", 4) != 0 || memcmp(line + n - 9, " HTTP/1.1", 9) != 0) {
        return RMQ_ERR_MALFORMED;
    }
    const uint8_t *target = line + 4;
    size_t tn = n - 13;
    if (tn == 0 || target[0] != '/' || memchr(target, ' ', tn) != NULL) {
        return RMQ_ERR_MALFORMED;
    }
    const uint8_t *q = memchr(target, '?', tn);
    r->path = target;
    r->path_len = q != NULL ? (size_t)(q - target) : tn;
    return RMQ_OK;
}

rmq_err rmq_ws_parse_request(const uint8_t *data, size_t len, struct rmq_ws_request *out)
{
    memset(out, 0, sizeof *out);
    size_t lim = len < RMQ_WS_REQUEST_MAX ? len : RMQ_WS_REQUEST_MAX;
    struct rmq_reader r = rmq_reader_make(data, lim);
    bool first = true;
    for (;;) {
        const uint8_t *line;
        size_t n;
        size_t before = r.off;
        if (rmq_reader_line(&r, &line, &n) != RMQ_OK || r.off == before + n) {
            /* no complete line yet */
            return len >= RMQ_WS_REQUEST_MAX ? RMQ_ERR_TOO_LARGE : RMQ_ERR_NEED_MORE;
        }
        if (n == 0 || line[n - 1] != '\r') {
            return RMQ_ERR_MALFORMED; /* lines end in CRLF (RFC 7230 3) */
        }
        n--;
        if (n == 0) {
            if (first) {
                return RMQ_ERR_MALFORMED;
            }
            out->len = r.off;
            return RMQ_OK;
        }
        RMQ_TRY(first ? request_line(line, n, out) : header(line, n, out));
        first = false;
    }
}

static bool key_ok(const uint8_t *k, size_t n)
{
    /* RFC 6455 4.1: base64 of 16 bytes = 22 characters and "==" */
    if (k == NULL || n != 24 || k[22] != '=' || k[23] != '=') {
        return false;
    }
    for (size_t i = 0; i < 22; i++) {
        uint8_t c = k[i];
        bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '+' || c == '/';
        if (!b64) {
            return false;
        }
    }
    return true;
}

static bool origin_allowed(const struct rmq_ws_request *r, const struct rmq_ws_settings *ws)
{
    if (!ws->check_origin_enable || r->origin == NULL) {
        return true;
    }
    for (size_t i = 0; i < ws->check_origins.count; i++) {
        const char *o = ws->check_origins.items[i];
        if (strlen(o) == r->origin_len && memcmp(o, r->origin, r->origin_len) == 0) {
            return true;
        }
    }
    return false;
}

int rmq_ws_check_request(const struct rmq_ws_request *r, const struct rmq_ws_settings *ws,
                         const char **why)
{
    const char *path = ws->mqtt_path != NULL ? ws->mqtt_path : "/mqtt";
    if (r->path_len != strlen(path) || memcmp(r->path, path, r->path_len) != 0) {
        *why = "path is not websocket.mqtt_path";
        return 404;
    }
    if (!r->has_host || !r->upgrade_websocket || !r->connection_upgrade) {
        *why = "not a WebSocket upgrade (Host, Upgrade: websocket, Connection: Upgrade)";
        return 400;
    }
    if (!r->version_13) {
        *why = "Sec-WebSocket-Version is not 13";
        return 426;
    }
    if (!key_ok(r->key, r->key_len)) {
        *why = "bad Sec-WebSocket-Key";
        return 400;
    }
    if (r->subprotocol == NULL) {
        *why = r->protocol_offered ? "no supported subprotocol offered (mqtt, mqttv3.1, mqtt-v3, "
                                     "mqtt-v3.1.1, mqtt-v5)"
                                   : "no Sec-WebSocket-Protocol (mqtt or mqttv3.1 required)";
        return 400;
    }
    if (!origin_allowed(r, ws)) {
        *why = "Origin not in websocket.check_origins";
        return 403;
    }
    *why = "ok";
    return 101;
}
