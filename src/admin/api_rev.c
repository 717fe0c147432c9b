/* api_rev.c — revmq's own views: CRL cache, OCSP staples, listeners, status.
 * Read through the revocation and TLS modules' thread-safe accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "admin/admin_int.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/version.h"
#include "net/net.h"
#include "revocation/revocation.h"
#include "revocation/status.h"
#include "tls/tls_status.h"

/* "2026-12-07T12:00:00Z"; "" for 0. */
static void admin_fmt_time(time_t t, char out[32])
{
    struct tm tm;
    if (t == 0 || !gmtime_r(&t, &tm)) {
        out[0] = '\0';
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *jtime(time_t t)
{
    char b[32];
    admin_fmt_time(t, b);
    return t ? json_string(b) : json_null();
}

static json_t *crl_json(const struct rmq_crl_status_crl *c, time_t now)
{
    json_t *o = json_pack("{s:s,s:s,s:s?,s:I,s:b,s:I}", "issuer", c->issuer, "issuer_hash",
                          c->issuer_hash, "crl_number", c->number[0] ? c->number : NULL, "entries",
                          (json_int_t)c->entries, "delta", (int)c->delta,
                          "seconds_until_next_update", (json_int_t)(c->next_update - now));
    if (o) {
        json_object_set_new(o, "this_update", jtime(c->this_update));
        json_object_set_new(o, "next_update", jtime(c->next_update));
    }
    return o;
}

static json_t *admin_crl_json(struct rmq_admin *a)
{
    struct rmq_crl_source_status *v = NULL;
    size_t n = 0;
    if (rmq_revocation_crl_status(a->rev, &v, &n) != RMQ_OK) {
        return NULL;
    }
    time_t now = time(NULL);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *crls = json_array();
        for (size_t j = 0; j < v[i].ncrls; j++) {
            json_array_append_new(crls, crl_json(&v[i].crls[j], now));
        }
        json_t *o = json_pack(
            "{s:s,s:s,s:s?,s:I,s:b,s:o}", "kind", v[i].kind, "source", v[i].location, "last_result",
            v[i].last_result[0] ? v[i].last_result : NULL, "next_refresh_ms",
            (json_int_t)v[i].next_refresh_ms, "fetching", (int)v[i].in_flight, "crls", crls);
        if (o) {
            json_object_set_new(o, "last_fetch", jtime(v[i].last_attempt));
        }
        json_array_append_new(arr, o);
    }
    rmq_revocation_crl_status_free(v, n);
    return json_pack("{s:o,s:I,s:I,s:I}", "sources", arr, "refreshes_ok",
                     (json_int_t)rmq_metrics_get(RMQ_M_CRL_REFRESH_OK), "refreshes_failed",
                     (json_int_t)rmq_metrics_get(RMQ_M_CRL_REFRESH_FAILED), "live_sessions_closed",
                     (json_int_t)rmq_metrics_get(RMQ_M_REVOKED_CLOSED));
}

void api_crl(struct rmq_admin *a, struct evhttp_request *req, bool refresh)
{
    if (refresh) {
        if (!a->rev || !a->rev->crl_enabled) {
            admin_reply_error(req, 404, "NOT_FOUND", "no listener checks CRLs");
            return;
        }
        rmq_info("admin", "CRL refresh requested");
        rmq_revocation_refresh_now(a->rev);
        admin_reply_json(req, 202, json_pack("{s:s}", "result", "refresh started"));
        return;
    }
    json_t *j = admin_crl_json(a);
    if (!j) {
        admin_reply_error(req, 503, "SERVICE_UNAVAILABLE", "the CRL engine did not answer");
        return;
    }
    admin_reply_json(req, 200, j);
}

static json_t *staple_json(const struct rmq_listener_settings *ls, const struct rmq_tls_status *t)
{
    time_t now = time(NULL);
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:I,s:s?,s:I,s:I,s:I,s:I}", "listener", ls->name, "certificate",
                  t->cert_fingerprint, "responder", t->ocsp_responder, "status", t->staple_status,
                  "next_refresh_ms", (json_int_t)t->staple_next_refresh_ms, "last_error",
                  t->staple_last_error[0] ? t->staple_last_error : NULL, "fetches",
                  (json_int_t)t->staple_fetches, "ok", (json_int_t)t->staple_ok, "failed",
                  (json_int_t)t->staple_failed, "rejected", (json_int_t)t->staple_rejected);
    if (o) {
        json_object_set_new(o, "this_update", jtime(t->staple_this_update));
        json_object_set_new(o, "next_update", jtime(t->staple_next_update));
        json_object_set_new(o, "seconds_until_next_update",
                            t->staple_present
                                ? json_integer((json_int_t)(t->staple_next_update - now))
                                : json_null());
    }
    return o;
}

static json_t *admin_ocsp_json(struct rmq_admin *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && a->tls && i < a->s->listener_count; i++) {
        if (!a->tls[i]) {
            continue;
        }
        struct rmq_tls_status t;
        rmq_tls_listener_status(a->tls[i], &t);
        if (t.stapling) {
            json_array_append_new(arr, staple_json(&a->s->listeners[i], &t));
        }
    }
    return json_pack("{s:o}", "staples", arr);
}

void api_ocsp(struct rmq_admin *a, struct evhttp_request *req, bool refresh)
{
    if (refresh) {
        size_t n = 0;
        for (size_t i = 0; a->tls && i < a->s->listener_count; i++) {
            n += a->tls[i] && rmq_tls_listener_staple_refresh(a->tls[i]);
        }
        if (n == 0) {
            admin_reply_error(req, 404, "NOT_FOUND", "no listener staples OCSP responses");
            return;
        }
        rmq_info("admin", "OCSP refresh requested staplers=%zu", n);
        admin_reply_json(
            req, 202,
            json_pack("{s:s,s:I}", "result", "refresh started", "staplers", (json_int_t)n));
        return;
    }
    admin_reply_json(req, 200, admin_ocsp_json(a));
}

static json_t *admin_listeners_json(struct rmq_admin *a, json_t *snap)
{
    json_t *arr = json_array();
    json_t *by = snap ? json_object_get(snap, "by_listener") : NULL;
    size_t bound = 0;
    for (size_t i = 0; arr && i < a->s->listener_count; i++) {
        const struct rmq_listener_settings *ls = &a->s->listeners[i];
        if (!ls->enable) {
            continue;
        }
        char id[160];
        snprintf(id, sizeof id, "%s:%s", ls->is_ssl ? "ssl" : "tcp", ls->name);
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:I}", "id", id, "type",
                              ls->is_ssl ? "ssl" : "tcp", "name", ls->name, "bind", ls->bind.host,
                              "port", (int)rmq_net_listener_port(a->net, bound++), "connections",
                              json_integer_value(json_object_get(by, id)));
        if (o && ls->is_ssl && a->tls && a->tls[i]) {
            struct rmq_tls_status t;
            rmq_tls_listener_status(a->tls[i], &t);
            json_t *tj = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s}", "certfile", t.certfile, "subject",
                                   t.cert_subject, "serial", t.cert_serial, "fingerprint",
                                   t.cert_fingerprint, "stapling", (int)t.stapling, "staple_status",
                                   t.staple_status);
            if (tj) {
                json_object_set_new(tj, "not_after", jtime(t.cert_not_after));
                json_object_set_new(tj, "loaded_at", jtime(t.loaded_at));
                json_object_set_new(tj, "crl_check", json_boolean(ls->ssl.enable_crl_check));
            }
            json_object_set_new(o, "tls", tj);
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

void api_listeners(struct rmq_admin *a, struct evhttp_request *req)
{
    json_t *snap = admin_core_snapshot(a);
    json_t *arr = admin_listeners_json(a, snap);
    json_decref(snap);
    admin_reply_json(req, 200, json_pack("{s:o}", "listeners", arr));
}

void api_status(struct rmq_admin *a, struct evhttp_request *req)
{
    json_t *snap = admin_core_snapshot(a);
    time_t now = time(NULL);
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:I,s:I,s:{s:I,s:I}}", "node", a->s->node_name, "version",
                  RMQ_VERSION, "status", snap ? "running" : "core_unresponsive", "uptime",
                  (json_int_t)(now - a->started_at), "connections",
                  snap ? json_integer_value(json_object_get(snap, "connections")) : (json_int_t)-1,
                  "refusals_last_hour", "tls_handshake_failed",
                  (json_int_t)rmq_metrics_recent(RMQ_M_TLS_HANDSHAKE_FAILED, 60), "auth_failed",
                  (json_int_t)rmq_metrics_recent(RMQ_M_AUTH_FAILURE, 60));
    json_decref(snap);
    admin_reply_json(req, 200, o);
}
