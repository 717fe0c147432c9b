/*
 * net.h — the network layer: listeners, worker threads with one libevent
 * loop each, connection lifecycle (transport handshake, framing, output
 * queue with backpressure, timeouts) under the MQTT core (mqtt/mqtt.h).
 *
 * Threading model:
 * - The MAIN thread runs the listeners (accept), signal events and other
 *   main-thread timers on rmq_net_main_base(), via rmq_net_run().
 * - WORKER threads each run one libevent loop. Accepted fds are handed to a
 *   worker by message (mutex-protected mailbox + event_active).
 * - Worker 0 is the CORE worker: all MQTT state (sessions, router, retained:
 *   mqtt/mqtt.h) lives there, and the MQTT side of every connection (framing
 *   into the core, timers, the output buffer, close) calls the core directly.
 *   With N = 1, and for TCP connections, worker 0 also owns the socket.
 * - Workers 1..N-1 (N = node.workers, default one per CPU) are HANDSHAKE
 *   workers: a connection of a TLS listener does its (CPU-heavy) TLS
 *   handshake on the worker with the fewest handshakes in progress —
 *   workers 1..N-1 first (round robin among equals), worker 0 only when it
 *   has fewer than each of them, so a reconnect storm uses the core too —
 *   including suspension for CRL fetches and the handshake timeout. When it
 *   completes the connection is SPLIT (struct pipe, net_int.h): its socket
 *   and TLS records stay on a handshake worker for the rest of its life
 *   (one handshaken on worker 0 moves, fd + transport, which OpenSSL allows
 *   to change threads, to the handshake worker with the fewest), and worker
 *   0 gets its MQTT side, a connection whose transport is the pipe; bytes
 *   cross by mail within two bounded windows. TCP connections go to worker
 *   0 directly. Each side of a connection is only ever touched by one
 *   thread, and MQTT state only by worker 0.
 * - With N = 1 worker 0 also does the handshakes and owns every socket.
 *   MQTT sessions themselves are not spread over workers (one core thread
 *   routes every message).
 * - Cross-thread entry points (rmq_net_close_matching, transport wake) only
 *   post messages to the workers' mailboxes.
 *
 * Per connection: input is read into a buffer capped at
 * mqtt.max_packet_size + one read chunk, and the core refuses a packet over
 * max_packet_size from its fixed header alone, before its body is buffered.
 * Output is a buffer; above rmq_mqtt_out_high_water() unwritten bytes
 * reading from the connection itself pauses until it drains, and the core
 * holds the publishers whose messages it receives (mqtt/flow.h): the net
 * layer stops reading a held publisher (input already read stays buffered)
 * until io->resume, and reports a drain to half the mark with
 * rmq_mqtt_conn_output_drained. A connection whose output stays over the
 * mark (without draining to half) for longer than its listener's
 * tcp_options.send_timeout is closed (`net: send timeout, closing slow
 * subscriber`), which releases the publishers held for it: one stuck
 * subscriber delays a publisher's other subscribers at most that long.
 * Keep alive is not enforced on a held publisher (it is not being read).
 *
 * Fairness: a connection gets at most 4 reads (16 KB each) per loop turn;
 * then the loop polls, so every other connection's input, timers and mail
 * run before it is read again. TLS input already decrypted is picked up by
 * a zero timer, which runs after the next poll (never event_active, which
 * would run it again before polling).
 *
 * Limits (per listener, EMQX 5 keys; ratelimit.c token buckets holding one
 * second's worth): max_conn_rate pauses accepting (clients wait in the
 * backlog); messages_rate gives the core a PUBLISH budget per feed
 * (rmq_mqtt_conn_set_publish_budget) and bytes_rate caps each read; over
 * either, the connection is not read until the rate allows one more
 * (`net: client slowed by rate limit`). max_conn_per_addr (revmq) is counted
 * on worker 0 once a connection is open (after TLS): one over it is kept but
 * not read until another from that address closes, within mqtt.idle_timeout.
 * No limit disconnects anyone.
 *
 * Timers: TLS handshake (ssl_options.handshake_timeout), CONNECT
 * (mqtt.idle_timeout after the handshake), keep alive (from the core), and a
 * close linger.
 */
#ifndef RMQ_NET_H
#define RMQ_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "config/settings.h"
#include "net/transport.h"

struct event_base;
struct rmq_net;
struct rmq_mqtt;

/* Creates the main event base, the workers (not yet running) and the MQTT
 * core. `s` is borrowed until rmq_net_free. Calls evthread_use_pthreads()
 * and raises the soft RLIMIT_NOFILE to the hard limit (logged). */
RMQ_MUST_USE rmq_err rmq_net_new(const struct rmq_settings *s, struct rmq_net **out);

/* The main thread's event base (for signals and main-thread timers). Borrowed. */
struct event_base *rmq_net_main_base(struct rmq_net *net);

/* Binds a listener (not yet accepting). factory NULL: plain TCP; otherwise the
 * listener's transports come from it (TLS). handshake_timeout_ms: 0 = none.
 * `ls` is borrowed until rmq_net_free. On error *errmsg (owned) says why. */
RMQ_MUST_USE rmq_err rmq_net_listen(struct rmq_net *net, const struct rmq_listener_settings *ls,
                                    const struct rmq_transport_factory *factory,
                                    uint64_t handshake_timeout_ms, char **errmsg);

/* Starts the worker threads and accepting on every listener; logs
 * `listener: started name=N kind=tcp|ssl bind=HOST:PORT` per listener.
 * When accept fails for lack of descriptors (EMFILE/ENFILE/ENOBUFS/ENOMEM)
 * the listener stops watching its socket for 250 ms and tries again (the
 * clients wait in the kernel backlog), logging once per episode
 * (`listener: out of file descriptors, pausing accept`, then `accepting
 * again`): no spinning, recovery without intervention. */
RMQ_MUST_USE rmq_err rmq_net_start(struct rmq_net *net);

/* Runs the main base until rmq_net_stop (main thread). */
void rmq_net_run(struct rmq_net *net);
/* Makes rmq_net_run return; call on the main thread (e.g. a signal event). */
void rmq_net_stop(struct rmq_net *net);

/* Stops accepting, stops the workers (each connection gets v5 DISCONNECT
 * 0x8B and is closed), frees the core and everything. NULL: no-op. */
void rmq_net_free(struct rmq_net *net);

/* The authentication chain for CONNECTs (borrowed until rmq_net_free); call
 * before rmq_net_start. See rmq_mqtt_set_authn. */
struct rmq_authn;
void rmq_net_set_authn(struct rmq_net *net, struct rmq_authn *a);

/*
 * Thread-safe, callable from any thread: every worker, on its own thread,
 * closes each MQTT connection for which match(&peer_info, arg) is true —
 * MQTT 5: DISCONNECT 0x98 with reason string "certificate revoked"; 3.1.x:
 * close — logging client id, serial and issuer. arg_free(arg) (may be NULL)
 * runs once, after every worker is done, on one of the worker threads.
 */
void rmq_net_close_matching(struct rmq_net *net,
                            bool (*match)(const struct rmq_peer_info *, void *arg), void *arg,
                            void (*arg_free)(void *));

/* Thread-safe: on the core worker, ends every session whose owner is a
 * certificate for which match(ids, arg) is true, whatever listener it was made
 * on (rmq_mqtt_end_sessions_matching); then arg_free(arg) (may be NULL). */
void rmq_net_end_sessions_matching(struct rmq_net *net,
                                   bool (*match)(const struct rmq_peer_info *, void *arg),
                                   void *arg, void (*arg_free)(void *));

/* Like rmq_net_close_matching, but only connections accepted on a listener
 * for which listener_ok(ls) is true are considered (NULL: every listener) —
 * e.g. only listeners with ssl_options.enable_crl_check. */
void rmq_net_close_matching_on(struct rmq_net *net,
                               bool (*listener_ok)(const struct rmq_listener_settings *ls),
                               bool (*match)(const struct rmq_peer_info *, void *arg), void *arg,
                               void (*arg_free)(void *));

/* The port listener number i (in rmq_net_listen order) is bound to (useful
 * with port 0); 0 if there is no such listener. */
uint16_t rmq_net_listener_port(const struct rmq_net *net, size_t i);

/* Number of open connections (all listeners); any thread. */
uint64_t rmq_net_connection_count(const struct rmq_net *net);

#endif
