/*
 * settings.h — the typed, validated configuration every other module reads.
 *
 * The config module (parser, env overlay, schema) produces one immutable
 * `struct rmq_settings`; nothing else in revmq parses configuration. Sources,
 * later wins: built-in defaults < config file < environment (REVMQ_A__B__C,
 * EMQX_A__B__C). Durations are milliseconds, sizes bytes.
 *
 * Ownership: rmq_settings_load returns an owned object; free it with
 * rmq_settings_free. Everything reachable from it is owned by it and lives
 * until then. After load it is read-only and may be shared by threads.
 */
#ifndef RMQ_SETTINGS_H
#define RMQ_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

#define RMQ_TLS_V12 0x1u
#define RMQ_TLS_V13 0x2u

enum rmq_verify_mode { RMQ_VERIFY_NONE, RMQ_VERIFY_PEER };
enum rmq_peer_cert_as {
    RMQ_PEER_AS_DISABLED,
    RMQ_PEER_AS_CN,
    RMQ_PEER_AS_DN,
    RMQ_PEER_AS_CRT,
    RMQ_PEER_AS_PEM,
    RMQ_PEER_AS_MD5
};
enum rmq_crl_check_scope { RMQ_CRL_CHECK_LEAF, RMQ_CRL_CHECK_CHAIN };
enum rmq_ocsp_method { RMQ_OCSP_POST, RMQ_OCSP_GET };

struct rmq_strlist {
    char **items; /* owned */
    size_t count;
};

struct rmq_bind {
    char host[256]; /* "0.0.0.0", "::", "127.0.0.1", a name */
    uint16_t port;
};

struct rmq_ocsp_settings {
    bool enable_ocsp_stapling;
    char *responder_url;           /* NULL: from the certificate's AIA */
    char *issuer_pem;              /* NULL: from the certfile chain or cacertfile */
    uint64_t refresh_interval;     /* ms, default 5m, min 1s */
    uint64_t refresh_http_timeout; /* ms, default 15s */
    enum rmq_ocsp_method method;
};

struct rmq_ssl_options {
    char *certfile; /* leaf + optional chain */
    char *keyfile;
    char *password; /* NULL if none */
    char *cacertfile;
    enum rmq_verify_mode verify;
    bool fail_if_no_peer_cert;
    int depth;         /* default 10 */
    unsigned versions; /* RMQ_TLS_V12 | RMQ_TLS_V13 */
    char *ciphers;     /* NULL: OpenSSL defaults */
    bool honor_cipher_order;
    uint64_t handshake_timeout; /* ms, default 15s */
    uint64_t reload_interval;   /* ms, default 10s */
    bool enable_crl_check;
    struct rmq_strlist crl_cache_urls;
    struct rmq_strlist crlfile;
    struct rmq_ocsp_settings ocsp;
};

struct rmq_listener_settings {
    char *name; /* "default", "external", … */
    bool enable;
    bool is_ssl;
    struct rmq_bind bind;
    uint64_t max_connections; /* UINT64_MAX = infinity (the default) */
    uint64_t send_timeout;    /* ms, default 15s: tcp_options.send_timeout */
    /* Rate limits (EMQX 5 listener keys), in units per 1000 s; UINT64_MAX =
     * infinity (the default). */
    uint64_t max_conn_rate;     /* new connections on this listener */
    uint64_t messages_rate;     /* PUBLISH packets per client */
    uint64_t bytes_rate;        /* inbound bytes per client */
    uint64_t max_conn_per_addr; /* MQTT connections per source address; UINT64_MAX = no limit */
    struct rmq_ssl_options ssl; /* meaningful when is_ssl */
};

struct rmq_mqtt_settings {
    uint64_t max_packet_size;  /* bytes, default 1MB */
    uint32_t max_clientid_len; /* default 65535 */
    uint32_t max_topic_levels; /* default 128 */
    uint8_t max_qos_allowed;   /* default 2 */
    bool retain_available;
    bool wildcard_subscription;
    bool shared_subscription;
    uint32_t max_inflight;            /* default 32 */
    uint32_t max_mqueue_len;          /* default 1000; UINT32_MAX = infinity */
    uint64_t session_expiry_interval; /* ms, default 2h */
    double keepalive_multiplier;      /* default 1.5 */
    uint32_t server_keepalive;        /* seconds; 0 = disabled (use the client's) */
    uint16_t max_topic_alias;         /* default 65535 */
    uint64_t retry_interval;          /* ms, default 30s */
    uint32_t max_awaiting_rel;        /* default 100 */
    uint64_t await_rel_timeout;       /* ms, default 300s */
    uint64_t idle_timeout;            /* ms, default 15s: connect to CONNECT */
    bool mqueue_store_qos0;           /* default true: QoS 0 is held, not dropped */
    enum rmq_peer_cert_as peer_cert_as_username;
    enum rmq_peer_cert_as peer_cert_as_clientid;
};

struct rmq_crl_cache_settings {
    uint64_t refresh_interval; /* ms, default 15m, min 1s */
    uint64_t http_timeout;     /* ms, default 15s */
    uint32_t capacity;         /* URLs, default 100 */
    uint64_t max_size;         /* bytes per CRL, default 64MB */
    enum rmq_crl_check_scope check;
    uint64_t stale_grace;    /* ms, default 0 */
    bool disconnect_revoked; /* default true */
    bool discover_from_cert; /* default true */
};

struct rmq_settings {
    char *node_name;                         /* default "revmq@127.0.0.1" */
    char *node_data_dir;                     /* default "data" */
    int log_level;                           /* enum rmq_log_level */
    struct rmq_listener_settings *listeners; /* owned array, tcp then ssl */
    size_t listener_count;
    struct rmq_mqtt_settings mqtt;
    struct rmq_crl_cache_settings crl_cache;
    void *internal; /* owned: the key/value/origin table for printing */
};

/*
 * Loads defaults, then `path` (NULL: no file), then the environment `envp`
 * (NULL-terminated "K=V" strings; NULL: none). On success *out is owned by the
 * caller. On failure *out is NULL, nothing leaks, and *errmsg (owned, free())
 * holds one line per problem, each naming the source (file:line or env
 * variable), the key and what is allowed.
 */
RMQ_MUST_USE rmq_err rmq_settings_load(const char *path, char *const *envp,
                                       struct rmq_settings **out, char **errmsg);
void rmq_settings_free(struct rmq_settings *s);

/* `revmq --check-config`: every key, its effective value and where it came from. */
void rmq_settings_print(const struct rmq_settings *s, FILE *f);

/*
 * Like rmq_settings_load, with the file's text given: `name` is the source
 * name used in messages ("revmq.conf" gives "revmq.conf:12: …"); text NULL
 * means no file. For tests, fuzzing and callers that read the file
 * themselves. Never touches the process environment (only `envp`).
 */
RMQ_MUST_USE rmq_err rmq_settings_load_buffer(const char *name, const char *text, size_t len,
                                              char *const *envp, struct rmq_settings **out,
                                              char **errmsg);

/*
 * Warnings of a successful load (one line each, already logged): unknown
 * EMQX_ variables that were ignored, an implicit listener that gave way.
 * Borrowed; NULL when i is out of range.
 */
size_t rmq_settings_warning_count(const struct rmq_settings *s);
const char *rmq_settings_warning(const struct rmq_settings *s, size_t i);

/* Where a key's value came from: "FILE:LINE", "env NAME" or "default". Borrowed. */
const char *rmq_settings_origin(const struct rmq_settings *s, const char *path);

/*
 * Writes docs/configuration.md (the reference generated from the schema) to f.
 * `revmq --gen-docs` and test_config_docs use it; the checked-in file must equal it.
 */
void rmq_settings_write_docs(FILE *f);

/* Finds a listener by kind and name; NULL if absent. Borrowed. */
const struct rmq_listener_settings *rmq_settings_listener(const struct rmq_settings *s, bool is_ssl,
                                                          const char *name);

#endif
