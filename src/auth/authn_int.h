/*
 * authn_int.h — what the files of the authentication module share: one
 * user's stored credential, password verification (authn_hash.c, OpenSSL and
 * crypt(3)), and the file loaders (authn_file.c). Not a public interface.
 */
#ifndef RMQ_AUTH_AUTHN_INT_H
#define RMQ_AUTH_AUTHN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "config/settings.h"

#define RMQ_AUTHN_ID_MAX 65535 /* an MQTT string */
#define RMQ_AUTHN_HASH_MAX 128 /* raw digest / derived key, or a $2b$ string */
#define RMQ_AUTHN_SALT_MAX 128 /* bytes */
#define RMQ_AUTHN_FILE_MAX (64u << 20)

enum rmq_user_alg {
    RMQ_UA_DIGEST, /* md(salt|password) per salt_position */
    RMQ_UA_PBKDF2, /* PBKDF2-HMAC(md, password, salt, iterations) */
    RMQ_UA_BCRYPT, /* crypt(3) string in hash[] */
    RMQ_UA_PLAIN,  /* EMQX `plain`: hash[] = SHA-256(salt|password), random salt */
};

struct rmq_user {
    char *id; /* owned, NUL-terminated (no NUL inside) */
    size_t id_len;
    uint8_t alg;           /* enum rmq_user_alg */
    uint8_t md;            /* enum rmq_authn_mac_fun for DIGEST/PBKDF2 */
    uint8_t salt_position; /* enum rmq_authn_salt_position for DIGEST */
    bool superuser;
    uint32_t iterations;
    uint8_t hash[RMQ_AUTHN_HASH_MAX];
    size_t hash_len;
    uint8_t salt[RMQ_AUTHN_SALT_MAX];
    size_t salt_len;
};

struct rmq_userset {
    struct rmq_user *users; /* owned, sorted by id (bytes) */
    size_t count;
};

void rmq_userset_free(struct rmq_userset *u); /* NULL: no-op */
/* The user with this id, or NULL. */
const struct rmq_user *rmq_userset_find(const struct rmq_userset *u, const char *id, size_t len);

/* authn_hash.c: whether `pw` matches u's stored credential (constant-time compare). */
bool rmq_user_verify(const struct rmq_user *u, const uint8_t *pw, size_t pw_len);
/* Fills u->hash/salt for a plain password (random salt, SHA-256). */
RMQ_MUST_USE rmq_err rmq_user_set_plain(struct rmq_user *u, const char *pw, size_t pw_len);
/* Whether the digest of `md` is available in this OpenSSL; its size in *size. */
bool rmq_authn_md_ok(int md, size_t *size);
/* Decoders: false when malformed or longer than `cap`. */
bool rmq_authn_hex_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len);
bool rmq_authn_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len);

/*
 * authn_file.c: reads the users of one authenticator (bootstrap CSV/JSON or a
 * Mosquitto password file). On error *set is NULL and `why` holds
 * "FILE:LINE: reason".
 */
RMQ_MUST_USE rmq_err rmq_authn_load_users(const struct rmq_authn_settings *cfg,
                                          struct rmq_userset **set, char *why, size_t whylen);
/* The same over a file's content already in memory (`name` for messages; a
 * name ending in .json is read as JSON). For tests and fuzzing. */
RMQ_MUST_USE rmq_err rmq_authn_parse_users(const struct rmq_authn_settings *cfg, const char *name,
                                           const char *text, size_t len, struct rmq_userset **set,
                                           char *why, size_t whylen);

#endif
