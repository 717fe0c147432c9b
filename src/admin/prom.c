/* prom.c — /api/v5/prometheus/stats in the Prometheus text format 0.0.4.
 * Only what revmq measures is exported (no placeholders). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "admin/admin_int.h"
#include "common/metrics.h"
#include "revocation/status.h"
#include "tls/tls_status.h"

__attribute__((format(printf, 2, 3))) static void out(struct evbuffer *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(b, fmt, ap);
    va_end(ap);
}

static void head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    out(b, "# HELP revmq_%s %s\n# TYPE revmq_%s %s\n", name, help, name, type);
}

/* A label value with \ " and newline escaped (exposition format). */
static void label(char *dst, size_t n, const char *v)
{
    size_t k = 0;
    for (; *v && k + 3 < n; v++) {
        if (*v == '\\' || *v == '"') {
            dst[k++] = '\\';
            dst[k++] = *v;
        } else if (*v == '\n') {
            dst[k++] = '\\';
            dst[k++] = 'n';
        } else {
            dst[k++] = *v;
        }
    }
    dst[k] = '\0';
}

static json_int_t iv(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void mqtt_part(struct evbuffer *b, json_t *s, const struct rmq_settings *st)
{
    head(b, "connections", "gauge", "Connected MQTT clients by listener.");
    for (size_t i = 0; i < st->listener_count; i++) {
        const struct rmq_listener_settings *ls = &st->listeners[i];
        if (ls->enable) {
            char l[256], id[160];
            label(l, sizeof l, ls->name);
            snprintf(id, sizeof id, "%s:%s", ls->is_ssl ? "ssl" : "tcp", ls->name);
            out(b, "revmq_connections{listener=\"%s:%s\"} %lld\n", ls->is_ssl ? "ssl" : "tcp", l,
                (long long)iv(json_object_get(s, "by_listener"), id));
        }
    }
    head(b, "sessions", "gauge", "MQTT sessions, connected or not.");
    out(b, "revmq_sessions %lld\n", (long long)iv(s, "sessions"));
    head(b, "subscriptions", "gauge", "Subscriptions of all sessions.");
    out(b, "revmq_subscriptions %lld\n", (long long)iv(s, "subscriptions"));
    head(b, "retained_messages", "gauge", "Retained messages stored.");
    out(b, "revmq_retained_messages %lld\n", (long long)iv(s, "retained"));
    head(b, "messages_received_total", "counter", "PUBLISH packets received from clients.");
    out(b, "revmq_messages_received_total %lld\n", (long long)iv(s, "messages_in"));
    head(b, "messages_sent_total", "counter", "PUBLISH packets sent to clients.");
    out(b, "revmq_messages_sent_total %lld\n", (long long)iv(s, "messages_out"));
    head(b, "messages_dropped_total", "counter", "Messages dropped, by reason.");
    const char *reasons[][2] = {{"queue_full", "dropped_queue_full"},
                                {"expired", "dropped_expired"},
                                {"too_large", "dropped_too_large"},
                                {"qos0_backpressure", "dropped_qos0_backpressure"}};
    for (size_t i = 0; i < 4; i++) {
        out(b, "revmq_messages_dropped_total{reason=\"%s\"} %lld\n", reasons[i][0],
            (long long)iv(s, reasons[i][1]));
    }
    head(b, "messages_refused_total", "counter",
         "QoS 1/2 PUBLISH not accepted (PUBACK/PUBREC 0x97, or a 3.1.1 disconnect), by reason.");
    out(b, "revmq_messages_refused_total{reason=\"queue_full\"} %lld\n",
        (long long)iv(s, "refused_queue_full"));
}

static void counters_part(struct evbuffer *b)
{
    head(b, "tls_handshakes_total", "counter", "TLS handshakes by outcome.");
    out(b, "revmq_tls_handshakes_total{outcome=\"ok\"} %llu\n",
        (unsigned long long)rmq_metrics_get(RMQ_M_TLS_HANDSHAKE_OK));
    out(b, "revmq_tls_handshakes_total{outcome=\"failed\"} %llu\n",
        (unsigned long long)rmq_metrics_get(RMQ_M_TLS_HANDSHAKE_FAILED));
    head(b, "tls_alerts_sent_total", "counter",
         "TLS alerts sent, by alert (44 certificate_revoked, 42 bad_certificate, ...).");
    for (int code = 0; code < 256; code++) {
        uint64_t n = rmq_metrics_tls_alert_count(1, code);
        if (n || code == 42 || code == 44) {
            out(b, "revmq_tls_alerts_sent_total{alert=\"%d\"} %llu\n", code, (unsigned long long)n);
        }
    }
    head(b, "authentication_failures_total", "counter", "CONNECTs refused by authentication.");
    out(b, "revmq_authentication_failures_total %llu\n",
        (unsigned long long)rmq_metrics_get(RMQ_M_AUTH_FAILURE));
    head(b, "acl_denials_total", "counter", "PUBLISH/SUBSCRIBE denied by the ACL.");
    out(b, "revmq_acl_denials_total %llu\n", (unsigned long long)rmq_metrics_get(RMQ_M_ACL_DENIED));
    head(b, "store_commit_seconds", "summary",
         "Durable-store commits (one fsync each; acknowledgements wait for them): time spent.");
    out(b, "revmq_store_commit_seconds_sum %.6f\n",
        (double)rmq_metrics_get(RMQ_M_STORE_COMMIT_US) / 1e6);
    out(b, "revmq_store_commit_seconds_count %llu\n",
        (unsigned long long)rmq_metrics_get(RMQ_M_STORE_COMMITS));
    head(b, "store_commit_failures_total", "counter", "Durable-store commits that failed.");
    out(b, "revmq_store_commit_failures_total %llu\n",
        (unsigned long long)rmq_metrics_get(RMQ_M_STORE_COMMIT_FAILED));
    head(b, "store_rows_put_off_total", "counter",
         "Message rows for connected persistent subscribers put off "
         "(durable_sessions.flush_delay).");
    out(b, "revmq_store_rows_put_off_total %llu\n",
        (unsigned long long)rmq_metrics_get(RMQ_M_STORE_ROWS_PUT_OFF));
    head(b, "store_rows_skipped_total", "counter",
         "Of those, rows never written: the subscriber acknowledged first.");
    out(b, "revmq_store_rows_skipped_total %llu\n",
        (unsigned long long)rmq_metrics_get(RMQ_M_STORE_ROWS_SKIPPED));
    head(b, "crl_refreshes_total", "counter", "CRL source refreshes by outcome.");
    out(b, "revmq_crl_refreshes_total{outcome=\"ok\"} %llu\n",
        (unsigned long long)rmq_metrics_get(RMQ_M_CRL_REFRESH_OK));
    out(b, "revmq_crl_refreshes_total{outcome=\"failed\"} %llu\n",
        (unsigned long long)rmq_metrics_get(RMQ_M_CRL_REFRESH_FAILED));
    head(b, "revoked_sessions_closed_total", "counter",
         "Live connections closed because a new CRL revoked their certificate.");
    out(b, "revmq_revoked_sessions_closed_total %llu\n",
        (unsigned long long)rmq_metrics_get(RMQ_M_REVOKED_CLOSED));
}

static void crl_part(struct evbuffer *b, struct rmq_admin *a)
{
    struct rmq_crl_source_status *v = NULL;
    size_t n = 0;
    if (rmq_revocation_crl_status(a->rev, &v, &n) != RMQ_OK) {
        return;
    }
    time_t now = time(NULL);
    head(b, "crl_seconds_until_next_update", "gauge",
         "Seconds until each CRL in force reaches its nextUpdate (negative: past).");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < v[i].ncrls; j++) {
            char src[1100], iss[600];
            label(src, sizeof src, v[i].location);
            label(iss, sizeof iss, v[i].crls[j].issuer);
            out(b, "revmq_crl_seconds_until_next_update{source=\"%s\",issuer=\"%s\"} %lld\n", src,
                iss, (long long)(v[i].crls[j].next_update - now));
        }
    }
    rmq_revocation_crl_status_free(v, n);
}

/* pass 0: status family, pass 1: nextUpdate family (families stay grouped). */
static void staple_part(struct evbuffer *b, struct rmq_admin *a)
{
    time_t now = time(NULL);
    for (int pass = 0; pass < 2; pass++) {
        bool headed = false;
        for (size_t i = 0; a->tls && i < a->s->listener_count; i++) {
            struct rmq_tls_status t;
            if (!a->tls[i]) {
                continue;
            }
            rmq_tls_listener_status(a->tls[i], &t);
            if (!t.stapling || (pass == 1 && !t.staple_present)) {
                continue;
            }
            if (!headed) {
                head(b, pass ? "ocsp_staple_seconds_until_next_update" : "ocsp_staple_good",
                     "gauge",
                     pass ? "Seconds until the stapled OCSP response reaches its nextUpdate."
                          : "1 when the stapled OCSP response says good, 0 otherwise "
                            "(revoked, none).");
                headed = true;
            }
            char l[256];
            label(l, sizeof l, a->s->listeners[i].name);
            if (pass == 0) {
                out(b, "revmq_ocsp_staple_good{listener=\"ssl:%s\",status=\"%s\"} %d\n", l,
                    t.staple_status, strcmp(t.staple_status, "good") == 0);
            } else {
                out(b, "revmq_ocsp_staple_seconds_until_next_update{listener=\"ssl:%s\"} %lld\n", l,
                    (long long)(t.staple_next_update - now));
            }
        }
    }
}

void api_prometheus(struct rmq_admin *a, struct evhttp_request *req)
{
    json_t *s = admin_core_snapshot(a);
    if (!s) {
        admin_reply_error(req, 503, "SERVICE_UNAVAILABLE", "the MQTT core did not answer");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        json_decref(s);
        admin_reply_error(req, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    mqtt_part(b, s, a->s);
    json_decref(s);
    counters_part(b);
    crl_part(b, a);
    staple_part(b, a);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}
