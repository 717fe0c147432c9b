/*
 * tls_ctx.c — one SSL_CTX per listener and certificate generation, built from
 * ssl_options and checked at build time, with errors that name the key and
 * the file. See docs/tls.md for the settings applied (TLS-COST.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "revocation/ocsp_stapler.h"
#include "tls/tls_int.h"

char *tls_strdupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
    }
    va_end(ap);
    return s;
}

/* The last OpenSSL error as text ("" if none); clears the queue. */
static const char *ossl_err(char *buf, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    buf[0] = '\0';
    if (e != 0) {
        ERR_error_string_n(e, buf, n);
    }
    ERR_clear_error();
    return buf;
}

/* "ssl" or "wss": the listener kind in key paths of error messages. */
static const char *tls_kind(const struct rmq_tls_listener *l)
{
    return l->ls->kind == RMQ_LISTENER_WSS ? "wss" : "ssl";
}

struct build {
    struct rmq_tls_listener *l;
    const struct rmq_ssl_options *o;
    char **errmsg;
    char eb[256];
};

/* Sets *errmsg to "<key path>: <file>: <what>" and returns RMQ_ERR_CONFIG. */
static rmq_err fail(struct build *b, const char *key, const char *file, const char *what)
{
    if (b->errmsg != NULL && *b->errmsg == NULL) {
        if (file != NULL) {
            *b->errmsg = tls_strdupf("listeners.%s.%s.ssl_options.%s: %s: %s", tls_kind(b->l),
                                     b->l->name, key, file, what);
        } else {
            *b->errmsg = tls_strdupf("listeners.%s.%s.ssl_options.%s: %s", tls_kind(b->l),
                                     b->l->name, key, what);
        }
    }
    return RMQ_ERR_CONFIG;
}

static rmq_err check_readable(struct build *b, const char *key, const char *path)
{
    if (path == NULL || path[0] == '\0') {
        return fail(b, key, NULL, "not set (a file path is required)");
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return fail(b, key, path, strerror(errno));
    }
    fclose(f);
    return RMQ_OK;
}

/* Every certificate of a PEM file, in order. */
static rmq_err read_certs(struct build *b, const char *key, const char *path, STACK_OF(X509) * *out)
{
    RMQ_TRY(check_readable(b, key, path));
    BIO *bio = BIO_new_file(path, "rb");
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (bio == NULL || sk == NULL) {
        BIO_free(bio);
        sk_X509_free(sk);
        return fail(b, key, path, "cannot open");
    }
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        /*
         * OpenSSL fills a certificate's cached extensions (key identifiers,
         * CRL distribution points, flags) at first use, under the
         * certificate's own lock, but reads some of them without it. These
         * certificates are shared by the handshakes of every worker thread, so
         * the cache is filled here, before any thread starts.
         */
        (void)X509_check_purpose(x, -1, 0);
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            break;
        }
    }
    unsigned long e = ERR_peek_last_error();
    bool eof = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
    BIO_free(bio);
    if (sk_X509_num(sk) == 0 || (e != 0 && !eof)) {
        const char *why =
            sk_X509_num(sk) == 0 ? "no PEM certificate in file" : "bad PEM certificate in file";
        char *msg = tls_strdupf("%s (%s)", why, e != 0 ? ossl_err(b->eb, sizeof b->eb) : "empty");
        sk_X509_pop_free(sk, X509_free);
        rmq_err r = fail(b, key, path, msg != NULL ? msg : why);
        free(msg);
        return r;
    }
    ERR_clear_error();
    *out = sk;
    return RMQ_OK;
}

static int pw_cb(char *buf, int size, int rwflag, void *u)
{
    const char *pw = u;
    if (pw == NULL) {
        return 0; /* never prompt on a terminal */
    }
    size_t n = strlen(pw);
    if (n > (size_t)size) {
        return 0;
    }
    memcpy(buf, pw, n);
    return (int)n;
}

static bool self_issued(X509 *x)
{
    return X509_check_issued(x, x) == X509_V_OK;
}

/* The certificate of `pool` that issued `x` (name and key identifier match), or NULL. */
static X509 *find_issuer(STACK_OF(X509) * pool, X509 *x)
{
    for (int i = 0; i < sk_X509_num(pool); i++) {
        X509 *c = sk_X509_value(pool, i);
        if (X509_check_issued(c, x) == X509_V_OK) {
            return c;
        }
    }
    return NULL;
}

/*
 * Completes the chain the server sends, once per certificate generation (load
 * and reload), the way EMQX and Mosquitto serve a leaf-only certfile: the
 * certificates of certfile after the leaf are kept as given; then, from the
 * last of them (or the leaf), issuers are taken from cacertfile until a
 * self-signed root, which is not sent (RFC 8446 4.4.2: it may be omitted).
 * Nothing is built per handshake (SSL_MODE_NO_AUTO_CHAIN, TLS-COST.md).
 * On error (cacertfile unreadable) *errmsg names it and nothing changed.
 */
static rmq_err complete_chain(struct build *b, X509 *leaf, STACK_OF(X509) * chain)
{
    const char *ca = b->o->cacertfile;
    size_t given = (size_t)sk_X509_num(chain);
    X509 *last = given > 0 ? sk_X509_value(chain, (int)given - 1) : leaf;
    if (ca == NULL || ca[0] == '\0' || self_issued(last)) {
        return RMQ_OK;
    }
    STACK_OF(X509) *pool = NULL;
    RMQ_TRY(read_certs(b, "cacertfile", ca, &pool));
    for (int depth = 0; depth < 16 && !self_issued(last); depth++) {
        X509 *iss = find_issuer(pool, last);
        if (iss == NULL || self_issued(iss) || X509_up_ref(iss) != 1) {
            break;
        }
        if (!sk_X509_push(chain, iss)) {
            X509_free(iss);
            break;
        }
        last = iss;
    }
    bool complete = self_issued(last) || find_issuer(pool, last) != NULL;
    sk_X509_pop_free(pool, X509_free);
    if (!complete) {
        rmq_warn("tls",
                 "server chain incomplete: the issuer of the last certificate is in neither "
                 "certfile nor cacertfile listener=%s certfile=%s cacertfile=%s",
                 b->l->id, b->o->certfile, ca);
    }
    if ((size_t)sk_X509_num(chain) > given) {
        rmq_info("tls", "server chain built listener=%s from_certfile=%zu from_cacertfile=%zu",
                 b->l->id, given, (size_t)sk_X509_num(chain) - given);
    }
    return RMQ_OK;
}

static rmq_err load_cert_key(struct build *b, SSL_CTX *ctx, STACK_OF(X509) * *chain_out,
                             X509 **leaf_out)
{
    STACK_OF(X509) *certs = NULL;
    RMQ_TRY(read_certs(b, "certfile", b->o->certfile, &certs));
    X509 *leaf = sk_X509_shift(certs);
    rmq_err r = RMQ_OK;
    if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
        r = fail(b, "certfile", b->o->certfile, ossl_err(b->eb, sizeof b->eb));
        goto out;
    }
    r = complete_chain(b, leaf, certs);
    if (r != RMQ_OK) {
        goto out;
    }
    /* The chain is sent as built above; no automatic chain building (TLS-COST.md). */
    if (SSL_CTX_set1_chain(ctx, certs) != 1) {
        r = fail(b, "certfile", b->o->certfile, "cannot set the certificate chain");
        goto out;
    }
    r = check_readable(b, "keyfile", b->o->keyfile);
    if (r != RMQ_OK) {
        goto out;
    }
    BIO *bio = BIO_new_file(b->o->keyfile, "rb");
    EVP_PKEY *pk = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, pw_cb, b->o->password) : NULL;
    BIO_free(bio);
    if (pk == NULL) {
        char *msg = tls_strdupf("cannot load the private key%s (%s)",
                                b->o->password != NULL ? " with the configured password"
                                                       : " (encrypted? set password)",
                                ossl_err(b->eb, sizeof b->eb));
        r = fail(b, "keyfile", b->o->keyfile, msg != NULL ? msg : "cannot load the private key");
        free(msg);
        goto out;
    }
    int ok = SSL_CTX_use_PrivateKey(ctx, pk);
    EVP_PKEY_free(pk);
    if (ok != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        char *msg = tls_strdupf("key does not match certfile %s", b->o->certfile);
        ERR_clear_error();
        r = fail(b, "keyfile", b->o->keyfile, msg != NULL ? msg : "key does not match certfile");
        free(msg);
        goto out;
    }
    *leaf_out = leaf;
    *chain_out = certs;
    return RMQ_OK;
out:
    X509_free(leaf);
    sk_X509_pop_free(certs, X509_free);
    return r;
}

static rmq_err load_ca(struct build *b, SSL_CTX *ctx)
{
    const struct rmq_ssl_options *o = b->o;
    if (o->cacertfile == NULL || o->cacertfile[0] == '\0') {
        if (o->verify == RMQ_VERIFY_PEER) {
            return fail(b, "cacertfile", NULL, "not set, but verify = verify_peer needs it");
        }
        return RMQ_OK;
    }
    STACK_OF(X509) *cas = NULL;
    rmq_err r = read_certs(b, "cacertfile", o->cacertfile, &cas);
    if (r != RMQ_OK) {
        return r;
    }
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    for (int i = 0; i < sk_X509_num(cas); i++) {
        X509 *x = sk_X509_value(cas, i);
        if (X509_STORE_add_cert(store, x) != 1) {
            ERR_clear_error(); /* duplicate: harmless */
        }
        X509_NAME *n = X509_NAME_dup(X509_get_subject_name(x));
        if (names != NULL && n != NULL && !sk_X509_NAME_push(names, n)) {
            X509_NAME_free(n);
        } else if (names == NULL) {
            X509_NAME_free(n);
        }
    }
    sk_X509_pop_free(cas, X509_free);
    if (names != NULL) {
        SSL_CTX_set_client_CA_list(ctx, names); /* takes ownership */
    }
    return RMQ_OK;
}

/*
 * One `ciphers` entry: 13 = a TLS 1.3 suite, 12 = a TLS 1.2 cipher (*name: the
 * OpenSSL name to put in the list; RFC names like
 * TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 are mapped), 0 = unknown.
 * Cipher-string modifiers (!x, -x, +x, @x) are passed to the TLS 1.2 list.
 */
static int classify_cipher(SSL_CTX *ctx, const char *tok, const char **name)
{
    *name = tok;
    if (strchr("!-+@", tok[0]) != NULL) {
        return 12;
    }
    if (strncmp(tok, "TLS_", 4) == 0) {
        if (SSL_CTX_set_ciphersuites(ctx, tok) == 1) {
            return 13;
        }
        const char *n = OPENSSL_cipher_name(tok);
        if (n == NULL || strcmp(n, "(NONE)") == 0) {
            return 0;
        }
        *name = n;
    }
    return SSL_CTX_set_cipher_list(ctx, *name) == 1 ? 12 : 0;
}

/* ciphers: TLS 1.3 suite names go to ciphersuites, the rest to the TLS 1.2
 * cipher list. Separators: ':' ',' or spaces. */
static rmq_err set_ciphers(struct build *b, SSL_CTX *ctx)
{
    const char *c = b->o->ciphers;
    if (c == NULL || c[0] == '\0') {
        return RMQ_OK;
    }
    size_t cap = 2 * strlen(c) + 64; /* OpenSSL names of RFC names fit */
    char *copy = strdup(c);
    char *l12 = calloc(1, cap);
    char *l13 = calloc(1, cap);
    rmq_err r = RMQ_OK;
    if (copy == NULL || l12 == NULL || l13 == NULL) {
        r = RMQ_ERR_NOMEM;
        goto out;
    }
    size_t len12 = 0;
    size_t len13 = 0;
    char *next = copy;
    for (;;) {
        next += strspn(next, ":, \t");
        if (*next == '\0') {
            break;
        }
        char *tok = next;
        next += strcspn(next, ":, \t");
        if (*next != '\0') {
            *next++ = '\0';
        }
        const char *name = tok;
        int kind = classify_cipher(ctx, tok, &name);
        ERR_clear_error();
        if (kind == 0) {
            char *msg = tls_strdupf("unknown or unusable cipher '%s'", tok);
            r = fail(b, "ciphers", NULL, msg != NULL ? msg : "unknown cipher");
            free(msg);
            goto out;
        }
        char *dst = kind == 13 ? l13 : l12;
        size_t *dlen = kind == 13 ? &len13 : &len12;
        size_t nlen = strlen(name);
        if (*dlen + nlen + 2 > cap) {
            r = fail(b, "ciphers", NULL, "cipher list too long");
            goto out;
        }
        if (*dlen != 0) {
            dst[(*dlen)++] = ':';
        }
        memcpy(dst + *dlen, name, nlen + 1);
        *dlen += nlen;
    }
    /* Apply what was given per version; a version not mentioned keeps the defaults. */
    if (SSL_CTX_set_ciphersuites(ctx, l13[0] != '\0' ? l13 : OSSL_default_ciphersuites()) != 1 ||
        SSL_CTX_set_cipher_list(ctx, l12[0] != '\0' ? l12 : OSSL_default_cipher_list()) != 1) {
        ERR_clear_error();
        r = fail(b, "ciphers", NULL, "cannot apply the cipher list");
    }
out:
    free(copy);
    free(l12);
    free(l13);
    return r;
}

static rmq_err set_versions(struct build *b, SSL_CTX *ctx)
{
    unsigned v = b->o->versions;
    if ((v & (RMQ_TLS_V12 | RMQ_TLS_V13)) == 0) {
        return fail(b, "versions", NULL, "no usable version (allowed: tlsv1.3, tlsv1.2)");
    }
    int min = (v & RMQ_TLS_V12) ? TLS1_2_VERSION : TLS1_3_VERSION;
    int max = (v & RMQ_TLS_V13) ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, max) != 1) {
        return fail(b, "versions", NULL, "cannot set protocol versions");
    }
    return RMQ_OK;
}

static rmq_err check_modes(struct build *b)
{
    const struct rmq_ssl_options *o = b->o;
    if (o->fail_if_no_peer_cert && o->verify != RMQ_VERIFY_PEER) {
        return fail(b, "fail_if_no_peer_cert", NULL, "true requires verify = verify_peer");
    }
    if (o->enable_crl_check && o->verify != RMQ_VERIFY_PEER) {
        return fail(b, "enable_crl_check", NULL, "true requires verify = verify_peer");
    }
    if (o->enable_crl_check && b->l->revops == NULL) {
        return fail(b, "enable_crl_check", NULL,
                    "true, but the broker has no CRL engine (revocation engine not started)");
    }
    if (o->depth < 0) {
        return fail(b, "depth", NULL, "must be >= 0");
    }
    return RMQ_OK;
}

static void set_session_params(struct rmq_tls_listener *l, SSL_CTX *ctx)
{
    /* Session id context: the listener's kind and name, so sessions never
     * cross listeners (ssl "default" and wss "default" are two listeners). */
    unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
    unsigned int n = 0;
    char *id = l->ls->kind == RMQ_LISTENER_WSS ? tls_strdupf("wss:%s", l->name) : NULL;
    const char *idp = id != NULL ? id : l->name;
    EVP_Digest(idp, strlen(idp), sid, &n, EVP_sha256(), NULL);
    free(id);
    SSL_CTX_set_session_id_context(ctx, sid, n > sizeof sid ? sizeof sid : n);
    /* TLS-COST.md: no stateless tickets; TLS 1.3 resumes through ONE stateful
     * ticket per connection that names an entry of our server-side cache. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 1);
}

static rmq_err build_ctx(struct build *b, struct tls_gen *g, bool reload)
{
    const struct rmq_ssl_options *o = b->o;
    RMQ_TRY(check_modes(b));
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        return RMQ_ERR_NOMEM;
    }
    g->ctx = ctx;
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (o->honor_cipher_order) {
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN |
                              SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    RMQ_TRY(set_versions(b, ctx));
    RMQ_TRY(set_ciphers(b, ctx));
    STACK_OF(X509) *chain = NULL;
    X509 *leaf = NULL;
    RMQ_TRY(load_cert_key(b, ctx, &chain, &leaf));
    rmq_err r = load_ca(b, ctx);
    if (r == RMQ_OK) {
        uint8_t ih[32], ser[32];
        size_t sl = 0;
        if (tls_cert_ids(leaf, ih, ser, &sl) == RMQ_OK) {
            tls_hex(ser, sl, g->cert_serial, true);
        }
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdn = 0;
        if (X509_digest(leaf, EVP_sha256(), md, &mdn) == 1 && mdn == 32) {
            tls_hex(md, 32, g->cert_fp, false);
        }
        if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
            rmq_warn("tls", "server certificate has expired listener=%s certfile=%s serial=%s",
                     b->l->id, o->certfile, g->cert_serial);
        }
        r = tls_staple_setup(g, leaf, chain, reload, b->errmsg);
    }
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    RMQ_TRY(r);
    int mode = SSL_VERIFY_NONE;
    if (o->verify == RMQ_VERIFY_PEER) {
        mode = SSL_VERIFY_PEER | (o->fail_if_no_peer_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    }
    SSL_CTX_set_verify(ctx, mode, tls_verify_cb);
    SSL_CTX_set_verify_depth(ctx, o->depth);
    set_session_params(b->l, ctx);
    return RMQ_OK;
}

rmq_err rmq_tls_check_files(const struct rmq_listener_settings *ls, char **errmsg)
{
    struct rmq_tls_listener l;
    memset(&l, 0, sizeof l);
    l.name = ls->name;
    l.id = ls->id[0] != '\0' ? ls->id : ls->name;
    /* no CRL engine here: enable_crl_check is the broker's business, not a file check */
    struct rmq_listener_settings copy = *ls;
    copy.ssl.enable_crl_check = false;
    l.ls = &copy;
    struct build b = {.l = &l, .o = &copy.ssl, .errmsg = errmsg};
    *errmsg = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        return RMQ_ERR_NOMEM;
    }
    STACK_OF(X509) *chain = NULL;
    X509 *leaf = NULL;
    rmq_err r = check_modes(&b);
    if (r == RMQ_OK) {
        r = set_versions(&b, ctx);
    }
    if (r == RMQ_OK) {
        r = set_ciphers(&b, ctx);
    }
    if (r == RMQ_OK) {
        r = load_cert_key(&b, ctx, &chain, &leaf);
    }
    if (r == RMQ_OK) {
        r = load_ca(&b, ctx);
    }
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return r;
}

void tls_stat_files(const struct rmq_ssl_options *o, struct tls_filestat st[TLS_FILE__COUNT])
{
    const char *paths[TLS_FILE__COUNT] = {o->certfile, o->keyfile, o->cacertfile,
                                          o->ocsp.enable_ocsp_stapling ? o->ocsp.issuer_pem : NULL};
    for (int i = 0; i < TLS_FILE__COUNT; i++) {
        struct stat sb;
        memset(&st[i], 0, sizeof st[i]);
        if (paths[i] != NULL && stat(paths[i], &sb) == 0) {
            st[i].exists = true;
            st[i].dev = sb.st_dev;
            st[i].ino = sb.st_ino;
            st[i].size = sb.st_size;
            st[i].mtime = sb.st_mtim;
        }
    }
}

bool tls_stats_equal(const struct tls_filestat *a, const struct tls_filestat *b)
{
    for (int i = 0; i < TLS_FILE__COUNT; i++) {
        if (a[i].exists != b[i].exists || a[i].dev != b[i].dev || a[i].ino != b[i].ino ||
            a[i].size != b[i].size || a[i].mtime.tv_sec != b[i].mtime.tv_sec ||
            a[i].mtime.tv_nsec != b[i].mtime.tv_nsec) {
            return false;
        }
    }
    return true;
}

rmq_err tls_gen_new(struct rmq_tls_listener *l, bool reload, struct tls_gen **out, char **errmsg)
{
    *out = NULL;
    struct tls_gen *g = calloc(1, sizeof *g);
    if (g == NULL) {
        return RMQ_ERR_NOMEM;
    }
    atomic_init(&g->refs, 1);
    g->l = l;
    g->built_at = time(NULL);
    /* Stat before reading: a change during the build is seen by the next check. */
    tls_stat_files(&l->ls->ssl, g->files);
    struct build b = {.l = l, .o = &l->ls->ssl, .errmsg = errmsg};
    rmq_err r = build_ctx(&b, g, reload);
    if (r == RMQ_OK) {
        g->cache = tls_sess_cache_new(l, l->sess_budget);
        if (g->cache == NULL) {
            r = RMQ_ERR_NOMEM;
        } else {
            r = tls_sess_cache_attach(g->cache, g->ctx);
        }
        SSL_CTX_set_ex_data(g->ctx, tls_ctx_ex_index(), g);
    }
    if (r != RMQ_OK) {
        if (errmsg != NULL && *errmsg == NULL) {
            *errmsg = tls_strdupf("listeners.ssl.%s.ssl_options: %s", l->name, rmq_err_message(r));
        }
        tls_gen_unref(g);
        ERR_clear_error();
        return r;
    }
    *out = g;
    return RMQ_OK;
}

void tls_gen_ref(struct tls_gen *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void tls_gen_unref(struct tls_gen *g)
{
    if (g == NULL || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    tls_sess_cache_free(g->cache); /* our cache holds the sessions, not OpenSSL's */
    SSL_CTX_free(g->ctx);
    rmq_ocsp_stapler_free(g->stapler);
    free(g);
}
