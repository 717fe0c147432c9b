/* broker.c — the MQTT core object: construction, teardown, stats; see mqtt.h. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "mqtt/core.h"
#include "store/store.h"

static bool session_online(void *subscriber)
{
    const struct session *s = subscriber;
    return s->conn != NULL;
}

struct rmq_mqtt *rmq_mqtt_new(const struct rmq_settings *settings)
{
    struct rmq_mqtt *b = calloc(1, sizeof *b);
    if (!b) {
        return NULL;
    }
    b->settings = settings;
    b->cfg = &settings->mqtt;
    rmq_hmap_init(&b->sessions);
    b->router = rmq_router_new(session_online);
    b->retained = rmq_retained_new();
    if (!b->router || !b->retained) {
        rmq_mqtt_free(b);
        return NULL;
    }
    /* Above this many queued output bytes QoS 0 is dropped for that client. */
    size_t hw =
        (size_t)(b->cfg->max_packet_size > (1u << 20) ? b->cfg->max_packet_size : (1u << 20));
    b->out_high_water = hw * 4;
    return b;
}

void rmq_mqtt_free(struct rmq_mqtt *b)
{
    if (!b) {
        return;
    }
    /* The store keeps what it has: sessions freed below are not "gone". */
    rmq_persist_flush(b);
    rmq_store_free(b->store);
    b->store = NULL;
    free(b->held);
    /* Sessions first: destroying one removes its subscriptions from the router. */
    size_t it;
    struct rmq_hmap_entry *e;
    while ((e = rmq_hmap_first(&b->sessions, &it)) != NULL) {
        struct session *s = e->value;
        rmq_msg_unref(s->will); /* no will publishing at shutdown */
        s->will = NULL;
        rmq_session_destroy(b, s);
    }
    rmq_hmap_release(&b->sessions);
    free(b->unw);
    rmq_router_free(b->router);
    rmq_retained_free(b->retained);
    free(b->targets);
    free(b);
}

const struct rmq_mqtt_stats *rmq_mqtt_stats(const struct rmq_mqtt *b)
{
    return &b->stats;
}

size_t rmq_mqtt_out_high_water(const struct rmq_mqtt *b)
{
    return b->out_high_water;
}
