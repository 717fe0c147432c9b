/*
 * acl_authz.c — the configured authorizer: sources -> one published rule
 * list (refcounted, swapped on reload), and the per-connection client with
 * its rule selection and decision cache; see acl.h.
 *
 * The cache is direct-mapped: cache.max_size slots, a decision lands in slot
 * hash(request) % max_size and replaces what was there, so a lookup and an
 * insert cost one hash of the topic and one comparison whatever the size.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/acl_int.h"
#include "common/log.h"

struct rmq_authz {
    const struct rmq_authz_settings *cfg;
    pthread_mutex_t mu; /* protects `cur` (the pointer, not the list: lists are immutable) */
    struct rmq_acl *cur;
    atomic_uint_fast64_t gen; /* bumped after each publish */
};

struct cache_entry {
    uint64_t hash;
    int64_t at;  /* ms; 0 = empty */
    char *topic; /* owned */
    size_t len;
    uint8_t flags; /* action | qos << 2 | retain << 4 */
    bool allow;
    const char *line; /* borrowed from the rule list of the client's generation */
};

struct rmq_authz_client {
    char *str[4]; /* owned copies: username, clientid, cert CN, cert subject */
    struct rmq_acl_identity id;
    uint64_t gen;
    struct rmq_acl *acl; /* a reference */
    uint32_t *idx;       /* owned: rules whose Who matches this client, in order */
    size_t n_idx;
    bool have_idx;
    struct cache_entry *cache; /* owned, max_size slots */
    size_t n_slots;
};

static _Atomic(struct rmq_authz *) installed;

static void acl_unref(struct rmq_acl *acl)
{
    if (acl && atomic_fetch_sub(&acl->refs, 1) == 1) {
        rmq_acl_free(acl);
    }
}

static rmq_err load_all(const struct rmq_authz_settings *cfg, struct rmq_acl **out, char **errmsg)
{
    struct rmq_acl *acl = rmq_acl_new();
    char err[600];
    if (!acl) {
        return RMQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < cfg->source_count; i++) {
        const struct rmq_authz_source_settings *src = &cfg->sources[i];
        if (src->type == RMQ_AUTHZ_SRC_NONE || !src->enable) {
            continue;
        }
        rmq_err e;
        if (!src->path || !src->path[0]) {
            snprintf(err, sizeof err,
                     "authorization.sources.%s.path: required for a source of type %s", src->name,
                     src->type == RMQ_AUTHZ_SRC_FILE ? "file" : "mosquitto_acl_file");
            e = RMQ_ERR_CONFIG;
        } else {
            e = rmq_acl_load_file(acl, src->path, src->type == RMQ_AUTHZ_SRC_MOSQUITTO, err,
                                  sizeof err);
        }
        if (e != RMQ_OK) {
            if (errmsg && asprintf(errmsg, "authorization.sources.%s: %s", src->name, err) < 0) {
                *errmsg = NULL;
            }
            rmq_acl_free(acl);
            return e;
        }
    }
    *out = acl;
    return RMQ_OK;
}

rmq_err rmq_authz_new(const struct rmq_authz_settings *cfg, struct rmq_authz **out, char **errmsg)
{
    *out = NULL;
    if (errmsg) {
        *errmsg = NULL;
    }
    struct rmq_authz *a = calloc(1, sizeof *a);
    if (!a) {
        return RMQ_ERR_NOMEM;
    }
    rmq_err e = load_all(cfg, &a->cur, errmsg);
    if (e != RMQ_OK) {
        free(a);
        return e;
    }
    a->cfg = cfg;
    pthread_mutex_init(&a->mu, NULL);
    atomic_init(&a->gen, 1);
    *out = a;
    return RMQ_OK;
}

void rmq_authz_free(struct rmq_authz *a)
{
    if (!a) {
        return;
    }
    struct rmq_authz *self = a;
    atomic_compare_exchange_strong(&installed, &self, NULL);
    acl_unref(a->cur);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

rmq_err rmq_authz_reload(struct rmq_authz *a, char **errmsg)
{
    struct rmq_acl *acl = NULL;
    if (errmsg) {
        *errmsg = NULL;
    }
    rmq_err e = load_all(a->cfg, &acl, errmsg);
    if (e != RMQ_OK) {
        return e;
    }
    size_t n = acl->n_rules;
    pthread_mutex_lock(&a->mu);
    struct rmq_acl *old = a->cur;
    a->cur = acl;
    pthread_mutex_unlock(&a->mu);
    atomic_fetch_add_explicit(&a->gen, 1, memory_order_release);
    acl_unref(old);
    rmq_info("authz", "rules reloaded rules=%zu", n);
    return RMQ_OK;
}

bool rmq_authz_disconnect_on_deny(const struct rmq_authz *a)
{
    return a && a->cfg->deny_action == RMQ_AUTHZ_DENY_DISCONNECT;
}

uint64_t rmq_authz_generation(struct rmq_authz *a)
{
    return atomic_load_explicit(&a->gen, memory_order_acquire);
}

size_t rmq_authz_rule_count(struct rmq_authz *a)
{
    pthread_mutex_lock(&a->mu);
    size_t n = a->cur->n_rules;
    pthread_mutex_unlock(&a->mu);
    return n;
}

void rmq_authz_install(struct rmq_authz *a)
{
    atomic_store(&installed, a);
}

struct rmq_authz *rmq_authz_installed(void)
{
    return atomic_load_explicit(&installed, memory_order_acquire);
}

/* ---- per connection ------------------------------------------------------------------------ */

struct rmq_authz_client *rmq_authz_client_new(const struct rmq_acl_identity *id)
{
    struct rmq_authz_client *c = calloc(1, sizeof *c);
    if (!c) {
        return NULL;
    }
    const char *src[4] = {id->username, id->clientid, id->cert_cn, id->cert_subject};
    for (size_t i = 0; i < 4; i++) {
        if (src[i] && !(c->str[i] = strdup(src[i]))) {
            rmq_authz_client_free(c);
            return NULL;
        }
    }
    c->id = *id;
    c->id.username = c->str[0];
    c->id.clientid = c->str[1];
    c->id.cert_cn = c->str[2];
    c->id.cert_subject = c->str[3];
    return c;
}

static void cache_clear(struct rmq_authz_client *c)
{
    for (size_t i = 0; i < c->n_slots; i++) {
        free(c->cache[i].topic);
        memset(&c->cache[i], 0, sizeof c->cache[i]);
    }
}

void rmq_authz_client_free(struct rmq_authz_client *c)
{
    if (!c) {
        return;
    }
    cache_clear(c);
    free(c->cache);
    free(c->idx);
    acl_unref(c->acl);
    for (size_t i = 0; i < 4; i++) {
        free(c->str[i]);
    }
    free(c);
}

/* Takes the current rule list and selects the rules whose Who matches. */
static void refresh(struct rmq_authz *a, struct rmq_authz_client *c, uint64_t gen)
{
    pthread_mutex_lock(&a->mu);
    struct rmq_acl *acl = a->cur;
    atomic_fetch_add(&acl->refs, 1);
    pthread_mutex_unlock(&a->mu);
    acl_unref(c->acl);
    c->acl = acl;
    c->gen = gen;
    cache_clear(c);
    free(c->idx);
    c->idx = acl->n_rules ? malloc(acl->n_rules * sizeof *c->idx) : NULL;
    c->n_idx = 0;
    c->have_idx = c->idx != NULL || acl->n_rules == 0;
    for (size_t i = 0; c->idx && i < acl->n_rules; i++) {
        if (rmq_acl__who_match(acl->rules[i].who, &c->id)) {
            c->idx[c->n_idx++] = (uint32_t)i;
        }
    }
}

static enum rmq_acl_result eval(const struct rmq_authz_client *c, enum rmq_acl_action action,
                                const char *topic, size_t len, uint8_t qos, bool retain,
                                const char **line)
{
    if (!c->have_idx) { /* selection failed for lack of memory: every rule */
        return rmq_acl_check(c->acl, &c->id, action, topic, len, qos, retain, line);
    }
    for (size_t i = 0; i < c->n_idx; i++) {
        const struct acl_rule *r = &c->acl->rules[c->idx[i]];
        if (rmq_acl__rule_applies(r, &c->id, action, topic, len, qos, retain)) {
            *line = r->where;
            return r->allow ? RMQ_ACL_ALLOW : RMQ_ACL_DENY;
        }
    }
    return RMQ_ACL_NOMATCH;
}

/* Not common/hash.h, on purpose: this runs for every PUBLISH (SipHash would
 * add ~30 ns to a ~230 ns message, docs/benchmarks.md §5), and the cache it
 * indexes is one client's own, direct-mapped: colliding topics only evict
 * that client's entries, they cannot build a chain or touch anyone else's. */
static uint64_t fnv1a(const char *p, size_t n, uint8_t flags)
{
    uint64_t h = 1469598103934665603ull ^ flags;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    }
    return h;
}

static struct cache_entry *slot_for(struct rmq_authz *a, struct rmq_authz_client *c, uint64_t h)
{
    if (!a->cfg->cache_enable || a->cfg->cache_max_size == 0) {
        return NULL;
    }
    if (!c->cache) {
        c->cache = calloc(a->cfg->cache_max_size, sizeof *c->cache);
        c->n_slots = c->cache ? a->cfg->cache_max_size : 0;
    }
    return c->cache ? &c->cache[h % c->n_slots] : NULL;
}

bool rmq_authz_check(struct rmq_authz *a, struct rmq_authz_client *c, enum rmq_acl_action action,
                     const char *topic, size_t len, uint8_t qos, bool retain, int64_t now_ms,
                     const char **line)
{
    const char *ignored;
    line = line ? line : &ignored;
    uint64_t gen = atomic_load_explicit(&a->gen, memory_order_acquire);
    if (!c->acl || c->gen != gen) {
        refresh(a, c, gen);
    }
    if (c->acl->n_rules == 0) { /* no source: no_match alone decides, nothing to cache */
        *line = "no_match";
        return a->cfg->no_match == RMQ_AUTHZ_NO_MATCH_ALLOW;
    }
    uint8_t flags = (uint8_t)(action | (qos << 2) | ((retain ? 1 : 0) << 4));
    uint64_t h = fnv1a(topic, len, flags);
    struct cache_entry *e = slot_for(a, c, h);
    if (e && e->at && e->hash == h && e->flags == flags && e->len == len &&
        now_ms - e->at < (int64_t)a->cfg->cache_ttl && memcmp(e->topic, topic, len) == 0) {
        *line = e->line;
        return e->allow;
    }
    const char *where = "no_match";
    enum rmq_acl_result r = eval(c, action, topic, len, qos, retain, &where);
    bool allow = r == RMQ_ACL_ALLOW ||
                 (r == RMQ_ACL_NOMATCH && a->cfg->no_match == RMQ_AUTHZ_NO_MATCH_ALLOW);
    *line = where;
    if (e) {
        char *copy = malloc(len ? len : 1);
        if (copy) {
            memcpy(copy, topic, len);
            free(e->topic);
            *e = (struct cache_entry){h, now_ms ? now_ms : 1, copy, len, flags, allow, where};
        }
    }
    return allow;
}
