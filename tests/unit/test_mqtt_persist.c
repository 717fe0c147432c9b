/*
 * test_mqtt_persist.c — the core's group commit (src/mqtt/persist.c): a
 * PUBACK for a message stored for a persistent session is held until the
 * commit; with a commit hook one commit covers several connections' input;
 * a PUBLISH that reaches no persistent session is acknowledged at once; a
 * row for an online subscriber is put off (durable_sessions.flush_delay) and
 * never written when the subscriber acknowledges first.
 */
#include "test_mqtt_fake_io.h"

#include <stdio.h>
#include <unistd.h>

#include "mqtt/core.h"
#include "store/store.h"

static int hook_calls;
static uint64_t hook_delay; /* the last delay asked for */

static void hook(void *arg, uint64_t delay_ms)
{
    (void)arg;
    hook_calls++;
    hook_delay = delay_ms;
}

static struct fake_net *persistent_client(struct rmq_mqtt *b, const char *id)
{
    struct fake_net *n = calloc(1, sizeof *n);
    rmq_buf_init(&n->out, 0);
    n->version = RMQ_MQTT_V311;
    n->mc = rmq_mqtt_conn_new(b, &fake_io, n, &no_peer, "test", "default");
    struct rmq_packet p = {.type = RMQ_PKT_CONNECT};
    p.connect.proto_name = (struct rmq_bytes){(const uint8_t *)"MQTT", 4};
    p.connect.proto_level = RMQ_MQTT_V311;
    p.connect.clean_start = false; /* expiry mqtt.session_expiry_interval: persists */
    p.connect.keepalive = 10;
    p.connect.client_id = (struct rmq_bytes){(const uint8_t *)id, strlen(id)};
    feed(n, &p);
    uint8_t st[256];
    assert_true(take(n, &p, st, sizeof st));
    assert_int_equal(p.type, RMQ_PKT_CONNACK);
    return n;
}

static void send_qos1(struct fake_net *n, const char *topic, uint16_t pid)
{
    struct rmq_packet p = {.type = RMQ_PKT_PUBLISH};
    p.publish.topic = (struct rmq_bytes){(const uint8_t *)topic, strlen(topic)};
    p.publish.qos = 1;
    p.publish.packet_id = pid;
    p.publish.payload = (struct rmq_bytes){(const uint8_t *)"x", 1};
    feed(n, &p);
}

static bool got_puback(struct fake_net *n, uint16_t pid)
{
    struct rmq_packet p;
    uint8_t st[64];
    if (!take(n, &p, st, sizeof st)) {
        return false;
    }
    assert_int_equal(p.type, RMQ_PKT_PUBACK);
    assert_int_equal(p.ack.packet_id, pid);
    return true;
}

static void count_delivery(void *arg, const char *id, size_t len,
                           const struct rmq_store_delivery *d)
{
    (void)id;
    (void)len;
    (void)d;
    (*(int *)arg)++;
}

/* A core with its store in a new directory made from dir (a mkdtemp
 * template), durable_sessions.flush_delay = delay_ms, and the commit hook. */
static struct rmq_mqtt *broker_with_store(char *dir, uint64_t delay_ms)
{
    assert_non_null(mkdtemp(dir));
    struct rmq_mqtt *b = new_broker(32, 1000);
    settings.durable_sessions_enable = true;
    settings.node_data_dir = dir;
    settings.durable_flush_delay = delay_ms;
    rmq_mqtt_open_store(b);
    rmq_mqtt_set_commit_hook(b, hook, NULL);
    return b;
}

/* The delivery rows in the store under dir; then removes dir. */
static int stored_rows_then_remove(const char *dir)
{
    struct rmq_store *st = NULL;
    assert_int_equal(rmq_store_open(dir, &st), RMQ_OK);
    int n = 0;
    struct rmq_store_loader l = {.arg = &n, .delivery = count_delivery};
    assert_int_equal(rmq_store_load(st, &l), RMQ_OK);
    rmq_store_free(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return n;
}

static void test_persist__acks_wait_for_one_commit(void **state)
{
    (void)state;
    char dir[] = "/tmp/rmq-persist-XXXXXX";
    struct rmq_mqtt *b = broker_with_store(dir, 0);

    struct fake_net *s = persistent_client(b, "sub");
    subscribe(s, "t", 1, 0, false);
    drop(s); /* offline; its session stays, in the store */
    rmq_mqtt_commit(b);
    hook_calls = 0;

    struct fake_net *p1 = client(b, "p1", RMQ_MQTT_V311);
    struct fake_net *p2 = client(b, "p2", RMQ_MQTT_V311);
    send_qos1(p1, "t", 1);
    send_qos1(p2, "t", 2);
    assert_false(got_puback(p1, 1)); /* held: not yet on disk */
    assert_false(got_puback(p2, 2));
    assert_int_equal(hook_calls, 1); /* one commit asked for both connections */
    rmq_mqtt_commit(b);
    assert_true(got_puback(p1, 1));
    assert_true(got_puback(p2, 2));

    /* Nothing persistent matches: nothing to wait for. */
    send_qos1(p1, "other", 3);
    assert_true(got_puback(p1, 3));

    /* Without a hook: committed at the end of the input. */
    rmq_mqtt_set_commit_hook(b, NULL, NULL);
    send_qos1(p2, "t", 4);
    assert_true(got_puback(p2, 4));
    drop(p1);
    drop(p2);
    rmq_mqtt_free(b);

    assert_int_equal(stored_rows_then_remove(dir), 3); /* queued for the offline subscriber */
}

/* The subscriber's PUBLISH (QoS 1) and its packet id. */
static uint16_t got_publish(struct fake_net *n)
{
    struct rmq_packet p;
    uint8_t st[256];
    assert_true(take(n, &p, st, sizeof st));
    assert_int_equal(p.type, RMQ_PKT_PUBLISH);
    return p.publish.packet_id;
}

static void send_puback(struct fake_net *n, uint16_t pid)
{
    struct rmq_packet p = {.type = RMQ_PKT_PUBACK};
    p.ack.packet_id = pid;
    feed(n, &p);
}

static void test_persist__delivered_before_due_is_never_written(void **state)
{
    (void)state;
    char dir[] = "/tmp/rmq-persist-XXXXXX";
    struct rmq_mqtt *b = broker_with_store(dir, 60000); /* never due within this test */
    struct fake_net *s = persistent_client(b, "sub");
    subscribe(s, "t", 1, 0, false);
    rmq_mqtt_commit(b);
    struct fake_net *p = client(b, "p", RMQ_MQTT_V311);
    uint64_t commits0, writes0, commits, writes;
    rmq_store_counts(b->store, &commits0, &writes0);

    /* Online persistent subscriber: sent, row put off, publisher's ack held. */
    hook_calls = 0;
    send_qos1(p, "t", 1);
    assert_false(got_puback(p, 1));
    assert_int_equal(hook_calls, 1);
    rmq_mqtt_commit(b); /* end of turn: not due, asks again for later */
    assert_int_equal(hook_calls, 2);
    assert_true(hook_delay > 0 && hook_delay <= 60000);
    assert_false(got_puback(p, 1));
    /* The subscriber acknowledges: nothing is left to make durable. */
    send_puback(s, got_publish(s));
    rmq_mqtt_commit(b);
    assert_true(got_puback(p, 1));
    rmq_store_counts(b->store, &commits, &writes);
    assert_int_equal(writes, writes0); /* no row written, none deleted */
    assert_int_equal(commits, commits0);

    /* Not acknowledged by the time it is due: written, then the ack. */
    settings.durable_flush_delay = 1;
    send_qos1(p, "t", 2);
    uint16_t pid = got_publish(s);
    usleep(3000);
    rmq_mqtt_commit(b);
    assert_true(got_puback(p, 2));
    rmq_store_counts(b->store, &commits, &writes);
    assert_int_equal(writes, writes0 + 1);
    assert_int_equal(commits, commits0 + 1);
    /* Its acknowledgement deletes the row now. */
    send_puback(s, pid);
    rmq_mqtt_commit(b);
    rmq_store_counts(b->store, &commits, &writes);
    assert_int_equal(writes, writes0 + 2);

    /* With flush_delay 0 the row is written at the end of the turn. */
    settings.durable_flush_delay = 0;
    send_qos1(p, "t", 3);
    pid = got_publish(s);
    rmq_mqtt_commit(b);
    assert_true(got_puback(p, 3));
    rmq_store_counts(b->store, &commits, &writes);
    assert_int_equal(writes, writes0 + 3);

    /* Put off, then the subscriber disconnects: written at shutdown, kept. */
    settings.durable_flush_delay = 60000;
    send_puback(s, pid);
    rmq_mqtt_commit(b);
    send_qos1(p, "t", 4);
    (void)got_publish(s);
    drop(s);
    drop(p);
    rmq_mqtt_free(b);

    settings.durable_flush_delay = 0;
    /* Message 4, in flight when its subscriber left. */
    assert_int_equal(stored_rows_then_remove(dir), 1);
}

/* Other writes do not wait for rows put off: they are committed at the end
 * of the turn, and the acks that wait for no unwritten row go out then; an
 * ack behind an unwritten row waits for the subscriber's ack (or the due
 * time), and that row is never written. */
static void test_persist__other_writes_commit_without_rows_put_off(void **state)
{
    (void)state;
    char dir[] = "/tmp/rmq-persist-XXXXXX";
    struct rmq_mqtt *b = broker_with_store(dir, 60000);
    struct fake_net *off = persistent_client(b, "off");
    subscribe(off, "both", 1, 0, false);
    subscribe(off, "off", 1, 0, false);
    drop(off);
    struct fake_net *on = persistent_client(b, "on");
    subscribe(on, "both", 1, 0, false);
    rmq_mqtt_commit(b);
    struct fake_net *p1 = client(b, "p1", RMQ_MQTT_V311);
    struct fake_net *p2 = client(b, "p2", RMQ_MQTT_V311);
    uint64_t commits0, writes0, commits, writes;
    rmq_store_counts(b->store, &commits0, &writes0);

    send_qos1(p1, "off", 1);  /* the offline session's row only */
    send_qos1(p2, "both", 2); /* a row for "off", one put off for "on" */
    rmq_mqtt_commit(b);
    rmq_store_counts(b->store, &commits, &writes);
    assert_int_equal(commits, commits0 + 1);
    assert_int_equal(writes, writes0 + 2); /* the two rows of "off" */
    assert_true(got_puback(p1, 1));        /* held before the row put off */
    assert_false(got_puback(p2, 2));       /* waits for "on" */
    send_puback(on, got_publish(on));
    rmq_mqtt_commit(b);
    assert_true(got_puback(p2, 2));
    rmq_store_counts(b->store, &commits, &writes);
    assert_int_equal(writes, writes0 + 2); /* the row for "on" was never written */
    drop(on);
    drop(p1);
    drop(p2);
    rmq_mqtt_free(b);
    settings.durable_flush_delay = 0;
    assert_int_equal(stored_rows_then_remove(dir), 2); /* queued for "off" */
}

/* Acks wait only for their own message's rows, each connection's in order;
 * the list of rows put off does not grow while rows keep being acknowledged
 * (a client that subscribes to its own topic: one row at a time). */
static void test_persist__acks_wait_only_for_their_rows(void **state)
{
    (void)state;
    char dir[] = "/tmp/rmq-persist-XXXXXX";
    struct rmq_mqtt *b = broker_with_store(dir, 60000);
    struct fake_net *a = persistent_client(b, "a");
    subscribe(a, "a", 1, 0, false);
    rmq_mqtt_commit(b);
    struct fake_net *p1 = client(b, "p1", RMQ_MQTT_V311);
    struct fake_net *p2 = client(b, "p2", RMQ_MQTT_V311);

    send_qos1(p1, "a", 1);    /* waits for a's row */
    send_qos1(p2, "none", 2); /* no persistent subscriber, but held behind p1's */
    send_qos1(p1, "none", 3); /* p1's own order: behind its ack 1 */
    rmq_mqtt_commit(b);
    assert_false(got_puback(p1, 1));
    assert_true(got_puback(p2, 2)); /* another connection: not behind p1's */
    assert_false(got_puback(p1, 3));
    send_puback(a, got_publish(a));
    rmq_mqtt_commit(b);
    assert_true(got_puback(p1, 1));
    assert_true(got_puback(p1, 3));

    for (uint16_t i = 0; i < 2000; i++) {
        send_qos1(p2, "a", (uint16_t)(10 + i % 1000));
        send_puback(a, got_publish(a));
        rmq_mqtt_commit(b);
        assert_true(got_puback(p2, (uint16_t)(10 + i % 1000)));
    }
    assert_true(b->a_unw <= 64); /* one row at a time: the list was reused */
    drop(a);
    drop(p1);
    drop(p2);
    rmq_mqtt_free(b);
    settings.durable_flush_delay = 0;
    assert_int_equal(stored_rows_then_remove(dir), 0);
}

/* QoS 2 to a connected persistent subscriber is never put off: its row is
 * written at the end of the publisher's turn (a row put off would widen the
 * window in which a publisher's resend is delivered twice), and the PUBREL
 * after its PUBREC waits for the end of that turn only. */
static void test_persist__qos2_is_never_put_off(void **state)
{
    (void)state;
    char dir[] = "/tmp/rmq-persist-XXXXXX";
    struct rmq_mqtt *b = broker_with_store(dir, 60000);
    struct fake_net *s = persistent_client(b, "sub2");
    subscribe(s, "q2", 2, 0, false);
    rmq_mqtt_commit(b);
    struct fake_net *p = client(b, "p2", RMQ_MQTT_V311);
    uint64_t commits0, writes0, commits, writes;
    rmq_store_counts(b->store, &commits0, &writes0);

    publish(p, "q2", 2, 9); /* its PUBREC is held */
    struct rmq_packet pk;
    uint8_t st[256];
    assert_true(take(s, &pk, st, sizeof st));
    assert_int_equal(pk.type, RMQ_PKT_PUBLISH);
    assert_int_equal(pk.publish.qos, 2);
    uint16_t pid = pk.publish.packet_id;
    rmq_mqtt_commit(b);
    rmq_store_counts(b->store, &commits, &writes);
    assert_int_equal(writes, writes0 + 1); /* the row (a clean publisher: no QoS 2 id) */

    struct rmq_packet rec = {.type = RMQ_PKT_PUBREC};
    rec.ack.packet_id = pid;
    feed(s, &rec);
    assert_false(take(s, &pk, st, sizeof st)); /* PUBREL waits for the commit */
    rmq_mqtt_commit(b);
    assert_true(take(s, &pk, st, sizeof st));
    assert_int_equal(pk.type, RMQ_PKT_PUBREL);
    assert_int_equal(pk.ack.packet_id, pid);
    rmq_store_counts(b->store, &commits, &writes);
    assert_int_equal(writes, writes0 + 2); /* its new state */
    assert_true(commits > commits0);

    struct rmq_packet comp = {.type = RMQ_PKT_PUBCOMP};
    comp.ack.packet_id = pid;
    feed(s, &comp);
    rmq_mqtt_commit(b);
    drop(s);
    drop(p);
    rmq_mqtt_free(b);
    settings.durable_flush_delay = 0;
    assert_int_equal(stored_rows_then_remove(dir), 0); /* completed: deleted */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persist__acks_wait_for_one_commit),
        cmocka_unit_test(test_persist__delivered_before_due_is_never_written),
        cmocka_unit_test(test_persist__qos2_is_never_put_off),
        cmocka_unit_test(test_persist__acks_wait_only_for_their_rows),
        cmocka_unit_test(test_persist__other_writes_commit_without_rows_put_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
