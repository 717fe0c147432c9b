/* Unit tests for src/auth/acl_parse.c, acl_mosq.c, acl_match.c: EMQX acl.conf and
 * Mosquitto acl_file parsing, every rule kind and placeholder, EMQX topic matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/acl.h"

static char err[600];

static struct rmq_acl *emqx(const char *text)
{
    struct rmq_acl *acl = rmq_acl_new();
    assert_non_null(acl);
    rmq_err e = rmq_acl_parse_emqx(acl, "acl.conf", text, strlen(text), err, sizeof err);
    if (e != RMQ_OK) {
        print_error("parse error: %s\n", err);
    }
    assert_int_equal(e, RMQ_OK);
    return acl;
}

static struct rmq_acl *mosq(const char *text)
{
    struct rmq_acl *acl = rmq_acl_new();
    assert_non_null(acl);
    rmq_err e = rmq_acl_parse_mosquitto(acl, "acl_file", text, strlen(text), err, sizeof err);
    if (e != RMQ_OK) {
        print_error("parse error: %s\n", err);
    }
    assert_int_equal(e, RMQ_OK);
    return acl;
}

/* Parse must fail; returns the message. */
static const char *emqx_bad(const char *text)
{
    struct rmq_acl *acl = rmq_acl_new();
    assert_int_equal(rmq_acl_parse_emqx(acl, "acl.conf", text, strlen(text), err, sizeof err),
                     RMQ_ERR_CONFIG);
    assert_int_equal(rmq_acl_rule_count(acl), 0);
    rmq_acl_free(acl);
    return err;
}

static struct rmq_acl_identity who(const char *user, const char *cid, const char *addr)
{
    struct rmq_acl_identity id;
    memset(&id, 0, sizeof id);
    id.username = user;
    id.clientid = cid;
    if (addr) {
        assert_true(rmq_acl_identity_set_addr(&id, addr));
    }
    return id;
}

static enum rmq_acl_result pub(const struct rmq_acl *acl, const struct rmq_acl_identity *id,
                               const char *t, uint8_t qos, bool retain)
{
    return rmq_acl_check(acl, id, RMQ_ACL_PUBLISH, t, strlen(t), qos, retain, NULL);
}

static enum rmq_acl_result sub(const struct rmq_acl *acl, const struct rmq_acl_identity *id,
                               const char *t)
{
    return rmq_acl_check(acl, id, RMQ_ACL_SUBSCRIBE, t, strlen(t), 0, false, NULL);
}

static bool tm(const char *rule, const char *subj)
{
    return rmq_acl_topic_match(rule, strlen(rule), subj, strlen(subj));
}

static void test_topic_match__emqx_semantics(void **state)
{
    (void)state;
    assert_true(tm("a/b", "a/b"));
    assert_false(tm("a/b", "a/c"));
    assert_true(tm("a/+", "a/b"));
    assert_false(tm("a/+", "a/b/c"));
    assert_false(tm("a/+", "a"));
    assert_true(tm("a/#", "a"));
    assert_true(tm("a/#", "a/b/c"));
    assert_true(tm("#", "a/b"));
    /* a requested filter is matched level by level: rule '+' covers a '+' or '#' level */
    assert_true(tm("a/+", "a/+"));
    assert_true(tm("a/+", "a/#"));
    assert_true(tm("a/#", "a/+/b"));
    assert_false(tm("a/b", "a/+"));
    assert_false(tm("a/#", "#"));
    /* wildcards at the first level never match $ topics */
    assert_false(tm("#", "$SYS/x"));
    assert_false(tm("+/x", "$SYS/x"));
    assert_true(tm("$SYS/#", "$SYS/x"));
    assert_true(tm("a//b", "a//b"));
    assert_false(tm("a//b", "a/b"));
}

static void test_parse__emqx_default_file_unchanged(void **state)
{
    (void)state;
    char path[1024];
    const char *src = getenv("RMQ_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/unit/data/emqx_default_acl.conf", src ? src : ".");
    struct rmq_acl *acl = rmq_acl_new();
    rmq_err e = rmq_acl_load_file(acl, path, false, err, sizeof err);
    if (e != RMQ_OK) {
        print_error("%s\n", err);
    }
    assert_int_equal(e, RMQ_OK);
    assert_int_equal(rmq_acl_rule_count(acl), 4);
    struct rmq_acl_identity dash = who("dashboard", "c1", "10.1.1.1:5000");
    struct rmq_acl_identity other = who("bob", "c2", "10.1.1.2:5000");
    struct rmq_acl_identity local = who("bob", "c3", "127.0.0.1:5000");
    assert_int_equal(sub(acl, &dash, "$SYS/brokers"), RMQ_ACL_ALLOW);
    assert_int_equal(sub(acl, &other, "$SYS/brokers"), RMQ_ACL_DENY);
    assert_int_equal(sub(acl, &other, "#"), RMQ_ACL_DENY);
    assert_int_equal(sub(acl, &other, "+/#"), RMQ_ACL_DENY);
    assert_int_equal(sub(acl, &local, "#"), RMQ_ACL_ALLOW);
    assert_int_equal(sub(acl, &other, "a/#"), RMQ_ACL_ALLOW); /* {allow, all} */
    assert_int_equal(pub(acl, &other, "a/b", 1, false), RMQ_ACL_ALLOW);
    rmq_acl_free(acl);
}

static void test_who__username_and_clientid_forms(void **state)
{
    (void)state;
    struct rmq_acl *acl = emqx("{allow, {username, \"alice\"}, publish, [\"u/alice\"]}.\n"
                               "{allow, {user, \"bob\"}, publish, [\"u/bob\"]}.\n"
                               "{allow, {clientid, \"dev-1\"}, publish, [\"c/1\"]}.\n"
                               "{allow, {client, \"dev-2\"}, publish, [\"c/2\"]}.\n"
                               "{allow, {username, {re, \"^adm[0-9]+$\"}}, publish, [\"adm\"]}.\n"
                               "{allow, {clientid, {re, \"^sensor-\"}}, publish, [\"s\"]}.\n");
    struct rmq_acl_identity alice = who("alice", "x", NULL), bob = who("bob", "dev-1", NULL);
    struct rmq_acl_identity d2 = who(NULL, "dev-2", NULL), adm = who("adm12", "y", NULL);
    struct rmq_acl_identity sensor = who(NULL, "sensor-9", NULL);
    assert_int_equal(pub(acl, &alice, "u/alice", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &bob, "u/alice", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &bob, "u/bob", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &bob, "c/1", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &d2, "c/2", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &alice, "c/2", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &adm, "adm", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &alice, "adm", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &sensor, "s", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &d2, "s", 0, false), RMQ_ACL_NOMATCH);
    rmq_acl_free(acl);
}

static void test_who__ipaddr_ipaddrs_and_or(void **state)
{
    (void)state;
    struct rmq_acl *acl =
        emqx("{deny, {ipaddr, \"10.0.0.0/8\"}, publish, [\"ip\"]}.\n"
             "{allow, {ipaddrs, [\"192.168.1.7\", \"::1\"]}, publish, [\"ip\"]}.\n"
             "{allow, {'and', [{username, \"u\"}, {ipaddr, \"127.0.0.0/8\"}]}, all, [\"and\"]}.\n"
             "{allow, {'or', [{username, \"v\"}, {clientid, \"w\"}]}, all, [\"or\"]}.\n");
    struct rmq_acl_identity ten = who("u", "c", "10.9.8.7:1883");
    struct rmq_acl_identity lan = who("u", "c", "192.168.1.7:1883");
    struct rmq_acl_identity v6 = who("u", "c", "::1:1883");
    struct rmq_acl_identity v6b = who("u", "c", "[::1]:1883");
    struct rmq_acl_identity lo = who("u", "c", "127.0.0.1:1");
    struct rmq_acl_identity lo_other = who("x", "c", "127.0.0.1:1");
    struct rmq_acl_identity mapped = who("u", "c", "::ffff:127.0.0.2:9");
    assert_int_equal(pub(acl, &ten, "ip", 0, false), RMQ_ACL_DENY);
    assert_int_equal(pub(acl, &lan, "ip", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &v6, "ip", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &v6b, "ip", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &lo, "ip", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &lo, "and", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &mapped, "and", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &lo_other, "and", 0, false), RMQ_ACL_NOMATCH);
    struct rmq_acl_identity v = who("v", "q", NULL), w = who("z", "w", NULL),
                            z = who("z", "z", NULL);
    assert_int_equal(sub(acl, &v, "or"), RMQ_ACL_ALLOW);
    assert_int_equal(sub(acl, &w, "or"), RMQ_ACL_ALLOW);
    assert_int_equal(sub(acl, &z, "or"), RMQ_ACL_NOMATCH);
    rmq_acl_free(acl);
}

static void test_action__publish_subscribe_all_and_qualifiers(void **state)
{
    (void)state;
    struct rmq_acl *acl = emqx("{allow, all, publish, [\"p\"]}.\n"
                               "{allow, all, subscribe, [\"s\"]}.\n"
                               "{allow, all, pubsub, [\"ps\"]}.\n"
                               "{deny, all, {publish, [{qos, [1, 2]}]}, [\"q/#\"]}.\n"
                               "{deny, all, {publish, [{retain, true}]}, [\"q/#\"]}.\n"
                               "{allow, all, {all, [{qos, 0}, {retain, false}]}, [\"q/#\"]}.\n"
                               "{deny, all, {subscribe, [{qos, 2}]}, [\"sq\"]}.\n"
                               "{allow, all, subscribe, [\"sq\"]}.\n");
    struct rmq_acl_identity id = who("u", "c", NULL);
    assert_int_equal(pub(acl, &id, "p", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(sub(acl, &id, "p"), RMQ_ACL_NOMATCH);
    assert_int_equal(sub(acl, &id, "s"), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &id, "s", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &id, "ps", 2, true), RMQ_ACL_ALLOW);
    assert_int_equal(sub(acl, &id, "ps"), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &id, "q/x", 1, false), RMQ_ACL_DENY);
    assert_int_equal(pub(acl, &id, "q/x", 2, false), RMQ_ACL_DENY);
    assert_int_equal(pub(acl, &id, "q/x", 0, true), RMQ_ACL_DENY);
    assert_int_equal(pub(acl, &id, "q/x", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(rmq_acl_check(acl, &id, RMQ_ACL_SUBSCRIBE, "sq", 2, 2, false, NULL),
                     RMQ_ACL_DENY);
    assert_int_equal(rmq_acl_check(acl, &id, RMQ_ACL_SUBSCRIBE, "sq", 2, 1, false, NULL),
                     RMQ_ACL_ALLOW);
    rmq_acl_free(acl);
}

static void test_topics__eq_is_literal_first_match_wins(void **state)
{
    (void)state;
    const char *line = NULL;
    struct rmq_acl *acl = emqx("{deny, all, subscribe, [{eq, \"t/#\"}]}.\n"
                               "{allow, all, subscribe, [\"t/#\"]}.\n"
                               "{deny, all, subscribe, [\"t/#\"]}.\n");
    struct rmq_acl_identity id = who("u", "c", NULL);
    assert_int_equal(rmq_acl_check(acl, &id, RMQ_ACL_SUBSCRIBE, "t/#", 3, 0, false, &line),
                     RMQ_ACL_DENY);
    assert_string_equal(line, "acl.conf:1");
    assert_int_equal(rmq_acl_check(acl, &id, RMQ_ACL_SUBSCRIBE, "t/a", 3, 0, false, &line),
                     RMQ_ACL_ALLOW);
    assert_string_equal(line, "acl.conf:2");
    assert_int_equal(sub(acl, &id, "t/+"), RMQ_ACL_ALLOW);
    rmq_acl_free(acl);
}

static void test_placeholders__each_kind(void **state)
{
    (void)state;
    struct rmq_acl *acl = emqx("{allow, all, all, [\"u/${username}/#\"]}.\n"
                               "{allow, all, all, [\"c/${clientid}/#\"]}.\n"
                               "{allow, all, all, [\"cn/${cert_common_name}\"]}.\n"
                               "{allow, all, all, [\"dn/${cert_subject}\"]}.\n"
                               "{allow, all, all, [\"old/%u/%c\"]}.\n"
                               "{allow, all, all, [\"mix/${username}-${clientid}\"]}.\n"
                               "{allow, all, all, [{eq, \"eq/${username}\"}]}.\n");
    struct rmq_acl_identity id = who("alice", "dev1", NULL);
    id.cert_cn = "device-7";
    id.cert_subject = "CN=device-7,O=Acme";
    assert_int_equal(pub(acl, &id, "u/alice/x", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &id, "u/bob/x", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(sub(acl, &id, "c/dev1/#"), RMQ_ACL_ALLOW);
    assert_int_equal(sub(acl, &id, "c/dev2/#"), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &id, "cn/device-7", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &id, "cn/device-8", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &id, "dn/CN=device-7,O=Acme", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &id, "old/alice/dev1", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &id, "old/alice/dev2", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &id, "mix/alice-dev1", 0, false), RMQ_ACL_ALLOW);
    /* {eq, …} is literal: no substitution */
    assert_int_equal(pub(acl, &id, "eq/alice", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &id, "eq/${username}", 0, false), RMQ_ACL_ALLOW);
    rmq_acl_free(acl);
}

static void test_placeholders__missing_or_wildcard_values_never_match(void **state)
{
    (void)state;
    struct rmq_acl *acl = emqx("{allow, all, all, [\"u/${username}/#\"]}.\n"
                               "{allow, all, all, [\"cn/${cert_common_name}\"]}.\n");
    struct rmq_acl_identity anon = who(NULL, "c", NULL);
    struct rmq_acl_identity hash = who("#", "c", NULL);
    struct rmq_acl_identity plus = who("+", "c", NULL);
    struct rmq_acl_identity slash = who("a/b", "c", NULL);
    assert_int_equal(pub(acl, &anon, "u//x", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(sub(acl, &hash, "u/#/#"), RMQ_ACL_NOMATCH);
    assert_int_equal(sub(acl, &hash, "u/other/x"), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &plus, "u/other/x", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &slash, "u/a/b/x", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &anon, "cn/", 0, false), RMQ_ACL_NOMATCH);
    rmq_acl_free(acl);
}

static void test_parse__errors_name_line_and_expectation(void **state)
{
    (void)state;
    assert_non_null(
        strstr(emqx_bad("{allow, all}.\n{allw, all}.\n"), "acl.conf:2: expected allow or deny"));
    assert_non_null(strstr(emqx_bad("{allow, all}\n"), "acl.conf:1: expected '.'"));
    assert_non_null(strstr(emqx_bad("\n\n{allow, {user, 1}, publish, [\"a\"]}.\n"), "acl.conf:3:"));
    assert_non_null(
        strstr(emqx_bad("{allow, all, jump, [\"a\"]}."), "expected publish, subscribe, all"));
    assert_non_null(strstr(emqx_bad("{allow, all, publish, [\"a/#/b\"]}."), "topic filter"));
    assert_non_null(strstr(emqx_bad("{allow, all, publish, []}."), "non-empty list"));
    assert_non_null(strstr(emqx_bad("{allow, {ipaddr, \"10.0.0.0/33\"}, all, [\"a\"]}."), "CIDR"));
    assert_non_null(
        strstr(emqx_bad("{allow, {username, {re, \"(\"}}, all, [\"a\"]}."), "regular expression"));
    assert_non_null(strstr(emqx_bad("{allow, all, {publish, [{qos, 3}]}, [\"a\"]}."), "QoS"));
    assert_non_null(strstr(emqx_bad("{allow, all, {publish, [{retain, maybe}]}, [\"a\"]}."),
                           "true, false or all"));
    assert_non_null(strstr(emqx_bad("{allow, all, publish, [\"a\"]."), "expected ',' or '}'"));
    assert_non_null(strstr(emqx_bad("{allow, all, publish, [\"a]}."), "unterminated string"));
    assert_non_null(
        strstr(emqx_bad("{allow, {'xor', []}, all, [\"a\"]}."), "expected all, {username"));
    assert_non_null(strstr(emqx_bad("{deny, nobody}."), "expected all"));
    assert_non_null(strstr(emqx_bad("{allow, all, all, [\"a/${peerhost}\"]}."),
                           "unsupported placeholder \"${peerhost}\""));
    assert_non_null(strstr(emqx_bad("{allow, {ipaddrs, []}, all, [\"a\"]}."), "non-empty list"));
    const char nul[] = "{allow, all, all, [{eq, \"a\0b\"}]}.";
    struct rmq_acl *acl = rmq_acl_new();
    assert_int_equal(rmq_acl_parse_emqx(acl, "acl.conf", nul, sizeof nul - 1, err, sizeof err),
                     RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "NUL byte in a string"));
    /* escaped: "#\<NUL>#" once became a 3-byte filter whose text held only "#" (fuzz find) */
    const char nul_escaped[] = "{allow, all, all, [{eq, \"#\\\0#\"}]}.";
    assert_int_equal(
        rmq_acl_parse_emqx(acl, "acl.conf", nul_escaped, sizeof nul_escaped - 1, err, sizeof err),
        RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "NUL byte in a string"));
    assert_int_equal(rmq_acl_parse_mosquitto(acl, "f", "user a\0b\n", 9, err, sizeof err),
                     RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "f:1: NUL byte"));
    rmq_acl_free(acl);
    /* a good rule before a bad one is not kept */
    assert_non_null(strstr(emqx_bad("{allow, all}.\n{allow}.\n"), "acl.conf:2:"));
}

static void test_parse__truncated_prefixes_and_flips_never_crash(void **state)
{
    (void)state;
    const char *text = "{allow, {'and', [{username, {re, \"^a\"}}, {ipaddrs, [\"10.0.0.0/8\"]}]},"
                       " {publish, [{qos, [0,1]}, {retain, true}]}, [\"a/${clientid}\", {eq, "
                       "\"#\"}]}.\n%% c\n{deny, all}.\n";
    size_t n = strlen(text);
    char *buf = malloc(n);
    assert_non_null(buf);
    for (size_t cut = 0; cut <= n; cut++) {
        struct rmq_acl *acl = rmq_acl_new();
        rmq_err e = rmq_acl_parse_emqx(acl, "t", text, cut, err, sizeof err);
        assert_true(e == RMQ_OK || e == RMQ_ERR_CONFIG);
        rmq_acl_free(acl);
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(buf, text, n);
        buf[i] = (char)(buf[i] ^ 0x5a);
        struct rmq_acl *acl = rmq_acl_new();
        rmq_err e1 = rmq_acl_parse_emqx(acl, "t", buf, n, err, sizeof err);
        rmq_err e2 = rmq_acl_parse_mosquitto(acl, "t", buf, n, err, sizeof err);
        assert_true(e1 != RMQ_ERR_NOMEM && e2 != RMQ_ERR_NOMEM);
        rmq_acl_free(acl);
    }
    free(buf);
}

static void test_parse__nesting_limit(void **state)
{
    (void)state;
    char deep[200] = "{allow, ";
    for (int i = 0; i < 40; i++) {
        strcat(deep, "[");
    }
    assert_non_null(strstr(emqx_bad(deep), "nested deeper"));
}

/* Nested intervals make glibc's regcomp copy the repeated part over and over
 * ("((a{99}){99}){99}" takes 200 MB, one more level 20 GB: found by fuzz_auth_acl); such patterns
 * are refused before regcomp, naming the line; ordinary ones still compile. */
static void test_who__costly_regex_refused(void **state)
{
    (void)state;
    const char *costly[] = {
        "((a{99}){99}){99}", "(((x+){60}){60}){9}", "a{30000}",
        "((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))"};
    for (size_t i = 0; i < sizeof costly / sizeof costly[0]; i++) {
        char text[400];
        snprintf(text, sizeof text,
                 "{allow, all}.\n{allow, {clientid, {re, \"%s\"}}, publish, [\"t\"]}.\n",
                 costly[i]);
        const char *msg = emqx_bad(text);
        assert_non_null(strstr(msg, ":2"));
        assert_non_null(strstr(msg, "refused"));
    }
    struct rmq_acl *acl =
        emqx("{allow, {clientid, {re, \"^dev-[0-9]{1,8}(-[a-f]{2}){0,3}$\"}}, "
             "publish, [\"t\"]}.\n"
             "{allow, {username, {re, \"^(ab|cd){2,5}[{]x}$\"}}, publish, [\"u\"]}.\n");
    struct rmq_acl_identity ok = who(NULL, "dev-1234-ab-cd", NULL), no = who(NULL, "dev-x", NULL);
    struct rmq_acl_identity u = who("abcdab{x}", "z", NULL);
    assert_int_equal(pub(acl, &ok, "t", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &no, "t", 0, false), RMQ_ACL_NOMATCH);
    assert_int_equal(pub(acl, &u, "u", 0, false), RMQ_ACL_ALLOW);
    rmq_acl_free(acl);
}

static void test_mosquitto__topic_user_pattern(void **state)
{
    (void)state;
    struct rmq_acl *acl = mosq("# anonymous\n"
                               "topic read public/#\n"
                               "\n"
                               "user alice\n"
                               "topic readwrite alice/#\n"
                               "topic write  logs/alice \n"
                               "topic deny alice/secret\n"
                               "user bob\n"
                               "topic bob/#\n"
                               "pattern readwrite dev/%c/#\n"
                               "pattern read users/%u/in\n");
    struct rmq_acl_identity anon = who(NULL, "c0", NULL);
    struct rmq_acl_identity alice = who("alice", "c1", NULL);
    struct rmq_acl_identity bob = who("bob", "c2", NULL);
    assert_int_equal(sub(acl, &anon, "public/x"), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &anon, "public/x", 0, false), RMQ_ACL_DENY);
    assert_int_equal(sub(acl, &alice, "public/x"), RMQ_ACL_DENY);
    assert_int_equal(pub(acl, &alice, "alice/a", 1, false), RMQ_ACL_ALLOW);
    assert_int_equal(sub(acl, &alice, "alice/#"), RMQ_ACL_ALLOW);
    /* deny lines come first, whatever their place in the file */
    assert_int_equal(pub(acl, &alice, "alice/secret", 0, false), RMQ_ACL_DENY);
    assert_int_equal(pub(acl, &alice, "logs/alice", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(sub(acl, &alice, "logs/alice"), RMQ_ACL_DENY);
    assert_int_equal(pub(acl, &bob, "bob/x", 2, true), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &bob, "alice/a", 0, false), RMQ_ACL_DENY);
    assert_int_equal(pub(acl, &bob, "dev/c2/t", 0, false), RMQ_ACL_ALLOW);
    assert_int_equal(pub(acl, &bob, "dev/c1/t", 0, false), RMQ_ACL_DENY);
    assert_int_equal(sub(acl, &bob, "users/bob/in"), RMQ_ACL_ALLOW);
    assert_int_equal(sub(acl, &anon, "users//in"), RMQ_ACL_DENY);
    /* nothing granted: denied (Mosquitto), also for $ topics */
    assert_int_equal(sub(acl, &bob, "other"), RMQ_ACL_DENY);
    assert_int_equal(sub(acl, &bob, "$SYS/x"), RMQ_ACL_DENY);
    rmq_acl_free(acl);
}

static void test_mosquitto__errors_name_line(void **state)
{
    (void)state;
    struct rmq_acl *acl = rmq_acl_new();
    const char *t = "user a\ntopic read a/#\nfoo bar\n";
    assert_int_equal(rmq_acl_parse_mosquitto(acl, "acl_file", t, strlen(t), err, sizeof err),
                     RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "acl_file:3: expected 'topic', 'user' or 'pattern'"));
    t = "topic read a/#/b\n";
    assert_int_equal(rmq_acl_parse_mosquitto(acl, "acl_file", t, strlen(t), err, sizeof err),
                     RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "acl_file:1:"));
    t = "user\n";
    assert_int_equal(rmq_acl_parse_mosquitto(acl, "acl_file", t, strlen(t), err, sizeof err),
                     RMQ_ERR_CONFIG);
    assert_int_equal(rmq_acl_rule_count(acl), 0);
    rmq_acl_free(acl);
}

static void test_load_file__missing_file_is_named(void **state)
{
    (void)state;
    struct rmq_acl *acl = rmq_acl_new();
    assert_int_equal(rmq_acl_load_file(acl, "/nonexistent/acl.conf", false, err, sizeof err),
                     RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "/nonexistent/acl.conf: cannot read"));
    rmq_acl_free(acl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_match__emqx_semantics),
        cmocka_unit_test(test_parse__emqx_default_file_unchanged),
        cmocka_unit_test(test_who__username_and_clientid_forms),
        cmocka_unit_test(test_who__ipaddr_ipaddrs_and_or),
        cmocka_unit_test(test_action__publish_subscribe_all_and_qualifiers),
        cmocka_unit_test(test_topics__eq_is_literal_first_match_wins),
        cmocka_unit_test(test_placeholders__each_kind),
        cmocka_unit_test(test_placeholders__missing_or_wildcard_values_never_match),
        cmocka_unit_test(test_parse__errors_name_line_and_expectation),
        cmocka_unit_test(test_parse__truncated_prefixes_and_flips_never_crash),
        cmocka_unit_test(test_parse__nesting_limit),
        cmocka_unit_test(test_who__costly_regex_refused),
        cmocka_unit_test(test_mosquitto__topic_user_pattern),
        cmocka_unit_test(test_mosquitto__errors_name_line),
        cmocka_unit_test(test_load_file__missing_file_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
