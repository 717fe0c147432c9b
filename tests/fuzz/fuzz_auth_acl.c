/*
 * fuzz_auth_acl.c — libFuzzer target over the rule parsers and the matcher.
 * Input: the first byte picks the parser (even: EMQX acl.conf, odd: Mosquitto
 * acl_file); the rest is the file. Whatever parses is evaluated for a few
 * identities and topics (placeholders, CIDRs, regexes). Everything is freed
 * (LeakSanitizer checks).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    struct rmq_acl *acl = rmq_acl_new();
    if (!acl) {
        return 0;
    }
    char err[512];
    const char *text = (const char *)data + 1;
    rmq_err e = (data[0] & 1) ? rmq_acl_parse_mosquitto(acl, "f", text, size - 1, err, sizeof err)
                              : rmq_acl_parse_emqx(acl, "f", text, size - 1, err, sizeof err);
    if (e == RMQ_OK) {
        static const char *const topics[] = {"a/b", "u/alice/x", "#", "$SYS/x", "a/+/c", "x"};
        struct rmq_acl_identity id;
        memset(&id, 0, sizeof id);
        id.username = "alice";
        id.clientid = "dev-1";
        id.cert_cn = "dev-1";
        id.cert_subject = "CN=dev-1,O=x";
        (void)rmq_acl_identity_set_addr(&id, "10.1.2.3:1883");
        for (size_t i = 0; i < sizeof topics / sizeof *topics; i++) {
            size_t n = strlen(topics[i]);
            (void)rmq_acl_check(acl, &id, RMQ_ACL_PUBLISH, topics[i], n, 1, true, NULL);
            (void)rmq_acl_check(acl, &id, RMQ_ACL_SUBSCRIBE, topics[i], n, 0, false, NULL);
        }
    }
    rmq_acl_free(acl);
    return 0;
}
