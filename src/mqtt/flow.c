/*
 * flow.c — backpressure between publishers and subscribers; see flow.h.
 *
 * The wait graph is kept on both ends: a subscriber lists the publishers
 * held for it (to release them when it drains or goes), a publisher lists
 * the subscribers it waits for (to leave their lists when it goes, and to
 * know when the last one released it). Lists are short: a publisher waits
 * only for subscribers that were over their mark when one of its messages
 * reached them.
 */
#include <stdlib.h>

#include "common/log.h"
#include "mqtt/core.h"

static size_t out_pending(const struct rmq_mqtt_conn *mc)
{
    if (mc->io->pending) {
        return mc->io->pending(mc->net);
    }
    return mc->io->outbuf(mc->net)->len;
}

static size_t queue_limit(const struct rmq_mqtt *b)
{
    uint32_t n = b->cfg->max_mqueue_len;
    return n == UINT32_MAX ? 0 : n;
}

static bool list_has(struct rmq_mqtt_conn *const *v, uint32_t n, const struct rmq_mqtt_conn *x)
{
    for (uint32_t i = 0; i < n; i++) {
        if (v[i] == x) {
            return true;
        }
    }
    return false;
}

static bool list_push(struct rmq_mqtt_conn ***v, uint32_t *n, uint32_t *a, struct rmq_mqtt_conn *x)
{
    if (*n == *a) {
        if (*a >= UINT32_C(1) << 30) {
            return false; /* as out of memory: the publisher is not held */
        }
        uint32_t na = *a ? *a * 2 : 4;
        struct rmq_mqtt_conn **nv = realloc(*v, na * sizeof *nv);
        if (!nv) {
            return false;
        }
        *v = nv;
        *a = na;
    }
    (*v)[(*n)++] = x;
    return true;
}

static void list_remove(struct rmq_mqtt_conn **v, uint32_t *n, const struct rmq_mqtt_conn *x)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (v[i] == x) {
            v[i] = v[--*n];
            return;
        }
    }
}

/* mc's wait lists, made at its first hold (most connections never need
 * them); NULL: out of memory. */
static struct rmq_flow *flow_of(struct rmq_mqtt_conn *mc)
{
    if (!mc->flow) {
        mc->flow = calloc(1, sizeof *mc->flow);
    }
    return mc->flow;
}

void rmq_flow_set_publisher(struct rmq_mqtt *b, struct rmq_mqtt_conn *publisher)
{
    b->flow_pub = publisher;
}

bool rmq_flow_full(const struct rmq_mqtt *b, const struct session *s)
{
    size_t limit = queue_limit(b);
    return out_pending(s->conn) > b->out_high_water || (limit && s->queue.count >= limit);
}

bool rmq_flow_hold(struct rmq_mqtt *b, struct session *s, int qos)
{
    if (qos == 0 && !b->cfg->mqueue_store_qos0) {
        return false;
    }
    struct rmq_mqtt_conn *pub = b->flow_pub;
    struct rmq_mqtt_conn *sub = s->conn;
    /* A client subscribed to its own messages is paced by the net layer
     * (reading pauses while its own output is over the mark). */
    if (!pub || !sub || pub == sub || pub->state != CS_CONNECTED) {
        return true;
    }
    struct rmq_flow *fs = flow_of(sub);
    struct rmq_flow *fp = flow_of(pub);
    if (!fs || !fp) {
        return true; /* out of memory: not held, still queued */
    }
    if (list_has(fs->waiters, fs->n_waiters, pub)) {
        return true;
    }
    if (!list_push(&fs->waiters, &fs->n_waiters, &fs->a_waiters, pub)) {
        return true;
    }
    if (!list_push(&fp->holders, &fp->n_holders, &fp->a_holders, sub)) {
        fs->n_waiters--;
        return true;
    }
    RMQ_LOG_RL(5, RMQ_LOG_INFO, "flow",
               "publisher held for a slow subscriber publisher=%s subscriber=%s queued_bytes=%zu "
               "queued_msgs=%zu",
               rmq_mqtt_conn_client_id(pub), s->client_id, out_pending(sub), s->queue.count);
    return true;
}

/* Releases every publisher held for sub; resumes those no longer waiting. */
static void release(struct rmq_mqtt_conn *sub)
{
    struct rmq_flow *fs = sub->flow;
    while (fs && fs->n_waiters) {
        struct rmq_mqtt_conn *pub = fs->waiters[--fs->n_waiters];
        /* a waiter holds for sub, so its lists exist */
        list_remove(pub->flow->holders, &pub->flow->n_holders, sub);
        if (pub->flow->n_holders == 0 && pub->state != CS_CLOSED && pub->io->resume) {
            pub->io->resume(pub->net);
        }
    }
}

void rmq_flow_check(struct rmq_mqtt *b, struct session *s)
{
    if (!s || !s->conn || !s->conn->flow || s->conn->flow->n_waiters == 0) {
        return;
    }
    size_t limit = queue_limit(b);
    if (out_pending(s->conn) > b->out_high_water / 2 || (limit && s->queue.count > limit / 2)) {
        return;
    }
    release(s->conn);
}

bool rmq_flow_held(const struct rmq_mqtt_conn *mc)
{
    return mc->flow && mc->flow->n_holders > 0;
}

void rmq_flow_conn_gone(struct rmq_mqtt_conn *mc)
{
    release(mc);
    struct rmq_flow *f = mc->flow;
    if (!f) {
        return;
    }
    for (uint32_t i = 0; i < f->n_holders; i++) {
        struct rmq_flow *fs = f->holders[i]->flow; /* it holds mc, so its lists exist */
        list_remove(fs->waiters, &fs->n_waiters, mc);
    }
    free(f->waiters);
    free(f->holders);
    free(f);
    mc->flow = NULL;
}
