/*
 * test_revocation_ocsp_client.c — the client-certificate OCSP cache (issue
 * 17): keyed by the full revocation identity, bounded with LRU eviction, a
 * stale answer never returned; queries: no AIA -> not asked, responder down ->
 * FAILED "unreachable" through the callback, twins coalesced, cancel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "revocation/crl.h"
#include "revocation/fetcher.h"
#include "revocation/ocsp_client.h"
#include "test_revocation_ocsp_pki.h"

static struct rmq_cert_id mk_id(uint8_t serial, uint8_t key)
{
    struct rmq_cert_id id;
    memset(&id, 0, sizeof id);
    memset(id.issuer_hash, 0xAA, sizeof id.issuer_hash);
    memset(id.issuer_key, key, sizeof id.issuer_key);
    id.serial[0] = serial;
    id.serial_len = 1;
    return id;
}

static struct rmq_ocsp_client *mk_client(struct rmq_fetcher **f, size_t cap)
{
    assert_int_equal(rmq_fetcher_new(f), RMQ_OK);
    struct rmq_ocsp_client_opts o = {.cache_size = cap, .timeout_ms = 1000, .label = "t"};
    struct rmq_ocsp_client *c = NULL;
    assert_int_equal(rmq_ocsp_client_new(*f, &o, &c), RMQ_OK);
    return c;
}

static void test_ocspc__keyed_by_issuer_key_and_serial(void **state)
{
    (void)state;
    struct rmq_fetcher *f;
    struct rmq_ocsp_client *c = mk_client(&f, 8);
    time_t now = time(NULL);
    struct rmq_cert_id a = mk_id(1, 1);
    assert_int_equal(rmq_ocsp_client_put(c, &a, RMQ_OCSPC_REVOKED, 1, now - 10, now + 100), RMQ_OK);
    struct rmq_ocspc_result r = rmq_ocsp_client_lookup(c, &a);
    assert_int_equal(r.state, RMQ_OCSPC_REVOKED);
    assert_int_equal(r.reason, 1);
    /* same issuer name and serial, another issuer KEY: another certificate */
    struct rmq_cert_id b = mk_id(1, 2);
    assert_int_equal(rmq_ocsp_client_lookup(c, &b).state, RMQ_OCSPC_MISS);
    struct rmq_cert_id neg = a;
    neg.serial_negative = true;
    assert_int_equal(rmq_ocsp_client_lookup(c, &neg).state, RMQ_OCSPC_MISS);
    /* an update replaces the answer */
    assert_int_equal(rmq_ocsp_client_put(c, &a, RMQ_OCSPC_GOOD, -1, now - 10, now + 100), RMQ_OK);
    assert_int_equal(rmq_ocsp_client_lookup(c, &a).state, RMQ_OCSPC_GOOD);
    assert_int_equal(rmq_ocsp_client_count(c), 1);
    rmq_ocsp_client_free(c);
    rmq_fetcher_free(f);
}

static void test_ocspc__bounded_lru(void **state)
{
    (void)state;
    struct rmq_fetcher *f;
    struct rmq_ocsp_client *c = mk_client(&f, 3);
    time_t now = time(NULL);
    struct rmq_cert_id id[4];
    for (int i = 0; i < 3; i++) {
        id[i] = mk_id((uint8_t)(10 + i), 7);
        assert_int_equal(rmq_ocsp_client_put(c, &id[i], RMQ_OCSPC_GOOD, -1, now, now + 100),
                         RMQ_OK);
    }
    /* touch the oldest: the second becomes least recently used */
    assert_int_equal(rmq_ocsp_client_lookup(c, &id[0]).state, RMQ_OCSPC_GOOD);
    id[3] = mk_id(13, 7);
    assert_int_equal(rmq_ocsp_client_put(c, &id[3], RMQ_OCSPC_UNKNOWN, -1, now, now + 100), RMQ_OK);
    assert_int_equal(rmq_ocsp_client_count(c), 3);
    assert_int_equal(rmq_ocsp_client_lookup(c, &id[1]).state, RMQ_OCSPC_MISS);
    assert_int_equal(rmq_ocsp_client_lookup(c, &id[0]).state, RMQ_OCSPC_GOOD);
    assert_int_equal(rmq_ocsp_client_lookup(c, &id[2]).state, RMQ_OCSPC_GOOD);
    assert_int_equal(rmq_ocsp_client_lookup(c, &id[3]).state, RMQ_OCSPC_UNKNOWN);
    rmq_ocsp_client_free(c);
    rmq_fetcher_free(f);
}

static void test_ocspc__stale_never_returned(void **state)
{
    (void)state;
    struct rmq_fetcher *f;
    struct rmq_ocsp_client *c = mk_client(&f, 4);
    time_t now = time(NULL);
    struct rmq_cert_id a = mk_id(5, 5);
    assert_int_equal(rmq_ocsp_client_put(c, &a, RMQ_OCSPC_GOOD, -1, now - 100, now - 1), RMQ_OK);
    assert_int_equal(rmq_ocsp_client_lookup(c, &a).state, RMQ_OCSPC_MISS);
    assert_int_equal(rmq_ocsp_client_count(c), 0);
    /* nextUpdate must follow thisUpdate */
    assert_int_equal(rmq_ocsp_client_put(c, &a, RMQ_OCSPC_GOOD, -1, now, now), RMQ_ERR_INVALID);
    rmq_ocsp_client_free(c);
    rmq_fetcher_free(f);
}

struct waitres {
    pthread_mutex_t mu;
    int calls;
    struct rmq_ocspc_result r;
};

static void on_done(void *arg, const struct rmq_ocspc_result *r)
{
    struct waitres *w = arg;
    pthread_mutex_lock(&w->mu);
    w->calls++;
    w->r = *r;
    pthread_mutex_unlock(&w->mu);
}

static int calls_of(struct waitres *w)
{
    pthread_mutex_lock(&w->mu);
    int n = w->calls;
    pthread_mutex_unlock(&w->mu);
    return n;
}

static void test_ocspc__queries(void **state)
{
    (void)state;
    struct rmq_fetcher *f;
    struct rmq_ocsp_client *c = mk_client(&f, 4);
    EVP_PKEY *ck = pki_key(), *lk = pki_key();
    X509 *ca = pki_cert("CA", ck, NULL, ck, 1, -60, 3600, PKI_CA, NULL);
    X509 *plain = pki_cert("plain", lk, ca, ck, 2, -60, 3600, 0, NULL);
    /* A responder that never answers while the twins register (a listening
     * socket nobody accepts on), then goes away: connection reset. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 8), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/ocsp", (unsigned)ntohs(sa.sin_port));
    X509 *aia = pki_cert("aia", lk, ca, ck, 3, -60, 3600, 0, url);
    struct rmq_cert_id id_plain, id_aia;
    assert_int_equal(rmq_crl_cert_id(plain, ca, &id_plain), RMQ_OK);
    assert_int_equal(rmq_crl_cert_id(aia, ca, &id_aia), RMQ_OK);
    struct waitres w1 = {.mu = PTHREAD_MUTEX_INITIALIZER}, w2 = w1, w3 = w1;
    assert_false(rmq_ocsp_client_applies(plain));
    assert_true(rmq_ocsp_client_applies(aia));
    assert_int_equal(rmq_ocsp_client_query(c, plain, ca, &id_plain, on_done, &w1),
                     RMQ_ERR_NOT_FOUND);
    /* two twins share one request; a cancelled waiter is never called */
    assert_int_equal(rmq_ocsp_client_query(c, aia, ca, &id_aia, on_done, &w1), RMQ_ERR_AGAIN);
    assert_int_equal(rmq_ocsp_client_query(c, aia, ca, &id_aia, on_done, &w2), RMQ_ERR_AGAIN);
    assert_int_equal(rmq_ocsp_client_query(c, aia, ca, &id_aia, on_done, &w3), RMQ_ERR_AGAIN);
    rmq_ocsp_client_cancel(c, &w3);
    close(lfd); /* the pending connection is reset: the one request fails */
    for (int i = 0; i < 500 && (calls_of(&w1) == 0 || calls_of(&w2) == 0); i++) {
        usleep(10000);
    }
    assert_int_equal(calls_of(&w1), 1);
    assert_int_equal(calls_of(&w2), 1);
    assert_int_equal(w1.r.state, RMQ_OCSPC_FAILED);
    assert_string_equal(w1.r.why, "unreachable");
    usleep(50000);
    assert_int_equal(calls_of(&w3), 0);
    assert_int_equal(rmq_fetcher_transfers_started(f), 1);
    /* a failure is not cached */
    assert_int_equal(rmq_ocsp_client_lookup(c, &id_aia).state, RMQ_OCSPC_MISS);
    rmq_ocsp_client_free(c);
    rmq_fetcher_free(f);
    X509_free(aia);
    X509_free(plain);
    X509_free(ca);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(ck);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ocspc__keyed_by_issuer_key_and_serial),
        cmocka_unit_test(test_ocspc__bounded_lru),
        cmocka_unit_test(test_ocspc__stale_never_returned),
        cmocka_unit_test(test_ocspc__queries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
