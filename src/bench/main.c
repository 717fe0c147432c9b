/* main.c — revmq-bench command line; see bench.h for what it measures. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/bench.h"
#include "common/duration.h"

/*
 * Options are data: one row per option (name, kind, where its value goes,
 * bounds, help). The parser, the errors and the usage text all come from this
 * table, as revmq-ca's (src/ca/cli.c).
 */
enum opt_kind {
    K_FLAG, /* no value: sets a bool */
    K_STR,  /* const char * borrowed from argv */
    K_U8,   /* whole numbers in [min, max] into the field's width */
    K_U16,
    K_U32,
    K_U64,
    K_SIZE,
    K_DUR,  /* a duration (common/duration.h; bare number = seconds) into ms, in [min, max] */
    K_RATE, /* a non-negative decimal per second */
    K_TLSV, /* 1.2 | 1.3 */
    K_HELP,
};

struct bench_opt {
    const char *name; /* without "--" */
    enum opt_kind kind;
    size_t off; /* of the field in struct rmq_bench_opts */
    uint64_t min, max;
    bool implies_tls; /* giving it turns TLS on */
    const char *arg;  /* value placeholder in the usage text */
    const char *help;
};

#define F(field) offsetof(struct rmq_bench_opts, field)
#define NOLIM 0, UINT64_MAX

static const struct bench_opt opts[] = {
    {"host", K_STR, F(host), NOLIM, false, "IP", "broker address (127.0.0.1)"},
    {"port", K_U16, F(port), 1, 65535, false, "N", "broker port (1883)"},
    {"mqtt-version", K_U8, F(mqtt_version), 4, 5, false, "4|5", "MQTT 3.1.1 or 5 (4)"},
    {"tls", K_FLAG, F(tls), NOLIM, true, NULL, "connect over TLS"},
    {"cafile", K_STR, F(cafile), NOLIM, true, "F", "verify the broker against F"},
    {"cert", K_STR, F(certfile), NOLIM, true, "F", "client certificate (mutual TLS)"},
    {"key", K_STR, F(keyfile), NOLIM, false, "F", "client key"},
    {"cert-dir", K_STR, F(cert_dir), NOLIM, true, "D",
     "many client certificates: D/<n>.crt + D/<n>.key, round robin"},
    {"tls-version", K_TLSV, F(tls_version), NOLIM, false, "1.2|1.3", "TLS version (any)"},
    {"timeout", K_DUR, F(timeout_ms), 1, RMQ_DURATION_MAX_MS, false, "DUR",
     "per connection, connect to CONNACK (10s)"},
    {"source-ips", K_STR, F(source_ips), NOLIM, false, "A[-B]",
     "spread source addresses (hold: automatic on 127/8 when --count exceeds one address's "
     "ephemeral ports)"},
    {"json", K_FLAG, F(json), NOLIM, false, NULL, "one JSON line on stdout"},
    {"quiet", K_FLAG, F(quiet), NOLIM, false, NULL, "no progress lines"},
    {"progress-interval", K_DUR, F(progress_ms), 10, RMQ_DURATION_MAX_MS, false, "DUR",
     "progress line period, at least 10ms (1s)"},
    {"client-prefix", K_STR, F(client_prefix), NOLIM, false, "S", "client id prefix"},
    {"count", K_U64, F(count), NOLIM, false, "N", "connect/hold: connections (1000)"},
    {"rate", K_RATE, F(rate), NOLIM, false, "R", "connect: new connections/s (0 = max)"},
    {"concurrency", K_U32, F(concurrency), 1, UINT32_MAX, false, "C",
     "connect: connections in progress at once (100)"},
    {"duration", K_DUR, F(duration_ms), 0, RMQ_DURATION_MAX_MS, false, "DUR",
     "connect: stop after DUR even if --count is not reached; hold: keep them DUR, then exit "
     "(default until Ctrl-C); pubsub: how long (10s)"},
    {"publishers", K_U32, F(publishers), 0, UINT32_MAX, false, "P", "pubsub: publishers (1)"},
    {"subscribers", K_U32, F(subscribers), 0, UINT32_MAX, false, "S",
     "pubsub: subscribers (1; 0 = publish only)"},
    {"topics", K_U32, F(topics), 1, UINT32_MAX, false, "T", "pubsub: topics (P)"},
    {"qos", K_U8, F(qos), 0, 2, false, "0|1|2", "pubsub: QoS (0)"},
    {"payload", K_SIZE, F(payload), 0, SIZE_MAX, false, "BYTES", "pubsub: payload size (64)"},
    {"messages", K_U64, F(messages), NOLIM, false, "N",
     "pubsub: messages per publisher, instead of --duration"},
    {"inflight", K_U32, F(inflight), 0, UINT32_MAX, false, "N",
     "pubsub: unacknowledged QoS>0 publishes per publisher (32)"},
    {"pub-rate", K_RATE, F(pub_rate), NOLIM, false, "R",
     "pubsub: messages/s per publisher (0 = max)"},
    {"session-expiry", K_DUR, F(session_expiry_ms), 1000, 4294967295000ULL, false, "DUR",
     "pubsub: subscribers keep persistent sessions (clean start 0; MQTT 5: this Session "
     "Expiry Interval; 3.1.1: clean session 0, expiry is the broker's)"},
    {"help", K_HELP, 0, NOLIM, false, NULL, "this text"},
};

#define N_OPTS (sizeof opts / sizeof opts[0])
/* getopt_long's value for opts[i]: above every character it returns ('?', ':'). */
#define OPT_VAL_BASE 1000

static void usage(FILE *f)
{
    fprintf(f, "usage: revmq-bench connect|pubsub|hold [options]\n"
               "       revmq-bench gen-crl --help\n"
               "DUR is a duration: 500ms, 10s, 1h30m, or a bare number of seconds.\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        char head[48];
        snprintf(head, sizeof head, "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
                 opts[i].arg ? opts[i].arg : "");
        fprintf(f, "  %-28s %s\n", head, opts[i].help);
    }
}

/* Prints "revmq-bench: --name: problem" and a hint; returns -1. */
static int bad_value(const struct bench_opt *d, const char *v, const char *want)
{
    fprintf(stderr, "revmq-bench: --%s: '%s' is not %s\n(see `revmq-bench --help`)\n", d->name, v,
            want);
    return -1;
}

static int store_whole(const struct bench_opt *d, void *field, uint64_t x)
{
    switch (d->kind) {
    case K_U8:
        *(uint8_t *)field = (uint8_t)x;
        break;
    case K_U16:
        *(uint16_t *)field = (uint16_t)x;
        break;
    case K_U32:
        *(uint32_t *)field = (uint32_t)x;
        break;
    case K_SIZE:
        *(size_t *)field = (size_t)x;
        break;
    default:
        *(uint64_t *)field = x;
        break;
    }
    return 0;
}

static int parse_whole(const struct bench_opt *d, const char *v, void *field)
{
    char want[96];
    if (d->max == UINT64_MAX) {
        snprintf(want, sizeof want, "a whole number >= %llu", (unsigned long long)d->min);
    } else {
        snprintf(want, sizeof want, "a whole number in [%llu, %llu]", (unsigned long long)d->min,
                 (unsigned long long)d->max);
    }
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || x < d->min || x > d->max) {
        return bad_value(d, v, want);
    }
    return store_whole(d, field, x);
}

static int parse_value(const struct bench_opt *d, const char *v, void *field)
{
    switch (d->kind) {
    case K_STR:
        *(const char **)field = v;
        return 0;
    case K_U8:
    case K_U16:
    case K_U32:
    case K_U64:
    case K_SIZE:
        return parse_whole(d, v, field);
    case K_DUR: {
        uint64_t ms = 0;
        if (rmq_bench_parse_duration(v, &ms) != RMQ_OK || ms < d->min || ms > d->max) {
            return bad_value(d, v,
                             d->min >= 1000 ? "a duration from 1s to 4294967295s (e.g. 1h)"
                             : d->min > 1   ? "a duration of at least 10ms (e.g. 250ms, 1s)"
                                            : "a duration (e.g. 500ms, 10s, 1h30m)");
        }
        *(uint64_t *)field = ms;
        return 0;
    }
    case K_RATE: {
        char *end = NULL;
        double r = strtod(v, &end);
        if (end == v || *end != '\0' || !isfinite(r) || r < 0) {
            return bad_value(d, v, "a rate per second >= 0 (e.g. 100, 2.5)");
        }
        *(double *)field = r;
        return 0;
    }
    case K_TLSV:
        if (strcmp(v, "1.2") == 0) {
            *(int *)field = TLS1_2_VERSION;
            return 0;
        }
        if (strcmp(v, "1.3") == 0) {
            *(int *)field = TLS1_3_VERSION;
            return 0;
        }
        return bad_value(d, v, "1.2 or 1.3");
    default:
        return -1;
    }
}

static int apply_opt(struct rmq_bench_opts *o, const struct bench_opt *d, const char *arg)
{
    void *field = (char *)o + d->off;
    if (d->implies_tls) {
        o->tls = true;
    }
    if (d->kind == K_FLAG) {
        *(bool *)field = true;
        return 0;
    }
    return parse_value(d, arg, field);
}

/* Reads the options after the mode into *o. Returns -1 to go on, else the
 * exit status (0 after --help, 2 on a usage error, which was printed). */
static int parse_args(int argc, char **argv, struct rmq_bench_opts *o, bool *dur_set)
{
    struct option long_opts[N_OPTS + 1];
    for (size_t i = 0; i < N_OPTS; i++) {
        bool has_arg = opts[i].kind != K_FLAG && opts[i].kind != K_HELP;
        long_opts[i] = (struct option){opts[i].name, has_arg ? required_argument : no_argument,
                                       NULL, OPT_VAL_BASE + (int)i};
    }
    long_opts[N_OPTS] = (struct option){0, 0, 0, 0};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (c < OPT_VAL_BASE || (size_t)(c - OPT_VAL_BASE) >= N_OPTS) {
            fprintf(stderr, "(see `revmq-bench --help`)\n"); /* getopt said what */
            return 2;
        }
        const struct bench_opt *d = &opts[c - OPT_VAL_BASE];
        if (d->kind == K_HELP) {
            usage(stdout);
            return 0;
        }
        if (strcmp(d->name, "duration") == 0) {
            *dur_set = true;
        }
        if (apply_opt(o, d, optarg) != 0) {
            return 2;
        }
    }
    return -1;
}

/* Ephemeral ports one source address has towards one destination. */
static uint64_t ports_per_address(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    unsigned lo = 32768, hi = 60999;
    if (f) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2 || hi < lo) {
            lo = 32768;
            hi = 60999;
        }
        fclose(f);
    }
    return (uint64_t)(hi - lo + 1);
}

/* With more connections than one address has ports and no --source-ips,
 * spread them over 127.0.0.1..127.0.0.K when the broker is on loopback
 * (every 127/8 address reaches a listener on 127.0.0.1). Keeps a 10% margin
 * for other users of the port range. */
static void auto_source_ips(struct rmq_bench_opts *o, char *buf, size_t len)
{
    uint64_t per = ports_per_address() * 9 / 10;
    if (o->source_ips || strncmp(o->host, "127.", 4) != 0 || o->count <= per) {
        return;
    }
    uint64_t k = o->count / per + 1;
    if (k > 254) {
        k = 254;
    }
    snprintf(buf, len, "127.0.0.1-127.0.0.%llu", (unsigned long long)k);
    o->source_ips = buf;
    if (!o->quiet) {
        fprintf(stderr, "revmq-bench: %llu connections: using source addresses %s\n",
                (unsigned long long)o->count, buf);
    }
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "gen-crl") == 0) {
        return rmq_bench_gen_crl(argc, argv);
    }
    struct rmq_bench_opts o = {
        .host = "127.0.0.1",
        .port = 1883,
        .mqtt_version = 4,
        .count = 1000,
        .concurrency = 100,
        .timeout_ms = 10000,
        .publishers = 1,
        .subscribers = 1,
        .payload = 64,
        .inflight = 32,
        .progress_ms = 1000,
    };
    bool dur_set = false;
    int rc = parse_args(argc, argv, &o, &dur_set);
    if (rc >= 0) {
        return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "revmq-bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o.topics) {
        o.topics = o.publishers ? o.publishers : 1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    char src_buf[64];
    if (strcmp(mode, "hold") == 0) { /* connect mode's --count is often a large cap */
        auto_source_ips(&o, src_buf, sizeof src_buf);
    }
    if (strcmp(mode, "connect") == 0) {
        return rmq_bench_connect(&o);
    }
    if (strcmp(mode, "hold") == 0) {
        return rmq_bench_hold(&o);
    }
    if (strcmp(mode, "pubsub") == 0) {
        if (!dur_set && !o.messages) {
            o.duration_ms = 10000;
        }
        return rmq_bench_pubsub(&o);
    }
    fprintf(stderr, "revmq-bench: unknown mode '%s'\n", mode);
    usage(stderr);
    return 2;
}
