/*
 * env.c — the environment overlay: REVMQ_A__B__C=value and EMQX_A__B__C=value
 * set key a.b.c (`__` separates path parts, names are lower-cased, a single
 * `_` stays). Values parse like the right-hand side of a HOCON assignment
 * (rmq_cfg_parse_value). Unknown keys: REVMQ_ -> error, EMQX_ -> one warning
 * each (EMQX images set variables such as EMQX_NODE__COOKIE that revmq does
 * not use). EMQX_ variables are applied first, so REVMQ_ wins for one key.
 *
 * Reads only the given envp array, never the process environment.
 */
#include <stdio.h>
#include <string.h>

#include "common/reader.h"
#include "config/config_int.h"
#include "config/parse.h"

#define ENV_MAX (64u << 10) /* longest NAME=value considered */

struct prefix {
    const char *name;
    size_t len;
    bool unknown_is_warning;
};

static const struct prefix prefixes[] = {{"EMQX_", 5, true}, {"REVMQ_", 6, false}};

/* NAME (after the prefix) -> dotted lower-case path; false if it cannot be a key. */
static bool env_to_path(const uint8_t *name, size_t n, char *path, size_t pathlen)
{
    size_t o = 0;
    struct rmq_reader r = rmq_reader_make(name, n);
    uint8_t c;
    if (n == 0 || n >= pathlen) {
        return false;
    }
    while (rmq_reader_u8(&r, &c) == RMQ_OK) {
        if (c == '_' && rmq_reader_left(&r) > 0 && r.data[r.off] == '_') {
            r.off++;
            c = '.';
        } else if (c >= 'A' && c <= 'Z') {
            c = (uint8_t)(c - 'A' + 'a');
        }
        path[o++] = (char)c;
    }
    path[o] = '\0';
    return true;
}

static rmq_err apply_one(struct rmq_cfg_load *ld, const char *var, const struct prefix *px)
{
    size_t len = strnlen(var, ENV_MAX + 1);
    char path[RMQ_CFG_PATH_MAX], origin[RMQ_CFG_PATH_MAX + 16], why[256];
    const uint8_t *eq = memchr(var, '=', len);
    if (eq == NULL || len > ENV_MAX) {
        return RMQ_OK;
    }
    size_t namelen = (size_t)(eq - (const uint8_t *)var);
    snprintf(origin, sizeof origin, "env %.*s", (int)(namelen < 400 ? namelen : 400), var);
    if (!env_to_path((const uint8_t *)var + px->len, namelen - px->len, path, sizeof path)) {
        if (px->unknown_is_warning) {
            rmq_cfg_warning(ld, "%s: not a configuration key, ignored", origin);
        } else {
            rmq_cfg_error(ld, "%s: not a configuration key (REVMQ_A__B__C sets a.b.c)", origin);
        }
        return RMQ_OK;
    }
    struct rmq_cfg_value v;
    const char *value = (const char *)eq + 1;
    if (rmq_cfg_parse_value(value, len - namelen - 1, &v, why, sizeof why) != RMQ_OK) {
        rmq_cfg_error(ld, "%s: %s = %.200s: %s", origin, path, value, why);
        return RMQ_OK;
    }
    rmq_err e = rmq_cfg_assign(ld, path, &v, origin, px->unknown_is_warning);
    rmq_cfg_value_clear(&v);
    return e;
}

rmq_err rmq_cfg_env_apply(struct rmq_cfg_load *ld, char *const *envp)
{
    for (size_t p = 0; envp != NULL && p < sizeof prefixes / sizeof prefixes[0]; p++) {
        for (size_t i = 0; envp[i] != NULL; i++) {
            if (strncmp(envp[i], prefixes[p].name, prefixes[p].len) == 0) {
                RMQ_TRY(apply_one(ld, envp[i], &prefixes[p]));
            }
        }
    }
    return RMQ_OK;
}
