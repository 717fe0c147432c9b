/*
 * fuzz_net_proxy.c — libFuzzer target for the PROXY protocol parser.
 *
 * Input: header bytes (v1 text or v2 binary) followed by anything. Checks:
 * the parser never reads out of bounds; a parsed header never claims more
 * bytes than given; every prefix of a parsed header needs more; feeding the
 * input through rmq_proxy_header_take in chunks (first byte = chunk size)
 * never takes a byte past the header and reaches the same result.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "net/proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t chunk = (size_t)data[0] % 32 + 1;
    data++;
    size--;
    struct rmq_proxy_header h, h2;
    rmq_err e = rmq_proxy_parse(data, size, &h);
    if (e == RMQ_OK) {
        if (h.len == 0 || h.len > size) {
            abort();
        }
        for (size_t i = 0; i < h.len; i++) {
            if (rmq_proxy_parse(data, i, &h2) != RMQ_ERR_NEED_MORE) {
                abort();
            }
        }
    }
    size_t have = 0;
    rmq_err e2 = RMQ_ERR_NEED_MORE;
    while (e2 == RMQ_ERR_NEED_MORE && have < size) {
        size_t more = size - have < chunk ? size - have : chunk;
        size_t t = rmq_proxy_header_take(data, have, data + have, more);
        if (t == 0 || t > more) {
            abort();
        }
        have += t;
        e2 = rmq_proxy_parse(data, have, &h2);
    }
    if (e == RMQ_OK && (e2 != RMQ_OK || have != h.len)) {
        abort(); /* the chunked reader must stop exactly at the header's end */
    }
    return 0;
}
