/* util.c — pure helpers of revmq-ca: durations, URL templates, CRL reason
 * names, serial numbers, HTTP path routing. No I/O; see ca.h. */
#include "ca/ca.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/duration.h"
#include "common/reader.h"

/* Unsigned duration in whole seconds, 0 allowed: the one grammar of
 * common/duration.h, a bare number meaning seconds. */
static rmq_err duration_parse0(const char *s, int64_t *secs)
{
    uint64_t ms = 0;
    if (s == NULL) {
        return RMQ_ERR_INVALID;
    }
    RMQ_TRY(rmq_duration_parse(s, strlen(s), RMQ_DURATION_BARE_S, &ms));
    if (ms % 1000u != 0) {
        return RMQ_ERR_INVALID; /* certificates and CRLs count whole seconds */
    }
    *secs = (int64_t)(ms / 1000u);
    return RMQ_OK;
}

rmq_err rmq_ca_duration_parse(const char *s, int64_t *secs)
{
    int64_t v = 0;
    RMQ_TRY(duration_parse0(s, &v));
    if (v <= 0) {
        return RMQ_ERR_INVALID;
    }
    *secs = v;
    return RMQ_OK;
}

rmq_err rmq_ca_time_parse(const char *s, int64_t now, int64_t *t)
{
    int64_t v = 0;
    if (s == NULL || *s == '\0') {
        return RMQ_ERR_INVALID;
    }
    if (s[0] == '@') {
        char *end = NULL;
        long long x = strtoll(s + 1, &end, 10);
        if (end == s + 1 || *end != '\0' || x < 0 || x > RMQ_CA_TIME_MAX) {
            return RMQ_ERR_INVALID;
        }
        *t = (int64_t)x;
        return RMQ_OK;
    }
    int sign = 1;
    if (s[0] == '-' || s[0] == '+') {
        sign = s[0] == '-' ? -1 : 1;
        s++;
    }
    RMQ_TRY(duration_parse0(s, &v));
    *t = now + sign * v;
    return RMQ_OK;
}

static rmq_err append(char *out, size_t outsz, size_t *pos, const char *s, size_t n)
{
    if (n >= outsz - *pos) {
        return RMQ_ERR_TOO_LARGE;
    }
    memcpy(out + *pos, s, n);
    *pos += n;
    out[*pos] = '\0';
    return RMQ_OK;
}

rmq_err rmq_ca_template_expand(const char *tpl, const struct rmq_ca_tvars *v, char *out,
                               size_t outsz)
{
    size_t pos = 0;
    char verbuf[16];
    if (outsz == 0) {
        return RMQ_ERR_TOO_LARGE;
    }
    out[0] = '\0';
    snprintf(verbuf, sizeof(verbuf), "%d", v->version);
    const struct {
        const char *name;
        const char *value;
    } vars[] = {
        {"SYS_TENANT_NAME", v->tenant_name},
        {"SYS_TENANT_UUID", v->tenant_uuid},
        {"SYS_CA_NAME", v->ca_name},
        {"SYS_CA_VERSION", verbuf},
    };
    const char *p = tpl;
    while (*p != '\0') {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (end == NULL) {
                return RMQ_ERR_INVALID;
            }
            size_t nl = (size_t)(end - (p + 2));
            size_t i = 0;
            for (; i < sizeof(vars) / sizeof(vars[0]); i++) {
                if (strlen(vars[i].name) == nl && memcmp(vars[i].name, p + 2, nl) == 0) {
                    break;
                }
            }
            if (i == sizeof(vars) / sizeof(vars[0]) || vars[i].value == NULL) {
                return RMQ_ERR_INVALID;
            }
            RMQ_TRY(append(out, outsz, &pos, vars[i].value, strlen(vars[i].value)));
            p = end + 1;
            continue;
        }
        RMQ_TRY(append(out, outsz, &pos, p, 1));
        p++;
    }
    return RMQ_OK;
}

rmq_err rmq_ca_template_check(const char *tpl)
{
    char buf[2048];
    const struct rmq_ca_tvars v = {"tenant", "00000000-0000-4000-8000-000000000000", "ca", 1};
    RMQ_TRY(rmq_ca_template_expand(tpl, &v, buf, sizeof(buf)));
    if (strncmp(buf, "http://", 7) != 0 && strncmp(buf, "https://", 8) != 0) {
        return RMQ_ERR_INVALID;
    }
    for (const char *p = buf; *p != '\0'; p++) {
        if (isspace((unsigned char)*p) || *p == ',' || !isprint((unsigned char)*p)) {
            return RMQ_ERR_INVALID;
        }
    }
    return RMQ_OK;
}

/* RFC 5280 5.3.1 */
static const char *const reason_names[] = {
    "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
    "superseded",    "cessationOfOperation", "certificateHold", NULL,
    "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
};

rmq_err rmq_ca_reason_parse(const char *name, int *code)
{
    for (int i = 0; i < (int)(sizeof(reason_names) / sizeof(reason_names[0])); i++) {
        if (reason_names[i] != NULL && strcasecmp(name, reason_names[i]) == 0) {
            *code = i;
            return RMQ_OK;
        }
    }
    return RMQ_ERR_INVALID;
}

const char *rmq_ca_reason_name(int code)
{
    if (code < 0 || code >= (int)(sizeof(reason_names) / sizeof(reason_names[0])) ||
        reason_names[code] == NULL) {
        return "?";
    }
    return reason_names[code];
}

rmq_err rmq_ca_serial_normalize(const char *in, char *out, size_t outsz)
{
    size_t n = 0;
    bool leading = true;
    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) {
        in += 2;
    }
    if (*in == '\0') {
        return RMQ_ERR_INVALID;
    }
    for (; *in != '\0'; in++) {
        if (*in == ':') {
            continue;
        }
        if (!isxdigit((unsigned char)*in)) {
            return RMQ_ERR_INVALID;
        }
        if (leading && *in == '0') {
            continue;
        }
        leading = false;
        if (n + 1 >= outsz || n >= 80) {
            return RMQ_ERR_INVALID;
        }
        out[n++] = (char)toupper((unsigned char)*in);
    }
    if (n == 0) {
        if (outsz < 2) {
            return RMQ_ERR_INVALID;
        }
        out[n++] = '0';
    }
    out[n] = '\0';
    return RMQ_OK;
}

bool rmq_ca_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

int64_t rmq_ca_now(void)
{
    const char *e = getenv("REVMQ_CA_NOW");
    if (e != NULL && *e != '\0') {
        char *end = NULL;
        long long v = strtoll(e, &end, 10);
        if (end != e && *end == '\0' && v >= 0 && v <= RMQ_CA_TIME_MAX) {
            return (int64_t)v;
        }
    }
    return (int64_t)time(NULL);
}

/* ---- routing ---- */

static int hexval(uint8_t c)
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

/* Percent-decodes [p, p+n) into out (cap outsz incl. NUL). Rejects NUL bytes
 * and bad escapes (RMQ_ERR_NOT_FOUND), overlong (RMQ_ERR_TOO_LARGE). */
static rmq_err pct_decode(const uint8_t *p, size_t n, char *out, size_t outsz)
{
    struct rmq_reader r = rmq_reader_make(p, n);
    size_t o = 0;
    while (rmq_reader_left(&r) > 0) {
        uint8_t c = 0;
        RMQ_TRY(rmq_reader_u8(&r, &c));
        if (c == '%') {
            const uint8_t *h = NULL;
            if (rmq_reader_bytes(&r, 2, &h) != RMQ_OK) {
                return RMQ_ERR_NOT_FOUND;
            }
            int hi = hexval(h[0]);
            int lo = hexval(h[1]);
            if (hi < 0 || lo < 0) {
                return RMQ_ERR_NOT_FOUND;
            }
            c = (uint8_t)(hi * 16 + lo);
        }
        if (c == '\0') {
            return RMQ_ERR_NOT_FOUND;
        }
        if (o + 1 >= outsz) {
            return RMQ_ERR_TOO_LARGE;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return RMQ_OK;
}

/* Next segment up to a slash; seg and n borrowed. RMQ_ERR_EOF at the end. */
static rmq_err next_segment(struct rmq_reader *r, const uint8_t **seg, size_t *n)
{
    if (rmq_reader_left(r) == 0) {
        return RMQ_ERR_EOF;
    }
    const uint8_t *start = r->data + r->off;
    const uint8_t *slash = memchr(start, '/', rmq_reader_left(r));
    size_t len = slash ? (size_t)(slash - start) : rmq_reader_left(r);
    *seg = start;
    *n = len;
    RMQ_TRY(rmq_reader_skip(r, len));
    if (slash != NULL) {
        RMQ_TRY(rmq_reader_skip(r, 1));
    }
    return RMQ_OK;
}

static rmq_err seg_name(struct rmq_reader *r, char *out, size_t outsz)
{
    const uint8_t *seg = NULL;
    size_t n = 0;
    if (next_segment(r, &seg, &n) != RMQ_OK || n == 0) {
        return RMQ_ERR_NOT_FOUND;
    }
    RMQ_TRY(pct_decode(seg, n, out, outsz));
    return RMQ_OK;
}

static rmq_err seg_version(struct rmq_reader *r, int *version)
{
    const uint8_t *seg = NULL;
    size_t n = 0;
    if (next_segment(r, &seg, &n) != RMQ_OK || n == 0 || n > 9) {
        return RMQ_ERR_NOT_FOUND;
    }
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (seg[i] < '0' || seg[i] > '9') {
            return RMQ_ERR_NOT_FOUND;
        }
        v = v * 10 + (seg[i] - '0');
    }
    if (v <= 0) {
        return RMQ_ERR_NOT_FOUND;
    }
    *version = v;
    return RMQ_OK;
}

rmq_err rmq_ca_route_parse(const char *target, size_t len, struct rmq_ca_route *out)
{
    const uint8_t *q = memchr(target, '?', len);
    if (q != NULL) {
        len = (size_t)(q - (const uint8_t *)target);
    }
    memset(out, 0, sizeof(*out));
    struct rmq_reader r = rmq_reader_make(target, len);
    uint8_t c = 0;
    if (rmq_reader_u8(&r, &c) != RMQ_OK || c != '/') {
        return RMQ_ERR_NOT_FOUND;
    }
    const uint8_t *seg = NULL;
    size_t n = 0;
    if (next_segment(&r, &seg, &n) != RMQ_OK) {
        return RMQ_ERR_NOT_FOUND;
    }
    if ((n == 3 && memcmp(seg, "crl", 3) == 0) || (n == 7 && memcmp(seg, "crl-pem", 7) == 0)) {
        out->kind = n == 3 ? RMQ_CA_ROUTE_CRL_DER : RMQ_CA_ROUTE_CRL_PEM;
        RMQ_TRY(seg_name(&r, out->tenant, sizeof(out->tenant)));
        RMQ_TRY(seg_name(&r, out->ca, sizeof(out->ca)));
        RMQ_TRY(seg_version(&r, &out->version));
        bool trailing_slash = target[len - 1] == '/';
        return rmq_reader_left(&r) == 0 && !trailing_slash ? RMQ_OK : RMQ_ERR_NOT_FOUND;
    }
    if (n == 4 && memcmp(seg, "ocsp", 4) == 0) {
        RMQ_TRY(seg_name(&r, out->tenant, sizeof(out->tenant)));
        RMQ_TRY(seg_name(&r, out->ca, sizeof(out->ca)));
        if (rmq_reader_left(&r) == 0) {
            out->kind = RMQ_CA_ROUTE_OCSP;
            return RMQ_OK;
        }
        /* RFC 6960 A.1: the rest (which may contain '/') is the url-encoded
         * base64 DER request. */
        out->kind = RMQ_CA_ROUTE_OCSP_GET;
        const uint8_t *rest = NULL;
        size_t restn = rmq_reader_left(&r);
        RMQ_TRY(rmq_reader_bytes(&r, restn, &rest));
        return pct_decode(rest, restn, out->b64, sizeof(out->b64));
    }
    return RMQ_ERR_NOT_FOUND;
}
