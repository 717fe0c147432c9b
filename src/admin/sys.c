/* sys.c — $SYS/broker/... topics in Mosquitto's layout, published retained
 * every sys_topics.sys_msg_interval from the core worker. */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "admin/admin_int.h"
#include "common/log.h"
#include "common/version.h"
#include "mqtt/mqtt.h"
#include "mqtt/introspect.h"

static void pub_u64(struct rmq_mqtt *b, const char *topic, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    if (!rmq_mqtt_publish_sys(b, topic, buf)) {
        RMQ_LOG_RL(1, RMQ_LOG_WARNING, "admin", "$SYS publish failed topic=%s", topic);
    }
}

static void core_sys(struct rmq_mqtt *b, struct core_call *c)
{
    struct rmq_mqtt_counts k;
    rmq_mqtt_counts(b, &k);
    const struct rmq_mqtt_stats *st = rmq_mqtt_stats(b);
    uint64_t uptime = (uint64_t)json_integer_value(json_object_get(c->in, "uptime"));
    char buf[64];
    snprintf(buf, sizeof buf, "revmq version %s", RMQ_VERSION);
    (void)rmq_mqtt_publish_sys(b, "$SYS/broker/version", buf);
    snprintf(buf, sizeof buf, "%llu seconds", (unsigned long long)uptime);
    (void)rmq_mqtt_publish_sys(b, "$SYS/broker/uptime", buf);
    pub_u64(b, "$SYS/broker/clients/connected", k.connections);
    pub_u64(b, "$SYS/broker/clients/active", k.connections);
    pub_u64(b, "$SYS/broker/clients/total", k.sessions);
    pub_u64(b, "$SYS/broker/clients/disconnected", k.sessions - k.connections);
    pub_u64(b, "$SYS/broker/messages/received", st->messages_in);
    pub_u64(b, "$SYS/broker/messages/sent", st->messages_out);
    pub_u64(b, "$SYS/broker/publish/messages/received", st->messages_in);
    pub_u64(b, "$SYS/broker/publish/messages/sent", st->messages_out);
    pub_u64(b, "$SYS/broker/publish/messages/dropped",
            st->dropped_queue_full + st->dropped_expired + st->dropped_too_large +
                st->dropped_qos0_backpressure);
    pub_u64(b, "$SYS/broker/subscriptions/count", k.subscriptions);
    pub_u64(b, "$SYS/broker/retained messages/count", k.retained);
}

static void on_sys_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rmq_admin *a = arg;
    struct core_call *c = core_call_new(core_sys, a->s);
    if (!c || !(c->in = json_pack("{s:I}", "uptime", (json_int_t)(time(NULL) - a->started_at)))) {
        core_call_free(c);
        return;
    }
    if (admin_core_call(a, c)) {
        core_call_free(c);
    }
}

rmq_err admin_sys_start(struct rmq_admin *a)
{
    uint64_t ms = a->s->sys_msg_interval;
    if (ms == 0) {
        return RMQ_OK;
    }
    a->sys_timer = event_new(a->base, -1, EV_PERSIST, on_sys_timer, a);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (!a->sys_timer || event_add(a->sys_timer, &tv) != 0) {
        return RMQ_ERR_NOMEM;
    }
    return RMQ_OK;
}
