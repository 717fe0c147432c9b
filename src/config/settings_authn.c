/*
 * settings_authn.c — the cross-key rules of the `authentication` list (EMQX 5:
 * `authentication = [{…}, …]`, i.e. keys `authentication.<n>.…`, made by
 * settings_list.c), and the start-up warning naming listeners that admit
 * anonymous clients on an address other than loopback. See config_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

static const char *authn_origin(const struct rmq_cfg_load *ld, const char *name, const char *rest)
{
    char path[RMQ_CFG_PATH_MAX];
    snprintf(path, sizeof path, "authentication.%s.%s", name, rest);
    const struct rmq_cfg_kv *kv = rmq_cfg_find(ld, path);
    if (kv != NULL) {
        return kv->origin;
    }
    for (size_t i = 0; i < ld->kvcount; i++) {
        if (ld->kv[i].key->scope == RMQ_CFG_LIST &&
            strncmp(ld->kv[i].key->path, "authentication.<n>.", 19) == 0 &&
            strcmp(ld->kv[i].name, name) == 0) {
            return ld->kv[i].origin;
        }
    }
    return "default";
}

static void check_entry(struct rmq_cfg_load *ld, const struct rmq_authn_settings *a)
{
    if (a->backend == RMQ_AUTHN_MOSQUITTO_PASSWD_FILE && a->path == NULL) {
        rmq_cfg_error(ld,
                      "%s: authentication.%s: backend = mosquitto_passwd_file needs "
                      "authentication.%s.path (the file mosquitto_passwd writes)",
                      authn_origin(ld, a->name, "backend"), a->name, a->name);
    }
    if (a->backend == RMQ_AUTHN_BUILT_IN_DATABASE && a->path != NULL) {
        rmq_cfg_error(ld,
                      "%s: authentication.%s.path is for backend = mosquitto_passwd_file; "
                      "built_in_database reads authentication.%s.bootstrap_file",
                      authn_origin(ld, a->name, "path"), a->name, a->name);
    }
}

static bool is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

/* Whether the listener lets a client in without any proof of identity. */
static bool admits_anonymous(const struct rmq_settings *s, const struct rmq_listener_settings *l)
{
    if (l->is_ssl && l->ssl.verify == RMQ_VERIFY_PEER && l->ssl.fail_if_no_peer_cert) {
        return false; /* every client shows a verified certificate */
    }
    if (l->enable_authn == RMQ_ENABLE_AUTHN_FALSE) {
        return true;
    }
    for (size_t i = 0; i < s->authn_count; i++) {
        if (s->authn[i].enable) {
            return false; /* the chain denies clients no authenticator knows */
        }
    }
    return true; /* no authenticator: any username is taken unproven */
}

void rmq_cfg_check_authn(struct rmq_cfg_load *ld, const struct rmq_settings *s)
{
    for (size_t i = 0; i < s->authn_count; i++) {
        check_entry(ld, &s->authn[i]);
    }
    for (size_t i = 0; i < s->listener_count; i++) {
        const struct rmq_listener_settings *l = &s->listeners[i];
        if (l->enable && !is_loopback(l->bind.host) && admits_anonymous(s, l)) {
            rmq_cfg_warning(ld,
                            "listeners.%s.%s admits anonymous clients on %s:%u, which is not a "
                            "loopback address: configure `authentication` (with "
                            "listeners.%s.%s.enable_authn = true) or require client certificates",
                            l->is_ssl ? "ssl" : "tcp", l->name, l->bind.host,
                            (unsigned)l->bind.port, l->is_ssl ? "ssl" : "tcp", l->name);
        }
    }
}
