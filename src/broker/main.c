/*
 * main.c — revmq, the broker daemon: wiring only.
 *
 *   revmq [-c FILE]                   run the broker
 *   revmq --check-config [--skip-files] [-c FILE]
 *                                     validate, print the effective config, check the
 *                                     files it names (unless --skip-files), exit
 *
 * Start-up: settings (defaults < file < environment; any error: message on
 * stderr, exit 1) -> revocation engine (when an SSL listener checks CRLs) ->
 * net layer with the MQTT core -> listeners (TCP, and SSL through src/tls)
 * -> workers. Signals on the main thread: SIGINT/SIGTERM stop cleanly
 * (everything freed), SIGHUP reloads TLS contexts, refreshes CRLs and re-reads
 * the authorization rule files (a bad file keeps the rules in force).
 * After each new CRL snapshot, live connections whose certificate is now
 * revoked are closed (crl_cache.disconnect_revoked).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth/acl.h"
#include "auth/authn.h"
#include "admin/admin.h"
#include "broker/check_files.h"
#include "common/log.h"
#include "common/version.h"
#include "config/settings.h"
#include "net/net.h"
#include "revocation/revocation.h"
#include "tls/tls.h"

#ifdef RMQ_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#define RMQ_SD_NOTIFY(s) ((void)sd_notify(0, (s)))
#else
#define RMQ_SD_NOTIFY(s) ((void)0)
#endif

extern char **environ;

struct app {
    struct rmq_settings *s;
    struct rmq_net *net;
    struct rmq_authz *authz; /* authorization { … }; installed for the MQTT core */
    struct rmq_authn *authn; /* authentication = [ … ]; NULL when none is configured */
    pthread_mutex_t net_mu;  /* protects `net` as seen by the CRL publish callback */
    struct rmq_net *net_for_cb;
    struct event *sig_int;
    struct event *sig_term;
    struct event *sig_hup;
    struct rmq_admin *admin;
    struct rmq_tls_listener **tls; /* one per listener slot; NULL for TCP */
    struct event **tls_poll;
    struct rmq_revocation *rev;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: revmq [-c FILE]\n"
               "       revmq --check-config [--skip-files] [-c FILE]\n"
               "       revmq --version\n"
               "       revmq ctl [-c FILE] COMMAND     (revmq ctl --help)\n");
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct app *a = arg;
    rmq_info("broker", "stopping signal=%d", (int)sig);
    RMQ_SD_NOTIFY("STOPPING=1");
    rmq_net_stop(a->net);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct app *a = arg;
    rmq_info("broker", "reload requested signal=SIGHUP");
    RMQ_SD_NOTIFY("RELOADING=1");
    char *aerr = NULL;
    if (rmq_authz_reload(a->authz, &aerr) != RMQ_OK) {
        rmq_warn("authz", "reload failed, rules in force kept: %s", aerr ? aerr : "out of memory");
    }
    free(aerr);
    if (rmq_authn_reload(a->authn) != RMQ_OK) {
        rmq_warn("broker", "authentication reload incomplete (see above; previous users kept)");
    }
    for (size_t i = 0; i < a->s->listener_count; i++) {
        if (a->tls[i] && rmq_tls_listener_reload(a->tls[i]) != RMQ_OK) {
            rmq_warn("broker", "TLS reload failed, old context kept listener=%s",
                     a->s->listeners[i].id);
        }
    }
    if (a->rev) {
        rmq_revocation_refresh_now(a->rev);
    }
    RMQ_SD_NOTIFY("READY=1");
}

static void on_tls_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bool reloaded = false;
    if (rmq_tls_listener_check_reload(arg, &reloaded) != RMQ_OK) {
        RMQ_LOG_RL(1, RMQ_LOG_WARNING, "broker", "TLS file check failed (old context kept)");
    }
}

/* Only listeners that check CRLs close live connections: another listener
 * would accept the same certificate again at once. */
static bool listener_checks_crl(const struct rmq_listener_settings *ls)
{
    return ls->is_ssl && ls->ssl.enable_crl_check;
}

static void release_snapshot(void *arg)
{
    rmq_crl_snapshot_release(arg);
}

/* Fetcher thread: a new CRL snapshot was published. */
static void on_crl_publish(struct rmq_crl_snapshot *snap, void *arg)
{
    (void)snap;
    struct app *a = arg;
    pthread_mutex_lock(&a->net_mu);
    if (a->net_for_cb) {
        struct rmq_crl_snapshot *s = rmq_crl_engine_acquire(a->rev->crl);
        rmq_net_close_matching_on(a->net_for_cb, listener_checks_crl, rmq_revocation_peer_revoked,
                                  s, release_snapshot);
        /* the sessions such certificates own end too, on every listener */
        rmq_net_end_sessions_matching(a->net_for_cb, rmq_revocation_peer_revoked,
                                      rmq_crl_engine_acquire(a->rev->crl), release_snapshot);
    }
    pthread_mutex_unlock(&a->net_mu);
}

static bool listener_checks_ocsp(const struct rmq_listener_settings *ls)
{
    return ls->is_ssl && ls->ssl.ocsp_client.enable;
}

/* Fetcher thread: a refreshed client-certificate OCSP answer says revoked. */
static void on_ocsp_revoked(const struct rmq_cert_id *id, void *arg)
{
    struct app *a = arg;
    pthread_mutex_lock(&a->net_mu);
    struct rmq_cert_id *c1 = malloc(sizeof *c1);
    struct rmq_cert_id *c2 = malloc(sizeof *c2);
    if (a->net_for_cb && c1 != NULL && c2 != NULL) {
        *c1 = *id;
        *c2 = *id;
        rmq_net_close_matching_on(a->net_for_cb, listener_checks_ocsp, rmq_revocation_peer_is, c1,
                                  free);
        rmq_net_end_sessions_matching(a->net_for_cb, rmq_revocation_peer_is, c2, free);
        c1 = c2 = NULL;
    }
    pthread_mutex_unlock(&a->net_mu);
    free(c1);
    free(c2);
}

static int setup_listeners(struct app *a)
{
    const struct rmq_settings *s = a->s;
    for (size_t i = 0; i < s->listener_count; i++) {
        const struct rmq_listener_settings *ls = &s->listeners[i];
        if (!ls->enable) {
            continue;
        }
        char *err = NULL;
        rmq_err e;
        if (ls->is_ssl) {
            e = rmq_tls_listener_new(ls, s, a->rev, &a->tls[i], &err);
            if (e == RMQ_OK) {
                rmq_tls_listener_on_ocsp_revoked(a->tls[i], on_ocsp_revoked, a);
            }
            if (e == RMQ_OK) {
                struct rmq_transport_factory f = rmq_tls_listener_factory(a->tls[i]);
                e = rmq_net_listen(a->net, ls, &f, rmq_tls_listener_handshake_timeout(a->tls[i]),
                                   &err);
                uint64_t iv = rmq_tls_listener_reload_interval(a->tls[i]);
                if (e == RMQ_OK && iv) {
                    a->tls_poll[i] = event_new(rmq_net_main_base(a->net), -1, EV_PERSIST,
                                               on_tls_poll, a->tls[i]);
                    struct timeval tv = {(time_t)(iv / 1000), (suseconds_t)(iv % 1000) * 1000};
                    if (a->tls_poll[i]) {
                        event_add(a->tls_poll[i], &tv);
                    }
                }
            }
        } else {
            e = rmq_net_listen(a->net, ls, NULL, 0, &err);
        }
        if (e != RMQ_OK) {
            fprintf(stderr, "revmq: %s\n", err ? err : rmq_err_message(e));
            free(err);
            return -1;
        }
    }
    return 0;
}

/* Loads the authorization sources; false (message on stderr) if one is bad. */
static bool load_authz(struct app *a)
{
    char *err = NULL;
    if (rmq_authz_new(&a->s->authz, &a->authz, &err) != RMQ_OK) {
        fprintf(stderr, "revmq: %s\n", err ? err : "authorization: out of memory");
        free(err);
        return false;
    }
    return true;
}

static int start_admin(struct app *a)
{
    struct rmq_admin_deps d = {.s = a->s, .net = a->net};
    d.tls = a->tls;
    d.rev = a->rev;
    char *err = NULL;
    if (rmq_admin_new(&d, &a->admin, &err) != RMQ_OK) {
        fprintf(stderr, "revmq: %s\n", err ? err : "admin listener failed");
        free(err);
        return -1;
    }
    return 0;
}

static int start(struct app *a)
{
    if (!load_authz(a)) {
        return -1;
    }
    rmq_authz_install(a->authz);
    rmq_info("authz", "rules loaded rules=%zu no_match=%s deny_action=%s",
             rmq_authz_rule_count(a->authz),
             a->s->authz.no_match == RMQ_AUTHZ_NO_MATCH_DENY ? "deny" : "allow",
             rmq_authz_disconnect_on_deny(a->authz) ? "disconnect" : "ignore");
    a->tls = calloc(a->s->listener_count + 1, sizeof *a->tls);
    a->tls_poll = calloc(a->s->listener_count + 1, sizeof *a->tls_poll);
    if (!a->tls || !a->tls_poll) {
        return -1;
    }
    bool any_ssl = false;
    for (size_t i = 0; i < a->s->listener_count; i++) {
        any_ssl |= a->s->listeners[i].enable && a->s->listeners[i].is_ssl;
    }
    if (any_ssl) {
        char *err = NULL;
        if (rmq_revocation_new(a->s, &a->rev, &err) != RMQ_OK) {
            fprintf(stderr, "revmq: %s\n", err ? err : "revocation engine failed");
            free(err);
            return -1;
        }
        if (rmq_revocation_start(a->rev) != RMQ_OK) {
            fprintf(stderr, "revmq: revocation engine failed to start\n");
            return -1;
        }
    }
    char *aerr = NULL;
    if (rmq_authn_new(a->s, &a->authn, &aerr) != RMQ_OK) {
        fprintf(stderr, "%s\n", aerr ? aerr : "revmq: authentication setup failed");
        free(aerr);
        return -1;
    }
    if (rmq_net_new(a->s, &a->net) != RMQ_OK) {
        fprintf(stderr, "revmq: cannot create the network layer\n");
        return -1;
    }
    rmq_net_set_authn(a->net, a->authn);
    if (setup_listeners(a) != 0) {
        return -1;
    }
    if (a->rev && a->s->crl_cache.disconnect_revoked) {
        /* also the client-certificate OCSP re-checks (on_ocsp_revoked) */
        pthread_mutex_lock(&a->net_mu);
        a->net_for_cb = a->net;
        pthread_mutex_unlock(&a->net_mu);
        if (a->rev->crl_enabled) {
            rmq_crl_engine_on_publish(a->rev->crl, on_crl_publish, a);
        }
    }
    struct event_base *base = rmq_net_main_base(a->net);
    a->sig_int = evsignal_new(base, SIGINT, on_stop, a);
    a->sig_term = evsignal_new(base, SIGTERM, on_stop, a);
    a->sig_hup = evsignal_new(base, SIGHUP, on_hup, a);
    if (!a->sig_int || !a->sig_term || !a->sig_hup || evsignal_add(a->sig_int, NULL) != 0 ||
        evsignal_add(a->sig_term, NULL) != 0 || evsignal_add(a->sig_hup, NULL) != 0) {
        return -1;
    }
    if (start_admin(a) != 0) {
        return -1;
    }
    if (rmq_net_start(a->net) != RMQ_OK) {
        fprintf(stderr, "revmq: cannot start workers\n");
        return -1;
    }
    return 0;
}

static void cleanup(struct app *a)
{
    pthread_mutex_lock(&a->net_mu);
    a->net_for_cb = NULL;
    pthread_mutex_unlock(&a->net_mu);
    struct event *evs[] = {a->sig_int, a->sig_term, a->sig_hup};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++) {
        if (evs[i]) {
            event_free(evs[i]);
        }
    }
    for (size_t i = 0; a->tls_poll && i < a->s->listener_count; i++) {
        if (a->tls_poll[i]) {
            event_free(a->tls_poll[i]);
        }
    }
    rmq_admin_free(a->admin); /* before the core worker stops: it answers admin jobs */
    rmq_net_free(a->net);     /* workers stopped: no transport left */
    rmq_authn_free(a->authn);
    for (size_t i = 0; a->tls && i < a->s->listener_count; i++) {
        rmq_tls_listener_free(a->tls[i]);
    }
    free(a->tls);
    free(a->tls_poll);
    rmq_revocation_free(a->rev);
    rmq_authz_free(a->authz); /* after the core: no client left */
    rmq_settings_free(a->s);
    pthread_mutex_destroy(&a->net_mu);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ctl") == 0) {
        return rmq_admin_ctl(argc - 1, argv + 1, environ);
    }
    const char *path = NULL;
    bool check = false, skip_files = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--skip-files") == 0) {
            skip_files = true;
        } else if (strcmp(argv[i], "--gen-man5") == 0) {
            rmq_admin_write_conf_man(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("revmq %s\n", RMQ_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "revmq: unknown argument: %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    struct app a;
    memset(&a, 0, sizeof a);
    pthread_mutex_init(&a.net_mu, NULL);
    char *errmsg = NULL;
    if (rmq_settings_load(path, environ, &a.s, &errmsg) != RMQ_OK) {
        fprintf(stderr, "%s%s", errmsg ? errmsg : "revmq: invalid configuration",
                errmsg && errmsg[0] && errmsg[strlen(errmsg) - 1] == '\n' ? "" : "\n");
        free(errmsg);
        pthread_mutex_destroy(&a.net_mu);
        return 1;
    }
    if (check) {
        /* files first (every problem listed); the rule files are parsed only when readable;
         * --skip-files: values only, no file is opened */
        size_t bad = skip_files ? 0 : rmq_check_files(a.s, stderr);
        if (!skip_files && bad == 0 && !load_authz(&a)) {
            rmq_settings_free(a.s);
            pthread_mutex_destroy(&a.net_mu);
            return 1;
        }
        rmq_authz_free(a.authz);
        rmq_settings_print(a.s, stdout);
        if (bad > 0) {
            fprintf(stderr, "revmq: %zu problem%s with the files the configuration names\n", bad,
                    bad == 1 ? "" : "s");
        }
        rmq_settings_free(a.s);
        pthread_mutex_destroy(&a.net_mu);
        return bad > 0 ? 1 : 0;
    }
    rmq_log_set_level((enum rmq_log_level)a.s->log_level);
    rmq_log_set_format((enum rmq_log_format)a.s->log_formatter);
    if (a.s->log_file && rmq_log_open_file(a.s->log_file, a.s->log_file_rotation_size,
                                           a.s->log_file_rotation_count) != RMQ_OK) {
        fprintf(stderr, "revmq: log.file: %s: cannot open: %s\n", a.s->log_file, strerror(errno));
        rmq_settings_free(a.s);
        pthread_mutex_destroy(&a.net_mu);
        return 1;
    }
    if (a.s->log_syslog) {
        rmq_log_open_syslog("revmq");
    }
    signal(SIGPIPE, SIG_IGN);
    /* Over a file size limit a write fails with EFBIG (the store logs it and
     * the broker serves on) instead of the process being killed. */
    signal(SIGXFSZ, SIG_IGN);
    int rc = 0;
    if (start(&a) == 0) {
        rmq_info("broker", "running node=%s", a.s->node_name);
        RMQ_SD_NOTIFY("READY=1\nSTATUS=running");
        rmq_net_run(a.net);
        rmq_info("broker", "stopped");
    } else {
        rc = 1;
    }
    cleanup(&a);
    rmq_log_close_file();
    rmq_log_close_syslog();
    libevent_global_shutdown();
    return rc;
}
