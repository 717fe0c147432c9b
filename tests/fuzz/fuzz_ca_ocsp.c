/*
 * fuzz_ca_ocsp.c — feeds arbitrary bytes to rmq_ca_ocsp_respond as the body
 * of an OCSP request to `revmq-ca serve`, once signed by the CA and once by
 * the delegated responder.
 *
 * The state directory is made once (LLVMFuzzerInitialize) under a temp dir
 * and removed at exit: tenant "fuzz", CA "fuzz-ca" with two versions. Version
 * 1 has a FIXED P-256 key (derived from a constant scalar) and a fixed
 * subject, so its CertID issuer hashes are the same in every run and the
 * seeds in tests/fuzz/corpus/fuzz_ca_ocsp/ (made with `openssl ocsp -reqout`
 * against the certificate printed by `RMQ_FUZZ_CA_OCSP_DUMP=ca.pem
 * ./fuzz_ca_ocsp -runs=0`) reach past the issuer match. Version 1 issued the
 * serials 1001 (good), 1002 (keyCompromise), 1003 (certificateHold),
 * 1004 (revoked, unspecified); version 2 (random key, the current one)
 * issued 2001. The clock is fixed (REVMQ_CA_NOW) so the delegated signers
 * made at start-up are reused, never renewed, by the inputs.
 *
 * Every input must produce a DER OCSPResponse that OpenSSL parses back;
 * nothing may crash, leak or read out of bounds. Logging is off unless
 * RMQ_FUZZ_VERBOSE is set.
 */
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ocsp.h>
#include <openssl/param_build.h>

#include "ca/ca.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_NOW "1767225600" /* 2026-01-01T00:00:00Z */
#define WEEK (7 * 86400)

static char state_dir[64];
static bool verbose; /* RMQ_FUZZ_VERBOSE: logs on, every response printed */
static struct rmq_ca_db *db;
static struct rmq_ca_info ca;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_ca_ocsp: setup failed: %s\n", what);
    abort();
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    rmq_ca_info_release(&ca);
    rmq_ca_db_free(db);
    db = NULL;
    if (state_dir[0] != '\0') {
        nftw(state_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* P-256 key from a constant scalar: the same key in every run. */
static EVP_PKEY *fixed_key(void)
{
    static const char scalar[] = "5EC7E1C0FFEE0DDBA11B0A710C5A5EED1E55A1DEADFACE0FF1CE5CA1AB1E0001";
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM *priv = NULL;
    EC_POINT *pub = g ? EC_POINT_new(g) : NULL;
    unsigned char pubbuf[65];
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *key = NULL;
    if (pub == NULL || bld == NULL || ctx == NULL || BN_hex2bn(&priv, scalar) == 0 ||
        EC_POINT_mul(g, pub, priv, NULL, NULL, NULL) != 1 ||
        EC_POINT_point2oct(g, pub, POINT_CONVERSION_UNCOMPRESSED, pubbuf, sizeof(pubbuf), NULL) !=
            sizeof(pubbuf) ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pubbuf, sizeof(pubbuf)) !=
            1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1) {
        die("fixed key");
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    EC_POINT_free(pub);
    BN_free(priv);
    EC_GROUP_free(g);
    return key;
}

/* Version 1 by hand (rmq_ca_make_version would make a random key). */
static void make_fixed_version(const struct rmq_ca_tenant *t, struct rmq_ca_info *info)
{
    char path[512];
    X509 *x = NULL;
    struct rmq_ca_version v = {.ca_id = info->id, .version = 1};
    int64_t now = rmq_ca_now();
    EVP_PKEY *key = fixed_key();
    snprintf(path, sizeof(path), "%s/keys", state_dir);
    if (mkdir(path, 0700) != 0) {
        die("mkdir keys");
    }
    rmq_ca_key_path(state_dir, info->id, 1, path, sizeof(path));
    if (rmq_ca_key_write(path, key) != RMQ_OK ||
        rmq_ca_make_ca_cert(t, info, 1, key, now - 300, now + info->ttl, &x) != RMQ_OK ||
        rmq_ca_x509_to_pem(x, &v.cert_pem) != RMQ_OK) {
        die("version 1 certificate");
    }
    v.not_before = now - 300;
    v.not_after = now + info->ttl;
    if (rmq_ca_db_version_insert(db, &v) != RMQ_OK ||
        rmq_ca_db_ca_set_version(db, info->id, 1) != RMQ_OK) {
        die("version 1 row");
    }
    info->current_version = 1;
    const char *dump = getenv("RMQ_FUZZ_CA_OCSP_DUMP");
    if (dump != NULL && rmq_ca_write_file_atomic(dump, v.cert_pem, strlen(v.cert_pem), 0644)) {
        die("dump");
    }
    free(v.cert_pem);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void add_cert(int version, const char *serial, bool revoked, int reason)
{
    struct rmq_ca_certrec c = {.ca_id = ca.id, .version = version, .type = "client"};
    int64_t now = rmq_ca_now();
    snprintf(c.serial, sizeof(c.serial), "%s", serial);
    snprintf(c.host, sizeof(c.host), "dev-%s", serial);
    c.not_before = now - 60;
    c.not_after = now + 86400;
    c.issued_at = now;
    c.cert_pem = "-"; /* the responder never reads it */
    if (rmq_ca_db_cert_insert(db, &c) != RMQ_OK ||
        (revoked &&
         rmq_ca_db_cert_set_revoked(db, ca.id, serial, true, now - 30, reason) != RMQ_OK)) {
        die("certificate row");
    }
}

static void make_state(void)
{
    struct rmq_ca_tenant t;
    struct rmq_ca_info info = {.name = "fuzz-ca",
                               .key_type = "ecdsa",
                               .curve = "secp256r1",
                               .digest = "sha256",
                               .ttl = 10 * 365 * 86400,
                               .crl_urls = "",
                               .ocsp_urls = ""};
    if (rmq_ca_db_open(state_dir, &db) != RMQ_OK ||
        rmq_ca_db_tenant_insert(db, "fuzz", "f0220000-0000-4000-8000-00000000f022") != RMQ_OK ||
        rmq_ca_db_tenant_get(db, &t) != RMQ_OK || rmq_ca_db_begin(db) != RMQ_OK) {
        die("database");
    }
    info.tenant_id = t.id;
    if (rmq_ca_db_ca_insert(db, &info) != RMQ_OK) {
        die("CA row");
    }
    make_fixed_version(&t, &info);
    if (rmq_ca_make_version(db, &t, &info, 2, WEEK) != RMQ_OK || rmq_ca_db_commit(db) != RMQ_OK ||
        rmq_ca_db_ca_get(db, t.id, "fuzz-ca", &ca) != RMQ_OK || ca.current_version != 2) {
        die("version 2");
    }
    add_cert(1, "1001", false, 0);
    add_cert(1, "1002", true, 1);
    add_cert(1, "1003", true, 6);
    add_cert(1, "1004", true, 0);
    add_cert(2, "2001", false, 0);
    for (int v = 1; v <= 2; v++) { /* make the delegated signers now, not per input */
        X509 *sc = NULL;
        EVP_PKEY *sk = NULL;
        if (rmq_ca_ocsp_signer_get(db, &ca, v, &sc, &sk) != RMQ_OK) {
            die("delegated signer");
        }
        X509_free(sc);
        EVP_PKEY_free(sk);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verbose = getenv("RMQ_FUZZ_VERBOSE") != NULL;
    if (!verbose) {
        rmq_log_set_level(RMQ_LOG_CRITICAL);
    }
    setenv("REVMQ_CA_NOW", FUZZ_NOW, 1);
    snprintf(state_dir, sizeof(state_dir), "/tmp/fuzz_ca_ocsp.XXXXXX");
    if (mkdtemp(state_dir) == NULL) {
        state_dir[0] = '\0';
        die("mkdtemp");
    }
    atexit(cleanup);
    make_state();
    return 0;
}

static void respond_once(const uint8_t *data, size_t size, bool delegated)
{
    unsigned char *out = NULL;
    size_t out_len = 0;
    rmq_ca_ocsp_respond(db, &ca, data, size, 3600, delegated, &out, &out_len);
    if (out == NULL || out_len == 0) {
        abort(); /* ca.h: always produces a response */
    }
    const unsigned char *p = out;
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)out_len);
    if (r == NULL || p != out + out_len) {
        abort();
    }
    if (verbose) {
        BIO *b = BIO_new_fp(stderr, BIO_NOCLOSE);
        OCSP_RESPONSE_print(b, r, 0);
        BIO_free(b);
    }
    OCSP_RESPONSE_free(r);
    OPENSSL_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    respond_once(data, size, false);
    respond_once(data, size, true);
    return 0;
}
