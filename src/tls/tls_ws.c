/* tls_ws.c — Sec-WebSocket-Accept; see tls_ws.h. */
#include <string.h>

#include <openssl/evp.h>

#include "tls/tls_ws.h"

rmq_err rmq_tls_ws_accept(const uint8_t *key, size_t key_len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t buf[64 + sizeof guid];
    if (key_len > 64) {
        return RMQ_ERR_INVALID;
    }
    memcpy(buf, key, key_len);
    memcpy(buf + key_len, guid, sizeof guid - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdn = 0;
    if (EVP_Digest(buf, key_len + sizeof guid - 1, md, &mdn, EVP_sha1(), NULL) != 1 || mdn != 20) {
        return RMQ_ERR_CRYPTO;
    }
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
    return RMQ_OK;
}
