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
/* listeners.<type>.<name>.enable_authn */
enum rmq_enable_authn {
    RMQ_ENABLE_AUTHN_TRUE,
    RMQ_ENABLE_AUTHN_FALSE,
    RMQ_ENABLE_AUTHN_QUICK_DENY
};
/* authentication.<n>.* (EMQX 5 password_based authenticators, plus revmq's
 * mosquitto_passwd_file backend). Enum order = the values[] of the key table. */
enum rmq_authn_backend { RMQ_AUTHN_BUILT_IN_DATABASE, RMQ_AUTHN_MOSQUITTO_PASSWD_FILE };
enum rmq_authn_user_id_type { RMQ_AUTHN_ID_USERNAME, RMQ_AUTHN_ID_CLIENTID };
enum rmq_authn_hash {
    RMQ_HASH_PLAIN,
    RMQ_HASH_MD5,
    RMQ_HASH_SHA,
    RMQ_HASH_SHA256,
    RMQ_HASH_SHA512,
    RMQ_HASH_PBKDF2,
    RMQ_HASH_BCRYPT
};
enum rmq_authn_salt_position { RMQ_SALT_DISABLE, RMQ_SALT_PREFIX, RMQ_SALT_SUFFIX };
enum rmq_authn_mac_fun {
    RMQ_MAC_MD4,
    RMQ_MAC_MD5,
    RMQ_MAC_RIPEMD160,
    RMQ_MAC_SHA,
    RMQ_MAC_SHA224,
    RMQ_MAC_SHA256,
    RMQ_MAC_SHA384,
    RMQ_MAC_SHA512
};
enum rmq_authn_bootstrap_type { RMQ_BOOTSTRAP_PLAIN, RMQ_BOOTSTRAP_HASH };
/* Positions authentication.1..RMQ_AUTHN_MAX. */
#define RMQ_AUTHN_MAX 64

struct rmq_authn_settings {
    char *name; /* "1", "2", …: the position in the list */
    bool enable;
    int mechanism; /* 0 = password_based (the only one) */
    enum rmq_authn_backend backend;
    enum rmq_authn_user_id_type user_id_type;
    enum rmq_authn_hash hash;
    enum rmq_authn_salt_position salt_position;
    enum rmq_authn_mac_fun mac_fun; /* pbkdf2 */
    uint32_t iterations;            /* pbkdf2 */
    uint32_t dk_length;             /* pbkdf2; 0 = the digest's size */
    uint32_t salt_rounds;           /* bcrypt (hashes in the file carry their own cost) */
    char *bootstrap_file;           /* built_in_database: CSV or JSON; NULL = no users */
    enum rmq_authn_bootstrap_type bootstrap_type;
    char *path; /* mosquitto_passwd_file */
};
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

/* ssl_options.ocsp_client.*: OCSP for client certificates (revocation/ocsp_client.h) */
enum rmq_ocsp_client_policy { RMQ_OCSPC_REJECT, RMQ_OCSPC_ALLOW };
enum rmq_ocsp_client_combine { RMQ_OCSPC_EITHER, RMQ_OCSPC_BOTH };
struct rmq_ocsp_client_settings {
    bool enable;
    int unknown;         /* enum rmq_ocsp_client_policy, default reject */
    int unreachable;     /* enum rmq_ocsp_client_policy, default reject */
    int combine;         /* enum rmq_ocsp_client_combine (with enable_crl_check), default both */
    uint64_t timeout;    /* ms, default 5s */
    uint64_t cache_size; /* entries, default 10000 */
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
    uint64_t handshake_timeout;    /* ms, default 15s */
    uint64_t reload_interval;      /* ms, default 10s */
    uint64_t session_cache_memory; /* bytes for the TLS session cache, default 64MB */
    bool enable_crl_check;
    struct rmq_strlist crl_cache_urls;
    struct rmq_strlist crlfile;
    struct rmq_ocsp_settings ocsp;
    struct rmq_ocsp_client_settings ocsp_client;
};

enum rmq_listener_kind { RMQ_LISTENER_TCP, RMQ_LISTENER_SSL, RMQ_LISTENER_WS, RMQ_LISTENER_WSS };

/* listeners.ws|wss.<name>.websocket.* */
struct rmq_ws_settings {
    char *mqtt_path;          /* default "/mqtt" */
    uint64_t max_frame_size;  /* bytes of one frame's payload; UINT64_MAX = infinity */
    bool check_origin_enable; /* default false */
    struct rmq_strlist check_origins;
};

struct rmq_listener_settings {
    char *name;  /* "default", "external", … */
    char id[80]; /* "type:name" (tcp:default, ssl:external, ws:…, wss:…): logs, metrics, API */
    bool enable;
    enum rmq_listener_kind kind;
    bool is_ssl; /* TLS underneath: kind SSL or WSS (ssl options meaningful) */
    bool is_ws;  /* WebSocket: kind WS or WSS (ws meaningful) */
    struct rmq_bind bind;
    uint64_t max_connections;        /* UINT64_MAX = infinity (the default) */
    bool proxy_protocol;             /* expect a PROXY protocol v1/v2 header first */
    uint64_t proxy_protocol_timeout; /* ms, default 3s */
    int enable_authn;                /* enum rmq_enable_authn */
    uint64_t send_timeout;           /* ms, default 15s: tcp_options.send_timeout */
    /* Rate limits (EMQX 5 listener keys), in units per 1000 s; UINT64_MAX =
     * infinity (the default). */
    uint64_t max_conn_rate;     /* new connections on this listener */
    uint64_t messages_rate;     /* PUBLISH packets per client */
    uint64_t bytes_rate;        /* inbound bytes per client */
    uint64_t max_conn_per_addr; /* MQTT connections per source address; UINT64_MAX = no limit */
    struct rmq_ssl_options ssl; /* meaningful when is_ssl */
    struct rmq_ws_settings ws;  /* meaningful when is_ws */
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
    bool session_owner_only;      /* default true: only the owner takes a session over */
    uint64_t authn_failure_delay; /* ms, default 1s; 0 = disabled */
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

/* authorization { … } (EMQX 5). Sources at positions 1..RMQ_AUTHZ_SOURCES_MAX, in order. */
#define RMQ_AUTHZ_SOURCES_MAX 8
enum rmq_authz_src_type { RMQ_AUTHZ_SRC_NONE, RMQ_AUTHZ_SRC_FILE, RMQ_AUTHZ_SRC_MOSQUITTO };
enum rmq_authz_no_match { RMQ_AUTHZ_NO_MATCH_ALLOW, RMQ_AUTHZ_NO_MATCH_DENY };
enum rmq_authz_deny_action { RMQ_AUTHZ_DENY_IGNORE, RMQ_AUTHZ_DENY_DISCONNECT };

struct rmq_authz_source_settings {
    char *name; /* "1", "2", …: the position in the list */
    int type;   /* enum rmq_authz_src_type; NONE = position unused */
    bool enable;
    char *path; /* NULL if unset */
};

struct rmq_authz_settings {
    int no_match;    /* enum rmq_authz_no_match, default allow */
    int deny_action; /* enum rmq_authz_deny_action, default ignore */
    bool cache_enable;
    uint32_t cache_max_size;                   /* default 32 */
    uint64_t cache_ttl;                        /* ms, default 1m */
    struct rmq_authz_source_settings *sources; /* owned array, sources.1 … in order */
    size_t source_count;
};

struct rmq_settings {
    char *node_name;                         /* default "revmq@127.0.0.1" */
    char *node_data_dir;                     /* default "data" */
    uint32_t node_workers;                   /* 0 (default): one per CPU */
    int log_level;                           /* enum rmq_log_level */
    struct rmq_listener_settings *listeners; /* owned array, tcp then ssl */
    size_t listener_count;
    struct rmq_mqtt_settings mqtt;
    struct rmq_crl_cache_settings crl_cache;
    struct rmq_authz_settings authz;
    struct rmq_authn_settings *authn; /* owned array, authentication.1 … in order */
    size_t authn_count;
    /* Admin HTTP API and $SYS (src/admin). */
    bool dashboard_enable;          /* default true */
    struct rmq_bind dashboard_bind; /* default 127.0.0.1:18083 */
    char *api_key_bootstrap_file;   /* NULL: no keys (the admin listener does not start) */
    uint64_t sys_msg_interval;      /* ms, default 1m; 0 = no $SYS messages */
    /* Log outputs (src/common/log.c). */
    int log_formatter;                /* enum rmq_log_format: text, json */
    char *log_file;                   /* NULL: stderr only */
    uint64_t log_file_rotation_size;  /* bytes, default 10MB */
    uint32_t log_file_rotation_count; /* default 5 */
    bool log_syslog;                  /* log.syslog.enable, default false */
    /* Durable state (src/store, docs/persistence.md). */
    bool durable_sessions_enable;            /* default true */
    uint64_t durable_max_stored_per_session; /* default 1000000; 0 = no limit */
    uint64_t durable_flush_delay;            /* ms, default 5 */
    uint64_t retainer_max_retained_messages; /* 0 = no limit */
    uint64_t retainer_max_payload_size;      /* bytes, default 1MB; 0 = no limit */
    void *internal;                          /* owned: the key/value/origin table for printing */
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

/* Finds a TCP (is_ssl false) or SSL listener by name; NULL if absent. Borrowed. */
const struct rmq_listener_settings *rmq_settings_listener(const struct rmq_settings *s, bool is_ssl,
                                                          const char *name);
/* Finds a listener of any kind by name; NULL if absent. Borrowed. */
/* The listener whose id ("tcp:default", "wss:edge", …) is `id`; NULL if none. */
const struct rmq_listener_settings *rmq_settings_listener_by_id(const struct rmq_settings *s,
                                                                const char *id);
const struct rmq_listener_settings *rmq_settings_listener_kind(const struct rmq_settings *s,
                                                               enum rmq_listener_kind kind,
                                                               const char *name);
/* "tcp", "ssl", "ws", "wss": the kind as it appears in key paths. Static.
 * Inline: src/tls uses it without linking src/config. */
static inline const char *rmq_listener_kind_name(enum rmq_listener_kind kind)
{
    static const char *const names[] = {"tcp", "ssl", "ws", "wss"};
    return (unsigned)kind < 4 ? names[kind] : "tcp";
}

#endif
