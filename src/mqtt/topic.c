/* topic.c — topic validation and matching; see topic.h. */
#include "mqtt/topic.h"

#include <string.h>

static rmq_err check_common(const char *t, size_t len, uint32_t max_levels)
{
    if (len == 0) {
        return RMQ_ERR_INVALID; /* MQTT-4.7.3-1 */
    }
    uint32_t levels = 1;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '\0') {
            return RMQ_ERR_INVALID; /* MQTT-4.7.3-2 */
        }
        if (t[i] == '/') {
            levels++;
        }
    }
    if (max_levels && levels > max_levels) {
        return RMQ_ERR_INVALID;
    }
    return RMQ_OK;
}

rmq_err rmq_topic_check_name(const char *t, size_t len, uint32_t max_levels)
{
    RMQ_TRY(check_common(t, len, max_levels));
    if (rmq_topic_has_wildcard(t, len)) {
        return RMQ_ERR_INVALID; /* MQTT-3.3.2-2 */
    }
    return RMQ_OK;
}

rmq_err rmq_topic_check_filter(const char *f, size_t len, uint32_t max_levels)
{
    RMQ_TRY(check_common(f, len, max_levels));
    for (size_t i = 0; i < len; i++) {
        bool at_start = i == 0 || f[i - 1] == '/';
        bool at_end = i + 1 == len || f[i + 1] == '/';
        if (f[i] == '#') {
            if (!at_start || i + 1 != len) {
                return RMQ_ERR_INVALID; /* MQTT-4.7.1-2 */
            }
        } else if (f[i] == '+') {
            if (!at_start || !at_end) {
                return RMQ_ERR_INVALID; /* MQTT-4.7.1-3 */
            }
        }
    }
    return RMQ_OK;
}

bool rmq_topic_has_wildcard(const char *f, size_t len)
{
    return memchr(f, '+', len) != NULL || memchr(f, '#', len) != NULL;
}

bool rmq_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen)
{
    size_t fi = 0;
    size_t ti = 0;
    if (tlen > 0 && topic[0] == '$' && flen > 0 && (filter[0] == '+' || filter[0] == '#')) {
        return false; /* MQTT-4.7.2-1 */
    }
    for (;;) {
        if (fi < flen && filter[fi] == '#') {
            return true; /* matches the parent level and everything below */
        }
        /* Extent of the current level in each. */
        size_t fe = fi;
        while (fe < flen && filter[fe] != '/') {
            fe++;
        }
        size_t te = ti;
        while (te < tlen && topic[te] != '/') {
            te++;
        }
        bool plus = fe - fi == 1 && filter[fi] == '+';
        if (!plus && (fe - fi != te - ti || memcmp(filter + fi, topic + ti, fe - fi) != 0)) {
            return false;
        }
        bool f_last = fe == flen;
        bool t_last = te == tlen;
        if (f_last && t_last) {
            return true;
        }
        if (t_last) {
            /* "a/#" matches "a": the filter continues with exactly "/#". */
            return fe + 2 == flen && filter[fe + 1] == '#';
        }
        if (f_last) {
            return false;
        }
        fi = fe + 1;
        ti = te + 1;
    }
}

rmq_err rmq_topic_split_shared(const char *f, size_t len, struct rmq_topic_shared *out)
{
    static const char prefix[] = "$share/";
    const size_t plen = sizeof prefix - 1;
    memset(out, 0, sizeof *out);
    out->filter = f;
    out->filter_len = len;
    if (len < plen || memcmp(f, prefix, plen) != 0) {
        return RMQ_OK;
    }
    const char *g = f + plen;
    size_t rest = len - plen;
    const char *slash = memchr(g, '/', rest);
    if (!slash || slash == g) {
        return RMQ_ERR_INVALID; /* no group or no filter */
    }
    size_t glen = (size_t)(slash - g);
    if (memchr(g, '+', glen) || memchr(g, '#', glen)) {
        return RMQ_ERR_INVALID;
    }
    size_t flen = rest - glen - 1;
    if (flen == 0) {
        return RMQ_ERR_INVALID;
    }
    out->is_shared = true;
    out->group = g;
    out->group_len = glen;
    out->filter = slash + 1;
    out->filter_len = flen;
    return RMQ_OK;
}
