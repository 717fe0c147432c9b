/*
 * gencrl.c — `revmq-bench gen-crl`: makes a signed X.509 v2 CRL with N
 * revoked entries, quickly (1,000,000 entries in a few seconds), for the
 * revocation benchmarks.
 *
 * OpenSSL use here is deliberate and outside the rule that OpenSSL calls stay
 * in src/tls, src/revocation and src/ca: revmq-bench is a client-side test
 * tool, not part of the broker, and building a CRL is what OpenSSL is for.
 *
 * How: entries are made with X509_CRL_add0_revoked in a loop (serials from a
 * seeded 64-bit generator, so runs are reproducible and never collide with
 * the small serials of test certificates unless asked with
 * --include-serial), the list is sorted once (X509_CRL_sort) and signed once
 * (X509_CRL_sign, SHA-256). The CRL carries a CRL number and, when the CA
 * certificate has a subject key identifier, an authority key identifier
 * (RFC 5280 5.2.1, 5.2.3). What it is not: a CA; it does not track what it
 * revoked.
 */
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "common/clock.h"

#define MAX_INCLUDE 64

struct gen_opts {
    const char *ca_cert, *ca_key, *out;
    uint64_t entries;
    bool der;
    uint64_t seed;
    uint64_t crl_number;
    uint64_t next_update_s;
    const char *include[MAX_INCLUDE];
    size_t n_include;
};

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A positive 16-byte serial: top byte 0x40..0x7f, so never negative and
 * never colliding with short serials of test certificates. */
static int serial_random(ASN1_INTEGER *ai, uint64_t *state)
{
    unsigned char b[16];
    uint64_t a = splitmix64(state), c = splitmix64(state);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(a >> (56 - 8 * i));
        b[8 + i] = (unsigned char)(c >> (56 - 8 * i));
    }
    b[0] = (unsigned char)(0x40 | (b[0] & 0x3f));
    /* Content octets of a positive INTEGER whose top byte is non-zero and
     * below 0x80: exactly these 16 bytes. */
    return ASN1_STRING_set(ai, b, sizeof b) == 1 ? 0 : -1;
}

static int serial_hex(ASN1_INTEGER *ai, const char *hex)
{
    BIGNUM *bn = NULL;
    int used = BN_hex2bn(&bn, hex);
    if (used <= 0 || (size_t)used != strlen(hex)) {
        BN_free(bn);
        return -1;
    }
    int ok = BN_to_ASN1_INTEGER(bn, ai) != NULL;
    BN_free(bn);
    return ok ? 0 : -1;
}

static int add_entry(X509_CRL *crl, const ASN1_TIME *when, const char *hex, uint64_t *state)
{
    X509_REVOKED *r = X509_REVOKED_new();
    ASN1_INTEGER *ai = ASN1_INTEGER_new();
    int rc = -1;
    if (!r || !ai) {
        goto out;
    }
    if ((hex ? serial_hex(ai, hex) : serial_random(ai, state)) != 0) {
        fprintf(stderr, "revmq-bench gen-crl: bad serial '%s'\n", hex ? hex : "?");
        goto out;
    }
    if (X509_REVOKED_set_serialNumber(r, ai) != 1 ||
        X509_REVOKED_set_revocationDate(r, (ASN1_TIME *)when) != 1 ||
        X509_CRL_add0_revoked(crl, r) != 1) {
        goto out;
    }
    r = NULL; /* owned by the CRL now */
    rc = 0;
out:
    X509_REVOKED_free(r);
    ASN1_INTEGER_free(ai);
    return rc;
}

static int add_extensions(X509_CRL *crl, X509 *ca, uint64_t number)
{
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    int rc = -1;
    if (!num || ASN1_INTEGER_set_uint64(num, number) != 1 ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1) {
        goto out;
    }
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
    if (ski) {
        AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
        if (!akid || (akid->keyid = ASN1_OCTET_STRING_dup(ski)) == NULL ||
            X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, 0) != 1) {
            AUTHORITY_KEYID_free(akid);
            goto out;
        }
        AUTHORITY_KEYID_free(akid);
    }
    rc = 0;
out:
    ASN1_INTEGER_free(num);
    return rc;
}

static int load_ca(const struct gen_opts *g, X509 **ca, EVP_PKEY **key)
{
    FILE *f = fopen(g->ca_cert, "r");
    *ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) {
        fclose(f);
    }
    f = fopen(g->ca_key, "r");
    *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) {
        fclose(f);
    }
    if (!*ca || !*key) {
        fprintf(stderr, "revmq-bench gen-crl: cannot read --ca-cert %s / --ca-key %s\n", g->ca_cert,
                g->ca_key);
        return -1;
    }
    return 0;
}

static int write_crl(const struct gen_opts *g, X509_CRL *crl)
{
    FILE *f = fopen(g->out, "wb");
    if (!f) {
        fprintf(stderr, "revmq-bench gen-crl: cannot write %s\n", g->out);
        return -1;
    }
    int ok = g->der ? i2d_X509_CRL_fp(f, crl) : PEM_write_X509_CRL(f, crl);
    if (fclose(f) != 0 || ok != 1) {
        fprintf(stderr, "revmq-bench gen-crl: writing %s failed\n", g->out);
        return -1;
    }
    return 0;
}

static int set_header(X509_CRL *crl, X509 *ca, const struct gen_opts *g, ASN1_TIME **now)
{
    time_t t = (time_t)(rmq_clock_real_ms() / 1000);
    *now = ASN1_TIME_set(NULL, t);
    ASN1_TIME *next = ASN1_TIME_set(NULL, t + (time_t)g->next_update_s);
    int ok = *now && next && X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1 &&
             X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) == 1 &&
             X509_CRL_set1_lastUpdate(crl, *now) == 1 && X509_CRL_set1_nextUpdate(crl, next) == 1;
    ASN1_TIME_free(next);
    return ok ? 0 : -1;
}

static double secs_since(uint64_t t0_us)
{
    return (double)(rmq_clock_mono_us() - t0_us) / 1e6;
}

static int generate(const struct gen_opts *g)
{
    X509 *ca = NULL;
    EVP_PKEY *key = NULL;
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *now = NULL;
    uint64_t state = g->seed;
    int rc = 1;
    uint64_t t0 = rmq_clock_mono_us();
    if (!crl || load_ca(g, &ca, &key) != 0 || set_header(crl, ca, g, &now) != 0) {
        goto out;
    }
    for (size_t i = 0; i < g->n_include; i++) {
        if (add_entry(crl, now, g->include[i], &state) != 0) {
            goto out;
        }
    }
    for (uint64_t i = g->n_include; i < g->entries; i++) {
        if (add_entry(crl, now, NULL, &state) != 0) {
            goto out;
        }
    }
    if (X509_CRL_sort(crl) != 1 || add_extensions(crl, ca, g->crl_number) != 0 ||
        X509_CRL_sign(crl, key, EVP_sha256()) <= 0) {
        fprintf(stderr, "revmq-bench gen-crl: building or signing the CRL failed\n");
        goto out;
    }
    if (write_crl(g, crl) != 0) {
        goto out;
    }
    fprintf(stderr, "gen-crl: wrote %s entries=%llu crl_number=%llu format=%s seconds=%.2f\n",
            g->out, (unsigned long long)(g->entries > g->n_include ? g->entries : g->n_include),
            (unsigned long long)g->crl_number, g->der ? "der" : "pem", secs_since(t0));
    rc = 0;
out:
    ASN1_TIME_free(now);
    X509_CRL_free(crl);
    X509_free(ca);
    EVP_PKEY_free(key);
    return rc;
}

static void gen_usage(FILE *f)
{
    fprintf(f, "usage: revmq-bench gen-crl --ca-cert F --ca-key F --entries N --out F\n"
               "         [--der|--pem] [--include-serial HEX]... [--seed N]\n"
               "         [--crl-number N (default: now, seconds)] [--next-update DUR (7d)]\n");
}

static int parse_gen_opt(struct gen_opts *g, int c, const char *arg)
{
    uint64_t ms = 0;
    char *end = NULL;
    switch (c) {
    case 'c':
        g->ca_cert = arg;
        return 0;
    case 'k':
        g->ca_key = arg;
        return 0;
    case 'o':
        g->out = arg;
        return 0;
    case 'n':
        g->entries = strtoull(arg, &end, 10);
        return (end && *end == '\0' && end != arg) ? 0 : -1;
    case 'D':
        g->der = true;
        return 0;
    case 'P':
        g->der = false;
        return 0;
    case 's':
        g->seed = strtoull(arg, &end, 10);
        return (end && *end == '\0' && end != arg) ? 0 : -1;
    case 'N':
        g->crl_number = strtoull(arg, &end, 10);
        return (end && *end == '\0' && end != arg) ? 0 : -1;
    case 'u':
        if (rmq_bench_parse_duration(arg, &ms) != RMQ_OK || ms < 1000) {
            return -1;
        }
        g->next_update_s = ms / 1000;
        return 0;
    case 'i':
        if (g->n_include == MAX_INCLUDE) {
            return -1;
        }
        g->include[g->n_include++] = arg;
        return 0;
    default:
        return -1;
    }
}

int rmq_bench_gen_crl(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ca-cert", 1, 0, 'c'},        {"ca-key", 1, 0, 'k'},     {"out", 1, 0, 'o'},
        {"entries", 1, 0, 'n'},        {"der", 0, 0, 'D'},        {"pem", 0, 0, 'P'},
        {"seed", 1, 0, 's'},           {"crl-number", 1, 0, 'N'}, {"next-update", 1, 0, 'u'},
        {"include-serial", 1, 0, 'i'}, {"help", 0, 0, 'h'},       {0, 0, 0, 0},
    };
    struct gen_opts g = {.seed = 1,
                         .crl_number = (uint64_t)(rmq_clock_real_ms() / 1000),
                         .next_update_s = 7 * 86400};
    int c;
    /* argv[1] is "gen-crl": parse argv[1..] as its own command line;
     * optind = 0 makes glibc reinitialise, so this can run more than once. */
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    optind = 0;
    while ((c = getopt_long(sub_argc, sub_argv, "", opts, NULL)) != -1) {
        if (c == 'h') {
            gen_usage(stdout);
            return 0;
        }
        if (c == '?' || parse_gen_opt(&g, c, optarg) != 0) {
            gen_usage(stderr);
            return 2;
        }
    }
    if (!g.ca_cert || !g.ca_key || !g.out || optind < sub_argc) {
        gen_usage(stderr);
        return 2;
    }
    return generate(&g);
}
