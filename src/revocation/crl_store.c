/*
 * crl_store.c — persistence of each source's last good CRLs under
 * <data_dir>/crl/: <stem>.crl (the CRLs' DER, concatenated) and <stem>.meta
 * ("key=value" lines: kind, location, etag, last_modified). Both written to a
 * temporary file, fsync'd and renamed, so a crash leaves the old or the new
 * version, never a torn one. What is loaded back is verified again by the
 * engine like any other body (a saved file is not trusted more than the
 * network).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/reader.h"
#include "revocation/crl_int.h"

#define META_MAX 8192

void rmq_crl_store_stem(const char *kind, const char *location, char out[65])
{
    uint8_t h[32];
    unsigned int hl = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, kind, strlen(kind)) != 1 || EVP_DigestUpdate(ctx, ":", 1) != 1 ||
        EVP_DigestUpdate(ctx, location, strlen(location)) != 1 ||
        EVP_DigestFinal_ex(ctx, h, &hl) != 1) {
        memset(h, 0, sizeof h);
    }
    EVP_MD_CTX_free(ctx);
    for (size_t i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    }
}

static char *path_join(const char *dir, const char *stem, const char *ext)
{
    char *p = NULL;
    if (asprintf(&p, "%s/crl/%s%s", dir, stem, ext) < 0) {
        return NULL;
    }
    return p;
}

static rmq_err ensure_dir(const char *data_dir)
{
    char *d = NULL;
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        return RMQ_ERR_IO;
    }
    if (asprintf(&d, "%s/crl", data_dir) < 0) {
        return RMQ_ERR_NOMEM;
    }
    int rc = mkdir(d, 0700);
    int err = errno;
    free(d);
    return (rc == 0 || err == EEXIST) ? RMQ_OK : RMQ_ERR_IO;
}

static bool write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        b += w;
        n -= (size_t)w;
    }
    return true;
}

static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Writes the parts to path atomically (tmp + fsync + rename). */
static rmq_err write_atomic(const char *path, const void *const *parts, const size_t *lens,
                            size_t nparts)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
        return RMQ_ERR_NOMEM;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    for (size_t i = 0; ok && i < nparts; i++) {
        ok = write_all(fd, parts[i], lens[i]);
    }
    ok = ok && fsync(fd) == 0;
    if (fd >= 0) {
        ok = close(fd) == 0 && ok;
    }
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        unlink(tmp);
    }
    free(tmp);
    if (ok) {
        sync_parent_dir(path); /* make the rename itself durable */
    }
    return ok ? RMQ_OK : RMQ_ERR_IO;
}

static bool meta_value_ok(const char *s)
{
    return !strpbrk(s, "\r\n");
}

rmq_err rmq_crl_store_save(const char *data_dir, const char *stem,
                           const struct rmq_crl_saved_meta *meta, struct rmq_crl_entry *const *crls,
                           size_t n)
{
    if (!data_dir) {
        return RMQ_OK;
    }
    RMQ_TRY(ensure_dir(data_dir));
    const void *parts[RMQ_CRL_MAX_PER_BODY];
    size_t lens[RMQ_CRL_MAX_PER_BODY];
    if (n > RMQ_CRL_MAX_PER_BODY) {
        return RMQ_ERR_INVALID;
    }
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        if (!crls[i]->der) {
            continue; /* kept from an earlier body (a sibling was refused): not re-saved */
        }
        parts[np] = crls[i]->der;
        lens[np++] = crls[i]->der_len;
    }
    if (np == 0) {
        return RMQ_OK;
    }
    char mbuf[META_MAX];
    int ml = snprintf(mbuf, sizeof mbuf, "kind=%s\nlocation=%s\netag=%s\nlast_modified=%s\n",
                      meta->kind, meta->location, meta_value_ok(meta->etag) ? meta->etag : "",
                      meta_value_ok(meta->last_modified) ? meta->last_modified : "");
    if (ml < 0 || (size_t)ml >= sizeof mbuf || !meta_value_ok(meta->location)) {
        return RMQ_ERR_INVALID;
    }
    char *crl_path = path_join(data_dir, stem, ".crl");
    char *meta_path = path_join(data_dir, stem, ".meta");
    rmq_err e = (crl_path && meta_path) ? RMQ_OK : RMQ_ERR_NOMEM;
    if (e == RMQ_OK) {
        e = write_atomic(crl_path, parts, lens, np);
    }
    if (e == RMQ_OK) {
        const void *mp[1] = {mbuf};
        size_t mlen[1] = {(size_t)ml};
        e = write_atomic(meta_path, mp, mlen, 1);
    }
    free(crl_path);
    free(meta_path);
    return e;
}

rmq_err rmq_crl_read_file(const char *path, size_t max_size, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? RMQ_ERR_NOT_FOUND : RMQ_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return RMQ_ERR_IO;
    }
    if ((uint64_t)st.st_size > max_size) {
        close(fd);
        return RMQ_ERR_TOO_LARGE;
    }
    size_t cap = (size_t)st.st_size;
    uint8_t *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return RMQ_ERR_NOMEM;
    }
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break; /* shrunk meanwhile: take what we have */
        }
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return RMQ_OK;
}

/* Parses "key=value" lines through the bounded reader. */
static void parse_meta(const uint8_t *p, size_t n, struct rmq_crl_saved_meta *m)
{
    struct rmq_reader r = rmq_reader_make(p, n);
    const uint8_t *line;
    size_t ll;
    while (rmq_reader_line(&r, &line, &ll) == RMQ_OK) {
        const uint8_t *eq = memchr(line, '=', ll);
        if (!eq) {
            continue;
        }
        size_t kl = (size_t)(eq - line), vl = ll - kl - 1;
        char *dst = NULL;
        size_t cap = 0;
        if (kl == 4 && memcmp(line, "kind", 4) == 0) {
            dst = m->kind, cap = sizeof m->kind;
        } else if (kl == 8 && memcmp(line, "location", 8) == 0) {
            dst = m->location, cap = sizeof m->location;
        } else if (kl == 4 && memcmp(line, "etag", 4) == 0) {
            dst = m->etag, cap = sizeof m->etag;
        } else if (kl == 13 && memcmp(line, "last_modified", 13) == 0) {
            dst = m->last_modified, cap = sizeof m->last_modified;
        }
        if (dst && vl < cap && !memchr(eq + 1, '\0', vl)) {
            memcpy(dst, eq + 1, vl);
            dst[vl] = '\0';
        }
    }
}

rmq_err rmq_crl_store_load(const char *data_dir, const char *stem, size_t max_size, uint8_t **data,
                           size_t *len, struct rmq_crl_saved_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    *data = NULL;
    *len = 0;
    if (!data_dir) {
        return RMQ_ERR_NOT_FOUND;
    }
    char *crl_path = path_join(data_dir, stem, ".crl");
    char *meta_path = path_join(data_dir, stem, ".meta");
    rmq_err e = (crl_path && meta_path) ? RMQ_OK : RMQ_ERR_NOMEM;
    if (e == RMQ_OK) {
        e = rmq_crl_read_file(crl_path, max_size, data, len);
    }
    if (e == RMQ_OK) {
        uint8_t *m = NULL;
        size_t ml = 0;
        if (rmq_crl_read_file(meta_path, META_MAX, &m, &ml) == RMQ_OK) {
            parse_meta(m, ml, meta);
        }
        free(m);
    }
    free(crl_path);
    free(meta_path);
    return e;
}

size_t rmq_crl_store_clean_tmp(const char *data_dir)
{
    char *d = NULL;
    if (!data_dir || asprintf(&d, "%s/crl", data_dir) < 0) {
        return 0;
    }
    DIR *dir = opendir(d);
    size_t removed = 0;
    struct dirent *de;
    while (dir && (de = readdir(dir))) {
        /* write_atomic's names: <stem>.crl.tmp.<pid> / <stem>.meta.tmp.<pid> */
        if (strstr(de->d_name, ".tmp.") == NULL || de->d_name[0] == '.') {
            continue;
        }
        char *p = NULL;
        if (asprintf(&p, "%s/%s", d, de->d_name) >= 0) {
            if (unlink(p) == 0) {
                removed++;
            } else {
                rmq_warn("crl_cache", "cannot remove temporary file %s: %s", p, strerror(errno));
            }
        }
        free(p);
    }
    if (dir) {
        closedir(dir);
    }
    free(d);
    return removed;
}

void rmq_crl_store_each_discovered(const char *data_dir, void (*fn)(const char *url, void *arg),
                                   void *arg)
{
    char *d = NULL;
    if (!data_dir || asprintf(&d, "%s/crl", data_dir) < 0) {
        return;
    }
    DIR *dir = opendir(d);
    free(d);
    if (!dir) {
        return;
    }
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t nl = strlen(de->d_name);
        if (nl != 64 + 5 || strcmp(de->d_name + 64, ".meta") != 0) {
            continue;
        }
        char stem[65];
        memcpy(stem, de->d_name, 64);
        stem[64] = '\0';
        char *mp = path_join(data_dir, stem, ".meta");
        uint8_t *m = NULL;
        size_t ml = 0;
        struct rmq_crl_saved_meta meta;
        memset(&meta, 0, sizeof meta);
        if (mp && rmq_crl_read_file(mp, META_MAX, &m, &ml) == RMQ_OK) {
            parse_meta(m, ml, &meta);
            char check[65];
            rmq_crl_store_stem("discovered", meta.location, check);
            /* Only a meta whose name matches its content (no stray files). */
            if (strcmp(meta.kind, "discovered") == 0 && strcmp(check, stem) == 0) {
                fn(meta.location, arg);
            }
        }
        free(m);
        free(mp);
    }
    closedir(dir);
}

void rmq_crl_store_remove(const char *data_dir, const char *stem)
{
    if (!data_dir) {
        return;
    }
    char *a = path_join(data_dir, stem, ".crl");
    char *b = path_join(data_dir, stem, ".meta");
    if (a) {
        unlink(a);
    }
    if (b) {
        unlink(b);
    }
    free(a);
    free(b);
}
