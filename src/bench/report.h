/*
 * report.h — revmq-bench results as text lines or one JSON object, and
 * error counting by kind. Internal to revmq-bench.
 */
#ifndef RMQ_BENCH_REPORT_H
#define RMQ_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/bench.h"

struct bench_errors {
    char **kind; /* owned */
    uint64_t *count;
    size_t n;
};
void bench_errors_add(struct bench_errors *e, const char *kind);
void bench_errors_free(struct bench_errors *e);

struct bench_report {
    bool json;
    bool first;
};
void bench_report_begin(struct bench_report *r, const char *mode, bool json);
/* A string value (JSON-escaped). */
void bench_report_str(struct bench_report *r, const char *key, const char *v);
void bench_report_u64(struct bench_report *r, const char *key, uint64_t v);
void bench_report_double(struct bench_report *r, const char *key, double v);
/* p50, p90, p99, max of h (sorts h). */
void bench_report_hist(struct bench_report *r, const char *key, struct rmq_bench_hist *h);
void bench_report_errors(struct bench_report *r, const struct bench_errors *e);
void bench_report_end(struct bench_report *r);

#endif
