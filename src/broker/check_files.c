/* check_files.c — file checks of --check-config; see check_files.h. */
#include "broker/check_files.h"

#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/tls.h"

/* One readable regular file, or a line naming the key and the file. */
static bool readable(FILE *out, size_t *n, const char *key, const char *path)
{
    struct stat st;
    const char *why = NULL;
    if (path == NULL || path[0] == '\0') {
        return true;
    }
    if (stat(path, &st) != 0) {
        why = strerror(errno);
    } else if (!S_ISREG(st.st_mode)) {
        why = "not a regular file";
    } else if (access(path, R_OK) != 0) {
        why = strerror(errno);
    }
    if (why != NULL) {
        fprintf(out, "%s: %s: %s\n", key, path, why);
        (*n)++;
        return false;
    }
    return true;
}

/* log.file: the file can be appended to, or created in its directory. */
static void writable_log(FILE *out, size_t *n, const char *path)
{
    if (path == NULL || path[0] == '\0') {
        return;
    }
    if (access(path, F_OK) == 0) {
        if (access(path, W_OK) != 0) {
            fprintf(out, "log.file: %s: %s\n", path, strerror(errno));
            (*n)++;
        }
        return;
    }
    char *copy = strdup(path);
    const char *dir = copy != NULL ? dirname(copy) : ".";
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(out, "log.file: %s: directory %s does not exist\n", path, dir);
        (*n)++;
    } else if (access(dir, W_OK | X_OK) != 0) {
        fprintf(out, "log.file: %s: cannot create it in %s: %s\n", path, dir, strerror(errno));
        (*n)++;
    }
    free(copy);
}

static void check_listener(FILE *out, size_t *n, const struct rmq_listener_settings *l)
{
    const struct rmq_ssl_options *o = &l->ssl;
    const char *kind = rmq_listener_kind_name(l->kind);
    char key[320];
    bool ok = true;
#define KEY(k) (snprintf(key, sizeof key, "listeners.%s.%s.ssl_options.%s", kind, l->name, k), key)
    ok &= readable(out, n, KEY("certfile"), o->certfile);
    ok &= readable(out, n, KEY("keyfile"), o->keyfile);
    ok &= readable(out, n, KEY("cacertfile"), o->cacertfile);
    for (size_t i = 0; i < o->crlfile.count; i++) {
        ok &= readable(out, n, KEY("crlfile"), o->crlfile.items[i]);
    }
    if (o->ocsp.enable_ocsp_stapling) {
        ok &= readable(out, n, KEY("ocsp.issuer_pem"), o->ocsp.issuer_pem);
    }
#undef KEY
    char *err = NULL;
    if (ok && rmq_tls_check_files(l, &err) != RMQ_OK) {
        fprintf(out, "%s\n", err != NULL ? err : "TLS check failed: out of memory");
        (*n)++;
    }
    free(err);
}

size_t rmq_check_files(const struct rmq_settings *s, FILE *out)
{
    size_t n = 0;
    char key[128];
    for (size_t i = 0; i < s->listener_count; i++) {
        const struct rmq_listener_settings *l = &s->listeners[i];
        if (l->enable && (l->kind == RMQ_LISTENER_SSL || l->kind == RMQ_LISTENER_WSS)) {
            check_listener(out, &n, l);
        }
    }
    for (size_t i = 0; i < s->authn_count; i++) {
        const struct rmq_authn_settings *a = &s->authn[i];
        if (!a->enable) {
            continue;
        }
        snprintf(key, sizeof key, "authentication.%s.bootstrap_file", a->name);
        readable(out, &n, key, a->bootstrap_file);
        snprintf(key, sizeof key, "authentication.%s.path", a->name);
        readable(out, &n, key, a->path);
    }
    for (size_t i = 0; i < s->authz.source_count; i++) {
        const struct rmq_authz_source_settings *src = &s->authz.sources[i];
        if (src->type != RMQ_AUTHZ_SRC_NONE && src->enable) {
            snprintf(key, sizeof key, "authorization.sources.%s.path", src->name);
            readable(out, &n, key, src->path);
        }
    }
    readable(out, &n, "api_key.bootstrap_file", s->api_key_bootstrap_file);
    writable_log(out, &n, s->log_file);
    return n;
}
