/*
 * authn_file.c — user files: EMQX 5 bootstrap files of `built_in_database`
 * (CSV with a header line, or a JSON array; `bootstrap_type` plain or hash)
 * and Mosquitto password files (`user:$6$salt$hash`, `user:$7$iter$salt$hash`,
 * base64). The whole file is read (at most RMQ_AUTHN_FILE_MAX) and every line
 * goes through bounded parsing; the first problem stops the load and is
 * reported as "FILE:LINE: why". Duplicate user ids are errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "auth/authn_int.h"
#include "common/reader.h"

struct loader {
    const struct rmq_authn_settings *cfg;
    const char *file;
    struct rmq_userset *set;
    size_t cap;
    char *why;
    size_t whylen;
};

__attribute__((format(printf, 3, 4))) static rmq_err fail(struct loader *ld, unsigned line,
                                                          const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line) {
        snprintf(ld->why, ld->whylen, "%s:%u: %s", ld->file, line, msg);
    } else {
        snprintf(ld->why, ld->whylen, "%s: %s", ld->file, msg);
    }
    return RMQ_ERR_CONFIG;
}

void rmq_userset_free(struct rmq_userset *u)
{
    if (u == NULL) {
        return;
    }
    for (size_t i = 0; i < u->count; i++) {
        free(u->users[i].id);
    }
    free(u->users);
    free(u);
}

static int cmp_id(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen < blen ? -1 : alen > blen);
}

static int cmp_user(const void *x, const void *y)
{
    const struct rmq_user *a = x, *b = y;
    return cmp_id(a->id, a->id_len, b->id, b->id_len);
}

const struct rmq_user *rmq_userset_find(const struct rmq_userset *u, const char *id, size_t len)
{
    size_t lo = 0, hi = u != NULL ? u->count : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_id(id, len, u->users[mid].id, u->users[mid].id_len);
        if (c == 0) {
            return &u->users[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

/* Appends a user with this id; NULL on OOM (reported) or a bad id. */
static struct rmq_user *add_user(struct loader *ld, unsigned line, const char *id, size_t len)
{
    if (len == 0 || len > RMQ_AUTHN_ID_MAX || memchr(id, '\0', len) != NULL) {
        fail(ld, line, "user id empty, too long or with a NUL byte");
        return NULL;
    }
    if (ld->set->count == ld->cap) {
        size_t nc = ld->cap ? ld->cap * 2 : 64;
        struct rmq_user *n = realloc(ld->set->users, nc * sizeof *n);
        if (n == NULL) {
            fail(ld, line, "out of memory");
            return NULL;
        }
        ld->set->users = n;
        ld->cap = nc;
    }
    struct rmq_user *u = &ld->set->users[ld->set->count];
    memset(u, 0, sizeof *u);
    if ((u->id = strndup(id, len)) == NULL) {
        fail(ld, line, "out of memory");
        return NULL;
    }
    u->id_len = len;
    ld->set->count++;
    return u;
}

/* EMQX `hash` credentials: password_hash + salt as password_hash_algorithm says. */
static rmq_err set_hashed(struct loader *ld, unsigned line, struct rmq_user *u, const char *hash,
                          size_t hlen, const char *salt, size_t slen)
{
    const struct rmq_authn_settings *c = ld->cfg;
    if (slen > RMQ_AUTHN_SALT_MAX) {
        return fail(ld, line, "salt longer than %d bytes", RMQ_AUTHN_SALT_MAX);
    }
    memcpy(u->salt, salt, slen);
    u->salt_len = slen;
    switch (c->hash) {
    case RMQ_HASH_PLAIN:
        /* the stored "hash" is the password itself */
        return rmq_user_set_plain(u, hash, hlen) == RMQ_OK ? RMQ_OK
                                                           : fail(ld, line, "hashing failed");
    case RMQ_HASH_BCRYPT:
        if (hlen < 7 || hlen >= RMQ_AUTHN_HASH_MAX || hash[0] != '$' || hash[1] != '2') {
            return fail(ld, line, "password_hash is not a bcrypt ($2a$/$2b$/$2y$) string");
        }
        u->alg = RMQ_UA_BCRYPT;
        memcpy(u->hash, hash, hlen);
        u->hash_len = hlen;
        return RMQ_OK;
    case RMQ_HASH_PBKDF2:
        u->alg = RMQ_UA_PBKDF2;
        u->md = (uint8_t)c->mac_fun;
        u->iterations = c->iterations;
        break;
    default:
        u->alg = RMQ_UA_DIGEST;
        u->md = (uint8_t)(c->hash == RMQ_HASH_MD5      ? RMQ_MAC_MD5
                          : c->hash == RMQ_HASH_SHA    ? RMQ_MAC_SHA
                          : c->hash == RMQ_HASH_SHA512 ? RMQ_MAC_SHA512
                                                       : RMQ_MAC_SHA256);
        u->salt_position = (uint8_t)c->salt_position;
        break;
    }
    if (!rmq_authn_hex_decode(hash, hlen, u->hash, sizeof u->hash, &u->hash_len)) {
        return fail(ld, line, "password_hash is not a hex string of at most %d bytes",
                    RMQ_AUTHN_HASH_MAX);
    }
    size_t want = 0;
    if (!rmq_authn_md_ok(u->md, &want)) {
        return fail(ld, line,
                    "this digest is not available in the system's OpenSSL "
                    "(md4 and ripemd160 need its legacy provider)");
    }
    if (u->alg == RMQ_UA_DIGEST && u->hash_len != want) {
        return fail(ld, line, "password_hash has %zu bytes, the digest has %zu", u->hash_len, want);
    }
    if (u->alg == RMQ_UA_PBKDF2 && c->dk_length && u->hash_len != c->dk_length) {
        return fail(ld, line, "password_hash has %zu bytes, dk_length is %u", u->hash_len,
                    (unsigned)c->dk_length);
    }
    return RMQ_OK;
}

static rmq_err set_cred(struct loader *ld, unsigned line, struct rmq_user *u, const char *pw,
                        size_t pwlen, const char *salt, size_t slen)
{
    if (ld->cfg->bootstrap_type == RMQ_BOOTSTRAP_PLAIN) {
        return rmq_user_set_plain(u, pw, pwlen) == RMQ_OK ? RMQ_OK
                                                          : fail(ld, line, "hashing failed");
    }
    return set_hashed(ld, line, u, pw, pwlen, salt, slen);
}

static bool is_true(const char *s, size_t n)
{
    return n == 4 && strncasecmp(s, "true", 4) == 0;
}

/* ---- CSV --------------------------------------------------------------------------------- */

#define CSV_COLS 8

/* Splits one line at commas (no quoting in EMQX's files); returns the count. */
static size_t csv_split(const char *p, size_t n, const char **f, size_t *fl)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n && k < CSV_COLS; i++) {
        if (i == n || p[i] == ',') {
            size_t a = start, b = i;
            while (a < b && (p[a] == ' ' || p[a] == '\t')) {
                a++;
            }
            while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t' || p[b - 1] == '\r')) {
                b--;
            }
            f[k] = p + a;
            fl[k++] = b - a;
            start = i + 1;
        }
    }
    return k;
}

static int col_of(const char **f, const size_t *fl, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (fl[i] == strlen(name) && memcmp(f[i], name, fl[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

struct csv_cols {
    int id, pw, salt, su;
};

static rmq_err csv_header(struct loader *ld, const char *line, size_t n, struct csv_cols *c)
{
    const char *f[CSV_COLS];
    size_t fl[CSV_COLS];
    size_t k = csv_split(line, n, f, fl);
    bool plain = ld->cfg->bootstrap_type == RMQ_BOOTSTRAP_PLAIN;
    c->id = col_of(f, fl, k, "user_id");
    c->pw = col_of(f, fl, k, plain ? "password" : "password_hash");
    c->salt = col_of(f, fl, k, "salt");
    c->su = col_of(f, fl, k, "is_superuser");
    if (c->id < 0 || c->pw < 0) {
        return fail(
            ld, 1, "the header line must name user_id and %s (bootstrap_type = %s), e.g. %s",
            plain ? "password" : "password_hash", plain ? "plain" : "hash",
            plain ? "user_id,password,is_superuser" : "user_id,password_hash,salt,is_superuser");
    }
    return RMQ_OK;
}

static rmq_err csv_row(struct loader *ld, unsigned ln, const char *line, size_t n,
                       const struct csv_cols *c)
{
    const char *f[CSV_COLS];
    size_t fl[CSV_COLS];
    size_t k = csv_split(line, n, f, fl);
    int need = c->id > c->pw ? c->id : c->pw;
    if ((int)k <= need || (c->salt >= 0 && (int)k <= c->salt)) {
        return fail(ld, ln, "%zu fields, the header has more", k);
    }
    struct rmq_user *u = add_user(ld, ln, f[c->id], fl[c->id]);
    if (u == NULL) {
        return RMQ_ERR_CONFIG;
    }
    u->superuser = c->su >= 0 && (int)k > c->su && is_true(f[c->su], fl[c->su]);
    const char *salt = c->salt >= 0 ? f[c->salt] : "";
    size_t slen = c->salt >= 0 ? fl[c->salt] : 0;
    return set_cred(ld, ln, u, f[c->pw], fl[c->pw], salt, slen);
}

static rmq_err load_csv(struct loader *ld, const char *text, size_t len)
{
    struct rmq_reader r = rmq_reader_make(text, len);
    const uint8_t *line;
    size_t n;
    unsigned ln = 0;
    bool header = false;
    struct csv_cols cols = {0};
    while (rmq_reader_left(&r) > 0) {
        if (rmq_reader_line(&r, &line, &n) != RMQ_OK) {
            break;
        }
        ln++;
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ')) {
            n--;
        }
        if (n == 0) {
            continue;
        }
        if (!header) {
            RMQ_TRY(csv_header(ld, (const char *)line, n, &cols));
            header = true;
            continue;
        }
        RMQ_TRY(csv_row(ld, ln, (const char *)line, n, &cols));
    }
    return header ? RMQ_OK : fail(ld, 0, "empty file (a header line is required)");
}

/* ---- JSON -------------------------------------------------------------------------------- */

static const char *json_field(json_t *o, const char *k, size_t *n)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v)) {
        return NULL;
    }
    *n = json_string_length(v);
    return json_string_value(v);
}

static rmq_err json_item(struct loader *ld, size_t i, json_t *o)
{
    bool plain = ld->cfg->bootstrap_type == RMQ_BOOTSTRAP_PLAIN;
    size_t idlen = 0, pwlen = 0, slen = 0;
    const char *id = json_is_object(o) ? json_field(o, "user_id", &idlen) : NULL;
    const char *pw = id ? json_field(o, plain ? "password" : "password_hash", &pwlen) : NULL;
    const char *salt = id ? json_field(o, "salt", &slen) : NULL;
    if (id == NULL || pw == NULL) {
        return fail(ld, 0, "item %zu: needs string fields user_id and %s", i + 1,
                    plain ? "password" : "password_hash");
    }
    struct rmq_user *u = add_user(ld, 0, id, idlen);
    if (u == NULL) {
        return RMQ_ERR_CONFIG;
    }
    json_t *su = json_object_get(o, "is_superuser");
    u->superuser = json_is_true(su);
    return set_cred(ld, 0, u, pw, pwlen, salt ? salt : "", salt ? slen : 0);
}

static rmq_err load_json(struct loader *ld, const char *text, size_t len)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        return fail(ld, (unsigned)(err.line > 0 ? err.line : 0), "JSON: %s", err.text);
    }
    rmq_err e = RMQ_OK;
    if (!json_is_array(root)) {
        e = fail(ld, 1, "JSON: expected an array of users [{\"user_id\": …}, …]");
    }
    for (size_t i = 0; e == RMQ_OK && i < json_array_size(root); i++) {
        e = json_item(ld, i, json_array_get(root, i));
    }
    json_decref(root);
    return e;
}

/* ---- Mosquitto password file -------------------------------------------------------------- */

/* "$6$salt$hash" or "$7$iterations$salt$hash" (base64 salt and hash). */
static rmq_err mosq_hash(struct loader *ld, unsigned ln, struct rmq_user *u, const char *h,
                         size_t n)
{
    const char *part[4];
    size_t plen[4], k = 0, start = 3;
    if (n < 4 || h[0] != '$' || (h[1] != '6' && h[1] != '7') || h[2] != '$') {
        return fail(ld, ln,
                    "unsupported password hash (revmq reads the $6$ and $7$ hashes that "
                    "mosquitto_passwd writes)");
    }
    for (size_t i = 3; i <= n && k < 4; i++) {
        if (i == n || h[i] == '$') {
            part[k] = h + start;
            plen[k++] = i - start;
            start = i + 1;
        }
    }
    bool pbkdf2 = h[1] == '7';
    if (k != (pbkdf2 ? 3u : 2u)) {
        return fail(ld, ln, "malformed $%c$ hash", h[1]);
    }
    size_t s = 0;
    if (pbkdf2) {
        unsigned long it = 0;
        for (size_t i = 0; i < plen[0]; i++) {
            if (part[0][i] < '0' || part[0][i] > '9' || it > 100000000ul) {
                return fail(ld, ln, "malformed $7$ iteration count");
            }
            it = it * 10 + (unsigned long)(part[0][i] - '0');
        }
        if (it == 0) {
            return fail(ld, ln, "malformed $7$ iteration count");
        }
        u->iterations = (uint32_t)it;
        s = 1;
    }
    if (!rmq_authn_b64_decode(part[s], plen[s], u->salt, sizeof u->salt, &u->salt_len) ||
        !rmq_authn_b64_decode(part[s + 1], plen[s + 1], u->hash, sizeof u->hash, &u->hash_len) ||
        u->hash_len != 64) {
        return fail(ld, ln, "malformed base64 salt or hash in $%c$ hash", h[1]);
    }
    u->md = RMQ_MAC_SHA512;
    u->alg = pbkdf2 ? RMQ_UA_PBKDF2 : RMQ_UA_DIGEST;
    u->salt_position = RMQ_SALT_SUFFIX; /* $6$: sha512(password | salt) */
    return RMQ_OK;
}

static rmq_err load_mosquitto(struct loader *ld, const char *text, size_t len)
{
    struct rmq_reader r = rmq_reader_make(text, len);
    const uint8_t *line;
    size_t n;
    unsigned ln = 0;
    while (rmq_reader_left(&r) > 0 && rmq_reader_line(&r, &line, &n) == RMQ_OK) {
        ln++;
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) {
            n--;
        }
        if (n == 0 || line[0] == '#') {
            continue;
        }
        const uint8_t *colon = memchr(line, ':', n);
        if (colon == NULL) {
            return fail(ld, ln, "expected user:hash");
        }
        size_t ulen = (size_t)(colon - line);
        struct rmq_user *u = add_user(ld, ln, (const char *)line, ulen);
        if (u == NULL) {
            return RMQ_ERR_CONFIG;
        }
        RMQ_TRY(mosq_hash(ld, ln, u, (const char *)colon + 1, n - ulen - 1));
    }
    return RMQ_OK;
}

/* ---- entry ---------------------------------------------------------------------------------- */

static rmq_err read_all(struct loader *ld, char **text, size_t *len)
{
    FILE *f = fopen(ld->file, "rb");
    if (f == NULL) {
        return fail(ld, 0, "cannot open: %s", strerror(errno));
    }
    char *buf = malloc(RMQ_AUTHN_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, RMQ_AUTHN_FILE_MAX + 1, f) : 0;
    bool err = buf == NULL || ferror(f);
    fclose(f);
    if (err || n > RMQ_AUTHN_FILE_MAX) {
        free(buf);
        return fail(ld, 0, err ? "cannot read" : "larger than 64MB");
    }
    *text = buf;
    *len = n;
    return RMQ_OK;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Two users with one id: the file is ambiguous. */
static rmq_err check_dups(struct loader *ld)
{
    struct rmq_userset *s = ld->set;
    if (s->count == 0) {
        return RMQ_OK;
    }
    qsort(s->users, s->count, sizeof *s->users, cmp_user);
    for (size_t i = 1; i < s->count; i++) {
        if (cmp_user(&s->users[i - 1], &s->users[i]) == 0) {
            return fail(ld, 0, "user id listed twice (one entry per user)");
        }
    }
    return RMQ_OK;
}

/* Parses `text` (the file's content, `name` for messages) by cfg's backend and the
 * name's extension (.json: JSON, else CSV). */
static rmq_err parse_users(struct loader *ld, const char *text, size_t len)
{
    if (ld->cfg->backend == RMQ_AUTHN_MOSQUITTO_PASSWD_FILE) {
        return load_mosquitto(ld, text, len);
    }
    return ends_with(ld->file, ".json") ? load_json(ld, text, len) : load_csv(ld, text, len);
}

static rmq_err finish(struct loader *ld, rmq_err e, struct rmq_userset **set)
{
    if (e == RMQ_OK) {
        e = check_dups(ld);
    }
    if (e != RMQ_OK) {
        rmq_userset_free(ld->set);
        return e;
    }
    *set = ld->set;
    return RMQ_OK;
}

rmq_err rmq_authn_parse_users(const struct rmq_authn_settings *cfg, const char *name,
                              const char *text, size_t len, struct rmq_userset **set, char *why,
                              size_t whylen)
{
    struct loader ld = {cfg, name, NULL, 0, why, whylen};
    *set = NULL;
    if (len > RMQ_AUTHN_FILE_MAX || (len > 0 && memchr(text, '\0', len) != NULL)) {
        return fail(&ld, 0, len > RMQ_AUTHN_FILE_MAX ? "larger than 64MB" : "NUL byte in file");
    }
    if ((ld.set = calloc(1, sizeof *ld.set)) == NULL) {
        return RMQ_ERR_NOMEM;
    }
    return finish(&ld, parse_users(&ld, text, len), set);
}

rmq_err rmq_authn_load_users(const struct rmq_authn_settings *cfg, struct rmq_userset **set,
                             char *why, size_t whylen)
{
    bool mosq = cfg->backend == RMQ_AUTHN_MOSQUITTO_PASSWD_FILE;
    struct loader ld = {cfg, mosq ? cfg->path : cfg->bootstrap_file, NULL, 0, why, whylen};
    char *text = NULL;
    size_t len = 0;
    *set = NULL;
    if (ld.file == NULL) { /* built_in_database without bootstrap_file: no users */
        *set = calloc(1, sizeof **set);
        return *set != NULL ? RMQ_OK : RMQ_ERR_NOMEM;
    }
    RMQ_TRY(read_all(&ld, &text, &len));
    rmq_err e = rmq_authn_parse_users(cfg, ld.file, text, len, set, why, whylen);
    OPENSSL_cleanse(text, len);
    free(text);
    return e;
}
