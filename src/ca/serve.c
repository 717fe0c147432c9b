/* serve.c — `revmq-ca serve`: CRLs and OCSP over HTTP (libevent evhttp).
 *
 *   GET  /crl/<tenant name|uuid>/<ca>/<version>      DER  application/pkix-crl
 *   GET  /crl-pem/<tenant name|uuid>/<ca>/<version>  PEM  application/x-pem-file
 *   POST /ocsp/<tenant uuid>/<ca>                    application/ocsp-request
 *   GET  /ocsp/<tenant uuid>/<ca>/<url-encoded base64 request>   RFC 6960 A.1
 *
 * Every request reads the database (no cache in this process), so a
 * revocation committed by another process is served at once. Bodies over
 * --max-body are refused by libevent with 413. Runs until SIGTERM/SIGINT and
 * frees everything on the way out. */
#include "ca/ca.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/log.h"

struct serve {
    struct event_base *base; /* owned */
    struct evhttp *http;     /* owned */
    struct rmq_ca_db *db;    /* owned */
    const struct rmq_ca_serve_opts *o;
};

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    if (b != NULL) {
        evbuffer_add_printf(b, "%s\n", msg);
    }
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void reply_body(struct evhttp_request *req, const char *ctype, const void *p, size_t n)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || evbuffer_add(b, p, n) != 0) {
        evbuffer_free(b);
        reply_text(req, 500, "Internal Server Error", "out of memory");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    bool head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
    evhttp_send_reply(req, 200, "OK", head ? NULL : b);
    evbuffer_free(b);
}

static void http_date(int64_t t, char *out, size_t outsz)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, outsz, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Finds tenant and CA; replies 404 itself and returns false when unknown. */
static bool find_ca(struct serve *s, struct evhttp_request *req, const struct rmq_ca_route *rt,
                    bool uuid_only, struct rmq_ca_info *ca)
{
    struct rmq_ca_tenant t;
    rmq_err e = rmq_ca_db_tenant_get(s->db, &t);
    if (e != RMQ_OK && e != RMQ_ERR_NOT_FOUND) {
        reply_text(req, 500, "Internal Server Error", "database error");
        return false;
    }
    if (e != RMQ_OK ||
        (strcasecmp(t.uuid, rt->tenant) != 0 && (uuid_only || strcmp(t.name, rt->tenant) != 0))) {
        reply_text(req, 404, "Not Found", "unknown tenant");
        return false;
    }
    e = rmq_ca_db_ca_get(s->db, t.id, rt->ca, ca);
    if (e != RMQ_OK) {
        reply_text(req, e == RMQ_ERR_NOT_FOUND ? 404 : 500,
                   e == RMQ_ERR_NOT_FOUND ? "Not Found" : "Internal Server Error",
                   e == RMQ_ERR_NOT_FOUND ? "unknown CA" : "database error");
        return false;
    }
    return true;
}

static bool not_modified(struct evhttp_request *req, const char *etag, int64_t last_modified)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *inm = evhttp_find_header(h, "If-None-Match");
    if (inm != NULL) {
        return strstr(inm, etag) != NULL || strcmp(inm, "*") == 0;
    }
    const char *ims = evhttp_find_header(h, "If-Modified-Since");
    if (ims != NULL) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        return end != NULL && *end == '\0' && (int64_t)timegm(&tm) >= last_modified;
    }
    return false;
}

static void send_crl_pem(struct evhttp_request *req, const struct rmq_ca_crlrec *crl)
{
    const unsigned char *p = crl->der;
    X509_CRL *x = d2i_X509_CRL(NULL, &p, (long)crl->der_len);
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    if (x != NULL && b != NULL && PEM_write_bio_X509_CRL(b, x) == 1) {
        n = BIO_get_mem_data(b, &data);
    }
    if (n > 0) {
        reply_body(req, "application/x-pem-file", data, (size_t)n);
    } else {
        ERR_clear_error();
        reply_text(req, 500, "Internal Server Error", "cannot encode CRL");
    }
    BIO_free(b);
    X509_CRL_free(x);
}

static void handle_crl(struct serve *s, struct evhttp_request *req, const struct rmq_ca_route *rt)
{
    struct rmq_ca_info ca;
    struct rmq_ca_version v;
    struct rmq_ca_crlrec crl;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
        reply_text(req, 405, "Method Not Allowed", "GET only");
        return;
    }
    if (!find_ca(s, req, rt, false, &ca)) {
        return;
    }
    rmq_err e = rmq_ca_db_version_get(s->db, ca.id, rt->version, &v);
    if (e != RMQ_OK) {
        rmq_ca_info_release(&ca);
        reply_text(req, 404, "Not Found", "unknown CA version");
        return;
    }
    rmq_ca_version_release(&v);
    e = rmq_ca_crl_current(s->db, &ca, rt->version, s->o->crl_validity, false, false, &crl);
    if (e != RMQ_OK) {
        rmq_error("ca-serve", "CRL unavailable ca=%s version=%d err=%s", ca.name, rt->version,
                  rmq_err_name(e));
        rmq_ca_info_release(&ca);
        reply_text(req, 500, "Internal Server Error", "CRL unavailable");
        return;
    }
    char etag[96];
    char date[64];
    snprintf(etag, sizeof(etag), "\"%lld-%d-%lld\"", (long long)ca.id, rt->version,
             (long long)crl.number);
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "ETag", etag);
    http_date(crl.this_update, date, sizeof(date));
    evhttp_add_header(oh, "Last-Modified", date);
    http_date(crl.next_update, date, sizeof(date));
    evhttp_add_header(oh, "Expires", date);
    if (not_modified(req, etag, crl.this_update)) {
        evhttp_send_reply(req, 304, "Not Modified", NULL);
    } else if (rt->kind == RMQ_CA_ROUTE_CRL_DER) {
        reply_body(req, "application/pkix-crl", crl.der, crl.der_len);
    } else {
        send_crl_pem(req, &crl);
    }
    rmq_ca_crlrec_release(&crl);
    rmq_ca_info_release(&ca);
}

/* Base64 (RFC 4648, as in RFC 6960 A.1) -> DER; false on bad input. */
static bool b64_decode(const char *in, unsigned char *out, size_t outsz, size_t *outlen)
{
    size_t inl = strlen(in);
    if (inl == 0 || inl > RMQ_CA_OCSP_GET_MAX || outsz < (inl / 4) * 3 + 3) {
        return false;
    }
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int n1 = 0;
    int n2 = 0;
    bool ok = false;
    if (ctx != NULL) {
        EVP_DecodeInit(ctx);
        if (EVP_DecodeUpdate(ctx, out, &n1, (const unsigned char *)in, (int)inl) >= 0 &&
            EVP_DecodeFinal(ctx, out + n1, &n2) == 1) {
            ok = true;
            *outlen = (size_t)n1 + (size_t)n2;
        }
    }
    EVP_ENCODE_CTX_free(ctx);
    return ok;
}

static void handle_ocsp(struct serve *s, struct evhttp_request *req, const struct rmq_ca_route *rt)
{
    static unsigned char der[RMQ_CA_OCSP_GET_MAX];
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const unsigned char *body = NULL;
    size_t len = 0;
    struct rmq_ca_info ca;
    if (rt->kind == RMQ_CA_ROUTE_OCSP && m != EVHTTP_REQ_POST) {
        reply_text(req, 405, "Method Not Allowed", "POST an OCSP request, or GET .../<base64>");
        return;
    }
    if (rt->kind == RMQ_CA_ROUTE_OCSP_GET && m != EVHTTP_REQ_GET) {
        reply_text(req, 405, "Method Not Allowed", "GET only");
        return;
    }
    if (!find_ca(s, req, rt, true, &ca)) {
        return;
    }
    if (rt->kind == RMQ_CA_ROUTE_OCSP) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        len = evbuffer_get_length(in);
        if (len > s->o->max_body) {
            rmq_ca_info_release(&ca);
            reply_text(req, 413, "Payload Too Large", "request too large");
            return;
        }
        body = evbuffer_pullup(in, -1);
    } else if (b64_decode(rt->b64, der, sizeof(der), &len)) {
        body = der;
    } else {
        len = 0; /* rmq_ca_ocsp_respond answers malformedRequest */
    }
    unsigned char *resp = NULL;
    size_t resp_len = 0;
    rmq_ca_ocsp_respond(s->db, &ca, body, body ? len : 0, s->o->ocsp_validity, s->o->ocsp_delegated,
                        &resp, &resp_len);
    rmq_ca_info_release(&ca);
    if (resp == NULL) {
        reply_text(req, 500, "Internal Server Error", "cannot encode OCSP response");
        return;
    }
    reply_body(req, "application/ocsp-response", resp, resp_len);
    OPENSSL_free(resp);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct serve *s = arg;
    struct rmq_ca_route *rt = calloc(1, sizeof(*rt));
    const char *uri = evhttp_request_get_uri(req);
    if (rt == NULL) {
        reply_text(req, 500, "Internal Server Error", "out of memory");
        return;
    }
    rmq_err e = uri ? rmq_ca_route_parse(uri, strlen(uri), rt) : RMQ_ERR_NOT_FOUND;
    if (e == RMQ_ERR_TOO_LARGE) {
        reply_text(req, 414, "URI Too Long", "request target too long");
    } else if (e != RMQ_OK) {
        reply_text(req, 404, "Not Found", "not found");
    } else if (rt->kind == RMQ_CA_ROUTE_CRL_DER || rt->kind == RMQ_CA_ROUTE_CRL_PEM) {
        handle_crl(s, req, rt);
    } else {
        handle_ocsp(s, req, rt);
    }
    free(rt);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    struct serve *s = arg;
    rmq_info("ca-serve", "stopping signal=%d", (int)fd);
    event_base_loopexit(s->base, NULL);
}

static rmq_err split_listen(const char *listen, char *host, size_t hostsz, uint16_t *port)
{
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen) {
        return RMQ_ERR_INVALID;
    }
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostsz) {
        return RMQ_ERR_INVALID;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || p < 0 || p > 65535) {
        return RMQ_ERR_INVALID;
    }
    *port = (uint16_t)p;
    return RMQ_OK;
}

static rmq_err bind_and_announce(struct serve *s, const char *host, uint16_t port)
{
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, host, port);
    if (bs == NULL) {
        rmq_error("ca-serve", "cannot listen addr=%s port=%u", host, port);
        return RMQ_ERR_IO;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[INET6_ADDRSTRLEN] = "?";
    unsigned bound = port;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, addr, sizeof(addr));
            bound = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof(addr));
            bound = ntohs(a->sin6_port);
        }
    }
    bool v6 = strchr(addr, ':') != NULL;
    printf("listening %s%s%s:%u\n", v6 ? "[" : "", addr, v6 ? "]" : "", bound);
    fflush(stdout);
    rmq_info("ca-serve", "listening addr=%s port=%u", addr, bound);
    return RMQ_OK;
}

rmq_err rmq_ca_serve(const struct rmq_ca_serve_opts *o)
{
    char host[256];
    uint16_t port = 0;
    struct serve s = {.o = o};
    struct event *sig_term = NULL;
    struct event *sig_int = NULL;
    if (split_listen(o->listen, host, sizeof(host), &port) != RMQ_OK) {
        fprintf(stderr, "revmq-ca: --listen wants HOST:PORT, got '%s'\n", o->listen);
        return RMQ_ERR_INVALID;
    }
    signal(SIGPIPE, SIG_IGN);
    rmq_err e = rmq_ca_db_open(o->dir, &s.db);
    if (e != RMQ_OK) {
        return e;
    }
    e = RMQ_ERR_NOMEM;
    s.base = event_base_new();
    s.http = s.base ? evhttp_new(s.base) : NULL;
    sig_term = s.base ? evsignal_new(s.base, SIGTERM, on_signal, &s) : NULL;
    sig_int = s.base ? evsignal_new(s.base, SIGINT, on_signal, &s) : NULL;
    if (s.http == NULL || sig_term == NULL || sig_int == NULL || evsignal_add(sig_term, NULL) ||
        evsignal_add(sig_int, NULL)) {
        goto out;
    }
    evhttp_set_max_body_size(s.http, (ev_ssize_t)o->max_body);
    evhttp_set_max_headers_size(s.http, 16384);
    evhttp_set_timeout(s.http, 10);
    evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(s.http, on_request, &s);
    if ((e = bind_and_announce(&s, host, port)) != RMQ_OK) {
        goto out;
    }
    e = event_base_dispatch(s.base) < 0 ? RMQ_ERR_IO : RMQ_OK;
out:
    if (sig_term != NULL) {
        event_free(sig_term);
    }
    if (sig_int != NULL) {
        event_free(sig_int);
    }
    if (s.http != NULL) {
        evhttp_free(s.http);
    }
    if (s.base != NULL) {
        event_base_free(s.base);
    }
    rmq_ca_db_free(s.db);
    libevent_global_shutdown();
    return e;
}
