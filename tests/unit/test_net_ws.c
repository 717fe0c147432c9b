/*
 * Unit tests for src/net/ws_http.c and ws_transport.c: the upgrade request
 * parser (every truncated prefix needs more, byte flips never crash, the size
 * limit), the checks (path, subprotocol, version, key, origin), and the
 * transport over a real socketpair (handshake answer, frames both ways, frame
 * rules).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/ws.h"

static const char REQ[] = "GET /mqtt HTTP/1.1\r\n"
                          "Host: 127.0.0.1:8083\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: keep-alive, Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\n"
                          "Origin: http://good.example\r\n"
                          "\r\n";

static struct rmq_ws_settings settings(void)
{
    static char *origins[] = {"http://good.example"};
    struct rmq_ws_settings ws = {.mqtt_path = "/mqtt",
                                 .max_frame_size = UINT64_MAX,
                                 .check_origin_enable = true,
                                 .check_origins = {origins, 1}};
    return ws;
}

static void test_parse__valid_request_and_prefixes(void **st)
{
    (void)st;
    size_t n = strlen(REQ);
    struct rmq_ws_request r;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rmq_ws_parse_request((const uint8_t *)REQ, i, &r), RMQ_ERR_NEED_MORE);
    }
    assert_int_equal(rmq_ws_parse_request((const uint8_t *)REQ, n, &r), RMQ_OK);
    assert_int_equal(r.len, n);
    assert_int_equal(r.path_len, 5);
    assert_memory_equal(r.path, "/mqtt", 5);
    assert_true(r.has_host && r.upgrade_websocket && r.connection_upgrade && r.version_13);
    assert_string_equal(r.subprotocol, "mqttv3.1");
    assert_int_equal(r.key_len, 24);
    struct rmq_ws_settings ws = settings();
    const char *why = NULL;
    assert_int_equal(rmq_ws_check_request(&r, &ws, &why), 101);
}

static int status_of(const char *req)
{
    struct rmq_ws_request r;
    struct rmq_ws_settings ws = settings();
    const char *why = NULL;
    if (rmq_ws_parse_request((const uint8_t *)req, strlen(req), &r) != RMQ_OK) {
        return -1;
    }
    return rmq_ws_check_request(&r, &ws, &why);
}

#define BASE_REQ(path, extra)                                                                      \
    "GET " path " HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: upgrade\r\n"            \
    "Sec-WebSocket-Version: 13\r\n" extra "\r\n"
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define PROTO "Sec-WebSocket-Protocol: mqtt\r\n"

static void test_check__statuses(void **st)
{
    (void)st;
    assert_int_equal(status_of(BASE_REQ("/mqtt", KEY PROTO)), 101);
    assert_int_equal(status_of(BASE_REQ("/mqtt?a=b", KEY PROTO)), 101);
    assert_int_equal(status_of(BASE_REQ("/mqtt/x", KEY PROTO)), 404);
    assert_int_equal(status_of(BASE_REQ("/", KEY PROTO)), 404);
    assert_int_equal(status_of(BASE_REQ("/mqtt", KEY)), 400); /* no subprotocol */
    assert_int_equal(status_of(BASE_REQ("/mqtt", KEY "Sec-WebSocket-Protocol: wamp\r\n")), 400);
    assert_int_equal(status_of(BASE_REQ("/mqtt", KEY "Sec-WebSocket-Protocol: mqtt-v5\r\n")), 101);
    assert_int_equal(status_of(BASE_REQ("/mqtt", KEY "Sec-WebSocket-Protocol: MQTT\r\n")), 400);
    assert_int_equal(status_of(BASE_REQ("/mqtt", PROTO)), 400); /* no key */
    assert_int_equal(status_of(BASE_REQ("/mqtt", "Sec-WebSocket-Key: short==\r\n" PROTO)), 400);
    assert_int_equal(status_of(BASE_REQ("/mqtt", KEY PROTO "Origin: http://evil\r\n")), 403);
    assert_int_equal(status_of(BASE_REQ("/mqtt", KEY PROTO "Origin: http://good.example\r\n")),
                     101);
    assert_int_equal(
        status_of("GET /mqtt HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Version: 8\r\n" KEY PROTO "\r\n"),
        426);
    assert_int_equal(status_of("GET /mqtt HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Version: 13\r\n" KEY PROTO "\r\n"),
                     400); /* no Upgrade: websocket */
}

static void test_parse__malformed(void **st)
{
    (void)st;
    const char *bad[] = {
        "POST /mqtt HTTP/1.1\r\n\r\n",
        "GET /mqtt HTTP/1.0\r\n\r\n",
        "GET mqtt HTTP/1.1\r\n\r\n",
        "GET /a b HTTP/1.1\r\n\r\n",
        "GET /mqtt HTTP/1.1\n\n",
        "GET /mqtt HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET /mqtt HTTP/1.1\r\n: v\r\n\r\n",
        "\r\n",
    };
    struct rmq_ws_request r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rmq_ws_parse_request((const uint8_t *)bad[i], strlen(bad[i]), &r),
                         RMQ_ERR_MALFORMED);
    }
}

static void test_parse__size_limit(void **st)
{
    (void)st;
    size_t n = RMQ_WS_REQUEST_MAX + 100;
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    memcpy(buf, "GET /mqtt HTTP/1.1\r\nX: ", 23);
    memset(buf + 23, 'a', n - 23);
    struct rmq_ws_request r;
    assert_int_equal(rmq_ws_parse_request(buf, RMQ_WS_REQUEST_MAX - 1, &r), RMQ_ERR_NEED_MORE);
    assert_int_equal(rmq_ws_parse_request(buf, RMQ_WS_REQUEST_MAX, &r), RMQ_ERR_TOO_LARGE);
    assert_int_equal(rmq_ws_parse_request(buf, n, &r), RMQ_ERR_TOO_LARGE);
    free(buf);
}

static void test_parse__byte_flips_never_crash(void **st)
{
    (void)st;
    size_t n = strlen(REQ);
    struct rmq_ws_settings ws = settings();
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t *p = malloc(n); /* exact size: ASan sees any overread */
            assert_non_null(p);
            memcpy(p, REQ, n);
            p[i] ^= (uint8_t)(1u << bit);
            struct rmq_ws_request r;
            rmq_err e = rmq_ws_parse_request(p, n, &r);
            assert_true(e == RMQ_OK || e == RMQ_ERR_NEED_MORE || e == RMQ_ERR_MALFORMED);
            if (e == RMQ_OK) {
                const char *why = NULL;
                int s = rmq_ws_check_request(&r, &ws, &why);
                assert_true(s == 101 || s == 400 || s == 403 || s == 404 || s == 426);
                assert_true(r.len <= n);
            }
            free(p);
        }
    }
}

/* ------------------------------------------------------- the transport */

struct pair {
    int sv[2];
    struct rmq_transport *t;
    struct rmq_ws_settings ws;
};

static void pair_open(struct pair *p, uint64_t max_frame)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->sv), 0);
    p->ws = settings();
    p->ws.max_frame_size = max_frame;
    p->t = rmq_ws_transport_wrap(rmq_tcp_transport_new(p->sv[0]), &p->ws);
    assert_non_null(p->t);
}

static void pair_close(struct pair *p)
{
    p->t->ops->free(p->t);
    close(p->sv[0]);
    close(p->sv[1]);
}

static size_t peer_read(struct pair *p, uint8_t *buf, size_t cap)
{
    ssize_t n = read(p->sv[1], buf, cap);
    return n > 0 ? (size_t)n : 0;
}

static void send_masked(struct pair *p, uint8_t b0, const uint8_t *payload, size_t n)
{
    uint8_t f[200];
    assert_true(n < 126);
    f[0] = b0;
    f[1] = (uint8_t)(0x80 | n);
    const uint8_t k[4] = {1, 2, 3, 4};
    memcpy(f + 2, k, 4);
    for (size_t i = 0; i < n; i++) {
        f[6 + i] = payload[i] ^ k[i % 4];
    }
    assert_int_equal(write(p->sv[1], f, 6 + n), (ssize_t)(6 + n));
}

static void upgrade_ok(struct pair *p)
{
    assert_int_equal(p->t->ops->handshake(p->t), RMQ_IO_WANT_READ);
    assert_int_equal(write(p->sv[1], REQ, strlen(REQ)), (ssize_t)strlen(REQ));
    assert_int_equal(p->t->ops->handshake(p->t), RMQ_IO_OK);
    char resp[512] = {0};
    peer_read(p, (uint8_t *)resp, sizeof resp - 1);
    assert_non_null(strstr(resp, "HTTP/1.1 101 Switching Protocols\r\n"));
    /* RFC 6455 1.3's example key and accept value */
    assert_non_null(strstr(resp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strstr(resp, "Sec-WebSocket-Protocol: mqttv3.1\r\n"));
}

static void test_transport__frames_both_ways(void **st)
{
    (void)st;
    struct pair p;
    pair_open(&p, UINT64_MAX);
    upgrade_ok(&p);
    uint8_t buf[64];
    size_t n = 0;
    assert_int_equal(p.t->ops->read(p.t, buf, sizeof buf, &n), RMQ_IO_WANT_READ);
    send_masked(&p, 0x02, (const uint8_t *)"\x10\x0c", 2);     /* binary, not final */
    send_masked(&p, 0x80, (const uint8_t *)"\x00\x04MQTT", 6); /* continuation, final */
    uint8_t got[16];
    size_t have = 0;
    while (have < 8 && p.t->ops->read(p.t, got + have, sizeof got - have, &n) == RMQ_IO_OK) {
        have += n;
    }
    assert_int_equal(have, 8);
    assert_memory_equal(got, "\x10\x0c\x00\x04MQTT", 8);
    /* a small reader buffer: the rest of the frame is kept for the next read */
    send_masked(&p, 0x82, (const uint8_t *)"abcdef", 6);
    assert_int_equal(p.t->ops->read(p.t, buf, 4, &n), RMQ_IO_OK);
    assert_int_equal(n, 4);
    assert_int_equal(p.t->ops->read(p.t, buf + 4, 4, &n), RMQ_IO_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "abcdef", 6);
    /* server -> client: one unmasked binary frame */
    assert_int_equal(p.t->ops->write(p.t, (const uint8_t *)"\x20\x02\x00\x00", 4, &n), RMQ_IO_OK);
    assert_int_equal(n, 4);
    assert_int_equal(peer_read(&p, buf, sizeof buf), 6);
    assert_memory_equal(buf, "\x82\x04\x20\x02\x00\x00", 6);
    /* ping -> pong with the same payload */
    send_masked(&p, 0x89, (const uint8_t *)"hi", 2);
    assert_int_equal(p.t->ops->read(p.t, buf, sizeof buf, &n), RMQ_IO_WANT_READ);
    assert_int_equal(peer_read(&p, buf, sizeof buf), 4);
    assert_memory_equal(buf, "\x8a\x02hi", 4);
    /* close -> close echoed, then EOF */
    send_masked(&p, 0x88, (const uint8_t *)"\x03\xe8", 2);
    assert_int_equal(p.t->ops->read(p.t, buf, sizeof buf, &n), RMQ_IO_EOF);
    assert_int_equal(peer_read(&p, buf, sizeof buf), 4);
    assert_memory_equal(buf, "\x88\x02\x03\xe8", 4);
    pair_close(&p);
}

static void expect_close_status(struct pair *p, uint16_t status)
{
    uint8_t buf[16];
    size_t n = 0;
    assert_int_equal(p->t->ops->read(p->t, buf, sizeof buf, &n), RMQ_IO_ERROR);
    assert_int_equal(peer_read(p, buf, sizeof buf), 4);
    assert_int_equal(buf[0], 0x88);
    assert_int_equal((buf[2] << 8) | buf[3], status);
}

static void test_transport__frame_rules(void **st)
{
    (void)st;
    struct pair p;
    pair_open(&p, 8);
    upgrade_ok(&p);
    send_masked(&p, 0x81, (const uint8_t *)"text", 4); /* MQTT 5.0 6.0 */
    expect_close_status(&p, 1003);
    assert_non_null(strstr(p.t->ops->last_error(p.t), "text frame"));
    pair_close(&p);

    pair_open(&p, 8);
    upgrade_ok(&p);
    send_masked(&p, 0x82, (const uint8_t *)"123456789", 9); /* over max_frame_size */
    expect_close_status(&p, 1009);
    pair_close(&p);

    pair_open(&p, 8);
    upgrade_ok(&p);
    const uint8_t unmasked[] = {0x82, 0x02, 0x10, 0x00};
    assert_int_equal(write(p.sv[1], unmasked, 4), 4);
    expect_close_status(&p, 1002);
    pair_close(&p);

    pair_open(&p, 8);
    upgrade_ok(&p);
    send_masked(&p, 0x80, (const uint8_t *)"x", 1); /* continuation without a start */
    expect_close_status(&p, 1002);
    pair_close(&p);
}

static void test_transport__refusal_answered(void **st)
{
    (void)st;
    struct pair p;
    pair_open(&p, UINT64_MAX);
    const char *req = BASE_REQ("/nope", KEY PROTO);
    assert_int_equal(write(p.sv[1], req, strlen(req)), (ssize_t)strlen(req));
    assert_int_equal(p.t->ops->handshake(p.t), RMQ_IO_ERROR);
    char resp[256] = {0};
    peer_read(&p, (uint8_t *)resp, sizeof resp - 1);
    assert_non_null(strstr(resp, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(p.t->ops->last_error(p.t), "404"));
    pair_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse__valid_request_and_prefixes),
        cmocka_unit_test(test_check__statuses),
        cmocka_unit_test(test_parse__malformed),
        cmocka_unit_test(test_parse__size_limit),
        cmocka_unit_test(test_parse__byte_flips_never_crash),
        cmocka_unit_test(test_transport__frames_both_ways),
        cmocka_unit_test(test_transport__frame_rules),
        cmocka_unit_test(test_transport__refusal_answered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
