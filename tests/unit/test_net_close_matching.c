/*
 * Unit tests for src/net: a real net layer on a loopback port with a fake
 * "TLS" transport factory (plain TCP underneath, peer info with a serial),
 * driven by raw MQTT bytes. Checks rmq_net_close_matching (v5 DISCONNECT
 * 0x98 "certificate revoked", v3 close, others untouched), max_connections
 * and the CONNECT path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "config/settings.h"
#include "net/net.h"
#include "net/transport.h"

/* ------------------------------------------------------ fake transport */

struct fake {
    struct rmq_transport base;
    struct rmq_transport *tcp;
    uint8_t serial;
};

static enum rmq_io f_handshake(struct rmq_transport *t)
{
    (void)t;
    return RMQ_IO_OK;
}
static enum rmq_io f_read(struct rmq_transport *t, uint8_t *b, size_t l, size_t *n)
{
    return ((struct fake *)t)->tcp->ops->read(((struct fake *)t)->tcp, b, l, n);
}
static enum rmq_io f_write(struct rmq_transport *t, const uint8_t *b, size_t l, size_t *n)
{
    return ((struct fake *)t)->tcp->ops->write(((struct fake *)t)->tcp, b, l, n);
}
static void f_peer_info(struct rmq_transport *t, struct rmq_peer_info *out)
{
    memset(out, 0, sizeof *out);
    out->has_cert = 1;
    out->serial[0] = ((struct fake *)t)->serial;
    out->serial_len = 1;
    snprintf(out->serial_hex, sizeof out->serial_hex, "%02X", out->serial[0]);
    out->issuer_dn = strdup("CN=Test CA");
    char cn[16];
    snprintf(cn, sizeof cn, "dev%u", out->serial[0]);
    out->cn = strdup(cn);
}
static void f_shutdown(struct rmq_transport *t)
{
    (void)t;
}
static void f_free(struct rmq_transport *t)
{
    struct fake *f = (struct fake *)t;
    f->tcp->ops->free(f->tcp);
    free(f);
}
static const char *f_last_error(struct rmq_transport *t)
{
    (void)t;
    return "";
}
static const struct rmq_transport_ops fake_ops = {"ssl",       f_handshake, f_read, f_write,
                                                  f_peer_info, f_shutdown,  f_free, f_last_error};

static atomic_int next_serial;

static struct rmq_transport *fake_new(void *arg, int fd)
{
    (void)arg;
    struct fake *f = calloc(1, sizeof *f);
    f->base.ops = &fake_ops;
    f->base.fd = fd;
    f->tcp = rmq_tcp_transport_new(fd);
    f->serial = (uint8_t)atomic_fetch_add(&next_serial, 1);
    return &f->base;
}

/* ------------------------------------------------------------- fixture */

struct fixture {
    struct rmq_settings s;
    struct rmq_listener_settings l;
    struct rmq_net *net;
    pthread_t thread;
    uint16_t port;
};

static void *run_main(void *arg)
{
    rmq_net_run(arg);
    return NULL;
}

static struct fixture *start(uint64_t max_connections, bool fake_tls)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    fx->l.name = "t";
    fx->l.enable = true;
    fx->l.is_ssl = fake_tls;
    strcpy(fx->l.bind.host, "127.0.0.1");
    fx->l.max_connections = max_connections;
    fx->s.node_name = "test";
    fx->s.listeners = &fx->l;
    fx->s.listener_count = 1;
    struct rmq_mqtt_settings m = {.max_packet_size = 1 << 20,
                                  .max_clientid_len = 65535,
                                  .max_topic_levels = 128,
                                  .max_qos_allowed = 2,
                                  .retain_available = true,
                                  .wildcard_subscription = true,
                                  .shared_subscription = true,
                                  .max_inflight = 32,
                                  .max_mqueue_len = 1000,
                                  .session_expiry_interval = 7200000,
                                  .keepalive_multiplier = 1.5,
                                  .max_topic_alias = 65535,
                                  .retry_interval = 30000,
                                  .max_awaiting_rel = 100,
                                  .await_rel_timeout = 300000};
    fx->s.mqtt = m;
    assert_int_equal(rmq_net_new(&fx->s, &fx->net), RMQ_OK);
    struct rmq_transport_factory f = {fake_new, NULL};
    char *err = NULL;
    assert_int_equal(rmq_net_listen(fx->net, &fx->l, fake_tls ? &f : NULL, 5000, &err), RMQ_OK);
    assert_int_equal(rmq_net_start(fx->net), RMQ_OK);
    fx->port = rmq_net_listener_port(fx->net, 0);
    assert_true(fx->port != 0);
    assert_int_equal(pthread_create(&fx->thread, NULL, run_main, fx->net), 0);
    return fx;
}

static void stop(struct fixture *fx)
{
    rmq_net_stop(fx->net);
    pthread_join(fx->thread, NULL);
    rmq_net_free(fx->net);
    free(fx);
}

/* ------------------------------------------------------------- client */

static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Reads one packet; returns its first byte, or -1 on EOF/timeout. */
static int read_packet(int fd, uint8_t *body, size_t cap, size_t *len)
{
    uint8_t h;
    if (recv(fd, &h, 1, MSG_WAITALL) != 1) {
        return -1;
    }
    size_t rl = 0;
    for (int shift = 0; shift < 28; shift += 7) {
        uint8_t b;
        if (recv(fd, &b, 1, MSG_WAITALL) != 1) {
            return -1;
        }
        rl |= (size_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            break;
        }
    }
    assert_true(rl <= cap);
    if (rl && recv(fd, body, rl, MSG_WAITALL) != (ssize_t)rl) {
        return -1;
    }
    *len = rl;
    return h;
}

static int mqtt_connect(uint16_t port, uint8_t version, const char *id)
{
    int fd = dial(port);
    uint8_t pkt[64];
    size_t n = 0, idl = strlen(id);
    pkt[n++] = 0x10;
    pkt[n++] = (uint8_t)(10 + (version == 5) + 2 + idl);
    const uint8_t vh[] = {0, 4, 'M', 'Q', 'T', 'T', version, 0x02, 0, 60};
    memcpy(pkt + n, vh, sizeof vh);
    n += sizeof vh;
    if (version == 5) {
        pkt[n++] = 0; /* no properties */
    }
    pkt[n++] = 0;
    pkt[n++] = (uint8_t)idl;
    memcpy(pkt + n, id, idl);
    n += idl;
    assert_int_equal(send(fd, pkt, n, 0), (ssize_t)n);
    uint8_t body[64];
    size_t len;
    assert_int_equal(read_packet(fd, body, sizeof body, &len), 0x20);
    assert_int_equal(body[1], 0); /* accepted */
    return fd;
}

static bool match_serials(const struct rmq_peer_info *p, void *arg)
{
    const uint8_t *revoked = arg; /* zero-terminated list */
    for (; *revoked; revoked++) {
        if (p->serial_len == 1 && p->serial[0] == *revoked) {
            return true;
        }
    }
    return false;
}

static atomic_int freed;
static void count_free(void *arg)
{
    (void)arg;
    atomic_fetch_add(&freed, 1);
}

static void test_close_matching__v5_gets_0x98_v3_closed_others_untouched(void **state)
{
    (void)state;
    atomic_store(&next_serial, 1);
    struct fixture *fx = start(0, true);
    int a = mqtt_connect(fx->port, 5, "a"); /* serial 1 */
    int b = mqtt_connect(fx->port, 4, "b"); /* serial 2 */
    int c = mqtt_connect(fx->port, 5, "c"); /* serial 3 */
    static uint8_t revoked[] = {1, 2, 0};
    atomic_store(&freed, 0);
    rmq_net_close_matching(fx->net, match_serials, revoked, count_free);
    uint8_t body[128];
    size_t len;
    assert_int_equal(read_packet(a, body, sizeof body, &len), 0xE0);
    assert_int_equal(body[0], 0x98);
    const char rs[] = "certificate revoked";
    assert_true(len >= 2 + 3 + sizeof rs - 1);
    assert_int_equal(body[2], 0x1F);
    assert_memory_equal(body + 5, rs, sizeof rs - 1);
    assert_int_equal(read_packet(a, body, sizeof body, &len), -1); /* then closed */
    assert_int_equal(read_packet(b, body, sizeof body, &len), -1); /* v3: just closed */
    const uint8_t ping[] = {0xC0, 0};
    assert_int_equal(send(c, ping, 2, 0), 2);
    assert_int_equal(read_packet(c, body, sizeof body, &len), 0xD0); /* still alive */
    for (int i = 0; i < 200 && atomic_load(&freed) == 0; i++) {
        usleep(10000);
    }
    assert_int_equal(atomic_load(&freed), 1);
    close(a);
    close(b);
    close(c);
    stop(fx);
}

static bool no_listener(const struct rmq_listener_settings *ls)
{
    (void)ls;
    return false;
}

static void test_close_matching_on__listener_filter_spares_connections(void **state)
{
    (void)state;
    atomic_store(&next_serial, 1);
    struct fixture *fx = start(0, true);
    int a = mqtt_connect(fx->port, 5, "fa"); /* serial 1: matches, but its listener is skipped */
    static uint8_t revoked[] = {1, 0};
    atomic_store(&freed, 0);
    rmq_net_close_matching_on(fx->net, no_listener, match_serials, revoked, count_free);
    for (int i = 0; i < 200 && atomic_load(&freed) == 0; i++) {
        usleep(10000);
    }
    assert_int_equal(atomic_load(&freed), 1);
    const uint8_t ping[] = {0xC0, 0};
    uint8_t body[16];
    size_t len;
    assert_int_equal(send(a, ping, 2, 0), 2);
    assert_int_equal(read_packet(a, body, sizeof body, &len), 0xD0);
    close(a);
    stop(fx);
}

static void test_listener__max_connections_refuses_extra(void **state)
{
    (void)state;
    struct fixture *fx = start(2, false);
    int a = mqtt_connect(fx->port, 4, "m1");
    int b = mqtt_connect(fx->port, 4, "m2");
    int c = dial(fx->port);
    uint8_t body[16];
    size_t len;
    assert_int_equal(read_packet(c, body, sizeof body, &len), -1); /* closed at once */
    close(c);
    close(b);
    for (int i = 0; i < 200 && rmq_net_connection_count(fx->net) > 1; i++) {
        usleep(10000);
    }
    int d = mqtt_connect(fx->port, 4, "m3"); /* a slot is free again */
    close(a);
    close(d);
    stop(fx);
}

static void test_listener__oversized_connect_closed_before_body(void **state)
{
    (void)state;
    struct fixture *fx = start(0, false);
    int fd = dial(fx->port);
    /* CONNECT announcing 200 MB: refused from the fixed header alone. */
    const uint8_t hdr[] = {0x10, 0x80, 0x80, 0x80, 0x64};
    assert_int_equal(send(fd, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
    uint8_t body[16];
    size_t len;
    assert_int_equal(read_packet(fd, body, sizeof body, &len), -1);
    close(fd);
    stop(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_matching__v5_gets_0x98_v3_closed_others_untouched),
        cmocka_unit_test(test_close_matching_on__listener_filter_spares_connections),
        cmocka_unit_test(test_listener__max_connections_refuses_extra),
        cmocka_unit_test(test_listener__oversized_connect_closed_before_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
