/*
 * test_revocation_ocsp_stapler.c — the OCSP stapler against real responders
 * on loopback: a small libevent HTTP responder in this process (signs fresh
 * responses with OCSP_basic_sign, or serves 500 / garbage / canned / nothing)
 * and `openssl ocsp` as an independent peer. Through the real fetcher
 * (libcurl), over POST and GET.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include "revocation/fetcher.h"
#include "revocation/ocsp_stapler.h"
#include "test_revocation_ocsp_pki.h"

extern char **environ;

/* ---- PKI ------------------------------------------------------------- */

static EVP_PKEY *ca_key, *srv_key, *other_key, *rsp_key;
static X509 *ca, *srv, *srv_rotated, *other_ca, *rsp;

/* ---- the in-process responder ----------------------------------------- */

enum mode { M_GOOD, M_CANNED, M_500, M_GARBAGE, M_SLOW };

struct srv {
    struct event_base *base;
    struct evhttp *http;
    pthread_t th;
    uint16_t port;
    pthread_mutex_t mu; /* protects everything below */
    enum mode mode;
    int cert_status; /* V_OCSP_CERTSTATUS_* for M_GOOD */
    long validity;   /* seconds, for M_GOOD */
    X509 *cert;      /* whose status M_GOOD answers (and the request must name) */
    X509 *signer;
    EVP_PKEY *signer_key;
    unsigned char *canned;
    size_t canned_len;
    int requests;
    int bad_requests; /* requests whose OCSPRequest did not name `cert` */
    char last_method[8];
    char last_uri[2048];
    char last_ctype[128];
};

static struct srv S;

/* The OCSPRequest of a POST body or a GET URL (last path segment). */
static OCSP_REQUEST *parse_request(struct evhttp_request *req)
{
    unsigned char buf[8192];
    size_t n = 0;
    if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        ev_ssize_t got = evbuffer_copyout(in, buf, sizeof buf);
        n = got > 0 ? (size_t)got : 0;
    } else {
        const char *uri = evhttp_request_get_uri(req);
        const char *seg = strrchr(uri, '/');
        char *dec = evhttp_uridecode(seg ? seg + 1 : uri, 0, NULL);
        size_t dl = dec ? strlen(dec) : 0;
        if (dec != NULL && dl > 0 && dl < sizeof buf * 3 / 4) {
            int k = EVP_DecodeBlock(buf, (const unsigned char *)dec, (int)dl);
            n = k > 0 ? (size_t)k : 0;
        }
        free(dec);
    }
    const unsigned char *p = buf;
    return n ? d2i_OCSP_REQUEST(NULL, &p, (long)n) : NULL;
}

static bool request_names(OCSP_REQUEST *r, X509 *cert)
{
    if (r == NULL || OCSP_request_onereq_count(r) != 1) {
        return false;
    }
    OCSP_CERTID *want = OCSP_cert_to_id(EVP_sha1(), cert, ca);
    bool ok = OCSP_id_cmp(OCSP_onereq_get0_id(OCSP_request_onereq_get0(r, 0)), want) == 0;
    OCSP_CERTID_free(want);
    return ok;
}

static void reply(struct evhttp_request *req, int code, const void *body, size_t len)
{
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/ocsp-response");
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", out);
    evbuffer_free(out);
}

static void handle(struct evhttp_request *req, void *arg)
{
    (void)arg;
    OCSP_REQUEST *r = parse_request(req);
    pthread_mutex_lock(&S.mu);
    S.requests++;
    bool named = request_names(r, S.cert);
    S.bad_requests += named ? 0 : 1;
    snprintf(S.last_method, sizeof S.last_method, "%s",
             evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "GET");
    snprintf(S.last_uri, sizeof S.last_uri, "%s", evhttp_request_get_uri(req));
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    snprintf(S.last_ctype, sizeof S.last_ctype, "%s", ct ? ct : "");
    enum mode mode = S.mode;
    struct pki_resp pr = {.cert = S.cert,
                          .issuer = ca,
                          .status = S.cert_status,
                          .signer = S.signer,
                          .signer_key = S.signer_key,
                          .this_off = 0,
                          .next_off = S.validity};
    unsigned char *canned = NULL;
    size_t canned_len = S.canned_len;
    if (mode == M_CANNED && (canned = malloc(canned_len ? canned_len : 1)) != NULL) {
        memcpy(canned, S.canned, canned_len);
    }
    pthread_mutex_unlock(&S.mu);
    OCSP_REQUEST_free(r);
    switch (mode) {
    case M_GOOD:
        if (!named) {
            reply(req, 400, "bad request", 11);
        } else {
            size_t len = 0;
            unsigned char *der = pki_response(&pr, &len);
            reply(req, 200, der, len);
            free(der);
        }
        break;
    case M_CANNED:
        reply(req, 200, canned, canned_len);
        break;
    case M_500:
        reply(req, 500, "oops", 4);
        break;
    case M_GARBAGE:
        reply(req, 200, "<html>not ocsp</html>", 21);
        break;
    case M_SLOW:
    default:
        break; /* never answers; evhttp_free drops it */
    }
    free(canned);
}

static void *srv_main(void *arg)
{
    (void)arg;
    event_base_dispatch(S.base);
    return NULL;
}

static void srv_start(void)
{
    S.base = event_base_new();
    S.http = evhttp_new(S.base);
    evhttp_set_gencb(S.http, handle, NULL);
    evhttp_set_allowed_methods(S.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(S.http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl);
    S.port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&S.th, NULL, srv_main, NULL), 0);
}

static void srv_stop(void)
{
    event_base_loopbreak(S.base);
    pthread_join(S.th, NULL);
    evhttp_free(S.http);
    event_base_free(S.base);
}

static void srv_set(enum mode m, int cert_status, long validity)
{
    pthread_mutex_lock(&S.mu);
    S.mode = m;
    S.cert_status = cert_status;
    S.validity = validity;
    pthread_mutex_unlock(&S.mu);
}

static void srv_canned(const unsigned char *der, size_t len)
{
    pthread_mutex_lock(&S.mu);
    free(S.canned);
    S.canned = malloc(len);
    memcpy(S.canned, der, len);
    S.canned_len = len;
    S.mode = M_CANNED;
    pthread_mutex_unlock(&S.mu);
}

static int srv_requests(void)
{
    pthread_mutex_lock(&S.mu);
    int n = S.requests;
    pthread_mutex_unlock(&S.mu);
    return n;
}

/* ---- helpers ----------------------------------------------------------- */

static struct rmq_fetcher *F;
static char base_url[64];

/* A responder URL with a path of its own, so that the fetcher's per-URL rate
 * limit (1 transfer start a second) does not couple one stapler to the last.
 * Copied by the stapler; valid until the next call. */
static const char *fresh_url(void)
{
    static char url[96];
    static unsigned n;
    snprintf(url, sizeof url, "%s/u%u", base_url, ++n);
    return url;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char p[1024];
                snprintf(p, sizeof p, "%s/%s", path, e->d_name);
                rm_rf(p);
            }
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static struct rmq_ocsp_settings cfg(enum rmq_ocsp_method m, uint64_t interval_ms)
{
    struct rmq_ocsp_settings c = {.enable_ocsp_stapling = true,
                                  .refresh_interval = interval_ms,
                                  .refresh_http_timeout = 2000,
                                  .method = m};
    return c;
}

static bool staple_ok(struct rmq_ocsp_stapler *st, X509 *cert, enum rmq_ocsp_status want)
{
    unsigned char *der = NULL;
    size_t len = 0;
    if (rmq_ocsp_stapler_get(st, &der, &len) != RMQ_OK) {
        return false;
    }
    struct rmq_ocsp_verdict v;
    bool ok = rmq_ocsp_verify_response(der, len, cert, ca, NULL, &v) == RMQ_OK && v.status == want;
    OPENSSL_free(der);
    return ok;
}

static bool no_staple(struct rmq_ocsp_stapler *st)
{
    unsigned char *der = NULL;
    size_t len = 0;
    rmq_err e = rmq_ocsp_stapler_get(st, &der, &len);
    OPENSSL_free(der);
    return e == RMQ_ERR_NOT_FOUND;
}

static uint64_t rejected(struct rmq_ocsp_stapler *st)
{
    struct rmq_ocsp_stats s;
    rmq_ocsp_stapler_stats(st, &s);
    return s.rejected;
}

/* Polls cond every 20 ms for up to ms milliseconds. */
#define WAIT_FOR(cond, ms)                                                                         \
    ({                                                                                             \
        uint64_t wf_end_ = rmq_fetcher_now_ms() + (ms);                                            \
        bool wf_ok_;                                                                               \
        while (!(wf_ok_ = (cond)) && rmq_fetcher_now_ms() < wf_end_) {                             \
            usleep(20000);                                                                         \
        }                                                                                          \
        wf_ok_;                                                                                    \
    })

static char *tmpdir(void)
{
    char *d = strdup("/tmp/rmq-ocsp-test-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static int setup(void **state)
{
    (void)state;
    evthread_use_pthreads();
    ca_key = pki_key();
    srv_key = pki_key();
    other_key = pki_key();
    rsp_key = pki_key();
    ca = pki_cert("Stapler CA", ca_key, NULL, NULL, 1, -3600, 86400, PKI_CA, NULL);
    srv = pki_cert("srv", srv_key, ca, ca_key, 100, -3600, 86400, PKI_SERVER, NULL);
    srv_rotated = pki_cert("srv", srv_key, ca, ca_key, 101, -3600, 86400, PKI_SERVER, NULL);
    other_ca = pki_cert("Other CA", other_key, NULL, NULL, 7, -3600, 86400, PKI_CA, NULL);
    rsp = pki_cert("responder", rsp_key, ca, ca_key, 300, -3600, 86400, PKI_OCSP_SIGN, NULL);
    pthread_mutex_init(&S.mu, NULL);
    S.cert = srv;
    S.signer = ca;
    S.signer_key = ca_key;
    srv_start();
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u", (unsigned)S.port);
    return rmq_fetcher_new(&F) == RMQ_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rmq_fetcher_free(F);
    srv_stop();
    free(S.canned);
    X509_free(ca);
    X509_free(srv);
    X509_free(srv_rotated);
    X509_free(other_ca);
    X509_free(rsp);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(rsp_key);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    pthread_mutex_lock(&S.mu);
    S.mode = M_GOOD;
    S.cert_status = V_OCSP_CERTSTATUS_GOOD;
    S.validity = 3600;
    S.cert = srv;
    S.signer = ca;
    S.signer_key = ca_key;
    S.bad_requests = 0;
    pthread_mutex_unlock(&S.mu);
    return 0;
}

/* ---- tests ------------------------------------------------------------- */

static void test_stapler__post_first_fetch_before_start_returns_and_persists(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 60000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), dir);
    assert_non_null(st);
    assert_true(no_staple(st)); /* nothing before start */
    int before = srv_requests();
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_true(staple_ok(st, srv, RMQ_OCSP_GOOD)); /* at once, no waiting */
    assert_int_equal(srv_requests(), before + 1);
    pthread_mutex_lock(&S.mu);
    assert_string_equal(S.last_method, "POST");
    assert_string_equal(S.last_ctype, "application/ocsp-request");
    assert_int_equal(S.bad_requests, 0);
    pthread_mutex_unlock(&S.mu);
    /* saved under <data_dir>/ocsp/<sha256>.der */
    char path[512];
    snprintf(path, sizeof path, "%s/ocsp/%s.der", dir, rmq_ocsp_stapler_fingerprint(st));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 100);
    enum rmq_ocsp_status s;
    time_t nu = 0;
    assert_int_equal(rmq_ocsp_stapler_status(st, &s, &nu), RMQ_OK);
    assert_int_equal(s, RMQ_OCSP_GOOD);
    assert_true(nu > time(NULL) + 3500);
    rmq_ocsp_stapler_free(st);
    rm_rf(dir);
    free(dir);
}

static void get_one(const char *url, const char *want_prefix)
{
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_GET, 60000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, url, NULL);
    assert_non_null(st);
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_true(staple_ok(st, srv, RMQ_OCSP_GOOD));
    pthread_mutex_lock(&S.mu);
    assert_string_equal(S.last_method, "GET");
    assert_int_equal(S.bad_requests, 0); /* the server decoded our CertID from the URL */
    assert_int_equal(strncmp(S.last_uri, want_prefix, strlen(want_prefix)), 0);
    const char *rest = S.last_uri + strlen(want_prefix);
    assert_null(strchr(rest, '/')); /* base64 '/' is url-encoded */
    assert_true(rest[0] != '\0');
    pthread_mutex_unlock(&S.mu);
    rmq_ocsp_stapler_free(st);
}

static void test_stapler__get_joins_url_with_exactly_one_slash(void **state)
{
    (void)state;
    char url[128];
    get_one(base_url, "/");
    snprintf(url, sizeof url, "%s/", base_url);
    get_one(url, "/");
    snprintf(url, sizeof url, "%s/ocsp/tenant/mqtt-ca", base_url);
    get_one(url, "/ocsp/tenant/mqtt-ca/");
    snprintf(url, sizeof url, "%s/ocsp/tenant/mqtt-ca/", base_url);
    get_one(url, "/ocsp/tenant/mqtt-ca/");
}

/* Starts a stapler against the current server behaviour; expects no staple. */
static void expect_never_stapled(bool rejected_by_verify)
{
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 60000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), NULL);
    assert_non_null(st);
    int before = srv_requests();
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_int_equal(srv_requests(), before + 1); /* it did fetch */
    assert_true(no_staple(st));
    struct rmq_ocsp_stats stats;
    rmq_ocsp_stapler_stats(st, &stats);
    assert_int_equal(stats.fetches, 1);
    assert_int_equal(stats.failed, 1);
    assert_int_equal(stats.ok, 0);
    assert_int_equal(stats.rejected, rejected_by_verify ? 1 : 0);
    rmq_ocsp_stapler_free(st);
}

static void test_stapler__bad_responses_never_stapled(void **state)
{
    (void)state;
    srv_set(M_500, V_OCSP_CERTSTATUS_GOOD, 3600);
    expect_never_stapled(false);
    srv_set(M_GARBAGE, V_OCSP_CERTSTATUS_GOOD, 3600);
    expect_never_stapled(true);
    srv_set(M_GOOD, V_OCSP_CERTSTATUS_UNKNOWN, 3600); /* verified but unknown */
    expect_never_stapled(false);

    struct pki_resp r = {.cert = srv_rotated, /* a response for another certificate */
                         .issuer = ca,
                         .status = V_OCSP_CERTSTATUS_GOOD,
                         .signer = ca,
                         .signer_key = ca_key,
                         .this_off = -60,
                         .next_off = 3600};
    size_t len = 0;
    unsigned char *der = pki_response(&r, &len);
    srv_canned(der, len);
    free(der);
    expect_never_stapled(true);

    r.cert = srv; /* signed by an unrelated key */
    r.signer = other_ca;
    r.signer_key = other_key;
    der = pki_response(&r, &len);
    srv_canned(der, len);
    free(der);
    expect_never_stapled(true);

    r.signer = ca; /* expired */
    r.signer_key = ca_key;
    r.this_off = -7200;
    r.next_off = -10;
    der = pki_response(&r, &len);
    srv_canned(der, len);
    free(der);
    expect_never_stapled(true);

    r.next_off = 3600; /* control: the same canned path with a good response staples */
    r.this_off = -60;
    der = pki_response(&r, &len);
    srv_canned(der, len);
    free(der);
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 60000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), NULL);
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_true(staple_ok(st, srv, RMQ_OCSP_GOOD));
    rmq_ocsp_stapler_free(st);
}

static void test_stapler__delegated_responder(void **state)
{
    (void)state;
    pthread_mutex_lock(&S.mu);
    S.signer = rsp;
    S.signer_key = rsp_key;
    pthread_mutex_unlock(&S.mu);
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 60000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), NULL);
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_true(staple_ok(st, srv, RMQ_OCSP_GOOD));
    rmq_ocsp_stapler_free(st);
}

static void test_stapler__slow_responder_bounds_start(void **state)
{
    (void)state;
    srv_set(M_SLOW, V_OCSP_CERTSTATUS_GOOD, 3600);
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 60000);
    c.refresh_http_timeout = 1000;
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), NULL);
    uint64_t t0 = rmq_fetcher_now_ms();
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    uint64_t took = rmq_fetcher_now_ms() - t0;
    assert_true(took >= 900 && took < 1000 + RMQ_FETCH_MIN_INTERVAL_MS + 1500);
    assert_true(no_staple(st));
    rmq_ocsp_stapler_free(st);
}

static void test_stapler__keeps_last_good_until_next_update_then_stops(void **state)
{
    (void)state;
    srv_set(M_GOOD, V_OCSP_CERTSTATUS_GOOD, 3); /* nextUpdate = thisUpdate + 3 s */
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 1000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), NULL);
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_true(staple_ok(st, srv, RMQ_OCSP_GOOD));
    /* it refreshes (interval 1 s) */
    int n0 = srv_requests();
    assert_true(WAIT_FOR(srv_requests() >= n0 + 2, 5000));
    srv_set(M_500, V_OCSP_CERTSTATUS_GOOD, 3);
    time_t nu = 0;
    enum rmq_ocsp_status s;
    assert_int_equal(rmq_ocsp_stapler_status(st, &s, &nu), RMQ_OK);
    /* stapled until nextUpdate ... */
    while (time(NULL) + 1 < nu) {
        assert_true(staple_ok(st, srv, RMQ_OCSP_GOOD));
        usleep(100000);
    }
    /* ... then never again while the responder fails */
    assert_true(WAIT_FOR(no_staple(st), 4000));
    assert_true(time(NULL) >= nu);
    int n1 = srv_requests();
    assert_true(WAIT_FOR(srv_requests() >= n1 + 1, 4000)); /* still retrying */
    assert_true(no_staple(st));
    /* recovers when the responder does */
    srv_set(M_GOOD, V_OCSP_CERTSTATUS_GOOD, 60);
    assert_true(WAIT_FOR(staple_ok(st, srv, RMQ_OCSP_GOOD), 5000));
    rmq_ocsp_stapler_free(st);
}

static void test_stapler__revoked_is_stapled_unknown_is_not(void **state)
{
    (void)state;
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 1000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), NULL);
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_true(staple_ok(st, srv, RMQ_OCSP_GOOD));
    srv_set(M_GOOD, V_OCSP_CERTSTATUS_REVOKED, 3600);
    assert_true(WAIT_FOR(staple_ok(st, srv, RMQ_OCSP_REVOKED), 5000));
    /* unknown: not stapled; the last (revoked) response stays */
    srv_set(M_GOOD, V_OCSP_CERTSTATUS_UNKNOWN, 3600);
    int n = srv_requests();
    assert_true(WAIT_FOR(srv_requests() >= n + 2, 6000));
    assert_true(staple_ok(st, srv, RMQ_OCSP_REVOKED));
    rmq_ocsp_stapler_free(st);
}

static void test_stapler__refresh_now(void **state)
{
    (void)state;
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 3600000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), NULL);
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    int n = srv_requests();
    srv_set(M_GOOD, V_OCSP_CERTSTATUS_REVOKED, 3600);
    rmq_ocsp_stapler_refresh_now(st);
    assert_true(WAIT_FOR(staple_ok(st, srv, RMQ_OCSP_REVOKED), 4000));
    assert_int_equal(srv_requests(), n + 1);
    rmq_ocsp_stapler_free(st);
}

static void test_stapler__restart_with_responder_down_staples_saved(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 60000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), dir);
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_true(staple_ok(st, srv, RMQ_OCSP_GOOD));
    rmq_ocsp_stapler_free(st);

    srv_set(M_SLOW, V_OCSP_CERTSTATUS_GOOD, 3600); /* responder hangs */
    st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), dir);
    uint64_t t0 = rmq_fetcher_now_ms();
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_true(rmq_fetcher_now_ms() - t0 < c.refresh_http_timeout / 2); /* no waiting */
    assert_true(staple_ok(st, srv, RMQ_OCSP_GOOD));                      /* at once, from disk */
    rmq_ocsp_stapler_free(st);
    srv_set(M_500, V_OCSP_CERTSTATUS_GOOD, 3600); /* responder "down" */

    /* rotation: the new certificate never gets the old one's response */
    pthread_mutex_lock(&S.mu);
    S.cert = srv_rotated;
    pthread_mutex_unlock(&S.mu);
    struct rmq_ocsp_stapler *st2 = rmq_ocsp_stapler_new(F, srv_rotated, ca, &c, fresh_url(), dir);
    assert_int_equal(rmq_ocsp_stapler_start(st2), RMQ_OK);
    assert_true(no_staple(st2));
    srv_set(M_GOOD, V_OCSP_CERTSTATUS_GOOD, 3600);
    rmq_ocsp_stapler_refresh_now(st2);
    assert_true(WAIT_FOR(staple_ok(st2, srv_rotated, RMQ_OCSP_GOOD), 4000));
    assert_false(staple_ok(st2, srv, RMQ_OCSP_GOOD));

    /* a saved file that fails verification is not used: put srv's saved
     * response (valid, but for the other certificate) in srv_rotated's place */
    char path[512], old_path[512];
    snprintf(path, sizeof path, "%s/ocsp/%s.der", dir, rmq_ocsp_stapler_fingerprint(st2));
    rmq_ocsp_stapler_free(st2);
    char fp_old[65];
    assert_int_equal(rmq_ocsp_cert_fingerprint(srv, fp_old), RMQ_OK);
    snprintf(old_path, sizeof old_path, "%s/ocsp/%s.der", dir, fp_old);
    assert_int_equal(rename(old_path, path), 0);
    srv_set(M_500, V_OCSP_CERTSTATUS_GOOD, 3600);
    st2 = rmq_ocsp_stapler_new(F, srv_rotated, ca, &c, fresh_url(), dir);
    assert_int_equal(rmq_ocsp_stapler_start_nowait(st2), RMQ_OK);
    assert_true(no_staple(st2));
    rmq_ocsp_stapler_free(st2);
    rm_rf(dir);
    free(dir);
}

static void test_stapler__older_response_does_not_replace_newer(void **state)
{
    (void)state;
    struct pki_resp r = {.cert = srv,
                         .issuer = ca,
                         .status = V_OCSP_CERTSTATUS_GOOD,
                         .signer = ca,
                         .signer_key = ca_key,
                         .this_off = -60,
                         .next_off = 3600};
    size_t newer_len = 0, older_len = 0;
    unsigned char *newer = pki_response(&r, &newer_len);
    r.this_off = -600; /* still valid, but older: a replay */
    r.status = V_OCSP_CERTSTATUS_REVOKED;
    unsigned char *older = pki_response(&r, &older_len);
    srv_canned(newer, newer_len);
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 3600000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, fresh_url(), NULL);
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_true(staple_ok(st, srv, RMQ_OCSP_GOOD));
    srv_canned(older, older_len);
    rmq_ocsp_stapler_refresh_now(st);
    assert_true(WAIT_FOR(rejected(st) == 1, 4000));
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(rmq_ocsp_stapler_get(st, &der, &len), RMQ_OK);
    assert_int_equal(len, newer_len);
    assert_memory_equal(der, newer, len);
    OPENSSL_free(der);
    rmq_ocsp_stapler_free(st);
    free(newer);
    free(older);
}

static void test_stapler__new_needs_a_responder_url(void **state)
{
    (void)state;
    struct rmq_ocsp_settings c = cfg(RMQ_OCSP_POST, 60000);
    assert_null(rmq_ocsp_stapler_new(F, srv, ca, &c, NULL, NULL)); /* no URL, no AIA */
    assert_null(rmq_ocsp_stapler_new(NULL, srv, ca, &c, base_url, NULL));
    assert_null(rmq_ocsp_stapler_new(F, srv, NULL, &c, base_url, NULL));
    rmq_ocsp_stapler_free(NULL);
    X509 *aia = pki_cert("aia", srv_key, ca, ca_key, 555, -60, 3600, PKI_SERVER, base_url);
    pthread_mutex_lock(&S.mu);
    S.cert = aia;
    pthread_mutex_unlock(&S.mu);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, aia, ca, &c, NULL, NULL);
    assert_non_null(st); /* from the AIA */
    assert_int_equal(rmq_ocsp_stapler_start(st), RMQ_OK);
    assert_true(staple_ok(st, aia, RMQ_OCSP_GOOD));
    rmq_ocsp_stapler_free(st);
    X509_free(aia);
}

/* ---- openssl ocsp as an independent responder -------------------------- */

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static void write_index(const char *dir, bool revoked)
{
    char p[512];
    snprintf(p, sizeof p, "%s/index.txt", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    /* serial 100 = 0x64 */
    if (revoked) {
        fprintf(f, "R\t351231000000Z\t240101000000Z,keyCompromise\t64\tunknown\t/CN=srv\n");
    } else {
        fprintf(f, "V\t351231000000Z\t\t64\tunknown\t/CN=srv\n");
    }
    fclose(f);
}

static pid_t openssl_ocsp(const char *dir, uint16_t port, const char *signer)
{
    char idx[512], rs[512], rk[512], cafile[512], portstr[16], logf[512];
    snprintf(idx, sizeof idx, "%s/index.txt", dir);
    snprintf(rs, sizeof rs, "%s/%s.pem", dir, signer);
    snprintf(rk, sizeof rk, "%s/%s.key", dir, signer);
    snprintf(cafile, sizeof cafile, "%s/ca.pem", dir);
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    snprintf(logf, sizeof logf, "%s/responder.log", dir);
    char *argv[] = {"openssl", "ocsp", "-index", idx,    "-port", portstr, "-rsigner", rs,
                    "-rkey",   rk,     "-CA",    cafile, "-nmin", "1",     NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logf, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, logf, O_WRONLY | O_CREAT | O_APPEND, 0600);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, "openssl", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    return pid;
}

static void stop_pid(pid_t pid)
{
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
}

static void with_openssl_responder(const char *signer, enum rmq_ocsp_method method)
{
    char *dir = tmpdir();
    char p[512];
    snprintf(p, sizeof p, "%s/ca.pem", dir);
    assert_true(pki_write_pem(p, ca, NULL));
    snprintf(p, sizeof p, "%s/ca.key", dir);
    assert_true(pki_write_pem(p, NULL, ca_key));
    snprintf(p, sizeof p, "%s/rsp.pem", dir);
    assert_true(pki_write_pem(p, rsp, NULL));
    snprintf(p, sizeof p, "%s/rsp.key", dir);
    assert_true(pki_write_pem(p, NULL, rsp_key));
    write_index(dir, false);
    uint16_t port = free_port();
    pid_t pid = openssl_ocsp(dir, port, signer);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)port);
    /* no readiness probe (a bare connect wedges the responder): the stapler
     * itself retries until the responder answers */
    struct rmq_ocsp_settings c = cfg(method, 1000);
    struct rmq_ocsp_stapler *st = rmq_ocsp_stapler_new(F, srv, ca, &c, url, dir);
    assert_non_null(st);
    assert_int_equal(rmq_ocsp_stapler_start_nowait(st), RMQ_OK);
    assert_true(WAIT_FOR(staple_ok(st, srv, RMQ_OCSP_GOOD), 10000));
    time_t nu = 0;
    assert_int_equal(rmq_ocsp_stapler_status(st, NULL, &nu), RMQ_OK);
    assert_true(nu > time(NULL) && nu <= time(NULL) + 61); /* -nmin 1 */
    /* revoke at the responder (it reads index.txt once: restart it) */
    stop_pid(pid);
    write_index(dir, true);
    pid = openssl_ocsp(dir, port, signer);
    assert_true(WAIT_FOR(staple_ok(st, srv, RMQ_OCSP_REVOKED), 10000));
    rmq_ocsp_stapler_free(st);
    stop_pid(pid);
    rm_rf(dir);
    free(dir);
}

static void test_stapler__openssl_ocsp_post_issuer_signed(void **state)
{
    (void)state;
    with_openssl_responder("ca", RMQ_OCSP_POST);
}

static void test_stapler__openssl_ocsp_get_delegated_signer(void **state)
{
    (void)state;
    with_openssl_responder("rsp", RMQ_OCSP_GET);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_stapler__post_first_fetch_before_start_returns_and_persists,
                               reset),
        cmocka_unit_test_setup(test_stapler__get_joins_url_with_exactly_one_slash, reset),
        cmocka_unit_test_setup(test_stapler__bad_responses_never_stapled, reset),
        cmocka_unit_test_setup(test_stapler__delegated_responder, reset),
        cmocka_unit_test_setup(test_stapler__slow_responder_bounds_start, reset),
        cmocka_unit_test_setup(test_stapler__keeps_last_good_until_next_update_then_stops, reset),
        cmocka_unit_test_setup(test_stapler__revoked_is_stapled_unknown_is_not, reset),
        cmocka_unit_test_setup(test_stapler__refresh_now, reset),
        cmocka_unit_test_setup(test_stapler__restart_with_responder_down_staples_saved, reset),
        cmocka_unit_test_setup(test_stapler__older_response_does_not_replace_newer, reset),
        cmocka_unit_test_setup(test_stapler__new_needs_a_responder_url, reset),
        cmocka_unit_test_setup(test_stapler__openssl_ocsp_post_issuer_signed, reset),
        cmocka_unit_test_setup(test_stapler__openssl_ocsp_get_delegated_signer, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
