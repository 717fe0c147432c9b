/*
 * authn.h — authentication: the `authentication` chain of EMQX 5
 * (`password_based` with `built_in_database` users from a bootstrap file,
 * and revmq's `mosquitto_passwd_file` backend), and the per-address slow-down
 * of failed attempts.
 *
 * The chain: each enabled authenticator in order looks up the client's user
 * id (username or client id, per `user_id_type`). The first that knows it
 * decides: the password matches (constant-time comparison) or the client is
 * refused. A user no authenticator knows is refused. Passwords are never
 * logged and never kept in memory (plain bootstrap passwords are hashed with a
 * random salt at load).
 *
 * Not here: certificates (a client with a verified certificate is the
 * listener's business: src/mqtt does not call the chain for it), ACLs.
 *
 * Threads: rmq_authn_new / _free and rmq_authn_reload run on the main thread
 * (start, SIGHUP); rmq_authn_check and the throttle functions on the MQTT core
 * thread. The user sets are swapped under a mutex (it protects `sets` only;
 * a check holds it while it copies one user's record, never while hashing).
 */
#ifndef RMQ_AUTH_AUTHN_H
#define RMQ_AUTH_AUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "config/settings.h"

struct rmq_authn;

enum rmq_authn_result {
    RMQ_AUTHN_ALLOW,   /* an authenticator knows the user and the password matches */
    RMQ_AUTHN_DENY,    /* an authenticator knows the user; wrong or missing password */
    RMQ_AUTHN_UNKNOWN, /* no enabled authenticator knows the user id */
};

/* What the client sent in CONNECT; all borrowed for the call. */
struct rmq_authn_req {
    const char *username; /* NULL when absent */
    size_t username_len;
    const char *clientid;
    size_t clientid_len;
    const uint8_t *password; /* NULL when absent */
    size_t password_len;
};

/*
 * Builds the chain from s->authn and reads every file. On error *errmsg
 * (owned) names the file, the line and why, and *out is NULL. `s` is borrowed
 * until rmq_authn_free.
 */
RMQ_MUST_USE rmq_err rmq_authn_new(const struct rmq_settings *s, struct rmq_authn **out,
                                   char **errmsg);
void rmq_authn_free(struct rmq_authn *a); /* NULL: no-op */

/* Whether any authenticator is enabled (none: every client is let in, as EMQX does). */
bool rmq_authn_enabled(const struct rmq_authn *a);

/*
 * Re-reads every file. An authenticator whose file is bad keeps the users it
 * had and the reason is logged as `file:line: why`; the others are replaced.
 * Returns RMQ_OK when every file loaded.
 */
RMQ_MUST_USE rmq_err rmq_authn_reload(struct rmq_authn *a);

/*
 * Runs the chain. *why (static text, never the password) says why a client
 * was not let in: "unknown user", "wrong password", "no password". On ALLOW,
 * *superuser (may be NULL) is the user's is_superuser flag (EMQX bootstrap
 * files; false for Mosquitto files). A user id no authenticator knows still
 * costs one password hash, so timing does not tell which user ids exist.
 */
enum rmq_authn_result rmq_authn_check(struct rmq_authn *a, const struct rmq_authn_req *r,
                                      const char **why, bool *superuser);

/* Failed-attempt slow-down per address (mqtt.authn_failure_delay), core thread.
 * `ip` is the peer address without port. now_ms: a monotonic clock. */
uint64_t rmq_authn_throttle_left(struct rmq_authn *a, const char *ip, uint64_t now_ms);
void rmq_authn_throttle_fail(struct rmq_authn *a, const char *ip, uint64_t now_ms);
void rmq_authn_throttle_ok(struct rmq_authn *a, const char *ip);

#endif
