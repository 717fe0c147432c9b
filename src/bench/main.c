/* main.c — revmq-bench command line; see bench.h for what it measures. */
#include <getopt.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/bench.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: revmq-bench connect|pubsub|hold [options]\n"
            "       revmq-bench gen-crl --help\n"
            "  --host IP (127.0.0.1)  --port N (1883)  --mqtt-version 4|5 (4)\n"
            "  --tls  --cafile F  --cert F --key F  --cert-dir D (<n>.crt/<n>.key)\n"
            "  --tls-version 1.2|1.3  --timeout DUR (10s)  --source-ips A[-B] (hold: automatic on\n"
            "  127/8 when --count exceeds one address's ephemeral ports)\n"
            "  --json  --quiet (no progress)  --progress-interval DUR (1s)  --client-prefix S\n"
            "connect/hold: --count N (1000) --rate R/s (0=max) --concurrency C (100)\n"
            "              --duration DUR (connect: stop after DUR even if --count is not\n"
            "              reached; hold: keep them DUR, then exit; default until Ctrl-C)\n"
            "pubsub: --publishers P (1) --subscribers S (1) --topics T (P) --qos 0|1|2\n"
            "        --payload BYTES (64) --duration DUR (10s) | --messages N (per publisher)\n"
            "        --inflight N (32) --pub-rate R/s per publisher (0=max)\n");
}

static int parse_u64(const char *name, const char *v, uint64_t *out)
{
    char *end = NULL;
    unsigned long long x = strtoull(v, &end, 10);
    if (!end || *end != '\0' || end == v) {
        fprintf(stderr, "revmq-bench: %s wants a whole number, got '%s'\n", name, v);
        return -1;
    }
    *out = x;
    return 0;
}

enum {
    O_HOST = 1000,
    O_PORT,
    O_MQTTV,
    O_TLS,
    O_CAFILE,
    O_CERT,
    O_KEY,
    O_CERTDIR,
    O_TLSV,
    O_TIMEOUT,
    O_SRC,
    O_JSON,
    O_QUIET,
    O_PREFIX,
    O_COUNT,
    O_RATE,
    O_CONC,
    O_DUR,
    O_PUBS,
    O_SUBS,
    O_TOPICS,
    O_QOS,
    O_PAYLOAD,
    O_MSGS,
    O_INFLIGHT,
    O_PUBRATE,
    O_PROGRESS,
    O_HELP
};

static const struct option long_opts[] = {
    {"host", 1, 0, O_HOST},
    {"port", 1, 0, O_PORT},
    {"mqtt-version", 1, 0, O_MQTTV},
    {"tls", 0, 0, O_TLS},
    {"cafile", 1, 0, O_CAFILE},
    {"cert", 1, 0, O_CERT},
    {"key", 1, 0, O_KEY},
    {"cert-dir", 1, 0, O_CERTDIR},
    {"tls-version", 1, 0, O_TLSV},
    {"timeout", 1, 0, O_TIMEOUT},
    {"source-ips", 1, 0, O_SRC},
    {"json", 0, 0, O_JSON},
    {"quiet", 0, 0, O_QUIET},
    {"client-prefix", 1, 0, O_PREFIX},
    {"count", 1, 0, O_COUNT},
    {"rate", 1, 0, O_RATE},
    {"concurrency", 1, 0, O_CONC},
    {"duration", 1, 0, O_DUR},
    {"publishers", 1, 0, O_PUBS},
    {"subscribers", 1, 0, O_SUBS},
    {"topics", 1, 0, O_TOPICS},
    {"qos", 1, 0, O_QOS},
    {"payload", 1, 0, O_PAYLOAD},
    {"messages", 1, 0, O_MSGS},
    {"inflight", 1, 0, O_INFLIGHT},
    {"pub-rate", 1, 0, O_PUBRATE},
    {"progress-interval", 1, 0, O_PROGRESS},
    {"help", 0, 0, O_HELP},
    {0, 0, 0, 0},
};

static int apply_opt(struct rmq_bench_opts *o, int c, const char *arg)
{
    uint64_t v = 0;
    switch (c) {
    case O_HOST:
        o->host = arg;
        return 0;
    case O_PORT:
        if (parse_u64("--port", arg, &v) || v == 0 || v > 65535)
            return -1;
        o->port = (uint16_t)v;
        return 0;
    case O_MQTTV:
        if (parse_u64("--mqtt-version", arg, &v) || (v != 4 && v != 5))
            return -1;
        o->mqtt_version = (uint8_t)v;
        return 0;
    case O_TLS:
        o->tls = true;
        return 0;
    case O_CAFILE:
        o->cafile = arg;
        o->tls = true;
        return 0;
    case O_CERT:
        o->certfile = arg;
        o->tls = true;
        return 0;
    case O_KEY:
        o->keyfile = arg;
        return 0;
    case O_CERTDIR:
        o->cert_dir = arg;
        o->tls = true;
        return 0;
    case O_TLSV:
        if (strcmp(arg, "1.2") == 0) {
            o->tls_version = TLS1_2_VERSION;
            return 0;
        }
        if (strcmp(arg, "1.3") == 0) {
            o->tls_version = TLS1_3_VERSION;
            return 0;
        }
        fprintf(stderr, "revmq-bench: --tls-version is 1.2 or 1.3\n");
        return -1;
    case O_TIMEOUT:
        return rmq_bench_parse_duration(arg, &o->timeout_ms) == RMQ_OK ? 0 : -1;
    case O_DUR:
        return rmq_bench_parse_duration(arg, &o->duration_ms) == RMQ_OK ? 0 : -1;
    case O_PROGRESS:
        return (rmq_bench_parse_duration(arg, &o->progress_ms) == RMQ_OK && o->progress_ms >= 10)
                   ? 0
                   : -1;
    case O_SRC:
        o->source_ips = arg;
        return 0;
    case O_JSON:
        o->json = true;
        return 0;
    case O_QUIET:
        o->quiet = true;
        return 0;
    case O_PREFIX:
        o->client_prefix = arg;
        return 0;
    case O_COUNT:
        return parse_u64("--count", arg, &o->count);
    case O_RATE:
        o->rate = strtod(arg, NULL);
        return 0;
    case O_PUBRATE:
        o->pub_rate = strtod(arg, NULL);
        return 0;
    case O_CONC:
        if (parse_u64("--concurrency", arg, &v) || v == 0)
            return -1;
        o->concurrency = (uint32_t)v;
        return 0;
    case O_PUBS:
        if (parse_u64("--publishers", arg, &v))
            return -1;
        o->publishers = (uint32_t)v;
        return 0;
    case O_SUBS:
        if (parse_u64("--subscribers", arg, &v))
            return -1;
        o->subscribers = (uint32_t)v;
        return 0;
    case O_TOPICS:
        if (parse_u64("--topics", arg, &v) || v == 0)
            return -1;
        o->topics = (uint32_t)v;
        return 0;
    case O_QOS:
        if (parse_u64("--qos", arg, &v) || v > 2)
            return -1;
        o->qos = (uint8_t)v;
        return 0;
    case O_PAYLOAD:
        if (parse_u64("--payload", arg, &v))
            return -1;
        o->payload = (size_t)v;
        return 0;
    case O_MSGS:
        return parse_u64("--messages", arg, &o->messages);
    case O_INFLIGHT:
        if (parse_u64("--inflight", arg, &v))
            return -1;
        o->inflight = (uint32_t)v;
        return 0;
    default:
        return -1;
    }
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
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (c == O_HELP) {
            usage(stdout);
            return 0;
        }
        if (c == O_DUR) {
            dur_set = true;
        }
        if (c == '?' || apply_opt(&o, c, optarg) != 0) {
            usage(stderr);
            return 2;
        }
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
