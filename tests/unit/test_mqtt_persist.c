/*
 * test_mqtt_persist.c — the core's group commit (src/mqtt/persist.c): a
 * PUBACK for a message stored for a persistent session is held until the
 * commit; with a commit hook one commit covers several connections' input;
 * a PUBLISH that reaches no persistent session is acknowledged at once.
 */
#include "test_mqtt_fake_io.h"

#include <stdio.h>
#include <unistd.h>

#include "store/store.h"

static int hook_calls;

static void hook(void *arg)
{
    (void)arg;
    hook_calls++;
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

static void test_persist__acks_wait_for_one_commit(void **state)
{
    (void)state;
    char dir[] = "/tmp/rmq-persist-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct rmq_mqtt *b = new_broker(32, 1000);
    settings.durable_sessions_enable = true;
    settings.node_data_dir = dir;
    rmq_mqtt_open_store(b);
    rmq_mqtt_set_commit_hook(b, hook, NULL);

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

    struct rmq_store *st = NULL;
    assert_int_equal(rmq_store_open(dir, &st), RMQ_OK);
    int n = 0;
    struct rmq_store_loader l = {.arg = &n, .delivery = count_delivery};
    assert_int_equal(rmq_store_load(st, &l), RMQ_OK);
    assert_int_equal(n, 3); /* queued for the offline subscriber */
    rmq_store_free(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persist__acks_wait_for_one_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
