/*
 * session.c — MQTT sessions: the table by client id, outgoing queues and
 * in-flight windows, delayed wills and session expiry. See core.h/mqtt.h.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "mqtt/core.h"

struct session *rmq_session_find(struct rmq_mqtt *b, const char *id, size_t len)
{
    return rmq_hmap_get(&b->sessions, id, len);
}

struct session *rmq_session_create(struct rmq_mqtt *b, const char *id, size_t len)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s) {
        return NULL;
    }
    s->client_id = malloc(len + 1);
    if (!s->client_id) {
        free(s);
        return NULL;
    }
    memcpy(s->client_id, id, len);
    s->client_id[len] = '\0';
    s->id_len = len;
    s->next_pid = 1;
    rmq_hmap_init(&s->subs);
    if (rmq_hmap_put(&b->sessions, id, len, s, NULL) != RMQ_OK) {
        free(s->client_id);
        free(s);
        return NULL;
    }
    b->stats.sessions++;
    return s;
}

static void delivery_free(struct rmq_mqtt *b, struct delivery *d)
{
    if (d) {
        rmq_persist_delivery_forget(b, d);
        rmq_msg_unref(d->msg);
        free(d);
    }
}

static void dlist_push(struct dlist *l, struct delivery *d)
{
    d->next = NULL;
    if (l->tail) {
        l->tail->next = d;
    } else {
        l->head = d;
    }
    l->tail = d;
    l->count++;
}

/* In flight from now: the retry clock starts. */
static void inflight_push(struct session *s, struct delivery *d)
{
    d->sent_at = rmq_now_ms();
    dlist_push(&s->inflight, d);
}

static struct delivery *dlist_pop(struct dlist *l)
{
    struct delivery *d = l->head;
    if (d) {
        l->head = d->next;
        if (!l->head) {
            l->tail = NULL;
        }
        l->count--;
        d->next = NULL;
    }
    return d;
}

static void dlist_clear(struct rmq_mqtt *b, struct dlist *l)
{
    struct delivery *d;
    while ((d = dlist_pop(l))) {
        delivery_free(b, d);
    }
}

static void pending_unlink(struct rmq_mqtt *b, struct session *s)
{
    if (!s->in_pending) {
        return;
    }
    if (s->pprev) {
        s->pprev->pnext = s->pnext;
    } else {
        b->pending = s->pnext;
    }
    if (s->pnext) {
        s->pnext->pprev = s->pprev;
    }
    s->pnext = s->pprev = NULL;
    s->in_pending = false;
}

/* Keeps the session in the pending list iff it has a timer. */
void rmq_session_pending_update(struct rmq_mqtt *b, struct session *s)
{
    bool want = !s->conn && (s->expire_at != 0 || s->will != NULL);
    if (want && !s->in_pending) {
        s->pnext = b->pending;
        s->pprev = NULL;
        if (b->pending) {
            b->pending->pprev = s;
        }
        b->pending = s;
        s->in_pending = true;
    } else if (!want) {
        pending_unlink(b, s);
    }
}

void rmq_session_publish_will(struct rmq_mqtt *b, struct session *s)
{
    struct rmq_msg *w = s->will;
    if (!w) {
        return;
    }
    s->will = NULL;
    if (rmq_session_authz_will(s, w)) { /* the rules in force now (a reload may have come) */
        rmq_info("session", "will published client_id=%s topic=%s", s->client_id, w->topic);
        rmq_publish_will_msg(b, w);
    }
    rmq_msg_unref(w);
}

void rmq_session_destroy(struct rmq_mqtt *b, struct session *s)
{
    /* A session that ends publishes its delayed will (MQTT 5 3.1.3.2.2). */
    rmq_session_publish_will(b, s);
    rmq_persist_session_gone(b, s);
    pending_unlink(b, s);
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&s->subs, &it); e;
         e = rmq_hmap_next(&s->subs, e, &it)) {
        rmq_router_remove(b->router, e->key, e->klen, s);
        free(e->value);
    }
    rmq_hmap_release(&s->subs);
    dlist_clear(b, &s->inflight);
    dlist_clear(b, &s->queue);
    free(s->rel);
    rmq_hmap_del(&b->sessions, s->client_id, s->id_len);
    b->stats.sessions--;
    free(s->client_id);
    rmq_principal_free(s->owner);
    free(s);
}

struct delivery *rmq_session_inflight_find(struct session *s, uint16_t pid)
{
    for (struct delivery *d = s->inflight.head; d; d = d->next) {
        if (d->pid == pid) {
            return d;
        }
    }
    return NULL;
}

void rmq_session_inflight_remove(struct rmq_mqtt *b, struct session *s, struct delivery *d)
{
    struct delivery **pp = &s->inflight.head;
    struct delivery *prev = NULL;
    while (*pp && *pp != d) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) {
        return;
    }
    *pp = d->next;
    if (s->inflight.tail == d) {
        s->inflight.tail = prev;
    }
    s->inflight.count--;
    rmq_persist_delivery_done(b, s, d);
    delivery_free(b, d);
}

static uint16_t next_pid(struct session *s)
{
    for (;;) {
        uint16_t pid = s->next_pid++;
        if (s->next_pid == 0) {
            s->next_pid = 1;
        }
        if (pid != 0 && !rmq_session_inflight_find(s, pid)) {
            return pid;
        }
    }
}

static size_t window(const struct rmq_mqtt *b, const struct session *s)
{
    size_t w = b->cfg->max_inflight ? b->cfg->max_inflight : 65535;
    if (s->conn && s->conn->client_receive_max < w) {
        w = s->conn->client_receive_max;
    }
    return w ? w : 1;
}

static bool expired(struct rmq_mqtt *b, const struct rmq_msg *m, int64_t now)
{
    if (m->has_expiry && m->expire_at <= now) {
        b->stats.dropped_expired++;
        return true;
    }
    return false;
}

/* Moves queued messages into the window while there is room; when the
 * queue in memory is empty, reads the next spilled batch from the store. */
void rmq_session_pump(struct rmq_mqtt *b, struct session *s)
{
    int64_t now = rmq_now_ms();
    while (s->conn && s->conn->state == CS_CONNECTED && s->inflight.count < window(b, s)) {
        if (!s->queue.head) {
            if (s->spilled && rmq_persist_refill(b, s)) {
                continue;
            }
            break;
        }
        struct delivery *d = dlist_pop(&s->queue);
        if (expired(b, d->msg, now)) {
            rmq_persist_delivery_done(b, s, d);
            delivery_free(b, d);
            continue;
        }
        if (d->qos == 0) {
            /* Kept while the session was offline (mqueue_store_qos0): sent, forgotten. */
            rmq_conn_send_publish(s->conn, d, false);
            delivery_free(b, d);
            continue;
        }
        d->pid = next_pid(s);
        d->state = D_WAIT_ACK;
        if (!rmq_conn_send_publish(s->conn, d, false)) {
            rmq_persist_delivery_done(b, s, d);
            delivery_free(b, d); /* too large for the client: as if delivered */
            continue;
        }
        inflight_push(s, d);
        rmq_persist_delivery_state(b, s, d);
    }
    rmq_flow_check(b, s);
}

static void drop_log(struct rmq_mqtt *b, struct session *s, const struct rmq_msg *m)
{
    b->stats.dropped_queue_full++;
    s->dropped++;
    RMQ_LOG_RL(5, RMQ_LOG_WARNING, "session",
               "message dropped, queue full client_id=%s topic=%s qos=0 max_mqueue_len=%u "
               "dropped=%llu",
               s->client_id, m->topic, b->cfg->max_mqueue_len, (unsigned long long)s->dropped);
}

static size_t queue_limit(const struct rmq_mqtt *b)
{
    uint32_t n = b->cfg->max_mqueue_len;
    return n == UINT32_MAX ? 0 : n;
}

/* durable_sessions.max_stored_messages_per_session reached. */
static bool stored_full(const struct rmq_mqtt *b, const struct session *s)
{
    uint64_t max = b->settings->durable_max_stored_per_session;
    return max && s->inflight.count + s->queue.count + s->spilled >= max;
}

/* A QoS 1/2 delivery beyond the queue in memory: written to the store only
 * (same group commit as any delivery; the publisher's ack waits for it).
 * False when there is no durable place for it: the caller refuses it. */
static bool spill(struct rmq_mqtt *b, struct session *s, struct delivery *d, bool online)
{
    if (!rmq_persist_on(b, s) || stored_full(b, s)) {
        return false;
    }
    rmq_persist_delivery_spill(b, s, d);
    if (!d->sseq) {
        return false; /* the write failed (logged by the store) */
    }
    if (s->spilled++ == 0) {
        s->spill_after = d->sseq - 1; /* every row in memory is older */
    }
    if (online && rmq_flow_full(b, s)) {
        rmq_flow_hold(b, s, d->qos); /* a live subscriber behind: pace its publisher too */
    }
    d->sseq = 0; /* the row stays; this copy goes */
    delivery_free(b, d);
    return true;
}

static struct delivery *delivery_new(struct rmq_msg *m, uint8_t qos, bool retain,
                                     const uint32_t *sub_ids, uint8_t n_sub_ids)
{
    struct delivery *d = malloc(sizeof *d + n_sub_ids * sizeof(uint32_t));
    if (!d) {
        return NULL;
    }
    d->next = NULL;
    d->msg = rmq_msg_ref(m);
    d->sseq = 0;
    d->unw = 0;
    d->pid = 0;
    d->qos = qos;
    d->state = D_WAIT_ACK;
    d->retain = retain;
    d->sent_at = 0;
    d->n_sub_ids = n_sub_ids;
    if (n_sub_ids) {
        memcpy(d->sub_ids, sub_ids, n_sub_ids * sizeof(uint32_t));
    }
    return d;
}

/* QoS 0 to a connected subscriber: sent at once and forgotten (no allocation). */
static void deliver_qos0_online(struct rmq_mqtt *b, struct session *s, struct rmq_msg *m,
                                bool retain, const uint32_t *sub_ids, uint8_t n_sub_ids)
{
    /* Over its mark: the publisher is held (flow.h); dropped only by policy. */
    if (rmq_flow_full(b, s) && !rmq_flow_hold(b, s, 0)) {
        b->stats.dropped_qos0_backpressure++;
        s->dropped++;
        RMQ_LOG_RL(5, RMQ_LOG_WARNING, "session",
                   "message dropped, slow consumer client_id=%s topic=%s qos=0 "
                   "queued_bytes=%zu dropped=%llu mqueue_store_qos0=false",
                   s->client_id, m->topic, s->conn->io->outbuf(s->conn->net)->len,
                   (unsigned long long)s->dropped);
        return;
    }
    _Alignas(struct delivery)
        uint8_t mem[sizeof(struct delivery) + RMQ_CORE_MAX_SUB_IDS * sizeof(uint32_t)];
    struct delivery *d0 = (struct delivery *)mem;
    memset(d0, 0, sizeof *d0);
    d0->msg = m;
    d0->retain = retain;
    d0->n_sub_ids = n_sub_ids < RMQ_CORE_MAX_SUB_IDS ? n_sub_ids : RMQ_CORE_MAX_SUB_IDS;
    if (d0->n_sub_ids) {
        memcpy(d0->sub_ids, sub_ids, d0->n_sub_ids * sizeof(uint32_t));
    }
    rmq_conn_send_publish(s->conn, d0, false);
}

bool rmq_session_deliver(struct rmq_mqtt *b, struct session *s, struct rmq_msg *m, uint8_t qos,
                         bool retain, const uint32_t *sub_ids, uint8_t n_sub_ids, bool *spilled)
{
    bool online = s->conn && s->conn->state == CS_CONNECTED;
    if (qos == 0 && !online && !b->cfg->mqueue_store_qos0) {
        return true; /* mqueue_store_qos0 = false: QoS 0 is not queued for offline sessions */
    }
    if (qos == 0 && online) {
        deliver_qos0_online(b, s, m, retain, sub_ids, n_sub_ids);
        return true;
    }
    struct delivery *d = delivery_new(m, qos, retain, sub_ids, n_sub_ids);
    if (!d) {
        return qos == 0;
    }
    if (online && s->queue.count == 0 && s->spilled == 0 && s->inflight.count < window(b, s)) {
        d->pid = next_pid(s);
        if (rmq_conn_send_publish(s->conn, d, false)) {
            inflight_push(s, d);
            rmq_persist_delivery_add(b, s, d);
        } else {
            delivery_free(b, d);
        }
        return true;
    }
    size_t limit = queue_limit(b);
    bool at_limit = limit && s->queue.count >= limit;
    if (qos > 0 && (s->spilled || (!online && at_limit))) {
        /* Behind what is already on disk, or beyond the queue of an offline
         * session: on disk only, or refused (never dropped once acknowledged). */
        if (spill(b, s, d, online)) {
            *spilled = true;
            return true;
        }
        delivery_free(b, d);
        return false;
    }
    if (online && rmq_flow_full(b, s)) {
        /* A live subscriber: never drop an acknowledged message; hold the
         * publisher instead (flow.h). */
        rmq_flow_hold(b, s, qos);
        dlist_push(&s->queue, d);
        rmq_persist_delivery_add(b, s, d);
        return true;
    }
    if (at_limit) {
        drop_log(b, s, m); /* QoS 0 for an offline session (mqueue_store_qos0) */
        delivery_free(b, d);
        return true;
    }
    if (qos > 0 && !online && rmq_persist_on(b, s) && stored_full(b, s)) {
        delivery_free(b, d);
        return false;
    }
    dlist_push(&s->queue, d);
    rmq_persist_delivery_add(b, s, d);
    return true;
}

void rmq_session_restore_delivery(struct session *s, struct delivery *d)
{
    if (d->pid) {
        inflight_push(s, d);
    } else {
        dlist_push(&s->queue, d);
    }
}

/* After a session is resumed: in-flight messages again, in order, DUP set
 * (MQTT-4.4.0-1), PUBREL for those past PUBREC; then the queue. */
void rmq_session_resend(struct rmq_mqtt *b, struct session *s)
{
    struct rmq_mqtt_conn *mc = s->conn;
    int64_t now = rmq_now_ms();
    for (struct delivery *d = s->inflight.head; d; d = d->next) {
        d->sent_at = now;
        if (d->state == D_WAIT_COMP) {
            rmq_conn_send_ack(mc, RMQ_PKT_PUBREL, d->pid, 0);
        } else {
            rmq_conn_send_publish(mc, d, true);
        }
    }
    rmq_session_pump(b, s);
}

/*
 * mqtt.retry_interval: what a connected MQTT 3.1 / 3.1.1 client left
 * unacknowledged that long is sent again on the same connection (PUBLISH with
 * DUP, or PUBREL past PUBREC), as MQTT 3.1 required and 3.1.1 allows. Never
 * for MQTT 5, which forbids a resend except on reconnect (MQTT-4.4.0-1).
 */
static void retry_inflight(struct rmq_mqtt *b, int64_t now)
{
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&b->sessions, &it); e;
         e = rmq_hmap_next(&b->sessions, e, &it)) {
        struct session *s = e->value;
        struct rmq_mqtt_conn *mc = s->conn;
        if (!mc || mc->state != CS_CONNECTED || mc->version == RMQ_MQTT_V5) {
            continue;
        }
        for (struct delivery *d = s->inflight.head; d; d = d->next) {
            if (now - d->sent_at < (int64_t)b->cfg->retry_interval) {
                continue;
            }
            d->sent_at = now;
            if (d->state == D_WAIT_COMP) {
                rmq_conn_send_ack(mc, RMQ_PKT_PUBREL, d->pid, 0);
            } else {
                rmq_conn_send_publish(mc, d, true);
            }
        }
    }
}

void rmq_mqtt_tick(struct rmq_mqtt *b)
{
    rmq_conn_authz_tick(b);
    int64_t now = rmq_now_ms();
    retry_inflight(b, now);
    struct session *s = b->pending;
    while (s) {
        struct session *next = s->pnext;
        if (s->will && s->will_at <= now) {
            rmq_session_publish_will(b, s);
        }
        if (s->expire_at && s->expire_at <= now) {
            rmq_info("session", "expired client_id=%s", s->client_id);
            rmq_session_destroy(b, s);
        } else {
            rmq_session_pending_update(b, s);
        }
        s = next;
    }
    rmq_mqtt_commit(b); /* what the timers wrote; rows put off wait until due */
}
