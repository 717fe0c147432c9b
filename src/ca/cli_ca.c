/* cli_ca.c — the `ca` subcommands other than create, plus auto-cert and
 * serve; see cli.h for the conventions and docs/revmq-ca.md for usage. */
#include "ca/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca/ca.h"
#include "common/log.h"

struct ca_ctx {
    struct rmq_ca_db *db;
    struct rmq_ca_tenant t;
    struct rmq_ca_info ca;
};

static void ca_ctx_close(struct ca_ctx *x)
{
    rmq_ca_info_release(&x->ca);
    rmq_ca_db_free(x->db);
    x->db = NULL;
}

/* Opens the database and loads --ca; 0 or exit status. */
static int ca_ctx_open(struct rmq_ca_cli *c, struct ca_ctx *x)
{
    const char *name = rmq_ca_cli_get(c, "ca");
    memset(x, 0, sizeof(*x));
    if (name == NULL) {
        return rmq_ca_cli_usage_err("this command needs --ca NAME");
    }
    if (rmq_ca_db_open(c->dir, &x->db) != RMQ_OK) {
        return 1;
    }
    rmq_err e = rmq_ca_load(x->db, name, &x->t, &x->ca);
    if (e != RMQ_OK) {
        rmq_ca_db_free(x->db);
        x->db = NULL;
        return rmq_ca_cli_fail(e, "loading the CA");
    }
    return 0;
}

static bool host_valid(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 253) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == ',' || ch == '/') {
            return false;
        }
    }
    return true;
}

static int write_file(const char *prefix, const char *suffix, const char *data, unsigned mode)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s%s", prefix, suffix) >= (int)sizeof(path)) {
        return rmq_ca_cli_usage_err("--out prefix too long");
    }
    if (rmq_ca_write_file_atomic(path, data, strlen(data), mode) != RMQ_OK) {
        fprintf(stderr, "revmq-ca: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static void print_issued_json(const struct rmq_ca_issued *is)
{
    char nb[32];
    char na[32];
    rmq_ca_cli_iso_time(is->not_before, nb, sizeof(nb));
    rmq_ca_cli_iso_time(is->not_after, na, sizeof(na));
    printf("{\"serial\": \"%s\", \"ca-version\": %d, \"not-before\": \"%s\", "
           "\"not-after\": \"%s\",\n \"cert\": ",
           is->serial, is->version, nb, na);
    rmq_ca_cli_json_str(stdout, is->cert_pem);
    printf(",\n \"private-key\": ");
    rmq_ca_cli_json_str(stdout, is->key_pem);
    printf(",\n \"ca-cert\": ");
    rmq_ca_cli_json_str(stdout, is->ca_cert_pem);
    printf("}\n");
}

static int issue_opts(struct rmq_ca_cli *c, struct rmq_ca_issue_opts *io)
{
    struct rmq_ca_opt *hosts = rmq_ca_cli_find(c->opts, c->nopts, "host", 4);
    const char *v;
    io->cert_type = rmq_ca_cli_get(c, "cert-type");
    if (io->cert_type == NULL ||
        (strcmp(io->cert_type, "server") != 0 && strcmp(io->cert_type, "client") != 0)) {
        return rmq_ca_cli_usage_err("--cert-type server|client is required");
    }
    if (hosts == NULL || hosts->n == 0) {
        return rmq_ca_cli_usage_err("--host is required");
    }
    for (size_t i = 0; i < hosts->n; i++) {
        if (!host_valid(hosts->vals[i])) {
            return rmq_ca_cli_usage_err("bad --host '%s'", hosts->vals[i]);
        }
    }
    io->hosts = hosts->vals;
    io->n_hosts = hosts->n;
    int64_t now = rmq_ca_now();
    int64_t ttl = 30 * 86400;
    if ((v = rmq_ca_cli_get(c, "ttl")) != NULL && rmq_ca_duration_parse(v, &ttl) != RMQ_OK) {
        return rmq_ca_cli_usage_err("bad --ttl '%s' (e.g. 30d, 12h)", v);
    }
    io->not_before = now - 300;
    if ((v = rmq_ca_cli_get(c, "not-before")) != NULL &&
        rmq_ca_time_parse(v, now, &io->not_before) != RMQ_OK) {
        return rmq_ca_cli_usage_err("bad --not-before '%s' (-1d, +2h, @UNIX)", v);
    }
    io->not_after = now + ttl;
    if ((v = rmq_ca_cli_get(c, "not-after")) != NULL &&
        rmq_ca_time_parse(v, now, &io->not_after) != RMQ_OK) {
        return rmq_ca_cli_usage_err("bad --not-after '%s' (-1d, +2h, @UNIX)", v);
    }
    if ((v = rmq_ca_cli_get(c, "key-type")) != NULL) {
        io->key.type = v;
        io->key.curve = (v = rmq_ca_cli_get(c, "curve")) ? v : "secp256r1";
        io->key.rsa_bits = 2048;
        if ((v = rmq_ca_cli_get(c, "rsa-bits")) != NULL) {
            char *end = NULL;
            long bits = strtol(v, &end, 10);
            io->key.rsa_bits =
                end != v && *end == '\0' && bits > 0 && bits < 100000 ? (int)bits : 0;
        }
        EVP_PKEY *probe = NULL;
        if (strcmp(io->key.type, "rsa") == 0 &&
            (io->key.rsa_bits < 2048 || io->key.rsa_bits > 8192)) {
            return rmq_ca_cli_usage_err("--rsa-bits must be 2048..8192");
        }
        if (strcmp(io->key.type, "rsa") != 0) {
            if (rmq_ca_key_generate(&io->key, &probe) != RMQ_OK) {
                return rmq_ca_cli_usage_err("bad --key-type/--curve (ecdsa with secp256r1, "
                                            "secp384r1, secp521r1; or rsa)");
            }
            EVP_PKEY_free(probe);
        }
    }
    return 0;
}

int rmq_ca_cmd_issue(struct rmq_ca_cli *c)
{
    struct rmq_ca_issue_opts io = {0};
    struct ca_ctx x;
    struct rmq_ca_issued is;
    const char *out = rmq_ca_cli_get(c, "out");
    if (out != NULL && rmq_ca_cli_flag(c, "json")) {
        return rmq_ca_cli_usage_err("--json and --out exclude each other");
    }
    int rc = issue_opts(c, &io);
    if (rc != 0 || (rc = ca_ctx_open(c, &x)) != 0) {
        return rc;
    }
    rmq_err e = rmq_ca_issue(x.db, &x.t, &x.ca, &io, &is);
    ca_ctx_close(&x);
    if (e != RMQ_OK) {
        return rmq_ca_cli_fail(e, "issue-cert");
    }
    if (out == NULL) {
        print_issued_json(&is);
    } else if ((rc = write_file(out, ".key", is.key_pem, 0600)) == 0 &&
               (rc = write_file(out, ".pem", is.cert_pem, 0644)) == 0 &&
               (rc = write_file(out, "-ca.pem", is.ca_cert_pem, 0644)) == 0) {
        printf("%s\n", is.serial);
    }
    rmq_ca_issued_release(&is);
    return rc;
}

int rmq_ca_cmd_revoke(struct rmq_ca_cli *c)
{
    const char *rs = rmq_ca_cli_get(c, "reason");
    int reason = 0;
    if (rs != NULL && rmq_ca_reason_parse(rs, &reason) != RMQ_OK) {
        return rmq_ca_cli_usage_err(
            "unknown --reason '%s' (unspecified, keyCompromise, cACompromise, "
            "affiliationChanged, superseded, cessationOfOperation, certificateHold, "
            "removeFromCRL, privilegeWithdrawn, aACompromise)",
            rs);
    }
    if (c->npos != 1) {
        return rmq_ca_cli_usage_err("revoke-cert needs exactly one SERIAL");
    }
    struct ca_ctx x;
    int rc = ca_ctx_open(c, &x);
    if (rc != 0) {
        return rc;
    }
    rmq_err e = rmq_ca_revoke(x.db, &x.ca, c->pos[0], reason, c->crl_validity);
    if (e == RMQ_OK) {
        printf("revoked %s (CA %s, reason %s); the next CRL and OCSP answers list it\n", c->pos[0],
               x.ca.name, rmq_ca_reason_name(reason));
    }
    ca_ctx_close(&x);
    return e == RMQ_OK ? 0 : rmq_ca_cli_fail(e, "revoke-cert");
}

static int version_opt(struct rmq_ca_cli *c, const struct ca_ctx *x, int *version)
{
    const char *v = rmq_ca_cli_get(c, "version");
    *version = x->ca.current_version;
    if (v != NULL) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (end == v || *end != '\0' || n < 1 || n > x->ca.current_version) {
            fprintf(stderr, "revmq-ca: CA '%s' has versions 1..%d, not '%s'\n", x->ca.name,
                    x->ca.current_version, v);
            return 1;
        }
        *version = (int)n;
    }
    return 0;
}

static char *crl_pem(const struct rmq_ca_crlrec *crl)
{
    const unsigned char *p = crl->der;
    X509_CRL *x = d2i_X509_CRL(NULL, &p, (long)crl->der_len);
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (x != NULL && b != NULL && PEM_write_bio_X509_CRL(b, x) == 1) {
        char *data = NULL;
        long n = BIO_get_mem_data(b, &data);
        out = malloc((size_t)n + 1);
        if (out != NULL) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    ERR_clear_error();
    BIO_free(b);
    X509_CRL_free(x);
    return out;
}

int rmq_ca_cmd_get_crl(struct rmq_ca_cli *c)
{
    struct ca_ctx x;
    struct rmq_ca_crlrec crl;
    int version = 0;
    int rc = ca_ctx_open(c, &x);
    if (rc != 0 || (rc = version_opt(c, &x, &version)) != 0) {
        ca_ctx_close(&x);
        return rc;
    }
    rmq_err e = rmq_ca_crl_current(x.db, &x.ca, version, c->crl_validity, false, false, &crl);
    ca_ctx_close(&x);
    if (e != RMQ_OK) {
        return rmq_ca_cli_fail(e, "get-crl");
    }
    if (rmq_ca_cli_flag(c, "der")) {
        rc = fwrite(crl.der, 1, crl.der_len, stdout) == crl.der_len ? 0 : 1;
    } else {
        char *pem = crl_pem(&crl);
        if (pem == NULL) {
            rc = rmq_ca_cli_fail(RMQ_ERR_CRYPTO, "get-crl");
        } else if (rmq_ca_cli_flag(c, "json")) {
            printf("{\"number\": %lld, \"version\": %d, \"crl\": ", (long long)crl.number, version);
            rmq_ca_cli_json_str(stdout, pem);
            printf("}\n");
        } else {
            fputs(pem, stdout);
        }
        free(pem);
    }
    rmq_ca_crlrec_release(&crl);
    return rc;
}

int rmq_ca_cmd_get_ca_cert(struct rmq_ca_cli *c)
{
    struct ca_ctx x;
    struct rmq_ca_version v;
    int version = 0;
    int rc = ca_ctx_open(c, &x);
    if (rc != 0 || (rc = version_opt(c, &x, &version)) != 0) {
        ca_ctx_close(&x);
        return rc;
    }
    rmq_err e = rmq_ca_db_version_get(x.db, x.ca.id, version, &v);
    ca_ctx_close(&x);
    if (e != RMQ_OK) {
        return rmq_ca_cli_fail(e, "get-ca-cert");
    }
    if (rmq_ca_cli_flag(c, "json")) {
        printf("{\"version\": %d, \"cert\": ", version);
        rmq_ca_cli_json_str(stdout, v.cert_pem);
        printf("}\n");
    } else {
        fputs(v.cert_pem, stdout);
    }
    rmq_ca_version_release(&v);
    return 0;
}

struct list_ctx {
    bool json;
    int count;
};

static rmq_err list_one(const struct rmq_ca_certrec *r, void *arg)
{
    struct list_ctx *l = arg;
    char na[32];
    char ra[32] = "";
    rmq_ca_cli_iso_time(r->not_after, na, sizeof(na));
    const char *status = r->revoked ? "revoked" : r->not_after < rmq_ca_now() ? "expired" : "good";
    if (r->revoked) {
        rmq_ca_cli_iso_time(r->revoked_at, ra, sizeof(ra));
    }
    if (l->json) {
        printf("%s\n {\"serial\": \"%s\", \"ca-version\": %d, \"cert-type\": \"%s\", \"host\": ",
               l->count ? "," : "", r->serial, r->version, r->type);
        rmq_ca_cli_json_str(stdout, r->host);
        printf(", \"not-after\": \"%s\", \"status\": \"%s\"", na, status);
        if (r->revoked) {
            printf(", \"revoked-at\": \"%s\", \"reason\": \"%s\"", ra,
                   rmq_ca_reason_name(r->reason));
        }
        printf("}");
    } else {
        printf("%-32s v%-3d %-6s %-30s %s %s%s%s\n", r->serial, r->version, r->type, r->host, na,
               status, r->revoked ? " " : "", r->revoked ? rmq_ca_reason_name(r->reason) : "");
    }
    l->count++;
    return RMQ_OK;
}

int rmq_ca_cmd_list_certs(struct rmq_ca_cli *c)
{
    struct ca_ctx x;
    struct list_ctx l = {rmq_ca_cli_flag(c, "json"), 0};
    int rc = ca_ctx_open(c, &x);
    if (rc != 0) {
        return rc;
    }
    if (l.json) {
        printf("[");
    }
    rmq_err e = rmq_ca_db_cert_foreach(x.db, x.ca.id, 0, false, list_one, &l);
    if (l.json) {
        printf("\n]\n");
    }
    ca_ctx_close(&x);
    return e == RMQ_OK ? 0 : rmq_ca_cli_fail(e, "list-certs");
}

static void print_urls(bool json, const char *label, char **v, size_t n)
{
    if (json) {
        printf(", \"%s\": [", label);
        for (size_t i = 0; i < n; i++) {
            printf("%s", i ? ", " : "");
            rmq_ca_cli_json_str(stdout, v[i]);
        }
        printf("]");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        printf("%s: %s\n", label, v[i]);
    }
}

int rmq_ca_cmd_show(struct rmq_ca_cli *c)
{
    struct ca_ctx x;
    char **crl = NULL;
    char **ocsp = NULL;
    size_t ncrl = 0;
    size_t nocsp = 0;
    bool json = rmq_ca_cli_flag(c, "json");
    int rc = ca_ctx_open(c, &x);
    if (rc != 0) {
        return rc;
    }
    const struct rmq_ca_tvars tv = {x.t.name, x.t.uuid, x.ca.name, x.ca.current_version};
    if (rmq_ca_expand_urls(x.ca.crl_urls, &tv, &crl, &ncrl) != RMQ_OK ||
        rmq_ca_expand_urls(x.ca.ocsp_urls, &tv, &ocsp, &nocsp) != RMQ_OK) {
        rc = rmq_ca_cli_fail(RMQ_ERR_INVALID, "show");
    } else if (json) {
        printf("{\"tenant\": \"%s\", \"tenant-uuid\": \"%s\", \"name\": \"%s\", \"version\": %d,"
               " \"key-type\": \"%s\", \"digest\": \"%s\"",
               x.t.name, x.t.uuid, x.ca.name, x.ca.current_version, x.ca.key_type, x.ca.digest);
        print_urls(true, "crl-urls", crl, ncrl);
        print_urls(true, "ocsp-urls", ocsp, nocsp);
        printf("}\n");
    } else {
        printf("tenant: %s (%s)\nca: %s\nversion: %d\nkey: %s %s\ndigest: %s\n", x.t.name, x.t.uuid,
               x.ca.name, x.ca.current_version, x.ca.key_type,
               strcmp(x.ca.key_type, "rsa") == 0 ? "" : x.ca.curve, x.ca.digest);
        print_urls(false, "crl-url", crl, ncrl);
        print_urls(false, "ocsp-url", ocsp, nocsp);
    }
    rmq_ca_strv_free(crl, ncrl);
    rmq_ca_strv_free(ocsp, nocsp);
    ca_ctx_close(&x);
    return rc;
}

int rmq_ca_cmd_rotate(struct rmq_ca_cli *c)
{
    struct ca_ctx x;
    int rc = ca_ctx_open(c, &x);
    if (rc != 0) {
        return rc;
    }
    rmq_err e = rmq_ca_db_begin(x.db);
    int version = 0;
    if (e == RMQ_OK) {
        /* Re-read under the write lock: another process may have rotated. */
        rmq_ca_info_release(&x.ca);
        e = rmq_ca_db_ca_get(x.db, x.t.id, rmq_ca_cli_get(c, "ca"), &x.ca);
        version = x.ca.current_version + 1;
        if (e == RMQ_OK) {
            e = rmq_ca_make_version(x.db, &x.t, &x.ca, version, c->crl_validity);
        }
        e = e == RMQ_OK ? rmq_ca_db_commit(x.db) : (rmq_ca_db_rollback(x.db), e);
    }
    if (e == RMQ_OK) {
        rmq_info("ca", "CA rotated ca=%s version=%d", x.ca.name, version);
        printf("%d\n", version);
    }
    ca_ctx_close(&x);
    return e == RMQ_OK ? 0 : rmq_ca_cli_fail(e, "rotate");
}

int rmq_ca_cmd_auto_cert(struct rmq_ca_cli *c)
{
    struct rmq_ca_autocert_opts o = {.dir = c->dir, .once = rmq_ca_cli_flag(c, "once")};
    struct rmq_ca_opt *hosts = rmq_ca_cli_find(c->opts, c->nopts, "host", 4);
    const char *v;
    o.ca_name = rmq_ca_cli_get(c, "ca");
    o.cert_type = (v = rmq_ca_cli_get(c, "cert-type")) ? v : "server";
    o.out_dir = rmq_ca_cli_get(c, "out-dir");
    if (o.ca_name == NULL || o.out_dir == NULL || hosts == NULL || hosts->n == 0) {
        return rmq_ca_cli_usage_err("auto-cert needs --ca, --host and --out-dir");
    }
    if (strcmp(o.cert_type, "server") != 0 && strcmp(o.cert_type, "client") != 0) {
        return rmq_ca_cli_usage_err("--cert-type is server or client, not '%s'", o.cert_type);
    }
    for (size_t i = 0; i < hosts->n; i++) {
        if (!host_valid(hosts->vals[i])) {
            return rmq_ca_cli_usage_err("bad --host '%s'", hosts->vals[i]);
        }
    }
    o.hosts = hosts->vals;
    o.n_hosts = hosts->n;
    o.ttl = 30 * 86400;
    if ((v = rmq_ca_cli_get(c, "ttl")) != NULL && rmq_ca_duration_parse(v, &o.ttl) != RMQ_OK) {
        return rmq_ca_cli_usage_err("bad --ttl '%s'", v);
    }
    o.threshold = o.ttl / 2;
    if ((v = rmq_ca_cli_get(c, "refresh-threshold")) != NULL &&
        rmq_ca_duration_parse(v, &o.threshold) != RMQ_OK) {
        return rmq_ca_cli_usage_err("bad --refresh-threshold '%s'", v);
    }
    o.interval = o.threshold / 4 < 60 ? (o.threshold / 4 > 0 ? o.threshold / 4 : 1) : 60;
    if ((v = rmq_ca_cli_get(c, "interval")) != NULL &&
        rmq_ca_duration_parse(v, &o.interval) != RMQ_OK) {
        return rmq_ca_cli_usage_err("bad --interval '%s'", v);
    }
    rmq_err e = rmq_ca_autocert_run(&o);
    return e == RMQ_OK ? 0 : rmq_ca_cli_fail(e, "auto-cert");
}

int rmq_ca_cmd_serve(struct rmq_ca_cli *c)
{
    struct rmq_ca_serve_opts o = {
        .dir = c->dir,
        .listen = "127.0.0.1:4664",
        .crl_validity = c->crl_validity,
        .ocsp_validity = 3600,
        .max_body = 16384,
    };
    const char *v;
    if ((v = rmq_ca_cli_get(c, "listen")) != NULL) {
        o.listen = v;
    }
    if ((v = rmq_ca_cli_get(c, "ocsp-validity")) != NULL &&
        rmq_ca_duration_parse(v, &o.ocsp_validity) != RMQ_OK) {
        return rmq_ca_cli_usage_err("bad --ocsp-validity '%s'", v);
    }
    if ((v = rmq_ca_cli_get(c, "ocsp-signer")) != NULL) {
        if (strcmp(v, "delegated") != 0 && strcmp(v, "ca") != 0) {
            return rmq_ca_cli_usage_err("--ocsp-signer is ca or delegated, not '%s'", v);
        }
        o.ocsp_delegated = strcmp(v, "delegated") == 0;
    }
    if ((v = rmq_ca_cli_get(c, "max-body")) != NULL) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (end == v || *end != '\0' || n < 256 || n > 1048576) {
            return rmq_ca_cli_usage_err("--max-body must be 256..1048576, not '%s'", v);
        }
        o.max_body = (size_t)n;
    }
    rmq_err e = rmq_ca_serve(&o);
    if (e == RMQ_ERR_INVALID) {
        return 2; /* bad --listen, message printed */
    }
    return e == RMQ_OK ? 0 : rmq_ca_cli_fail(e, "serve");
}
