/*
 * persist.c — the MQTT core's hooks into the durable store (store/store.h):
 * which sessions persist, how messages and owners become blobs and back,
 * held acknowledgements (group commit), and loading at start-up.
 *
 * A session persists when the store is open (durable_sessions.enable) and
 * its expiry interval is > 0. Everything here runs on the core thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/metrics.h"
#include "mqtt/core.h"
#include "mqtt/msg.h"
#include "store/store.h"

/* ------------------------------------------------------------ blobs */

struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static void w_put(struct wbuf *w, const void *p, size_t n)
{
    if (w->oom) {
        return;
    }
    if (w->len + n > w->cap) {
        size_t nc = (w->cap ? w->cap * 2 : 256) + n;
        uint8_t *np = realloc(w->p, nc);
        if (!np) {
            w->oom = true;
            return;
        }
        w->p = np;
        w->cap = nc;
    }
    memcpy(w->p + w->len, p, n);
    w->len += n;
}

static void w_u32(struct wbuf *w, uint32_t v)
{
    w_put(w, &v, sizeof v);
}

/* Absent (NULL) is length UINT32_MAX. */
static void w_bytes(struct wbuf *w, const void *p, size_t n)
{
    w_u32(w, p ? (uint32_t)n : UINT32_MAX);
    if (p) {
        w_put(w, p, n);
    }
}

/* Bounded reader over a stored blob: the file may be damaged. */
struct rbuf {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

static bool r_get(struct rbuf *r, void *out, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return false;
    }
    memcpy(out, r->p + r->off, n);
    r->off += n;
    return true;
}

static struct rmq_msg_bytes r_bytes(struct rbuf *r)
{
    struct rmq_msg_bytes b = {NULL, 0};
    uint32_t n = 0;
    if (!r_get(r, &n, sizeof n) || n == UINT32_MAX) {
        return b;
    }
    if (n > r->len - r->off) {
        r->bad = true;
        return b;
    }
    b.p = r->p + r->off;
    b.len = n;
    r->off += n;
    return b;
}

static char *r_str(struct rbuf *r)
{
    struct rmq_msg_bytes b = r_bytes(r);
    return b.p ? strndup((const char *)b.p, b.len) : NULL;
}

static void props_blob(const struct rmq_msg *m, struct wbuf *w)
{
    uint8_t f = (uint8_t)(m->has_payload_format | (m->has_expiry << 1));
    w_put(w, &f, 1);
    w_put(w, &m->payload_format, 1);
    w_u32(w, m->expiry);
    w_bytes(w, m->content_type.p, m->content_type.len);
    w_bytes(w, m->response_topic.p, m->response_topic.len);
    w_bytes(w, m->correlation_data.p, m->correlation_data.len);
    w_bytes(w, m->user_props.p, m->user_props.len);
    w_u32(w, (uint32_t)m->n_user_props);
}

/* Fills out (pointing into m) and props (owned by the caller: free). */
static void store_msg(const struct rmq_msg *m, struct rmq_store_msg *out, struct wbuf *props)
{
    memset(props, 0, sizeof *props);
    props_blob(m, props);
    out->topic = (const uint8_t *)m->topic;
    out->topic_len = m->topic_len;
    out->payload = m->payload;
    out->payload_len = m->payload_len;
    out->qos = m->qos;
    out->retain = m->retain;
    out->props = props->oom ? NULL : props->p;
    out->props_len = props->len;
    out->expire_at = m->has_expiry ? rmq_store_wall_ms() + (m->expire_at - rmq_now_ms()) : 0;
}

/* A message back from the store; NULL when it expired while down (*expired)
 * or its blob is damaged. */
static struct rmq_msg *load_msg(const struct rmq_store_msg *sm, bool *expired)
{
    struct rmq_msg t;
    memset(&t, 0, sizeof t);
    *expired = false;
    int64_t left = sm->expire_at ? sm->expire_at - rmq_store_wall_ms() : 1;
    if (left <= 0) {
        *expired = true;
        return NULL;
    }
    struct rbuf r = {sm->props, sm->props_len, 0, false};
    uint8_t f = 0;
    uint32_t n_up = 0;
    r_get(&r, &f, 1);
    r_get(&r, &t.payload_format, 1);
    r_get(&r, &t.expiry, sizeof t.expiry);
    t.content_type = r_bytes(&r);
    t.response_topic = r_bytes(&r);
    t.correlation_data = r_bytes(&r);
    t.user_props = r_bytes(&r);
    r_get(&r, &n_up, sizeof n_up);
    if (r.bad || sm->topic_len == 0) {
        return NULL;
    }
    t.n_user_props = n_up;
    t.has_payload_format = f & 1;
    t.has_expiry = (f & 2) != 0;
    if (t.has_expiry) {
        t.expiry = (uint32_t)((left + 999) / 1000); /* what is left of it (MQTT 5 3.3.2.3.3) */
    }
    char *topic = strndup((const char *)sm->topic, sm->topic_len);
    if (!topic) {
        return NULL;
    }
    t.topic = topic;
    t.topic_len = sm->topic_len;
    t.payload = sm->payload;
    t.payload_len = sm->payload_len;
    t.qos = sm->qos;
    t.retain = sm->retain;
    struct rmq_msg *m = rmq_msg_new(&t, rmq_now_ms());
    free(topic);
    return m;
}

/* Owner blob: a format tag with the sizes of the raw identity structs, so a
 * build with other sizes fails closed (a certificate owner then matches no one). */
#define OWNER_TAG 0x524d5131u

static void owner_blob(const struct rmq_principal *p, struct wbuf *w)
{
    static const struct rmq_peer_info none; /* password / anonymous: zeros */
    const struct rmq_peer_info *c = p->cert != NULL ? p->cert : &none;
    struct rmq_cert_ref ref; /* the record's layout: issuer hash + serial */
    memset(&ref, 0, sizeof ref);
    memcpy(ref.issuer_hash, c->issuer_hash, sizeof ref.issuer_hash);
    ref.serial_len = c->serial_len <= sizeof ref.serial ? c->serial_len : 0;
    memcpy(ref.serial, c->serial, ref.serial_len);
    w_u32(w, OWNER_TAG);
    w_u32(w, (uint32_t)(sizeof c->id + sizeof ref));
    uint8_t k[4] = {(uint8_t)p->kind, p->superuser, (uint8_t)(c->has_id != 0),
                    (uint8_t)c->chain_len};
    w_put(w, k, sizeof k);
    w_bytes(w, p->username, p->username ? strlen(p->username) : 0);
    w_bytes(w, p->clientid, p->clientid ? strlen(p->clientid) : 0);
    w_bytes(w, c->cn, c->cn ? strlen(c->cn) : 0);
    w_bytes(w, c->dn, c->dn ? strlen(c->dn) : 0);
    w_bytes(w, c->issuer_dn, c->issuer_dn ? strlen(c->issuer_dn) : 0);
    w_put(w, c->serial_hex, sizeof c->serial_hex);
    w_put(w, &ref, sizeof ref);
    w_put(w, &c->id, sizeof c->id);
    w_put(w, c->chain, c->chain_len * sizeof c->chain[0]);
}

static struct rmq_principal *owner_load(const uint8_t *blob, size_t len)
{
    struct rbuf r = {blob, len, 0, false};
    uint32_t tag = 0, sizes = 0;
    uint8_t k[4] = {0};
    struct rmq_principal *p = calloc(1, sizeof *p);
    struct rmq_peer_info *c = rmq_principal_cert_new(RMQ_PEER_CHAIN_MAX);
    struct rmq_cert_ref ref = {0};
    if (!p || !c) {
        free(p);
        free(c);
        return NULL;
    }
    p->cert = c;
    r_get(&r, &tag, sizeof tag);
    r_get(&r, &sizes, sizeof sizes);
    r_get(&r, k, sizeof k);
    p->kind = (enum rmq_principal_kind)k[0];
    p->superuser = k[1] != 0;
    p->username = r_str(&r);
    p->clientid = r_str(&r);
    c->cn = r_str(&r);
    c->dn = r_str(&r);
    c->issuer_dn = r_str(&r);
    bool same = tag == OWNER_TAG && sizes == sizeof c->id + sizeof ref &&
                k[3] <= RMQ_PEER_CHAIN_MAX && r_get(&r, c->serial_hex, sizeof c->serial_hex) &&
                r_get(&r, &ref, sizeof ref) && r_get(&r, &c->id, sizeof c->id) &&
                r_get(&r, c->chain, k[3] * sizeof c->chain[0]);
    memcpy(c->issuer_hash, ref.issuer_hash, sizeof c->issuer_hash);
    c->serial_len = ref.serial_len <= sizeof c->serial ? ref.serial_len : 0;
    memcpy(c->serial, ref.serial, c->serial_len);
    c->serial_hex[sizeof c->serial_hex - 1] = '\0';
    if (same) {
        c->has_id = k[2];
        c->chain_len = k[3];
    } else if (p->kind == RMQ_PRINCIPAL_CERT) {
        c->has_id = 0; /* fail closed: no one proves to be this owner */
        rmq_warn("store", "session owner record unreadable; only a new session can take it");
    }
    if (p->kind != RMQ_PRINCIPAL_ANONYMOUS && p->kind != RMQ_PRINCIPAL_USER &&
        p->kind != RMQ_PRINCIPAL_CERT) {
        p->kind = RMQ_PRINCIPAL_CERT; /* damaged: fail closed */
        c->has_id = 0;
    }
    if (p->kind != RMQ_PRINCIPAL_CERT) { /* only CERT principals carry one */
        rmq_peer_info_free(c);
        p->cert = NULL;
    }
    return p;
}

/* ------------------------------------------------------------ writes */

bool rmq_persist_on(const struct rmq_mqtt *b, const struct session *s)
{
    return b->store != NULL && s->persist;
}

void rmq_persist_session(struct rmq_mqtt *b, struct session *s, bool connected)
{
    if (!b->store) {
        return;
    }
    if (s->expiry_s == 0 && !(s->persist && s->spilled)) {
        if (s->persist) {
            rmq_store_session_del(b->store, s->client_id, s->id_len);
            s->persist = false;
        }
        return;
    }
    /* Expiry 0 with a queue on disk: the session keeps persisting until that
     * queue is read back in batches as usual (never all into memory); its row
     * says expiry 0, so a restart drops it with all its rows, and
     * rmq_persist_refill deletes them once the queue is drained. */
    struct wbuf ob = {0};
    if (s->owner) {
        owner_blob(s->owner, &ob);
    }
    struct rmq_store_session r = {s->client_id,         s->id_len,
                                  s->expiry_s,          connected ? 0 : rmq_store_wall_ms(),
                                  ob.oom ? NULL : ob.p, ob.len};
    rmq_store_session_put(b->store, &r);
    free(ob.p);
    if (!s->persist) {
        /* Newly persistent: what it already holds goes in too. */
        s->persist = true;
        size_t it;
        for (struct rmq_hmap_entry *e = rmq_hmap_first(&s->subs, &it); e;
             e = rmq_hmap_next(&s->subs, e, &it)) {
            rmq_persist_sub(b, s, e->key, e->klen, e->value);
        }
    }
}

void rmq_persist_session_gone(struct rmq_mqtt *b, struct session *s)
{
    if (rmq_persist_on(b, s)) {
        rmq_store_session_del(b->store, s->client_id, s->id_len);
        s->persist = false;
    }
}

void rmq_persist_sub(struct rmq_mqtt *b, struct session *s, const char *f, size_t len,
                     const struct rmq_sub_opts *o)
{
    if (!rmq_persist_on(b, s)) {
        return;
    }
    if (!o) {
        rmq_store_sub_del(b->store, s->client_id, s->id_len, f, len);
        return;
    }
    uint8_t flags =
        (uint8_t)(o->no_local | (o->retain_as_published << 1) | ((o->retain_handling & 3) << 2));
    rmq_store_sub_put(b->store, s->client_id, s->id_len, f, len, o->qos, flags, o->sub_id);
}

/* Writes d's row with the seq in d->sseq; on a failed write d->sseq = 0. */
static void delivery_write(struct rmq_mqtt *b, struct session *s, struct delivery *d)
{
    struct wbuf pb;
    struct rmq_store_delivery r;
    memset(&r, 0, sizeof r);
    r.pid = d->pid;
    r.qos = d->qos;
    r.state = d->state;
    r.retain = d->retain;
    r.sub_ids = d->sub_ids;
    r.n_sub_ids = d->n_sub_ids;
    store_msg(d->msg, &r.msg, &pb);
    if (!rmq_store_delivery_put(b->store, d->sseq, s->client_id, s->id_len, &r)) {
        d->sseq = 0;
    }
    free(pb.p);
}

/*
 * Rows put off (durable_sessions.flush_delay; docs/persistence.md). A QoS 1
 * delivery of a client's PUBLISH to a connected persistent session gets its
 * seq now and a numbered slot in b->unw (number = unw_base + index); its row
 * is written when the oldest slot is due (rmq_mqtt_commit), unless the
 * subscriber acknowledges it first — then it is never written.
 * Invariants: d->unw != 0 exactly while its slot points at d; a slot's
 * session outlives its delivery (a session frees its deliveries first); a
 * publisher's held ack names its message's slot numbers [unw_lo, unw_hi) and
 * goes out only when none of them is live (each written and committed, or
 * delivered) and no earlier ack of its connection is still held; slot
 * numbers only grow (unw_reset when the last live slot empties or all are
 * written), so a held ack's numbers never name another message's slots.
 */
static void unw_push(struct rmq_mqtt *b, struct session *s, struct delivery *d)
{
    if (b->n_unw == b->a_unw) {
        size_t na = b->a_unw ? b->a_unw * 2 : 64;
        struct unwritten *u = realloc(b->unw, na * sizeof *u);
        if (!u) {
            delivery_write(b, s, d); /* written at once instead */
            return;
        }
        b->unw = u;
        b->a_unw = na;
    }
    if (b->live_unw == 0) {
        b->unw_since_ms = rmq_now_ms();
    }
    b->unw[b->n_unw] = (struct unwritten){s, d};
    d->unw = (uint32_t)++b->n_unw;
    b->live_unw++;
    rmq_metrics_inc(RMQ_M_STORE_ROWS_PUT_OFF);
}

/* Empties d's slot (d->unw != 0); its reserved seq stays in d->sseq. */
static void unw_reset(struct rmq_mqtt *b)
{
    b->unw_base += b->n_unw; /* marks stay comparable: numbers only grow */
    b->n_unw = b->live_unw = 0;
}

static void unw_take(struct rmq_mqtt *b, struct delivery *d)
{
    b->unw[d->unw - 1].d = NULL;
    d->unw = 0;
    if (--b->live_unw == 0) {
        unw_reset(b); /* the list never grows while rows keep being acknowledged */
    }
}

void rmq_persist_delivery_forget(struct rmq_mqtt *b, struct delivery *d)
{
    if (d->unw) {
        unw_take(b, d);
        d->sseq = 0;
    }
}

/* Writes every unwritten row whose session still persists. */
static void unw_write_all(struct rmq_mqtt *b)
{
    for (size_t i = 0; i < b->n_unw; i++) {
        struct unwritten *u = &b->unw[i];
        if (!u->d) {
            continue;
        }
        u->d->unw = 0;
        if (rmq_persist_on(b, u->s)) {
            delivery_write(b, u->s, u->d);
        } else {
            u->d->sseq = 0; /* the session stopped persisting meanwhile */
        }
    }
    unw_reset(b);
}

void rmq_persist_delivery_add(struct rmq_mqtt *b, struct session *s, struct delivery *d)
{
    if (!rmq_persist_on(b, s) || d->qos == 0) {
        return;
    }
    d->sseq = rmq_store_seq_reserve(b->store);
    /* Put off: QoS 1 from a client's PUBLISH to a connected subscriber. Not
     * wills (their row's delete commits at once), retained sent at SUBSCRIBE
     * (its SUBACK is not held) or QoS 2 (a put-off row would widen the window
     * in which a publisher's resend is delivered twice). */
    bool online = s->conn && s->conn->state == CS_CONNECTED;
    if (online && b->defer_rows && d->qos == 1 && b->settings->durable_flush_delay > 0 &&
        b->commit_hook) {
        unw_push(b, s, d);
    } else {
        delivery_write(b, s, d); /* nobody will acknowledge it soon */
    }
}

void rmq_persist_delivery_spill(struct rmq_mqtt *b, struct session *s, struct delivery *d)
{
    d->sseq = 0;
    if (rmq_persist_on(b, s) && d->qos > 0) {
        d->sseq = rmq_store_seq_reserve(b->store);
        delivery_write(b, s, d);
    }
}

void rmq_persist_delivery_state(struct rmq_mqtt *b, struct session *s, struct delivery *d)
{
    /* A row put off (QoS 1 only) is written with the pid it has then. */
    if (!d->unw && rmq_persist_on(b, s) && d->sseq) {
        rmq_store_delivery_update(b->store, d->sseq, d->pid, d->state);
    }
}

void rmq_persist_delivery_done(struct rmq_mqtt *b, struct session *s, struct delivery *d)
{
    if (d->unw) {
        rmq_persist_delivery_forget(b, d); /* delivered before it was written: never written */
        rmq_metrics_inc(RMQ_M_STORE_ROWS_SKIPPED);
        return;
    }
    if (rmq_persist_on(b, s) && d->sseq) {
        rmq_store_delivery_del(b->store, d->sseq);
        d->sseq = 0;
    }
}

void rmq_persist_rel(struct rmq_mqtt *b, struct session *s, uint16_t pid, bool add)
{
    if (!rmq_persist_on(b, s)) {
        return;
    }
    if (add) {
        rmq_store_rel_put(b->store, s->client_id, s->id_len, pid);
    } else {
        rmq_store_rel_del(b->store, s->client_id, s->id_len, pid);
    }
}

void rmq_persist_will(struct rmq_mqtt *b, struct session *s)
{
    if (!rmq_persist_on(b, s)) {
        return;
    }
    if (!s->will) {
        rmq_store_will_del(b->store, s->client_id, s->id_len);
        return;
    }
    struct wbuf pb;
    struct rmq_store_msg m;
    store_msg(s->will, &m, &pb);
    rmq_store_will_put(b->store, s->client_id, s->id_len, &m,
                       rmq_store_wall_ms() + (s->will_at - rmq_now_ms()));
    free(pb.p);
}

bool rmq_persist_retain(struct rmq_mqtt *b, struct rmq_msg *m)
{
    const struct rmq_settings *st = b->settings;
    bool del = m->payload_len == 0;
    if (!del && st->retainer_max_payload_size && m->payload_len > st->retainer_max_payload_size) {
        RMQ_LOG_RL(5, RMQ_LOG_WARNING, "retained",
                   "not retained: payload over retainer.max_payload_size topic=%s size=%zu "
                   "max=%llu",
                   m->topic, m->payload_len, (unsigned long long)st->retainer_max_payload_size);
        return false;
    }
    if (!del && st->retainer_max_retained_messages &&
        rmq_retained_count(b->retained) >= st->retainer_max_retained_messages &&
        !rmq_retained_has(b->retained, m->topic, m->topic_len)) {
        RMQ_LOG_RL(5, RMQ_LOG_WARNING, "retained",
                   "not retained: retainer.max_retained_messages reached topic=%s max=%llu",
                   m->topic, (unsigned long long)st->retainer_max_retained_messages);
        return false;
    }
    if (rmq_retained_set(b->retained, m) != RMQ_OK) {
        RMQ_LOG_RL(5, RMQ_LOG_WARNING, "retained", "store failed topic=%s", m->topic);
        return false;
    }
    if (b->store) {
        if (del) {
            rmq_store_retained_del(b->store, (const uint8_t *)m->topic, m->topic_len);
        } else {
            struct wbuf pb;
            struct rmq_store_msg sm;
            store_msg(m, &sm, &pb);
            rmq_store_retained_put(b->store, &sm);
            free(pb.p);
        }
    }
    return true;
}

/* ------------------------------------------------------------ group commit */

/* Something waits for a commit: writes, held acks or unwritten rows. */
static bool commit_wanted(const struct rmq_mqtt *b)
{
    return b->store && (rmq_store_dirty(b->store) || b->n_held || b->live_unw);
}

static void hold_ack(struct rmq_mqtt_conn *mc, enum rmq_pkt_type type, uint16_t pid, uint8_t reason,
                     bool spilled, uint64_t lo, uint64_t hi);

void rmq_persist_ack(struct rmq_mqtt_conn *mc, enum rmq_pkt_type type, uint16_t pid, uint8_t reason)
{
    hold_ack(mc, type, pid, reason, false, 0, 0); /* depends on no unwritten row */
}

void rmq_persist_ack_publish(struct rmq_mqtt_conn *mc, enum rmq_pkt_type type, uint16_t pid,
                             uint8_t reason, bool spilled)
{
    struct rmq_mqtt *b = mc->b;
    hold_ack(mc, type, pid, reason, spilled, b->route_unw_lo, b->unw_base + b->n_unw);
}

static void hold_ack(struct rmq_mqtt_conn *mc, enum rmq_pkt_type type, uint16_t pid, uint8_t reason,
                     bool spilled, uint64_t lo, uint64_t hi)
{
    struct rmq_mqtt *b = mc->b;
    if (!commit_wanted(b)) {
        rmq_conn_send_ack(mc, type, pid, reason);
        return;
    }
    /* Held until the writes before it are on disk; later acks wait behind it
     * so each connection's acks keep their order (MQTT 4.6). */
    if (b->n_held == b->a_held) {
        size_t na = b->a_held ? b->a_held * 2 : 64;
        struct held_ack *h = realloc(b->held, na * sizeof *h);
        if (!h) {
            rmq_persist_flush(b);
            rmq_conn_send_ack(mc, type, pid, reason);
            return;
        }
        b->held = h;
        b->a_held = na;
    }
    b->held[b->n_held++] = (struct held_ack){mc, (uint8_t)type, reason, pid, spilled, lo, hi};
}

/* True while a row numbered in [lo, hi) is still put off. */
static bool unw_waiting(const struct rmq_mqtt *b, uint64_t lo, uint64_t hi)
{
    uint64_t end = b->unw_base + b->n_unw;
    for (uint64_t i = lo > b->unw_base ? lo : b->unw_base; i < hi && i < end; i++) {
        if (b->unw[i - b->unw_base].d) {
            return true;
        }
    }
    return false;
}

void rmq_persist_route_begin(struct rmq_mqtt *b, bool defer)
{
    b->defer_rows = defer;
    b->route_unw_lo = b->unw_base + b->n_unw;
}

/* Commits the open writes (one fsync), then sends the held acks whose
 * messages need nothing more (all = true: every one; else those whose rows
 * put off are all written or delivered), each connection's in order: behind
 * one of its acks that stays held, its later ones stay too. The rest stay
 * held, in order, ahead of any new ones. */
static void commit_release(struct rmq_mqtt *b, bool all)
{
    bool failed = rmq_store_commit(b->store) != RMQ_OK;
    if (failed) {
        RMQ_LOG_RL(5, RMQ_LOG_ERROR, "store",
                   "commit failed: acknowledging messages that are only in memory, refusing "
                   "those that were on disk only held=%zu",
                   b->n_held);
    }
    /* Taken out: a refusal below may write and hold (or flush) acks again. */
    struct held_ack *held = b->held;
    size_t n = b->n_held, cap = b->a_held;
    b->held = NULL;
    b->n_held = b->a_held = 0;
    size_t out = 0;
    if (!all) {
        struct held_ack *keep = malloc(n * sizeof *keep);
        if (!keep) {
            b->held = held; /* sent by a later commit */
            b->n_held = n;
            b->a_held = cap;
            return;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            struct held_ack h = held[i];
            if (h.mc->ack_kept || unw_waiting(b, h.unw_lo, h.unw_hi)) {
                h.mc->ack_kept = true;
                keep[k++] = h;
            } else {
                held[out++] = h;
            }
        }
        for (size_t i = 0; i < k; i++) {
            keep[i].mc->ack_kept = false;
        }
        b->held = keep;
        b->n_held = b->a_held = k;
        n = out;
    }
    for (size_t i = 0; i < n; i++) {
        struct held_ack h = held[i];
        if (h.mc->state != CS_CONNECTED) {
            continue;
        }
        if (failed && h.spilled) {
            /* Rolled back and in no memory: not accepted after all. */
            RMQ_LOG_RL(5, RMQ_LOG_WARNING, "session",
                       "publish refused, store commit failed client_id=%s pid=%u",
                       rmq_mqtt_conn_client_id(h.mc), h.pid);
            rmq_publish_refuse(h.mc, h.type == RMQ_PKT_PUBACK ? 1 : 2, h.pid);
        } else {
            rmq_conn_send_ack(h.mc, (enum rmq_pkt_type)h.type, h.pid, h.reason);
        }
    }
    if (!b->held) {
        b->held = held;
        b->a_held = cap;
    } else {
        free(held);
    }
}

void rmq_persist_flush(struct rmq_mqtt *b)
{
    if (!b->store) {
        return;
    }
    unw_write_all(b);
    commit_release(b, true);
}

void rmq_persist_input_done(struct rmq_mqtt *b)
{
    if (!commit_wanted(b)) {
        return;
    }
    if (!b->commit_hook) {
        rmq_persist_flush(b);
    } else if (!b->commit_asked) {
        b->commit_asked = true;
        b->commit_hook(b->commit_arg, 0);
    }
}

void rmq_mqtt_set_commit_hook(struct rmq_mqtt *b, void (*fn)(void *arg, uint64_t delay_ms),
                              void *arg)
{
    b->commit_hook = fn;
    b->commit_arg = arg;
}

/* End of a loop turn (or the flush_delay timer): commits now, unless the only
 * thing waiting is unwritten rows of connected subscribers younger than
 * durable_sessions.flush_delay — then asks again for when the oldest is due.
 * With nothing left to write, the held acks go out without a commit. */
void rmq_mqtt_commit(struct rmq_mqtt *b)
{
    b->commit_asked = false;
    if (!commit_wanted(b)) {
        return;
    }
    if (b->live_unw) {
        int64_t due = b->unw_since_ms + (int64_t)b->settings->durable_flush_delay;
        int64_t now = rmq_now_ms();
        if (due > now) {
            /* Other writes are committed now, and the acks that wait for no
             * unwritten row go out; commit_asked stays false: the next input
             * asks for the end of its turn again, which decides again. */
            commit_release(b, false);
            b->commit_hook(b->commit_arg, (uint64_t)(due - now));
            return;
        }
    }
    rmq_persist_flush(b);
}

void rmq_persist_conn_gone(struct rmq_mqtt *b, struct rmq_mqtt_conn *mc)
{
    size_t j = 0;
    for (size_t i = 0; i < b->n_held; i++) {
        if (b->held[i].mc != mc) {
            b->held[j++] = b->held[i];
        }
    }
    b->n_held = j;
}

/* ------------------------------------------------------------ start-up */

/* A session's stored deliveries read into memory (rmq_store_session_deliveries). */
struct fill_ctx {
    struct session *s;
    size_t limit; /* queued ones wanted; 0 = all */
    bool stopped; /* at the limit: rows are left on disk */
    uint64_t last;
    size_t taken, inflight, expired, bad;
    uint64_t *gone; /* rows to delete once the read is over (owned) */
    size_t n_gone, a_gone;
};

struct load_ctx {
    struct rmq_mqtt *b;
    size_t sessions, expired_sessions, subs, deliveries, inflight, expired_msgs, rel, retained,
        wills, bad, on_disk;
    bool by_session;     /* deliveries read per session (else one scan) */
    struct session *cur; /* the current row's session (skip_delivery found it) */
    struct fill_ctx f;   /* deliveries: counts over all sessions, rows to delete */
};

static void load_session(void *arg, const struct rmq_store_session *r)
{
    struct load_ctx *c = arg;
    struct session *s = rmq_session_create(c->b, r->client_id, r->id_len);
    if (!s) {
        c->bad++;
        return;
    }
    s->persist = true;
    s->expiry_s = r->expiry_s;
    s->owner = r->owner ? owner_load(r->owner, r->owner_len) : NULL;
    int64_t now = rmq_now_ms();
    if (r->expiry_s != UINT32_MAX) {
        /* Killed while connected: its expiry starts now. */
        int64_t left = r->disconnected
                           ? r->disconnected + (int64_t)r->expiry_s * 1000 - rmq_store_wall_ms()
                           : (int64_t)r->expiry_s * 1000;
        if (left <= 0) {
            c->expired_sessions++;
            left = 0;
        }
        s->expire_at = now + (left > 0 ? left : 0);
        if (s->expire_at == 0) {
            s->expire_at = 1;
        }
    }
    rmq_session_pending_update(c->b, s);
    c->sessions++;
}

static void load_sub(void *arg, const char *id, size_t len, const char *f, size_t flen, uint8_t qos,
                     uint8_t flags, uint32_t sub_id)
{
    struct load_ctx *c = arg;
    struct session *s = rmq_session_find(c->b, id, len);
    struct rmq_sub_opts *o = malloc(sizeof *o);
    if (!s || !o || qos > 2) {
        free(o);
        c->bad++;
        return;
    }
    *o = (struct rmq_sub_opts){qos, flags & 1, (flags & 2) != 0, (uint8_t)((flags >> 2) & 3),
                               sub_id};
    void *old = NULL;
    if (rmq_hmap_put(&s->subs, f, flen, o, &old) != RMQ_OK) {
        free(o);
        c->bad++;
        return;
    }
    free(old);
    bool existed;
    if (rmq_router_add(c->b->router, f, flen, s, o, &existed) != RMQ_OK) {
        c->bad++;
        return;
    }
    c->subs++;
}

static void fill_gone(struct fill_ctx *c, uint64_t seq)
{
    if (c->n_gone == c->a_gone) {
        size_t na = c->a_gone ? c->a_gone * 2 : 16;
        uint64_t *g = realloc(c->gone, na * sizeof *g);
        if (!g) {
            return; /* the row stays; it is met (and dropped) again next time */
        }
        c->gone = g;
        c->a_gone = na;
    }
    c->gone[c->n_gone++] = seq;
}

static bool fill_row(void *arg, const struct rmq_store_delivery *r)
{
    struct fill_ctx *c = arg;
    if (r->pid == 0 && c->limit && c->s->queue.count >= c->limit) {
        c->stopped = true;
        return false;
    }
    c->last = r->seq;
    bool expired = false;
    struct rmq_msg *m = r->qos >= 1 && r->qos <= 2 ? load_msg(&r->msg, &expired) : NULL;
    struct delivery *d = m ? malloc(sizeof *d + r->n_sub_ids * sizeof(uint32_t)) : NULL;
    if (!d) {
        if (m || !expired) {
            c->bad++;
        } else {
            c->expired++;
        }
        rmq_msg_unref(m);
        fill_gone(c, r->seq);
        return true;
    }
    memset(d, 0, sizeof *d);
    d->msg = m;
    d->pid = r->pid;
    d->qos = r->qos;
    d->state = r->state ? D_WAIT_COMP : D_WAIT_ACK;
    d->retain = r->retain;
    d->sseq = r->seq;
    d->n_sub_ids = r->sub_ids ? r->n_sub_ids : 0;
    if (d->n_sub_ids) {
        memcpy(d->sub_ids, r->sub_ids, d->n_sub_ids * sizeof(uint32_t));
    }
    rmq_session_restore_delivery(c->s, d);
    c->taken++;
    c->inflight += d->pid != 0;
    return true;
}

static size_t queue_limit(const struct rmq_mqtt *b)
{
    uint32_t n = b->cfg->max_mqueue_len;
    return n == UINT32_MAX ? 0 : n;
}

/* Reads s's stored deliveries after `after` into memory, up to the queue
 * limit (none when max_mqueue_len is unlimited); sets s->spilled / spill_after for what stays on
 * disk: counted in the store at start-up (s->spilled = 0 then), else what
 * was spilled less what was read — a count that may run high after a failed
 * commit (conservative for the bound) and is reset once the end is read.
 * False on a read error (nothing more can be read: spilled = 0). */
static bool fill(struct rmq_mqtt *b, struct session *s, uint64_t after, struct fill_ctx *c)
{
    uint64_t before = s->spilled;
    memset(c, 0, sizeof *c);
    c->s = s;
    c->limit = queue_limit(b);
    c->last = after;
    bool ok = rmq_store_session_deliveries(b->store, s->client_id, s->id_len, after, fill_row, c) ==
              RMQ_OK;
    for (size_t i = 0; i < c->n_gone; i++) {
        rmq_store_delivery_del(b->store, c->gone[i]);
    }
    free(c->gone);
    c->gone = NULL;
    s->spill_after = c->last;
    uint64_t read = c->taken + c->expired + c->bad;
    if (!ok || !c->stopped) {
        s->spilled = 0;
    } else if (before == 0) {
        s->spilled = rmq_store_session_deliveries_count(b->store, s->client_id, s->id_len, c->last);
    } else {
        s->spilled = before > read ? before - read : 1; /* more remain: read on */
    }
    return ok;
}

bool rmq_persist_refill(struct rmq_mqtt *b, struct session *s)
{
    if (!s->spilled) {
        return false;
    }
    if (!rmq_persist_on(b, s)) {
        s->spilled = 0;
        return false;
    }
    struct fill_ctx c;
    if (!fill(b, s, s->spill_after, &c)) {
        rmq_error("store",
                  "cannot read the queue kept on disk client_id=%s: its spilled messages are "
                  "not delivered",
                  s->client_id);
    }
    b->stats.dropped_expired += c.expired;
    if (c.bad) {
        RMQ_LOG_RL(5, RMQ_LOG_ERROR, "store",
                   "unreadable queued messages dropped client_id=%s n=%zu", s->client_id, c.bad);
    }
    if (s->expiry_s == 0 && !s->spilled) {
        /* Its queue is off the disk: it stops persisting now (rmq_persist_session). */
        rmq_store_session_del(b->store, s->client_id, s->id_len);
        s->persist = false;
    }
    return c.taken + c.expired + c.bad > 0;
}

/* Start-up, one scan of every delivery in seq order: a session's in-flight
 * messages and up to mqtt.max_mqueue_len queued ones go into memory; past
 * that its rows are only counted (spilled), not even decoded. */
static bool skip_delivery(void *arg, const char *id, size_t len, uint64_t seq, uint16_t pid)
{
    struct load_ctx *c = arg;
    struct session *s = c->cur = rmq_session_find(c->b, id, len);
    size_t limit = queue_limit(c->b);
    if (!s || pid != 0 || (!s->spilled && !(limit && s->queue.count >= limit))) {
        return false;
    }
    if (s->spilled++ == 0) {
        s->spill_after = seq - 1; /* every row in memory is older */
    }
    c->on_disk++;
    return true;
}

static void load_delivery(void *arg, const char *id, size_t len, const struct rmq_store_delivery *r)
{
    struct load_ctx *c = arg;
    (void)id;
    (void)len;
    struct session *s = c->cur; /* skip_delivery ran first for this row */
    if (!s) {
        c->f.bad++;
        fill_gone(&c->f, r->seq);
        return;
    }
    c->f.s = s;
    c->f.limit = 0; /* skip_delivery decided */
    (void)fill_row(&c->f, r);
}

/* Start-up, by session: each one's head read through the index on id; for a
 * store whose rows mostly stay on disk (a scan would read them all). */
static void load_by_session(struct load_ctx *lc)
{
    struct rmq_mqtt *b = lc->b;
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&b->sessions, &it); e;
         e = rmq_hmap_next(&b->sessions, e, &it)) {
        struct session *s = e->value;
        struct fill_ctx f;
        if (!fill(b, s, 0, &f)) {
            lc->bad++;
        }
        lc->f.taken += f.taken;
        lc->f.inflight += f.inflight;
        lc->f.expired += f.expired;
        lc->f.bad += f.bad;
        lc->on_disk += s->spilled;
    }
}

static void load_rel(void *arg, const char *id, size_t len, uint16_t pid)
{
    struct load_ctx *c = arg;
    struct session *s = rmq_session_find(c->b, id, len);
    if (!s || !rmq_session_rel_add(s, pid, rmq_now_ms())) {
        c->bad++;
        return;
    }
    c->rel++;
}

static void load_retained(void *arg, const struct rmq_store_msg *r)
{
    struct load_ctx *c = arg;
    bool expired;
    struct rmq_msg *m = load_msg(r, &expired);
    if (!m) {
        c->expired_msgs += expired;
        c->bad += !expired;
        rmq_store_retained_del(c->b->store, r->topic, r->topic_len);
        return;
    }
    if (rmq_retained_set(c->b->retained, m) == RMQ_OK) {
        c->retained++;
    }
    rmq_msg_unref(m);
}

static void load_will(void *arg, const char *id, size_t len, const struct rmq_store_msg *r,
                      int64_t will_at)
{
    struct load_ctx *c = arg;
    struct session *s = rmq_session_find(c->b, id, len);
    bool expired;
    struct rmq_msg *m = s ? load_msg(r, &expired) : NULL;
    if (!m) {
        c->bad++;
        return;
    }
    rmq_msg_unref(s->will);
    s->will = m;
    int64_t left = will_at - rmq_store_wall_ms();
    s->will_at = rmq_now_ms() + (left > 0 ? left : 0); /* due at once if it passed while down */
    rmq_session_pending_update(c->b, s);
    c->wills++;
}

/* Everything but what stays on disk, into memory; rows found damaged or
 * expired are deleted. */
static void load_all(struct rmq_mqtt *b, struct load_ctx *c)
{
    /* Deliveries: one scan in seq order costs about one step per row; reading
     * each session's head by index costs about sessions x max_mqueue_len rows,
     * at random places. The second when most rows will stay on disk. */
    c->expired_msgs = rmq_store_drop_expired(b->store); /* expired while down: never read */
    uint64_t n_sess, n_deliv;
    rmq_store_row_counts(b->store, &n_sess, &n_deliv);
    uint64_t limit = queue_limit(b);
    bool by_session = limit && n_deliv / 2 > n_sess * limit;
    c->by_session = by_session;
    struct rmq_store_loader l = {
        c,        load_session,  load_sub,  by_session ? NULL : load_delivery,
        load_rel, load_retained, load_will, by_session ? NULL : skip_delivery};
    if (rmq_store_load(b->store, &l) != RMQ_OK) {
        rmq_error("store", "load stopped early: what followed the damage is not restored");
    }
    if (by_session) {
        load_by_session(c);
    }
    for (size_t i = 0; i < c->f.n_gone; i++) {
        rmq_store_delivery_del(b->store, c->f.gone[i]);
    }
    free(c->f.gone);
    c->deliveries = c->f.taken;
    c->inflight = c->f.inflight;
    c->expired_msgs += c->f.expired;
    c->bad += c->f.bad;
}

/* Opens <data_dir>/store.db (making data_dir if needed) and loads it. */
void rmq_mqtt_open_store(struct rmq_mqtt *b)
{
    const struct rmq_settings *st = b->settings;
    if (!st->durable_sessions_enable) {
        rmq_info("store", "durable_sessions.enable = false: sessions and retained messages live "
                          "in memory only");
        return;
    }
    const char *dir = st->node_data_dir ? st->node_data_dir : "data";
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        rmq_error("store",
                  "cannot create node.data_dir=%s error=%s: NOTHING IS DURABLE, sessions "
                  "and retained messages live in memory only",
                  dir, strerror(errno));
        return;
    }
    if (rmq_store_open(dir, &b->store) != RMQ_OK) {
        b->store = NULL;
        rmq_error("store",
                  "no usable store in node.data_dir=%s: NOTHING IS DURABLE, sessions and "
                  "retained messages live in memory only",
                  dir);
        return;
    }
    int64_t t0 = rmq_now_ms();
    struct load_ctx c = {.b = b};
    load_all(b, &c);
    if (rmq_store_commit(b->store) != RMQ_OK) {
        rmq_error("store", "cannot write to the store after loading it");
    }
    rmq_notice("store",
               "loaded sessions=%zu expired_sessions=%zu subscriptions=%zu messages=%zu "
               "messages_on_disk=%zu inflight=%zu expired_messages=%zu awaiting_pubrel=%zu "
               "retained=%zu wills=%zu unreadable=%zu read=%s took_ms=%lld",
               c.sessions, c.expired_sessions, c.subs, c.deliveries, c.on_disk, c.inflight,
               c.expired_msgs, c.rel, c.retained, c.wills, c.bad,
               c.by_session ? "by_session" : "scan", (long long)(rmq_now_ms() - t0));
}
