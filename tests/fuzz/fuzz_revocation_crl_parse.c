/*
 * fuzz_revocation_crl_parse.c — libFuzzer target over the CRL sniff + parse
 * path (PEM / DER / concatenated DER), then the acceptance checks and the
 * index build for whatever parsed, then a lookup. Nothing may crash, leak or
 * read out of bounds; nothing random is accepted by the signature check.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "revocation/crl_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static STACK_OF(X509) * trust;

static void init_trust(void)
{
    /* An empty trust list: the checks run up to the issuer lookup. */
    trust = sk_X509_new_null();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!trust) {
        init_trust();
    }
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
        if (rmq_crl_check(crl, trust, 1700000000, 0) == NULL) {
            abort(); /* nothing is signed by an empty trust list */
        }
        struct rmq_crl_entry *e = NULL;
        if (rmq_crl_entry_build(crl, 0, i == 0, &e) == RMQ_OK) {
            struct rmq_crl_snapshot *s = NULL;
            if (rmq_crl_snapshot_new(&e, 1, 1, &s) == RMQ_OK) {
                uint8_t serial[2] = {0x01, 0x02};
                (void)rmq_crl_snapshot_lookup(s, e->issuer_hash, serial, sizeof serial, NULL);
                rmq_crl_snapshot_release(s);
            }
            rmq_crl_entry_unref(e);
        }
    }
    sk_X509_CRL_pop_free(sk, X509_CRL_free);
    return 0;
}
