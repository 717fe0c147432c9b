/* cert.c — keys, serials and X.509 certificates for revmq-ca; see ca.h.
 * All ASN.1/X.509 work is OpenSSL's; this file only says what goes in. */
#include "ca/ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "common/log.h"

static const char *curve_name(const char *c)
{
    if (strcmp(c, "secp256r1") == 0 || strcmp(c, "prime256v1") == 0) {
        return "P-256";
    }
    if (strcmp(c, "secp384r1") == 0) {
        return "P-384";
    }
    if (strcmp(c, "secp521r1") == 0) {
        return "P-521";
    }
    return NULL;
}

rmq_err rmq_ca_key_generate(const struct rmq_ca_keyspec *ks, EVP_PKEY **out)
{
    EVP_PKEY *k = NULL;
    if (strcmp(ks->type, "ecdsa") == 0) {
        const char *c = curve_name(ks->curve ? ks->curve : "secp256r1");
        if (c == NULL) {
            return RMQ_ERR_INVALID;
        }
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", c);
    } else if (strcmp(ks->type, "rsa") == 0) {
        if (ks->rsa_bits < 2048 || ks->rsa_bits > 8192) {
            return RMQ_ERR_INVALID;
        }
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)ks->rsa_bits);
    } else {
        return RMQ_ERR_INVALID;
    }
    if (k == NULL) {
        return RMQ_ERR_CRYPTO;
    }
    *out = k;
    return RMQ_OK;
}

rmq_err rmq_ca_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        return RMQ_ERR_INVALID;
    }
    /* O_EXCL|O_NOFOLLOW: never write through a file or symlink planted at
     * the (predictable) temp name; a stale one of ours is removed once. */
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(tmp, flags, (mode_t)mode);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0) {
        fd = open(tmp, flags, (mode_t)mode);
    }
    if (fd < 0) {
        rmq_error("ca", "cannot write file path=%s err=\"%s\"", tmp, strerror(errno));
        return RMQ_ERR_IO;
    }
    rmq_err e = RMQ_OK;
    if (fchmod(fd, (mode_t)mode) != 0) {
        e = RMQ_ERR_IO;
    }
    const char *p = data;
    size_t left = len;
    while (e == RMQ_OK && left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            e = RMQ_ERR_IO;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (e == RMQ_OK && fsync(fd) != 0) {
        e = RMQ_ERR_IO;
    }
    if (close(fd) != 0 && e == RMQ_OK) {
        e = RMQ_ERR_IO;
    }
    if (e == RMQ_OK && rename(tmp, path) != 0) {
        e = RMQ_ERR_IO;
    }
    if (e != RMQ_OK) {
        rmq_error("ca", "cannot write file path=%s err=\"%s\"", path, strerror(errno));
        unlink(tmp);
    }
    return e;
}

rmq_err rmq_ca_key_to_pem(EVP_PKEY *k, char **out)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL) {
        return RMQ_ERR_NOMEM;
    }
    rmq_err e = RMQ_ERR_CRYPTO;
    if (PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        char *s = malloc((size_t)n + 1);
        if (s == NULL) {
            e = RMQ_ERR_NOMEM;
        } else {
            memcpy(s, p, (size_t)n);
            s[n] = '\0';
            *out = s;
            e = RMQ_OK;
        }
    }
    BIO_free(b);
    return e;
}

rmq_err rmq_ca_x509_to_pem(X509 *x, char **out)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL) {
        return RMQ_ERR_NOMEM;
    }
    rmq_err e = RMQ_ERR_CRYPTO;
    if (PEM_write_bio_X509(b, x) == 1) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        char *s = malloc((size_t)n + 1);
        if (s == NULL) {
            e = RMQ_ERR_NOMEM;
        } else {
            memcpy(s, p, (size_t)n);
            s[n] = '\0';
            *out = s;
            e = RMQ_OK;
        }
    }
    BIO_free(b);
    return e;
}

rmq_err rmq_ca_pem_to_x509(const char *pem, X509 **out)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    if (b == NULL) {
        return RMQ_ERR_NOMEM;
    }
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (x == NULL) {
        ERR_clear_error();
        return RMQ_ERR_MALFORMED;
    }
    *out = x;
    return RMQ_OK;
}

rmq_err rmq_ca_key_write(const char *path, EVP_PKEY *key)
{
    char *pem = NULL;
    RMQ_TRY(rmq_ca_key_to_pem(key, &pem));
    rmq_err e = rmq_ca_write_file_atomic(path, pem, strlen(pem), 0600);
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
    return e;
}

rmq_err rmq_ca_key_read(const char *path, EVP_PKEY **out)
{
    BIO *b = BIO_new_file(path, "r");
    if (b == NULL) {
        ERR_clear_error();
        return RMQ_ERR_IO;
    }
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (k == NULL) {
        ERR_clear_error();
        return RMQ_ERR_MALFORMED;
    }
    *out = k;
    return RMQ_OK;
}

void rmq_ca_key_path(const char *dir, int64_t ca_id, int version, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/keys/%lld-v%d.key", dir, (long long)ca_id, version);
}

rmq_err rmq_ca_uuid_v4(char out[40])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        return RMQ_ERR_CRYPTO;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* RFC 4122 4.4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return RMQ_OK;
}

rmq_err rmq_ca_serial_random(char out[40])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        return RMQ_ERR_CRYPTO;
    }
    b[0] = (unsigned char)((b[0] & 0x3f) | 0x40); /* positive, 16 bytes, RFC 5280 4.1.2.2 */
    for (int i = 0; i < 16; i++) {
        snprintf(out + 2 * i, 3, "%02X", b[i]);
    }
    return RMQ_OK;
}

rmq_err rmq_ca_serial_from_asn1(const ASN1_INTEGER *ai, char *out, size_t outsz)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
    if (bn == NULL) {
        return RMQ_ERR_MALFORMED;
    }
    char *hex = BN_bn2hex(bn);
    BN_free(bn);
    if (hex == NULL) {
        return RMQ_ERR_NOMEM;
    }
    rmq_err e = hex[0] == '-' ? RMQ_ERR_MALFORMED : rmq_ca_serial_normalize(hex, out, outsz);
    OPENSSL_free(hex);
    return e;
}

static rmq_err set_serial(X509 *x, const char *hex)
{
    BIGNUM *bn = NULL;
    if (BN_hex2bn(&bn, hex) == 0) {
        return RMQ_ERR_INVALID;
    }
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    if (ai == NULL) {
        return RMQ_ERR_NOMEM;
    }
    int ok = X509_set_serialNumber(x, ai);
    ASN1_INTEGER_free(ai);
    return ok == 1 ? RMQ_OK : RMQ_ERR_CRYPTO;
}

static rmq_err add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (ext == NULL) {
        rmq_error("ca", "bad extension nid=%d value=\"%s\"", nid, value);
        ERR_clear_error();
        return RMQ_ERR_INVALID;
    }
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? RMQ_OK : RMQ_ERR_CRYPTO;
}

static rmq_err set_times(X509 *x, int64_t nb, int64_t na)
{
    if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL) {
        return RMQ_ERR_CRYPTO;
    }
    return RMQ_OK;
}

static rmq_err name_add(X509_NAME *n, const char *field, const char *value)
{
    if (X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, (const unsigned char *)value, -1, -1,
                                   0) != 1) {
        ERR_clear_error();
        return RMQ_ERR_INVALID;
    }
    return RMQ_OK;
}

static rmq_err sign(X509 *x, EVP_PKEY *key, const char *digest)
{
    const EVP_MD *md = EVP_get_digestbyname(digest);
    if (md == NULL) {
        return RMQ_ERR_INVALID;
    }
    if (X509_sign(x, key, md) <= 0) {
        ERR_clear_error();
        return RMQ_ERR_CRYPTO;
    }
    return RMQ_OK;
}

static rmq_err ca_cert_fill(X509 *x, const struct rmq_ca_tenant *t, const struct rmq_ca_info *ca,
                            int version, EVP_PKEY *key, int64_t nb, int64_t na)
{
    char cn[RMQ_CA_NAME_MAX + 16];
    char serial[40];
    snprintf(cn, sizeof(cn), "%s v%d", ca->name, version);
    X509_NAME *n = X509_get_subject_name(x);
    RMQ_TRY(name_add(n, "O", t->name));
    RMQ_TRY(name_add(n, "CN", cn));
    if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_issuer_name(x, n) != 1 ||
        X509_set_pubkey(x, key) != 1) {
        return RMQ_ERR_CRYPTO;
    }
    RMQ_TRY(rmq_ca_serial_random(serial));
    RMQ_TRY(set_serial(x, serial));
    RMQ_TRY(set_times(x, nb, na));
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    RMQ_TRY(add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE"));
    RMQ_TRY(add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"));
    RMQ_TRY(add_ext(x, &ctx, NID_subject_key_identifier, "hash"));
    RMQ_TRY(add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"));
    return sign(x, key, ca->digest);
}

rmq_err rmq_ca_make_ca_cert(const struct rmq_ca_tenant *t, const struct rmq_ca_info *ca,
                            int version, EVP_PKEY *key, int64_t not_before, int64_t not_after,
                            X509 **out)
{
    X509 *x = X509_new();
    if (x == NULL) {
        return RMQ_ERR_NOMEM;
    }
    rmq_err e = ca_cert_fill(x, t, ca, version, key, not_before, not_after);
    if (e != RMQ_OK) {
        X509_free(x);
        return e;
    }
    *out = x;
    return RMQ_OK;
}

/* "URI:a,URI:b" / "OCSP;URI:a,OCSP;URI:b" (URLs are checked: no commas). */
static rmq_err join_uris(const char *prefix, const char *const *v, size_t n, char *out,
                         size_t outsz)
{
    size_t pos = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + pos, outsz - pos, "%s%s%s", i ? "," : "", prefix, v[i]);
        if (w < 0 || (size_t)w >= outsz - pos) {
            return RMQ_ERR_TOO_LARGE;
        }
        pos += (size_t)w;
    }
    return RMQ_OK;
}

static rmq_err leaf_exts(X509 *x, X509V3_CTX *ctx, const struct rmq_ca_issue_req *rq,
                         EVP_PKEY *subject_key)
{
    char buf[4096];
    bool server = strcmp(rq->cert_type, "server") == 0;
    bool rsa = EVP_PKEY_is_a(subject_key, "RSA");
    RMQ_TRY(add_ext(x, ctx, NID_basic_constraints, "critical,CA:FALSE"));
    RMQ_TRY(
        add_ext(x, ctx, NID_key_usage,
                rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"));
    RMQ_TRY(add_ext(x, ctx, NID_ext_key_usage, server ? "serverAuth" : "clientAuth"));
    RMQ_TRY(add_ext(x, ctx, NID_subject_key_identifier, "hash"));
    RMQ_TRY(add_ext(x, ctx, NID_authority_key_identifier, "keyid:always"));
    if (server) {
        size_t pos = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < rq->n_hosts; i++) {
            unsigned char tmp[16];
            bool ip = inet_pton(AF_INET, rq->hosts[i], tmp) == 1 ||
                      inet_pton(AF_INET6, rq->hosts[i], tmp) == 1;
            int w = snprintf(buf + pos, sizeof(buf) - pos, "%s%s:%s", i ? "," : "",
                             ip ? "IP" : "DNS", rq->hosts[i]);
            if (w < 0 || (size_t)w >= sizeof(buf) - pos) {
                return RMQ_ERR_TOO_LARGE;
            }
            pos += (size_t)w;
        }
        RMQ_TRY(add_ext(x, ctx, NID_subject_alt_name, buf));
    }
    if (rq->n_crl > 0) {
        RMQ_TRY(join_uris("URI:", rq->crl_urls, rq->n_crl, buf, sizeof(buf)));
        RMQ_TRY(add_ext(x, ctx, NID_crl_distribution_points, buf));
    }
    if (rq->n_ocsp > 0) {
        RMQ_TRY(join_uris("OCSP;URI:", rq->ocsp_urls, rq->n_ocsp, buf, sizeof(buf)));
        RMQ_TRY(add_ext(x, ctx, NID_info_access, buf));
    }
    return RMQ_OK;
}

static rmq_err leaf_fill(X509 *x, const struct rmq_ca_issue_req *rq, X509 *issuer,
                         EVP_PKEY *issuer_key, EVP_PKEY *subject_key)
{
    if (rq->n_hosts == 0) {
        return RMQ_ERR_INVALID;
    }
    X509_NAME *n = X509_get_subject_name(x);
    RMQ_TRY(name_add(n, "CN", rq->hosts[0]));
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 ||
        X509_set_pubkey(x, subject_key) != 1) {
        return RMQ_ERR_CRYPTO;
    }
    RMQ_TRY(set_serial(x, rq->serial_hex));
    RMQ_TRY(set_times(x, rq->not_before, rq->not_after));
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    RMQ_TRY(leaf_exts(x, &ctx, rq, subject_key));
    return sign(x, issuer_key, rq->digest);
}

rmq_err rmq_ca_issue_x509(const struct rmq_ca_issue_req *rq, X509 *issuer, EVP_PKEY *issuer_key,
                          EVP_PKEY *subject_key, X509 **out)
{
    X509 *x = X509_new();
    if (x == NULL) {
        return RMQ_ERR_NOMEM;
    }
    rmq_err e = leaf_fill(x, rq, issuer, issuer_key, subject_key);
    if (e != RMQ_OK) {
        ERR_clear_error();
        X509_free(x);
        return e;
    }
    *out = x;
    return RMQ_OK;
}

static rmq_err ocsp_cert_fill(X509 *x, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key,
                              const char *serial_hex, int64_t nb, int64_t na, const char *digest)
{
    char cn[512];
    X509_NAME *in = X509_get_subject_name(issuer);
    int idx = X509_NAME_get_index_by_NID(in, NID_commonName, -1);
    ASN1_STRING *d = idx >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(in, idx)) : NULL;
    snprintf(cn, sizeof(cn), "%.*s OCSP responder", d ? ASN1_STRING_length(d) : 2,
             d ? (const char *)ASN1_STRING_get0_data(d) : "CA");
    RMQ_TRY(name_add(X509_get_subject_name(x), "CN", cn));
    if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_issuer_name(x, in) != 1 ||
        X509_set_pubkey(x, key) != 1) {
        return RMQ_ERR_CRYPTO;
    }
    RMQ_TRY(set_serial(x, serial_hex));
    RMQ_TRY(set_times(x, nb, na));
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    RMQ_TRY(add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    RMQ_TRY(add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature"));
    RMQ_TRY(add_ext(x, &ctx, NID_ext_key_usage, "OCSPSigning"));    /* RFC 6960 4.2.2.2 */
    RMQ_TRY(add_ext(x, &ctx, NID_id_pkix_OCSP_noCheck, "ignored")); /* RFC 6960 4.2.2.2.1 */
    RMQ_TRY(add_ext(x, &ctx, NID_subject_key_identifier, "hash"));
    RMQ_TRY(add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"));
    return sign(x, issuer_key, digest);
}

rmq_err rmq_ca_make_ocsp_cert(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key,
                              const char *serial_hex, int64_t not_before, int64_t not_after,
                              const char *digest, X509 **out)
{
    X509 *x = X509_new();
    if (x == NULL) {
        return RMQ_ERR_NOMEM;
    }
    rmq_err e =
        ocsp_cert_fill(x, issuer, issuer_key, key, serial_hex, not_before, not_after, digest);
    if (e != RMQ_OK) {
        ERR_clear_error();
        X509_free(x);
        return e;
    }
    *out = x;
    return RMQ_OK;
}
