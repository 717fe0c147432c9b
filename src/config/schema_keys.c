/*
 * schema_keys.c — THE table of configuration keys (data only).
 *
 * Add a key: one row here plus its field in settings.h; docs/configuration.md
 * is regenerated from this table (RMQ_UPDATE_DOCS=1 ctest -R test_config_docs)
 * and test_config_docs fails until it is.
 */
#include <stddef.h>

#include "config/schema.h"

#define SEC 1000ll
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define KB 1024ll
#define MB (1024 * KB)
#define GB (1024 * MB)

#define G(f)                                                                                       \
    .scope = RMQ_CFG_GLOBAL, .offset = offsetof(struct rmq_settings, f),                           \
    .size = sizeof(((struct rmq_settings *)0)->f)
#define L(sc, f)                                                                                   \
    .scope = (sc), .offset = offsetof(struct rmq_listener_settings, f),                            \
    .size = sizeof(((struct rmq_listener_settings *)0)->f)
#define TCP(f) L(RMQ_CFG_TCP, f)
#define SSL(f) L(RMQ_CFG_SSL, f)
#define SSLA(k) "listener.ssl.<name>." k
#define WS(f) L(RMQ_CFG_WS, f)
#define WSS(f) L(RMQ_CFG_WSS, f)

static const char *const log_levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", NULL};
static const char *const peer_cert_as[] = {"disabled", "cn", "dn", "crt", "pem", "md5", NULL};
static const char *const verify_modes[] = {"verify_none", "verify_peer", NULL};
static const char *const crl_scopes[] = {"leaf", "chain", NULL};
static const char *const ocsp_methods[] = {"post", "get", NULL};
static const char *const ocspc_policies[] = {"reject", "allow", NULL};
static const char *const ocspc_combine[] = {"either", "both", NULL};
/* bit i of the mask = values[i]: RMQ_TLS_V12 = 0x1, RMQ_TLS_V13 = 0x2 */
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const tls_versions[] = {"tlsv1.2", "tlsv1.3", NULL};
static const char *const authz_no_match[] = {"allow", "deny", NULL};
static const char *const authz_deny_action[] = {"ignore", "disconnect", NULL};
static const char *const authz_src_types[] = {"none", "file", "mosquitto_acl_file", NULL};

/* The lists of objects: authorization.sources.<n> and authentication.<n>. */
static const struct rmq_cfg_list authz_sources = {
    .array = offsetof(struct rmq_settings, authz.sources),
    .count = offsetof(struct rmq_settings, authz.source_count),
    .elem_size = sizeof(struct rmq_authz_source_settings),
    .name = offsetof(struct rmq_authz_source_settings, name),
    .max = RMQ_AUTHZ_SOURCES_MAX,
};
static const struct rmq_cfg_list authn_list = {
    .array = offsetof(struct rmq_settings, authn),
    .count = offsetof(struct rmq_settings, authn_count),
    .elem_size = sizeof(struct rmq_authn_settings),
    .name = offsetof(struct rmq_authn_settings, name),
    .max = RMQ_AUTHN_MAX,
};
static const struct rmq_cfg_list *const lists[] = {&authz_sources, &authn_list};
#define IN_LIST(l, type, f)                                                                        \
    .scope = RMQ_CFG_LIST, .list = &(l), .offset = offsetof(type, f), .size = sizeof(((type *)0)->f)
/* authorization.sources.<n>.*: position n of the list (1..RMQ_AUTHZ_SOURCES_MAX) */
#define AZS(f) IN_LIST(authz_sources, struct rmq_authz_source_settings, f)
/* enum rmq_enable_authn and the authentication.<n> enums (settings.h), in order */
static const char *const enable_authn[] = {"true", "false", "quick_deny_anonymous", NULL};
static const char *const authn_mechanisms[] = {"password_based", NULL};
static const char *const authn_backends[] = {"built_in_database", "mosquitto_passwd_file", NULL};
static const char *const authn_id_types[] = {"username", "clientid", NULL};
static const char *const authn_hashes[] = {"plain",  "md5",    "sha",    "sha256",
                                           "sha512", "pbkdf2", "bcrypt", NULL};
static const char *const salt_positions[] = {"disable", "prefix", "suffix", NULL};
static const char *const mac_funs[] = {"md4",    "md5",    "ripemd160", "sha", "sha224",
                                       "sha256", "sha384", "sha512",    NULL};
static const char *const bootstrap_types[] = {"plain", "hash", NULL};
#define AUTHN(f) IN_LIST(authn_list, struct rmq_authn_settings, f)
#define ENABLE_AUTHN_DOC                                                                           \
    "Authentication on this listener (EMQX 5 key). `true`: clients are checked by the "            \
    "`authentication` chain when one is configured (a client with a verified certificate needs "   \
    "no password); `false`: every client is let in without a check (anonymous unless it has a "    \
    "certificate); `quick_deny_anonymous`: like `true`, and a client that sends no username is "   \
    "refused at once (CONNACK 0x86 / 4) unless it has a verified certificate."

/*
 * Rows that several listener kinds share, identical but for the kind: each is
 * written once here and instantiated per kind in the table below, e.g.
 * LISTENER_LIMIT_ROWS(TCP, "tcp") gives the listeners.tcp.<name>.… rows with
 * TCP(field). K: the scope macro (TCP, SSL, WS, WSS); k: the kind in the path.
 * Kept out of clang-format, which cannot lay out several rows in one macro.
 */
/* clang-format off */
/* tcp, ssl: PROXY protocol (EMQX 4.4 aliases listener.<kind>.<name>.…) */
#define LISTENER_PROXY_ROWS(K, k)                                                                  \
    {.path = "listeners." k ".<name>.proxy_protocol",                                              \
     .type = RMQ_CFG_BOOL,                                                                         \
     K(proxy_protocol),                                                                            \
     .def = "false",                                                                               \
     .aliases = {"listener." k ".<name>.proxy_protocol"},                                          \
     .doc = "Expect a PROXY protocol header (HAProxy v1 text or v2 binary, detected) before "      \
            "anything else on every connection, as sent by a load balancer in front of the "       \
            "broker. The original client address from the header is the one logged and used "      \
            "for the connection (logs, peer information); a v2 LOCAL or v1 UNKNOWN header keeps "  \
            "the socket's address. A connection without a valid header, or whose header does "     \
            "not arrive within `proxy_protocol_timeout`, is closed. Only enable it behind a "      \
            "balancer that always sends the header: a client could otherwise claim any address.",  \
     .example = "true"},                                                                           \
    {.path = "listeners." k ".<name>.proxy_protocol_timeout",                                      \
     .type = RMQ_CFG_DURATION,                                                                     \
     K(proxy_protocol_timeout),                                                                    \
     .def = "3s",                                                                                  \
     .min = 100,                                                                                   \
     .max = 10 * MIN,                                                                              \
     .aliases = {"listener." k ".<name>.proxy_protocol_timeout"},                                  \
     .doc = "With `proxy_protocol = true`: how long after accept the PROXY header may take to "    \
            "arrive; the connection is closed when it has not. The TLS handshake / CONNECT "       \
            "timeouts start after the header.",                                                    \
     .example = "5s"}

/* every kind: send timeout and rate limits */
#define LISTENER_LIMIT_ROWS(K, k)                                                                  \
    {.path = "listeners." k ".<name>.tcp_options.send_timeout",                                    \
     .type = RMQ_CFG_DURATION,                                                                     \
     K(send_timeout),                                                                              \
     .def = "15s",                                                                                 \
     .min = 100,                                                                                   \
     .max = DAY,                                                                                   \
     .doc = "How long a client's unwritten output may stay over the high-water mark (the "         \
            "client reads less than is sent to it, or not at all) before the connection is "       \
            "closed, as EMQX's `tcp_options.send_timeout` with `send_timeout_close = true`. "      \
            "While it is over the mark the publishers whose messages it receives are held "        \
            "(not read): this bounds how long one stuck subscriber can slow the others.",          \
     .example = "5s"},                                                                             \
    {.path = "listeners." k ".<name>.max_conn_rate",                                               \
     .type = RMQ_CFG_RATE,                                                                         \
     K(max_conn_rate),                                                                             \
     .def = "infinity",                                                                            \
     .min = 1,                                                                                     \
     .max = 1000000000000000ll,                                                                    \
     .flags = RMQ_CFG_F_INFINITY,                                                                  \
     .doc = "Most new connections per interval on this listener, as EMQX 5 (`1000/s`, "            \
            "`100/10s`). Over it, accepting pauses until the rate allows the next one: clients "   \
            "wait in the kernel backlog, none is refused.",                                        \
     .example = "\"100/s\""},                                                                      \
    {.path = "listeners." k ".<name>.messages_rate",                                               \
     .type = RMQ_CFG_RATE,                                                                         \
     K(messages_rate),                                                                             \
     .def = "infinity",                                                                            \
     .min = 1,                                                                                     \
     .max = 1000000000000000ll,                                                                    \
     .flags = RMQ_CFG_F_INFINITY,                                                                  \
     .doc = "Most PUBLISH packets per interval from one client of this listener, as EMQX 5 "       \
            "(`1000/s`). A client over it is slowed (its socket is not read until the rate "       \
            "allows more), not disconnected; bursts of up to one second's worth pass at once.",    \
     .example = "\"1000/s\""},                                                                     \
    {.path = "listeners." k ".<name>.bytes_rate",                                                  \
     .type = RMQ_CFG_RATE,                                                                         \
     K(bytes_rate),                                                                                \
     .def = "infinity",                                                                            \
     .min = 1,                                                                                     \
     .max = 1000000000000000ll,                                                                    \
     .flags = RMQ_CFG_F_INFINITY,                                                                  \
     .doc = "Most inbound bytes per interval from one client of this listener, as EMQX 5 "         \
            "(`1MB/s`, `512KB/s`). A client over it is slowed (not read until the rate allows "    \
            "more), not disconnected.",                                                            \
     .example = "\"1MB/s\""},                                                                      \
    {.path = "listeners." k ".<name>.max_conn_per_addr",                                           \
     .type = RMQ_CFG_INT,                                                                          \
     K(max_conn_per_addr),                                                                         \
     .def = "infinity",                                                                            \
     .min = 1,                                                                                     \
     .max = 100000000,                                                                             \
     .flags = RMQ_CFG_F_INFINITY,                                                                  \
     .doc = "Most MQTT connections from one source IP address on this listener (revmq; "           \
            "counted once the TLS handshake is done). A connection over it is kept but not "       \
            "read — its CONNECT waits — until another connection from that address closes; "       \
            "if that takes longer than `mqtt.idle_timeout` it is closed as any silent client.",    \
     .example = "10"}

/* every kind: enable_authn */
#define LISTENER_AUTHN_ROW(K, k)                                                                   \
    {.path = "listeners." k ".<name>.enable_authn",                                                \
     .type = RMQ_CFG_ENUM,                                                                         \
     K(enable_authn),                                                                              \
     .def = "true",                                                                                \
     .values = enable_authn,                                                                       \
     .doc = ENABLE_AUTHN_DOC,                                                                      \
     .example = "quick_deny_anonymous"}

/* ws, wss: the rows after bind and enable; pp: what the PROXY header comes before */
#define WEBSOCKET_ROWS(K, k, pp)                                                                   \
    {.path = "listeners." k ".<name>.max_connections",                                             \
     .type = RMQ_CFG_INT,                                                                          \
     K(max_connections),                                                                           \
     .def = "infinity",                                                                            \
     .min = 1,                                                                                     \
     .max = 100000000,                                                                             \
     .flags = RMQ_CFG_F_INFINITY,                                                                  \
     .doc = "Most simultaneous connections on this listener (including those still in the "        \
            "handshake). `infinity` (stored as UINT64_MAX) means no limit.",                       \
     .example = "10000"},                                                                          \
    {.path = "listeners." k ".<name>.proxy_protocol",                                              \
     .type = RMQ_CFG_BOOL,                                                                         \
     K(proxy_protocol),                                                                            \
     .def = "false",                                                                               \
     .doc = "As `listeners.tcp.<name>.proxy_protocol`: a PROXY protocol v1/v2 header is "          \
            "expected before " pp ".",                                                             \
     .example = "true"},                                                                           \
    {.path = "listeners." k ".<name>.proxy_protocol_timeout",                                      \
     .type = RMQ_CFG_DURATION,                                                                     \
     K(proxy_protocol_timeout),                                                                    \
     .def = "3s",                                                                                  \
     .min = 100,                                                                                   \
     .max = 10 * MIN,                                                                              \
     .doc = "As `listeners.tcp.<name>.proxy_protocol_timeout`.",                                   \
     .example = "5s"},                                                                             \
    {.path = "listeners." k ".<name>.websocket.mqtt_path",                                         \
     .type = RMQ_CFG_STRING,                                                                       \
     K(ws.mqtt_path),                                                                              \
     .def = "\"/mqtt\"",                                                                           \
     .doc = "The HTTP path of the WebSocket upgrade request (a query string after it is "          \
            "allowed); another path is answered `404 Not Found`. Must start with `/`.",            \
     .example = "\"/mqtt\""},                                                                      \
    {.path = "listeners." k ".<name>.websocket.max_frame_size",                                    \
     .type = RMQ_CFG_INT,                                                                          \
     K(ws.max_frame_size),                                                                         \
     .def = "infinity",                                                                            \
     .min = 1,                                                                                     \
     .max = 256 * MB,                                                                              \
     .flags = RMQ_CFG_F_INFINITY,                                                                  \
     .doc = "Largest payload of one WebSocket frame from a client, in bytes (EMQX's integer "      \
            "key); a larger frame closes the "                                                     \
            "connection with status 1009 (message too big) before its payload is read. "           \
            "`infinity`: frames are bounded only by `mqtt.max_packet_size`, which limits "         \
            "every MQTT packet however it is split into frames.",                                  \
     .example = "1048576"},                                                                        \
    {.path = "listeners." k ".<name>.websocket.check_origin_enable",                               \
     .type = RMQ_CFG_BOOL,                                                                         \
     K(ws.check_origin_enable),                                                                    \
     .def = "false",                                                                               \
     .doc = "Check the `Origin` header of the upgrade request against `check_origins`; a "         \
            "request with another origin is answered `403 Forbidden`. A request without "          \
            "`Origin` (not a browser) is allowed, as EMQX's default `allow_origin_absence`.",      \
     .example = "true"},                                                                           \
    {.path = "listeners." k ".<name>.websocket.check_origins",                                     \
     .type = RMQ_CFG_STRLIST,                                                                      \
     K(ws.check_origins),                                                                          \
     .def = "[\"http://localhost:18083\", \"http://127.0.0.1:18083\"]",                            \
     .doc = "Origins allowed when `check_origin_enable = true`, compared exactly "                 \
            "(scheme://host[:port]).",                                                             \
     .example = "[\"https://dash.example.com\"]"}
/* clang-format on */

static const struct rmq_cfg_key keys[] = {
    /* ---- node, log ---- */
    {.path = "node.name",
     .type = RMQ_CFG_STRING,
     G(node_name),
     .def = "revmq@127.0.0.1",
     .doc = "Name of this broker node, as EMQX's `node.name`. Used in logs and in the names of "
            "files under `node.data_dir`.",
     .example = "\"revmq@10.0.0.5\""},
    {.path = "node.data_dir",
     .type = RMQ_CFG_PATH,
     G(node_data_dir),
     .def = "data",
     .doc = "Directory for state that survives a restart: the last good CRL of each source and "
            "the last verified OCSP response of each listener. Relative paths are relative to "
            "the working directory. Created at start if missing.",
     .example = "\"/var/lib/revmq\""},
    {.path = "node.workers",
     .type = RMQ_CFG_INT,
     G(node_workers),
     .def = "0",
     .min = 0,
     .max = 256,
     .doc = "Worker threads with one event loop each (`0`: one per CPU online). Worker 0 is the "
            "MQTT core: all sessions and the MQTT side of every connection live there, and the "
            "sockets of TCP connections. Workers 1..N-1 do the TLS handshakes of the ssl and "
            "wss listeners (CRL checks and OCSP stapling included) — each handshake goes to "
            "the worker with the fewest in progress, worker 0 only when it has fewer than "
            "every other (a reconnect storm uses it too) — and then keep each TLS "
            "connection's socket and TLS records (reading, decrypting, encrypting, writing) "
            "for its whole life, passing its bytes to and from worker 0. `1`: worker 0 does "
            "everything. The threads are named `revmq-core` and `revmq-hs<N>` (see `top -H`).",
     .example = "4"},
    {.path = "log.level",
     .type = RMQ_CFG_ENUM,
     G(log_level),
     .def = "info",
     .values = log_levels,
     .aliases = {"log.console.level"},
     .doc = "Lowest level of log lines written to stderr. EMQX defaults to `warning`; revmq "
            "defaults to `info` so that revocation events (CRL refreshes, OCSP refreshes, "
            "rejected clients) are visible without extra configuration.",
     .example = "warning"},

    /* ---- TCP listeners ---- */
    {.path = "listeners.tcp.<name>.bind",
     .type = RMQ_CFG_BIND,
     TCP(bind),
     .def = "127.0.0.1:1883",
     .flags = RMQ_CFG_F_DEFAULT_ONLY,
     .aliases = {"listener.tcp.<name>"},
     .doc = "Address and port of the MQTT over TCP listener `<name>`: `host:port`, "
            "`[ipv6]:port` or a bare port (all IPv4 addresses). The listener named `default` "
            "exists unless disabled and binds `127.0.0.1:1883` (loopback only: set `bind` to "
            "serve other machines); any other TCP listener exists "
            "as soon as one of its keys is set, and then needs a `bind`. Port 0 asks the "
            "operating system for a free port. Two enabled listeners may not bind the same "
            "address and port; an EMQX 4.4 `listener.tcp.external` on port 1883 replaces the "
            "implicit `default` listener instead of clashing with it.",
     .example = "\"127.0.0.1:1883\""},
    {.path = "listeners.tcp.<name>.enable",
     .type = RMQ_CFG_BOOL,
     TCP(enable),
     .def = "true",
     .doc = "Whether the TCP listener `<name>` is started. `listeners.tcp.default.enable = "
            "false` turns off the built-in listener on port 1883.",
     .example = "false"},
    {.path = "listeners.tcp.<name>.max_connections",
     .type = RMQ_CFG_INT,
     TCP(max_connections),
     .def = "infinity",
     .min = 1,
     .max = 100000000,
     .flags = RMQ_CFG_F_INFINITY,
     .aliases = {"listener.tcp.<name>.max_connections"},
     .doc = "Most simultaneous connections on this listener; further connections are closed "
            "right after accept. `infinity` (stored as UINT64_MAX) means no limit but the "
            "process's file descriptors.",
     .example = "100000"},

    LISTENER_PROXY_ROWS(TCP, "tcp"),
    LISTENER_LIMIT_ROWS(TCP, "tcp"),

    /* ---- SSL listeners ---- */
    {.path = "listeners.ssl.<name>.bind",
     .type = RMQ_CFG_BIND,
     SSL(bind),
     .def = "0.0.0.0:8883",
     .flags = RMQ_CFG_F_DEFAULT_ONLY,
     .aliases = {"listener.ssl.<name>"},
     .doc = "Address and port of the MQTT over TLS listener `<name>`: `host:port`, "
            "`[ipv6]:port` or a bare port. An SSL listener exists as soon as any of its keys "
            "is set (there is none by default); the one named `default` binds "
            "`0.0.0.0:8883` unless `bind` says otherwise, any other one needs a `bind`.",
     .example = "\"0.0.0.0:8883\""},
    {.path = "listeners.ssl.<name>.enable",
     .type = RMQ_CFG_BOOL,
     SSL(enable),
     .def = "true",
     .doc = "Whether the TLS listener `<name>` is started.",
     .example = "false"},
    {.path = "listeners.ssl.<name>.max_connections",
     .type = RMQ_CFG_INT,
     SSL(max_connections),
     .def = "infinity",
     .min = 1,
     .max = 100000000,
     .flags = RMQ_CFG_F_INFINITY,
     .aliases = {SSLA("max_connections")},
     .doc = "Most simultaneous connections (including those still in the TLS handshake) on "
            "this listener. `infinity` (stored as UINT64_MAX) means no limit.",
     .example = "50000"},
    LISTENER_PROXY_ROWS(SSL, "ssl"),
    LISTENER_LIMIT_ROWS(SSL, "ssl"),
    {.path = "listeners.ssl.<name>.ssl_options.certfile",
     .type = RMQ_CFG_PATH,
     SSL(ssl.certfile),
     .flags = RMQ_CFG_F_OPTIONAL,
     .aliases = {SSLA("certfile")},
     .doc = "PEM file with the server certificate, optionally followed by its chain "
            "(intermediates), which is sent to clients. Required for an enabled SSL listener. "
            "Re-read when it changes on disk (see `reload_interval`). The file is checked "
            "when the listener starts, not by the configuration loader.",
     .example = "\"/etc/revmq/certs/server.pem\""},
    {.path = "listeners.ssl.<name>.ssl_options.keyfile",
     .type = RMQ_CFG_PATH,
     SSL(ssl.keyfile),
     .flags = RMQ_CFG_F_OPTIONAL,
     .aliases = {SSLA("keyfile")},
     .doc = "PEM file with the private key of `certfile` (RSA or ECDSA). Required for an "
            "enabled SSL listener. Re-read with `certfile`.",
     .example = "\"/etc/revmq/certs/server.key\""},
    {.path = "listeners.ssl.<name>.ssl_options.password",
     .type = RMQ_CFG_STRING,
     SSL(ssl.password),
     .flags = RMQ_CFG_F_OPTIONAL | RMQ_CFG_F_SECRET,
     .doc = "Passphrase of an encrypted `keyfile`. Printed as `******` by `--check-config`.",
     .example = "\"s3cret\""},
    {.path = "listeners.ssl.<name>.ssl_options.cacertfile",
     .type = RMQ_CFG_PATH,
     SSL(ssl.cacertfile),
     .flags = RMQ_CFG_F_OPTIONAL,
     .aliases = {SSLA("cacertfile")},
     .doc = "PEM file with the CA certificates that client certificates must chain to, and "
            "that CRL signatures are verified against. Needed with `verify = verify_peer`.",
     .example = "\"/etc/revmq/certs/ca.pem\""},
    {.path = "listeners.ssl.<name>.ssl_options.verify",
     .type = RMQ_CFG_ENUM,
     SSL(ssl.verify),
     .def = "verify_none",
     .values = verify_modes,
     .aliases = {SSLA("verify")},
     .doc = "`verify_peer` asks clients for a certificate and verifies it against "
            "`cacertfile`; `verify_none` does not ask. Mutual TLS and CRL checking need "
            "`verify_peer`.",
     .example = "verify_peer"},
    {.path = "listeners.ssl.<name>.ssl_options.fail_if_no_peer_cert",
     .type = RMQ_CFG_BOOL,
     SSL(ssl.fail_if_no_peer_cert),
     .def = "false",
     .aliases = {SSLA("fail_if_no_peer_cert")},
     .doc = "With `verify_peer`: refuse clients that send no certificate. `true` together with "
            "`verify = verify_none` is a configuration error (it could never apply).",
     .example = "true"},
    {.path = "listeners.ssl.<name>.ssl_options.depth",
     .type = RMQ_CFG_INT,
     SSL(ssl.depth),
     .def = "10",
     .min = 0,
     .max = 100,
     .aliases = {SSLA("depth")},
     .doc = "Most intermediate certificates allowed between a client certificate and a "
            "trusted CA.",
     .example = "3"},
    {.path = "listeners.ssl.<name>.ssl_options.versions",
     .type = RMQ_CFG_TLSVERSIONS,
     SSL(ssl.versions),
     .def = "[tlsv1.3, tlsv1.2]",
     .values = tls_versions,
     .aliases = {SSLA("tls_versions")},
     .doc = "TLS versions offered. Only TLS 1.2 and 1.3 exist in revmq; `tlsv1.1` and older "
            "are refused with an error rather than silently ignored. The EMQX 4.4 alias takes "
            "a comma-separated list (`tlsv1.3,tlsv1.2`).",
     .example = "[tlsv1.3]"},
    {.path = "listeners.ssl.<name>.ssl_options.ciphers",
     .type = RMQ_CFG_STRING,
     SSL(ssl.ciphers),
     .flags = RMQ_CFG_F_OPTIONAL | RMQ_CFG_F_JOIN,
     .aliases = {SSLA("ciphers")},
     .doc = "Cipher suites, as EMQX: a comma-separated string or an array of OpenSSL names; "
            "TLS 1.3 suites (`TLS_AES_256_GCM_SHA384`, …) and TLS 1.2 ciphers may be mixed. "
            "An array is stored joined with commas. Not set: OpenSSL's defaults.",
     .example = "\"TLS_AES_256_GCM_SHA384,ECDHE-ECDSA-AES256-GCM-SHA384\""},
    {.path = "listeners.ssl.<name>.ssl_options.honor_cipher_order",
     .type = RMQ_CFG_BOOL,
     SSL(ssl.honor_cipher_order),
     .def = "true",
     .aliases = {SSLA("honor_cipher_order")},
     .doc = "Prefer the server's cipher order over the client's.",
     .example = "false"},
    {.path = "listeners.ssl.<name>.ssl_options.handshake_timeout",
     .type = RMQ_CFG_DURATION,
     SSL(ssl.handshake_timeout),
     .def = "15s",
     .min = 100,
     .max = 10 * MIN,
     .aliases = {SSLA("handshake_timeout")},
     .doc = "A client that has not finished the TLS handshake this long after connecting is "
            "dropped, so a slow or silent peer cannot hold a connection slot.",
     .example = "5s"},
    {.path = "listeners.ssl.<name>.ssl_options.session_cache_memory",
     .type = RMQ_CFG_BYTESIZE,
     SSL(ssl.session_cache_memory),
     .def = "64MB",
     .min = 64 * KB,
     .max = 16 * GB,
     .doc = "Memory for the listener's TLS session cache (TLS 1.2 session ids, TLS 1.3 "
            "stateful tickets): when a new session would take it past this, the least "
            "recently used sessions are dropped. A session is charged 1 KB plus, with a client "
            "certificate, 4 KB and the certificate's size (~6 KB with a P-256 certificate, so "
            "the default holds ~11,000). A dropped session costs its client one full handshake; "
            "a revoked client never resumes, whatever the size. revmq only (EMQX has no such "
            "key).",
     .example = "16MB"},
    {.path = "listeners.ssl.<name>.ssl_options.reload_interval",
     .type = RMQ_CFG_DURATION,
     SSL(ssl.reload_interval),
     .def = "10s",
     .min = SEC,
     .max = DAY,
     .doc = "How often `certfile`, `keyfile` and `cacertfile` are checked for changes (they "
            "are also checked at once on SIGHUP). A changed set that loads becomes the context "
            "for new handshakes; one that does not load is logged and the old one stays.",
     .example = "1m"},
    {.path = "listeners.ssl.<name>.ssl_options.enable_crl_check",
     .type = RMQ_CFG_BOOL,
     SSL(ssl.enable_crl_check),
     .def = "false",
     .aliases = {SSLA("enable_crl_check")},
     .doc = "Check client certificates against CRLs (from `crl_cache_urls`, `crlfile` and, "
            "with `crl_cache.discover_from_cert`, the certificates' distribution points). "
            "Requires `verify = verify_peer`. A certificate whose issuer has no usable CRL is "
            "refused (fail closed, as EMQX).",
     .example = "true"},
    {.path = "listeners.ssl.<name>.ssl_options.crl_cache_urls",
     .type = RMQ_CFG_STRLIST,
     SSL(ssl.crl_cache_urls),
     .def = "[]",
     .aliases = {SSLA("crl_cache_urls")},
     .doc = "CRL URLs (http or https) fetched when the listener starts and refreshed every "
            "`crl_cache.refresh_interval`. In the EMQX 4.4 form and in environment variables a "
            "plain string is split at commas and spaces.",
     .example = "[\"http://ca.example.com/crl/ca.crl\"]"},
    {.path = "listeners.ssl.<name>.ssl_options.crlfile",
     .type = RMQ_CFG_STRLIST,
     SSL(ssl.crlfile),
     .def = "[]",
     .doc = "Local CRL files (PEM or DER; a PEM file may hold several CRLs), reloaded when "
            "they change. Not an EMQX key (Mosquitto has one of this name). A plain string is "
            "split at commas and spaces.",
     .example = "[\"/etc/revmq/crl/ca.crl\"]"},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp.enable_ocsp_stapling",
     .type = RMQ_CFG_BOOL,
     SSL(ssl.ocsp.enable_ocsp_stapling),
     .def = "false",
     .aliases = {SSLA("enable_ocsp_stapling")},
     .doc = "Staple a verified OCSP response for the listener's own certificate into "
            "handshakes of clients that ask for it (TLS 1.2 and 1.3).",
     .example = "true"},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp.responder_url",
     .type = RMQ_CFG_STRING,
     SSL(ssl.ocsp.responder_url),
     .flags = RMQ_CFG_F_OPTIONAL,
     .aliases = {SSLA("ocsp_responder_url")},
     .doc = "OCSP responder URL. Not set: the OCSP URI in the certificate's Authority "
            "Information Access (EMQX requires it; revmq falls back).",
     .example = "\"http://ca.example.com/ocsp\""},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp.issuer_pem",
     .type = RMQ_CFG_PATH,
     SSL(ssl.ocsp.issuer_pem),
     .flags = RMQ_CFG_F_OPTIONAL,
     .aliases = {SSLA("ocsp_issuer_pem")},
     .doc = "PEM file with the issuer of the listener's certificate, for the OCSP request and "
            "response check. Not set: the issuer found in the `certfile` chain or in "
            "`cacertfile` (EMQX requires it; revmq falls back).",
     .example = "\"/etc/revmq/certs/issuer.pem\""},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp.refresh_interval",
     .type = RMQ_CFG_DURATION,
     SSL(ssl.ocsp.refresh_interval),
     .def = "5m",
     .min = SEC,
     .max = 7 * DAY,
     .aliases = {SSLA("ocsp_refresh_interval")},
     .doc = "Longest time between OCSP refreshes; a response is refreshed earlier, halfway "
            "between its thisUpdate and nextUpdate. EMQX's minimum is 1m; revmq allows 1s "
            "for tests and demos.",
     .example = "1h"},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp.refresh_http_timeout",
     .type = RMQ_CFG_DURATION,
     SSL(ssl.ocsp.refresh_http_timeout),
     .def = "15s",
     .min = 100,
     .max = 10 * MIN,
     .aliases = {SSLA("ocsp_refresh_http_timeout")},
     .doc = "Timeout of one OCSP request (connect plus transfer).",
     .example = "5s"},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp.method",
     .type = RMQ_CFG_ENUM,
     SSL(ssl.ocsp.method),
     .def = "post",
     .values = ocsp_methods,
     .doc = "HTTP method of OCSP requests: `post` (body `application/ocsp-request`) or `get` "
            "(base64 request appended to the URL with one `/`, URL-encoded, RFC 6960 A.1).",
     .example = "get"},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp_client.enable",
     .type = RMQ_CFG_BOOL,
     SSL(ssl.ocsp_client.enable),
     .def = "false",
     .doc = "Check client certificates with OCSP (revmq; EMQX has no such key, its issue "
            "#12026): for a client certificate whose Authority Information Access names an "
            "http(s) OCSP responder, the handshake is suspended while the responder is asked "
            "(non-blocking), the response is verified as the stapler verifies it and cached "
            "until its nextUpdate; `revoked` is refused with alert 44 (certificate_revoked). "
            "A certificate without an OCSP URL is left to the CRL checks (or accepted when "
            "`enable_crl_check` is off). Requires `verify = verify_peer`. See "
            "docs/revocation.md, \"OCSP for client certificates\".",
     .example = "true"},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp_client.unknown",
     .type = RMQ_CFG_ENUM,
     SSL(ssl.ocsp_client.unknown),
     .def = "reject",
     .values = ocspc_policies,
     .doc = "What a verified OCSP answer `unknown` (the responder does not know the "
            "certificate) does: `reject` refuses the handshake (alert 42 bad_certificate), "
            "`allow` lets the other checks decide.",
     .example = "allow"},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp_client.unreachable",
     .type = RMQ_CFG_ENUM,
     SSL(ssl.ocsp_client.unreachable),
     .def = "reject",
     .values = ocspc_policies,
     .doc = "What happens when no valid answer can be had (responder down, HTTP error, "
            "`timeout` exceeded, or a response that fails verification: wrong signer, bad "
            "CertID, expired): `reject` (fail closed, alert 42) or `allow` (fail open: the "
            "other checks decide). A cached answer is used until its nextUpdate whatever "
            "the responder does.",
     .example = "allow"},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp_client.combine_with_crl",
     .type = RMQ_CFG_ENUM,
     SSL(ssl.ocsp_client.combine),
     .def = "both",
     .values = ocspc_combine,
     .doc = "With `enable_crl_check` also on: `both` accepts a certificate only when a CRL "
            "covers it as not revoked AND OCSP accepts it; `either` accepts it when one of "
            "the two does. `revoked` from either source always refuses (alert 44).",
     .example = "either"},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp_client.timeout",
     .type = RMQ_CFG_DURATION,
     SSL(ssl.ocsp_client.timeout),
     .def = "5s",
     .min = 100,
     .max = 2 * MIN,
     .doc = "Timeout of one client-certificate OCSP request (connect plus transfer). Keep it "
            "below `handshake_timeout`.",
     .example = "2s"},
    {.path = "listeners.ssl.<name>.ssl_options.ocsp_client.cache_size",
     .type = RMQ_CFG_INT,
     SSL(ssl.ocsp_client.cache_size),
     .def = "10000",
     .min = 1,
     .max = 10000000,
     .doc = "Most verified client-certificate OCSP answers kept (least recently used "
            "dropped first). Each entry is refreshed halfway to its nextUpdate, so connected "
            "clients are re-checked; a refreshed `revoked` closes their connections.",
     .example = "1000"},

    /* ---- WebSocket listeners ---- */
    {.path = "listeners.ws.<name>.bind",
     .type = RMQ_CFG_BIND,
     WS(bind),
     .def = "0.0.0.0:8083",
     .flags = RMQ_CFG_F_DEFAULT_ONLY,
     .doc = "Address and port of the MQTT over WebSocket listener `<name>` (EMQX's "
            "`listeners.ws`). It exists as soon as any of its keys is set (there is none by "
            "default); the one named `default` binds `0.0.0.0:8083` unless `bind` says "
            "otherwise, any other one needs a `bind`.",
     .example = "\"0.0.0.0:8083\""},
    {.path = "listeners.ws.<name>.enable",
     .type = RMQ_CFG_BOOL,
     WS(enable),
     .def = "true",
     .doc = "Whether the WebSocket listener `<name>` is started.",
     .example = "false"},
    WEBSOCKET_ROWS(WS, "ws", "the HTTP upgrade request"),

    /* ---- secure WebSocket listeners ---- */
    {.path = "listeners.wss.<name>.bind",
     .type = RMQ_CFG_BIND,
     WSS(bind),
     .def = "0.0.0.0:8084",
     .flags = RMQ_CFG_F_DEFAULT_ONLY,
     .doc = "Address and port of the MQTT over secure WebSocket listener `<name>` (EMQX's "
            "`listeners.wss`). It exists as soon as any of its keys is set (there is none by "
            "default); the one named `default` binds `0.0.0.0:8084` unless `bind` says "
            "otherwise, any other one needs a `bind`. Every `listeners.ssl.<name>.ssl_options.*` "
            "key is also a key of a wss listener, `listeners.wss.<name>.ssl_options.*`, with the "
            "same meaning, default and range (certificates, CRL checking with live disconnects, "
            "OCSP stapling, reload).",
     .example = "\"0.0.0.0:8084\""},
    {.path = "listeners.wss.<name>.enable",
     .type = RMQ_CFG_BOOL,
     WSS(enable),
     .def = "true",
     .doc = "Whether the secure WebSocket listener `<name>` is started.",
     .example = "false"},
    WEBSOCKET_ROWS(WSS, "wss", "the TLS handshake and the HTTP upgrade request"),

    /* ---- mqtt ---- */
    {.path = "mqtt.max_packet_size",
     .type = RMQ_CFG_BYTESIZE,
     G(mqtt.max_packet_size),
     .def = "1MB",
     .min = 16,
     .max = 268435455,
     .doc = "Largest MQTT packet accepted, fixed header included; checked from the fixed header "
            "before the packet is buffered. Also announced to MQTT 5 clients as Maximum Packet "
            "Size. 268435455 is the protocol's limit.",
     .example = "256KB"},
    {.path = "mqtt.max_clientid_len",
     .type = RMQ_CFG_INT,
     G(mqtt.max_clientid_len),
     .def = "65535",
     .min = 23,
     .max = 65535,
     .doc = "Longest client identifier accepted (MQTT-3.1.3-5 requires at least 23).",
     .example = "1024"},
    {.path = "mqtt.max_topic_levels",
     .type = RMQ_CFG_INT,
     G(mqtt.max_topic_levels),
     .def = "128",
     .min = 1,
     .max = 65535,
     .doc = "Most levels (`/`-separated parts) in a topic name or filter.",
     .example = "16"},
    {.path = "mqtt.max_qos_allowed",
     .type = RMQ_CFG_INT,
     G(mqtt.max_qos_allowed),
     .def = "2",
     .min = 0,
     .max = 2,
     .doc = "Highest QoS granted to subscriptions and accepted on PUBLISH (MQTT 5 Maximum QoS).",
     .example = "1"},
    {.path = "mqtt.retain_available",
     .type = RMQ_CFG_BOOL,
     G(mqtt.retain_available),
     .def = "true",
     .doc = "Whether retained messages are supported.",
     .example = "false"},
    {.path = "mqtt.wildcard_subscription",
     .type = RMQ_CFG_BOOL,
     G(mqtt.wildcard_subscription),
     .def = "true",
     .doc = "Whether topic filters with `+` and `#` are allowed.",
     .example = "false"},
    {.path = "mqtt.shared_subscription",
     .type = RMQ_CFG_BOOL,
     G(mqtt.shared_subscription),
     .def = "true",
     .doc = "Whether `$share/<group>/<filter>` subscriptions are allowed.",
     .example = "false"},
    {.path = "mqtt.max_inflight",
     .type = RMQ_CFG_INT,
     G(mqtt.max_inflight),
     .def = "32",
     .min = 1,
     .max = 65535,
     .doc = "Most QoS 1 and 2 messages sent to one client and not yet acknowledged.",
     .example = "128"},
    {.path = "mqtt.max_mqueue_len",
     .type = RMQ_CFG_INT,
     G(mqtt.max_mqueue_len),
     .def = "1000",
     .min = 0,
     .max = 1000000000,
     .flags = RMQ_CFG_F_INFINITY,
     .doc = "Most messages kept in memory for one session beyond the in-flight window (also "
            "while the client is offline). A connected subscriber over it holds its publishers "
            "(backpressure). For an offline persistent session, QoS 1/2 messages beyond it are "
            "kept on disk only (`durable_sessions.max_stored_messages_per_session`); with no "
            "store, a QoS 1/2 PUBLISH beyond it is refused (MQTT 5: 0x97; 3.1.1: "
            "disconnected without acknowledgement). QoS 0 beyond it is dropped, logged and "
            "counted. `infinity` is stored as UINT32_MAX; 0 also means no limit.",
     .example = "10000"},
    {.path = "mqtt.session_expiry_interval",
     .type = RMQ_CFG_DURATION,
     G(mqtt.session_expiry_interval),
     .def = "2h",
     .min = 0,
     .max = 4294967295ll * SEC,
     .doc = "How long the session of an MQTT 3.1.1 client with clean session = false survives "
            "after it disconnects, and the most an MQTT 5 client may ask for.",
     .example = "1d"},
    {.path = "mqtt.keepalive_multiplier",
     .type = RMQ_CFG_FLOAT,
     G(mqtt.keepalive_multiplier),
     .def = "1.5",
     .fmin = 1.0,
     .fmax = 100.0,
     .doc = "A client that sends nothing for keepalive × this factor is disconnected "
            "(MQTT-3.1.2-24 asks for 1.5).",
     .example = "2.0"},
    {.path = "mqtt.server_keepalive",
     .type = RMQ_CFG_INT,
     G(mqtt.server_keepalive),
     .def = "disabled",
     .min = 1,
     .max = 65535,
     .flags = RMQ_CFG_F_DISABLED_ZERO,
     .doc = "Seconds; when set, MQTT 5 clients are told to use this keep alive instead of "
            "their own (Server Keep Alive). `disabled` (stored as 0) uses the client's value.",
     .example = "60"},
    {.path = "mqtt.max_topic_alias",
     .type = RMQ_CFG_INT,
     G(mqtt.max_topic_alias),
     .def = "65535",
     .min = 0,
     .max = 65535,
     .doc = "Topic Alias Maximum announced to MQTT 5 clients (0 disables topic aliases).",
     .example = "100"},
    {.path = "mqtt.retry_interval",
     .type = RMQ_CFG_DURATION,
     G(mqtt.retry_interval),
     .def = "30s",
     .min = SEC,
     .max = DAY,
     .doc = "How long an outgoing QoS 1/2 message may stay unacknowledged before it is "
            "sent again on the same connection (PUBLISH with DUP set, or PUBREL again for "
            "QoS 2), as in EMQX; checked every 250 ms. MQTT 3.1 and 3.1.1 clients only: "
            "MQTT 5 forbids a resend except on reconnect (MQTT-4.4.0-1), so MQTT 5 clients "
            "get unacknowledged messages again when they resume their session.",
     .example = "10s"},
    {.path = "mqtt.max_awaiting_rel",
     .type = RMQ_CFG_INT,
     G(mqtt.max_awaiting_rel),
     .def = "100",
     .min = 1,
     .max = 65535,
     .doc = "Most incoming QoS 2 messages of one client waiting for PUBREL.",
     .example = "1000"},
    {.path = "mqtt.await_rel_timeout",
     .type = RMQ_CFG_DURATION,
     G(mqtt.await_rel_timeout),
     .def = "300s",
     .min = SEC,
     .max = DAY,
     .doc = "How long an incoming QoS 2 message waits for PUBREL before it is dropped.",
     .example = "60s"},
    {.path = "mqtt.idle_timeout",
     .type = RMQ_CFG_DURATION,
     G(mqtt.idle_timeout),
     .def = "15s",
     .min = 100,
     .max = DAY,
     .doc = "How long a new connection may stay without a CONNECT packet (after the TLS "
            "handshake on TLS listeners) before it is closed, so a silent client cannot hold "
            "a slot.",
     .example = "10s"},
    {.path = "mqtt.mqueue_store_qos0",
     .type = RMQ_CFG_BOOL,
     G(mqtt.mqueue_store_qos0),
     .def = "true",
     .doc = "Whether QoS 0 messages are kept for a subscriber that cannot take them now. "
            "`true`: as in EMQX, QoS 0 messages for an offline session that outlives its "
            "connection are queued with its QoS 1/2 messages (up to `mqtt.max_mqueue_len`) and "
            "sent when it reconnects; and a QoS 0 message for a connected subscriber whose "
            "unwritten output is over the high-water mark is kept while its publisher is held "
            "(not read) until the subscriber catches up, so nothing is lost. `false`: both are "
            "dropped (counted and logged) and the publisher is read on, as brokers that trade "
            "loss for speed do. QoS 1 and 2 messages for a connected subscriber are never "
            "dropped either way.",
     .example = "false"},
    {.path = "mqtt.peer_cert_as_username",
     .type = RMQ_CFG_ENUM,
     G(mqtt.peer_cert_as_username),
     .def = "disabled",
     .values = peer_cert_as,
     .aliases = {SSLA("peer_cert_as_username")},
     .doc = "Over mutual TLS, replace the client's username with a part of its certificate: "
            "`cn` (subject common name), `dn` (subject distinguished name), `crt` (DER, "
            "base64), `pem`, `md5` (MD5 of the DER, hex). EMQX 4.4 sets it per listener; "
            "revmq has one global setting, which the 4.4 alias of any listener sets.",
     .example = "cn"},
    {.path = "mqtt.peer_cert_as_clientid",
     .type = RMQ_CFG_ENUM,
     G(mqtt.peer_cert_as_clientid),
     .def = "disabled",
     .values = peer_cert_as,
     .aliases = {SSLA("peer_cert_as_clientid")},
     .doc = "Like `peer_cert_as_username`, for the client identifier.",
     .example = "cn"},

    /* ---- crl_cache ---- */
    {.path = "crl_cache.refresh_interval",
     .type = RMQ_CFG_DURATION,
     G(crl_cache.refresh_interval),
     .def = "15m",
     .min = SEC,
     .max = 7 * DAY,
     .aliases = {"crl_cache_refresh_interval"},
     .doc = "How often every known CRL is fetched again. EMQX's minimum is 1m; revmq allows "
            "1s for tests and demos.",
     .example = "5m"},
    {.path = "crl_cache.http_timeout",
     .type = RMQ_CFG_DURATION,
     G(crl_cache.http_timeout),
     .def = "15s",
     .min = 100,
     .max = 10 * MIN,
     .aliases = {"crl_cache_http_timeout"},
     .doc = "Timeout of one CRL fetch (connect plus transfer); also how long the listener "
            "start waits for the first fetch of configured URLs.",
     .example = "5s"},
    {.path = "crl_cache.capacity",
     .type = RMQ_CFG_INT,
     G(crl_cache.capacity),
     .def = "100",
     .min = 1,
     .max = 100000,
     .doc = "Most CRL URLs cached; when full, the least recently used discovered URL is "
            "evicted (configured URLs are pinned).",
     .example = "1000"},
    {.path = "crl_cache.max_size",
     .type = RMQ_CFG_BYTESIZE,
     G(crl_cache.max_size),
     .def = "64MB",
     .min = KB,
     .max = 4 * GB,
     .doc = "Largest CRL body accepted; a larger download is aborted and rejected (the "
            "previous CRL stays in force).",
     .example = "256MB"},
    {.path = "crl_cache.check",
     .type = RMQ_CFG_ENUM,
     G(crl_cache.check),
     .def = "leaf",
     .values = crl_scopes,
     .doc = "`leaf` checks the client certificate only; `chain` also checks every "
            "intermediate CA certificate against its issuer's CRL.",
     .example = "chain"},
    {.path = "crl_cache.stale_grace",
     .type = RMQ_CFG_DURATION,
     G(crl_cache.stale_grace),
     .def = "0s",
     .min = 0,
     .max = 30 * DAY,
     .doc = "How long a CRL past its nextUpdate is still used while refreshes keep failing. "
            "0: an expired CRL is not used (its issuer's clients fail closed).",
     .example = "1h"},
    {.path = "crl_cache.disconnect_revoked",
     .type = RMQ_CFG_BOOL,
     G(crl_cache.disconnect_revoked),
     .def = "true",
     .doc = "After a new CRL arrives, disconnect connected clients whose certificate it "
            "revokes (MQTT 5: DISCONNECT 0x98 \"certificate revoked\"; 3.1.1: close).",
     .example = "false"},
    {.path = "crl_cache.discover_from_cert",
     .type = RMQ_CFG_BOOL,
     G(crl_cache.discover_from_cert),
     .def = "true",
     .doc = "Fetch the CRL Distribution Points (http/https) of client certificates the first "
            "time they are seen; that one handshake waits for the fetch (at most "
            "`http_timeout`).",
     .example = "false"},

    /* ---- authorization (EMQX 5) ---- */
    {.path = "authorization.no_match",
     .type = RMQ_CFG_ENUM,
     G(authz.no_match),
     .def = "allow",
     .values = authz_no_match,
     .aliases = {"acl_nomatch"},
     .doc = "What happens to a publish or subscribe that no rule of any enabled source "
            "matches. EMQX's default is `allow`, kept so that an EMQX configuration keeps its "
            "meaning; a production deployment sets `deny` and lists what is allowed.",
     .example = "deny"},
    {.path = "authorization.deny_action",
     .type = RMQ_CFG_ENUM,
     G(authz.deny_action),
     .def = "ignore",
     .values = authz_deny_action,
     .aliases = {"acl_deny_action"},
     .doc = "What a refused operation does besides being refused. `ignore`: the SUBSCRIBE "
            "gets reason 0x87 (MQTT 5) / 0x80 (3.1.1); a QoS 1/2 PUBLISH gets PUBACK/PUBREC "
            "0x87 (MQTT 5) or is acknowledged and dropped (3.1.1), a QoS 0 PUBLISH is "
            "dropped. `disconnect`: the client is disconnected (MQTT 5: DISCONNECT 0x87).",
     .example = "disconnect"},
    {.path = "authorization.cache.enable",
     .type = RMQ_CFG_BOOL,
     G(authz.cache_enable),
     .def = "true",
     .aliases = {"enable_acl_cache"},
     .doc = "Keep each connection's recent decisions (per action, QoS, retain flag and "
            "topic) so that a repeated publish costs one lookup instead of a rule scan. A "
            "reload (SIGHUP) empties every cache.",
     .example = "false"},
    {.path = "authorization.cache.max_size",
     .type = RMQ_CFG_INT,
     G(authz.cache_max_size),
     .def = "32",
     .min = 1,
     .max = 65536,
     .aliases = {"acl_cache_max_size"},
     .doc = "Decisions kept per connection. The cache is direct-mapped: a new decision "
            "replaces the one in its slot.",
     .example = "64"},
    {.path = "authorization.cache.ttl",
     .type = RMQ_CFG_DURATION,
     G(authz.cache_ttl),
     .def = "1m",
     .min = SEC,
     .max = DAY,
     .aliases = {"acl_cache_ttl"},
     .doc = "How long a cached decision is used before the rules are asked again.",
     .example = "5m"},
    {.path = "authorization.sources.<n>.type",
     .type = RMQ_CFG_ENUM,
     AZS(type),
     .def = "none",
     .values = authz_src_types,
     .doc = "Kind of authorization source `<n>` (sources are asked in order; the first rule "
            "that matches decides). `file`: an EMQX acl.conf (Erlang terms). "
            "`mosquitto_acl_file` (revmq extension): a Mosquitto `acl_file`, whose "
            "unmatched requests are denied as in Mosquitto. `none`: position not used.",
     .example = "file"},
    {.path = "authorization.sources.<n>.enable",
     .type = RMQ_CFG_BOOL,
     AZS(enable),
     .def = "true",
     .doc = "Whether source `<n>` is used.",
     .example = "false"},
    {.path = "authorization.sources.<n>.path",
     .type = RMQ_CFG_PATH,
     AZS(path),
     .flags = RMQ_CFG_F_OPTIONAL,
     .doc = "The rule file of source `<n>`; required when its type is `file` or "
            "`mosquitto_acl_file`. Read at start and again on SIGHUP; a file that does not "
            "parse stops the start, or on reload keeps the rules in force and logs "
            "file:line and why.",
     .example = "\"etc/acl.conf\""},
    /* ---- authentication (issue 12) ---- */
    LISTENER_AUTHN_ROW(TCP, "tcp"),
    LISTENER_AUTHN_ROW(SSL, "ssl"),
    LISTENER_AUTHN_ROW(WS, "ws"),
    LISTENER_AUTHN_ROW(WSS, "wss"),
    /* ws, wss limits: added after their sections; kept here, where docs/configuration.md lists them
     */
    LISTENER_LIMIT_ROWS(WS, "ws"),
    LISTENER_LIMIT_ROWS(WSS, "wss"),
    {.path = "mqtt.session_owner_only",
     .type = RMQ_CFG_BOOL,
     G(mqtt.session_owner_only),
     .def = "true",
     .doc = "A session belongs to the principal that created it (its client certificate's "
            "issuer and subject, its authenticated username, or anonymous). When true, a "
            "CONNECT with the same client id from another principal is refused (MQTT 5 CONNACK "
            "0x87, 3.1.1 return code 5): it can neither take the session over, read its "
            "queue, nor disconnect its owner. revmq extension; false restores plain MQTT "
            "takeover by client id.",
     .example = "false"},
    {.path = "mqtt.authn_failure_delay",
     .type = RMQ_CFG_DURATION,
     G(mqtt.authn_failure_delay),
     .def = "1s",
     .min = 0,
     .max = HOUR,
     .doc = "After a failed authentication from an address, CONNECTs from that address are "
            "refused without checking their password (CONNACK 0x86 / 4, logged) for this long, "
            "doubled for each further failure up to 64 times this value; a success resets it. "
            "Keeps passwords from being tried at line rate. 0 turns it off. revmq extension.",
     .example = "2s"},
    {.path = "authentication.<n>.enable",
     .type = RMQ_CFG_BOOL,
     AUTHN(enable),
     .def = "true",
     .doc = "Whether authenticator `<n>` (its position in the `authentication` list, from 1) "
            "is used. EMQX 5: `authentication = [{mechanism = password_based, …}]`; the "
            "environment form is `EMQX_AUTHENTICATION__1__ENABLE`.",
     .example = "false"},
    {.path = "authentication.<n>.mechanism",
     .type = RMQ_CFG_ENUM,
     AUTHN(mechanism),
     .def = "password_based",
     .values = authn_mechanisms,
     .doc = "Authentication mechanism (EMQX 5). revmq has `password_based`: the client's "
            "username (or client id) and password are checked against a user list. Clients "
            "with a verified client certificate are not asked for a password.",
     .example = "password_based"},
    {.path = "authentication.<n>.backend",
     .type = RMQ_CFG_ENUM,
     AUTHN(backend),
     .def = "built_in_database",
     .values = authn_backends,
     .doc = "Where users come from. `built_in_database` (EMQX 5): the users of "
            "`bootstrap_file` (EMQX's bootstrap CSV or JSON, loaded unchanged). "
            "`mosquitto_passwd_file` (revmq extension): the file at `path`, as Mosquitto's "
            "`mosquitto_passwd` writes it (`user:$6$…` and `user:$7$…` lines). Both files are "
            "read at start and on SIGHUP; a bad file keeps the users loaded before and logs "
            "`file:line` and why.",
     .example = "mosquitto_passwd_file"},
    {.path = "authentication.<n>.user_id_type",
     .type = RMQ_CFG_ENUM,
     AUTHN(user_id_type),
     .def = "username",
     .values = authn_id_types,
     .doc = "Which CONNECT field is the user id looked up in the user list (EMQX 5).",
     .example = "clientid"},
    {.path = "authentication.<n>.password_hash_algorithm.name",
     .type = RMQ_CFG_ENUM,
     AUTHN(hash),
     .def = "sha256",
     .values = authn_hashes,
     .doc = "How the `password_hash` of a bootstrap file with `bootstrap_type = hash` was "
            "made (EMQX 5): `plain` (the password itself), `md5`/`sha`/`sha256`/`sha512` (hex "
            "of the digest of salt and password, see `salt_position`), `pbkdf2` (hex of "
            "PBKDF2 with `mac_fun`, `iterations`, `dk_length`), `bcrypt` (`$2b$…` strings, "
            "checked with the system's crypt(3)). Passwords of a `plain` bootstrap file are "
            "hashed with it at load. Comparisons are constant-time.",
     .example = "pbkdf2"},
    {.path = "authentication.<n>.password_hash_algorithm.salt_position",
     .type = RMQ_CFG_ENUM,
     AUTHN(salt_position),
     .def = "prefix",
     .values = salt_positions,
     .doc = "For `md5`/`sha`/`sha256`/`sha512`: the digest is of salt + password (`prefix`), "
            "password + salt (`suffix`) or the password alone (`disable`). EMQX 5.",
     .example = "suffix"},
    {.path = "authentication.<n>.password_hash_algorithm.mac_fun",
     .type = RMQ_CFG_ENUM,
     AUTHN(mac_fun),
     .def = "sha256",
     .values = mac_funs,
     .doc = "For `pbkdf2`: the HMAC digest. EMQX 5.",
     .example = "sha512"},
    {.path = "authentication.<n>.password_hash_algorithm.iterations",
     .type = RMQ_CFG_INT,
     AUTHN(iterations),
     .def = "4096",
     .min = 1,
     .max = 10000000,
     .doc = "For `pbkdf2`: the iteration count. EMQX 5.",
     .example = "10000"},
    {.path = "authentication.<n>.password_hash_algorithm.dk_length",
     .type = RMQ_CFG_INT,
     AUTHN(dk_length),
     .def = "0",
     .min = 0,
     .max = 1024,
     .doc = "For `pbkdf2`: the derived key length in bytes; 0 (or unset, as in EMQX): the "
            "digest size of `mac_fun`.",
     .example = "32"},
    {.path = "authentication.<n>.password_hash_algorithm.salt_rounds",
     .type = RMQ_CFG_INT,
     AUTHN(salt_rounds),
     .def = "10",
     .min = 5,
     .max = 31,
     .doc = "For `bcrypt`: the cost used when a `plain` bootstrap file is hashed at load "
            "(`$2b$` hashes in a `hash` file carry their own cost). EMQX 5.",
     .example = "12"},
    {.path = "authentication.<n>.bootstrap_file",
     .type = RMQ_CFG_PATH,
     AUTHN(bootstrap_file),
     .flags = RMQ_CFG_F_OPTIONAL,
     .doc = "For `built_in_database`: the users, in EMQX's bootstrap format. CSV with a header "
            "line: `user_id,password,is_superuser` (`bootstrap_type = plain`) or "
            "`user_id,password_hash,salt,is_superuser` (`hash`); or a `.json` file: an array of "
            "objects with the same fields. Unset: no users (every client is refused by this "
            "authenticator's chain unless another one knows it).",
     .example = "\"etc/auth-built-in-db-bootstrap.csv\""},
    {.path = "authentication.<n>.bootstrap_type",
     .type = RMQ_CFG_ENUM,
     AUTHN(bootstrap_type),
     .def = "plain",
     .values = bootstrap_types,
     .doc = "Whether `bootstrap_file` holds passwords (`plain`) or hashes made with "
            "`password_hash_algorithm` (`hash`). EMQX 5.",
     .example = "hash"},
    {.path = "authentication.<n>.path",
     .type = RMQ_CFG_PATH,
     AUTHN(path),
     .flags = RMQ_CFG_F_OPTIONAL,
     .doc = "For `backend = mosquitto_passwd_file` (revmq extension): a Mosquitto password "
            "file (`mosquitto_passwd -c FILE USER`), used as it is.",
     .example = "\"/etc/mosquitto/passwd\""},
    /* ---- admin API, $SYS (src/admin) ---- */
    {.path = "dashboard.listeners.http.enable",
     .type = RMQ_CFG_BOOL,
     G(dashboard_enable),
     .def = "true",
     .doc = "Run the admin HTTP listener (REST API under `/api/v5`, Prometheus metrics, the "
            "dashboard page), as EMQX's dashboard listener. Every request needs an API key "
            "from `api_key.bootstrap_file`.",
     .example = "false"},
    {.path = "dashboard.listeners.http.bind",
     .type = RMQ_CFG_BIND,
     G(dashboard_bind),
     .def = "127.0.0.1:18083",
     .doc = "Address and port of the admin HTTP listener: `host:port`, `[ipv6]:port` or a bare "
            "port (all IPv4 addresses). Port 0 lets the operating system pick a free port "
            "(logged at start).",
     .example = "\"127.0.0.1:18083\""},
    {.path = "api_key.bootstrap_file",
     .type = RMQ_CFG_PATH,
     G(api_key_bootstrap_file),
     .flags = RMQ_CFG_F_OPTIONAL,
     .doc = "File of API keys for the admin API, one per line `key:secret` or "
            "`key:secret:role` (role `administrator` or `viewer`; default administrator; a "
            "viewer may only read). Blank lines and lines starting with `#` are skipped. "
            "Clients send the key and secret with HTTP basic authentication, as with EMQX 5. "
            "Unset: no key is valid and every API request answers 401.",
     .example = "\"/etc/revmq/api_keys\""},
    {.path = "sys_topics.sys_msg_interval",
     .type = RMQ_CFG_DURATION,
     G(sys_msg_interval),
     .def = "1m",
     .min = 0,
     .max = 1 * DAY,
     .doc = "How often the broker publishes its `$SYS/broker/...` topics (Mosquitto's layout: "
            "clients connected, messages received and sent, uptime, version, ...), retained. "
            "`0s`: never.",
     .example = "10s"},
    /* ---- log outputs (src/common/log.c) ---- */
    {.path = "log.formatter",
     .type = RMQ_CFG_ENUM,
     G(log_formatter),
     .def = "text",
     .values = log_formats,
     .aliases = {"log.console.formatter"},
     .doc = "Format of log lines, as EMQX's `log.console.formatter`. `text`: `<time> <level> "
            "component: message key=value ...`. `json`: one JSON object per line with `time`, "
            "`level`, `component`, `msg` and one string field per `key=value` of the message.",
     .example = "json"},
    {.path = "log.file",
     .type = RMQ_CFG_PATH,
     G(log_file),
     .flags = RMQ_CFG_F_OPTIONAL,
     .doc = "Also write log lines to this file (appended; created with mode 0640), rotated by "
            "size. Not set: stderr only.",
     .example = "\"/var/log/revmq/revmq.log\""},
    {.path = "log.file_rotation_size",
     .type = RMQ_CFG_BYTESIZE,
     G(log_file_rotation_size),
     .def = "10MB",
     .min = 4 * KB,
     .max = 64 * GB,
     .doc = "When `log.file` would grow past this size it is renamed to `<file>.1` (older ones "
            "shift up to `log.file_rotation_count`) and a new one is started.",
     .example = "50MB"},
    {.path = "log.file_rotation_count",
     .type = RMQ_CFG_INT,
     G(log_file_rotation_count),
     .def = "5",
     .min = 0,
     .max = 128,
     .doc = "How many rotated files (`<file>.1` ... `<file>.N`) are kept; 0: the file is "
            "truncated in place instead.",
     .example = "10"},
    {.path = "log.syslog.enable",
     .type = RMQ_CFG_BOOL,
     G(log_syslog),
     .def = "false",
     .doc = "Also send every log line to syslog(3) (facility daemon, ident `revmq`, priority "
            "from the line's level); on a systemd host journald receives them "
            "(`journalctl -t revmq`). The line is sent without its time and level, which "
            "syslog records itself; in `json` format the whole object is sent. EMQX has no "
            "such key (its handlers are console and file): revmq's own.",
     .example = "true"},
    {.path = "durable_sessions.enable",
     .type = RMQ_CFG_BOOL,
     G(durable_sessions_enable),
     .def = "true",
     .doc = "Whether sessions that ask to outlive their connection (MQTT 5 session expiry "
            "interval > 0, MQTT 3.1.1 clean session = 0), their subscriptions, their queued and "
            "in-flight QoS 1/2 messages, and retained messages and delayed wills are kept in "
            "`<node.data_dir>/store.db` (SQLite, WAL). A QoS 1/2 PUBLISH that reaches such a "
            "session is acknowledged (PUBACK/PUBREC) only after it is on disk (group commit: one "
            "fsync for all the messages of a read). QoS 0 and clean sessions never touch the "
            "disk. Unlike EMQX 5's `durable_sessions.enable` (default false, a separate "
            "replicated storage that ignores the in-memory session), this is on by default and "
            "changes only what survives a restart. `false`: everything lives in memory.",
     .example = "false"},
    {.path = "durable_sessions.max_stored_messages_per_session",
     .type = RMQ_CFG_INT,
     G(durable_max_stored_per_session),
     .def = "1000000",
     .min = 0,
     .max = 1000000000000ll,
     .doc = "Most QoS 1/2 messages stored for one offline persistent session (queued and in "
            "flight, in memory and on disk; 0: no limit). Beyond `mqtt.max_mqueue_len` a "
            "persistent session's queue is kept on disk only and read back in batches as the "
            "client takes it, so memory stays bounded. A QoS 1/2 PUBLISH that would go past "
            "this bound (or past `mqtt.max_mqueue_len` when nothing is durable) is not "
            "accepted: MQTT 5 publishers get PUBACK/PUBREC 0x97 Quota exceeded, MQTT 3.1.1 "
            "publishers are disconnected without the acknowledgement (they send it again "
            "after reconnecting); the other subscribers still get it. Logged (rate-limited) "
            "and counted (`revmq_messages_refused_total`). revmq's own key.",
     .example = "100000"},
    {.path = "durable_sessions.flush_delay",
     .type = RMQ_CFG_DURATION,
     G(durable_flush_delay),
     .def = "5ms",
     .min = 0,
     .max = SEC,
     .doc = "How long a QoS 1 message from a client for a connected persistent subscriber may "
            "wait in memory before it is written. A message that every persistent "
            "subscriber it reached acknowledges within this time is never written (delivered: "
            "nothing is left to keep), so a fast online subscriber costs no disk writes; the "
            "rest are written and committed when it ends. The publisher's PUBACK still "
            "waits until its message is either on disk or delivered to every persistent "
            "session, so this is also the most it adds to a publisher's PUBACK. QoS 2, "
            "wills, retained messages sent at SUBSCRIBE, messages for an offline session and "
            "every other write are committed at the end of the event-loop turn as before. "
            "`0`: every message is written at the end of its turn. revmq's own key "
            "(docs/persistence.md, \"Rows put off\").",
     .example = "0"},
    {.path = "retainer.max_retained_messages",
     .type = RMQ_CFG_INT,
     G(retainer_max_retained_messages),
     .def = "0",
     .min = 0,
     .max = 1000000000,
     .doc = "Most retained messages kept (0: no limit). A new retained topic past it is not "
            "stored (logged; the message is still delivered; replacing or deleting an existing "
            "topic is always allowed), as EMQX.",
     .example = "100000"},
    {.path = "retainer.max_payload_size",
     .type = RMQ_CFG_BYTESIZE,
     G(retainer_max_payload_size),
     .def = "1MB",
     .min = 0,
     .max = 256 * MB,
     .doc = "Largest payload stored as a retained message (0: no limit); a larger one is not "
            "retained (logged; still delivered), as EMQX.",
     .example = "64KB"},
};

const struct rmq_cfg_key *rmq_cfg_keys(size_t *count)
{
    *count = sizeof keys / sizeof keys[0];
    return keys;
}

const struct rmq_cfg_list *const *rmq_cfg_lists(size_t *count)
{
    *count = sizeof lists / sizeof lists[0];
    return lists;
}
