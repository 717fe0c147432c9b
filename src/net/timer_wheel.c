/*
 * timer_wheel.c — the connection timeouts of one worker (handshake, CONNECT,
 * keep alive, close linger; see net_int.h): a hashed timer wheel instead of a
 * libevent timer per connection, so an idle connection keeps no 128-byte
 * event for its one timeout (issue 18).
 *
 * Slots are circular lists with a sentinel; a connection sits in the slot of
 * the first NET_TW_MS tick at or after its deadline. tw_ev runs every
 * NET_TW_MS while any connection is linked and walks the ticks that came due
 * (at most every slot once after a long pause), firing what is due and
 * leaving later turns of the wheel linked. Arming, re-arming and disarming
 * are O(1) (keep alive re-arms on every packet). A timeout fires at most
 * NET_TW_MS late, never early.
 *
 * Threads: a worker's wheel and its connections belong to that worker.
 */
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/clock.h"
#include "net/net_int.h"

rmq_err rmq_net_tw_init(struct worker *w)
{
    for (size_t i = 0; i < NET_TW_SLOTS; i++) {
        w->tw_slots[i].prev = w->tw_slots[i].next = &w->tw_slots[i];
    }
    w->tw_fire.prev = w->tw_fire.next = &w->tw_fire;
    w->tw_next_tick = (int64_t)rmq_clock_mono_ms() / NET_TW_MS;
    w->tw_count = 0;
    w->tw_ev = event_new(w->base, -1, EV_PERSIST, rmq_net_tw_cb, w);
    return w->tw_ev != NULL ? RMQ_OK : RMQ_ERR_NOMEM;
}

static struct conn *tw_conn(struct tw_link *l)
{
    return (struct conn *)(void *)((char *)l - offsetof(struct conn, tw));
}

static void tw_unlink(struct conn *c)
{
    if (c->tw.next == NULL) {
        return;
    }
    c->tw.prev->next = c->tw.next;
    c->tw.next->prev = c->tw.prev;
    c->tw.next = c->tw.prev = NULL;
    c->w->tw_count--;
}

/* Links c (not linked) into the slot of its deadline c->tw_due. */
static void tw_link(struct conn *c)
{
    struct worker *w = c->w;
    int64_t tick = (c->tw_due + NET_TW_MS - 1) / NET_TW_MS; /* first tick at or after it */
    struct tw_link *head = &w->tw_slots[(uint64_t)tick % NET_TW_SLOTS];
    c->tw.prev = head;
    c->tw.next = head->next;
    head->next->prev = &c->tw;
    head->next = &c->tw;
    if (w->tw_count++ == 0 && !event_pending(w->tw_ev, EV_TIMEOUT, NULL)) {
        struct timeval tv = {0, NET_TW_MS * 1000};
        event_add(w->tw_ev, &tv);
    }
}

void rmq_net_tw_set(struct conn *c, uint64_t ms)
{
    tw_unlink(c);
    if (!ms) {
        return;
    }
    c->tw_due = (int64_t)rmq_clock_mono_ms() + (int64_t)(ms < INT64_MAX / 4 ? ms : INT64_MAX / 4);
    tw_link(c);
}

/* Fires the due connections of one slot. The slot is moved to tw_fire first:
 * a callback may destroy any connection (it unlinks itself from wherever it
 * is) or arm a new timeout (always in a later tick). */
static void tw_fire_slot(struct worker *w, struct tw_link *slot, int64_t now)
{
    if (slot->next == slot) {
        return;
    }
    struct tw_link *f = &w->tw_fire;
    f->next = slot->next;
    f->prev = slot->prev;
    f->next->prev = f;
    f->prev->next = f;
    slot->prev = slot->next = slot;
    while (f->next != f) {
        struct conn *c = tw_conn(f->next);
        tw_unlink(c);
        if (c->tw_due <= now) {
            rmq_net_conn_timeout(c);
        } else {
            tw_link(c); /* a later turn of the wheel */
        }
    }
}

void rmq_net_tw_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    int64_t now = (int64_t)rmq_clock_mono_ms();
    int64_t now_tick = now / NET_TW_MS;
    int64_t n = now_tick - w->tw_next_tick + 1;
    if (n > NET_TW_SLOTS) {
        n = NET_TW_SLOTS; /* every slot once: all that is due fires */
    }
    for (int64_t t = now_tick - n + 1; t <= now_tick; t++) {
        tw_fire_slot(w, &w->tw_slots[(uint64_t)t % NET_TW_SLOTS], now);
    }
    w->tw_next_tick = now_tick + 1;
    if (w->tw_count == 0) {
        event_del(w->tw_ev);
    }
}
