/* cli.c — the command line of revmq-ca (see docs/revmq-ca.md and cli.h).
 *
 * Options are data: each command has a table of options; global options
 * (--dir, --now, --crl-validity, --log-level) are accepted anywhere. Exit
 * status: 0 ok, 1 failure (message on stderr), 2 usage error. */
#include "ca/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "ca/ca.h"
#include "common/log.h"

struct rmq_ca_opt *rmq_ca_cli_find(struct rmq_ca_opt *opts, size_t n, const char *name, size_t nl)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(opts[i].name) == nl && memcmp(opts[i].name, name, nl) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

const char *rmq_ca_cli_get(struct rmq_ca_cli *c, const char *name)
{
    struct rmq_ca_opt *o = rmq_ca_cli_find(c->opts, c->nopts, name, strlen(name));
    return o && o->set ? o->val : NULL;
}

bool rmq_ca_cli_flag(struct rmq_ca_cli *c, const char *name)
{
    struct rmq_ca_opt *o = rmq_ca_cli_find(c->opts, c->nopts, name, strlen(name));
    return o && o->set;
}

int rmq_ca_cli_usage_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "revmq-ca: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see `revmq-ca help`)\n");
    return 2;
}

/* Parses argv[from..] into c->opts (the command's table + globals). */
static int parse_opts(struct rmq_ca_cli *c, int argc, char **argv, int from)
{
    for (int i = from; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (c->npos == sizeof(c->pos) / sizeof(c->pos[0])) {
                return rmq_ca_cli_usage_err("too many arguments at '%s'", a);
            }
            c->pos[c->npos++] = a;
            continue;
        }
        const char *eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        struct rmq_ca_opt *o = rmq_ca_cli_find(c->opts, c->nopts, a + 2, nl);
        if (o == NULL) {
            return rmq_ca_cli_usage_err("unknown option '%s'", a);
        }
        const char *v = "";
        if (o->has_arg) {
            if (eq != NULL) {
                v = eq + 1;
            } else if (i + 1 < argc) {
                v = argv[++i];
            } else {
                return rmq_ca_cli_usage_err("option '%s' needs a value", a);
            }
        } else if (eq != NULL) {
            return rmq_ca_cli_usage_err("option '%s' takes no value", a);
        }
        if (o->set && !o->multi) {
            return rmq_ca_cli_usage_err("option '%s' given twice", a);
        }
        if (o->multi && o->n == RMQ_CA_OPT_MULTI_MAX) {
            return rmq_ca_cli_usage_err("option '%s' given too often", a);
        }
        o->set = true;
        o->val = v;
        if (o->multi) {
            o->vals[o->n++] = v;
        }
    }
    return 0;
}

/* Applies the global options; 0 or exit status. */
static int apply_globals(struct rmq_ca_cli *c)
{
    const char *v;
    if ((v = rmq_ca_cli_get(c, "dir")) != NULL) {
        c->dir = v;
    }
    if ((v = rmq_ca_cli_get(c, "now")) != NULL) {
        int64_t t = 0;
        if (rmq_ca_time_parse(v, (int64_t)time(NULL), &t) != RMQ_OK || t < 0 ||
            t > RMQ_CA_TIME_MAX) {
            return rmq_ca_cli_usage_err("--now wants @UNIX-SECONDS or a signed duration, got '%s'",
                                        v);
        }
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)t);
        setenv("REVMQ_CA_NOW", buf, 1);
    }
    if ((v = rmq_ca_cli_get(c, "crl-validity")) != NULL &&
        rmq_ca_duration_parse(v, &c->crl_validity) != RMQ_OK) {
        return rmq_ca_cli_usage_err("bad --crl-validity '%s'", v);
    }
    if ((v = rmq_ca_cli_get(c, "log-level")) != NULL) {
        enum rmq_log_level lvl;
        if (rmq_log_level_parse(v, &lvl) != RMQ_OK) {
            return rmq_ca_cli_usage_err("bad --log-level '%s'", v);
        }
        rmq_log_set_level(lvl);
    }
    return 0;
}

void rmq_ca_cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch == '\n') {
            fputs("\\n", f);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

void rmq_ca_cli_iso_time(int64_t t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int rmq_ca_cli_fail(rmq_err e, const char *what)
{
    /* NOT_FOUND and EXISTS always come with their own message */
    if (e != RMQ_ERR_NOT_FOUND && e != RMQ_ERR_EXISTS) {
        fprintf(stderr, "revmq-ca: %s failed: %s\n", what, rmq_err_message(e));
    }
    return 1;
}

/* ---- init / get-tenant-uuid ---- */

static int cmd_init(struct rmq_ca_cli *c)
{
    const char *name = rmq_ca_cli_get(c, "tenant");
    if (name == NULL || !rmq_ca_name_valid(name)) {
        return rmq_ca_cli_usage_err("init needs --tenant NAME (1-63 of A-Za-z0-9._-)");
    }
    struct rmq_ca_db *db = NULL;
    if (rmq_ca_db_open(c->dir, &db) != RMQ_OK) {
        return 1;
    }
    struct rmq_ca_tenant t;
    int rc = 0;
    rmq_err e = rmq_ca_db_tenant_get(db, &t);
    if (e == RMQ_OK && strcmp(t.name, name) != 0) {
        fprintf(stderr, "revmq-ca: %s already holds tenant '%s'\n", c->dir, t.name);
        rc = 1;
    } else if (e == RMQ_ERR_NOT_FOUND) {
        char uuid[40];
        e = rmq_ca_uuid_v4(uuid);
        if (e == RMQ_OK) {
            e = rmq_ca_db_tenant_insert(db, name, uuid);
        }
        if (e == RMQ_OK) {
            e = rmq_ca_db_tenant_get(db, &t);
        }
        rc = e == RMQ_OK ? 0 : rmq_ca_cli_fail(e, "init");
    } else if (e != RMQ_OK) {
        rc = rmq_ca_cli_fail(e, "init");
    }
    if (rc == 0) {
        printf("%s\n", t.uuid);
    }
    rmq_ca_db_free(db);
    return rc;
}

static int cmd_get_uuid(struct rmq_ca_cli *c)
{
    struct rmq_ca_db *db = NULL;
    struct rmq_ca_tenant t;
    if (rmq_ca_db_open(c->dir, &db) != RMQ_OK) {
        return 1;
    }
    rmq_err e = rmq_ca_db_tenant_get(db, &t);
    rmq_ca_db_free(db);
    if (e == RMQ_ERR_NOT_FOUND) {
        fprintf(stderr, "revmq-ca: no tenant yet; run `revmq-ca init --tenant NAME` first\n");
        return 1;
    }
    if (e != RMQ_OK) {
        return rmq_ca_cli_fail(e, "get-tenant-uuid");
    }
    printf("%s\n", t.uuid);
    return 0;
}

/* ---- ca create ---- */

static int join_templates(struct rmq_ca_opt *o, char **out)
{
    size_t len = 1;
    for (size_t i = 0; o && i < o->n; i++) {
        if (rmq_ca_template_check(o->vals[i]) != RMQ_OK) {
            return rmq_ca_cli_usage_err(
                "bad URL template '%s' (http(s)://..., no spaces or commas, only "
                "${SYS_TENANT_NAME} ${SYS_TENANT_UUID} ${SYS_CA_NAME} "
                "${SYS_CA_VERSION})",
                o->vals[i]);
        }
        len += strlen(o->vals[i]) + 1;
    }
    char *s = calloc(1, len);
    if (s == NULL) {
        return 1;
    }
    size_t off = 0;
    for (size_t i = 0; o && i < o->n; i++) {
        size_t n = strlen(o->vals[i]);
        memcpy(s + off, o->vals[i], n);
        s[off + n] = '\n';
        off += n + 1;
    }
    *out = s;
    return 0;
}

static int ca_create_fill(struct rmq_ca_cli *c, struct rmq_ca_info *ca)
{
    const char *v;
    snprintf(ca->key_type, sizeof(ca->key_type), "%s",
             (v = rmq_ca_cli_get(c, "key-type")) ? v : "ecdsa");
    snprintf(ca->curve, sizeof(ca->curve), "%s",
             (v = rmq_ca_cli_get(c, "curve")) ? v : "secp256r1");
    snprintf(ca->digest, sizeof(ca->digest), "%s",
             (v = rmq_ca_cli_get(c, "digest")) ? v : "sha256");
    ca->rsa_bits = 2048;
    if ((v = rmq_ca_cli_get(c, "rsa-bits")) != NULL) {
        char *end = NULL;
        long bits = strtol(v, &end, 10);
        ca->rsa_bits = end != v && *end == '\0' && bits > 0 && bits < 100000 ? (int)bits : 0;
    }
    ca->ttl = 365 * 86400 + 350 * 86400; /* 1y350d */
    if ((v = rmq_ca_cli_get(c, "ttl")) != NULL && rmq_ca_duration_parse(v, &ca->ttl) != RMQ_OK) {
        return rmq_ca_cli_usage_err("bad --ttl '%s' (e.g. 1y350d, 30d, 12h)", v);
    }
    if (strcmp(ca->key_type, "ecdsa") != 0 && strcmp(ca->key_type, "rsa") != 0) {
        return rmq_ca_cli_usage_err("--key-type is ecdsa or rsa, not '%s'", ca->key_type);
    }
    EVP_PKEY *probe = NULL;
    if (strcmp(ca->key_type, "ecdsa") == 0) {
        struct rmq_ca_keyspec ks = {"ecdsa", ca->curve, 0};
        if (rmq_ca_key_generate(&ks, &probe) != RMQ_OK) {
            return rmq_ca_cli_usage_err("--curve is secp256r1, secp384r1 or secp521r1, not '%s'",
                                        ca->curve);
        }
        EVP_PKEY_free(probe);
    } else if (ca->rsa_bits < 2048 || ca->rsa_bits > 8192) {
        return rmq_ca_cli_usage_err("--rsa-bits must be 2048..8192");
    }
    if (EVP_get_digestbyname(ca->digest) == NULL || strcmp(ca->digest, "md5") == 0 ||
        strcmp(ca->digest, "sha1") == 0) {
        return rmq_ca_cli_usage_err("--digest '%s' is not usable (sha256, sha384, sha512)",
                                    ca->digest);
    }
    int rc = join_templates(rmq_ca_cli_find(c->opts, c->nopts, "crl-dist-url", 12), &ca->crl_urls);
    if (rc == 0) {
        rc = join_templates(rmq_ca_cli_find(c->opts, c->nopts, "ocsp-responder-url", 18),
                            &ca->ocsp_urls);
    }
    return rc;
}

static int cmd_ca_create(struct rmq_ca_cli *c)
{
    const char *name = rmq_ca_cli_get(c, "name");
    if (name == NULL || !rmq_ca_name_valid(name)) {
        return rmq_ca_cli_usage_err("ca create needs --name NAME (1-63 of A-Za-z0-9._-)");
    }
    struct rmq_ca_info ca = {0};
    snprintf(ca.name, sizeof(ca.name), "%s", name);
    int rc = ca_create_fill(c, &ca);
    struct rmq_ca_db *db = NULL;
    struct rmq_ca_tenant t;
    if (rc != 0 || rmq_ca_db_open(c->dir, &db) != RMQ_OK) {
        rmq_ca_info_release(&ca);
        return rc ? rc : 1;
    }
    rmq_err e = rmq_ca_db_tenant_get(db, &t);
    if (e == RMQ_ERR_NOT_FOUND) {
        fprintf(stderr, "revmq-ca: no tenant yet; run `revmq-ca init --tenant NAME` first\n");
    }
    if (e == RMQ_OK) {
        e = rmq_ca_db_begin(db);
        if (e == RMQ_OK) {
            ca.tenant_id = t.id;
            e = rmq_ca_db_ca_insert(db, &ca);
            if (e == RMQ_OK) {
                e = rmq_ca_make_version(db, &t, &ca, 1, c->crl_validity);
            }
            e = e == RMQ_OK ? rmq_ca_db_commit(db) : (rmq_ca_db_rollback(db), e);
        }
        if (e == RMQ_ERR_EXISTS && rmq_ca_cli_flag(c, "if-not-exists")) {
            e = RMQ_OK;
        } else if (e == RMQ_ERR_EXISTS) {
            fprintf(stderr, "revmq-ca: CA '%s' already exists\n", name);
        } else if (e == RMQ_OK) {
            rmq_info("ca", "CA created ca=%s tenant=%s version=1", name, t.name);
            printf("created CA %s (tenant %s, version 1, %s)\n", name, t.name, ca.key_type);
        }
    }
    rc = e == RMQ_OK ? 0 : rmq_ca_cli_fail(e, "ca create");
    rmq_ca_info_release(&ca);
    rmq_ca_db_free(db);
    return rc;
}

/* ---- dispatch ---- */

#define GLOBAL_OPTS                                                                                \
    {"dir", true, false}, {"now", true, false}, {"crl-validity", true, false},                     \
        {"log-level", true, false},                                                                \
    {                                                                                              \
        "help", false, false                                                                       \
    }

struct opt_spec {
    const char *name;
    bool has_arg;
    bool multi;
};

#define MAX_OPTS 24

struct command {
    const char *group; /* NULL or "ca" */
    const char *name;
    int (*fn)(struct rmq_ca_cli *c);
    struct opt_spec opts[MAX_OPTS];
};

static const struct command commands[] = {
    {NULL, "init", cmd_init, {{"tenant", true, false}, GLOBAL_OPTS}},
    {NULL, "get-tenant-uuid", cmd_get_uuid, {GLOBAL_OPTS}},
    {"ca",
     "create",
     cmd_ca_create,
     {{"name", true, false},
      {"ttl", true, false},
      {"key-type", true, false},
      {"curve", true, false},
      {"rsa-bits", true, false},
      {"digest", true, false},
      {"crl-dist-url", true, true},
      {"ocsp-responder-url", true, true},
      {"if-not-exists", false, false},
      GLOBAL_OPTS}},
    {"ca",
     "issue-cert",
     rmq_ca_cmd_issue,
     {{"ca", true, false},
      {"host", true, true},
      {"cert-type", true, false},
      {"ttl", true, false},
      {"not-before", true, false},
      {"not-after", true, false},
      {"key-type", true, false},
      {"curve", true, false},
      {"rsa-bits", true, false},
      {"json", false, false},
      {"out", true, false},
      GLOBAL_OPTS}},
    {"ca",
     "revoke-cert",
     rmq_ca_cmd_revoke,
     {{"ca", true, false}, {"reason", true, false}, GLOBAL_OPTS}},
    {"ca",
     "get-crl",
     rmq_ca_cmd_get_crl,
     {{"ca", true, false},
      {"version", true, false},
      {"der", false, false},
      {"pem", false, false},
      {"json", false, false},
      GLOBAL_OPTS}},
    {"ca",
     "get-ca-cert",
     rmq_ca_cmd_get_ca_cert,
     {{"ca", true, false}, {"version", true, false}, {"json", false, false}, GLOBAL_OPTS}},
    {"ca",
     "list-certs",
     rmq_ca_cmd_list_certs,
     {{"ca", true, false}, {"json", false, false}, GLOBAL_OPTS}},
    {"ca", "show", rmq_ca_cmd_show, {{"ca", true, false}, {"json", false, false}, GLOBAL_OPTS}},
    {"ca", "rotate", rmq_ca_cmd_rotate, {{"ca", true, false}, GLOBAL_OPTS}},
    {NULL,
     "auto-cert",
     rmq_ca_cmd_auto_cert,
     {{"ca", true, false},
      {"host", true, true},
      {"cert-type", true, false},
      {"ttl", true, false},
      {"refresh-threshold", true, false},
      {"out-dir", true, false},
      {"once", false, false},
      {"interval", true, false},
      GLOBAL_OPTS}},
    {NULL,
     "serve",
     rmq_ca_cmd_serve,
     {{"listen", true, false},
      {"ocsp-validity", true, false},
      {"ocsp-signer", true, false},
      {"max-body", true, false},
      GLOBAL_OPTS}},
};

static void rmq_ca_cli_usage(FILE *f)
{
    fputs("usage: revmq-ca [--dir DIR] [--now T] [--crl-validity D] [--log-level L] COMMAND ...\n"
          "  init --tenant NAME                 make the tenant (prints its UUID)\n"
          "  get-tenant-uuid\n"
          "  ca create --name CA [--ttl 1y350d] [--key-type ecdsa|rsa] [--curve secp256r1]\n"
          "            [--rsa-bits 2048] [--digest sha256] [--crl-dist-url T]...\n"
          "            [--ocsp-responder-url T]... [--if-not-exists]\n"
          "  ca issue-cert --ca CA --host H [--host H2]... --cert-type server|client [--ttl 30d]\n"
          "            [--not-before T] [--not-after T] [--key-type ..] [--json | --out PREFIX]\n"
          "  ca revoke-cert --ca CA [--reason keyCompromise|...] SERIAL\n"
          "  ca get-crl --ca CA [--version N] [--pem|--der|--json]\n"
          "  ca get-ca-cert --ca CA [--version N] [--json]\n"
          "  ca list-certs --ca CA [--json]\n"
          "  ca show --ca CA                    versions and expanded URLs\n"
          "  ca rotate --ca CA                  new key and version\n"
          "  auto-cert --ca CA --host H --cert-type server|client --ttl 30d\n"
          "            --refresh-threshold 15d --out-dir D [--once] [--interval 60s]\n"
          "  serve --listen HOST:PORT [--ocsp-validity 1h] [--ocsp-signer ca|delegated]\n"
          "            [--max-body 16384]\n"
          "T (templates): ${SYS_TENANT_NAME} ${SYS_TENANT_UUID} ${SYS_CA_NAME} ${SYS_CA_VERSION}\n"
          "times: signed durations relative to now (-1d, +2h) or @UNIX; env REVMQ_CA_NOW.\n",
          f);
}

int rmq_ca_cli_main(int argc, char **argv)
{
    int i = 1;
    /* Global options before the command. */
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        if (strcmp(argv[i], "--help") == 0 && i + 1 >= argc) {
            rmq_ca_cli_usage(stdout); /* `revmq-ca --help`: asked for, not an error */
            return 0;
        }
        bool has_arg = strchr(argv[i], '=') == NULL && strcmp(argv[i], "--help") != 0;
        i += has_arg ? 2 : 1;
    }
    if (i >= argc || strcmp(argv[i], "help") == 0 || strcmp(argv[i], "-h") == 0) {
        rmq_ca_cli_usage(i >= argc ? stderr : stdout);
        return i >= argc ? 2 : 0;
    }
    const char *group = NULL;
    const char *name = argv[i];
    int cmd_at = i;
    if (strcmp(argv[i], "ca") == 0) {
        if (i + 1 >= argc) {
            return rmq_ca_cli_usage_err("'ca' needs a subcommand");
        }
        group = "ca";
        name = argv[i + 1];
        cmd_at = i + 1;
    }
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
        const struct command *cmd = &commands[k];
        bool same_group = (group == NULL) == (cmd->group == NULL);
        if (!same_group || strcmp(cmd->name, name) != 0) {
            continue;
        }
        struct rmq_ca_opt opts[MAX_OPTS];
        size_t nopts = 0;
        memset(opts, 0, sizeof(opts));
        while (nopts < MAX_OPTS && cmd->opts[nopts].name != NULL) {
            opts[nopts].name = cmd->opts[nopts].name;
            opts[nopts].has_arg = cmd->opts[nopts].has_arg;
            opts[nopts].multi = cmd->opts[nopts].multi;
            nopts++;
        }
        struct rmq_ca_cli c = {
            .dir = "./revmq-ca-data", .crl_validity = 7 * 86400, .opts = opts, .nopts = nopts};
        /* argv[1..i) are global options, then the command's own. */
        int rc = parse_opts(&c, i, argv, 1);
        if (rc == 0) {
            rc = parse_opts(&c, argc, argv, cmd_at + 1);
        }
        if (rc == 0 && rmq_ca_cli_flag(&c, "help")) {
            rmq_ca_cli_usage(stdout);
            return 0;
        }
        if (cmd->fn != rmq_ca_cmd_serve && cmd->fn != rmq_ca_cmd_auto_cert) {
            rmq_log_set_level(RMQ_LOG_WARNING); /* one-shot commands: quiet by default */
        }
        if (rc == 0) {
            rc = apply_globals(&c);
        }
        return rc != 0 ? rc : cmd->fn(&c);
    }
    return rmq_ca_cli_usage_err("unknown command '%s'", name);
}
