/* test_config_parse.c — the HOCON-subset / EMQX 4.4 parser (src/config/parse.c), syntax only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/parse.h"

struct collect {
    char out[8192];
    size_t n;
    char err[512];
    unsigned errline;
    int entries;
};

static bool raw_listener(const char *path, void *arg)
{
    (void)arg;
    return strncmp(path, "listener.", 9) == 0;
}

static rmq_err on_entry(void *arg, const char *path, const struct rmq_cfg_value *v, unsigned line)
{
    struct collect *c = arg;
    char shown[1024];
    rmq_cfg_value_show(v, shown, sizeof shown);
    c->n += (size_t)snprintf(c->out + c->n, sizeof c->out - c->n, "%u:%s=%s%s\n", line, path, shown,
                             v->raw ? " (raw)" : "");
    c->entries++;
    return RMQ_OK;
}

static void on_error(void *arg, unsigned line, const char *msg)
{
    struct collect *c = arg;
    c->errline = line;
    snprintf(c->err, sizeof c->err, "%s", msg);
}

static rmq_err run(const char *text, struct collect *c)
{
    struct rmq_cfg_parse_ops ops = {
        .is_raw_key = raw_listener, .on_entry = on_entry, .on_error = on_error, .arg = c};
    memset(c, 0, sizeof *c);
    return rmq_cfg_parse(text, strlen(text), &ops);
}

static void expect(const char *text, const char *want)
{
    struct collect c;
    rmq_err e = run(text, &c);
    if (e != RMQ_OK) {
        fail_msg("parse failed: line %u: %s", c.errline, c.err);
    }
    assert_string_equal(c.out, want);
}

static void expect_error(const char *text, unsigned line, const char *fragment)
{
    struct collect c;
    assert_int_equal(run(text, &c), RMQ_ERR_MALFORMED);
    assert_int_equal(c.errline, line);
    if (strstr(c.err, fragment) == NULL) {
        fail_msg("error '%s' lacks '%s'", c.err, fragment);
    }
}

static void test_parse__nested_blocks_and_dotted_keys_give_the_same_path(void **state)
{
    (void)state;
    expect("a { b { c = 1 } }\n", "1:a.b.c=1\n");
    expect("a.b.c = 1\n", "1:a.b.c=1\n");
    expect("a.b { c: 1 }\n", "1:a.b.c=1\n");
    expect("a = { b = x }\n", "1:a.b=x\n");
    expect("a {\n  b {\n    c = 1\n    d = 2\n  }\n  e = 3\n}\nf = 4\n",
           "3:a.b.c=1\n4:a.b.d=2\n6:a.e=3\n8:f=4\n");
    expect("{ a = 1 }", "1:a=1\n");
    expect("a { }\nb {}\n", "");
    expect("a { b = 1, c = 2 }", "1:a.b=1\n1:a.c=2\n");
    expect("\"quoted\".key = 1", "1:quoted.key=1\n");
}

static void test_parse__values_quoted_unquoted_and_arrays(void **state)
{
    (void)state;
    expect("a = \"x \\\"y\\\" \\\\ \\t \\u00e9\"\n",
           "1:a=\"x \"y\" \\ ? é\"\n"); /* shown: controls as ? */
    expect("a = hello world  \n", "1:a=hello world\n");
    expect("a = [x, \"y\", z]\n", "1:a=[x, \"y\", z]\n");
    expect("a = [\n  x,\n  y\n  z\n]\n", "1:a=[x, y, z]\n");
    expect("a = [x, y,]\n", "1:a=[x, y]\n");
    expect("a = []\n", "1:a=[]\n");
    expect("a = [ tlsv1.3 , tlsv1.2 ] # c\n", "1:a=[tlsv1.3, tlsv1.2]\n");
    expect("a = 1.5\nb = true\nc = 15m\nd = 64KB\n", "1:a=1.5\n2:b=true\n3:c=15m\n4:d=64KB\n");
}

static void test_parse__comments_but_not_inside_urls(void **state)
{
    (void)state;
    expect("# c1\n// c2\na = 1 # c3\nb = 2 // c4\n", "3:a=1\n4:b=2\n");
    expect("url = http://127.0.0.1:8080/crl/ca.crl\n", "1:url=http://127.0.0.1:8080/crl/ca.crl\n");
    expect("url = http://h/x // note\n", "1:url=http://h/x\n");
    expect("p = a#b\n", "1:p=a#b\n");
    expect("a = [http://h/a, http://h/b] // c\n", "1:a=[http://h/a, http://h/b]\n");
    expect("a { # c\n b = 1 // c\n }\n", "2:a.b=1\n");
    expect("a = \"x # not a comment // neither\"\n", "1:a=\"x # not a comment // neither\"\n");
}

static void test_parse__emqx44_flat_line_takes_the_rest_of_the_line(void **state)
{
    (void)state;
    expect("listener.ssl.external.crl_cache_urls = http://a:1/x.crl,http://b/y.crl # z\n",
           "1:listener.ssl.external.crl_cache_urls=http://a:1/x.crl,http://b/y.crl # z (raw)\n");
    expect("listener.tcp.external = 0.0.0.0:1883\r\n",
           "1:listener.tcp.external=0.0.0.0:1883 (raw)\n");
    expect("listener.ssl.external.ciphers = A,B:C, D\n",
           "1:listener.ssl.external.ciphers=A,B:C, D (raw)\n");
    /* not at top level: HOCON rules */
    expect("x { listener.a = b, c = d }\n", "1:x.listener.a=b\n1:x.c=d\n");
}

static void test_parse__syntax_errors_name_the_line(void **state)
{
    (void)state;
    expect_error("a = 1\nb {\n c = 2\n", 4, "missing '}'");
    expect_error("a = \"abc\n", 1, "unterminated string");
    expect_error("a = [1, 2\n", 2, "unterminated array");
    expect_error("a = 1\n}\n", 2, "unexpected '}'");
    expect_error("a\n", 1, "has no value");
    expect_error("a b = 1\n", 1, "expected '=', ':' or '{'");
    expect_error("a =\n", 1, "missing value");
    expect_error("a = \"x\" y\n", 1, "unexpected text after the value of a");
    expect_error("a = \"\\q\"\n", 1, "unknown escape");
    expect_error("a = [[1]]\n", 1, "nested arrays");
    expect_error("a..b = 1\n", 1, "where a key was expected");
    expect_error("=1\n", 1, "where a key was expected");
    expect_error("a = \"\\u12\"", 1, "4 hex digits");
}

static void test_parse__limits(void **state)
{
    (void)state;
    char deep[2 * RMQ_CFG_DEPTH_MAX + 16];
    size_t n = 0;
    for (int i = 0; i <= RMQ_CFG_DEPTH_MAX; i++) {
        deep[n++] = 'a';
        deep[n++] = '{';
    }
    deep[n] = '\0';
    expect_error(deep, 1, "nested deeper");

    char *longkey = malloc(RMQ_CFG_PATH_MAX + 16);
    memset(longkey, 'k', RMQ_CFG_PATH_MAX + 8);
    memcpy(longkey + RMQ_CFG_PATH_MAX + 8, " = 1", 5);
    expect_error(longkey, 1, "key too long");
    free(longkey);

    const char nul[] = "a = 1\nb = x\0y\n";
    struct collect c;
    struct rmq_cfg_parse_ops ops = {.on_entry = on_entry, .on_error = on_error, .arg = &c};
    memset(&c, 0, sizeof c);
    assert_int_equal(rmq_cfg_parse(nul, sizeof nul - 1, &ops), RMQ_ERR_MALFORMED);
    assert_int_equal(c.errline, 2);
    assert_non_null(strstr(c.err, "NUL"));
}

/* Every prefix of a valid file parses or fails cleanly; no crash, no leak (ASan). */
static void test_parse__every_truncated_prefix_is_handled(void **state)
{
    (void)state;
    const char *text = "node { name = \"n\\u00e9\" }\n"
                       "a.b = [x, \"y\",\n z]  # c\n"
                       "listener.ssl.external.crl_cache_urls = http://a/b,http://c/d\n"
                       "mqtt { max_inflight: 5, keepalive_multiplier = 1.5 }\n";
    size_t len = strlen(text);
    for (size_t i = 0; i <= len; i++) {
        struct collect c;
        struct rmq_cfg_parse_ops ops = {
            .is_raw_key = raw_listener, .on_entry = on_entry, .on_error = on_error, .arg = &c};
        char *copy = malloc(i + 1);
        memcpy(copy, text, i);
        memset(&c, 0, sizeof c);
        rmq_err e = rmq_cfg_parse(copy, i, &ops);
        assert_true(e == RMQ_OK || e == RMQ_ERR_MALFORMED);
        free(copy);
    }
}

static void test_parse_value__env_style_values(void **state)
{
    (void)state;
    struct rmq_cfg_value v;
    char why[128], shown[256];
    const char *in[] = {"[tlsv1.3,tlsv1.2]", "5s", "\"quoted\"", "http://h:80/x,y # z",
                        "  spaced  "};
    const char *out[] = {"[tlsv1.3, tlsv1.2]", "5s", "\"quoted\"", "http://h:80/x,y # z", "spaced"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        assert_int_equal(rmq_cfg_parse_value(in[i], strlen(in[i]), &v, why, sizeof why), RMQ_OK);
        rmq_cfg_value_show(&v, shown, sizeof shown);
        assert_string_equal(shown, out[i]);
        rmq_cfg_value_clear(&v);
    }
    assert_int_equal(rmq_cfg_parse_value("[a", 2, &v, why, sizeof why), RMQ_ERR_MALFORMED);
    assert_non_null(strstr(why, "unterminated array"));
    assert_int_equal(rmq_cfg_parse_value("\"a\" b", 5, &v, why, sizeof why), RMQ_ERR_MALFORMED);
    assert_int_equal(rmq_cfg_parse_value("a\nb", 3, &v, why, sizeof why), RMQ_ERR_MALFORMED);
}

static void test_parse__array_of_objects_flattens_to_numbered_paths(void **state)
{
    (void)state;
    /* EMQX 5: authentication = [{…}, {…}] gives the paths of EMQX_AUTHENTICATION__1__… */
    expect("authentication = [\n"
           "  {\n"
           "    mechanism = password_based\n"
           "    password_hash_algorithm { name = sha256, salt_position = suffix }\n"
           "  },\n"
           "  { backend = x, path = \"/p\" }\n"
           "]\n"
           "after = 1\n",
           "3:authentication.1.mechanism=password_based\n"
           "4:authentication.1.password_hash_algorithm.name=sha256\n"
           "4:authentication.1.password_hash_algorithm.salt_position=suffix\n"
           "6:authentication.2.backend=x\n"
           "6:authentication.2.path=\"/p\"\n"
           "8:after=1\n");
    expect("a.b = [{c = 1}, {c = 2}]\n", "1:a.b.1.c=1\n1:a.b.2.c=2\n");
    expect("a = [\n{c = 1}\n{c = [x, y]}\n]\n", "2:a.1.c=1\n3:a.2.c=[x, y]\n");
    expect("a = []\n", "1:a=[]\n");
}

static void test_parse__array_of_objects_errors(void **state)
{
    (void)state;
    expect_error("a = [{c = 1}, 2]\n", 1, "mixes objects with other values");
    expect_error("a = [1, {c = 1}]\n", 1, "nested arrays and objects in arrays");
    expect_error("a = [{c = 1}\n", 2, "missing ']'");
    expect_error("a = [{c = 1} x]\n", 1, "expected ',' or ']' after an object");
    expect_error("a = [{c = 1]\n", 2, "missing '}'");
    struct rmq_cfg_value v;
    char why[200];
    assert_int_equal(rmq_cfg_parse_value("[{a = 1}]", 9, &v, why, sizeof why), RMQ_ERR_MALFORMED);
    assert_non_null(strstr(why, "EMQX_AUTHENTICATION__1__MECHANISM"));
}

/* ---- HOCON extras: substitutions, includes, BOM, IPv6 binds ------------------------------ */

static const char *test_env(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "HOME_DIR") == 0) {
        return "/srv/rmq";
    }
    if (strcmp(name, "PORT") == 0) {
        return "1883";
    }
    return NULL;
}

static rmq_err test_read(void *arg, const char *path, char **text, size_t *len, char *why,
                         size_t whylen)
{
    (void)arg;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, whylen, "open failed");
        return RMQ_ERR_IO;
    }
    *text = malloc(65536);
    *len = fread(*text, 1, 65536, f);
    fclose(f);
    return RMQ_OK;
}

struct filelog {
    struct collect c;
    char files[512];
};

static void test_on_file(void *arg, const char *file)
{
    struct filelog *fl = arg;
    size_t n = strlen(fl->files);
    snprintf(fl->files + n, sizeof fl->files - n, "<%s>", file != NULL ? file : "top");
}

static rmq_err run_ex(const char *file, const char *text, struct filelog *fl)
{
    memset(fl, 0, sizeof *fl);
    struct rmq_cfg_parse_ops ops = {.is_raw_key = raw_listener,
                                    .on_entry = on_entry,
                                    .on_error = on_error,
                                    .arg = fl,
                                    .file = file,
                                    .read_file = test_read,
                                    .getenv = test_env,
                                    .on_file = test_on_file};
    return rmq_cfg_parse(text, strlen(text), &ops);
}

static void expect_ex(const char *text, const char *want)
{
    struct filelog fl;
    if (run_ex(NULL, text, &fl) != RMQ_OK) {
        fail_msg("parse failed: line %u: %s", fl.c.errline, fl.c.err);
    }
    assert_string_equal(fl.c.out, want);
}

static void expect_ex_error(const char *text, unsigned line, const char *fragment)
{
    struct filelog fl;
    assert_int_equal(run_ex(NULL, text, &fl), RMQ_ERR_MALFORMED);
    assert_int_equal(fl.c.errline, line);
    if (strstr(fl.c.err, fragment) == NULL) {
        fail_msg("error '%s' lacks '%s'", fl.c.err, fragment);
    }
}

static void test_parse__environment_substitution(void **state)
{
    (void)state;
    expect_ex("a = ${HOME_DIR}\n", "1:a=/srv/rmq\n");
    expect_ex("a = ${HOME_DIR}/certs/ca.pem\nb { c = ${PORT} }\n",
              "1:a=/srv/rmq/certs/ca.pem\n2:b.c=1883\n");
    expect_ex("a = ${?NOT_SET}\nb = 2\n", "2:b=2\n");                /* assignment removed */
    expect_ex("a = x${?NOT_SET}y\n", "1:a=xy\n");                    /* empty in a concatenation */
    expect_ex("a = [${PORT}, ${?NOT_SET}, z]\n", "1:a=[1883, z]\n"); /* array item removed */
    expect_ex("a = \"${PORT}\"\n", "1:a=\"${PORT}\"\n");             /* quoted: literal */
    expect_ex("listener.tcp.x = ${PORT}\n", "1:listener.tcp.x=${PORT} (raw)\n");
    expect_ex_error("a = 1\nb = ${NOT_SET}\n", 2, "environment variable NOT_SET is not set");
    expect_ex_error("a = ${PORT\n", 1, "unterminated substitution");
    expect_ex_error("a = ${}\n", 1, "bad substitution");
    /* without a getenv callback, every ${VAR} is unset */
    expect_error("a = ${PORT}\n", 1, "PORT is not set");
}

static void test_parse__utf8_bom_and_ipv6_binds(void **state)
{
    (void)state;
    expect("\xef\xbb\xbf"
           "a = 1\n",
           "1:a=1\n");
    expect("\xef\xbb\xbf"
           "# c\nlistener.tcp.external = [::1]:1883\n",
           "2:listener.tcp.external=[::1]:1883 (raw)\n");
    expect("listeners.tcp.d.bind = [::1]:1883\n", "1:listeners.tcp.d.bind=[::1]:1883\n");
    expect("b = [fe80::1%eth0]:8883, c = 1\n", "1:b=[fe80::1%eth0]:8883\n1:c=1\n");
    /* an array is still an array */
    expect("a = [1, 2]\nlistener.tcp.x = [::1]\n", "1:a=[1, 2]\n2:listener.tcp.x=[::1] (raw)\n");
    struct rmq_cfg_value v;
    char why[200], shown[100];
    assert_int_equal(rmq_cfg_parse_value("[::1]:1883", 10, &v, why, sizeof why), RMQ_OK);
    assert_false(v.is_array);
    rmq_cfg_value_show(&v, shown, sizeof shown);
    assert_string_equal(shown, "[::1]:1883");
    rmq_cfg_value_clear(&v);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_parse__include_relative_nested_and_cycles(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cfg_incl_XXXXXX";
    char top[600], sub[600], text[800];
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(dir, "sub/inner.conf",
               "\xef\xbb\xbf"
               "x = 1\ninclude \"deeper.conf\"\n");
    write_file(dir, "sub/deeper.conf", "y = ${PORT}\n");
    write_file(dir, "loop.conf", "z = 1\ninclude \"loop.conf\"\n");
    snprintf(top, sizeof top, "%s/top.conf", dir);
    struct filelog fl;
    /* relative to the including file, at the current path, nested */
    assert_int_equal(run_ex(top, "a = 0\nblk {\n  include \"sub/inner.conf\"\n}\nb = 2\n", &fl),
                     RMQ_OK);
    assert_string_equal(fl.c.out, "1:a=0\n1:blk.x=1\n1:blk.y=1883\n5:b=2\n");
    snprintf(text, sizeof text, "<%s/sub/inner.conf><%s/sub/deeper.conf><%s/sub/inner.conf><%s>",
             dir, dir, dir, top);
    assert_string_equal(fl.files, text);
    /* the other forms, and a key named include */
    assert_int_equal(run_ex(top, "include required(\"sub/deeper.conf\")\ninclude = 3\n", &fl),
                     RMQ_OK);
    assert_string_equal(fl.c.out, "1:y=1883\n2:include=3\n");
    /* a cycle is refused at the include line of the file that closes it */
    assert_int_equal(run_ex(top, "q = 1\ninclude \"loop.conf\"\n", &fl), RMQ_ERR_MALFORMED);
    assert_int_equal(fl.c.errline, 2); /* loop.conf line 2 */
    assert_non_null(strstr(fl.c.err, "include cycle"));
    snprintf(text, sizeof text, "<%s/loop.conf>", dir);
    assert_non_null(strstr(fl.files, text));
    /* a missing file is an error naming it */
    assert_int_equal(run_ex(top, "\n\ninclude \"nope.conf\"\n", &fl), RMQ_ERR_MALFORMED);
    assert_int_equal(fl.c.errline, 3);
    assert_non_null(strstr(fl.c.err, "nope.conf"));
    /* without a reader, includes are refused */
    expect_error("include \"x.conf\"\n", 1, "includes are not allowed here");
    expect_error("include \"x.conf\" y\n", 1, "unexpected text after include");
    /* depth: a chain of RMQ_CFG_INCLUDE_MAX + 1 files */
    for (int i = 0; i <= RMQ_CFG_INCLUDE_MAX; i++) {
        char name[32], body[64];
        snprintf(name, sizeof name, "d%d.conf", i);
        snprintf(body, sizeof body, "include \"d%d.conf\"\n", i + 1);
        write_file(dir, name, body);
    }
    assert_int_equal(run_ex(top, "include \"d0.conf\"\n", &fl), RMQ_ERR_MALFORMED);
    assert_non_null(strstr(fl.c.err, "nested deeper than"));
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse__nested_blocks_and_dotted_keys_give_the_same_path),
        cmocka_unit_test(test_parse__values_quoted_unquoted_and_arrays),
        cmocka_unit_test(test_parse__comments_but_not_inside_urls),
        cmocka_unit_test(test_parse__emqx44_flat_line_takes_the_rest_of_the_line),
        cmocka_unit_test(test_parse__syntax_errors_name_the_line),
        cmocka_unit_test(test_parse__limits),
        cmocka_unit_test(test_parse__array_of_objects_flattens_to_numbered_paths),
        cmocka_unit_test(test_parse__array_of_objects_errors),
        cmocka_unit_test(test_parse__every_truncated_prefix_is_handled),
        cmocka_unit_test(test_parse_value__env_style_values),
        cmocka_unit_test(test_parse__environment_substitution),
        cmocka_unit_test(test_parse__utf8_bom_and_ipv6_binds),
        cmocka_unit_test(test_parse__include_relative_nested_and_cycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
