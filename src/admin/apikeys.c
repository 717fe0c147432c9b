/* apikeys.c — API keys from api_key.bootstrap_file and HTTP basic auth; see
 * admin.h. Header values are untrusted: every read is bounded. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin.h"

#define KEY_MAX 64
#define SECRET_MAX 256
#define AUTH_MAX 1024 /* longest Authorization value looked at */

struct apikey {
    char key[KEY_MAX + 1];
    size_t key_len;
    char secret[SECRET_MAX + 1];
    size_t secret_len;
    enum rmq_admin_role role;
};

struct rmq_apikeys {
    struct apikey *v;
    size_t n;
};

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static char *fmt_err(const char *name, size_t line, const char *what)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s:%zu: %s", name, line, what);
    return strdup(buf);
}

/* One line [p, p+n): fills *k; NULL when fine, else the problem. */
static const char *parse_line(const char *p, size_t n, struct apikey *k)
{
    const char *c1 = memchr(p, ':', n);
    if (!c1) {
        return "expected key:secret[:role]";
    }
    size_t klen = (size_t)(c1 - p);
    const char *sp = c1 + 1;
    size_t rest = n - klen - 1;
    const char *c2 = memchr(sp, ':', rest);
    size_t slen = c2 ? (size_t)(c2 - sp) : rest;
    if (klen == 0 || klen > KEY_MAX) {
        return "key must be 1..64 characters";
    }
    for (size_t i = 0; i < klen; i++) {
        if (!key_char(p[i])) {
            return "key may only contain A-Z a-z 0-9 _ . -";
        }
    }
    if (slen == 0 || slen > SECRET_MAX) {
        return "secret must be 1..256 characters";
    }
    for (size_t i = 0; i < slen; i++) {
        if ((unsigned char)sp[i] < 0x20 || sp[i] == 0x7f) {
            return "secret contains a control character";
        }
    }
    k->role = RMQ_ROLE_ADMIN;
    if (c2) {
        const char *r = c2 + 1;
        size_t rlen = n - klen - 1 - slen - 1;
        if (rlen == 13 && memcmp(r, "administrator", 13) == 0) {
            k->role = RMQ_ROLE_ADMIN;
        } else if (rlen == 6 && memcmp(r, "viewer", 6) == 0) {
            k->role = RMQ_ROLE_VIEWER;
        } else {
            return "role must be administrator or viewer";
        }
    }
    memcpy(k->key, p, klen);
    k->key[klen] = '\0';
    k->key_len = klen;
    memcpy(k->secret, sp, slen);
    k->secret[slen] = '\0';
    k->secret_len = slen;
    return NULL;
}

static bool blank_or_comment(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }
    return i == n || p[i] == '#';
}

rmq_err rmq_apikeys_parse(const char *name, const char *text, size_t len, struct rmq_apikeys **out,
                          char **errmsg)
{
    *out = NULL;
    *errmsg = NULL;
    struct rmq_apikeys *k = calloc(1, sizeof *k);
    if (!k) {
        return RMQ_ERR_NOMEM;
    }
    size_t cap = 0, line = 0, off = 0;
    while (off < len) {
        const char *p = text + off;
        const char *nl = memchr(p, '\n', len - off);
        size_t n = nl ? (size_t)(nl - p) : len - off;
        off += n + (nl ? 1 : 0);
        line++;
        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }
        if (blank_or_comment(p, n)) {
            continue;
        }
        if (k->n == cap) {
            cap = cap ? 2 * cap : 4;
            struct apikey *nv = realloc(k->v, cap * sizeof *nv);
            if (!nv) {
                rmq_apikeys_free(k);
                return RMQ_ERR_NOMEM;
            }
            k->v = nv;
        }
        const char *why = parse_line(p, n, &k->v[k->n]);
        for (size_t i = 0; !why && i < k->n; i++) {
            if (strcmp(k->v[i].key, k->v[k->n].key) == 0) {
                why = "duplicate key";
            }
        }
        if (why) {
            *errmsg = fmt_err(name, line, why);
            rmq_apikeys_free(k);
            return RMQ_ERR_CONFIG;
        }
        k->n++;
    }
    *out = k;
    return RMQ_OK;
}

size_t rmq_apikeys_count(const struct rmq_apikeys *k)
{
    return k ? k->n : 0;
}

void rmq_apikeys_free(struct rmq_apikeys *k)
{
    if (k) {
        if (k->v) {
            memset(k->v, 0, k->n * sizeof *k->v); /* secrets */
        }
        free(k->v);
        free(k);
    }
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* RFC 4648 base64 with padding; false when malformed or over cap. */
static bool b64decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    if (n % 4 != 0) {
        return false;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)in[i + j];
            if (c == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad || (v[j] = b64val(c)) < 0) {
                return false;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        uint8_t bytes[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        if (3 - pad > cap - o) {
            return false;
        }
        memcpy(out + o, bytes, 3 - pad);
        o += 3 - pad;
    }
    *outlen = o;
    return true;
}

/* Constant time in the stored length: the compared bytes do not depend on
 * where the first difference is. */
static unsigned ct_eq(const char *stored, size_t slen, const uint8_t *given, size_t glen)
{
    unsigned diff = (unsigned)(slen != glen);
    for (size_t i = 0; i < slen; i++) {
        uint8_t g = i < glen ? given[i] : 0;
        diff |= (unsigned)((uint8_t)stored[i] ^ g);
    }
    return diff == 0;
}

enum rmq_admin_role rmq_apikeys_check(const struct rmq_apikeys *k, const char *authorization)
{
    if (!k || !authorization) {
        return RMQ_ROLE_NONE;
    }
    size_t n = strnlen(authorization, AUTH_MAX + 1);
    if (n > AUTH_MAX || n < 6 || strncasecmp(authorization, "Basic ", 6) != 0) {
        return RMQ_ROLE_NONE;
    }
    const char *b = authorization + 6;
    size_t bn = n - 6;
    while (bn > 0 && *b == ' ') {
        b++;
        bn--;
    }
    uint8_t dec[AUTH_MAX];
    size_t dlen = 0;
    if (!b64decode(b, bn, dec, sizeof dec, &dlen)) {
        return RMQ_ROLE_NONE;
    }
    const uint8_t *colon = memchr(dec, ':', dlen);
    if (!colon) {
        return RMQ_ROLE_NONE;
    }
    size_t klen = (size_t)(colon - dec);
    const uint8_t *sec = colon + 1;
    size_t slen = dlen - klen - 1;
    enum rmq_admin_role role = RMQ_ROLE_NONE;
    for (size_t i = 0; i < k->n; i++) { /* every key, no early exit */
        unsigned ok = ct_eq(k->v[i].key, k->v[i].key_len, dec, klen) &
                      ct_eq(k->v[i].secret, k->v[i].secret_len, sec, slen);
        if (ok) {
            role = k->v[i].role;
        }
    }
    memset(dec, 0, sizeof dec);
    return role;
}

bool rmq_apikeys_get(const struct rmq_apikeys *k, size_t i, const char **key, const char **secret,
                     enum rmq_admin_role *role)
{
    if (!k || i >= k->n) {
        return false;
    }
    *key = k->v[i].key;
    *secret = k->v[i].secret;
    *role = k->v[i].role;
    return true;
}
