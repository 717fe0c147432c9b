/* refusal.c — names and meanings of the refusal table; see refusal.h. */
#include "revocation/refusal.h"

#include <string.h>

#define RMQ_REFUSAL_ROW(id, name, kinds, meaning) {name, meaning, kinds},
static const struct {
    const char *name;
    const char *meaning;
    unsigned kinds;
} ROWS[] = {RMQ_REFUSAL_TABLE(RMQ_REFUSAL_ROW)};
#undef RMQ_REFUSAL_ROW

const char *rmq_refusal_name(enum rmq_refusal r)
{
    return (unsigned)r < RMQ_REFUSAL__COUNT ? ROWS[r].name : "?";
}

const char *rmq_refusal_meaning(enum rmq_refusal r)
{
    return (unsigned)r < RMQ_REFUSAL__COUNT ? ROWS[r].meaning : "?";
}

unsigned rmq_refusal_kinds(enum rmq_refusal r)
{
    return (unsigned)r < RMQ_REFUSAL__COUNT ? ROWS[r].kinds : 0;
}

bool rmq_refusal_find(const char *name, enum rmq_refusal *out)
{
    for (unsigned i = 0; name != NULL && i < RMQ_REFUSAL__COUNT; i++) {
        if (strcmp(ROWS[i].name, name) == 0) {
            *out = (enum rmq_refusal)i;
            return true;
        }
    }
    return false;
}
