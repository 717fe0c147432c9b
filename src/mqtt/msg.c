/* msg.c — refcounted application messages; see msg.h. */
#include "mqtt/msg.h"

#include "common/clock.h"
#include "mqtt/codec.h"

#include <stdlib.h>
#include <string.h>

int64_t rmq_now_ms(void)
{
    return (int64_t)rmq_clock_mono_ms();
}

static size_t bytes_size(const struct rmq_msg_bytes *b)
{
    return b->p ? b->len + 1 : 0;
}

static uint8_t *copy_bytes(uint8_t *at, struct rmq_msg_bytes *dst, const struct rmq_msg_bytes *src)
{
    if (!src->p) {
        dst->p = NULL;
        dst->len = 0;
        return at;
    }
    if (src->len) {
        memcpy(at, src->p, src->len);
    }
    at[src->len] = 0;
    dst->p = at;
    dst->len = src->len;
    return at + src->len + 1;
}

struct rmq_msg *rmq_msg_new(const struct rmq_msg *t, int64_t now_ms)
{
    struct rmq_bytes run = {t->user_props.p, t->user_props.len};
    size_t up_len = t->n_user_props ? rmq_props_copy_user(run, NULL) : 0;
    size_t size = sizeof(struct rmq_msg) + up_len;
    size += t->topic_len + 1 + t->payload_len + 1;
    size += bytes_size(&t->content_type) + bytes_size(&t->response_topic) +
            bytes_size(&t->correlation_data);
    struct rmq_msg *m = malloc(size);
    if (!m) {
        return NULL;
    }
    *m = *t;
    m->refs = 1;
    uint8_t *at = (uint8_t *)(m + 1);
    m->user_props.p = up_len ? at : NULL;
    m->user_props.len = up_len ? rmq_props_copy_user(run, at) : 0;
    m->n_user_props = up_len ? t->n_user_props : 0;
    at += up_len;
    struct rmq_msg_bytes tb = {(const uint8_t *)t->topic, t->topic_len};
    struct rmq_msg_bytes pb = {t->payload ? t->payload : (const uint8_t *)"", t->payload_len};
    struct rmq_msg_bytes tmp;
    at = copy_bytes(at, &tmp, &tb);
    m->topic = (char *)tmp.p;
    at = copy_bytes(at, &tmp, &pb);
    m->payload = tmp.p;
    at = copy_bytes(at, &m->content_type, &t->content_type);
    at = copy_bytes(at, &m->response_topic, &t->response_topic);
    copy_bytes(at, &m->correlation_data, &t->correlation_data);
    m->expire_at = t->has_expiry ? now_ms + (int64_t)t->expiry * 1000 : 0;
    return m;
}

struct rmq_msg *rmq_msg_ref(struct rmq_msg *m)
{
    m->refs++;
    return m;
}

void rmq_msg_unref(struct rmq_msg *m)
{
    if (m && --m->refs == 0) {
        free(m);
    }
}
