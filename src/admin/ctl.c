/* ctl.c — `revmq ctl …`, like `emqx ctl`, over the admin HTTP API; see
 * admin.h. Runs in its own short-lived process: no broker state here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "admin/admin.h"

#define REPLY_MAX (16u * 1024u * 1024u)

struct ctl {
    char url[300];
    char key[80];
    char secret[300];
};

struct body {
    char *p;
    size_t n;
    bool over;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;
    if (n > REPLY_MAX - b->n) {
        b->over = true;
        return 0;
    }
    char *np = realloc(b->p, b->n + n + 1);
    if (!np) {
        return 0;
    }
    memcpy(np + b->n, ptr, n);
    b->n += n;
    np[b->n] = '\0';
    b->p = np;
    return n;
}

/* 0 and *out (owned) on an HTTP answer (any status, in *status); 3 when the
 * listener cannot be reached. */
static int call(const struct ctl *c, const char *method, const char *path, long *status,
                json_t **out)
{
    CURL *h = curl_easy_init();
    if (!h) {
        return 3;
    }
    char url[1400], up[400];
    snprintf(url, sizeof url, "%s%s", c->url, path);
    snprintf(up, sizeof up, "%s:%s", c->key, c->secret);
    struct body b = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERPWD, up);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    CURLcode rc = curl_easy_perform(h);
    memset(up, 0, sizeof up);
    if (rc != CURLE_OK) {
        fprintf(stderr, "revmq ctl: cannot reach the admin API at %s: %s\n", c->url,
                curl_easy_strerror(rc));
        curl_easy_cleanup(h);
        free(b.p);
        return 3;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    *out = b.n ? json_loadb(b.p, b.n, 0, NULL) : json_object();
    free(b.p);
    return 0;
}

static const char *js(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static void print_client(json_t *c)
{
    printf("client(clientid=%s, username=%s, ip_address=%s, port=%lld, connected=%s, "
           "proto_ver=%lld, listener=%s, principal=%s)\n",
           js(c, "clientid"),
           json_is_string(json_object_get(c, "username")) ? js(c, "username") : "undefined",
           js(c, "ip_address"), (long long)json_integer_value(json_object_get(c, "port")),
           json_is_true(json_object_get(c, "connected")) ? "true" : "false",
           (long long)json_integer_value(json_object_get(c, "proto_ver")), js(c, "listener"),
           js(c, "principal"));
}

static void print_crls(json_t *r)
{
    size_t i, j;
    json_t *s, *c;
    json_array_foreach(json_object_get(r, "sources"), i, s)
    {
        printf("source %s (%s): last_fetch=%s result=%s next_refresh_in=%llds\n", js(s, "source"),
               js(s, "kind"), js(s, "last_fetch"), js(s, "last_result"),
               (long long)json_integer_value(json_object_get(s, "next_refresh_ms")) / 1000);
        json_array_foreach(json_object_get(s, "crls"), j, c)
        {
            printf("  crl issuer=\"%s\" number=%s entries=%lld this_update=%s next_update=%s "
                   "(in %llds)\n",
                   js(c, "issuer"), js(c, "crl_number"),
                   (long long)json_integer_value(json_object_get(c, "entries")),
                   js(c, "this_update"), js(c, "next_update"),
                   (long long)json_integer_value(json_object_get(c, "seconds_until_next_update")));
        }
    }
    printf("refreshes_ok=%lld refreshes_failed=%lld live_sessions_closed=%lld\n",
           (long long)json_integer_value(json_object_get(r, "refreshes_ok")),
           (long long)json_integer_value(json_object_get(r, "refreshes_failed")),
           (long long)json_integer_value(json_object_get(r, "live_sessions_closed")));
}

static void print_staples(json_t *r)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r, "staples"), i, s)
    {
        printf("staple listener=%s responder=%s status=%s this_update=%s next_update=%s "
               "next_refresh_in=%llds last_error=%s\n",
               js(s, "listener"), js(s, "responder"), js(s, "status"), js(s, "this_update"),
               js(s, "next_update"),
               (long long)json_integer_value(json_object_get(s, "next_refresh_ms")) / 1000,
               json_is_string(json_object_get(s, "last_error")) ? js(s, "last_error") : "-");
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: revmq ctl [-c FILE] [--url URL] [--key KEY --secret SECRET] COMMAND\n"
                    "commands:\n"
                    "  status\n"
                    "  clients list | clients show CLIENTID | clients kick CLIENTID\n"
                    "  crl show | crl refresh\n"
                    "  ocsp show | ocsp refresh\n");
    return 2;
}

/* Runs the command words w[0..n); returns the exit code. */
static int run(const struct ctl *c, char **w, int n)
{
    const char *method = "GET";
    char path[1024];
    char *esc = NULL;
    if (n == 1 && strcmp(w[0], "status") == 0) {
        snprintf(path, sizeof path, "/api/v5/revmq/status");
    } else if (n == 2 && strcmp(w[0], "clients") == 0 && strcmp(w[1], "list") == 0) {
        snprintf(path, sizeof path, "/api/v5/clients?limit=10000");
    } else if (n == 3 && strcmp(w[0], "clients") == 0 &&
               (strcmp(w[1], "show") == 0 || strcmp(w[1], "kick") == 0)) {
        esc = curl_easy_escape(NULL, w[2], 0);
        if (!esc) {
            return 1;
        }
        snprintf(path, sizeof path, "/api/v5/clients/%s", esc);
        method = w[1][0] == 'k' ? "DELETE" : "GET";
    } else if (n == 2 && (strcmp(w[0], "crl") == 0 || strcmp(w[0], "ocsp") == 0) &&
               (strcmp(w[1], "show") == 0 || strcmp(w[1], "refresh") == 0)) {
        bool refresh = w[1][0] == 'r';
        snprintf(path, sizeof path, "/api/v5/revmq/%s%s", w[0], refresh ? "/refresh" : "");
        method = refresh ? "POST" : "GET";
    } else {
        return usage();
    }
    curl_free(esc);
    long status = 0;
    json_t *r = NULL;
    int rc = call(c, method, path, &status, &r);
    if (rc != 0) {
        return rc;
    }
    if (status >= 300) {
        fprintf(stderr, "revmq ctl: %s (HTTP %ld)\n", r ? js(r, "message") : "error", status);
        json_decref(r);
        return 1;
    }
    if (strcmp(w[0], "status") == 0) {
        printf("Node %s %s is %s (uptime %llds, %lld clients connected)\n", js(r, "node"),
               js(r, "version"), js(r, "status"),
               (long long)json_integer_value(json_object_get(r, "uptime")),
               (long long)json_integer_value(json_object_get(r, "connections")));
    } else if (strcmp(w[0], "clients") == 0 && strcmp(w[1], "list") == 0) {
        size_t i;
        json_t *cl;
        json_array_foreach(json_object_get(r, "data"), i, cl)
        {
            print_client(cl);
        }
    } else if (strcmp(method, "GET") == 0 && strcmp(w[0], "clients") == 0) {
        char *s = json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s ? s : "");
        free(s);
    } else if (strcmp(method, "GET") != 0) {
        printf("ok\n");
    } else if (strcmp(w[0], "crl") == 0) {
        print_crls(r);
    } else {
        print_staples(r);
    }
    json_decref(r);
    return 0;
}

/* Fills c from the configuration; false (message printed) on error. */
static bool from_config(struct ctl *c, const char *path, char *const *envp)
{
    struct rmq_settings *s = NULL;
    char *err = NULL;
    if (rmq_settings_load(path, envp, &s, &err) != RMQ_OK) {
        fprintf(stderr, "%s\n", err ? err : "revmq ctl: invalid configuration");
        free(err);
        return false;
    }
    const char *host = s->dashboard_bind.host;
    if (strcmp(host, "0.0.0.0") == 0) {
        host = "127.0.0.1";
    } else if (strcmp(host, "::") == 0) {
        host = "::1";
    }
    bool v6 = strchr(host, ':') != NULL;
    snprintf(c->url, sizeof c->url, "http://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "",
             (unsigned)s->dashboard_bind.port);
    bool ok = true;
    if (!c->key[0] && s->api_key_bootstrap_file) {
        FILE *f = fopen(s->api_key_bootstrap_file, "rb");
        char *text = f ? calloc(1, 1024 * 1024 + 1) : NULL;
        size_t n = text ? fread(text, 1, 1024 * 1024, f) : 0;
        struct rmq_apikeys *k = NULL;
        if (!text || rmq_apikeys_parse(s->api_key_bootstrap_file, text, n, &k, &err) != RMQ_OK) {
            fprintf(stderr, "revmq ctl: %s\n", err ? err : "cannot read api_key.bootstrap_file");
            ok = false;
        }
        const char *key, *sec;
        enum rmq_admin_role role;
        for (size_t i = 0; ok && rmq_apikeys_get(k, i, &key, &sec, &role); i++) {
            if (role == RMQ_ROLE_ADMIN) {
                snprintf(c->key, sizeof c->key, "%s", key);
                snprintf(c->secret, sizeof c->secret, "%s", sec);
                break;
            }
        }
        rmq_apikeys_free(k);
        free(err);
        free(text);
        if (f) {
            fclose(f);
        }
    }
    rmq_settings_free(s);
    return ok;
}

int rmq_admin_ctl(int argc, char **argv, char *const *envp)
{
    struct ctl c;
    memset(&c, 0, sizeof c);
    const char *path = NULL, *url = NULL;
    const char *ek = getenv("RMQ_API_KEY"), *es = getenv("RMQ_API_SECRET");
    if (ek && es) {
        snprintf(c.key, sizeof c.key, "%s", ek);
        snprintf(c.secret, sizeof c.secret, "%s", es);
    }
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        }
        if (i + 1 >= argc) {
            return usage();
        }
        if (strcmp(argv[i], "-c") == 0) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--url") == 0) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--key") == 0) {
            snprintf(c.key, sizeof c.key, "%s", argv[++i]);
        } else if (strcmp(argv[i], "--secret") == 0) {
            snprintf(c.secret, sizeof c.secret, "%s", argv[++i]);
        } else {
            return usage();
        }
    }
    if (i >= argc) {
        return usage();
    }
    if (!from_config(&c, path, envp)) {
        return 2;
    }
    if (url) {
        snprintf(c.url, sizeof c.url, "%s", url);
    }
    if (!c.key[0]) {
        fprintf(stderr, "revmq ctl: no API key: set api_key.bootstrap_file, or pass --key and "
                        "--secret (or RMQ_API_KEY and RMQ_API_SECRET)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run(&c, argv + i, argc - i);
    curl_global_cleanup();
    memset(&c, 0, sizeof c);
    return rc;
}
