/*
 * test_config_docs.c — docs/configuration.md is in step with the schema:
 * exactly one entry per key, no entry for a key that does not exist, and the
 * file equals what rmq_settings_write_docs generates. With RMQ_UPDATE_DOCS=1
 * the file is rewritten first. Also: every default and example in the table
 * is a valid value for its key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config_int.h"
#include "config/parse.h"
#include "config/schema.h"
#include "config/settings.h"

__attribute__((noinline)) static char *generated(size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    rmq_settings_write_docs(f);
    fclose(f);
    return buf;
}

static char *doc_path(void)
{
    const char *src = getenv("RMQ_SOURCE_DIR");
    char *path = NULL;
    if (src == NULL) {
        src = ".";
    }
    assert_true(asprintf(&path, "%s/docs/configuration.md", src) > 0);
    return path;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s (set RMQ_SOURCE_DIR; RMQ_UPDATE_DOCS=1 generates it)", path);
    }
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len + 4096 > cap) {
            cap = cap * 2 + 4096;
            buf = realloc(buf, cap + 1);
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0) {
            break;
        }
    }
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

static void maybe_update(void)
{
    const char *u = getenv("RMQ_UPDATE_DOCS");
    if (u == NULL || strcmp(u, "1") != 0) {
        return;
    }
    char *path = doc_path();
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    rmq_settings_write_docs(f);
    fclose(f);
    free(path);
}

static void test_docs__one_entry_per_key_and_no_others(void **state)
{
    (void)state;
    maybe_update();
    char *path = doc_path();
    size_t len, count;
    char *doc = read_all(path, &len);
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&count);
    int *seen = calloc(count, sizeof *seen);
    for (char *line = strtok(doc, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "### ", 4) != 0) {
            continue;
        }
        size_t i = 0;
        while (i < count && strcmp(keys[i].path, line + 4) != 0) {
            i++;
        }
        if (i == count) {
            fail_msg("%s has an entry for %s, which is not in the schema", path, line + 4);
        }
        seen[i]++;
    }
    for (size_t i = 0; i < count; i++) {
        if (seen[i] != 1) {
            fail_msg("%s has %d entries for %s (want exactly 1)", path, seen[i], keys[i].path);
        }
    }
    free(seen);
    free(doc);
    free(path);
}

static void test_docs__checked_in_file_equals_generated(void **state)
{
    (void)state;
    char *path = doc_path();
    size_t dlen, glen;
    char *doc = read_all(path, &dlen);
    char *gen = generated(&glen);
    if (dlen != glen || memcmp(doc, gen, glen) != 0) {
        fail_msg("%s differs from the schema; regenerate: RMQ_UPDATE_DOCS=1 ctest -R "
                 "test_config_docs",
                 path);
    }
    free(doc);
    free(gen);
    free(path);
}

static void check_value(const struct rmq_cfg_key *k, const char *text, const char *what)
{
    struct rmq_cfg_value v;
    struct rmq_cfg_typed t;
    char why[400];
    if (rmq_cfg_parse_value(text, strlen(text), &v, why, sizeof why) != RMQ_OK) {
        fail_msg("%s: %s '%s' does not parse: %s", k->path, what, text, why);
    }
    if (rmq_cfg_convert(k, &v, &t, why, sizeof why) != RMQ_OK) {
        fail_msg("%s: %s '%s' is not valid: %s", k->path, what, text, why);
    }
    rmq_cfg_value_clear(&v);
    rmq_cfg_typed_clear(&t);
}

static void test_schema__defaults_and_examples_are_valid(void **state)
{
    (void)state;
    size_t count;
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&count);
    for (size_t i = 0; i < count; i++) {
        const struct rmq_cfg_key *k = &keys[i];
        assert_non_null(k->doc);
        assert_non_null(k->example);
        if (k->def != NULL) {
            check_value(k, k->def, "default");
        }
        check_value(k, k->example, "example");
        for (size_t a = 0; a < RMQ_CFG_ALIASES_MAX && k->aliases[a] != NULL; a++) {
            char canon[RMQ_CFG_PATH_MAX], name[64], concrete[RMQ_CFG_PATH_MAX];
            bool alias = false;
            rmq_cfg_instantiate(k->aliases[a], "external", concrete, sizeof concrete);
            assert_ptr_equal(
                rmq_cfg_lookup(concrete, canon, sizeof canon, name, sizeof name, &alias), k);
            assert_true(alias);
            assert_true(rmq_cfg_is_flat_alias(concrete));
        }
    }
}

static rmq_err block_entry(void *arg, const char *path, const struct rmq_cfg_value *v,
                           unsigned line)
{
    char canon[RMQ_CFG_PATH_MAX], name[64], why[400];
    bool alias = false;
    struct rmq_cfg_typed t;
    const struct rmq_cfg_key *k =
        rmq_cfg_lookup(path, canon, sizeof canon, name, sizeof name, &alias);
    if (k == NULL) {
        fail_msg("docs example uses unknown key %s", path);
    }
    if (rmq_cfg_convert(k, v, &t, why, sizeof why) != RMQ_OK) {
        fail_msg("docs example: %s: %s", path, why);
    }
    rmq_cfg_typed_clear(&t);
    ++*(int *)arg;
    return RMQ_OK;
}

static void block_error(void *arg, unsigned line, const char *msg)
{
    fail_msg("docs example, line %u of a block: %s", line, msg);
}

static bool block_raw(const char *path, void *arg)
{
    return rmq_cfg_is_flat_alias(path);
}

/* Every ```hocon block of the reference parses and uses only valid keys and values. */
static void test_docs__examples_parse(void **state)
{
    (void)state;
    size_t glen;
    char *gen = generated(&glen);
    int entries = 0, blocks = 0;
    struct rmq_cfg_parse_ops ops = {
        .is_raw_key = block_raw, .on_entry = block_entry, .on_error = block_error, .arg = &entries};
    for (char *p = strstr(gen, "```hocon\n"); p != NULL; p = strstr(p, "```hocon\n")) {
        p += 9;
        char *end = strstr(p, "```\n");
        assert_non_null(end);
        assert_int_equal(rmq_cfg_parse(p, (size_t)(end - p), &ops), RMQ_OK);
        blocks++;
        p = end;
    }
    assert_true(blocks > 50);
    assert_true(entries > blocks);
    free(gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs__one_entry_per_key_and_no_others),
        cmocka_unit_test(test_docs__checked_in_file_equals_generated),
        cmocka_unit_test(test_schema__defaults_and_examples_are_valid),
        cmocka_unit_test(test_docs__examples_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
