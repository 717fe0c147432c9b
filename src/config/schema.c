/* schema.c — key lookup, value conversion and formatting for the key table; see schema.h. */
#include "config/schema.h"

#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"

#define SEGS_MAX 16

/* ---- lookup ---------------------------------------------------------------------------- */

struct segs {
    const char *p[SEGS_MAX];
    size_t n[SEGS_MAX];
    size_t count;
};

static bool split(const char *path, struct segs *s)
{
    s->count = 0;
    const char *start = path;
    for (const char *q = path;; q++) {
        if (*q == '.' || *q == '\0') {
            if (s->count == SEGS_MAX || q == start) {
                return false;
            }
            s->p[s->count] = start;
            s->n[s->count++] = (size_t)(q - start);
            if (*q == '\0') {
                return true;
            }
            start = q + 1;
        }
    }
}

static bool valid_name(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) {
            return false;
        }
    }
    return n > 0 && n < 64;
}

/* A list position: 1..max, decimal, no leading zero. */
static bool valid_index(const char *p, size_t n, unsigned max)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || (i == 0 && p[i] == '0') || n > 4) {
            return false;
        }
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return n > 0 && v >= 1 && v <= max;
}

/* How many list positions `<n>` may take in a key (0: not a list key). */
static unsigned max_positions(const struct rmq_cfg_key *k)
{
    return k->list != NULL ? k->list->max : 0;
}

/* Matches `pattern` against the split path; fills *name and *namelen for
 * `<name>` (a listener name) or `<n>` (a position 1..max_n). */
static bool match(const char *pattern, const struct segs *s, const char **name, size_t *namelen,
                  unsigned max_n)
{
    struct segs ps;
    if (!split(pattern, &ps) || ps.count != s->count) {
        return false;
    }
    for (size_t i = 0; i < ps.count; i++) {
        if (ps.n[i] == 6 && memcmp(ps.p[i], "<name>", 6) == 0) {
            if (!valid_name(s->p[i], s->n[i])) {
                return false;
            }
            *name = s->p[i];
            *namelen = s->n[i];
        } else if (ps.n[i] == 3 && memcmp(ps.p[i], "<n>", 3) == 0) {
            if (!valid_index(s->p[i], s->n[i], max_n)) {
                return false;
            }
            *name = s->p[i];
            *namelen = s->n[i];
        } else if (ps.n[i] != s->n[i] || memcmp(ps.p[i], s->p[i], s->n[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* The key's path with `<name>` replaced. */
static void instantiate(const char *pattern, const char *name, size_t namelen, char *out,
                        size_t outlen)
{
    const char *at = strstr(pattern, "<name>");
    size_t skip = 6;
    if (at == NULL && (at = strstr(pattern, "<n>")) != NULL) {
        skip = 3;
    }
    if (at == NULL) {
        snprintf(out, outlen, "%s", pattern);
        return;
    }
    snprintf(out, outlen, "%.*s%.*s%s", (int)(at - pattern), pattern, (int)namelen, name,
             at + skip);
}

void rmq_cfg_instantiate(const char *pattern, const char *name, char *out, size_t outlen)
{
    instantiate(pattern, name, strlen(name), out, outlen);
}

static const char SSL_PREFIX[] = "listeners.ssl.";
static const char WSS_PREFIX[] = "listeners.wss.";

static bool is_ssl_options_key(const struct rmq_cfg_key *k)
{
    return k->scope == RMQ_CFG_SSL && strstr(k->path, ".ssl_options.") != NULL;
}

bool rmq_cfg_key_fits(const struct rmq_cfg_key *k, enum rmq_listener_kind kind)
{
    switch (k->scope) {
    case RMQ_CFG_TCP:
        return kind == RMQ_LISTENER_TCP;
    case RMQ_CFG_SSL:
        return kind == RMQ_LISTENER_SSL || (kind == RMQ_LISTENER_WSS && is_ssl_options_key(k));
    case RMQ_CFG_WS:
        return kind == RMQ_LISTENER_WS;
    case RMQ_CFG_WSS:
        return kind == RMQ_LISTENER_WSS;
    case RMQ_CFG_GLOBAL:
    default:
        return false;
    }
}

enum rmq_listener_kind rmq_cfg_path_kind(const char *canon)
{
    static const struct {
        const char *prefix;
        enum rmq_listener_kind kind;
    } kinds[] = {{"listeners.ssl.", RMQ_LISTENER_SSL},
                 {"listeners.wss.", RMQ_LISTENER_WSS},
                 {"listeners.ws.", RMQ_LISTENER_WS}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strncmp(canon, kinds[i].prefix, strlen(kinds[i].prefix)) == 0) {
            return kinds[i].kind;
        }
    }
    return RMQ_LISTENER_TCP;
}

void rmq_cfg_instantiate_for(const struct rmq_cfg_key *k, enum rmq_listener_kind kind,
                             const char *name, char *out, size_t outlen)
{
    rmq_cfg_instantiate(k->path, name, out, outlen);
    if (kind == RMQ_LISTENER_WSS && k->scope == RMQ_CFG_SSL &&
        strncmp(out, SSL_PREFIX, sizeof SSL_PREFIX - 1) == 0) {
        memcpy(out, WSS_PREFIX, sizeof WSS_PREFIX - 1); /* same length */
    }
}

/* listeners.wss.<name>.ssl_options.*: the SSL listener's key of the same name. */
static const struct rmq_cfg_key *lookup_wss(const char *path, char *canon, size_t canonlen,
                                            char *name, size_t namelen, bool *alias)
{
    char mapped[RMQ_CFG_PATH_MAX];
    if (strncmp(path, WSS_PREFIX, sizeof WSS_PREFIX - 1) != 0 ||
        strstr(path, ".ssl_options.") == NULL ||
        snprintf(mapped, sizeof mapped, "%s%s", SSL_PREFIX, path + sizeof WSS_PREFIX - 1) >=
            (int)sizeof mapped) {
        return NULL;
    }
    const struct rmq_cfg_key *k = rmq_cfg_lookup(mapped, canon, canonlen, name, namelen, alias);
    if (k == NULL || *alias || !is_ssl_options_key(k)) {
        return NULL;
    }
    rmq_cfg_instantiate_for(k, RMQ_LISTENER_WSS, name, canon, canonlen);
    return k;
}

bool rmq_cfg_is_object_list(const char *path)
{
    size_t count, n = strlen(path);
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&count);
    for (size_t i = 0; i < count; i++) {
        const char *k = keys[i].path;
        if (n > 0 && strncmp(k, path, n) == 0 && strncmp(k + n, ".<n>.", 5) == 0) {
            return true;
        }
    }
    return false;
}

const struct rmq_cfg_key *rmq_cfg_lookup(const char *path, char *canon, size_t canonlen, char *name,
                                         size_t namelen, bool *alias)
{
    size_t count;
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&count);
    struct segs s;
    if (!split(path, &s)) {
        return NULL;
    }
    const struct rmq_cfg_key *wss = lookup_wss(path, canon, canonlen, name, namelen, alias);
    if (wss != NULL) {
        return wss;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < count; i++) {
            for (size_t a = 0; a < (pass == 0 ? 1 : RMQ_CFG_ALIASES_MAX); a++) {
                const char *pat = pass == 0 ? keys[i].path : keys[i].aliases[a];
                const char *nm = "";
                size_t nmlen = 0;
                if (pat == NULL || !match(pat, &s, &nm, &nmlen, max_positions(&keys[i]))) {
                    continue;
                }
                instantiate(keys[i].path, nm, nmlen, canon, canonlen);
                snprintf(name, namelen, "%.*s", (int)nmlen, nm);
                *alias = pass == 1;
                return &keys[i];
            }
        }
    }
    return NULL;
}

/* Edit distance between two short strings (SIZE_MAX when too long to bother). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strnlen(a, 256), lb = strnlen(b, 256), row[256];
    /* only small distances matter: lengths apart by more than 3 cannot be close */
    if (la > 200 || lb > 200 || la > lb + 3 || lb > la + 3) {
        return SIZE_MAX;
    }
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) {
                best = up + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            row[j] = best;
            diag = up;
        }
        size_t low = row[0];
        for (size_t j = 1; j <= lb; j++) {
            low = row[j] < low ? row[j] : low;
        }
        if (low > 3) {
            return SIZE_MAX; /* the distance only grows from here */
        }
    }
    return row[lb];
}

/* The path's segment where `pattern` has <name> or <n> (1..max_n, else "1"), or "default". */
static void name_for(const char *pattern, unsigned max_n, const struct segs *s, char *out,
                     size_t outlen)
{
    struct segs ps;
    snprintf(out, outlen, "default");
    if (!split(pattern, &ps) || ps.count != s->count) {
        return;
    }
    for (size_t i = 0; i < ps.count; i++) {
        if (ps.n[i] == 6 && memcmp(ps.p[i], "<name>", 6) == 0) {
            snprintf(out, outlen, "%.*s", (int)s->n[i], s->p[i]);
        } else if (ps.n[i] == 3 && memcmp(ps.p[i], "<n>", 3) == 0) {
            /* a position out of range is suggested as position 1 */
            snprintf(out, outlen, "%.*s", (int)s->n[i], s->p[i]);
            if (!valid_index(s->p[i], s->n[i], max_n)) {
                snprintf(out, outlen, "1");
            }
        }
    }
}

bool rmq_cfg_suggest(const char *path, char *out, size_t outlen)
{
    size_t count, best = 4; /* suggest only close matches: at most 3 edits */
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&count);
    struct segs s;
    if (!split(path, &s)) {
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        char name[64], cand[RMQ_CFG_PATH_MAX];
        name_for(keys[i].path, max_positions(&keys[i]), &s, name, sizeof name);
        rmq_cfg_instantiate(keys[i].path, name, cand, sizeof cand);
        size_t d = distance(path, cand);
        if (d < best) {
            best = d;
            snprintf(out, outlen, "%s", cand);
        }
    }
    return best < 4;
}

bool rmq_cfg_is_flat_alias(const char *path)
{
    char canon[RMQ_CFG_PATH_MAX], name[64];
    bool alias = false;
    return rmq_cfg_lookup(path, canon, sizeof canon, name, sizeof name, &alias) != NULL && alias;
}

/* ---- number parsing (bounded, no strto*) ----------------------------------------------- */

/* Reads decimal digits at *p (at least one); false on overflow or none. */
static bool digits(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    const char *q = *p;
    if (q == end || *q < '0' || *q > '9') {
        return false;
    }
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        unsigned d = (unsigned)(*q - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *p = q;
    *out = v;
    return true;
}

static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b != 0 && a > UINT64_MAX / b) {
        return false;
    }
    *out = a * b;
    return true;
}

static bool ieq(const char *a, size_t n, const char *b)
{
    size_t i = 0;
    for (; i < n && b[i] != '\0'; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != b[i]) {
            return false;
        }
    }
    return i == n && b[i] == '\0';
}

/* 1024, 64K, 64KB, 1MB, 1GB (powers of 1024, as EMQX). */
bool rmq_cfg__parse_bytesize(const char *s, size_t n, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {{"", 1},         {"b", 1},         {"k", 1u << 10}, {"kb", 1u << 10},
                 {"m", 1u << 20}, {"mb", 1u << 20}, {"g", 1u << 30}, {"gb", 1u << 30}};
    const char *p = s, *end = s + n;
    uint64_t v;
    if (!digits(&p, end, &v)) {
        return false;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ieq(p, (size_t)(end - p), units[i].unit)) {
            return mul_ok(v, units[i].mul, bytes);
        }
    }
    return false;
}

/* EMQX 5 rates: 1000/s, 10MB/s, 100/m, 1000/10s. The amount takes byte
 * units (for bytes_rate); the interval is a duration whose number may be
 * left out (s = 1s). Result: units per 1000 seconds, at least 1. */
bool rmq_cfg__parse_rate(const char *s, size_t n, uint64_t *per_ks)
{
    size_t slash = 0;
    while (slash < n && s[slash] != '/') {
        slash++;
    }
    uint64_t amount, ms, scaled;
    if (slash == 0 || slash + 1 >= n || !rmq_cfg__parse_bytesize(s, slash, &amount)) {
        return false;
    }
    const char *iv = s + slash + 1;
    size_t ivn = n - slash - 1;
    char buf[32];
    if (!(iv[0] >= '0' && iv[0] <= '9')) {
        if (ivn + 1 >= sizeof buf) {
            return false;
        }
        buf[0] = '1';
        memcpy(buf + 1, iv, ivn);
        iv = buf;
        ivn++;
    }
    if (rmq_duration_parse(iv, ivn, RMQ_DURATION_BARE_ZERO, &ms) != RMQ_OK || ms == 0 ||
        !mul_ok(amount, 1000000, &scaled)) {
        return false;
    }
    *per_ks = scaled / ms;
    return *per_ks > 0;
}

void rmq_cfg_format_rate(uint64_t per_ks, char *out, size_t outlen)
{
    if (per_ks == UINT64_MAX) {
        snprintf(out, outlen, "infinity");
    } else if (per_ks % 1000 == 0) {
        snprintf(out, outlen, "%llu/s", (unsigned long long)(per_ks / 1000));
    } else {
        snprintf(out, outlen, "%llu/1000s", (unsigned long long)per_ks);
    }
}

/* Optional '-', digits, optional '.' digits. */
bool rmq_cfg__parse_float(const char *s, size_t n, double *out)
{
    const char *p = s, *end = s + n;
    bool neg = false;
    uint64_t ip, fp = 0;
    double scale = 1.0;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (!digits(&p, end, &ip) || ip > 1000000000ull) {
        return false;
    }
    if (p < end && *p == '.') {
        p++;
        const char *f = p;
        if (!digits(&p, end, &fp) || p - f > 9) {
            return false;
        }
        for (const char *q = f; q < p; q++) {
            scale *= 10.0;
        }
    }
    if (p != end) {
        return false;
    }
    *out = ((double)ip + (double)fp / scale) * (neg ? -1.0 : 1.0);
    return true;
}

bool rmq_cfg__parse_int(const char *s, size_t n, int64_t *out)
{
    const char *p = s, *end = s + n;
    bool neg = n > 0 && *p == '-';
    uint64_t v;
    if (neg) {
        p++;
    }
    if (!digits(&p, end, &v) || p != end || v > (uint64_t)INT64_MAX) {
        return false;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* ---- formatting helpers -------------------------------------------------------------- */

void rmq_cfg_format_duration(uint64_t ms, char *out, size_t outlen)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    if (ms == 0) {
        snprintf(out, outlen, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms % units[i].ms == 0) {
            snprintf(out, outlen, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
    snprintf(out, outlen, "%llums", (unsigned long long)ms);
}

void rmq_cfg_format_bytesize(uint64_t bytes, char *out, size_t outlen)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {{"GB", 1u << 30}, {"MB", 1u << 20}, {"KB", 1u << 10}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (bytes != 0 && bytes % units[i].mul == 0) {
            snprintf(out, outlen, "%llu%s", (unsigned long long)(bytes / units[i].mul),
                     units[i].unit);
            return;
        }
    }
    snprintf(out, outlen, "%llu", (unsigned long long)bytes);
}

static void format_num(const struct rmq_cfg_key *k, int64_t v, char *out, size_t outlen)
{
    char tmp[32];
    if (k->type == RMQ_CFG_DURATION) {
        rmq_cfg_format_duration((uint64_t)v, tmp, sizeof tmp);
    } else if (k->type == RMQ_CFG_BYTESIZE) {
        rmq_cfg_format_bytesize((uint64_t)v, tmp, sizeof tmp);
    } else if (k->type == RMQ_CFG_RATE) {
        rmq_cfg_format_rate((uint64_t)v, tmp, sizeof tmp);
    } else {
        snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    }
    snprintf(out, outlen, "%s", tmp);
}

static void join_values(const char *const *values, const char *sep, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; values != NULL && values[i] != NULL; i++) {
        int w = snprintf(out + n, outlen - n, "%s%s", i ? sep : "", values[i]);
        if (w < 0 || (size_t)w >= outlen - n) {
            return;
        }
        n += (size_t)w;
    }
}

const char *rmq_cfg_type_name(const struct rmq_cfg_key *k)
{
    switch (k->type) {
    case RMQ_CFG_BOOL:
        return "boolean";
    case RMQ_CFG_INT:
        return "integer";
    case RMQ_CFG_FLOAT:
        return "number";
    case RMQ_CFG_DURATION:
        return "duration";
    case RMQ_CFG_BYTESIZE:
        return "byte size";
    case RMQ_CFG_STRING:
        return (k->flags & RMQ_CFG_F_JOIN) ? "string (or array of strings)" : "string";
    case RMQ_CFG_PATH:
        return "path";
    case RMQ_CFG_ENUM:
        return "enum";
    case RMQ_CFG_STRLIST:
        return "array of strings";
    case RMQ_CFG_BIND:
        return "bind address";
    case RMQ_CFG_TLSVERSIONS:
        return "array of TLS versions";
    case RMQ_CFG_RATE:
        return "rate";
    default:
        return "?";
    }
}

void rmq_cfg_allowed(const struct rmq_cfg_key *k, char *out, size_t outlen)
{
    char lo[48], hi[48], vals[200];
    format_num(k, k->min, lo, sizeof lo);
    format_num(k, k->max, hi, sizeof hi);
    const char *extra = (k->flags & RMQ_CFG_F_INFINITY)        ? ", or infinity"
                        : (k->flags & RMQ_CFG_F_DISABLED_ZERO) ? ", or disabled"
                                                               : "";
    switch (k->type) {
    case RMQ_CFG_BOOL:
        snprintf(out, outlen, "true or false");
        break;
    case RMQ_CFG_INT:
        snprintf(out, outlen, "an integer from %s to %s%s", lo, hi, extra);
        break;
    case RMQ_CFG_FLOAT:
        snprintf(out, outlen, "a number from %g to %g", k->fmin, k->fmax);
        break;
    case RMQ_CFG_DURATION:
        snprintf(out, outlen,
                 "a duration from %s to %s (units ms, s, m, h, d, w, y, e.g. 500ms, 15s, "
                 "1h30m)",
                 lo, hi);
        break;
    case RMQ_CFG_BYTESIZE:
        snprintf(out, outlen, "a size from %s to %s (e.g. 512KB, 64MB, 1GB; K/KB, M/MB, G/GB)", lo,
                 hi);
        break;
    case RMQ_CFG_RATE:
        snprintf(out, outlen,
                 "a rate from %s to %s%s: amount/interval, e.g. 1000/s, 10MB/s, 100/m, 500/10s", lo,
                 hi, extra);
        break;
    case RMQ_CFG_STRING:
    case RMQ_CFG_PATH:
        snprintf(out, outlen, "%s",
                 (k->flags & RMQ_CFG_F_OPTIONAL) ? "a string (\"\" = not set)"
                                                 : "a non-empty string");
        break;
    case RMQ_CFG_ENUM:
        join_values(k->values, ", ", vals, sizeof vals);
        snprintf(out, outlen, "one of: %s", vals);
        break;
    case RMQ_CFG_STRLIST:
        snprintf(out, outlen, "an array [a, b] or a comma- or space-separated string");
        break;
    case RMQ_CFG_BIND:
        snprintf(out, outlen, "host:port, [ipv6]:port or a port, port from 0 to 65535");
        break;
    case RMQ_CFG_TLSVERSIONS:
        join_values(k->values, ", ", vals, sizeof vals);
        snprintf(out, outlen, "a non-empty list of: %s (older versions are refused)", vals);
        break;
    default:
        snprintf(out, outlen, "?");
        break;
    }
}
