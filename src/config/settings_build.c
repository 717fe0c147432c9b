/*
 * settings_build.c — from the assignment table to struct rmq_settings:
 * defaults, listener instances, the assignments themselves, then the rules
 * that span several keys (TLS listener needs cert and key, CRL check needs
 * verify_peer, no two listeners on one address). See config_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

static rmq_err apply_default(const struct rmq_cfg_key *k, void *base, const char *lname)
{
    struct rmq_cfg_value v;
    struct rmq_cfg_typed t;
    char why[400];
    if (k->def == NULL || ((k->flags & RMQ_CFG_F_DEFAULT_ONLY) && strcmp(lname, "default") != 0)) {
        return RMQ_OK;
    }
    rmq_err e = rmq_cfg_parse_value(k->def, strlen(k->def), &v, why, sizeof why);
    if (e != RMQ_OK) {
        return e == RMQ_ERR_NOMEM ? e : RMQ_ERR_INTERNAL;
    }
    e = rmq_cfg_convert(k, &v, &t, why, sizeof why);
    rmq_cfg_value_clear(&v);
    if (e != RMQ_OK) {
        return e == RMQ_ERR_NOMEM ? e : RMQ_ERR_INTERNAL; /* a bad default is a bug */
    }
    rmq_cfg_store(k, base, &t);
    return RMQ_OK;
}

rmq_err rmq_cfg_apply_defaults(enum rmq_cfg_scope scope, const struct rmq_cfg_list *li,
                               const struct rmq_listener_settings *l, void *base, const char *lname)
{
    size_t count;
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&count);
    for (size_t i = 0; i < count; i++) {
        bool fits = l != NULL ? rmq_cfg_key_fits(&keys[i], l->kind)
                              : keys[i].scope == scope && keys[i].list == li;
        if (fits) {
            RMQ_TRY(apply_default(&keys[i], base, lname));
        }
    }
    return RMQ_OK;
}

static enum rmq_listener_kind kv_kind(const struct rmq_cfg_kv *kv)
{
    return rmq_cfg_path_kind(kv->path);
}

static bool kv_is_listener(const struct rmq_cfg_kv *kv)
{
    return kv->key->scope == RMQ_CFG_TCP || kv->key->scope == RMQ_CFG_SSL ||
           kv->key->scope == RMQ_CFG_WS || kv->key->scope == RMQ_CFG_WSS;
}

static int cmp_listener(const void *a, const void *b)
{
    const struct rmq_listener_settings *x = a, *y = b;
    if (x->kind != y->kind) {
        return x->kind > y->kind ? 1 : -1;
    }
    return strcmp(x->name, y->name);
}

static rmq_err add_listener(struct rmq_settings *s, enum rmq_listener_kind kind, const char *name)
{
    if (rmq_settings_listener_kind(s, kind, name) != NULL) {
        return RMQ_OK;
    }
    struct rmq_listener_settings *n =
        realloc(s->listeners, (s->listener_count + 1) * sizeof *s->listeners);
    if (n == NULL) {
        return RMQ_ERR_NOMEM;
    }
    s->listeners = n;
    struct rmq_listener_settings *l = &n[s->listener_count];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->is_ssl = kind == RMQ_LISTENER_SSL || kind == RMQ_LISTENER_WSS;
    l->is_ws = kind == RMQ_LISTENER_WS || kind == RMQ_LISTENER_WSS;
    if ((l->name = strdup(name)) == NULL) {
        return RMQ_ERR_NOMEM;
    }
    snprintf(l->id, sizeof l->id, "%s:%s", rmq_listener_kind_name(kind), name);
    s->listener_count++;
    return RMQ_OK;
}

/* listeners.tcp.default always; any other listener when one of its keys is set. */
static rmq_err make_listeners(const struct rmq_cfg_load *ld, struct rmq_settings *s)
{
    RMQ_TRY(add_listener(s, RMQ_LISTENER_TCP, "default"));
    for (size_t i = 0; i < ld->kvcount; i++) {
        if (kv_is_listener(&ld->kv[i])) {
            RMQ_TRY(add_listener(s, kv_kind(&ld->kv[i]), ld->kv[i].name));
        }
    }
    qsort(s->listeners, s->listener_count, sizeof *s->listeners, cmp_listener);
    for (size_t i = 0; i < s->listener_count; i++) {
        struct rmq_listener_settings *l = &s->listeners[i];
        RMQ_TRY(rmq_cfg_apply_defaults(RMQ_CFG_GLOBAL, NULL, l, l, l->name));
    }
    return RMQ_OK;
}

static void apply_assignments(struct rmq_cfg_load *ld, struct rmq_settings *s)
{
    for (size_t i = 0; i < ld->kvcount; i++) {
        struct rmq_cfg_kv *kv = &ld->kv[i];
        void *base = s;
        if (kv_is_listener(kv)) {
            base = (void *)rmq_settings_listener_kind(s, kv_kind(kv), kv->name);
        } else if (kv->key->scope == RMQ_CFG_LIST) {
            base = rmq_cfg_list_find(s, kv->key->list, kv->name);
        }
        if (base != NULL) {
            rmq_cfg_store(kv->key, base, &kv->val);
        }
    }
}

/* ---- cross-key rules ---------------------------------------------------------------------- */

static const char *kind(const struct rmq_listener_settings *l)
{
    return rmq_listener_kind_name(l->kind);
}

/* Origin of listener key `rest` ("bind", "ssl_options.verify"), "default" if unset. */
static const char *origin_of(const struct rmq_cfg_load *ld, const struct rmq_listener_settings *l,
                             const char *rest)
{
    char path[RMQ_CFG_PATH_MAX];
    snprintf(path, sizeof path, "listeners.%s.%s.%s", kind(l), l->name, rest);
    const struct rmq_cfg_kv *kv = rmq_cfg_find(ld, path);
    return kv != NULL ? kv->origin : "default";
}

/* Origin of the first key set under the listener (where it came into being). */
static const char *listener_origin(const struct rmq_cfg_load *ld,
                                   const struct rmq_listener_settings *l)
{
    for (size_t i = 0; i < ld->kvcount; i++) {
        const struct rmq_cfg_kv *kv = &ld->kv[i];
        if (kv_is_listener(kv) && kv_kind(kv) == l->kind && strcmp(kv->name, l->name) == 0) {
            return kv->origin;
        }
    }
    return "default";
}

/* Where a listener's bind came from: the bind key, else the listener's first key. */
static const char *bind_origin(const struct rmq_cfg_load *ld, const struct rmq_listener_settings *l)
{
    const char *o = origin_of(ld, l, "bind");
    return strcmp(o, "default") != 0 ? o : listener_origin(ld, l);
}

static bool listener_explicit(const struct rmq_cfg_load *ld, const struct rmq_listener_settings *l)
{
    return strcmp(listener_origin(ld, l), "default") != 0;
}

static void check_ssl(struct rmq_cfg_load *ld, const struct rmq_listener_settings *l)
{
    const struct rmq_ssl_options *o = &l->ssl;
    const char *n = l->name;
    const char *k = kind(l);
    const char *req = "an enabled SSL listener needs";
    if (o->certfile == NULL) {
        rmq_cfg_error(ld, "%s: listeners.%s.%s: %s listeners.%s.%s.ssl_options.certfile (not set)",
                      listener_origin(ld, l), k, n, req, k, n);
    }
    if (o->keyfile == NULL) {
        rmq_cfg_error(ld, "%s: listeners.%s.%s: %s listeners.%s.%s.ssl_options.keyfile (not set)",
                      listener_origin(ld, l), k, n, req, k, n);
    }
    if (o->verify != RMQ_VERIFY_PEER && o->fail_if_no_peer_cert) {
        rmq_cfg_error(ld,
                      "%s: listeners.%s.%s.ssl_options.fail_if_no_peer_cert = true: requires "
                      "listeners.%s.%s.ssl_options.verify = verify_peer (it is verify_none)",
                      origin_of(ld, l, "ssl_options.fail_if_no_peer_cert"), k, n, k, n);
    }
    if (o->verify != RMQ_VERIFY_PEER && o->enable_crl_check) {
        rmq_cfg_error(ld,
                      "%s: listeners.%s.%s.ssl_options.enable_crl_check = true: requires "
                      "listeners.%s.%s.ssl_options.verify = verify_peer (it is verify_none)",
                      origin_of(ld, l, "ssl_options.enable_crl_check"), k, n, k, n);
    }
    if (o->verify == RMQ_VERIFY_PEER && o->cacertfile == NULL) {
        rmq_cfg_error(ld,
                      "%s: listeners.%s.%s.ssl_options.verify = verify_peer: requires "
                      "listeners.%s.%s.ssl_options.cacertfile (not set)",
                      origin_of(ld, l, "ssl_options.verify"), k, n, k, n);
    }
}

static bool is_v6(const char *host)
{
    return strchr(host, ':') != NULL;
}

static bool is_wild(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

static bool binds_clash(const struct rmq_bind *a, const struct rmq_bind *b)
{
    if (a->port == 0 || a->port != b->port) {
        return false; /* port 0: the OS picks a free port for each */
    }
    if (strcmp(a->host, b->host) == 0) {
        return true;
    }
    return is_v6(a->host) == is_v6(b->host) && (is_wild(a->host) || is_wild(b->host));
}

/* The implicit listeners.tcp.default gives way to an explicit listener on its address. */
static void implicit_default_gives_way(struct rmq_cfg_load *ld, struct rmq_settings *s)
{
    struct rmq_listener_settings *d = NULL;
    size_t di = 0;
    for (size_t i = 0; i < s->listener_count; i++) {
        struct rmq_listener_settings *l = &s->listeners[i];
        if (l->kind == RMQ_LISTENER_TCP && strcmp(l->name, "default") == 0 &&
            !listener_explicit(ld, l)) {
            d = l;
            di = i;
        }
    }
    for (size_t i = 0; d != NULL && i < s->listener_count; i++) {
        struct rmq_listener_settings *l = &s->listeners[i];
        if (l != d && l->enable && binds_clash(&d->bind, &l->bind)) {
            rmq_cfg_warning(ld,
                            "%s: listeners.tcp.default not started: listeners.%s.%s binds the "
                            "same address (set listeners.tcp.default.bind or .enable to choose)",
                            bind_origin(ld, l), kind(l), l->name);
            free(d->name);
            memmove(d, d + 1, (s->listener_count - di - 1) * sizeof *d);
            s->listener_count--;
            return;
        }
    }
}

static void check_binds(struct rmq_cfg_load *ld, const struct rmq_settings *s)
{
    for (size_t i = 0; i < s->listener_count; i++) {
        const struct rmq_listener_settings *a = &s->listeners[i];
        for (size_t j = 0; a->enable && j < i; j++) {
            const struct rmq_listener_settings *b = &s->listeners[j];
            if (b->enable && binds_clash(&a->bind, &b->bind)) {
                rmq_cfg_error(ld,
                              "%s: listeners.%s.%s.bind = \"%s:%u\": same address as "
                              "listeners.%s.%s.bind (%s); each enabled listener needs its own",
                              bind_origin(ld, a), kind(a), a->name, a->bind.host,
                              (unsigned)a->bind.port, kind(b), b->name, bind_origin(ld, b));
            }
        }
    }
}

static void check_listeners(struct rmq_cfg_load *ld, struct rmq_settings *s)
{
    for (size_t i = 0; i < s->listener_count; i++) {
        const struct rmq_listener_settings *l = &s->listeners[i];
        if (!l->enable) {
            continue;
        }
        if (strcmp(l->name, "default") != 0 && strcmp(origin_of(ld, l, "bind"), "default") == 0) {
            rmq_cfg_error(ld,
                          "%s: listeners.%s.%s.bind is not set (required for a listener not "
                          "named default)",
                          listener_origin(ld, l), kind(l), l->name);
        }
        if (l->is_ssl) {
            check_ssl(ld, l);
        }
        if (l->is_ws && (l->ws.mqtt_path == NULL || l->ws.mqtt_path[0] != '/')) {
            rmq_cfg_error(ld,
                          "%s: listeners.%s.%s.websocket.mqtt_path = \"%s\": must start with '/'",
                          origin_of(ld, l, "websocket.mqtt_path"), kind(l), l->name,
                          l->ws.mqtt_path != NULL ? l->ws.mqtt_path : "");
        }
    }
    implicit_default_gives_way(ld, s);
    check_binds(ld, s);
}

/* Where a key of authorization source n came from, or NULL if unset. */
static const char *source_origin(const struct rmq_cfg_load *ld, const char *n, const char *rest)
{
    char path[RMQ_CFG_PATH_MAX];
    snprintf(path, sizeof path, "authorization.sources.%s.%s", n, rest);
    const struct rmq_cfg_kv *kv = rmq_cfg_find(ld, path);
    return kv != NULL ? kv->origin : NULL;
}

/* A used source position needs a type, and a file type needs a path. */
static void check_authz_sources(struct rmq_cfg_load *ld, const struct rmq_settings *s)
{
    static const char *const types[] = {"none", "file", "mosquitto_acl_file"};
    for (size_t i = 0; i < s->authz.source_count; i++) {
        const struct rmq_authz_source_settings *src = &s->authz.sources[i];
        const char *n = src->name;
        const char *t = source_origin(ld, n, "type");
        const char *o = source_origin(ld, n, "path");
        o = o ? o : source_origin(ld, n, "enable");
        if (src->type == RMQ_AUTHZ_SRC_NONE && o != NULL) {
            rmq_cfg_error(ld,
                          "%s: authorization.sources.%s: keys set but no type (set "
                          "authorization.sources.%s.type = file or mosquitto_acl_file)",
                          o, n, n);
        } else if (src->type != RMQ_AUTHZ_SRC_NONE && src->enable && src->path == NULL) {
            rmq_cfg_error(ld, "%s: authorization.sources.%s.path: required when type = %s",
                          t ? t : "default", n, types[src->type]);
        }
    }
}

rmq_err rmq_cfg_build(struct rmq_cfg_load *ld, struct rmq_settings *s)
{
    RMQ_TRY(rmq_cfg_apply_defaults(RMQ_CFG_GLOBAL, NULL, NULL, s, ""));
    RMQ_TRY(make_listeners(ld, s));
    RMQ_TRY(rmq_cfg_make_lists(ld, s));
    apply_assignments(ld, s);
    check_listeners(ld, s);
    check_authz_sources(ld, s);
    rmq_cfg_check_authn(ld, s);
    return RMQ_OK;
}

void rmq_cfg_settings_release(struct rmq_settings *s)
{
    size_t count;
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&count);
    for (size_t i = 0; i < count; i++) {
        if (keys[i].scope == RMQ_CFG_GLOBAL) {
            rmq_cfg_field_free(&keys[i], s);
            continue;
        }
        for (size_t j = 0; j < s->listener_count; j++) {
            if (rmq_cfg_key_fits(&keys[i], s->listeners[j].kind)) {
                rmq_cfg_field_free(&keys[i], &s->listeners[j]);
            }
        }
    }
    for (size_t j = 0; j < s->listener_count; j++) {
        free(s->listeners[j].name);
    }
    free(s->listeners);
    rmq_cfg_lists_release(s);
    struct rmq_cfg_origins *o = s->internal;
    if (o != NULL) {
        for (size_t i = 0; i < o->count; i++) {
            free(o->paths[i]);
            free(o->origins[i]);
        }
        free(o->paths);
        free(o->origins);
        for (size_t i = 0; i < o->nwarnings; i++) {
            free(o->warnings[i]);
        }
        free(o->warnings);
        free(o);
    }
    memset(s, 0, sizeof *s);
}
