/*
 * Unit tests for the MQTT core (src/mqtt/mqtt.h) driven without sockets: a
 * fake net layer collects the bytes the core writes, packets are built and
 * parsed with the codec. Covers routing decisions: overlapping subscriptions
 * (one delivery at the maximum QoS with every subscription id), no-local,
 * shared groups, the in-flight window, and backpressure (a full queue of a
 * live subscriber holds the publisher instead of dropping: mqtt/flow.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdlib.h>

#include "config/settings.h"
#include "mqtt/mqtt.h"
#include "mqtt/codec.h"
#include "test_mqtt_fake_io.h"

static int count_publishes(struct fake_net *n, uint8_t *max_qos, uint8_t *n_sub_ids)
{
    struct rmq_packet p;
    uint8_t st[4096];
    int count = 0;
    while (take(n, &p, st, sizeof st)) {
        if (p.type == RMQ_PKT_PUBLISH) {
            count++;
            *max_qos = p.publish.qos;
            *n_sub_ids = p.publish.props.n_sub_ids;
        }
    }
    return count;
}

static void test_core__overlapping_subscriptions_one_delivery_at_max_qos(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(32, 100);
    struct fake_net *s = client(b, "s", RMQ_MQTT_V5);
    struct fake_net *p = client(b, "p", RMQ_MQTT_V5);
    subscribe(s, "a/+", 0, 1, false);
    subscribe(s, "a/#", 2, 2, false);
    subscribe(s, "a/b", 1, 3, false);
    publish(p, "a/b", 2, 9);
    uint8_t qos = 9, nids = 0;
    assert_int_equal(count_publishes(s, &qos, &nids), 1);
    assert_int_equal(qos, 2);
    assert_int_equal(nids, 3);
    drop(s);
    drop(p);
    rmq_mqtt_free(b);
}

static void test_core__no_local_skips_own_messages(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(32, 100);
    struct fake_net *s = client(b, "s", RMQ_MQTT_V5);
    subscribe(s, "t", 1, 0, true);
    publish(s, "t", 0, 0);
    uint8_t qos, nids;
    assert_int_equal(count_publishes(s, &qos, &nids), 0);
    struct fake_net *o = client(b, "o", RMQ_MQTT_V5);
    publish(o, "t", 0, 0);
    assert_int_equal(count_publishes(s, &qos, &nids), 1);
    drop(s);
    drop(o);
    rmq_mqtt_free(b);
}

static void test_core__shared_group_delivers_once(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(32, 100);
    struct fake_net *m1 = client(b, "m1", RMQ_MQTT_V311);
    struct fake_net *m2 = client(b, "m2", RMQ_MQTT_V311);
    struct fake_net *p = client(b, "p", RMQ_MQTT_V311);
    subscribe(m1, "$share/g/job", 0, 0, false);
    subscribe(m2, "$share/g/job", 0, 0, false);
    for (int i = 0; i < 10; i++) {
        publish(p, "job", 0, 0);
    }
    uint8_t qos, nids;
    int a = count_publishes(m1, &qos, &nids);
    int c = count_publishes(m2, &qos, &nids);
    assert_int_equal(a + c, 10);
    assert_true(a > 0 && c > 0);
    drop(m1);
    drop(m2);
    drop(p);
    rmq_mqtt_free(b);
}

/* Encodes p and offers it to the core; returns the bytes it consumed. */
static size_t offer(struct fake_net *n, const struct rmq_packet *p)
{
    struct rmq_buf in;
    rmq_buf_init(&in, 0);
    assert_int_equal(rmq_codec_encode(p, n->version, &in), RMQ_OK);
    size_t used = rmq_mqtt_conn_input(n->mc, in.data, in.len);
    rmq_buf_release(&in);
    return used;
}

static void ack(struct fake_net *n, uint16_t pid)
{
    struct rmq_packet a = {.type = RMQ_PKT_PUBACK};
    a.ack.packet_id = pid;
    feed(n, &a);
}

static void test_core__full_queue_holds_publisher_and_drops_nothing(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(2, 4);
    struct fake_net *s = client(b, "s", RMQ_MQTT_V311);
    struct fake_net *p = client(b, "p", RMQ_MQTT_V311);
    subscribe(s, "q", 1, 0, false);
    /* 2 in flight + 4 queued: the 7th finds the queue full; it is queued all
     * the same and the publisher is held after it. */
    for (uint16_t i = 1; i <= 7; i++) {
        assert_false(rmq_mqtt_conn_held(p->mc));
        publish(p, "q", 1, i);
    }
    assert_true(rmq_mqtt_conn_held(p->mc));
    struct rmq_packet pub = {.type = RMQ_PKT_PUBLISH};
    pub.publish.topic = (struct rmq_bytes){(const uint8_t *)"q", 1};
    pub.publish.qos = 1;
    pub.publish.packet_id = 8;
    assert_int_equal(offer(p, &pub), 0); /* held: not decoded */
    uint8_t qos, nids;
    assert_int_equal(count_publishes(s, &qos, &nids), 2);
    /* Acks free slots; under half the queue limit the publisher is resumed. */
    ack(s, 1);
    ack(s, 2);
    assert_true(rmq_mqtt_conn_held(p->mc));
    assert_int_equal(p->resumed, 0);
    ack(s, 3);
    assert_false(rmq_mqtt_conn_held(p->mc));
    assert_int_equal(p->resumed, 1);
    assert_int_equal(offer(p, &pub) > 0, 1);
    /* Every message arrives; none was dropped. */
    int seen = 2 + count_publishes(s, &qos, &nids);
    for (uint16_t pid = 4; seen < 8 && pid <= 8; pid++) {
        ack(s, pid);
        seen += count_publishes(s, &qos, &nids);
    }
    assert_int_equal(seen, 8);
    assert_int_equal(rmq_mqtt_stats(b)->dropped_queue_full, 0);
    drop(s);
    drop(p);
    rmq_mqtt_free(b);
}

/* Whoever closes a connection says why; the core picks the DISCONNECT reason
 * (v5) or just closes (v3). */
static void test_core__close_intent_picks_the_reason_code(void **state)
{
    (void)state;
    static const struct {
        enum rmq_close_intent why;
        uint8_t sent;
    } cases[] = {{RMQ_CLOSE_KEEPALIVE, RMQ_RC_KEEP_ALIVE_TIMEOUT},
                 {RMQ_CLOSE_REVOKED, RMQ_RC_ADMINISTRATIVE_ACTION},
                 {RMQ_CLOSE_SHUTDOWN, RMQ_RC_SERVER_SHUTTING_DOWN},
                 {RMQ_CLOSE_ADMIN, RMQ_RC_ADMINISTRATIVE_ACTION},
                 {RMQ_CLOSE_TAKEOVER, RMQ_RC_SESSION_TAKEN_OVER}};
    struct rmq_mqtt *b = new_broker(10, 10);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fake_net *n = client(b, "k", RMQ_MQTT_V5);
        rmq_mqtt_conn_close(n->mc, cases[i].why);
        struct rmq_packet p;
        uint8_t st[256];
        assert_true(take(n, &p, st, sizeof st));
        assert_int_equal(p.type, RMQ_PKT_DISCONNECT);
        assert_int_equal(p.disconnect.reason, cases[i].sent);
        assert_true(n->closed);
        rmq_mqtt_conn_close(n->mc, RMQ_CLOSE_SHUTDOWN); /* already closed: nothing more */
        assert_false(take(n, &p, st, sizeof st));
        drop(n);
        struct fake_net *v3 = client(b, "k3", RMQ_MQTT_V311);
        rmq_mqtt_conn_close(v3->mc, cases[i].why);
        assert_false(take(v3, &p, st, sizeof st)); /* 3.1.1 has no server DISCONNECT */
        assert_true(v3->closed);
        drop(v3);
    }
    rmq_mqtt_free(b);
}

static void test_core__subscriber_gone_releases_held_publisher(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(1, 1);
    struct fake_net *s = client(b, "s", RMQ_MQTT_V311);
    struct fake_net *p = client(b, "p", RMQ_MQTT_V311);
    subscribe(s, "q", 1, 0, false);
    for (uint16_t i = 1; i <= 3; i++) {
        publish(p, "q", 1, i);
    }
    assert_true(rmq_mqtt_conn_held(p->mc));
    drop(s); /* e.g. closed by the send timeout */
    assert_false(rmq_mqtt_conn_held(p->mc));
    assert_int_equal(p->resumed, 1);
    drop(p);
    rmq_mqtt_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core__overlapping_subscriptions_one_delivery_at_max_qos),
        cmocka_unit_test(test_core__no_local_skips_own_messages),
        cmocka_unit_test(test_core__shared_group_delivers_once),
        cmocka_unit_test(test_core__close_intent_picks_the_reason_code),
        cmocka_unit_test(test_core__full_queue_holds_publisher_and_drops_nothing),
        cmocka_unit_test(test_core__subscriber_gone_releases_held_publisher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
