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
 * (start, SIGHUP); rmq_authn_start/_cancel/_poll and the throttle functions on
 * the MQTT core thread; one verifier thread (started by rmq_authn_new, joined
 * by _free) hashes. One mutex protects the user sets, the job queues and the
 * notify hook; nobody holds it while hashing.
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

/*
 * The same check off the core thread: the password hash (pbkdf2, bcrypt: up to
 * tens of ms) runs on the authenticator's verifier thread, so one CONNECT
 * never holds the others. rmq_authn_start copies `r` and returns a job handle
 * (NULL on OOM); when the check is done, the verifier calls the notify
 * function (rmq_authn_set_notify) and the core thread's next rmq_authn_poll
 * calls done(arg, result, why, superuser) there. rmq_authn_cancel (core
 * thread): done will not be called; the handle is invalid after done or
 * cancel.
 */
struct rmq_authn_job;
typedef void (*rmq_authn_done_fn)(void *arg, enum rmq_authn_result r, const char *why,
                                  bool superuser);
struct rmq_authn_job *rmq_authn_start(struct rmq_authn *a, const struct rmq_authn_req *r,
                                      rmq_authn_done_fn done, void *arg);
void rmq_authn_cancel(struct rmq_authn *a, struct rmq_authn_job *j);
void rmq_authn_poll(struct rmq_authn *a);
/* Any thread: notify(arg) is called (from the verifier thread, under the
 * authenticator's lock) each time a job is done; NULL stops notifications,
 * and once this returns none is in progress. */
void rmq_authn_set_notify(struct rmq_authn *a, void (*notify)(void *), void *arg);

/* Failed-attempt slow-down per address (mqtt.authn_failure_delay), core thread.
 * `ip` is the peer address without port. now_ms: a monotonic clock. */
uint64_t rmq_authn_throttle_left(struct rmq_authn *a, const char *ip, uint64_t now_ms);
void rmq_authn_throttle_fail(struct rmq_authn *a, const char *ip, uint64_t now_ms);
void rmq_authn_throttle_ok(struct rmq_authn *a, const char *ip);
/* Checks in progress per address: begin is false when RMQ_AUTHN_MAX_PENDING
 * are already running for `ip` (so parallel connections cannot get around
 * the slow-down); every successful begin is paired with one end. */
#define RMQ_AUTHN_MAX_PENDING 4
bool rmq_authn_throttle_begin(struct rmq_authn *a, const char *ip);
void rmq_authn_throttle_end(struct rmq_authn *a, const char *ip);

#endif
