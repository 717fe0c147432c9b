/*
 * test_tls_handshake.c — src/tls against a real peer: an in-process TLS
 * server (the transport driven by poll() on a loopback socket, as the net
 * layer would) and `openssl s_client` as the client. The PKI is made by
 * tests/integration/pki.py (openssl CLI) in a temporary directory.
 *
 * The CRL engine is replaced by a fake (tls_listener_create with fake
 * tls_rev_ops) so every verdict, and the on-demand fetch, is under the
 * test's control; the real engine is exercised by the integration tests.
 */
/* Paths here are short (/tmp/rmq-test-tls-XXXXXX/…); truncation would only fail a test. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "tls/tls.h"
#include "tls/tls_int.h"

/* ---- PKI ------------------------------------------------------------- */

enum {
    P_ROOT,
    P_CAFILE, /* root + intermediate */
    P_SRV_CHAIN,
    P_SRV_KEY,
    P_SRV_SERIAL,
    P_SRV2_CHAIN,
    P_SRV2_KEY,
    P_SRV2_SERIAL,
    P_RSA_CERT,
    P_RSA_KEY,
    P_PW_CERT,
    P_PW_KEY,
    P_CLI_CERT,
    P_CLI_KEY,
    P_CLI_SERIAL,
    P_OTHER_CERT,
    P_OTHER_KEY,
    P_EXP_CERT,
    P_EXP_KEY,
    P_EMPTY,
    P_GARBAGE,
    P__COUNT
};

static const char *const pnames[P__COUNT] = {
    "root",        "cafile",     "srv_chain", "srv_key",  "srv_serial", "srv2_chain", "srv2_key",
    "srv2_serial", "rsa_cert",   "rsa_key",   "pw_cert",  "pw_key",     "cli_cert",   "cli_key",
    "cli_serial",  "other_cert", "other_key", "exp_cert", "exp_key",    "empty",      "garbage"};

static char P[P__COUNT][512];
static char dir[256];
static char logpath[300];

static const char pki_script[] =
    "import sys, os\n"
    "sys.path.insert(0, os.path.join(sys.argv[1], 'tests', 'integration'))\n"
    "from pki import PKI\n"
    "d = sys.argv[2]\n"
    "p = PKI(os.path.join(d, 'pki'))\n"
    "root = p.root\n"
    "inter = root.intermediate('Test Intermediate')\n"
    "srv = inter.server_cert('server', key='ec')\n"
    "srv2 = inter.server_cert('server2', key='ec')\n"
    "rsa = root.server_cert('server-rsa', key='rsa')\n"
    "pw = root.server_cert('server-pw', key='ec', password='secret')\n"
    "cli = inter.client_cert('dev1', crl_url='http://127.0.0.1:9/crl/inter.der')\n"
    "other = PKI(os.path.join(d, 'other'), cn='Other CA').root.client_cert('intruder')\n"
    "exp = inter.client_cert('old', expired=True)\n"
    "cafile = PKI.write_bundle(os.path.join(d, 'cafile.pem'), root.cert, inter.cert)\n"
    "empty = os.path.join(d, 'empty.pem'); open(empty, 'w').close()\n"
    "garbage = os.path.join(d, 'garbage.pem')\n"
    "open(garbage, 'w').write('-----BEGIN CERTIFICATE-----\\nnot base64 !!\\n"
    "-----END CERTIFICATE-----\\n')\n"
    "out = dict(root=root.cert, cafile=cafile, srv_chain=srv.fullchain, srv_key=srv.key,\n"
    "  srv_serial=srv.serial_hex, srv2_chain=srv2.fullchain, srv2_key=srv2.key,\n"
    "  srv2_serial=srv2.serial_hex, rsa_cert=rsa.cert, rsa_key=rsa.key, pw_cert=pw.cert,\n"
    "  pw_key=pw.key, cli_cert=cli.cert, cli_key=cli.key, cli_serial=cli.serial_hex,\n"
    "  other_cert=other.cert, other_key=other.key, exp_cert=exp.cert, exp_key=exp.key,\n"
    "  empty=empty, garbage=garbage)\n"
    "for k, v in out.items(): print('%s=%s' % (k, v))\n";

static int make_pki(void)
{
    const char *src = getenv("RMQ_SOURCE_DIR");
    char script[300], cmd[1024];
    snprintf(script, sizeof script, "%s/mkpki.py", dir);
    FILE *f = fopen(script, "w");
    if (f == NULL) {
        return -1;
    }
    fputs(pki_script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s", script, src != NULL ? src : "..", dir);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    char line[700];
    int n = 0;
    while (fgets(line, sizeof line, p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            continue;
        }
        *eq = '\0';
        for (int i = 0; i < P__COUNT; i++) {
            if (strcmp(line, pnames[i]) == 0) {
                snprintf(P[i], sizeof P[i], "%s", eq + 1);
                n++;
            }
        }
    }
    return pclose(p) == 0 && n == P__COUNT ? 0 : -1;
}

/* ---- fake CRL engine ---------------------------------------------------- */

struct fake {
    pthread_mutex_t mu;
    bool covered;     /* a CRL covers the client's issuer */
    char revoked[65]; /* serial hex (upper) that is revoked, "" none */
    int want_calls;
    int mode; /* 0: want_url -> RMQ_OK; 1: async fetch that covers; 2: never ends */
    void (*done)(void *);
    void *done_arg;
    pthread_t th;
    bool th_started;
    int cancels;
};

static struct fake F = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *fake_acquire(void *e)
{
    return e;
}

static void fake_release(void *s)
{
    (void)s;
}

static enum tls_verdict fake_lookup(const void *snap, const struct rmq_cert_id *id, int *reason)
{
    struct fake *f = (struct fake *)snap;
    char hex[65];
    tls_hex(id->serial, id->serial_len, hex, true);
    pthread_mutex_lock(&f->mu);
    enum tls_verdict v = !f->covered                    ? TLS_VERDICT_NO_CRL
                         : strcmp(hex, f->revoked) == 0 ? TLS_VERDICT_REVOKED
                                                        : TLS_VERDICT_GOOD;
    pthread_mutex_unlock(&f->mu);
    *reason = v == TLS_VERDICT_REVOKED ? 1 : -1;
    return v;
}

static void *fake_fetch_thread(void *arg)
{
    struct fake *f = arg;
    usleep(200 * 1000);
    pthread_mutex_lock(&f->mu);
    f->covered = true;
    void (*done)(void *) = f->done;
    void *a = f->done_arg;
    f->done = NULL;
    pthread_mutex_unlock(&f->mu);
    if (done != NULL) {
        done(a);
    }
    return NULL;
}

static rmq_err fake_want(void *e, const char *url, void (*done)(void *), void *arg)
{
    struct fake *f = e;
    pthread_mutex_lock(&f->mu);
    f->want_calls++;
    int mode = f->mode;
    if (mode != 0) {
        f->done = done;
        f->done_arg = arg;
    }
    pthread_mutex_unlock(&f->mu);
    if (mode == 1) {
        f->th_started = pthread_create(&f->th, NULL, fake_fetch_thread, f) == 0;
    }
    (void)url;
    return mode == 0 ? RMQ_OK : RMQ_ERR_AGAIN;
}

static void fake_cancel(void *e, void *arg)
{
    struct fake *f = e;
    pthread_mutex_lock(&f->mu);
    f->cancels++;
    if (f->done_arg == arg) {
        f->done = NULL;
    }
    pthread_mutex_unlock(&f->mu);
}

static const struct tls_rev_ops fake_ops = {fake_acquire, fake_release, fake_lookup,
                                            fake_want,    fake_cancel,  NULL};

static void fake_reset(void)
{
    if (F.th_started) {
        pthread_join(F.th, NULL);
        F.th_started = false;
    }
    pthread_mutex_lock(&F.mu);
    F.covered = true;
    F.revoked[0] = '\0';
    F.want_calls = 0;
    F.mode = 0;
    F.done = NULL;
    F.done_arg = NULL;
    F.cancels = 0;
    pthread_mutex_unlock(&F.mu);
}

/* ---- settings ---------------------------------------------------------- */

static struct rmq_settings S;
static struct rmq_listener_settings LS;

static void base_settings(void)
{
    memset(&S, 0, sizeof S);
    memset(&LS, 0, sizeof LS);
    LS.name = "default";
    LS.enable = true;
    LS.is_ssl = true;
    LS.max_connections = UINT64_MAX;
    struct rmq_ssl_options *o = &LS.ssl;
    o->certfile = P[P_SRV_CHAIN];
    o->keyfile = P[P_SRV_KEY];
    o->cacertfile = P[P_CAFILE];
    o->verify = RMQ_VERIFY_PEER;
    o->fail_if_no_peer_cert = true;
    o->depth = 10;
    o->versions = RMQ_TLS_V12 | RMQ_TLS_V13;
    o->handshake_timeout = 15000;
    o->reload_interval = 10000;
    S.node_data_dir = dir;
    S.crl_cache.check = RMQ_CRL_CHECK_LEAF;
    S.crl_cache.discover_from_cert = true;
    S.listeners = &LS;
    S.listener_count = 1;
}

static struct rmq_tls_listener *listener_ok(void)
{
    struct rmq_tls_listener *l = NULL;
    char *err = NULL;
    rmq_err r = tls_listener_create(&LS, &S, NULL, &fake_ops, &F, &l, &err);
    if (r != RMQ_OK) {
        fprintf(stderr, "listener: %s\n", err != NULL ? err : "?");
    }
    assert_int_equal(r, RMQ_OK);
    free(err);
    return l;
}

/* ---- in-process server ------------------------------------------------- */

struct result {
    enum rmq_io hs;
    char err[200];
    struct rmq_peer_info pi;
    int suspended;
    char got[64];
};

struct server {
    struct rmq_tls_listener *l;
    int lfd;
    int port;
    int nconn;
    bool free_while_suspended;
    int wake_pipe[2];
    pthread_t th;
    struct result res[8];
};

static void wake_fn(void *arg)
{
    struct server *s = arg;
    ssize_t w = write(s->wake_pipe[1], "w", 1);
    (void)w;
}

static bool wait_fd(int fd, short ev, int ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    return poll(&p, 1, ms) == 1;
}

static enum rmq_io drive_handshake(struct server *s, struct rmq_transport *t, struct result *res)
{
    for (;;) {
        enum rmq_io io = t->ops->handshake(t);
        switch (io) {
        case RMQ_IO_WANT_READ:
        case RMQ_IO_WANT_WRITE:
            if (!wait_fd(t->fd, io == RMQ_IO_WANT_READ ? POLLIN : POLLOUT, 10000)) {
                return RMQ_IO_ERROR;
            }
            break;
        case RMQ_IO_SUSPENDED: {
            res->suspended++;
            if (s->free_while_suspended) {
                return io;
            }
            if (!wait_fd(s->wake_pipe[0], POLLIN, 10000)) {
                return RMQ_IO_ERROR;
            }
            char c;
            ssize_t rd = read(s->wake_pipe[0], &c, 1);
            (void)rd;
            break;
        }
        default:
            return io;
        }
    }
}

static void serve_one(struct server *s, int fd, struct result *res)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct rmq_transport_factory fac = rmq_tls_listener_factory(s->l);
    struct rmq_transport *t = fac.new_transport(fac.arg, fd);
    assert_non_null(t);
    t->wake = wake_fn;
    t->wake_arg = s;
    res->hs = drive_handshake(s, t, res);
    snprintf(res->err, sizeof res->err, "%s", t->ops->last_error(t));
    if (res->hs == RMQ_IO_OK) {
        t->ops->peer_info(t, &res->pi);
        size_t got = 0;
        while (got < 5 && wait_fd(fd, POLLIN, 3000)) {
            size_t n = 0;
            enum rmq_io io = t->ops->read(t, (uint8_t *)res->got + got, 5 - got, &n);
            if (io == RMQ_IO_OK) {
                got += n;
            } else if (io != RMQ_IO_WANT_READ) {
                break;
            }
        }
        size_t n = 0;
        (void)t->ops->write(t, (const uint8_t *)"pong\n", 5, &n);
        t->ops->shutdown(t);
    }
    if (getenv("TLS_TEST_VERBOSE") != NULL) {
        fprintf(stderr, "server: hs=%d suspended=%d got='%s' err='%s' last='%s'\n", res->hs,
                res->suspended, res->got, res->err, t->ops->last_error(t));
    }
    t->ops->free(t);
    close(fd);
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    for (int i = 0; i < s->nconn; i++) {
        if (!wait_fd(s->lfd, POLLIN, 20000)) {
            s->res[i].hs = RMQ_IO_ERROR;
            snprintf(s->res[i].err, sizeof s->res[i].err, "no connection");
            continue;
        }
        int fd = accept(s->lfd, NULL, NULL);
        if (fd >= 0) {
            serve_one(s, fd, &s->res[i]);
        }
    }
    return NULL;
}

static void server_start_ex(struct server *s, struct rmq_tls_listener *l, int nconn,
                            bool free_while_suspended)
{
    memset(s, 0, sizeof *s);
    s->l = l;
    s->nconn = nconn;
    s->free_while_suspended = free_while_suspended;
    assert_int_equal(pipe(s->wake_pipe), 0);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void server_start(struct server *s, struct rmq_tls_listener *l, int nconn)
{
    server_start_ex(s, l, nconn, false);
}

static void server_stop(struct server *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
    close(s->wake_pipe[0]);
    close(s->wake_pipe[1]);
}

static void results_free(struct server *s)
{
    for (int i = 0; i < 8; i++) {
        free(s->res[i].pi.dn);
        free(s->res[i].pi.pem);
        free(s->res[i].pi.cn);
        free(s->res[i].pi.issuer_dn);
        free(s->res[i].pi.sans);
        s->res[i].pi.dn = s->res[i].pi.pem = s->res[i].pi.cn = NULL;
        s->res[i].pi.issuer_dn = s->res[i].pi.sans = NULL;
    }
}

/* Runs s_client with extra args; returns its combined output (static buffer). */
static char out_buf[65536];

static const char *s_client(struct server *s, const char *args)
{
    char cmd[2048], outp[300];
    snprintf(outp, sizeof outp, "%s/s_client.out", dir);
    snprintf(cmd, sizeof cmd,
             "printf 'ping\\n' | timeout 20 openssl s_client -connect 127.0.0.1:%d "
             "-CAfile %s -verify_return_error -ign_eof %s > %s 2>&1",
             s->port, P[P_ROOT], args, outp);
    int rc = system(cmd);
    (void)rc;
    FILE *f = fopen(outp, "r");
    size_t n = f != NULL ? fread(out_buf, 1, sizeof out_buf - 1, f) : 0;
    out_buf[n] = '\0';
    if (f != NULL) {
        fclose(f);
    }
    if (getenv("TLS_TEST_VERBOSE") != NULL) {
        fprintf(stderr, "---- s_client %s\n%s\n----\n", args, out_buf);
    }
    return out_buf;
}

static char cli_args[1200];

static const char *client_cert_args(const char *extra)
{
    snprintf(cli_args, sizeof cli_args, "-cert %s -key %s %s", P[P_CLI_CERT], P[P_CLI_KEY], extra);
    return cli_args;
}

static bool log_has(const char *needle)
{
    FILE *f = fopen(logpath, "r");
    if (f == NULL) {
        return false;
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, needle) != NULL;
}

/* ---- tests: handshake outcomes ----------------------------------------- */

static void mtls_ok(const char *ver)
{
    base_settings();
    fake_reset();
    struct rmq_tls_listener *l = listener_ok();
    struct server s;
    server_start(&s, l, 1);
    const char *out = s_client(&s, client_cert_args(ver));
    server_stop(&s);
    assert_int_equal(s.res[0].hs, RMQ_IO_OK);
    assert_string_equal(s.res[0].got, "ping\n");
    assert_non_null(strstr(out, "pong"));
    assert_non_null(strstr(out, "Verification: OK"));
    struct rmq_peer_info *pi = &s.res[0].pi;
    assert_int_equal(pi->has_cert, 1);
    assert_string_equal(pi->cn, "dev1");
    assert_string_equal(pi->dn, "CN=dev1");
    assert_string_equal(pi->issuer_dn, "CN=Test Intermediate");
    assert_string_equal(pi->serial_hex, P[P_CLI_SERIAL]);
    assert_int_equal(strlen(pi->md5), 32);
    assert_non_null(strstr(pi->pem, "BEGIN CERTIFICATE"));
    assert_int_equal(pi->tls_version, strcmp(ver, "-tls1_2") == 0 ? 0x0303 : 0x0304);
    assert_int_equal(pi->resumed, 0);
    results_free(&s);
    rmq_tls_listener_free(l);
}

static void test_mtls_ok_tls12(void **st)
{
    (void)st;
    mtls_ok("-tls1_2");
}

static void test_mtls_ok_tls13(void **st)
{
    (void)st;
    mtls_ok("-tls1_3");
}

/* One rejected handshake; returns s_client's output. */
/*
 * The broker's worker threads share one listener: its CA and server
 * certificates are read once and used by handshakes on every thread. OpenSSL
 * fills a certificate's cached extensions at first use (under the
 * certificate's lock) and later reads them through a lock-free flag, so a
 * certificate first used on one thread and then on another is a data race
 * unless the cache is filled before the threads start. Two servers on two
 * threads, one listener, one handshake each, one after the other: under
 * ThreadSanitizer (make tsan) this reports a race unless the listener fills
 * the caches when it loads the certificates.
 */
static void handshakes_on_two_threads(void)
{
    base_settings();
    fake_reset();
    struct rmq_tls_listener *l = listener_ok();
    struct server a, b;
    server_start(&a, l, 1);
    server_start(&b, l, 1);
    /* Both clients at once: the two handshakes overlap on the two threads. */
    char cmd[3000];
    snprintf(cmd, sizeof cmd,
             "for p in %d %d; do printf 'ping\\n' | timeout 20 openssl s_client -connect "
             "127.0.0.1:$p -CAfile %s -verify_return_error -ign_eof -cert %s -key %s "
             "> %s/pair.$p 2>&1 & done; wait",
             a.port, b.port, P[P_ROOT], P[P_CLI_CERT], P[P_CLI_KEY], dir);
    assert_int_equal(system(cmd), 0);
    server_stop(&a);
    server_stop(&b);
    assert_int_equal(a.res[0].hs, RMQ_IO_OK);
    assert_int_equal(b.res[0].hs, RMQ_IO_OK);
    assert_string_equal(a.res[0].pi.cn, "dev1");
    assert_string_equal(b.res[0].pi.cn, "dev1");
    assert_string_equal(a.res[0].got, "ping\n");
    assert_string_equal(b.res[0].got, "ping\n");
    results_free(&a);
    results_free(&b);
    rmq_tls_listener_free(l);
}

static void test_handshakes_on_two_threads_share_one_listener(void **st)
{
    (void)st;
    /* Which thread comes first is up to the scheduler: a few fresh listeners. */
    for (int round = 0; round < 4; round++) {
        handshakes_on_two_threads();
    }
}

static const char *rejected(const char *args, struct result *res)
{
    struct rmq_tls_listener *l = listener_ok();
    struct server s;
    server_start(&s, l, 1);
    const char *out = s_client(&s, args);
    server_stop(&s);
    *res = s.res[0];
    results_free(&s);
    res->pi.dn = res->pi.pem = NULL;
    results_free(&s);
    rmq_tls_listener_free(l);
    return out;
}

static void test_no_client_cert_is_refused(void **st)
{
    (void)st;
    const char *vers[] = {"-tls1_2", "-tls1_3"};
    for (int i = 0; i < 2; i++) {
        base_settings();
        fake_reset();
        struct result r;
        const char *out = rejected(vers[i], &r);
        assert_int_equal(r.hs, RMQ_IO_ERROR);
        /* TLS 1.3: 116 certificate_required; TLS 1.2: 40 handshake_failure */
        assert_non_null(strstr(out, i == 0 ? "alert number 40" : "alert number 116"));
        assert_null(strstr(out, "pong"));
        /* the transport's error names the alert and says what is missing */
        assert_non_null(strstr(r.err, i == 0 ? "sent alert 40 (handshake failure): no client "
                                               "certificate"
                                             : "sent alert 116 (certificate required): no "
                                               "client certificate"));
    }
}

static void test_other_ca_is_refused(void **st)
{
    (void)st;
    const char *vers[] = {"-tls1_2", "-tls1_3"};
    for (int i = 0; i < 2; i++) {
        base_settings();
        fake_reset();
        char args[1200];
        snprintf(args, sizeof args, "-cert %s -key %s %s", P[P_OTHER_CERT], P[P_OTHER_KEY],
                 vers[i]);
        struct result r;
        const char *out = rejected(args, &r);
        assert_int_equal(r.hs, RMQ_IO_ERROR);
        assert_non_null(strstr(out, "alert number 48")); /* unknown_ca */
        assert_non_null(strstr(r.err, "unknown CA"));
    }
    assert_true(log_has("client certificate rejected listener=default"));
    assert_true(log_has("reason=verify_failed"));
}

static void test_expired_client_is_refused(void **st)
{
    (void)st;
    const char *vers[] = {"-tls1_2", "-tls1_3"};
    for (int i = 0; i < 2; i++) {
        base_settings();
        fake_reset();
        char args[1200];
        snprintf(args, sizeof args, "-cert %s -key %s %s", P[P_EXP_CERT], P[P_EXP_KEY], vers[i]);
        struct result r;
        const char *out = rejected(args, &r);
        assert_int_equal(r.hs, RMQ_IO_ERROR);
        assert_non_null(strstr(out, "alert number 45")); /* certificate_expired */
    }
}

static void test_revoked_client_gets_alert_44(void **st)
{
    (void)st;
    const char *vers[] = {"-tls1_2", "-tls1_3"};
    for (int i = 0; i < 2; i++) {
        base_settings();
        LS.ssl.enable_crl_check = true;
        fake_reset();
        snprintf(F.revoked, sizeof F.revoked, "%s", P[P_CLI_SERIAL]);
        struct result r;
        const char *out = rejected(client_cert_args(vers[i]), &r);
        assert_int_equal(r.hs, RMQ_IO_ERROR);
        assert_non_null(strstr(out, "alert number 44"));
        assert_non_null(strstr(r.err, "sent alert 44 (certificate revoked)"));
        assert_null(strstr(out, "pong"));
    }
    char line[200];
    snprintf(line, sizeof line, "serial=%s issuer=\"CN=Test Intermediate\"", P[P_CLI_SERIAL]);
    assert_true(log_has(line));
    assert_true(log_has("reason=revoked"));
}

static void test_no_crl_gets_alert_42(void **st)
{
    (void)st;
    const char *vers[] = {"-tls1_2", "-tls1_3"};
    for (int i = 0; i < 2; i++) {
        base_settings();
        LS.ssl.enable_crl_check = true;
        fake_reset();
        F.covered = false; /* and want_url says "known": nothing to wait for */
        struct result r;
        const char *out = rejected(client_cert_args(vers[i]), &r);
        assert_int_equal(r.hs, RMQ_IO_ERROR);
        assert_non_null(strstr(out, "alert number 42"));
        assert_int_equal(r.suspended, 0);
        assert_int_equal(F.want_calls, 1);
    }
    assert_true(log_has("reason=no_crl"));
}

static void test_crl_check_good_client_passes(void **st)
{
    (void)st;
    base_settings();
    LS.ssl.enable_crl_check = true;
    fake_reset();
    snprintf(F.revoked, sizeof F.revoked, "0123"); /* someone else */
    struct result r;
    const char *out = rejected(client_cert_args("-tls1_3"), &r);
    assert_int_equal(r.hs, RMQ_IO_OK);
    assert_non_null(strstr(out, "pong"));
}

static void test_cdp_fetch_suspends_then_succeeds(void **st)
{
    (void)st;
    const char *vers[] = {"-tls1_2", "-tls1_3"};
    for (int i = 0; i < 2; i++) {
        base_settings();
        LS.ssl.enable_crl_check = true;
        fake_reset();
        F.covered = false;
        F.mode = 1; /* the fetch covers the issuer after 200 ms */
        struct result r;
        const char *out = rejected(client_cert_args(vers[i]), &r);
        assert_int_equal(r.hs, RMQ_IO_OK);
        assert_int_equal(r.suspended, 1);
        assert_int_equal(F.want_calls, 1);
        assert_non_null(strstr(out, "pong"));
    }
}

static void test_cdp_fetch_then_revoked(void **st)
{
    (void)st;
    base_settings();
    LS.ssl.enable_crl_check = true;
    fake_reset();
    F.covered = false;
    F.mode = 1;
    snprintf(F.revoked, sizeof F.revoked, "%s", P[P_CLI_SERIAL]);
    struct result r;
    const char *out = rejected(client_cert_args("-tls1_2"), &r);
    assert_int_equal(r.hs, RMQ_IO_ERROR);
    assert_int_equal(r.suspended, 1);
    assert_non_null(strstr(out, "alert number 44"));
}

static void test_free_while_suspended(void **st)
{
    (void)st;
    base_settings();
    LS.ssl.enable_crl_check = true;
    fake_reset();
    F.covered = false;
    F.mode = 2; /* the fetch never ends: the net layer's handshake timeout frees us */
    struct rmq_tls_listener *l = listener_ok();
    struct server s;
    server_start_ex(&s, l, 1, true);
    const char *out = s_client(&s, client_cert_args("-tls1_3"));
    server_stop(&s);
    assert_int_equal(s.res[0].hs, RMQ_IO_SUSPENDED);
    assert_int_equal(F.cancels, 1);
    assert_null(strstr(out, "pong"));
    results_free(&s);
    rmq_tls_listener_free(l);
}

/* ---- resumption ------------------------------------------------------------ */

static void resumption(const char *ver)
{
    base_settings();
    LS.ssl.enable_crl_check = true;
    fake_reset();
    struct rmq_tls_listener *l = listener_ok();
    struct server s;
    server_start(&s, l, 3);
    char sess[300], extra[600];
    snprintf(sess, sizeof sess, "%s/sess.pem", dir);
    unlink(sess);
    snprintf(extra, sizeof extra, "%s -sess_out %s", ver, sess);
    const char *out = s_client(&s, client_cert_args(extra));
    assert_non_null(strstr(out, "New, TLS"));
    snprintf(extra, sizeof extra, "%s -sess_in %s", ver, sess);
    out = s_client(&s, client_cert_args(extra));
    assert_non_null(strstr(out, "Reused, TLS"));
    assert_non_null(strstr(out, "pong"));
    /* revoked after the first connection: the session must not resume */
    pthread_mutex_lock(&F.mu);
    snprintf(F.revoked, sizeof F.revoked, "%s", P[P_CLI_SERIAL]);
    pthread_mutex_unlock(&F.mu);
    out = s_client(&s, client_cert_args(extra));
    server_stop(&s);
    assert_null(strstr(out, "Reused, TLS"));
    assert_non_null(strstr(out, "alert number 44"));
    assert_null(strstr(out, "pong"));
    assert_int_equal(s.res[0].hs, RMQ_IO_OK);
    assert_int_equal(s.res[1].hs, RMQ_IO_OK);
    assert_int_equal(s.res[1].pi.resumed, 1);
    assert_string_equal(s.res[1].pi.serial_hex, P[P_CLI_SERIAL]); /* identity kept */
    assert_int_equal(s.res[2].hs, RMQ_IO_ERROR);
    assert_true(log_has("resumption refused"));
    results_free(&s);
    rmq_tls_listener_free(l);
}

static void test_resumption_tls12(void **st)
{
    (void)st;
    resumption("-tls1_2");
}

static void test_resumption_tls13(void **st)
{
    (void)st;
    resumption("-tls1_3");
}

/* ---- configuration errors -------------------------------------------------- */

static void expect_error(const char *needle1, const char *needle2)
{
    struct rmq_tls_listener *l = NULL;
    char *err = NULL;
    rmq_err r = tls_listener_create(&LS, &S, NULL, &fake_ops, &F, &l, &err);
    assert_int_not_equal(r, RMQ_OK);
    assert_null(l);
    assert_non_null(err);
    if (strstr(err, needle1) == NULL || (needle2 != NULL && strstr(err, needle2) == NULL)) {
        fprintf(stderr, "unexpected error text: %s\n", err);
        fail();
    }
    free(err);
}

static void test_config_errors(void **st)
{
    (void)st;
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope.pem", dir);
    base_settings();
    LS.ssl.certfile = missing;
    expect_error("listeners.ssl.default.ssl_options.certfile: ", "No such file");
    base_settings();
    LS.ssl.keyfile = missing;
    expect_error("ssl_options.keyfile: ", "No such file");
    base_settings();
    LS.ssl.keyfile = P[P_RSA_KEY];
    expect_error("ssl_options.keyfile: ", "key does not match certfile");
    base_settings();
    LS.ssl.cacertfile = P[P_EMPTY];
    expect_error("ssl_options.cacertfile: ", "no PEM certificate");
    base_settings();
    LS.ssl.certfile = P[P_GARBAGE];
    expect_error("ssl_options.certfile: ", "PEM");
    base_settings();
    LS.ssl.certfile = P[P_PW_CERT];
    LS.ssl.keyfile = P[P_PW_KEY];
    expect_error("ssl_options.keyfile: ", "encrypted? set password");
    LS.ssl.password = "wrong";
    expect_error("ssl_options.keyfile: ", "with the configured password");
    base_settings();
    LS.ssl.verify = RMQ_VERIFY_NONE;
    expect_error("fail_if_no_peer_cert", "verify_peer");
    base_settings();
    LS.ssl.versions = 0;
    expect_error("ssl_options.versions", NULL);
    base_settings();
    LS.ssl.ciphers = "TLS_AES_128_GCM_SHA256:NOT-A-CIPHER";
    expect_error("ssl_options.ciphers", "NOT-A-CIPHER");
    base_settings();
    LS.ssl.enable_crl_check = true;
    {
        struct rmq_tls_listener *l = NULL;
        char *err = NULL;
        assert_int_equal(tls_listener_create(&LS, &S, NULL, NULL, NULL, &l, &err), RMQ_ERR_CONFIG);
        assert_non_null(strstr(err, "enable_crl_check"));
        free(err);
    }
    base_settings();
    LS.ssl.ocsp.enable_ocsp_stapling = true;
    expect_error("ocsp.enable_ocsp_stapling", "revocation engine");
}

static void test_rsa_and_password_and_ciphers(void **st)
{
    (void)st;
    base_settings();
    LS.ssl.certfile = P[P_RSA_CERT];
    LS.ssl.keyfile = P[P_RSA_KEY];
    LS.ssl.versions = RMQ_TLS_V12;
    LS.ssl.ciphers = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,!aNULL"; /* RFC name, mapped */
    LS.ssl.honor_cipher_order = true;
    fake_reset();
    struct rmq_tls_listener *l = listener_ok();
    struct server s;
    server_start(&s, l, 2);
    const char *out = s_client(&s, client_cert_args(""));
    assert_non_null(strstr(out, "ECDHE-RSA-AES128-GCM-SHA256"));
    assert_non_null(strstr(out, "Protocol  : TLSv1.2"));
    assert_non_null(strstr(out, "pong"));
    out = s_client(&s, client_cert_args("-tls1_3")); /* refused: 1.2 only */
    server_stop(&s);
    assert_null(strstr(out, "pong"));
    assert_int_equal(s.res[1].hs, RMQ_IO_ERROR);
    results_free(&s);
    rmq_tls_listener_free(l);

    base_settings();
    LS.ssl.certfile = P[P_PW_CERT];
    LS.ssl.keyfile = P[P_PW_KEY];
    LS.ssl.password = "secret";
    LS.ssl.ciphers = "TLS_CHACHA20_POLY1305_SHA256";
    l = listener_ok();
    server_start(&s, l, 1);
    out = s_client(&s, client_cert_args("-tls1_3"));
    server_stop(&s);
    assert_non_null(strstr(out, "TLS_CHACHA20_POLY1305_SHA256"));
    assert_int_equal(s.res[0].hs, RMQ_IO_OK);
    results_free(&s);
    rmq_tls_listener_free(l);
}

static void test_old_versions_refused(void **st)
{
    (void)st;
    base_settings();
    fake_reset();
    struct result r;
    const char *out = rejected(client_cert_args("-tls1_1"), &r);
    assert_int_equal(r.hs, RMQ_IO_ERROR);
    assert_null(strstr(out, "pong"));
}

/* ---- reload ---------------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp %s %s.tmp && mv %s.tmp %s", from, to, to, to);
    assert_int_equal(system(cmd), 0);
}

static void server_serial(int port, char *out, size_t cap)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "echo | timeout 10 openssl s_client -connect 127.0.0.1:%d -cert %s -key %s 2>/dev/null"
             " | openssl x509 -noout -serial",
             port, P[P_CLI_CERT], P[P_CLI_KEY]);
    FILE *p = popen(cmd, "r");
    out[0] = '\0';
    if (p != NULL) {
        if (fgets(out, (int)cap, p) == NULL) {
            out[0] = '\0';
        }
        pclose(p);
    }
    out[strcspn(out, "\n")] = '\0';
}

static void test_reload(void **st)
{
    (void)st;
    char cert[300], key[300];
    snprintf(cert, sizeof cert, "%s/live-cert.pem", dir);
    snprintf(key, sizeof key, "%s/live-key.pem", dir);
    copy_file(P[P_SRV_CHAIN], cert);
    copy_file(P[P_SRV_KEY], key);
    base_settings();
    LS.ssl.certfile = cert;
    LS.ssl.keyfile = key;
    fake_reset();
    struct rmq_tls_listener *l = listener_ok();
    bool reloaded = true;
    assert_int_equal(rmq_tls_listener_check_reload(l, &reloaded), RMQ_OK);
    assert_false(reloaded);

    struct server s;
    server_start(&s, l, 5);
    char serial[128], want[128];
    server_serial(s.port, serial, sizeof serial);
    snprintf(want, sizeof want, "serial=%s", P[P_SRV_SERIAL]);
    assert_string_equal(serial, want);

    /* a broken certfile: ignored, logged, old context still serves */
    copy_file(P[P_GARBAGE], cert);
    assert_int_not_equal(rmq_tls_listener_check_reload(l, &reloaded), RMQ_OK);
    assert_false(reloaded);
    assert_true(log_has("reload failed, keeping the current context listener=default"));
    assert_int_equal(rmq_tls_listener_check_reload(l, &reloaded), RMQ_OK); /* not retried */
    server_serial(s.port, serial, sizeof serial);
    assert_string_equal(serial, want);

    /* half a rotation (new cert, old key): key mismatch, old context stays */
    copy_file(P[P_SRV2_CHAIN], cert);
    assert_int_not_equal(rmq_tls_listener_check_reload(l, &reloaded), RMQ_OK);
    server_serial(s.port, serial, sizeof serial);
    assert_string_equal(serial, want);

    /* the key arrives: new context, new serial */
    copy_file(P[P_SRV2_KEY], key);
    assert_int_equal(rmq_tls_listener_check_reload(l, &reloaded), RMQ_OK);
    assert_true(reloaded);
    server_serial(s.port, serial, sizeof serial);
    snprintf(want, sizeof want, "serial=%s", P[P_SRV2_SERIAL]);
    assert_string_equal(serial, want);
    assert_int_equal(rmq_tls_listener_reload(l), RMQ_OK); /* SIGHUP: forced */
    server_serial(s.port, serial, sizeof serial);
    assert_string_equal(serial, want);
    server_stop(&s);
    assert_true(log_has("context reloaded listener=default"));
    results_free(&s);
    rmq_tls_listener_free(l);
}

/* ---- main ------------------------------------------------------------------ */

static int group_setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/rmq-test-tls-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(logpath, sizeof logpath, "%s/revmq.log", dir);
    if (rmq_log_set_file(logpath) != RMQ_OK) {
        return -1;
    }
    return make_pki();
}

static int group_teardown(void **st)
{
    (void)st;
    fake_reset();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mtls_ok_tls12),
        cmocka_unit_test(test_mtls_ok_tls13),
        cmocka_unit_test(test_handshakes_on_two_threads_share_one_listener),
        cmocka_unit_test(test_no_client_cert_is_refused),
        cmocka_unit_test(test_other_ca_is_refused),
        cmocka_unit_test(test_expired_client_is_refused),
        cmocka_unit_test(test_old_versions_refused),
        cmocka_unit_test(test_revoked_client_gets_alert_44),
        cmocka_unit_test(test_no_crl_gets_alert_42),
        cmocka_unit_test(test_crl_check_good_client_passes),
        cmocka_unit_test(test_cdp_fetch_suspends_then_succeeds),
        cmocka_unit_test(test_cdp_fetch_then_revoked),
        cmocka_unit_test(test_free_while_suspended),
        cmocka_unit_test(test_resumption_tls12),
        cmocka_unit_test(test_resumption_tls13),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_rsa_and_password_and_ciphers),
        cmocka_unit_test(test_reload),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
