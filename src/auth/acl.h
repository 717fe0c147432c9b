/*
 * acl.h — authorization: who may publish or subscribe to what.
 *
 * Three layers:
 *  - struct rmq_acl: one immutable rule list, parsed from EMQX's acl.conf
 *    syntax (Erlang terms `{allow|deny, Who, Action, Topics}.`) or from a
 *    Mosquitto acl_file (revmq extension), several sources concatenated in
 *    configuration order. First matching rule wins (EMQX semantics). Parsers
 *    are pure over a byte range (bounded reader); errors say "file:line: what
 *    was expected".
 *  - struct rmq_authz: the configured authorizer (`authorization { … }`): the
 *    current rule list published by pointer swap (refcounted), no_match,
 *    deny_action, cache settings. rmq_authz_reload may run on any thread
 *    (SIGHUP on the main thread); a bad file keeps the old rules.
 *  - struct rmq_authz_client: one per MQTT connection, owned by the thread
 *    that owns the connection: a copy of the client's identity, the rules
 *    that can apply to it (Who evaluated once) and the decision cache
 *    (`authorization.cache`). A reload is seen at the next check: the
 *    client drops its cache and re-selects its rules.
 *
 * Not here: where the identity comes from (the MQTT core fills struct
 * rmq_acl_identity), what a refusal looks like on the wire (the MQTT core).
 */
#ifndef RMQ_AUTH_ACL_H
#define RMQ_AUTH_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "config/settings.h"

#define RMQ_ACL_FILE_MAX (16u << 20) /* bytes of one rule file */
#define RMQ_ACL_RULES_MAX 100000u    /* rules in one rule list */

enum rmq_acl_action {
    RMQ_ACL_PUBLISH = 1,
    RMQ_ACL_SUBSCRIBE = 2,
};

enum rmq_acl_result { RMQ_ACL_NOMATCH, RMQ_ACL_ALLOW, RMQ_ACL_DENY };

/* Who is asking. Strings borrowed for the call (NULL = absent). */
struct rmq_acl_identity {
    const char *username;
    const char *clientid;
    const char *cert_cn;
    const char *cert_subject;
    int family; /* 0 = no address, 4 or 6 */
    uint8_t ip[16];
};

/* Fills id->family/ip from the net layer's "host:port" (IPv6 unbracketed:
 * "::1:1883"), "[v6]:port" or a bare address; false (family 0) if none. */
bool rmq_acl_identity_set_addr(struct rmq_acl_identity *id, const char *addr);

/* ---- rule lists ------------------------------------------------------------------------- */

struct rmq_acl;

/* An empty rule list, or NULL on OOM. */
struct rmq_acl *rmq_acl_new(void);
/* NULL: no-op. */
void rmq_acl_free(struct rmq_acl *acl);
size_t rmq_acl_rule_count(const struct rmq_acl *acl);

/*
 * Appends the rules of an EMQX acl.conf text. `name` names the source in
 * errors. On error returns RMQ_ERR_CONFIG (RMQ_ERR_NOMEM on OOM), `err` holds
 * "name:line: …" and nothing was appended.
 */
RMQ_MUST_USE rmq_err rmq_acl_parse_emqx(struct rmq_acl *acl, const char *name, const char *text,
                                        size_t len, char *err, size_t errlen);
/*
 * Appends the rules of a Mosquitto acl_file text: `topic`/`user`/`pattern`
 * lines; deny lines before grants (Mosquitto checks denials first), %u %c
 * substituted, and a final deny for everything (Mosquitto denies what the
 * file does not grant). Errors as rmq_acl_parse_emqx.
 */
RMQ_MUST_USE rmq_err rmq_acl_parse_mosquitto(struct rmq_acl *acl, const char *name,
                                             const char *text, size_t len, char *err,
                                             size_t errlen);
/* Reads `path` (at most RMQ_ACL_FILE_MAX bytes) and parses it as above. */
RMQ_MUST_USE rmq_err rmq_acl_load_file(struct rmq_acl *acl, const char *path, bool mosquitto,
                                       char *err, size_t errlen);

/*
 * The decision of the first rule that matches (or NOMATCH). `topic` is the
 * topic name (publish) or filter (subscribe); `qos`/`retain` are the
 * packet's. *line (may be NULL) gets "source:line" of the deciding rule.
 * Pure; any thread.
 */
enum rmq_acl_result rmq_acl_check(const struct rmq_acl *acl, const struct rmq_acl_identity *id,
                                  enum rmq_acl_action action, const char *topic, size_t len,
                                  uint8_t qos, bool retain, const char **line);

/*
 * EMQX's topic match of a rule filter against a topic name or a requested
 * filter: levels compared one by one; a rule `+` takes any one level, a
 * rule `#` the rest (including none); a rule level starting with a wildcard
 * never matches a subject starting with `$`.
 */
bool rmq_acl_topic_match(const char *rule, size_t rlen, const char *subj, size_t slen);

/* ---- the configured authorizer ---------------------------------------------------------- */

struct rmq_authz;

/*
 * Loads the enabled sources of `cfg` (borrowed until rmq_authz_free). On
 * error *errmsg (owned) names the key or file:line and nothing is created.
 */
RMQ_MUST_USE rmq_err rmq_authz_new(const struct rmq_authz_settings *cfg, struct rmq_authz **out,
                                   char **errmsg);
/* Clients must have been freed. NULL: no-op. */
void rmq_authz_free(struct rmq_authz *a);
/*
 * Re-reads every source; on success publishes the new rules (live clients
 * drop their caches at their next check) and logs the rule count; on error
 * keeps the old rules and *errmsg (owned) says file:line why. Any thread.
 */
RMQ_MUST_USE rmq_err rmq_authz_reload(struct rmq_authz *a, char **errmsg);
/* authorization.deny_action = disconnect. */
bool rmq_authz_disconnect_on_deny(const struct rmq_authz *a);
/* Bumped by every successful reload (starts at 1). Any thread. */
uint64_t rmq_authz_generation(struct rmq_authz *a);
/* Rules currently published (for logs and tests). */
size_t rmq_authz_rule_count(struct rmq_authz *a);

/* The process's authorizer (set once at start by main; NULL = none: allow). */
void rmq_authz_install(struct rmq_authz *a);
struct rmq_authz *rmq_authz_installed(void);

struct rmq_authz_client;

/* Copies `id`. NULL on OOM. */
struct rmq_authz_client *rmq_authz_client_new(const struct rmq_acl_identity *id);
/* NULL: no-op. */
void rmq_authz_client_free(struct rmq_authz_client *c);

/*
 * Allowed? Rules, then no_match; cached per client for cache.ttl (at most
 * cache.max_size decisions). `now_ms` is a monotonic clock. *line (may be
 * NULL) gets the deciding rule's "source:line" ("no_match" when none matched),
 * also for a decision served from the cache.
 * Called on the client's thread only.
 */
bool rmq_authz_check(struct rmq_authz *a, struct rmq_authz_client *c, enum rmq_acl_action action,
                     const char *topic, size_t len, uint8_t qos, bool retain, int64_t now_ms,
                     const char **line);

#endif
