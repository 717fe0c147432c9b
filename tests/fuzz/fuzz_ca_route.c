/*
 * fuzz_ca_route.c — feeds arbitrary bytes to rmq_ca_route_parse as an HTTP
 * request target of `revmq-ca serve`. The input is copied into a buffer of
 * exactly its size (no NUL after it), so any read past `len` is caught by
 * ASan. On RMQ_OK the route must satisfy what serve.c relies on: known kind,
 * non-empty NUL-terminated tenant and CA within their arrays, a positive
 * version for CRL routes, a non-empty base64 part for OCSP GET. Errors are
 * only RMQ_ERR_NOT_FOUND or RMQ_ERR_TOO_LARGE.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == 0 || n == cap) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *target = malloc(size > 0 ? size : 1);
    if (target == NULL) {
        return 0;
    }
    if (size > 0) {
        memcpy(target, data, size);
    }
    struct rmq_ca_route *rt = malloc(sizeof(*rt));
    if (rt == NULL) {
        free(target);
        return 0;
    }
    memset(rt, 0xA5, sizeof(*rt)); /* the parser must not rely on a zeroed out */
    rmq_err e = rmq_ca_route_parse(target, size, rt);
    if (e == RMQ_OK) {
        check_name(rt->tenant, sizeof(rt->tenant));
        check_name(rt->ca, sizeof(rt->ca));
        switch (rt->kind) {
        case RMQ_CA_ROUTE_CRL_DER:
        case RMQ_CA_ROUTE_CRL_PEM:
            if (rt->version <= 0) {
                abort();
            }
            break;
        case RMQ_CA_ROUTE_OCSP:
            break;
        case RMQ_CA_ROUTE_OCSP_GET:
            check_name(rt->b64, sizeof(rt->b64));
            break;
        default:
            abort();
        }
    } else if (e != RMQ_ERR_NOT_FOUND && e != RMQ_ERR_TOO_LARGE) {
        abort();
    }
    free(rt);
    free(target);
    return 0;
}
