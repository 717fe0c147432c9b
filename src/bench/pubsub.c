/* pubsub.c — revmq-bench's publish/subscribe mode; see bench.h.
 *
 * Subscriber i subscribes to bench/t<i % topics>; publisher j publishes to
 * bench/t<j % topics>. Each payload starts with the send time (µs), the
 * publisher number and a sequence number, so a subscriber measures end-to-end
 * latency and counts losses, duplicates and reordering: each subscriber keeps
 * a bitmap of the sequence numbers seen per publisher, so a number seen before
 * is a duplicate, and one below the highest seen but new is delivered out of
 * order (MQTT keeps one publisher's order on a topic; a broker that does not
 * is reported as such, not as losing and duplicating).
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/client.h"
#include "bench/report.h"
#include "common/clock.h"

#define HDR_LEN 16
#define QOS0_HIGH_WATER (256 * 1024)

struct ps_run;

/* A growable bitmap of sequence numbers (bit n = seq n seen). */
struct ps_seen {
    uint8_t *bits;
    size_t len; /* bytes */
};

struct ps_peer {
    struct ps_run *run;
    struct bclient *c;
    uint32_t no;
    bool is_pub;
    bool ready;
    /* publisher */
    uint64_t seq, inflight;
    uint16_t next_id;
    /* subscriber: highest sequence and the set of sequences seen, per publisher */
    uint32_t *last_seq;
    struct ps_seen *seen;
    uint64_t received;
};

struct ps_run {
    const struct rmq_bench_opts *o;
    struct event_base *base;
    struct bench_ctx *ctx;
    struct ps_peer *subs, *pubs;
    uint32_t subs_ready, pubs_ready;
    bool publishing, stopped;
    uint64_t sent, acked, received, dups, reordered, expected;
    uint64_t t_pub0, t_pub_end, t_last_recv;
    uint8_t *payload;
    struct rmq_bench_hist lat;
    struct bench_errors errs;
    struct event *progress, *stop, *sig, *sigterm, *pace, *grace;
};

static void ps_topic(char *buf, size_t len, uint32_t n, uint32_t topics)
{
    snprintf(buf, len, "bench/t%u", n % (topics ? topics : 1));
}

static uint32_t subs_on_topic(const struct ps_run *r, uint32_t topic)
{
    uint32_t t = r->o->topics ? r->o->topics : 1, n = 0;
    for (uint32_t i = 0; i < r->o->subscribers; i++) {
        n += (i % t) == topic % t;
    }
    return n;
}

static bool ps_publish_one(struct ps_peer *p)
{
    struct ps_run *r = p->run;
    const struct rmq_bench_opts *o = r->o;
    if (!r->publishing || (o->messages && p->seq >= o->messages)) {
        return false;
    }
    if (o->qos > 0 && p->inflight >= o->inflight) {
        return false;
    }
    if (o->qos == 0 && bclient_pending(p->c) > QOS0_HIGH_WATER) {
        return false;
    }
    char topic[64];
    ps_topic(topic, sizeof topic, p->no, o->topics);
    uint64_t now = rmq_clock_mono_us();
    uint32_t seq = (uint32_t)++p->seq;
    memcpy(r->payload, &now, 8);
    memcpy(r->payload + 8, &p->no, 4);
    memcpy(r->payload + 12, &seq, 4);
    struct rmq_packet pk;
    rmq_codec_packet_init(&pk, RMQ_PKT_PUBLISH);
    pk.publish.qos = o->qos;
    pk.publish.topic.p = (const uint8_t *)topic;
    pk.publish.topic.len = strlen(topic);
    pk.publish.payload.p = r->payload;
    pk.publish.payload.len = o->payload;
    if (o->qos) {
        if (++p->next_id == 0) {
            p->next_id = 1;
        }
        pk.publish.packet_id = p->next_id;
        p->inflight++;
    }
    if (bclient_send(p->c, &pk) != RMQ_OK) {
        bench_errors_add(&r->errs, "send");
        return false;
    }
    r->sent++;
    r->expected += subs_on_topic(r, p->no);
    return true;
}

static void ps_pump(struct ps_peer *p)
{
    const struct rmq_bench_opts *o = p->run->o;
    if (o->pub_rate > 0) {
        double el = (double)(rmq_clock_mono_us() - p->run->t_pub0) / 1e6;
        uint64_t allowed = (uint64_t)(o->pub_rate * el) + 1;
        while (p->seq < allowed && ps_publish_one(p)) {
        }
        return;
    }
    for (int i = 0; i < 64 && ps_publish_one(p); i++) {
    }
}

static void ps_send_ack(struct ps_peer *p, enum rmq_pkt_type t, uint16_t id)
{
    struct rmq_packet a;
    rmq_codec_packet_init(&a, t);
    a.ack.packet_id = id;
    if (bclient_send(p->c, &a) != RMQ_OK) {
        bench_errors_add(&p->run->errs, "send");
    }
}

/* 1 if seq was already in s, 0 if it was added, -1 when out of memory. */
static int ps_seen_add(struct ps_seen *s, uint32_t seq)
{
    size_t byte = seq / 8;
    if (byte >= s->len) {
        size_t n = s->len ? s->len : 4096;
        while (n <= byte) {
            n *= 2;
        }
        uint8_t *b = realloc(s->bits, n);
        if (!b) {
            return -1;
        }
        memset(b + s->len, 0, n - s->len);
        s->bits = b;
        s->len = n;
    }
    uint8_t bit = (uint8_t)(1u << (seq % 8));
    if (s->bits[byte] & bit) {
        return 1;
    }
    s->bits[byte] |= bit;
    return 0;
}

static void ps_on_publish(struct ps_peer *p, const struct rmq_publish *pub)
{
    struct ps_run *r = p->run;
    if (pub->qos == 1) {
        ps_send_ack(p, RMQ_PKT_PUBACK, pub->packet_id);
    } else if (pub->qos == 2) {
        ps_send_ack(p, RMQ_PKT_PUBREC, pub->packet_id);
    }
    if (pub->payload.len < HDR_LEN) {
        bench_errors_add(&r->errs, "foreign_message");
        return;
    }
    uint64_t t;
    uint32_t pubno, seq;
    memcpy(&t, pub->payload.p, 8);
    memcpy(&pubno, pub->payload.p + 8, 4);
    memcpy(&seq, pub->payload.p + 12, 4);
    if (pubno >= r->o->publishers) {
        bench_errors_add(&r->errs, "foreign_message");
        return;
    }
    int had = ps_seen_add(&p->seen[pubno], seq);
    if (had < 0) {
        bench_errors_add(&r->errs, "local:ENOMEM");
        return;
    }
    if (had) {
        r->dups++;
        return;
    }
    if (seq < p->last_seq[pubno]) {
        r->reordered++;
    } else {
        p->last_seq[pubno] = seq;
    }
    p->received++;
    r->received++;
    r->t_last_recv = rmq_clock_mono_us();
    rmq_bench_hist_add(&r->lat, rmq_clock_mono_us() - t);
}

static void ps_check_ready(struct ps_run *r);

static void ps_on_packet(struct bclient *c, const struct rmq_packet *pk)
{
    struct ps_peer *p = bclient_user(c);
    struct ps_run *r = p->run;
    switch (pk->type) {
    case RMQ_PKT_SUBACK:
        if (pk->suback.reasons.len && pk->suback.reasons.p[0] >= 0x80) {
            bench_errors_add(&r->errs, "suback_refused");
        }
        if (!p->ready) {
            p->ready = true;
            r->subs_ready++;
            ps_check_ready(r);
        }
        break;
    case RMQ_PKT_PUBLISH:
        ps_on_publish(p, &pk->publish);
        break;
    case RMQ_PKT_PUBACK:
    case RMQ_PKT_PUBCOMP:
        p->inflight--;
        r->acked++;
        ps_pump(p);
        break;
    case RMQ_PKT_PUBREC:
        ps_send_ack(p, RMQ_PKT_PUBREL, pk->ack.packet_id);
        break;
    case RMQ_PKT_PUBREL:
        ps_send_ack(p, RMQ_PKT_PUBCOMP, pk->ack.packet_id);
        break;
    default:
        break;
    }
}

static void ps_start_publishing(struct ps_run *r)
{
    r->publishing = true;
    r->t_pub0 = rmq_clock_mono_us();
    if (r->o->duration_ms) {
        struct timeval d = {(time_t)(r->o->duration_ms / 1000),
                            (suseconds_t)(r->o->duration_ms % 1000) * 1000};
        event_add(r->stop, &d);
    }
    struct timeval pace = {0, 1000};
    event_add(r->pace, &pace);
    if (!r->o->quiet) {
        fprintf(stderr, "pubsub: %u subscribers and %u publishers ready, publishing\n",
                r->subs_ready, r->pubs_ready);
    }
}

static void ps_check_ready(struct ps_run *r)
{
    if (!r->publishing && !r->stopped && r->subs_ready == r->o->subscribers &&
        r->pubs_ready == r->o->publishers) {
        ps_start_publishing(r);
    }
}

static void ps_on_ready(struct bclient *c)
{
    struct ps_peer *p = bclient_user(c);
    struct ps_run *r = p->run;
    if (p->is_pub) {
        p->ready = true;
        r->pubs_ready++;
    } else {
        char topic[64];
        ps_topic(topic, sizeof topic, p->no, r->o->topics);
        struct rmq_packet s;
        rmq_codec_packet_init(&s, RMQ_PKT_SUBSCRIBE);
        s.subscribe.packet_id = 1;
        s.subscribe.n_entries = 1;
        struct rmq_sub_entry e = {
            .filter = {(const uint8_t *)topic, strlen(topic)},
            .qos = r->o->qos,
        };
        uint8_t entry[sizeof topic + 3];
        size_t len = 0;
        rmq_err err = rmq_put_sub_entry(entry, sizeof entry, &len, &e);
        s.subscribe.entries = (struct rmq_bytes){entry, len};
        if (err != RMQ_OK || bclient_send(c, &s) != RMQ_OK) {
            bench_errors_add(&r->errs, "send");
        }
    }
    ps_check_ready(r);
}

static void ps_on_error(struct bclient *c, const char *kind)
{
    struct ps_peer *p = bclient_user(c);
    bench_errors_add(&p->run->errs, kind);
    p->c = NULL;
    p->ready = false;
    event_base_loopbreak(p->run->base); /* a lost client invalidates the run */
}

static void ps_on_writable(struct bclient *c)
{
    struct ps_peer *p = bclient_user(c);
    if (p->is_pub) {
        ps_pump(p);
    }
}

static const struct bench_hooks ps_hooks = {
    .on_ready = ps_on_ready,
    .on_packet = ps_on_packet,
    .on_error = ps_on_error,
    .on_writable = ps_on_writable,
};

static void ps_pace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ps_run *r = arg;
    bool more = false;
    for (uint32_t j = 0; j < r->o->publishers; j++) {
        if (r->pubs[j].c) {
            ps_pump(&r->pubs[j]);
            more |= !r->o->messages || r->pubs[j].seq < r->o->messages;
        }
    }
    if (!more && r->publishing) {
        r->publishing = false;
        r->t_pub_end = rmq_clock_mono_us();
        struct timeval g = {2, 0};
        event_add(r->grace, &g); /* wait for stragglers, then stop */
    }
    if (r->publishing == false && r->received + r->dups >= r->expected && r->t_pub_end &&
        (r->o->qos == 0 || r->acked >= r->sent)) {
        event_base_loopbreak(r->base);
    }
}

static void ps_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ps_run *r = arg;
    if (r->publishing) {
        r->publishing = false;
        r->t_pub_end = rmq_clock_mono_us();
        struct timeval g = {2, 0};
        event_add(r->grace, &g);
        return;
    }
    event_base_loopbreak(r->base);
}

static void ps_progress(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ps_run *r = arg;
    if (!r->o->quiet) {
        fprintf(stderr, "progress: sent=%llu received=%llu expected=%llu dups=%llu\n",
                (unsigned long long)r->sent, (unsigned long long)r->received,
                (unsigned long long)r->expected, (unsigned long long)r->dups);
    }
}

static void ps_report(struct ps_run *r)
{
    uint64_t end = r->t_pub_end ? r->t_pub_end : rmq_clock_mono_us();
    double secs = r->t_pub0 ? (double)(end - r->t_pub0) / 1e6 : 0;
    /* Received rate over the receiving window (publishing start to last
     * delivery), so a backlog drained after publishing stopped is not
     * credited to the publishing window. */
    uint64_t rend = r->t_last_recv > end ? r->t_last_recv : end;
    double rsecs = r->t_pub0 ? (double)(rend - r->t_pub0) / 1e6 : 0;
    struct bench_report rep;
    bench_report_begin(&rep, "pubsub", r->o->json);
    bench_report_str(&rep, "transport",
                     !r->o->tls                           ? "tcp"
                     : (r->o->certfile || r->o->cert_dir) ? "mtls"
                                                          : "tls");
    bench_report_u64(&rep, "qos", r->o->qos);
    bench_report_u64(&rep, "publishers", r->o->publishers);
    bench_report_u64(&rep, "subscribers", r->o->subscribers);
    bench_report_u64(&rep, "payload", r->o->payload);
    bench_report_double(&rep, "seconds", secs);
    bench_report_str(&rep, "sessions", r->o->session_expiry_ms ? "persistent" : "clean");
    bench_report_u64(&rep, "sent", r->sent);
    bench_report_u64(&rep, "acked", r->acked);
    bench_report_u64(&rep, "received", r->received);
    bench_report_u64(&rep, "expected", r->expected);
    bench_report_u64(&rep, "lost", r->expected > r->received ? r->expected - r->received : 0);
    bench_report_u64(&rep, "duplicates", r->dups);
    bench_report_u64(&rep, "reordered", r->reordered);
    bench_report_double(&rep, "sent_per_sec", secs > 0 ? (double)r->sent / secs : 0);
    bench_report_double(&rep, "receive_seconds", rsecs);
    bench_report_double(&rep, "received_per_sec", rsecs > 0 ? (double)r->received / rsecs : 0);
    bench_report_hist(&rep, "latency_us", &r->lat);
    bench_report_errors(&rep, &r->errs);
    bench_report_end(&rep);
}

static bool ps_start_peers(struct ps_run *r)
{
    const struct rmq_bench_opts *o = r->o;
    for (uint32_t i = 0; i < o->subscribers; i++) {
        struct ps_peer *p = &r->subs[i];
        p->run = r;
        p->no = i;
        p->last_seq = calloc(o->publishers ? o->publishers : 1, sizeof *p->last_seq);
        p->seen = calloc(o->publishers ? o->publishers : 1, sizeof *p->seen);
        p->c = p->last_seq && p->seen
                   ? bclient_start(r->ctx, i, &ps_hooks, p, 0, o->session_expiry_ms > 0)
                   : NULL;
        if (!p->c) {
            return false;
        }
    }
    for (uint32_t j = 0; j < o->publishers; j++) {
        struct ps_peer *p = &r->pubs[j];
        p->run = r;
        p->no = j;
        p->is_pub = true;
        p->c = bclient_start(r->ctx, (uint64_t)o->subscribers + j, &ps_hooks, p, 0, false);
        if (!p->c) {
            return false;
        }
    }
    return true;
}

static void ps_free(struct ps_run *r)
{
    const struct rmq_bench_opts *o = r->o;
    for (uint32_t i = 0; r->subs && i < o->subscribers; i++) {
        if (r->subs[i].c) {
            bclient_close(r->subs[i].c);
        }
        free(r->subs[i].last_seq);
        for (uint32_t j = 0; r->subs[i].seen && j < o->publishers; j++) {
            free(r->subs[i].seen[j].bits);
        }
        free(r->subs[i].seen);
    }
    for (uint32_t j = 0; r->pubs && j < o->publishers; j++) {
        if (r->pubs[j].c) {
            bclient_close(r->pubs[j].c);
        }
    }
    struct event *evs[] = {r->progress, r->stop, r->sig, r->sigterm, r->pace, r->grace};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        if (evs[i]) {
            event_free(evs[i]);
        }
    }
    struct timeval drain = {0, 200000};
    event_base_loopexit(r->base, &drain);
    event_base_dispatch(r->base);
    free(r->subs);
    free(r->pubs);
    free(r->payload);
    bench_ctx_free(r->ctx);
    event_base_free(r->base);
    rmq_bench_hist_free(&r->lat);
    bench_errors_free(&r->errs);
}

int rmq_bench_pubsub(const struct rmq_bench_opts *o)
{
    if (o->payload < HDR_LEN || o->qos > 2 || o->publishers == 0 ||
        (o->qos > 0 && o->inflight == 0)) {
        fprintf(stderr,
                "revmq-bench: pubsub needs --payload >= %d, --qos 0..2, "
                "--publishers >= 1, --inflight >= 1\n",
                HDR_LEN);
        return 2;
    }
    struct ps_run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.base = event_base_new();
    r.ctx = r.base ? bench_ctx_new(o, r.base) : NULL;
    r.subs = calloc(o->subscribers ? o->subscribers : 1, sizeof *r.subs);
    r.pubs = calloc(o->publishers, sizeof *r.pubs);
    r.payload = calloc(1, o->payload);
    int rc = 2;
    if (!r.ctx || !r.subs || !r.pubs || !r.payload) {
        goto out;
    }
    r.progress = event_new(r.base, -1, EV_PERSIST, ps_progress, &r);
    r.stop = evtimer_new(r.base, ps_stop, &r);
    r.grace = evtimer_new(r.base, ps_stop, &r);
    r.sig = evsignal_new(r.base, SIGINT, ps_stop, &r);
    r.sigterm = evsignal_new(r.base, SIGTERM, ps_stop, &r);
    r.pace = event_new(r.base, -1, EV_PERSIST, ps_pace, &r);
    struct timeval sec = {(time_t)(o->progress_ms / 1000),
                          (suseconds_t)(o->progress_ms % 1000) * 1000};
    event_add(r.progress, &sec);
    event_add(r.sig, NULL);
    event_add(r.sigterm, NULL);
    if (ps_start_peers(&r)) {
        event_base_dispatch(r.base);
        rc = 0;
    } else {
        bench_errors_add(&r.errs, bclient_last_error());
    }
    ps_report(&r);
out:
    if (r.base) {
        ps_free(&r);
    }
    return rc;
}
