/*
 * codec_int.h — private to the codec (codec.c, codec_encode.c,
 * codec_lists.c, props.c). Not for other modules: use codec.h.
 *
 * Decoding state: a reader bounded to one packet's body, so every length is
 * checked against what is left of this packet only; a read past the end of
 * the body is a malformed packet (0x81), never "need more".
 * Encoding state: a writer that either counts (p == NULL) or writes into
 * memory reserved beforehand from the count, so both passes agree.
 */
#ifndef RMQ_MQTT_CODEC_INT_H
#define RMQ_MQTT_CODEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/reader.h"
#include "mqtt/codec.h"

struct rmq_dec {
    struct rmq_reader r; /* bounded to the packet body (or a property block) */
    uint8_t version;     /* 3, 4 or 5 */
    uint8_t role;        /* enum rmq_codec_role */
    uint8_t reason;      /* set by rmq_dec_fail() */
};

/* Where a property block is: selects which properties are allowed. */
enum rmq_prop_ctx {
    RMQ_PCTX_CONNECT,
    RMQ_PCTX_WILL,
    RMQ_PCTX_CONNACK,
    RMQ_PCTX_PUBLISH,
    RMQ_PCTX_ACK, /* PUBACK, PUBREC, PUBREL, PUBCOMP */
    RMQ_PCTX_SUBSCRIBE,
    RMQ_PCTX_SUBACK,
    RMQ_PCTX_UNSUBSCRIBE,
    RMQ_PCTX_UNSUBACK,
    RMQ_PCTX_DISCONNECT,
    RMQ_PCTX_AUTH,
};

/* Records the reason and returns RMQ_ERR_MALFORMED. */
static inline rmq_err rmq_dec_fail(struct rmq_dec *d, uint8_t rc)
{
    d->reason = rc;
    return RMQ_ERR_MALFORMED;
}

RMQ_MUST_USE rmq_err rmq_dec_u8(struct rmq_dec *d, uint8_t *v);
RMQ_MUST_USE rmq_err rmq_dec_u16(struct rmq_dec *d, uint16_t *v);
RMQ_MUST_USE rmq_err rmq_dec_u32(struct rmq_dec *d, uint32_t *v);
/* Variable byte integer, at most 4 bytes (MQTT 1.5.5). */
RMQ_MUST_USE rmq_err rmq_dec_vbi(struct rmq_dec *d, uint32_t *v);
/* Two-byte length then bytes (binary data, MQTT 1.5.6). */
RMQ_MUST_USE rmq_err rmq_dec_bin(struct rmq_dec *d, struct rmq_bytes *out);
/* Two-byte length then well-formed UTF-8 (MQTT 1.5.4), else 0x81. */
RMQ_MUST_USE rmq_err rmq_dec_str(struct rmq_dec *d, struct rmq_bytes *out);

/* Property length + properties; validates ids for ctx, duplicates, values.
 * *out must be initialised (rmq_props_init(), done by rmq_codec_packet_init
 * before any decode): properties are added to it, it is not cleared here. */
RMQ_MUST_USE rmq_err rmq_props_decode(struct rmq_dec *d, enum rmq_prop_ctx ctx,
                                      struct rmq_props *out);

/* Data type of a property identifier (MQTT 5 table 2-4). */
enum rmq_prop_kind { PK_NONE, PK_BYTE, PK_U16, PK_U32, PK_VBI, PK_STR, PK_BIN, PK_PAIR };
/* PK_NONE: not a property. */
enum rmq_prop_kind rmq_prop_kind(unsigned id);

struct rmq_wr {
    uint8_t *p; /* NULL: count only */
    size_t n;   /* bytes written (or counted) */
    size_t cap; /* capacity of p when writing */
    bool bad;   /* something unencodable was asked for */
};

void rmq_wr_u8(struct rmq_wr *w, uint8_t v);
void rmq_wr_u16(struct rmq_wr *w, uint16_t v);
void rmq_wr_u32(struct rmq_wr *w, uint32_t v);
void rmq_wr_vbi(struct rmq_wr *w, uint32_t v);
/* Two-byte length then bytes; marks bad when len > 65535. */
void rmq_wr_bin(struct rmq_wr *w, struct rmq_bytes b);
size_t rmq_vbi_size(uint32_t v);

/* Omit flags for rmq_props_encode (Maximum Packet Size fallback). */
#define RMQ_OMIT_REASON_STRING 1u
#define RMQ_OMIT_USER_PROPS 2u

/* Property length + the properties present in *p that ctx allows. */
void rmq_props_encode(struct rmq_wr *w, enum rmq_prop_ctx ctx, const struct rmq_props *p,
                      unsigned omit);

#endif
