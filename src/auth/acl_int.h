/*
 * acl_int.h — the rule model shared by the files of src/auth/acl*.c.
 * Not public; see acl.h for the contracts.
 */
#ifndef RMQ_AUTH_ACL_INT_H
#define RMQ_AUTH_ACL_INT_H

#include <regex.h>
#include <stdatomic.h>

#include "auth/acl.h"

enum who_kind {
    WHO_ALL,
    WHO_USERNAME,    /* str */
    WHO_USERNAME_RE, /* re */
    WHO_CLIENTID,
    WHO_CLIENTID_RE,
    WHO_IPADDRS,   /* cidrs */
    WHO_AND,       /* kids */
    WHO_OR,        /* kids */
    WHO_ANONYMOUS, /* no username (Mosquitto `topic` lines before any `user`) */
};

struct cidr {
    int family; /* 4 or 6 */
    uint8_t addr[16];
    unsigned bits;
};

struct who {
    enum who_kind kind;
    char *str; /* owned */
    regex_t re;
    bool has_re;
    struct cidr *cidrs; /* owned */
    size_t n_cidrs;
    struct who **kids; /* owned */
    size_t n_kids;
};

struct acl_topic {
    char *text; /* owned, NUL-terminated */
    size_t len;
    bool eq;     /* {eq, "…"}: literal comparison, no placeholders */
    bool has_ph; /* contains a placeholder */
};

#define ACL_QOS_ANY 0x7u

struct acl_rule {
    bool allow;
    struct who *who;          /* owned */
    unsigned actions;         /* RMQ_ACL_PUBLISH | RMQ_ACL_SUBSCRIBE */
    unsigned qos_mask;        /* bit q set: QoS q matches */
    int retain;               /* -1 any, 0 only not retained, 1 only retained (publish) */
    bool all_topics;          /* {allow|deny, all}: no topic list */
    struct acl_topic *topics; /* owned */
    size_t n_topics;
    char *where; /* owned: "source:line" */
};

struct rmq_acl {
    struct acl_rule *rules; /* owned */
    size_t n_rules;
    size_t a_rules;
    atomic_uint refs; /* used by acl_authz.c */
};

/* acl_parse.c / acl_mosq.c helpers shared with each other. */
void rmq_acl__rule_clear(struct acl_rule *r);
void rmq_acl__who_free(struct who *w);
/* Moves `r` into acl (emptied); false on OOM (r untouched). */
bool rmq_acl__push(struct rmq_acl *acl, struct acl_rule *r);
/* The first "${" in t[0..n) that starts no supported placeholder, or NULL. */
const char *rmq_acl__unknown_placeholder(const char *t, size_t n);
/* Whether `t` holds ${…} or %u/%c placeholders. */
bool rmq_acl__has_placeholder(const char *t, size_t n);
/* Parses "a.b.c.d[/n]" or an IPv6 address[/n]; false if malformed. */
bool rmq_acl__parse_cidr(const char *s, size_t n, struct cidr *out);
/* Whether the rule's Who matches the identity. */
bool rmq_acl__who_match(const struct who *w, const struct rmq_acl_identity *id);
/* The rule's decision for the request, ignoring Who: matched or not. */
bool rmq_acl__rule_applies(const struct acl_rule *r, const struct rmq_acl_identity *id,
                           enum rmq_acl_action action, const char *topic, size_t len, uint8_t qos,
                           bool retain);

#endif
