/*
 * Unit tests for the session / connection core (src/mqtt/conn.c, session.c,
 * handle_*.c) driven with packets through a fake net layer
 * (test_mqtt_fake_io.h): resume with a queued message, takeover, a second
 * CONNECT, PUBREL for an unknown id, mqtt.retry_interval per protocol
 * version, and a will that is due when the session resumes.
 */
#include <time.h>

#include "test_mqtt_fake_io.h"

#define BYTES(s) ((struct rmq_bytes){(const uint8_t *)(s), strlen(s)})

/* A connection with CONNECT options; returns the CONNACK. */
static struct fake_net *connect_ex(struct rmq_mqtt *b, const char *id, uint8_t version, bool clean,
                                   uint32_t expiry, const char *will_topic, uint32_t will_delay,
                                   struct rmq_packet *connack)
{
    struct fake_net *n = calloc(1, sizeof *n);
    assert_non_null(n);
    rmq_buf_init(&n->out, 0);
    n->version = version;
    n->mc = rmq_mqtt_conn_new(b, &fake_io, n, &no_peer, "test", "default");
    struct rmq_packet p = {.type = RMQ_PKT_CONNECT};
    p.connect.proto_level = version;
    p.connect.clean_start = clean;
    p.connect.keepalive = 10;
    p.connect.client_id = BYTES(id);
    if (expiry && version == RMQ_MQTT_V5) {
        p.connect.props.session_expiry = expiry;
        rmq_props_set(&p.connect.props, RMQ_PROP_SESSION_EXPIRY);
    }
    if (will_topic) {
        p.connect.will = true;
        p.connect.will_qos = 1;
        p.connect.will_topic = BYTES(will_topic);
        p.connect.will_payload = BYTES("gone");
        p.connect.will_props.will_delay = will_delay;
        rmq_props_set(&p.connect.will_props, RMQ_PROP_WILL_DELAY);
    }
    feed(n, &p);
    static uint8_t st[256];
    assert_true(take(n, connack, st, sizeof st));
    assert_int_equal(connack->type, RMQ_PKT_CONNACK);
    return n;
}

/* The next packet the core wrote to n must be of `type`. */
static void expect(struct fake_net *n, enum rmq_pkt_type type, struct rmq_packet *p)
{
    static uint8_t st[1024];
    assert_true(take(n, p, st, sizeof st));
    assert_int_equal(p->type, type);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_session__resume_has_session_present_and_queued_message(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(10, 10);
    struct rmq_packet ack, p;
    struct fake_net *s = connect_ex(b, "s", RMQ_MQTT_V5, false, 60, NULL, 0, &ack);
    assert_false(ack.connack.session_present);
    subscribe(s, "q/#", 1, 0, false);
    drop(s); /* connection lost; the session stays (expiry 60 s) */
    struct fake_net *pub = client(b, "p", RMQ_MQTT_V311);
    publish(pub, "q/1", 1, 5);
    s = connect_ex(b, "s", RMQ_MQTT_V5, false, 60, NULL, 0, &ack);
    assert_true(ack.connack.session_present);
    expect(s, RMQ_PKT_PUBLISH, &p);
    assert_int_equal(p.publish.qos, 1);
    assert_int_equal(p.publish.topic.len, 3);
    drop(s);
    drop(pub);
    rmq_mqtt_free(b);
}

static void test_session__takeover_sends_0x8e_to_the_old_connection(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(10, 10);
    struct rmq_packet ack, p;
    struct fake_net *a = connect_ex(b, "t", RMQ_MQTT_V5, true, 0, NULL, 0, &ack);
    struct fake_net *a2 = connect_ex(b, "t", RMQ_MQTT_V5, true, 0, NULL, 0, &ack);
    assert_int_equal(ack.connack.reason, RMQ_RC_SUCCESS);
    expect(a, RMQ_PKT_DISCONNECT, &p);
    assert_int_equal(p.disconnect.reason, RMQ_RC_SESSION_TAKEN_OVER); /* MQTT-3.1.4-3 */
    assert_true(a->closed);
    assert_false(a2->closed);
    drop(a);
    drop(a2);
    rmq_mqtt_free(b);
}

static void test_session__second_connect_is_a_protocol_error(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(10, 10);
    struct rmq_packet ack, p;
    struct fake_net *c = connect_ex(b, "c2", RMQ_MQTT_V5, true, 0, NULL, 0, &ack);
    struct rmq_packet again = {.type = RMQ_PKT_CONNECT};
    again.connect.proto_level = RMQ_MQTT_V5;
    again.connect.client_id = BYTES("c2");
    feed(c, &again);
    expect(c, RMQ_PKT_DISCONNECT, &p);
    assert_int_equal(p.disconnect.reason, RMQ_RC_PROTOCOL_ERROR); /* MQTT-3.1.0-2 */
    assert_true(c->closed);
    drop(c);
    rmq_mqtt_free(b);
}

static void test_session__pubrel_for_unknown_id_gets_pubcomp_0x92(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(10, 10);
    struct rmq_packet ack, p;
    struct fake_net *c = connect_ex(b, "r", RMQ_MQTT_V5, true, 0, NULL, 0, &ack);
    struct rmq_packet rel = {.type = RMQ_PKT_PUBREL};
    rel.ack.packet_id = 42;
    feed(c, &rel);
    expect(c, RMQ_PKT_PUBCOMP, &p);
    assert_int_equal(p.ack.packet_id, 42);
    assert_int_equal(p.ack.reason, RMQ_RC_PACKET_ID_NOT_FOUND);
    assert_false(c->closed);
    drop(c);
    rmq_mqtt_free(b);
}

/* mqtt.retry_interval: the tick sends an unacknowledged QoS 1 message again,
 * with DUP, to a v3.1.1 client; never to a v5 client (MQTT-4.4.0-1). */
static void test_session__retry_interval_resends_to_v311_only(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(10, 10);
    settings.mqtt.retry_interval = 5; /* ms */
    struct rmq_packet p;
    struct fake_net *s3 = client(b, "s3", RMQ_MQTT_V311);
    struct fake_net *s5 = client(b, "s5", RMQ_MQTT_V5);
    subscribe(s3, "r/#", 1, 0, false);
    subscribe(s5, "r/#", 1, 0, false);
    struct fake_net *pub = client(b, "p", RMQ_MQTT_V311);
    publish(pub, "r/1", 1, 9);
    struct rmq_packet first3, first5;
    expect(s3, RMQ_PKT_PUBLISH, &first3);
    expect(s5, RMQ_PKT_PUBLISH, &first5);
    assert_false(first3.publish.dup);
    rmq_mqtt_tick(b); /* not yet due */
    assert_int_equal(s3->out.len, 0);
    sleep_ms(10);
    rmq_mqtt_tick(b);
    expect(s3, RMQ_PKT_PUBLISH, &p);
    assert_true(p.publish.dup);
    assert_int_equal(p.publish.packet_id, first3.publish.packet_id);
    assert_int_equal(s5->out.len, 0); /* v5: nothing */
    struct rmq_packet puback = {.type = RMQ_PKT_PUBACK};
    puback.ack.packet_id = first3.publish.packet_id;
    feed(s3, &puback);
    sleep_ms(10);
    rmq_mqtt_tick(b);
    assert_int_equal(s3->out.len, 0); /* acknowledged: done */
    drop(s3);
    drop(s5);
    drop(pub);
    rmq_mqtt_free(b);
}

/* MQTT-3.1.2-8: a will whose delay has passed is published when the session
 * is resumed, even though no tick ran; one still waiting is cancelled. */
static void test_session__due_will_published_on_resume_waiting_one_cancelled(void **state)
{
    (void)state;
    struct rmq_mqtt *b = new_broker(10, 10);
    struct rmq_packet ack, p;
    struct fake_net *w = client(b, "watch", RMQ_MQTT_V5);
    subscribe(w, "will/#", 1, 0, false);
    struct fake_net *c = connect_ex(b, "wc", RMQ_MQTT_V5, false, 60, "will/wc", 1, &ack);
    drop(c); /* lost: the will waits 1 s */
    c = connect_ex(b, "wc", RMQ_MQTT_V5, false, 60, "will/wc", 1, &ack);
    assert_true(ack.connack.session_present);
    assert_int_equal(w->out.len, 0); /* resumed in time: cancelled */
    drop(c);
    sleep_ms(1100); /* the delay passes, no tick runs */
    c = connect_ex(b, "wc", RMQ_MQTT_V5, false, 60, NULL, 0, &ack);
    expect(w, RMQ_PKT_PUBLISH, &p);
    assert_int_equal(p.publish.payload.len, 4);
    assert_memory_equal(p.publish.payload.p, "gone", 4);
    drop(c);
    drop(w);
    rmq_mqtt_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session__resume_has_session_present_and_queued_message),
        cmocka_unit_test(test_session__takeover_sends_0x8e_to_the_old_connection),
        cmocka_unit_test(test_session__second_connect_is_a_protocol_error),
        cmocka_unit_test(test_session__pubrel_for_unknown_id_gets_pubcomp_0x92),
        cmocka_unit_test(test_session__retry_interval_resends_to_v311_only),
        cmocka_unit_test(test_session__due_will_published_on_resume_waiting_one_cancelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
