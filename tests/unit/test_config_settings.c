/*
 * test_config_settings.c — loading struct rmq_settings: defaults, both file
 * formats, the environment overlay and its precedence, every error message,
 * cross-key rules, --check-config output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/settings.h"

static struct rmq_settings *load_ok(const char *text, char *const *env)
{
    struct rmq_settings *s = NULL;
    char *err = NULL;
    rmq_err e =
        rmq_settings_load_buffer("revmq.conf", text, text ? strlen(text) : 0, env, &s, &err);
    if (e != RMQ_OK) {
        fail_msg("load failed: %s", err ? err : "(no message)");
    }
    assert_null(err);
    assert_non_null(s);
    return s;
}

/* The error text of a load that must fail (owned by the caller). */
static char *load_err(const char *text, char *const *env)
{
    struct rmq_settings *s = (struct rmq_settings *)1;
    char *err = NULL;
    rmq_err e =
        rmq_settings_load_buffer("revmq.conf", text, text ? strlen(text) : 0, env, &s, &err);
    assert_int_equal(e, RMQ_ERR_CONFIG);
    assert_null(s);
    assert_non_null(err);
    return err;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        fail_msg("expected to find\n  %s\nin\n  %s", needle, hay);
    }
}

/* Exactly one error line, containing every fragment. */
static void expect_error(const char *text, char *const *env, int nfrag, ...)
{
    char *err = load_err(text, env);
    va_list ap;
    va_start(ap, nfrag);
    for (int i = 0; i < nfrag; i++) {
        assert_contains(err, va_arg(ap, const char *));
    }
    va_end(ap);
    if (strchr(err, '\n') != NULL) {
        fail_msg("expected one error line, got:\n%s", err);
    }
    free(err);
}

static char *print_to_string(const struct rmq_settings *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rmq_settings_print(s, f);
    fclose(f);
    return buf;
}

static void test_settings__defaults_are_emqx5s(void **state)
{
    (void)state;
    struct rmq_settings *s = load_ok(NULL, NULL);
    assert_string_equal(s->node_name, "revmq@127.0.0.1");
    assert_string_equal(s->node_data_dir, "data");
    assert_int_equal(s->log_level, 1 /* info */);
    assert_int_equal(s->mqtt.max_packet_size, 1024 * 1024);
    assert_int_equal(s->mqtt.max_clientid_len, 65535);
    assert_int_equal(s->mqtt.max_topic_levels, 128);
    assert_int_equal(s->mqtt.max_qos_allowed, 2);
    assert_true(s->mqtt.retain_available && s->mqtt.wildcard_subscription &&
                s->mqtt.shared_subscription);
    assert_int_equal(s->mqtt.max_inflight, 32);
    assert_int_equal(s->mqtt.max_mqueue_len, 1000);
    assert_int_equal(s->mqtt.session_expiry_interval, 2 * 3600 * 1000);
    assert_true(s->mqtt.keepalive_multiplier == 1.5);
    assert_int_equal(s->mqtt.server_keepalive, 0);
    assert_int_equal(s->mqtt.max_topic_alias, 65535);
    assert_int_equal(s->mqtt.retry_interval, 30000);
    assert_int_equal(s->mqtt.max_awaiting_rel, 100);
    assert_int_equal(s->mqtt.await_rel_timeout, 300000);
    assert_int_equal(s->mqtt.peer_cert_as_username, RMQ_PEER_AS_DISABLED);
    assert_int_equal(s->crl_cache.refresh_interval, 15 * 60 * 1000);
    assert_int_equal(s->crl_cache.http_timeout, 15000);
    assert_int_equal(s->crl_cache.capacity, 100);
    assert_int_equal(s->crl_cache.max_size, 64 * 1024 * 1024);
    assert_int_equal(s->crl_cache.check, RMQ_CRL_CHECK_LEAF);
    assert_int_equal(s->crl_cache.stale_grace, 0);
    assert_true(s->crl_cache.disconnect_revoked && s->crl_cache.discover_from_cert);
    assert_int_equal(s->listener_count, 1);
    const struct rmq_listener_settings *l = rmq_settings_listener(s, false, "default");
    assert_non_null(l);
    assert_true(l->enable && !l->is_ssl);
    assert_string_equal(l->bind.host, "127.0.0.1"); /* revmq: loopback unless configured */
    assert_int_equal(l->bind.port, 1883);
    assert_true(l->max_connections == UINT64_MAX);
    assert_null(rmq_settings_listener(s, true, "default"));
    rmq_settings_free(s);
    rmq_settings_free(NULL);
}

static const char ssl_min[] = "listeners.ssl.default.ssl_options {\n"
                              "  certfile = c.pem\n"
                              "  keyfile = k.pem\n"
                              "}\n";

static void test_settings__ssl_default_listener_defaults(void **state)
{
    (void)state;
    struct rmq_settings *s = load_ok(ssl_min, NULL);
    const struct rmq_listener_settings *l = rmq_settings_listener(s, true, "default");
    assert_non_null(l);
    assert_int_equal(s->listener_count, 2);
    assert_ptr_equal(&s->listeners[1], l); /* tcp then ssl */
    assert_int_equal(l->bind.port, 8883);
    assert_string_equal(l->ssl.certfile, "c.pem");
    assert_null(l->ssl.password);
    assert_null(l->ssl.ciphers);
    assert_int_equal(l->ssl.verify, RMQ_VERIFY_NONE);
    assert_int_equal(l->ssl.depth, 10);
    assert_int_equal(l->ssl.versions, RMQ_TLS_V12 | RMQ_TLS_V13);
    assert_true(l->ssl.honor_cipher_order);
    assert_int_equal(l->ssl.handshake_timeout, 15000);
    assert_int_equal(l->ssl.reload_interval, 10000);
    assert_int_equal(l->ssl.crl_cache_urls.count, 0);
    assert_int_equal(l->ssl.crlfile.count, 0);
    assert_false(l->ssl.ocsp.enable_ocsp_stapling);
    assert_int_equal(l->ssl.ocsp.refresh_interval, 300000);
    assert_int_equal(l->ssl.ocsp.refresh_http_timeout, 15000);
    assert_int_equal(l->ssl.ocsp.method, RMQ_OCSP_POST);
    assert_null(l->ssl.ocsp.responder_url);
    rmq_settings_free(s);
}

static void test_settings__hocon_types(void **state)
{
    (void)state;
    const char *text =
        "node { name = \"n1@host\", data_dir = /var/lib/revmq }\n"
        "log.level: debug\n"
        "mqtt {\n"
        "  max_packet_size = 64KB   # sizes\n"
        "  max_inflight: 64\n"
        "  session_expiry_interval = 1h30m\n"
        "  keepalive_multiplier = 2.25\n"
        "  server_keepalive = 60\n"
        "  retry_interval = 1500ms\n"
        "  max_mqueue_len = infinity\n"
        "  retain_available = off\n"
        "  wildcard_subscription = false\n"
        "  peer_cert_as_username = cn\n"
        "  peer_cert_as_clientid = md5\n"
        "}\n"
        "crl_cache.max_size = 1GB\n"
        "crl_cache.stale_grace = 1d\n"
        "crl_cache.check = chain\n"
        "listeners.tcp.default.max_connections = 1000\n"
        "listeners.ssl.default {\n"
        "  bind = \"[::1]:8884\"\n"
        "  ssl_options {\n"
        "    certfile = \"/etc/c.pem\", keyfile = /etc/k.pem\n"
        "    cacertfile = /etc/ca.pem\n"
        "    password = \"pw\"\n"
        "    verify = verify_peer\n"
        "    versions = [tlsv1.3]\n"
        "    ciphers = [TLS_AES_256_GCM_SHA384, ECDHE-ECDSA-AES256-GCM-SHA384]\n"
        "    enable_crl_check = true\n"
        "    crl_cache_urls = [\n"
        "      \"http://127.0.0.1:8080/crl/a.crl\"\n"
        "      http://127.0.0.1:8080/crl/b.crl // second\n"
        "    ]\n"
        "    crlfile = \"/a.crl, /b.crl\"\n"
        "    ocsp { enable_ocsp_stapling = true, method = get, refresh_interval = 1s }\n"
        "    ocsp.responder_url = http://127.0.0.1:9999/ocsp\n"
        "  }\n"
        "}\n";
    struct rmq_settings *s = load_ok(text, NULL);
    assert_string_equal(s->node_name, "n1@host");
    assert_string_equal(s->node_data_dir, "/var/lib/revmq");
    assert_int_equal(s->log_level, 0);
    assert_int_equal(s->mqtt.max_packet_size, 65536);
    assert_int_equal(s->mqtt.max_inflight, 64);
    assert_int_equal(s->mqtt.session_expiry_interval, 90 * 60 * 1000);
    assert_true(s->mqtt.keepalive_multiplier == 2.25);
    assert_int_equal(s->mqtt.server_keepalive, 60);
    assert_int_equal(s->mqtt.retry_interval, 1500);
    assert_int_equal(s->mqtt.max_mqueue_len, UINT32_MAX);
    assert_false(s->mqtt.retain_available);
    assert_false(s->mqtt.wildcard_subscription);
    assert_int_equal(s->mqtt.peer_cert_as_username, RMQ_PEER_AS_CN);
    assert_int_equal(s->mqtt.peer_cert_as_clientid, RMQ_PEER_AS_MD5);
    assert_int_equal(s->crl_cache.max_size, 1024ull * 1024 * 1024);
    assert_int_equal(s->crl_cache.stale_grace, 86400000);
    assert_int_equal(s->crl_cache.check, RMQ_CRL_CHECK_CHAIN);
    assert_int_equal(rmq_settings_listener(s, false, "default")->max_connections, 1000);
    const struct rmq_listener_settings *l = rmq_settings_listener(s, true, "default");
    assert_string_equal(l->bind.host, "::1");
    assert_int_equal(l->bind.port, 8884);
    assert_string_equal(l->ssl.certfile, "/etc/c.pem");
    assert_string_equal(l->ssl.keyfile, "/etc/k.pem");
    assert_string_equal(l->ssl.password, "pw");
    assert_int_equal(l->ssl.verify, RMQ_VERIFY_PEER);
    assert_int_equal(l->ssl.versions, RMQ_TLS_V13);
    assert_string_equal(l->ssl.ciphers, "TLS_AES_256_GCM_SHA384,ECDHE-ECDSA-AES256-GCM-SHA384");
    assert_true(l->ssl.enable_crl_check);
    assert_int_equal(l->ssl.crl_cache_urls.count, 2);
    assert_string_equal(l->ssl.crl_cache_urls.items[0], "http://127.0.0.1:8080/crl/a.crl");
    assert_string_equal(l->ssl.crl_cache_urls.items[1], "http://127.0.0.1:8080/crl/b.crl");
    assert_int_equal(l->ssl.crlfile.count, 2);
    assert_string_equal(l->ssl.crlfile.items[1], "/b.crl");
    assert_true(l->ssl.ocsp.enable_ocsp_stapling);
    assert_int_equal(l->ssl.ocsp.method, RMQ_OCSP_GET);
    assert_int_equal(l->ssl.ocsp.refresh_interval, 1000);
    assert_string_equal(l->ssl.ocsp.responder_url, "http://127.0.0.1:9999/ocsp");
    rmq_settings_free(s);
}

/* The file of issue 7, verbatim in form. */
static void test_settings__emqx44_flat_file(void **state)
{
    (void)state;
    const char *text = "## EMQX 4.4 style\n"
                       "listener.ssl.external = 8883\n"
                       "listener.ssl.external.keyfile = /certs/key.pem\n"
                       "listener.ssl.external.certfile = /certs/cert.pem\n"
                       "listener.ssl.external.cacertfile = /certs/ca.pem\n"
                       "listener.ssl.external.verify = verify_peer\n"
                       "listener.ssl.external.fail_if_no_peer_cert = true\n"
                       "listener.ssl.external.enable_crl_check = true\n"
                       "listener.ssl.external.crl_cache_urls = http://127.0.0.1:41234/ca.crl, "
                       "http://127.0.0.1:41234/b.crl\n"
                       "crl_cache_http_timeout = 15s\n"
                       "crl_cache_refresh_interval = 15m\n"
                       "listener.ssl.external.enable_ocsp_stapling = true\n"
                       "listener.ssl.external.ocsp_responder_url = http://127.0.0.1:41235\n"
                       "listener.ssl.external.ocsp_issuer_pem = /certs/issuer.pem\n"
                       "listener.ssl.external.ocsp_refresh_interval = 5m\n"
                       "listener.ssl.external.ocsp_refresh_http_timeout = 15s\n"
                       "listener.ssl.external.tls_versions = tlsv1.3,tlsv1.2\n"
                       "listener.ssl.external.ciphers = TLS_AES_128_GCM_SHA256,ECDHE-RSA-AES128\n"
                       "listener.ssl.external.peer_cert_as_username = cn\n"
                       "listener.tcp.external = 127.0.0.1:11883\n"
                       "mqtt.max_packet_size = 1MB\n";
    struct rmq_settings *s = load_ok(text, NULL);
    const struct rmq_listener_settings *l = rmq_settings_listener(s, true, "external");
    assert_non_null(l);
    assert_true(l->enable);
    assert_string_equal(l->bind.host, "0.0.0.0");
    assert_int_equal(l->bind.port, 8883);
    assert_string_equal(l->ssl.keyfile, "/certs/key.pem");
    assert_string_equal(l->ssl.certfile, "/certs/cert.pem");
    assert_string_equal(l->ssl.cacertfile, "/certs/ca.pem");
    assert_int_equal(l->ssl.verify, RMQ_VERIFY_PEER);
    assert_true(l->ssl.fail_if_no_peer_cert);
    assert_true(l->ssl.enable_crl_check);
    assert_int_equal(l->ssl.crl_cache_urls.count, 2);
    assert_string_equal(l->ssl.crl_cache_urls.items[0], "http://127.0.0.1:41234/ca.crl");
    assert_string_equal(l->ssl.crl_cache_urls.items[1], "http://127.0.0.1:41234/b.crl");
    assert_int_equal(s->crl_cache.http_timeout, 15000);
    assert_int_equal(s->crl_cache.refresh_interval, 900000);
    assert_true(l->ssl.ocsp.enable_ocsp_stapling);
    assert_string_equal(l->ssl.ocsp.responder_url, "http://127.0.0.1:41235");
    assert_string_equal(l->ssl.ocsp.issuer_pem, "/certs/issuer.pem");
    assert_int_equal(l->ssl.ocsp.refresh_interval, 300000);
    assert_int_equal(l->ssl.ocsp.refresh_http_timeout, 15000);
    assert_int_equal(l->ssl.versions, RMQ_TLS_V12 | RMQ_TLS_V13);
    assert_string_equal(l->ssl.ciphers, "TLS_AES_128_GCM_SHA256,ECDHE-RSA-AES128");
    assert_int_equal(s->mqtt.peer_cert_as_username, RMQ_PEER_AS_CN);
    const struct rmq_listener_settings *t = rmq_settings_listener(s, false, "external");
    assert_string_equal(t->bind.host, "127.0.0.1");
    assert_int_equal(t->bind.port, 11883);
    assert_non_null(rmq_settings_listener(s, false, "default"));
    assert_string_equal(rmq_settings_origin(s, "listeners.ssl.external.ssl_options.verify"),
                        "revmq.conf:6");
    rmq_settings_free(s);
}

/* The container deployment of issue 7: no file, EMQX_ variables only. */
static void test_settings__emqx5_environment_only(void **state)
{
    (void)state;
    char *env[] = {
        "PATH=/usr/bin",
        "EMQX_LISTENERS__SSL__DEFAULT__BIND=0.0.0.0:18883",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__CERTFILE=/d/cert.pem",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__KEYFILE=/d/cert.key",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__CACERTFILE=/d/ca-cert.pem",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__VERIFY=verify_peer",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__FAIL_IF_NO_PEER_CERT=true",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__ENABLE_CRL_CHECK=true",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__VERSIONS=[tlsv1.3,tlsv1.2]",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__CRL_CACHE_URLS=http://h:1/crl-pem/t/ca/1",
        "EMQX_CRL_CACHE__REFRESH_INTERVAL=5s",
        "EMQX_CRL_CACHE__HTTP_TIMEOUT=15s",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__OCSP__ENABLE_OCSP_STAPLING=true",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__OCSP__ISSUER_PEM=/d/ca-cert.pem",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__OCSP__RESPONDER_URL=http://h:2/ocsp/u/ca",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__OCSP__REFRESH_INTERVAL=5s",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__OCSP__REFRESH_HTTP_TIMEOUT=15s",
        "EMQX_NODE__NAME=\"emqx@10.0.0.1\"",
        "EMQX_NODE__COOKIE=secret",
        "EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__PASSWORD=",
        "EMQX_HOST=10.0.0.1",
        NULL,
    };
    struct rmq_settings *s = load_ok(NULL, env);
    const struct rmq_listener_settings *l = rmq_settings_listener(s, true, "default");
    assert_non_null(l);
    assert_int_equal(l->bind.port, 18883);
    assert_string_equal(l->ssl.certfile, "/d/cert.pem");
    assert_string_equal(l->ssl.cacertfile, "/d/ca-cert.pem");
    assert_int_equal(l->ssl.verify, RMQ_VERIFY_PEER);
    assert_true(l->ssl.fail_if_no_peer_cert && l->ssl.enable_crl_check);
    assert_int_equal(l->ssl.versions, RMQ_TLS_V12 | RMQ_TLS_V13);
    assert_string_equal(l->ssl.crl_cache_urls.items[0], "http://h:1/crl-pem/t/ca/1");
    assert_int_equal(s->crl_cache.refresh_interval, 5000);
    assert_true(l->ssl.ocsp.enable_ocsp_stapling);
    assert_string_equal(l->ssl.ocsp.responder_url, "http://h:2/ocsp/u/ca");
    assert_int_equal(l->ssl.ocsp.refresh_interval, 5000);
    assert_string_equal(s->node_name, "emqx@10.0.0.1");
    assert_null(l->ssl.password); /* NAME= unsets an optional string */
    /* unknown EMQX_ keys: one warning each, ignored */
    assert_int_equal(rmq_settings_warning_count(s), 2);
    assert_contains(rmq_settings_warning(s, 0), "env EMQX_NODE__COOKIE: unknown key node.cookie");
    assert_contains(rmq_settings_warning(s, 1), "env EMQX_HOST: unknown key host");
    assert_null(rmq_settings_warning(s, 2));
    assert_string_equal(rmq_settings_origin(s, "crl_cache.refresh_interval"),
                        "env EMQX_CRL_CACHE__REFRESH_INTERVAL");
    rmq_settings_free(s);
}

static void test_settings__precedence_default_file_env(void **state)
{
    (void)state;
    const char *text = "mqtt.max_inflight = 10\nmqtt.max_inflight = 11\n"
                       "mqtt.max_awaiting_rel = 20\n";
    char *env[] = {"REVMQ_MQTT__MAX_AWAITING_REL=21", "EMQX_MQTT__MAX_TOPIC_ALIAS=5",
                   "REVMQ_MQTT__MAX_TOPIC_ALIAS=6", "EMQX_MQTT__MAX_TOPIC_LEVELS=7", NULL};
    struct rmq_settings *s = load_ok(text, env);
    assert_int_equal(s->mqtt.max_inflight, 11); /* later line wins */
    assert_int_equal(s->mqtt.max_awaiting_rel, 21);
    assert_int_equal(s->mqtt.max_topic_alias, 6); /* REVMQ_ beats EMQX_ */
    assert_int_equal(s->mqtt.max_topic_levels, 7);
    assert_int_equal(s->mqtt.max_qos_allowed, 2);
    assert_string_equal(rmq_settings_origin(s, "mqtt.max_inflight"), "revmq.conf:2");
    assert_string_equal(rmq_settings_origin(s, "mqtt.max_awaiting_rel"),
                        "env REVMQ_MQTT__MAX_AWAITING_REL");
    assert_string_equal(rmq_settings_origin(s, "mqtt.max_qos_allowed"), "default");
    rmq_settings_free(s);
}

static void test_settings__print_shows_value_and_origin_sorted(void **state)
{
    (void)state;
    char *env[] = {"REVMQ_MQTT__MAX_QOS_ALLOWED=1", NULL};
    char text[256];
    snprintf(text, sizeof text, "%slisteners.ssl.default.ssl_options.password = hunter2\n",
             ssl_min);
    struct rmq_settings *s = load_ok(text, env);
    char *out = print_to_string(s);
    assert_contains(out, "\nmqtt.max_inflight = 32  # default\n");
    assert_contains(out, "\nmqtt.max_qos_allowed = 1  # env REVMQ_MQTT__MAX_QOS_ALLOWED\n");
    assert_contains(out, "\nlisteners.ssl.default.ssl_options.certfile = \"c.pem\"  # "
                         "revmq.conf:2\n");
    assert_contains(out, "listeners.ssl.default.ssl_options.password = \"******\"  # "
                         "revmq.conf:5\n");
    assert_null(strstr(out, "hunter2"));
    assert_contains(out, "\nmqtt.session_expiry_interval = 2h  # default\n");
    assert_contains(out, "\nmqtt.server_keepalive = disabled  # default\n");
    assert_contains(out, "\nlisteners.ssl.default.ssl_options.versions = [tlsv1.3, tlsv1.2]");
    assert_contains(out, "\nlisteners.tcp.default.bind = \"127.0.0.1:1883\"  # default\n");
    /* sorted, one line per key */
    char *prev = NULL;
    int lines = 0;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (prev != NULL) {
            assert_true(strcmp(prev, line) < 0);
        }
        prev = line;
        lines++;
    }
    assert_true(lines > 50);
    free(out);
    rmq_settings_free(s);
}

static void test_settings__listener_existence_rules(void **state)
{
    (void)state;
    struct rmq_settings *s = load_ok("listeners.tcp.default.enable = false\n"
                                     "listeners.tcp.internal.bind = 127.0.0.1:1884\n",
                                     NULL);
    assert_int_equal(s->listener_count, 2);
    assert_false(rmq_settings_listener(s, false, "default")->enable);
    assert_int_equal(rmq_settings_listener(s, false, "internal")->bind.port, 1884);
    rmq_settings_free(s);

    /* an EMQX 4.4 tcp listener on 1883 replaces the implicit default one */
    s = load_ok("listener.tcp.external = 0.0.0.0:1883\n", NULL);
    assert_int_equal(s->listener_count, 1);
    assert_non_null(rmq_settings_listener(s, false, "external"));
    assert_int_equal(rmq_settings_warning_count(s), 2);
    assert_contains(rmq_settings_warning(s, 0), "listeners.tcp.default not started");
    /* no authentication on 0.0.0.0: named by a warning (issue 12) */
    assert_contains(rmq_settings_warning(s, 1),
                    "listeners.tcp.external admits anonymous clients on 0.0.0.0:1883");
    rmq_settings_free(s);

    /* port 0 never clashes; a disabled listener does not either */
    s = load_ok("listeners.tcp.default.bind = 0\nlisteners.tcp.b.bind = 0\n"
                "listeners.tcp.c.bind = 1883\nlisteners.tcp.c.enable = false\n",
                NULL);
    assert_int_equal(s->listener_count, 3);
    rmq_settings_free(s);
}

static void test_settings__type_errors_name_source_key_value_and_allowed(void **state)
{
    (void)state;
    expect_error("\n\nmqtt.max_qos_allowed = 3\n", NULL, 1,
                 "revmq.conf:3: mqtt.max_qos_allowed = 3: must be an integer from 0 to 2");
    expect_error("mqtt.retain_available = yes\n", NULL, 1,
                 "revmq.conf:1: mqtt.retain_available = yes: must be true or false");
    expect_error("mqtt.keepalive_multiplier = 0.5\n", NULL, 1,
                 "revmq.conf:1: mqtt.keepalive_multiplier = 0.5: must be a number from 1 to 100");
    expect_error("mqtt.retry_interval = 30\n", NULL, 2,
                 "revmq.conf:1: mqtt.retry_interval = 30: must be a duration from 1s to 1d",
                 "500ms");
    expect_error("crl_cache.refresh_interval = 500ms\n", NULL, 1,
                 "crl_cache.refresh_interval = 500ms: must be a duration from 1s to 7d");
    expect_error("crl_cache.max_size = 64XB\n", NULL, 1,
                 "crl_cache.max_size = 64XB: must be a size from 1KB to 4GB");
    expect_error("crl_cache.check = all\n", NULL, 1,
                 "crl_cache.check = all: must be one of: leaf, chain");
    expect_error("mqtt.peer_cert_as_username = cert\n", NULL, 1,
                 "must be one of: disabled, cn, dn, crt, pem, md5");
    expect_error("mqtt.max_inflight = 99999999999999999999999\n", NULL, 1,
                 "must be an integer from 1 to 65535");
    expect_error("mqtt.server_keepalive = off\n", NULL, 1,
                 "must be an integer from 1 to 65535, or disabled");
    expect_error("mqtt.max_inflight = [1, 2]\n", NULL, 1, "mqtt.max_inflight = [1, 2]: must be");
    expect_error("node.name = \"\"\n", NULL, 1, "node.name = \"\": must be a non-empty string");
    expect_error("listeners.tcp.default.bind = 70000\n", NULL, 1,
                 "listeners.tcp.default.bind = 70000: must be host:port");
    expect_error("listeners.tcp.default.bind = ::1:80\n", NULL, 1, "must be host:port");
    expect_error("listeners.tcp.default.max_connections = lots\n", NULL, 1,
                 "must be an integer from 1 to 100000000, or infinity");
    expect_error("listeners.ssl.default.ssl_options.versions = [tlsv1.3, tlsv1.1]\n", NULL, 2,
                 "versions = [tlsv1.3, tlsv1.1]: must be a non-empty list of",
                 "older versions are refused");
    expect_error("listener.ssl.external.tls_versions = tlsv1\n", NULL, 1,
                 "revmq.conf:1: listener.ssl.external.tls_versions (alias of "
                 "listeners.ssl.external.ssl_options.versions) = tlsv1: must be");
}

static void test_settings__unknown_keys_and_syntax_errors(void **state)
{
    (void)state;
    expect_error("mqtt.max_infligth = 3\n", NULL, 1,
                 "revmq.conf:1: unknown key mqtt.max_infligth (did you mean mqtt.max_inflight?)");
    expect_error("listeners.ssl.ext.ssl_options.certfil = x\n", NULL, 1,
                 "did you mean listeners.ssl.ext.ssl_options.certfile?");
    expect_error("totally.different = 1\n", NULL, 1, "(see docs/configuration.md");
    expect_error("listeners.udp.default.bind = 1\n", NULL, 1, "unknown key listeners.udp");
    expect_error("listeners.tcp.bad$name.bind = 1\n", NULL, 1, "revmq.conf:1: syntax error");
    expect_error("mqtt.max_inflight = 1\nmqtt {\n", NULL, 1,
                 "revmq.conf:3: syntax error: unexpected end");
    char *env[] = {"REVMQ_MQTT__NOPE=1", NULL};
    expect_error(NULL, env, 1, "env REVMQ_MQTT__NOPE: unknown key mqtt.nope");
    char *env2[] = {"EMQX_MQTT__MAX_QOS_ALLOWED=5", NULL};
    expect_error(NULL, env2, 1,
                 "env EMQX_MQTT__MAX_QOS_ALLOWED: mqtt.max_qos_allowed = 5: must be an integer "
                 "from 0 to 2");
    char *env3[] = {"REVMQ_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__VERSIONS=[tlsv1.3", NULL};
    expect_error(NULL, env3, 1, "env REVMQ_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__VERSIONS");
    char *env5[] = {"REVMQ_MQTT__MAX_INFLIGHT=", NULL};
    expect_error(NULL, env5, 1,
                 "env REVMQ_MQTT__MAX_INFLIGHT: mqtt.max_inflight = : must be an integer");
    char *env4[] = {"REVMQ_=1", NULL};
    expect_error(NULL, env4, 1, "env REVMQ_: not a configuration key");
}

static void test_settings__all_errors_are_collected(void **state)
{
    (void)state;
    char *env[] = {"REVMQ_X__Y=1", NULL};
    char *err = load_err("mqtt.max_qos_allowed = 3\nfoo = 1\nmqtt.max_inflight = 0\n", env);
    int lines = 1;
    for (char *p = err; *p; p++) {
        lines += *p == '\n';
    }
    assert_int_equal(lines, 4);
    assert_contains(err, "revmq.conf:1:");
    assert_contains(err, "revmq.conf:2:");
    assert_contains(err, "revmq.conf:3:");
    assert_contains(err, "env REVMQ_X__Y:");
    free(err);
}

static void test_settings__cross_key_rules(void **state)
{
    (void)state;
    expect_error("listeners.ssl.default.ssl_options.keyfile = k.pem\n", NULL, 2,
                 "revmq.conf:1: listeners.ssl.default: an enabled SSL listener needs "
                 "listeners.ssl.default.ssl_options.certfile",
                 "(not set)");
    char text[512];
    snprintf(text, sizeof text, "%slisteners.ssl.default.ssl_options.enable_crl_check = true\n",
             ssl_min);
    expect_error(text, NULL, 1,
                 "revmq.conf:5: listeners.ssl.default.ssl_options.enable_crl_check = true: "
                 "requires listeners.ssl.default.ssl_options.verify = verify_peer (it is "
                 "verify_none)");
    snprintf(text, sizeof text, "%slisteners.ssl.default.ssl_options.fail_if_no_peer_cert = on\n",
             ssl_min);
    expect_error(text, NULL, 1,
                 "revmq.conf:5: listeners.ssl.default.ssl_options.fail_if_no_peer_cert = true: "
                 "requires listeners.ssl.default.ssl_options.verify = verify_peer");
    snprintf(text, sizeof text, "%slisteners.ssl.default.ssl_options.verify = verify_peer\n",
             ssl_min);
    expect_error(text, NULL, 1,
                 "revmq.conf:5: listeners.ssl.default.ssl_options.verify = verify_peer: "
                 "requires listeners.ssl.default.ssl_options.cacertfile");
    snprintf(text, sizeof text,
             "%slisteners.ssl.default.bind = 1883\nlisteners.tcp.default.enable = true\n", ssl_min);
    expect_error(text, NULL, 1,
                 "revmq.conf:5: listeners.ssl.default.bind = \"0.0.0.0:1883\": same address as "
                 "listeners.tcp.default.bind (revmq.conf:6)");
    expect_error("listeners.tcp.a.bind = 127.0.0.1:2000\nlisteners.tcp.b.bind = 0.0.0.0:2000\n",
                 NULL, 1,
                 "revmq.conf:2: listeners.tcp.b.bind = \"0.0.0.0:2000\": same address "
                 "as listeners.tcp.a.bind (revmq.conf:1)");
    expect_error("listeners.tcp.x.max_connections = 5\n", NULL, 1,
                 "revmq.conf:1: listeners.tcp.x.bind is not set");
    /* a disabled listener is not checked */
    struct rmq_settings *s = load_ok("listeners.ssl.default.enable = false\n", NULL);
    rmq_settings_free(s);
}

static void test_settings__listener_count_is_bounded(void **state)
{
    (void)state;
    char *text = malloc(100 * 64);
    size_t n = 0;
    for (int i = 0; i < 70; i++) {
        n += (size_t)sprintf(text + n, "listeners.tcp.l%d.enable = false\n", i);
    }
    char *err = load_err(text, NULL);
    assert_contains(err,
                    "revmq.conf:65: listeners.tcp.l64.enable: too many listeners (at most 64)");
    free(err);
    free(text);
}

/* 20,000 unknown keys: reported (capped), and quickly. */
static void test_settings__many_errors_are_capped(void **state)
{
    (void)state;
    char *text = malloc(20000 * 32);
    size_t n = 0;
    for (int i = 0; i < 20000; i++) {
        n += (size_t)sprintf(text + n, "mqtt.max_inflihgt%d = 1\n", i);
    }
    char *err = load_err(text, NULL);
    assert_contains(err, "and 19800 more errors");
    free(err);
    free(text);
}

static void test_settings__load_from_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "mqtt.max_inflight = 7\nmqtt.max_qos_allowed = 9\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct rmq_settings *s = NULL;
    char *err = NULL;
    assert_int_equal(rmq_settings_load(path, NULL, &s, &err), RMQ_ERR_CONFIG);
    char want[64];
    snprintf(want, sizeof want, "%s:2: mqtt.max_qos_allowed = 9", path);
    assert_contains(err, want);
    free(err);
    unlink(path);
    assert_int_equal(rmq_settings_load(path, NULL, &s, &err), RMQ_ERR_CONFIG);
    assert_contains(err, "cannot read the configuration file");
    free(err);
    assert_int_equal(rmq_settings_load(NULL, NULL, &s, &err), RMQ_OK);
    rmq_settings_free(s);
}

/* EMQX-file features: include (origins name the included file), ${VAR}, BOM, IPv6 binds. */
static void test_settings__include_substitution_bom_ipv6(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cfg_inc_XXXXXX";
    char top[600], inc[600], want[700];
    assert_non_null(mkdtemp(dir));
    snprintf(top, sizeof top, "%s/revmq.conf", dir);
    snprintf(inc, sizeof inc, "%s/listeners.conf", dir);
    FILE *f = fopen(inc, "w");
    assert_non_null(f);
    fputs("\xef\xbb\xbf# included\nlisteners.tcp.default.bind = 127.0.0.1:${PORT}\n"
          "listeners.tcp.v6.bind = [::1]:${PORT}\nmqtt.max_inflight = ${?UNSET_INFLIGHT}\n",
          f);
    fclose(f);
    f = fopen(top, "w");
    assert_non_null(f);
    fputs("\xef\xbb\xbfmqtt.max_inflight = 9\ninclude \"listeners.conf\"\n", f);
    fclose(f);
    char *env[] = {"PORT=1999", NULL};
    struct rmq_settings *s = NULL;
    char *err = NULL;
    if (rmq_settings_load(top, env, &s, &err) != RMQ_OK) {
        fail_msg("load failed: %s", err);
    }
    const struct rmq_listener_settings *l = rmq_settings_listener(s, false, "v6");
    assert_non_null(l);
    assert_string_equal(l->bind.host, "::1");
    assert_int_equal(l->bind.port, 1999);
    assert_int_equal(s->mqtt.max_inflight, 9); /* ${?UNSET} removed the assignment */
    snprintf(want, sizeof want, "%s:3", inc);
    assert_string_equal(rmq_settings_origin(s, "listeners.tcp.v6.bind"), want);
    rmq_settings_free(s);
    /* unset ${VAR}: one error naming the variable, the file and the line */
    char *noenv[] = {NULL};
    assert_int_equal(rmq_settings_load(top, noenv, &s, &err), RMQ_ERR_CONFIG);
    snprintf(want, sizeof want,
             "%s:2: syntax error: substitution ${PORT}: environment variable PORT is not set", inc);
    assert_contains(err, want);
    free(err);
    /* an include cycle names the file and line of the include that closes it */
    f = fopen(inc, "w");
    assert_non_null(f);
    fputs("a = 1\ninclude \"revmq.conf\"\n", f);
    fclose(f);
    assert_int_equal(rmq_settings_load(top, env, &s, &err), RMQ_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:2: syntax error: include \"revmq.conf\": include cycle", inc);
    assert_contains(err, want);
    free(err);
    unlink(inc);
    unlink(top);
    rmdir(dir);
}

static void test_settings__ipv6_binds_flat_and_env(void **state)
{
    (void)state;
    struct rmq_settings *s = load_ok("listener.tcp.external = [::1]:1884\n", NULL);
    const struct rmq_listener_settings *l = rmq_settings_listener(s, false, "external");
    assert_non_null(l);
    assert_string_equal(l->bind.host, "::1");
    assert_int_equal(l->bind.port, 1884);
    rmq_settings_free(s);
    char *env[] = {"EMQX_LISTENERS__TCP__DEFAULT__BIND=[::1]:1885", NULL};
    s = load_ok(NULL, env);
    l = rmq_settings_listener(s, false, "default");
    assert_string_equal(l->bind.host, "::1");
    assert_int_equal(l->bind.port, 1885);
    rmq_settings_free(s);
}

/* Every prefix of a rich file loads or fails with a message; ASan checks for leaks. */
static void test_settings__truncated_input_never_crashes(void **state)
{
    (void)state;
    const char *text =
        "node.name = \"n\\u00e9\"\nmqtt { max_inflight = 5, retry_interval = 1h30m }\n"
        "listener.ssl.external = 8883\nlistener.ssl.external.certfile = /c.pem\n"
        "listener.ssl.external.keyfile = /k.pem\n"
        "listener.ssl.external.crl_cache_urls = http://a/b,http://c/d\n"
        "listeners.ssl.external.ssl_options { versions = [tlsv1.3,\n tlsv1.2] }\n";
    char *env[] = {"EMQX_FOO=1", NULL};
    size_t len = strlen(text);
    for (size_t i = 0; i <= len; i++) {
        char *copy = malloc(i + 1);
        memcpy(copy, text, i);
        struct rmq_settings *s = NULL;
        char *err = NULL;
        rmq_err e = rmq_settings_load_buffer("t", copy, i, env, &s, &err);
        assert_true((e == RMQ_OK && s != NULL && err == NULL) ||
                    (e == RMQ_ERR_CONFIG && s == NULL && err != NULL && err[0] != '\0'));
        free(err);
        rmq_settings_free(s);
        free(copy);
    }
}

static void test_settings__authorization_sources_list(void **state)
{
    (void)state;
    char *env[] = {"EMQX_AUTHORIZATION__NO_MATCH=deny",
                   "EMQX_AUTHORIZATION__SOURCES__2__TYPE=mosquitto_acl_file",
                   "EMQX_AUTHORIZATION__SOURCES__2__PATH=/etc/mosquitto/acl",
                   "EMQX_AUTHORIZATION__CACHE__TTL=5s", NULL};
    struct rmq_settings *s = load_ok("authorization {\n"
                                     "  deny_action = disconnect\n"
                                     "  sources.1.type = file\n"
                                     "  sources.1.path = \"etc/acl.conf\"\n"
                                     "}\n"
                                     "authorization.sources.8.type = file\n"
                                     "authorization.sources.8.enable = false\n",
                                     env);
    assert_int_equal(s->authz.no_match, RMQ_AUTHZ_NO_MATCH_DENY);
    assert_int_equal(s->authz.deny_action, RMQ_AUTHZ_DENY_DISCONNECT);
    assert_true(s->authz.cache_enable);
    assert_int_equal(s->authz.cache_max_size, 32);
    assert_int_equal(s->authz.cache_ttl, 5000);
    /* one element per position set (1, 2, 8), in position order */
    assert_int_equal(s->authz.source_count, 3);
    assert_string_equal(s->authz.sources[0].name, "1");
    assert_int_equal(s->authz.sources[0].type, RMQ_AUTHZ_SRC_FILE);
    assert_true(s->authz.sources[0].enable);
    assert_string_equal(s->authz.sources[0].path, "etc/acl.conf");
    assert_string_equal(s->authz.sources[1].name, "2");
    assert_int_equal(s->authz.sources[1].type, RMQ_AUTHZ_SRC_MOSQUITTO);
    assert_true(s->authz.sources[1].enable); /* the default */
    assert_string_equal(s->authz.sources[1].path, "/etc/mosquitto/acl");
    assert_string_equal(s->authz.sources[2].name, "8");
    assert_int_equal(s->authz.sources[2].type, RMQ_AUTHZ_SRC_FILE);
    assert_false(s->authz.sources[2].enable);
    assert_string_equal(rmq_settings_origin(s, "authorization.sources.2.path"),
                        "env EMQX_AUTHORIZATION__SOURCES__2__PATH");
    char *out = print_to_string(s);
    assert_contains(out, "authorization.sources.1.path = \"etc/acl.conf\"  # revmq.conf:4\n");
    assert_contains(out, "authorization.sources.2.type = mosquitto_acl_file  # env");
    assert_null(strstr(out, "authorization.sources.3."));
    free(out);
    rmq_settings_free(s);
    /* EMQX 4.4 flat keys */
    s = load_ok("acl_nomatch = deny\nacl_deny_action = disconnect\nenable_acl_cache = off\n"
                "acl_cache_max_size = 64\nacl_cache_ttl = 2m\n",
                NULL);
    assert_int_equal(s->authz.no_match, RMQ_AUTHZ_NO_MATCH_DENY);
    assert_int_equal(s->authz.deny_action, RMQ_AUTHZ_DENY_DISCONNECT);
    assert_false(s->authz.cache_enable);
    assert_int_equal(s->authz.cache_max_size, 64);
    assert_int_equal(s->authz.cache_ttl, 120000);
    rmq_settings_free(s);
}

static void test_settings__authorization_sources_errors(void **state)
{
    (void)state;
    expect_error("authorization.sources.9.type = file\n", NULL, 2, "revmq.conf:1: unknown key",
                 "did you mean authorization.sources.1.type?");
    expect_error("authorization.sources.0.path = a\n", NULL, 1, "unknown key");
    expect_error("authorization.sources.01.path = a\n", NULL, 1, "unknown key");
    expect_error("authorization.sources.1.type = ldap\n", NULL, 2,
                 "authorization.sources.1.type = ldap", "one of: none, file, mosquitto_acl_file");
    expect_error("authorization.sources.1.type = file\n", NULL, 2,
                 "revmq.conf:1:", "authorization.sources.1.path: required when type = file");
    expect_error("authorization.sources.2.path = x\n", NULL, 2,
                 "revmq.conf:1:", "authorization.sources.2: keys set but no type");
    expect_error("authorization.no_match = maybe\n", NULL, 1, "one of: allow, deny");
}

static void test_settings__authentication_list_from_file_and_env(void **state)
{
    (void)state;
    char *env[] = {"EMQX_AUTHENTICATION__2__PASSWORD_HASH_ALGORITHM__ITERATIONS=10",
                   "REVMQ_AUTHENTICATION__3__BACKEND=mosquitto_passwd_file",
                   "REVMQ_AUTHENTICATION__3__PATH=/etc/mosquitto/passwd", NULL};
    struct rmq_settings *s =
        load_ok("authentication = [\n"
                "  { mechanism = password_based, backend = built_in_database,\n"
                "    user_id_type = clientid, bootstrap_file = \"u.csv\", bootstrap_type = hash,\n"
                "    password_hash_algorithm { name = sha512, salt_position = suffix } }\n"
                "  { mechanism = password_based, password_hash_algorithm { name = pbkdf2,\n"
                "    mac_fun = sha512 } }\n"
                "]\n"
                "listeners.tcp.default.enable_authn = quick_deny_anonymous\n",
                env);
    assert_int_equal(s->authn_count, 3);
    const struct rmq_authn_settings *a = &s->authn[0];
    assert_string_equal(a->name, "1");
    assert_true(a->enable);
    assert_int_equal(a->backend, RMQ_AUTHN_BUILT_IN_DATABASE);
    assert_int_equal(a->user_id_type, RMQ_AUTHN_ID_CLIENTID);
    assert_int_equal(a->hash, RMQ_HASH_SHA512);
    assert_int_equal(a->salt_position, RMQ_SALT_SUFFIX);
    assert_int_equal(a->bootstrap_type, RMQ_BOOTSTRAP_HASH);
    assert_string_equal(a->bootstrap_file, "u.csv");
    assert_int_equal(s->authn[1].hash, RMQ_HASH_PBKDF2);
    assert_int_equal(s->authn[1].mac_fun, RMQ_MAC_SHA512);
    assert_int_equal(s->authn[1].iterations, 10);
    assert_int_equal(s->authn[1].salt_position, RMQ_SALT_PREFIX); /* EMQX's default */
    assert_int_equal(s->authn[2].backend, RMQ_AUTHN_MOSQUITTO_PASSWD_FILE);
    assert_string_equal(s->authn[2].path, "/etc/mosquitto/passwd");
    assert_int_equal(rmq_settings_listener(s, false, "default")->enable_authn,
                     RMQ_ENABLE_AUTHN_QUICK_DENY);
    assert_true(s->mqtt.session_owner_only);
    assert_int_equal(s->mqtt.authn_failure_delay, 1000);
    char *out = print_to_string(s);
    assert_contains(out, "\nauthentication.2.password_hash_algorithm.iterations = 10  # env "
                         "EMQX_AUTHENTICATION__2__PASSWORD_HASH_ALGORITHM__ITERATIONS\n");
    assert_contains(out, "\nauthentication.1.user_id_type = clientid  # revmq.conf:3\n");
    free(out);
    rmq_settings_free(s);

    s = load_ok("authentication = []\n", NULL);
    assert_int_equal(s->authn_count, 0);
    rmq_settings_free(s);
}

static void test_settings__authentication_errors(void **state)
{
    (void)state;
    expect_error("authentication = [{ backend = mosquitto_passwd_file }]\n", NULL, 2,
                 "revmq.conf:1: authentication.1", "needs authentication.1.path");
    expect_error("authentication = [{ password_hash_algorithm { name = md6 } }]\n", NULL, 3,
                 "revmq.conf:1", "authentication.1.password_hash_algorithm.name = md6", "sha256");
    expect_error("authentication.0.mechanism = password_based\n", NULL, 1,
                 "unknown key authentication.0.mechanism");
    char *env[] = {"REVMQ_AUTHENTICATION__1__USER_ID_TYPE=email", NULL};
    expect_error(NULL, env, 2, "env REVMQ_AUTHENTICATION__1__USER_ID_TYPE",
                 "authentication.1.user_id_type = email");
}

static void test_settings__anonymous_listener_off_loopback_is_warned(void **state)
{
    (void)state;
    struct rmq_settings *s = load_ok(NULL, NULL); /* no file: loopback only, no warning */
    assert_int_equal(rmq_settings_warning_count(s), 0);
    rmq_settings_free(s);
    s = load_ok("listeners.tcp.default.bind = \"0.0.0.0:1883\"\n", NULL);
    assert_int_equal(rmq_settings_warning_count(s), 1);
    assert_contains(rmq_settings_warning(s, 0),
                    "listeners.tcp.default admits anonymous clients on 0.0.0.0:1883");
    rmq_settings_free(s);
    s = load_ok("listeners.tcp.default.bind = \"0.0.0.0:1883\"\n"
                "authentication = [{ backend = built_in_database }]\n",
                NULL);
    assert_int_equal(rmq_settings_warning_count(s), 0);
    rmq_settings_free(s);
    s = load_ok("listeners.tcp.default.bind = \"0.0.0.0:1883\"\n"
                "listeners.tcp.default.enable_authn = false\n"
                "authentication = [{ backend = built_in_database }]\n",
                NULL);
    assert_int_equal(rmq_settings_warning_count(s), 1);
    rmq_settings_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings__authentication_list_from_file_and_env),
        cmocka_unit_test(test_settings__authentication_errors),
        cmocka_unit_test(test_settings__anonymous_listener_off_loopback_is_warned),
        cmocka_unit_test(test_settings__defaults_are_emqx5s),
        cmocka_unit_test(test_settings__ssl_default_listener_defaults),
        cmocka_unit_test(test_settings__hocon_types),
        cmocka_unit_test(test_settings__emqx44_flat_file),
        cmocka_unit_test(test_settings__emqx5_environment_only),
        cmocka_unit_test(test_settings__precedence_default_file_env),
        cmocka_unit_test(test_settings__print_shows_value_and_origin_sorted),
        cmocka_unit_test(test_settings__listener_existence_rules),
        cmocka_unit_test(test_settings__type_errors_name_source_key_value_and_allowed),
        cmocka_unit_test(test_settings__unknown_keys_and_syntax_errors),
        cmocka_unit_test(test_settings__all_errors_are_collected),
        cmocka_unit_test(test_settings__cross_key_rules),
        cmocka_unit_test(test_settings__listener_count_is_bounded),
        cmocka_unit_test(test_settings__many_errors_are_capped),
        cmocka_unit_test(test_settings__load_from_file),
        cmocka_unit_test(test_settings__include_substitution_bom_ipv6),
        cmocka_unit_test(test_settings__ipv6_binds_flat_and_env),
        cmocka_unit_test(test_settings__truncated_input_never_crashes),
        cmocka_unit_test(test_settings__authorization_sources_list),
        cmocka_unit_test(test_settings__authorization_sources_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
