/* err.c — names and messages of rmq_err, from RMQ_ERR_TABLE. */
#include "common/err.h"

static const struct {
    const char *name;
    const char *category;
    const char *message;
} err_info[] = {
#define RMQ_ERR_ROW(name, cat, msg) {#name, cat, msg},
    RMQ_ERR_TABLE(RMQ_ERR_ROW)
#undef RMQ_ERR_ROW
};

const char *rmq_err_name(rmq_err e)
{
    if ((unsigned)e >= RMQ_ERR__COUNT) {
        return "RMQ_ERR_UNKNOWN";
    }
    return err_info[e].name;
}

const char *rmq_err_category(rmq_err e)
{
    if ((unsigned)e >= RMQ_ERR__COUNT) {
        return "unknown";
    }
    return err_info[e].category;
}

const char *rmq_err_message(rmq_err e)
{
    if ((unsigned)e >= RMQ_ERR__COUNT) {
        return "unknown error";
    }
    return err_info[e].message;
}
