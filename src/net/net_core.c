/* net_core.c — work queued onto the core worker; see net_core.h. */
#include "net/net_core.h"

#include <stdlib.h>

#include <event2/event.h>

#include "net/net_int.h"

struct core_job {
    struct rmq_mqtt *b;
    void (*fn)(struct rmq_mqtt *b, void *arg);
    void *arg;
};

static void core_job_cb(evutil_socket_t fd, short what, void *p)
{
    (void)fd;
    (void)what;
    struct core_job *j = p;
    j->fn(j->b, j->arg);
    free(j);
}

rmq_err rmq_net_run_on_core(struct rmq_net *net, void (*fn)(struct rmq_mqtt *b, void *arg),
                            void *arg)
{
    struct worker *w = &net->workers[0];
    struct core_job *j = malloc(sizeof *j);
    if (!j) {
        return RMQ_ERR_NOMEM;
    }
    j->b = w->core;
    j->fn = fn;
    j->arg = arg;
    const struct timeval zero = {0, 0};
    /* event_base_once is thread-safe once evthread_use_pthreads ran (rmq_net_new). */
    if (event_base_once(w->base, -1, EV_TIMEOUT, core_job_cb, j, &zero) != 0) {
        free(j);
        return RMQ_ERR_NOMEM;
    }
    return RMQ_OK;
}
