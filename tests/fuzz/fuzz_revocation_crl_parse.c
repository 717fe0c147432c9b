/*
 * fuzz_revocation_crl_parse.c — libFuzzer target over the CRL sniff + parse
 * path (PEM / DER / concatenated DER), then the acceptance checks, the scope
 * extraction (Issuing Distribution Point: distributionPoint names, relative
 * names, onlyContains*, onlySomeReasons, indirectCRL, delta indicator) and the
 * index build for whatever parsed, then the coverage function, a lookup and
 * the NO_CRL explanation. Nothing may crash, leak or read out of bounds;
 * nothing random is accepted by the signature check.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "revocation/crl_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static STACK_OF(X509) * trust;
static X509 *signer; /* a key to build entries with (the signature is not checked there) */

static void init(void)
{
    /* An empty trust list: the checks run up to the issuer lookup. */
    trust = sk_X509_new_null();
    EVP_PKEY *k = EVP_EC_gen("P-256");
    signer = X509_new();
    X509_set_pubkey(signer, k);
    EVP_PKEY_free(k);
}

/* Identities that exercise every branch of the coverage function. */
static void probe(const struct rmq_crl_entry *e, struct rmq_crl_snapshot *s)
{
    struct rmq_cert_id id;
    memset(&id, 0, sizeof id);
    memcpy(id.issuer_hash, e->issuer_hash, 32);
    memcpy(id.issuer_key, e->issuer_key, 32);
    id.serial[0] = 0x01;
    id.serial[1] = 0x02;
    id.serial_len = 2;
    if (rmq_crl_delta_applies(e, e)) {
        abort(); /* a CRL is never the base of itself */
    }
    for (int v = 0; v < 4; v++) {
        id.is_ca = (v & 1) != 0;
        id.serial_negative = (v & 2) != 0;
        id.ndp = e->ndp > 0 ? 1 : 0;
        if (id.ndp) {
            memcpy(id.dp[0], e->dp[e->ndp - 1], RMQ_CERT_ID_DP_HASH);
            id.dp_reasons[0] = (uint16_t)(v == 3 ? 0x2 : RMQ_CERT_REASONS_ALL);
        }
        uint16_t r = 0;
        enum rmq_crl_scope sc = rmq_crl_entry_scope(e, &id, &r);
        if (rmq_crl_scope_name(sc)[0] == '?' || (sc != RMQ_CRL_SCOPE_COVERS && r != 0)) {
            abort(); /* every answer is named; a miss covers no reason */
        }
        (void)rmq_crl_snapshot_lookup(s, &id, NULL);
        char why[256];
        rmq_crl_snapshot_explain(s, &id, why, sizeof why);
        if (memchr(why, '\0', sizeof why) == NULL) {
            abort();
        }
    }
}

/* The bundle parser: every slot is a CRL or NULL, never more than the cap. */
static void bundle(const uint8_t *data, size_t size)
{
    STACK_OF(X509_CRL) *sk = NULL;
    const char *why = NULL;
    if (rmq_crl_parse_bundle(data, size, &sk, &why) != RMQ_OK) {
        if (!why) {
            abort();
        }
        return;
    }
    int good = 0;
    for (int i = 0; i < sk_X509_CRL_num(sk); i++) {
        good += sk_X509_CRL_value(sk, i) != NULL;
    }
    if (good == 0 || sk_X509_CRL_num(sk) > RMQ_CRL_MAX_PER_BODY) {
        abort(); /* a bundle without one CRL is refused, and it is bounded */
    }
    sk_X509_CRL_pop_free(sk, X509_CRL_free);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!trust) {
        init();
    }
    bundle(data, size);
    STACK_OF(X509_CRL) *sk = NULL;
    const char *why = NULL;
    if (rmq_crl_parse_body(data, size, &sk, &why) != RMQ_OK) {
        if (!why) {
            abort(); /* every rejection names its reason */
        }
        return 0;
    }
    for (int i = 0; i < sk_X509_CRL_num(sk); i++) {
        X509_CRL *crl = sk_X509_CRL_value(sk, i);
        if (rmq_crl_check(crl, trust, 1700000000, 0, NULL) == NULL) {
            abort(); /* nothing is signed by an empty trust list */
        }
        struct rmq_crl_entry *e = NULL;
        if (rmq_crl_entry_build(crl, signer, 0, i == 0, &e) == RMQ_OK) {
            struct rmq_crl_snapshot *s = NULL;
            if (rmq_crl_snapshot_new(&e, 1, 1, &s) == RMQ_OK) {
                probe(e, s);
                rmq_crl_snapshot_release(s);
            }
            rmq_crl_entry_unref(e);
        }
    }
    sk_X509_CRL_pop_free(sk, X509_CRL_free);
    return 0;
}
