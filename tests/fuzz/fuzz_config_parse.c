/*
 * fuzz_config_parse.c — libFuzzer target over the whole config loader: the
 * HOCON/EMQX 4.4 parser, the schema conversions, the environment overlay and
 * the cross-key checks, then --check-config printing. Input: config text,
 * optionally followed by a line "\n%%env\n" and environment lines (NAME=value).
 * Everything is freed (LeakSanitizer checks).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "config/settings.h"

#define ENV_MAX 16

static size_t split_env(const uint8_t *data, size_t size, char **env)
{
    static const char sep[] = "\n%%env\n";
    const uint8_t *at = memmem(data, size, sep, sizeof sep - 1);
    size_t n = 0;
    if (at == NULL) {
        return size;
    }
    const uint8_t *p = at + sizeof sep - 1, *end = data + size;
    while (p < end && n < ENV_MAX) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *stop = nl != NULL ? nl : end;
        env[n++] = strndup((const char *)p, (size_t)(stop - p));
        p = nl != NULL ? nl + 1 : end;
    }
    return (size_t)(at - data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *env[ENV_MAX + 1] = {0};
    struct rmq_settings *s = NULL;
    char *err = NULL;
    rmq_log_set_level(RMQ_LOG_CRITICAL); /* warnings for EMQX_ keys would flood stderr */
    size_t textlen = split_env(data, size, env);
    /* `include` reads real files (any path the input names, e.g. a /proc file
     * that blocks): not here. The include grammar has unit tests. */
    if (memmem(data, textlen, "include", 7) != NULL) {
        for (size_t i = 0; env[i] != NULL; i++) {
            free(env[i]);
        }
        return 0;
    }
    /* the loader must not read past `textlen`: give it an exact-size heap copy */
    char *text = malloc(textlen ? textlen : 1);
    if (textlen > 0) {
        memcpy(text, data, textlen);
    }
    if (rmq_settings_load_buffer("fuzz.conf", text, textlen, env, &s, &err) == RMQ_OK) {
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        if (f != NULL) {
            rmq_settings_print(s, f);
            fclose(f);
        }
        free(out);
        if (err != NULL) {
            abort(); /* success never leaves an error message */
        }
    } else if (s != NULL || err == NULL) {
        abort(); /* failure always explains itself and returns nothing */
    }
    rmq_settings_free(s);
    free(err);
    free(text);
    for (size_t i = 0; env[i] != NULL; i++) {
        free(env[i]);
    }
    return 0;
}
