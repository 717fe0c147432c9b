/* duration.c — the one duration grammar; see duration.h. */
#include "common/duration.h"

#include <stdbool.h>

struct unit {
    const char *name;
    uint64_t ms;
};

/* Longest names first where one is a prefix of another ("ms" before "m"). */
static const struct unit units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60000},
    {"h", 3600000},
    {"d", 86400000},
    {"w", 7 * 86400000ull},
    {"y", 365 * 86400000ull},
};

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_alpha(char c)
{
    c = lower(c);
    return c >= 'a' && c <= 'z';
}

/* The unit spelled by exactly [u, u+n), or NULL. */
static const struct unit *find_unit(const char *u, size_t n)
{
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t k = 0;
        while (k < n && units[i].name[k] != '\0' && lower(u[k]) == units[i].name[k]) {
            k++;
        }
        if (k == n && units[i].name[k] == '\0') {
            return &units[i];
        }
    }
    return NULL;
}

rmq_err rmq_duration_parse(const char *s, size_t n, enum rmq_duration_bare bare, uint64_t *ms)
{
    size_t i = 0;
    uint64_t total = 0;
    if (s == NULL || n == 0) {
        return RMQ_ERR_INVALID;
    }
    while (i < n) {
        uint64_t v = 0;
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > RMQ_DURATION_MAX_MS) {
                return RMQ_ERR_INVALID;
            }
            i++;
        }
        if (i == start) {
            return RMQ_ERR_INVALID; /* a unit without a number, or a stray character */
        }
        size_t ustart = i;
        while (i < n && is_alpha(s[i])) {
            i++;
        }
        if (ustart == i) {
            /* A bare number: only as the whole value. */
            if (start != 0 || i != n) {
                return RMQ_ERR_INVALID;
            }
            if (v != 0 && bare != RMQ_DURATION_BARE_S) {
                return RMQ_ERR_INVALID;
            }
            if (v > RMQ_DURATION_MAX_MS / 1000u) {
                return RMQ_ERR_INVALID;
            }
            *ms = v * 1000u;
            return RMQ_OK;
        }
        const struct unit *u = find_unit(s + ustart, i - ustart);
        if (u == NULL || v > (RMQ_DURATION_MAX_MS - total) / u->ms) {
            return RMQ_ERR_INVALID;
        }
        total += v * u->ms;
    }
    *ms = total;
    return RMQ_OK;
}
