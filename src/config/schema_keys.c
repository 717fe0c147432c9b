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

static const char *const log_levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", NULL};
static const char *const peer_cert_as[] = {"disabled", "cn", "dn", "crt", "pem", "md5", NULL};
static const char *const verify_modes[] = {"verify_none", "verify_peer", NULL};
static const char *const crl_scopes[] = {"leaf", "chain", NULL};
static const char *const ocsp_methods[] = {"post", "get", NULL};
/* bit i of the mask = values[i]: RMQ_TLS_V12 = 0x1, RMQ_TLS_V13 = 0x2 */
static const char *const tls_versions[] = {"tlsv1.2", "tlsv1.3", NULL};

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
    {.path = "log.level",
     .type = RMQ_CFG_ENUM,
     G(log_level),
     .def = "info",
     .values = log_levels,
     .doc = "Lowest level of log lines written to stderr. EMQX defaults to `warning`; revmq "
            "defaults to `info` so that revocation events (CRL refreshes, OCSP refreshes, "
            "rejected clients) are visible without extra configuration.",
     .example = "warning"},

    /* ---- TCP listeners ---- */
    {.path = "listeners.tcp.<name>.bind",
     .type = RMQ_CFG_BIND,
     TCP(bind),
     .def = "0.0.0.0:1883",
     .flags = RMQ_CFG_F_DEFAULT_ONLY,
     .aliases = {"listener.tcp.<name>"},
     .doc = "Address and port of the MQTT over TCP listener `<name>`: `host:port`, "
            "`[ipv6]:port` or a bare port (all IPv4 addresses). The listener named `default` "
            "exists unless disabled and binds `0.0.0.0:1883`; any other TCP listener exists "
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

    {.path = "listeners.tcp.<name>.tcp_options.send_timeout",
     .type = RMQ_CFG_DURATION,
     TCP(send_timeout),
     .def = "15s",
     .min = 100,
     .max = DAY,
     .doc = "How long a client's unwritten output may stay over the high-water mark (the "
            "client reads less than is sent to it, or not at all) before the connection is "
            "closed, as EMQX's `tcp_options.send_timeout` with `send_timeout_close = true`. "
            "While it is over the mark the publishers whose messages it receives are held "
            "(not read): this bounds how long one stuck subscriber can slow the others.",
     .example = "5s"},
    {.path = "listeners.tcp.<name>.max_conn_rate",
     .type = RMQ_CFG_RATE,
     TCP(max_conn_rate),
     .def = "infinity",
     .min = 1,
     .max = 1000000000000000ll,
     .flags = RMQ_CFG_F_INFINITY,
     .doc = "Most new connections per interval on this listener, as EMQX 5 (`1000/s`, "
            "`100/10s`). Over it, accepting pauses until the rate allows the next one: clients "
            "wait in the kernel backlog, none is refused.",
     .example = "\"100/s\""},
    {.path = "listeners.tcp.<name>.messages_rate",
     .type = RMQ_CFG_RATE,
     TCP(messages_rate),
     .def = "infinity",
     .min = 1,
     .max = 1000000000000000ll,
     .flags = RMQ_CFG_F_INFINITY,
     .doc = "Most PUBLISH packets per interval from one client of this listener, as EMQX 5 "
            "(`1000/s`). A client over it is slowed (its socket is not read until the rate "
            "allows more), not disconnected; bursts of up to one second's worth pass at once.",
     .example = "\"1000/s\""},
    {.path = "listeners.tcp.<name>.bytes_rate",
     .type = RMQ_CFG_RATE,
     TCP(bytes_rate),
     .def = "infinity",
     .min = 1,
     .max = 1000000000000000ll,
     .flags = RMQ_CFG_F_INFINITY,
     .doc = "Most inbound bytes per interval from one client of this listener, as EMQX 5 "
            "(`1MB/s`, `512KB/s`). A client over it is slowed (not read until the rate allows "
            "more), not disconnected.",
     .example = "\"1MB/s\""},
    {.path = "listeners.tcp.<name>.max_conn_per_addr",
     .type = RMQ_CFG_INT,
     TCP(max_conn_per_addr),
     .def = "infinity",
     .min = 1,
     .max = 100000000,
     .flags = RMQ_CFG_F_INFINITY,
     .doc = "Most MQTT connections from one source IP address on this listener (revmq; "
            "counted once the TLS handshake is done). A connection over it is kept but not "
            "read — its CONNECT waits — until another connection from that address closes; "
            "if that takes longer than `mqtt.idle_timeout` it is closed as any silent client.",
     .example = "10"},

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
    {.path = "listeners.ssl.<name>.tcp_options.send_timeout",
     .type = RMQ_CFG_DURATION,
     SSL(send_timeout),
     .def = "15s",
     .min = 100,
     .max = DAY,
     .doc = "How long a client's unwritten output may stay over the high-water mark (the "
            "client reads less than is sent to it, or not at all) before the connection is "
            "closed, as EMQX's `tcp_options.send_timeout` with `send_timeout_close = true`. "
            "While it is over the mark the publishers whose messages it receives are held "
            "(not read): this bounds how long one stuck subscriber can slow the others.",
     .example = "5s"},
    {.path = "listeners.ssl.<name>.max_conn_rate",
     .type = RMQ_CFG_RATE,
     SSL(max_conn_rate),
     .def = "infinity",
     .min = 1,
     .max = 1000000000000000ll,
     .flags = RMQ_CFG_F_INFINITY,
     .doc = "Most new connections per interval on this listener, as EMQX 5 (`1000/s`, "
            "`100/10s`). Over it, accepting pauses until the rate allows the next one: clients "
            "wait in the kernel backlog, none is refused.",
     .example = "\"100/s\""},
    {.path = "listeners.ssl.<name>.messages_rate",
     .type = RMQ_CFG_RATE,
     SSL(messages_rate),
     .def = "infinity",
     .min = 1,
     .max = 1000000000000000ll,
     .flags = RMQ_CFG_F_INFINITY,
     .doc = "Most PUBLISH packets per interval from one client of this listener, as EMQX 5 "
            "(`1000/s`). A client over it is slowed (its socket is not read until the rate "
            "allows more), not disconnected; bursts of up to one second's worth pass at once.",
     .example = "\"1000/s\""},
    {.path = "listeners.ssl.<name>.bytes_rate",
     .type = RMQ_CFG_RATE,
     SSL(bytes_rate),
     .def = "infinity",
     .min = 1,
     .max = 1000000000000000ll,
     .flags = RMQ_CFG_F_INFINITY,
     .doc = "Most inbound bytes per interval from one client of this listener, as EMQX 5 "
            "(`1MB/s`, `512KB/s`). A client over it is slowed (not read until the rate allows "
            "more), not disconnected.",
     .example = "\"1MB/s\""},
    {.path = "listeners.ssl.<name>.max_conn_per_addr",
     .type = RMQ_CFG_INT,
     SSL(max_conn_per_addr),
     .def = "infinity",
     .min = 1,
     .max = 100000000,
     .flags = RMQ_CFG_F_INFINITY,
     .doc = "Most MQTT connections from one source IP address on this listener (revmq; "
            "counted once the TLS handshake is done). A connection over it is kept but not "
            "read — its CONNECT waits — until another connection from that address closes; "
            "if that takes longer than `mqtt.idle_timeout` it is closed as any silent client.",
     .example = "10"},
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
     .doc = "Most messages queued for one session beyond the in-flight window (also while the "
            "client is offline). What is dropped is logged and counted. `infinity` is stored "
            "as UINT32_MAX; 0 also means no limit.",
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
            "sent again, as in EMQX (MQTT 3.1.1 and 5 allow a resend only on reconnect).",
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
};

const struct rmq_cfg_key *rmq_cfg_keys(size_t *count)
{
    *count = sizeof keys / sizeof keys[0];
    return keys;
}
