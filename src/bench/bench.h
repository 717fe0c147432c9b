/*
 * bench.h — revmq-bench: load generator for MQTT brokers (revmq, Mosquitto…).
 *
 * What it is: a single-threaded libevent client that opens many MQTT
 * connections over TCP, TLS or mutual TLS and measures connects (handshakes/s,
 * latency percentiles, errors by kind), publish/subscribe throughput and
 * end-to-end latency (losses, duplicates), or just holds idle connections so
 * the broker's memory can be read. What it is not: a test; it asserts
 * nothing about a broker's behaviour, it measures.
 *
 * TLS here is the client side of the benchmark only (libevent's OpenSSL
 * bufferevents); the broker's TLS lives in src/tls. OpenSSL calls in
 * src/bench (client TLS, `gen-crl` in gencrl.c) are an accepted exception to
 * the rule that keeps them in src/tls, src/revocation and src/ca:
 * revmq-bench is a client-side test tool, not part of the broker.
 *
 * Modes: connect, pubsub, hold (this header) and gen-crl (a CRL of N
 * entries for the revocation benchmarks). bench/run.sh drives them against
 * revmq and Mosquitto; docs/benchmarks.md has the method and the results.
 *
 * Threads: everything runs on the thread that calls rmq_bench_run_*.
 */
#ifndef RMQ_BENCH_H
#define RMQ_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rmq_bench_opts {
    const char *host;
    uint16_t port;
    bool tls;
    const char *cafile;   /* verify the server when set */
    const char *certfile; /* client certificate (mutual TLS) */
    const char *keyfile;
    const char *cert_dir; /* many client certs: <dir>/<n>.crt + <n>.key, round robin */
    int tls_version;      /* 0 = any, 0x0303 = 1.2, 0x0304 = 1.3 */
    uint8_t mqtt_version; /* 4 = 3.1.1, 5 */
    uint64_t count;       /* connect/hold: connections */
    double rate;          /* connect: new connections per second; 0 = as fast as possible */
    uint32_t concurrency; /* connect: connections in progress at once */
    uint64_t timeout_ms;  /* per connection: connect to CONNACK */
    uint64_t duration_ms; /* pubsub/hold: how long; 0 = until messages/forever */
    uint64_t messages;    /* pubsub: per publisher; 0 = duration bound */
    uint32_t publishers, subscribers, topics;
    uint8_t qos;
    size_t payload;
    uint32_t inflight; /* pubsub: unacknowledged QoS>0 publishes per publisher */
    double pub_rate;   /* pubsub: messages/s per publisher; 0 = as fast as possible */
    /* pubsub: 0 = subscribers start clean sessions; else they keep persistent
     * ones (clean start 0; MQTT 5: Session Expiry Interval of this many ms,
     * rounded up to seconds; 3.1.1: clean session 0, the broker's expiry) */
    uint64_t session_expiry_ms;
    const char *source_ips; /* "127.0.0.1-127.0.0.20": spread source addresses */
    const char *client_prefix;
    uint64_t progress_ms; /* stderr progress line period (1000) */
    bool json;
    bool quiet;
};

/* Latency samples in microseconds; percentiles by sorting a copy. */
struct rmq_bench_hist {
    uint32_t *v; /* owned */
    size_t n, alloc;
    uint64_t max;
};

void rmq_bench_hist_add(struct rmq_bench_hist *h, uint64_t us);
/* p in [0,100]; 0 when empty. Sorts h in place. */
uint64_t rmq_bench_hist_pct(struct rmq_bench_hist *h, double p);
void rmq_bench_hist_free(struct rmq_bench_hist *h);

/* Parses a duration flag with the one grammar (common/duration.h): "500ms",
 * "10s", "1h30m", or a bare number of seconds ("10"); no fractions. */
RMQ_MUST_USE rmq_err rmq_bench_parse_duration(const char *s, uint64_t *ms);
/* Parses "127.0.0.1-127.0.0.20" or a single address into [first,last] (host order). */
RMQ_MUST_USE rmq_err rmq_bench_parse_ip_range(const char *s, uint32_t *first, uint32_t *last);

/* Modes; each returns the process exit code (0 = ran; errors are counted, not fatal). */
int rmq_bench_connect(const struct rmq_bench_opts *o);
int rmq_bench_hold(const struct rmq_bench_opts *o);
int rmq_bench_pubsub(const struct rmq_bench_opts *o);
/* `revmq-bench gen-crl …` (argv[1] == "gen-crl"): writes a signed CRL with N
 * entries; see gencrl.c. Returns the exit code. */
int rmq_bench_gen_crl(int argc, char **argv);

#endif
