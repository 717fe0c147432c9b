/*
 * authn_hash.c — password verification for the authenticators: EMQX 5's
 * hashes (plain, md5/sha/sha256/sha512 with salt prefix/suffix, pbkdf2,
 * bcrypt) and Mosquitto's ($6$ = sha512 of password+salt, $7$ = PBKDF2-SHA512),
 * with OpenSSL's EVP and crypt(3) from libxcrypt. Comparisons use
 * CRYPTO_memcmp over equal lengths. (An exception to "OpenSSL stays in
 * src/tls, src/revocation, src/ca": hashing passwords is the auth module's
 * own job, and it is all in this one file.)
 */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/authn_int.h"

static const char *md_name(int md)
{
    switch (md) {
    case RMQ_MAC_MD4:
        return "MD4";
    case RMQ_MAC_MD5:
        return "MD5";
    case RMQ_MAC_RIPEMD160:
        return "RIPEMD160";
    case RMQ_MAC_SHA:
        return "SHA1";
    case RMQ_MAC_SHA224:
        return "SHA224";
    case RMQ_MAC_SHA256:
        return "SHA256";
    case RMQ_MAC_SHA384:
        return "SHA384";
    case RMQ_MAC_SHA512:
        return "SHA512";
    default:
        return NULL;
    }
}

bool rmq_authn_md_ok(int md, size_t *size)
{
    const char *name = md_name(md);
    EVP_MD *m = name ? EVP_MD_fetch(NULL, name, NULL) : NULL;
    if (m == NULL) {
        return false;
    }
    *size = (size_t)EVP_MD_get_size(m);
    EVP_MD_free(m);
    return true;
}

/* md(a|b|c) into out (at least EVP_MAX_MD_SIZE); false on failure. */
static bool digest3(int md, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                    uint8_t *out, unsigned *outlen)
{
    const char *name = md_name(md);
    EVP_MD *m = name ? EVP_MD_fetch(NULL, name, NULL) : NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = m && ctx && EVP_DigestInit_ex(ctx, m, NULL) == 1 &&
              EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1 &&
              EVP_DigestFinal_ex(ctx, out, outlen) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(m);
    return ok;
}

static bool same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && alen > 0 && CRYPTO_memcmp(a, b, alen) == 0;
}

static bool verify_digest(const struct rmq_user *u, const uint8_t *pw, size_t pw_len)
{
    uint8_t out[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    bool ok;
    switch (u->salt_position) {
    case RMQ_SALT_PREFIX:
        ok = digest3(u->md, u->salt, u->salt_len, pw, pw_len, out, &n);
        break;
    case RMQ_SALT_SUFFIX:
        ok = digest3(u->md, pw, pw_len, u->salt, u->salt_len, out, &n);
        break;
    case RMQ_SALT_DISABLE:
    default:
        ok = digest3(u->md, pw, pw_len, NULL, 0, out, &n);
        break;
    }
    return ok && same(out, n, u->hash, u->hash_len);
}

static bool verify_pbkdf2(const struct rmq_user *u, const uint8_t *pw, size_t pw_len)
{
    uint8_t out[RMQ_AUTHN_HASH_MAX];
    const char *name = md_name(u->md);
    EVP_MD *m = name ? EVP_MD_fetch(NULL, name, NULL) : NULL;
    bool ok = m && u->hash_len <= sizeof out && u->iterations <= INT32_MAX &&
              PKCS5_PBKDF2_HMAC((const char *)pw, (int)pw_len, u->salt, (int)u->salt_len,
                                (int)u->iterations, m, (int)u->hash_len, out) == 1;
    EVP_MD_free(m);
    return ok && same(out, u->hash_len, u->hash, u->hash_len);
}

static bool verify_bcrypt(const struct rmq_user *u, const uint8_t *pw, size_t pw_len)
{
    char setting[RMQ_AUTHN_HASH_MAX + 1];
    if (memchr(pw, '\0', pw_len) != NULL || pw_len > 1024) {
        return false; /* crypt(3) takes a C string */
    }
    char *p = strndup((const char *)pw, pw_len);
    struct crypt_data *cd = calloc(1, sizeof *cd);
    bool ok = false;
    if (p && cd && u->hash_len < sizeof setting) {
        memcpy(setting, u->hash, u->hash_len);
        setting[u->hash_len] = '\0';
        const char *h = crypt_r(p, setting, cd);
        ok = h != NULL && h[0] != '*' && same((const uint8_t *)h, strlen(h), u->hash, u->hash_len);
    }
    if (p) {
        OPENSSL_cleanse(p, pw_len);
    }
    free(p);
    free(cd);
    return ok;
}

bool rmq_user_verify(const struct rmq_user *u, const uint8_t *pw, size_t pw_len)
{
    if (pw == NULL) {
        pw = (const uint8_t *)"";
        pw_len = 0;
    }
    switch (u->alg) {
    case RMQ_UA_DIGEST:
        return verify_digest(u, pw, pw_len);
    case RMQ_UA_PBKDF2:
        return verify_pbkdf2(u, pw, pw_len);
    case RMQ_UA_BCRYPT:
        return verify_bcrypt(u, pw, pw_len);
    case RMQ_UA_PLAIN: {
        uint8_t out[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        return digest3(RMQ_MAC_SHA256, u->salt, u->salt_len, pw, pw_len, out, &n) &&
               same(out, n, u->hash, u->hash_len);
    }
    default:
        return false;
    }
}

rmq_err rmq_user_set_plain(struct rmq_user *u, const char *pw, size_t pw_len)
{
    unsigned n = 0;
    u->alg = RMQ_UA_PLAIN;
    u->salt_len = 16;
    if (RAND_bytes(u->salt, (int)u->salt_len) != 1 ||
        !digest3(RMQ_MAC_SHA256, u->salt, u->salt_len, (const uint8_t *)pw, pw_len, u->hash, &n)) {
        return RMQ_ERR_INTERNAL;
    }
    u->hash_len = n;
    return RMQ_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool rmq_authn_hex_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    if (n == 0 || n % 2 != 0 || n / 2 > cap) {
        return false;
    }
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return true;
}

bool rmq_authn_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    uint8_t tmp[(RMQ_AUTHN_HASH_MAX + 2) / 3 * 3 + 3];
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof tmp || n > INT32_MAX) {
        return false;
    }
    int r = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
    if (r < 0) {
        return false;
    }
    size_t got = (size_t)r;
    /* EVP_DecodeBlock counts the bytes the padding stands for */
    for (size_t i = n; i > 0 && s[i - 1] == '=' && got > 0; i--) {
        got--;
    }
    if (got > cap) {
        return false;
    }
    memcpy(out, tmp, got);
    *len = got;
    return true;
}
