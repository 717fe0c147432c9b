/*
 * Unit tests for src/net/proxy_proto.c: the PROXY protocol v1/v2 parser (every
 * truncated prefix needs more, byte flips never crash, limits, TCP4/TCP6/
 * UNKNOWN/LOCAL), rmq_proxy_header_take never taking a byte past the header,
 * and the transport wrapper over a real socketpair.
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

#include "net/proxy_proto.h"

static const uint8_t SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* A v2 header: cmd 0 LOCAL / 1 PROXY, fam byte, address block of alen bytes. */
static size_t v2(uint8_t *out, uint8_t cmd, uint8_t fam, const uint8_t *blk, uint16_t alen)
{
    memcpy(out, SIG, 12);
    out[12] = (uint8_t)(0x20 | cmd);
    out[13] = fam;
    out[14] = (uint8_t)(alen >> 8);
    out[15] = (uint8_t)alen;
    if (alen > 0) {
        memcpy(out + 16, blk, alen);
    }
    return 16 + (size_t)alen;
}

static const uint8_t TCP4_BLK[12] = {192, 0, 2, 7, 10, 0, 0, 1, 0xC3, 0x50, 0x07, 0x5B};

static void check_prefixes(const uint8_t *h, size_t n)
{
    struct rmq_proxy_header out;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rmq_proxy_parse(h, i, &out), RMQ_ERR_NEED_MORE);
    }
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_OK);
    assert_int_equal(out.len, n);
}

static void test_v1_tcp4__parsed_and_prefixes_need_more(void **st)
{
    (void)st;
    const char *h = "PROXY TCP4 192.0.2.7 10.0.0.1 50000 1883\r\n";
    check_prefixes((const uint8_t *)h, strlen(h));
    struct rmq_proxy_header out;
    uint8_t buf[128];
    memcpy(buf, h, strlen(h));
    memcpy(buf + strlen(h), "\x10\x0c", 2); /* MQTT bytes after the header */
    assert_int_equal(rmq_proxy_parse(buf, strlen(h) + 2, &out), RMQ_OK);
    assert_int_equal(out.version, 1);
    assert_int_equal(out.kind, RMQ_PROXY_TCP4);
    assert_int_equal(out.len, strlen(h));
    assert_int_equal(out.src_port, 50000);
    assert_int_equal(out.dst_port, 1883);
    char a[64];
    assert_true(rmq_proxy_format_src(&out, a, sizeof a));
    assert_string_equal(a, "192.0.2.7:50000");
}

static void test_v1_tcp6_and_unknown(void **st)
{
    (void)st;
    const char *h6 = "PROXY TCP6 2001:db8::1 ::1 65535 8883\r\n";
    check_prefixes((const uint8_t *)h6, strlen(h6));
    struct rmq_proxy_header out;
    assert_int_equal(rmq_proxy_parse((const uint8_t *)h6, strlen(h6), &out), RMQ_OK);
    assert_int_equal(out.kind, RMQ_PROXY_TCP6);
    char a[64];
    assert_true(rmq_proxy_format_src(&out, a, sizeof a));
    assert_string_equal(a, "2001:db8::1:65535");
    const char *u = "PROXY UNKNOWN\r\n";
    check_prefixes((const uint8_t *)u, strlen(u));
    assert_int_equal(rmq_proxy_parse((const uint8_t *)u, strlen(u), &out), RMQ_OK);
    assert_int_equal(out.kind, RMQ_PROXY_UNKNOWN);
    assert_false(rmq_proxy_format_src(&out, a, sizeof a));
    const char *u2 = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
    assert_int_equal(rmq_proxy_parse((const uint8_t *)u2, strlen(u2), &out), RMQ_OK);
}

static void test_v1__malformed_lines_refused(void **st)
{
    (void)st;
    const char *bad[] = {
        "PROXY TCP4 192.0.2.7 10.0.0.1 50000 1883\n",   /* no CR */
        "PROXY TCP4 192.0.2.7 10.0.0.1 50000\r\n",      /* missing port */
        "PROXY TCP4 192.0.2.7 10.0.0.1 65536 1883\r\n", /* port range */
        "PROXY TCP4 192.0.2.7 10.0.0.1 050 1883\r\n",   /* leading zero */
        "PROXY TCP4 2001:db8::1 10.0.0.1 5 1883\r\n",   /* v6 in TCP4 */
        "PROXY TCP4 192.0.2.7  10.0.0.1 5 1883\r\n",    /* double space */
        "PROXY TCP4 192.0.2.7 10.0.0.1 5 1883 \r\n",    /* trailing space */
        "PROXY TCP4 192.0.2.7 10.0.0.1 5 1883 9\r\n",   /* extra field */
        "PROXY UDP4 192.0.2.7 10.0.0.1 5 1883\r\n",     /* protocol */
        "PROXY TCP4 192.0.2.777 10.0.0.1 5 1883\r\n",   /* address */
        "PROXY \r\n",
        "proxy TCP4 192.0.2.7 10.0.0.1 50000 1883\r\n", /* case */
        "\x10\x0c\x00\x04MQTT",                         /* plain MQTT CONNECT */
        "\x16\x03\x01\x02\x00",                         /* TLS ClientHello */
        "GET / HTTP/1.1\r\n",
    };
    struct rmq_proxy_header out;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rmq_proxy_parse((const uint8_t *)bad[i], strlen(bad[i]), &out),
                         RMQ_ERR_MALFORMED);
    }
}

static void test_v1__line_over_107_bytes_refused(void **st)
{
    (void)st;
    uint8_t buf[200];
    memcpy(buf, "PROXY UNKNOWN ", 14);
    memset(buf + 14, 'x', sizeof buf - 14);
    struct rmq_proxy_header out;
    assert_int_equal(rmq_proxy_parse(buf, RMQ_PROXY_V1_MAX - 1, &out), RMQ_ERR_NEED_MORE);
    assert_int_equal(rmq_proxy_parse(buf, RMQ_PROXY_V1_MAX, &out), RMQ_ERR_MALFORMED);
    assert_int_equal(rmq_proxy_parse(buf, sizeof buf, &out), RMQ_ERR_MALFORMED);
    /* exactly 107 bytes with CRLF is the longest valid line */
    buf[RMQ_PROXY_V1_MAX - 2] = '\r';
    buf[RMQ_PROXY_V1_MAX - 1] = '\n';
    assert_int_equal(rmq_proxy_parse(buf, sizeof buf, &out), RMQ_OK);
    assert_int_equal(out.len, RMQ_PROXY_V1_MAX);
}

static void test_v2_tcp4_tcp6_local_unknown(void **st)
{
    (void)st;
    uint8_t h[64];
    struct rmq_proxy_header out;
    char a[64];
    size_t n = v2(h, 1, 0x11, TCP4_BLK, 12);
    check_prefixes(h, n);
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_OK);
    assert_int_equal(out.version, 2);
    assert_int_equal(out.kind, RMQ_PROXY_TCP4);
    assert_true(rmq_proxy_format_src(&out, a, sizeof a));
    assert_string_equal(a, "192.0.2.7:50000");
    assert_int_equal(out.dst_port, 1883);

    uint8_t blk6[36] = {0x20, 0x01, 0x0d, 0xb8};
    blk6[15] = 9;
    blk6[31] = 1;
    blk6[32] = 0x04;
    blk6[33] = 0xD2; /* 1234 */
    n = v2(h, 1, 0x21, blk6, 36);
    check_prefixes(h, n);
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_OK);
    assert_int_equal(out.kind, RMQ_PROXY_TCP6);
    assert_true(rmq_proxy_format_src(&out, a, sizeof a));
    assert_string_equal(a, "2001:db8::9:1234");

    n = v2(h, 0, 0x00, NULL, 0); /* LOCAL: health check */
    check_prefixes(h, n);
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_OK);
    assert_int_equal(out.kind, RMQ_PROXY_LOCAL);
    assert_false(rmq_proxy_format_src(&out, a, sizeof a));

    n = v2(h, 1, 0x00, NULL, 0); /* PROXY + UNSPEC */
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_OK);
    assert_int_equal(out.kind, RMQ_PROXY_UNKNOWN);

    /* TLVs after the addresses are skipped with the block */
    uint8_t tlv[12 + 7];
    memcpy(tlv, TCP4_BLK, 12);
    memcpy(tlv + 12, "\x01\x00\x04mqtt", 7); /* PP2_TYPE_ALPN */
    n = v2(h, 1, 0x11, tlv, sizeof tlv);
    check_prefixes(h, n);
}

static void test_v2__malformed_and_limits(void **st)
{
    (void)st;
    uint8_t h[64];
    struct rmq_proxy_header out;
    size_t n = v2(h, 1, 0x11, TCP4_BLK, 12);
    h[12] = 0x11; /* version 1 in the binary form */
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_ERR_MALFORMED);
    n = v2(h, 2, 0x11, TCP4_BLK, 12); /* command 2 */
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_ERR_MALFORMED);
    n = v2(h, 1, 0x12, TCP4_BLK, 12); /* DGRAM */
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_ERR_MALFORMED);
    n = v2(h, 1, 0x11, TCP4_BLK, 8); /* block too short for TCP4 */
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_ERR_MALFORMED);
    n = v2(h, 1, 0x41, TCP4_BLK, 12); /* unknown family */
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_ERR_MALFORMED);
    n = v2(h, 1, 0x11, TCP4_BLK, 12);
    h[5] ^= 0x40; /* signature */
    assert_int_equal(rmq_proxy_parse(h, n, &out), RMQ_ERR_MALFORMED);
    assert_int_equal(rmq_proxy_parse(h, 5, &out), RMQ_ERR_NEED_MORE);
    assert_int_equal(rmq_proxy_parse(h, 6, &out), RMQ_ERR_MALFORMED);
    /* announced length over the limit: refused from the fixed part alone */
    n = v2(h, 1, 0x11, TCP4_BLK, 12);
    h[14] = 0xFF;
    h[15] = 0xFF;
    assert_int_equal(rmq_proxy_parse(h, 16, &out), RMQ_ERR_TOO_LARGE);
    uint16_t maxlen = RMQ_PROXY_V2_MAX - 16;
    h[14] = (uint8_t)(maxlen >> 8);
    h[15] = (uint8_t)maxlen;
    assert_int_equal(rmq_proxy_parse(h, 16, &out), RMQ_ERR_NEED_MORE);
}

static void test_parse__byte_flips_never_crash(void **st)
{
    (void)st;
    uint8_t base[64], h[64];
    size_t bn = v2(base, 1, 0x11, TCP4_BLK, 12);
    const char *v1 = "PROXY TCP6 2001:db8::1 ::1 65535 8883\r\n";
    struct rmq_proxy_header out;
    for (int which = 0; which < 2; which++) {
        size_t n = which == 0 ? bn : strlen(v1);
        const uint8_t *src = which == 0 ? base : (const uint8_t *)v1;
        for (size_t i = 0; i < n; i++) {
            for (int bit = 0; bit < 8; bit++) {
                memcpy(h, src, n);
                h[i] ^= (uint8_t)(1u << bit);
                /* exact heap copy so ASan sees any read past the end */
                uint8_t *p = malloc(n);
                assert_non_null(p);
                memcpy(p, h, n);
                rmq_err e = rmq_proxy_parse(p, n, &out);
                assert_true(e == RMQ_OK || e == RMQ_ERR_NEED_MORE || e == RMQ_ERR_MALFORMED ||
                            e == RMQ_ERR_TOO_LARGE);
                if (e == RMQ_OK) {
                    assert_true(out.len <= n);
                }
                free(p);
            }
        }
    }
}

/* take() never includes a byte after the header, whatever the split. */
static void test_take__stops_at_header_end(void **st)
{
    (void)st;
    uint8_t hv2[64];
    size_t n2 = v2(hv2, 1, 0x11, TCP4_BLK, 12);
    const char *v1 = "PROXY TCP4 192.0.2.7 10.0.0.1 50000 1883\r\n";
    for (int which = 0; which < 2; which++) {
        uint8_t stream[128];
        size_t hn = which == 0 ? n2 : strlen(v1);
        memcpy(stream, which == 0 ? hv2 : (const uint8_t *)v1, hn);
        memset(stream + hn, 0x10, 20); /* what follows: MQTT or TLS */
        for (size_t chunk = 1; chunk <= hn + 20; chunk++) {
            size_t have = 0;
            struct rmq_proxy_header out;
            rmq_err e = RMQ_ERR_NEED_MORE;
            while (e == RMQ_ERR_NEED_MORE) {
                size_t avail = hn + 20 - have;
                size_t more = chunk < avail ? chunk : avail;
                size_t t = rmq_proxy_header_take(stream, have, stream + have, more);
                assert_true(t >= 1 && t <= more);
                have += t;
                assert_true(have <= hn);
                e = rmq_proxy_parse(stream, have, &out);
            }
            assert_int_equal(e, RMQ_OK);
            assert_int_equal(have, hn);
        }
    }
}

/* The wrapper reads the header off a real socket and leaves the rest. */
static void test_transport__reads_header_leaves_payload(void **st)
{
    (void)st;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct rmq_transport *t = rmq_proxy_transport_wrap(rmq_tcp_transport_new(sv[0]));
    assert_non_null(t);
    assert_false(rmq_proxy_transport_header_done(t));
    assert_int_equal(t->ops->handshake(t), RMQ_IO_WANT_READ);
    const char *part1 = "PROXY TCP4 198.51.100.";
    const char *part2 = "9 10.0.0.1 40000 1883\r\nMQTT";
    assert_int_equal(write(sv[1], part1, strlen(part1)), (ssize_t)strlen(part1));
    assert_int_equal(t->ops->handshake(t), RMQ_IO_WANT_READ);
    assert_int_equal(write(sv[1], part2, strlen(part2)), (ssize_t)strlen(part2));
    assert_int_equal(t->ops->handshake(t), RMQ_IO_OK);
    assert_true(rmq_proxy_transport_header_done(t));
    char a[64];
    assert_true(rmq_proxy_transport_client_addr(t, a, sizeof a));
    assert_string_equal(a, "198.51.100.9:40000");
    uint8_t buf[16];
    size_t n = 0;
    assert_int_equal(t->ops->read(t, buf, sizeof buf, &n), RMQ_IO_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "MQTT", 4);
    t->ops->free(t);
    close(sv[0]);
    close(sv[1]);
}

static void test_transport__no_header_refused(void **st)
{
    (void)st;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct rmq_transport *t = rmq_proxy_transport_wrap(rmq_tcp_transport_new(sv[0]));
    assert_non_null(t);
    const uint8_t connect[] = {0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0};
    assert_int_equal(write(sv[1], connect, sizeof connect), (ssize_t)sizeof connect);
    assert_int_equal(t->ops->handshake(t), RMQ_IO_ERROR);
    assert_non_null(strstr(t->ops->last_error(t), "without PROXY header"));
    t->ops->free(t);
    /* EOF before the header */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv + 0), 0);
    t = rmq_proxy_transport_wrap(rmq_tcp_transport_new(sv[0]));
    assert_non_null(t);
    assert_int_equal(write(sv[1], "PROXY TCP4", 10), 10);
    close(sv[1]);
    assert_int_equal(t->ops->handshake(t), RMQ_IO_EOF);
    t->ops->free(t);
    close(sv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_tcp4__parsed_and_prefixes_need_more),
        cmocka_unit_test(test_v1_tcp6_and_unknown),
        cmocka_unit_test(test_v1__malformed_lines_refused),
        cmocka_unit_test(test_v1__line_over_107_bytes_refused),
        cmocka_unit_test(test_v2_tcp4_tcp6_local_unknown),
        cmocka_unit_test(test_v2__malformed_and_limits),
        cmocka_unit_test(test_parse__byte_flips_never_crash),
        cmocka_unit_test(test_take__stops_at_header_end),
        cmocka_unit_test(test_transport__reads_header_leaves_payload),
        cmocka_unit_test(test_transport__no_header_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
