/* report.c — revmq-bench result output; see report.h. */
#include "bench/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_errors_add(struct bench_errors *e, const char *kind)
{
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->kind[i], kind) == 0) {
            e->count[i]++;
            return;
        }
    }
    char **k = realloc(e->kind, (e->n + 1) * sizeof *k);
    if (!k) {
        return;
    }
    e->kind = k;
    uint64_t *c = realloc(e->count, (e->n + 1) * sizeof *c);
    if (!c) {
        return;
    }
    e->count = c;
    e->kind[e->n] = strdup(kind);
    if (!e->kind[e->n]) {
        return;
    }
    e->count[e->n] = 1;
    e->n++;
}

void bench_errors_free(struct bench_errors *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->kind[i]);
    }
    free(e->kind);
    free(e->count);
    memset(e, 0, sizeof *e);
}

/* Writes s as a JSON string body (no quotes): ", \\ and control bytes escaped. */
static void json_escaped(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            printf("\\%c", *p);
        } else if (*p < 0x20) {
            printf("\\u%04x", *p);
        } else {
            putchar(*p);
        }
    }
}

static void key_prefix(struct bench_report *r, const char *key)
{
    if (r->json) {
        printf("%s\"%s\": ", r->first ? "" : ", ", key);
    } else {
        printf("%s: ", key);
    }
    r->first = false;
}

void bench_report_begin(struct bench_report *r, const char *mode, bool json)
{
    r->json = json;
    r->first = true;
    if (json) {
        printf("{");
        key_prefix(r, "mode");
        printf("\"%s\"", mode);
    } else {
        printf("mode: %s\n", mode);
        r->first = false;
    }
}

void bench_report_str(struct bench_report *r, const char *key, const char *v)
{
    key_prefix(r, key);
    if (r->json) {
        putchar('"');
        json_escaped(v);
        putchar('"');
    } else {
        printf("%s\n", v);
    }
}

void bench_report_u64(struct bench_report *r, const char *key, uint64_t v)
{
    key_prefix(r, key);
    printf("%llu%s", (unsigned long long)v, r->json ? "" : "\n");
}

void bench_report_double(struct bench_report *r, const char *key, double v)
{
    key_prefix(r, key);
    printf("%.3f%s", v, r->json ? "" : "\n");
}

void bench_report_hist(struct bench_report *r, const char *key, struct rmq_bench_hist *h)
{
    unsigned long long p50 = rmq_bench_hist_pct(h, 50), p90 = rmq_bench_hist_pct(h, 90),
                       p99 = rmq_bench_hist_pct(h, 99), mx = h->max;
    key_prefix(r, key);
    if (r->json) {
        printf("{\"n\": %zu, \"p50\": %llu, \"p90\": %llu, \"p99\": %llu, \"max\": %llu}", h->n,
               p50, p90, p99, mx);
    } else {
        printf("n=%zu p50=%llu p90=%llu p99=%llu max=%llu\n", h->n, p50, p90, p99, mx);
    }
}

void bench_report_errors(struct bench_report *r, const struct bench_errors *e)
{
    key_prefix(r, "errors");
    if (r->json) {
        printf("{");
        for (size_t i = 0; i < e->n; i++) {
            printf("%s\"", i ? ", " : "");
            json_escaped(e->kind[i]);
            printf("\": %llu", (unsigned long long)e->count[i]);
        }
        printf("}");
    } else {
        for (size_t i = 0; i < e->n; i++) {
            printf("%s%s=%llu", i ? " " : "", e->kind[i], (unsigned long long)e->count[i]);
        }
        printf("%s\n", e->n ? "" : "none");
    }
}

void bench_report_end(struct bench_report *r)
{
    if (r->json) {
        printf("}\n");
    }
    fflush(stdout);
}
