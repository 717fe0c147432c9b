/*
 * fuzz_auth_users.c — libFuzzer target over the user-file parsers of src/auth:
 * Mosquitto password files, EMQX bootstrap CSV and JSON (plain and hash, every
 * hash algorithm). The first input byte picks the format and algorithm; the rest
 * is the file. A parsed set is looked up and verified against once, then freed
 * (LeakSanitizer checks).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/authn_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    struct rmq_authn_settings c;
    memset(&c, 0, sizeof c);
    uint8_t sel = data[0];
    c.name = "1";
    c.enable = true;
    c.backend = (sel & 1) ? RMQ_AUTHN_MOSQUITTO_PASSWD_FILE : RMQ_AUTHN_BUILT_IN_DATABASE;
    c.bootstrap_type = (sel & 2) ? RMQ_BOOTSTRAP_HASH : RMQ_BOOTSTRAP_PLAIN;
    c.hash = (enum rmq_authn_hash)((sel >> 2) % 7);
    c.salt_position = (enum rmq_authn_salt_position)((sel >> 5) % 3);
    c.mac_fun = RMQ_MAC_SHA256;
    c.iterations = 2;
    const char *name = (sel & 0x80) ? "users.json" : "users.csv";
    struct rmq_userset *set = NULL;
    char why[512];
    if (rmq_authn_parse_users(&c, name, (const char *)data + 1, size - 1, &set, why, sizeof why) ==
            RMQ_OK &&
        set->count > 0) {
        const struct rmq_user *u = rmq_userset_find(set, set->users[0].id, set->users[0].id_len);
        if (u != NULL && u->alg != RMQ_UA_BCRYPT) {
            (void)rmq_user_verify(u, (const uint8_t *)"pw", 2);
        }
    }
    rmq_userset_free(set);
    return 0;
}
