/*
 * net_core.h — how other modules (src/admin) reach the MQTT core that the
 * net layer owns, without touching it from the wrong thread.
 *
 * rmq_net_run_on_core queues fn(broker, arg) to run on the core worker
 * (worker 0, which owns every piece of MQTT state: see net.h and
 * mqtt/mqtt.h). It returns at once; the caller waits for fn's result its
 * own way. fn runs only while the workers run (between rmq_net_start and
 * rmq_net_free); work queued after the workers stopped never runs.
 *
 * Threads: any thread. Ownership: arg is the caller's; fn must not keep the
 * broker pointer.
 */
#ifndef RMQ_NET_CORE_H
#define RMQ_NET_CORE_H

#include "common/err.h"

struct rmq_net;
struct rmq_mqtt;

RMQ_MUST_USE rmq_err rmq_net_run_on_core(struct rmq_net *net,
                                         void (*fn)(struct rmq_mqtt *b, void *arg), void *arg);

#endif
