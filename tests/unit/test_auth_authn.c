/* test_auth_authn.c — src/auth: password files (EMQX bootstrap CSV/JSON, Mosquitto
 * $6$/$7$), hash verification, the authentication chain, the failed-attempt
 * slow-down, and principals. Hash vectors were made with Python's hashlib/crypt and
 * Debian's mosquitto_passwd. */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/authn.h"
#include "auth/authn_int.h"
#include "auth/principal.h"

static char tmpdir[] = "/tmp/rmq-authn-XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
    static char path[4][256];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static struct rmq_authn_settings cfg_base(void)
{
    struct rmq_authn_settings c;
    memset(&c, 0, sizeof c);
    c.name = "1";
    c.enable = true;
    c.hash = RMQ_HASH_SHA256;
    c.salt_position = RMQ_SALT_PREFIX;
    c.mac_fun = RMQ_MAC_SHA256;
    c.iterations = 4096;
    c.bootstrap_type = RMQ_BOOTSTRAP_HASH;
    return c;
}

static struct rmq_userset *load(const struct rmq_authn_settings *c, char *why, size_t n)
{
    struct rmq_userset *u = NULL;
    why[0] = '\0';
    if (rmq_authn_load_users(c, &u, why, n) != RMQ_OK) {
        return NULL;
    }
    return u;
}

static bool ok(const struct rmq_userset *u, const char *id, const char *pw)
{
    const struct rmq_user *r = rmq_userset_find(u, id, strlen(id));
    return r != NULL && rmq_user_verify(r, (const uint8_t *)pw, strlen(pw));
}

static void test_mosquitto_passwd__sha512_and_pbkdf2_lines(void **state)
{
    (void)state;
    struct rmq_authn_settings c = cfg_base();
    c.backend = RMQ_AUTHN_MOSQUITTO_PASSWD_FILE;
    c.path = (char *)write_tmp(
        "pw", "alice:$7$101$iew6DXJCdRzAWrKS$jNIx/9FzEVU6QVPz1KhyQlWksEfIC1PSy6r/"
              "MBrlo5win2hw9eWhu/R71rVeBYELC1iPI7529bdf8Usa7mP/Fw==\n"
              "bob:$6$34hRE0ABm0ZtBePq$uasq1ZU8Ttc6vm+aQ4cfW3YzGAygUSD+4BgJg34q5vXP9io6w2tqJrItiF"
              "v0qMY7UTqDnA99BKwv/DtCTehOJg==\r\n\n");
    char why[512];
    struct rmq_userset *u = load(&c, why, sizeof why);
    assert_non_null(u);
    assert_int_equal(u->count, 2);
    assert_true(ok(u, "alice", "secret1"));
    assert_false(ok(u, "alice", "secret2"));
    assert_false(ok(u, "alice", ""));
    assert_true(ok(u, "bob", "secret2"));
    assert_false(ok(u, "bob", "secret1"));
    assert_null(rmq_userset_find(u, "carol", 5));
    assert_null(rmq_userset_find(u, "ali", 3));
    rmq_userset_free(u);
}

static void expect_load_error(struct rmq_authn_settings *c, const char *fragment)
{
    char why[512];
    assert_null(load(c, why, sizeof why));
    if (strstr(why, fragment) == NULL) {
        fail_msg("error '%s' lacks '%s'", why, fragment);
    }
}

static void test_mosquitto_passwd__errors_name_file_and_line(void **state)
{
    (void)state;
    struct rmq_authn_settings c = cfg_base();
    c.backend = RMQ_AUTHN_MOSQUITTO_PASSWD_FILE;
    c.path = (char *)write_tmp("bad1", "a:$6$c2FsdA==$AAAA\nb:plain\n");
    expect_load_error(&c, "bad1:1: malformed base64 salt or hash");
    c.path = (char *)write_tmp("bad2", "# comment\nb:plain\n");
    expect_load_error(&c, "bad2:2: unsupported password hash");
    c.path = (char *)write_tmp("bad3", "nocolon\n");
    expect_load_error(&c, "bad3:1: expected user:hash");
    c.path = (char *)write_tmp("bad4", "a:$7$x$c2FsdA==$AAAA\n");
    expect_load_error(&c, "bad4:1: malformed $7$ iteration count");
    c.path = "/nonexistent/passwd";
    expect_load_error(&c, "/nonexistent/passwd: cannot open");
}

static void test_bootstrap_csv__hash_algorithms(void **state)
{
    (void)state;
    char why[512];
    struct rmq_authn_settings c = cfg_base();
    /* sha256("salt" + "pw") */
    c.bootstrap_file = (char *)write_tmp(
        "h.csv", "user_id,password_hash,salt,is_superuser\n"
                 "u1,21BAED949B716C49CBF7D8FE79412F1DC104745650A32081AE0BE0B967AEB7F3,salt,true\n");
    struct rmq_userset *u = load(&c, why, sizeof why);
    assert_non_null(u);
    assert_true(ok(u, "u1", "pw"));
    assert_false(ok(u, "u1", "pwx"));
    assert_true(rmq_userset_find(u, "u1", 2)->superuser);
    rmq_userset_free(u);
    c.salt_position = RMQ_SALT_SUFFIX; /* the same file read as sha256(pw + salt) */
    u = load(&c, why, sizeof why);
    assert_false(ok(u, "u1", "pw"));
    rmq_userset_free(u);

    c = cfg_base();
    c.hash = RMQ_HASH_PBKDF2; /* PBKDF2-HMAC-SHA256("pw", "salt", 10, 32) */
    c.iterations = 10;
    c.bootstrap_file = (char *)write_tmp(
        "p.csv", "user_id,salt,password_hash\n"
                 "u2,salt,72aecd14244887c316e24019c7e020b58888f029861490804d36e20b42d9321a\n");
    u = load(&c, why, sizeof why);
    assert_non_null(u);
    assert_true(ok(u, "u2", "pw"));
    assert_false(ok(u, "u2", "pw2"));
    rmq_userset_free(u);

    c = cfg_base();
    c.hash = RMQ_HASH_BCRYPT;
    c.bootstrap_file = (char *)write_tmp(
        "b.csv", "user_id,password_hash,salt,is_superuser\n"
                 "u3,$2b$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q,"
                 "$2b$05$abcdefghijklmnopqrstuu,false\n");
    u = load(&c, why, sizeof why);
    assert_non_null(u);
    assert_true(ok(u, "u3", "pw"));
    assert_false(ok(u, "u3", "pW"));
    rmq_userset_free(u);

    c = cfg_base();
    c.bootstrap_type = RMQ_BOOTSTRAP_PLAIN;
    c.bootstrap_file =
        (char *)write_tmp("plain.csv", "user_id,password,is_superuser\r\nu4,p4,false\r\n");
    u = load(&c, why, sizeof why);
    assert_non_null(u);
    assert_true(ok(u, "u4", "p4"));
    assert_false(ok(u, "u4", "p4 "));
    /* no password kept in memory: the stored record is a salted digest */
    assert_null(memmem(rmq_userset_find(u, "u4", 2)->hash, RMQ_AUTHN_HASH_MAX, "p4", 2));
    rmq_userset_free(u);
}

static void test_bootstrap_csv__errors_name_file_and_line(void **state)
{
    (void)state;
    struct rmq_authn_settings c = cfg_base();
    c.bootstrap_file = (char *)write_tmp("e1.csv", "user_id,password,is_superuser\na,b,false\n");
    expect_load_error(&c, "e1.csv:1: the header line must name user_id and password_hash");
    c.bootstrap_file = (char *)write_tmp("e2.csv", "user_id,password_hash,salt\n"
                                                   "a,00,\n\nb,zz,\n");
    expect_load_error(&c, "e2.csv:2: password_hash has 1 bytes, the digest has 32");
    c.bootstrap_file = (char *)write_tmp("e3.csv", "user_id,password_hash,salt\n"
                                                   "b,zz,\n");
    expect_load_error(&c, "e3.csv:2: password_hash is not a hex string");
    c.bootstrap_file = (char *)write_tmp("e4.csv", "user_id,password_hash,salt\nb\n");
    expect_load_error(&c, "e4.csv:2: 1 fields");
    c.bootstrap_type = RMQ_BOOTSTRAP_PLAIN;
    c.bootstrap_file = (char *)write_tmp("e5.csv", "user_id,password\nx,1\ny,2\nx,3\n");
    expect_load_error(&c, "e5.csv: user id listed twice");
    c.bootstrap_file = (char *)write_tmp("e6.csv", "");
    expect_load_error(&c, "e6.csv: empty file");
    c.hash = RMQ_HASH_BCRYPT;
    c.bootstrap_type = RMQ_BOOTSTRAP_HASH;
    c.bootstrap_file = (char *)write_tmp("e7.csv", "user_id,password_hash\nx,abc\n");
    expect_load_error(&c, "e7.csv:2: password_hash is not a bcrypt");
}

static void test_bootstrap_json(void **state)
{
    (void)state;
    char why[512];
    struct rmq_authn_settings c = cfg_base();
    c.bootstrap_file = (char *)write_tmp(
        "u.json", "[{\"user_id\":\"j1\",\"password_hash\":"
                  "\"21baed949b716c49cbf7d8fe79412f1dc104745650a32081ae0be0b967aeb7f3\","
                  "\"salt\":\"salt\",\"is_superuser\":true}]");
    struct rmq_userset *u = load(&c, why, sizeof why);
    assert_non_null(u);
    assert_true(ok(u, "j1", "pw"));
    assert_true(rmq_userset_find(u, "j1", 2)->superuser);
    rmq_userset_free(u);
    c.bootstrap_file = (char *)write_tmp("bad.json", "[\n{\"user_id\": 1}\n]");
    expect_load_error(&c, "bad.json: item 1: needs string fields user_id and password_hash");
    c.bootstrap_file = (char *)write_tmp("syn.json", "[\n{\"user_id\": \n");
    expect_load_error(&c, "syn.json:3: JSON:");
    c.bootstrap_file = (char *)write_tmp("obj.json", "{}");
    expect_load_error(&c, "obj.json:1: JSON: expected an array");
}

static void test_files__every_truncated_prefix_and_byte_flip_is_handled(void **state)
{
    (void)state;
    const char *texts[] = {
        "alice:$7$101$iew6DXJCdRzAWrKS$jNIx/9FzEVU6QVPz1KhyQlWksEfIC1PSy6r/"
        "MBrlo5win2hw9eWhu/R71rVeBYELC1iPI7529bdf8Usa7mP/Fw==\n",
        "user_id,password_hash,salt,is_superuser\n"
        "u1,21BAED949B716C49CBF7D8FE79412F1DC104745650A32081AE0BE0B967AEB7F3,salt,true\n",
        "[{\"user_id\":\"j1\",\"password_hash\":\"21ba\",\"salt\":\"s\"}]",
    };
    const char *names[] = {"t.pw", "t.csv", "t.json"};
    char why[512], buf[512];
    for (size_t t = 0; t < 3; t++) {
        struct rmq_authn_settings c = cfg_base();
        c.backend = t == 0 ? RMQ_AUTHN_MOSQUITTO_PASSWD_FILE : RMQ_AUTHN_BUILT_IN_DATABASE;
        size_t n = strlen(texts[t]);
        for (size_t i = 0; i <= n; i += 1) {
            for (int flip = 0; flip < 2; flip++) {
                memcpy(buf, texts[t], n + 1);
                buf[i] = '\0';
                if (flip && i > 0) {
                    memcpy(buf, texts[t], n + 1);
                    buf[i - 1] ^= 0x20;
                }
                const char *p = write_tmp(names[t], buf);
                c.path = (char *)p;
                c.bootstrap_file = (char *)p;
                struct rmq_userset *u = load(&c, why, sizeof why);
                rmq_userset_free(u);
            }
        }
    }
}

static void test_chain__first_authenticator_that_knows_the_user_decides(void **state)
{
    (void)state;
    struct rmq_authn_settings a[3] = {cfg_base(), cfg_base(), cfg_base()};
    a[0].bootstrap_type = a[1].bootstrap_type = a[2].bootstrap_type = RMQ_BOOTSTRAP_PLAIN;
    a[0].name = "1";
    char p1[256], p2[256]; /* write_tmp's buffers are reused: keep copies */
    snprintf(p1, sizeof p1, "%s", write_tmp("c1.csv", "user_id,password\nann,one\n"));
    a[0].bootstrap_file = p1;
    a[1].name = "2";
    snprintf(p2, sizeof p2, "%s",
             write_tmp("c2.csv", "user_id,password,is_superuser\nann,two,false\nben,b,true\n"));
    a[1].bootstrap_file = p2;
    a[2].name = "3";
    a[2].user_id_type = RMQ_AUTHN_ID_CLIENTID;
    a[2].bootstrap_file = (char *)write_tmp("c3.csv", "user_id,password\ndev-9,d\n");
    struct rmq_settings s;
    memset(&s, 0, sizeof s);
    s.authn = a;
    s.authn_count = 3;
    struct rmq_authn *au = NULL;
    char *err = NULL;
    if (rmq_authn_new(&s, &au, &err) != RMQ_OK) {
        fail_msg("%s", err);
    }
    assert_true(rmq_authn_enabled(au));
    const char *why;
    bool su = true;
    struct rmq_authn_req r = {"ann", 3, "c", 1, (const uint8_t *)"one", 3};
    assert_int_equal(rmq_authn_check(au, &r, &why, &su), RMQ_AUTHN_ALLOW);
    assert_false(su);
    r.password = (const uint8_t *)"two"; /* authenticator 1 knows ann: 2 is not asked */
    assert_int_equal(rmq_authn_check(au, &r, &why, &su), RMQ_AUTHN_DENY);
    assert_string_equal(why, "wrong password");
    r = (struct rmq_authn_req){"ben", 3, "c", 1, (const uint8_t *)"b", 1};
    assert_int_equal(rmq_authn_check(au, &r, &why, &su), RMQ_AUTHN_ALLOW);
    assert_true(su);
    r.password = NULL;
    assert_int_equal(rmq_authn_check(au, &r, &why, &su), RMQ_AUTHN_DENY);
    assert_string_equal(why, "no password");
    r = (struct rmq_authn_req){NULL, 0, "dev-9", 5, (const uint8_t *)"d", 1};
    assert_int_equal(rmq_authn_check(au, &r, &why, &su), RMQ_AUTHN_ALLOW);
    r = (struct rmq_authn_req){"zed", 3, "dev-8", 5, (const uint8_t *)"d", 1};
    assert_int_equal(rmq_authn_check(au, &r, &why, &su), RMQ_AUTHN_UNKNOWN);
    assert_string_equal(why, "unknown user");

    /* reload: a bad file keeps the old users of that authenticator only */
    write_tmp("c1.csv", "user_id,password\nann,uno\n");
    write_tmp("c2.csv", "garbage\n");
    assert_int_not_equal(rmq_authn_reload(au), RMQ_OK);
    r = (struct rmq_authn_req){"ann", 3, "c", 1, (const uint8_t *)"uno", 3};
    assert_int_equal(rmq_authn_check(au, &r, &why, &su), RMQ_AUTHN_ALLOW);
    r = (struct rmq_authn_req){"ben", 3, "c", 1, (const uint8_t *)"b", 1};
    assert_int_equal(rmq_authn_check(au, &r, &why, &su), RMQ_AUTHN_ALLOW);
    rmq_authn_free(au);

    a[1].bootstrap_file = "/nonexistent.csv";
    assert_int_equal(rmq_authn_new(&s, &au, &err), RMQ_ERR_CONFIG);
    assert_null(au);
    assert_non_null(strstr(err, "authentication.2: /nonexistent.csv: cannot open"));
    free(err);
}

static void test_throttle__doubles_caps_and_resets(void **state)
{
    (void)state;
    struct rmq_settings s;
    memset(&s, 0, sizeof s);
    s.mqtt.authn_failure_delay = 100;
    struct rmq_authn *au = NULL;
    char *err = NULL;
    assert_int_equal(rmq_authn_new(&s, &au, &err), RMQ_OK);
    assert_false(rmq_authn_enabled(au));
    assert_int_equal(rmq_authn_throttle_left(au, "10.0.0.1", 1000), 0);
    rmq_authn_throttle_fail(au, "10.0.0.1", 1000);
    assert_int_equal(rmq_authn_throttle_left(au, "10.0.0.1", 1000), 100);
    assert_int_equal(rmq_authn_throttle_left(au, "10.0.0.2", 1000), 0);
    assert_int_equal(rmq_authn_throttle_left(au, "10.0.0.1", 1100), 0);
    rmq_authn_throttle_fail(au, "10.0.0.1", 1100);
    assert_int_equal(rmq_authn_throttle_left(au, "10.0.0.1", 1100), 200);
    for (int i = 0; i < 20; i++) {
        rmq_authn_throttle_fail(au, "10.0.0.1", 2000);
    }
    assert_int_equal(rmq_authn_throttle_left(au, "10.0.0.1", 2000), 6400); /* 64x */
    rmq_authn_throttle_ok(au, "10.0.0.1");
    assert_int_equal(rmq_authn_throttle_left(au, "10.0.0.1", 2000), 0);
    for (int i = 0; i < RMQ_AUTHN_MAX_PENDING; i++) {
        assert_true(rmq_authn_throttle_begin(au, "10.0.0.1"));
    }
    assert_false(rmq_authn_throttle_begin(au, "10.0.0.1"));
    assert_true(rmq_authn_throttle_begin(au, "10.0.0.3"));
    rmq_authn_throttle_end(au, "10.0.0.1");
    assert_true(rmq_authn_throttle_begin(au, "10.0.0.1"));
    assert_false(rmq_authn_throttle_begin(au, "10.0.0.1"));
    rmq_authn_free(au);
    s.mqtt.authn_failure_delay = 0; /* off */
    assert_int_equal(rmq_authn_new(&s, &au, &err), RMQ_OK);
    rmq_authn_throttle_fail(au, "10.0.0.1", 1000);
    assert_int_equal(rmq_authn_throttle_left(au, "10.0.0.1", 1000), 0);
    rmq_authn_free(au);
}

/* A kept copy of *pi (strings duplicated), as a connection holds it. */
static struct rmq_peer_info *kept(const struct rmq_peer_info *pi)
{
    struct rmq_peer_info tmp = *pi;
    tmp.cn = pi->cn != NULL ? strdup(pi->cn) : NULL;
    tmp.dn = pi->dn != NULL ? strdup(pi->dn) : NULL;
    tmp.issuer_dn = tmp.pem = tmp.sans = NULL;
    struct rmq_peer_info *k = rmq_peer_info_keep(&tmp, 0);
    assert_non_null(k);
    return k;
}

/* A principal of the identity in *pi whose connection already closed. */
static struct rmq_principal *cert_principal(enum rmq_principal_kind kind, const char *user,
                                            const char *addr, const struct rmq_peer_info *pi)
{
    struct rmq_peer_info *k = kept(pi);
    struct rmq_principal *p = rmq_principal_new(kind, user, "dev-1", 5, addr, k);
    rmq_peer_info_free(k);
    return p;
}

static void test_principal__shares_the_connections_identity(void **state)
{
    (void)state;
    struct rmq_peer_info pi;
    memset(&pi, 0, sizeof pi);
    pi.has_cert = 1;
    pi.cn = "dev-1";
    pi.dn = "CN=dev-1";
    pi.chain_len = 1;
    pi.chain[0].serial_len = 1;
    struct rmq_peer_info *conn_peer = kept(&pi);
    struct rmq_principal *p =
        rmq_principal_new(RMQ_PRINCIPAL_ANONYMOUS, NULL, "dev-1", 5, "a", conn_peer);
    assert_non_null(p);
    assert_ptr_equal(p->cert, conn_peer); /* shared, not copied (issue 18) */
    struct rmq_principal *d = rmq_principal_dup(p);
    assert_ptr_equal(d->cert, conn_peer);
    rmq_peer_info_free(conn_peer); /* the connection closes; the session owner stays */
    assert_string_equal(rmq_principal_cn(p), "dev-1");
    assert_string_equal(rmq_principal_subject(d), "CN=dev-1");
    assert_int_equal(p->cert->chain_len, 1);
    rmq_principal_free(p);
    assert_string_equal(rmq_principal_cn(d), "dev-1");
    rmq_principal_free(d); /* the last holder frees it (ASan: no leak, no double free) */
    struct rmq_principal *u = rmq_principal_new(RMQ_PRINCIPAL_USER, "alice", "x", 1, "a", NULL);
    assert_null(u->cert); /* password and anonymous principals carry no certificate */
    assert_null(rmq_principal_cn(u));
    rmq_principal_free(u);
}

static void test_principal__owners_and_description(void **state)
{
    (void)state;
    struct rmq_peer_info pi;
    memset(&pi, 0, sizeof pi);
    pi.has_cert = 1;
    pi.cn = "dev\"1";
    pi.dn = "CN=dev\"1,O=x";
    pi.issuer_hash[0] = 7;
    pi.serial[0] = 0x4a;
    pi.serial_len = 1;
    snprintf(pi.serial_hex, sizeof pi.serial_hex, "4A");
    pi.has_id = 1; /* issuer name and key as the TLS layer computes them */
    pi.id.issuer_hash[0] = 7;
    pi.id.issuer_key[0] = 1;
    struct rmq_principal *c1 = cert_principal(RMQ_PRINCIPAL_ANONYMOUS, NULL, "1.2.3.4:5", &pi);
    assert_int_equal(c1->kind, RMQ_PRINCIPAL_CERT);
    pi.serial[0] = 0x4b; /* renewed: same issuer and subject, new serial */
    struct rmq_principal *c2 = cert_principal(RMQ_PRINCIPAL_USER, "u", "x", &pi);
    pi.issuer_hash[0] = 8; /* same subject from another CA */
    pi.id.issuer_hash[0] = 8;
    struct rmq_principal *c3 = cert_principal(RMQ_PRINCIPAL_USER, "u", "x", &pi);
    pi.issuer_hash[0] = 7;    /* same subject, same CA name, another CA key (re-keyed, or a */
    pi.id.issuer_hash[0] = 7; /* second CA that shares the name): another owner */
    pi.id.issuer_key[0] = 2;
    struct rmq_principal *c4 = cert_principal(RMQ_PRINCIPAL_USER, "u", "x", &pi);
    pi.has_id = 0; /* no key known: never the same owner (fail closed) */
    struct rmq_principal *c5 = cert_principal(RMQ_PRINCIPAL_USER, "u", "x", &pi);
    struct rmq_principal *u1 = rmq_principal_new(RMQ_PRINCIPAL_USER, "alice", "x", 1, "a", NULL);
    struct rmq_principal *u2 = rmq_principal_new(RMQ_PRINCIPAL_USER, "bob", "x", 1, "a", NULL);
    struct rmq_principal *an = rmq_principal_new(RMQ_PRINCIPAL_CERT, "alice", "x", 1, "a", NULL);
    assert_int_equal(an->kind, RMQ_PRINCIPAL_ANONYMOUS); /* CERT needs a verified cert */
    struct rmq_principal *an2 = rmq_principal_dup(an);
    assert_true(rmq_principal_same_owner(c1, c2));
    assert_false(rmq_principal_same_owner(c1, c3));
    assert_false(rmq_principal_same_owner(c1, c4));
    assert_false(rmq_principal_same_owner(c1, c5));
    assert_false(rmq_principal_same_owner(c5, c5));
    assert_false(rmq_principal_same_owner(u1, u2));
    assert_false(rmq_principal_same_owner(an, u1));
    assert_false(rmq_principal_same_owner(an, c1));
    assert_true(rmq_principal_same_owner(an, an2));
    struct rmq_cert_ref ref = {0};
    ref.issuer_hash[0] = 7;
    ref.serial[0] = 0x4a;
    ref.serial_len = 1;
    assert_true(rmq_principal_has_cert(c1, &ref));
    assert_false(rmq_principal_has_cert(c2, &ref));
    char out[512];
    rmq_principal_describe(c1, "owner_", out, sizeof out);
    assert_string_equal(out, "owner_principal=cert owner_cn=\"dev?1\" owner_serial=4A "
                             "owner_subject=\"CN=dev?1,O=x\"");
    rmq_principal_describe(u1, "", out, sizeof out);
    assert_string_equal(out, "principal=user username=\"alice\"");
    rmq_principal_describe(an, "", out, sizeof out);
    assert_string_equal(out, "principal=anonymous");
    struct rmq_principal *all[] = {c1, c2, c3, c4, c5, u1, u2, an, an2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        rmq_principal_free(all[i]);
    }
    rmq_principal_free(NULL);
}

static atomic_int notified;
static void on_notify(void *arg)
{
    (void)arg;
    atomic_fetch_add(&notified, 1);
}

struct verdict {
    int calls;
    enum rmq_authn_result r;
    bool su;
};

static void on_done(void *arg, enum rmq_authn_result r, const char *why, bool su)
{
    struct verdict *v = arg;
    (void)why;
    v->calls++;
    v->r = r;
    v->su = su;
}

static void test_async__verdicts_come_back_through_poll_and_cancel_drops_them(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s",
             write_tmp("as.csv", "user_id,password,is_superuser\nann,one,true\n"));
    struct rmq_authn_settings a = cfg_base();
    a.bootstrap_type = RMQ_BOOTSTRAP_PLAIN;
    a.bootstrap_file = path;
    struct rmq_settings s;
    memset(&s, 0, sizeof s);
    s.authn = &a;
    s.authn_count = 1;
    struct rmq_authn *au = NULL;
    char *err = NULL;
    assert_int_equal(rmq_authn_new(&s, &au, &err), RMQ_OK);
    rmq_authn_set_notify(au, on_notify, NULL);
    atomic_store(&notified, 0);
    char pw[] = "one";
    struct rmq_authn_req r = {"ann", 3, "c", 1, (const uint8_t *)pw, 3};
    struct verdict ok = {0}, bad = {0}, gone = {0};
    assert_non_null(rmq_authn_start(au, &r, on_done, &ok));
    pw[0] = 'X'; /* the request was copied */
    r.password = (const uint8_t *)"two";
    assert_non_null(rmq_authn_start(au, &r, on_done, &bad));
    struct rmq_authn_job *j = rmq_authn_start(au, &r, on_done, &gone);
    rmq_authn_cancel(au, j);
    for (int i = 0; i < 500 && atomic_load(&notified) < 3; i++) {
        usleep(2000);
    }
    assert_int_equal(atomic_load(&notified), 3);
    rmq_authn_poll(au);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.r, RMQ_AUTHN_ALLOW);
    assert_true(ok.su);
    assert_int_equal(bad.calls, 1);
    assert_int_equal(bad.r, RMQ_AUTHN_DENY);
    assert_int_equal(gone.calls, 0);
    /* a job still queued when the authenticator is freed is freed with it */
    rmq_authn_set_notify(au, NULL, NULL);
    assert_non_null(rmq_authn_start(au, &r, on_done, &gone));
    rmq_authn_free(au);
    assert_int_equal(gone.calls, 0);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mosquitto_passwd__sha512_and_pbkdf2_lines),
        cmocka_unit_test(test_mosquitto_passwd__errors_name_file_and_line),
        cmocka_unit_test(test_bootstrap_csv__hash_algorithms),
        cmocka_unit_test(test_bootstrap_csv__errors_name_file_and_line),
        cmocka_unit_test(test_bootstrap_json),
        cmocka_unit_test(test_files__every_truncated_prefix_and_byte_flip_is_handled),
        cmocka_unit_test(test_chain__first_authenticator_that_knows_the_user_decides),
        cmocka_unit_test(test_throttle__doubles_caps_and_resets),
        cmocka_unit_test(test_principal__owners_and_description),
        cmocka_unit_test(test_principal__shares_the_connections_identity),
        cmocka_unit_test(test_async__verdicts_come_back_through_poll_and_cancel_drops_them),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
